// Where the build stage's output goes (ninja's Status): the CLI prints it, a test records it.
// Library code under src/build/ prints nothing itself.
#pragma once
#include <string_view>

#include "fetch/fetch.hpp"

namespace pb::build {

class Reporter {
 public:
  virtual ~Reporter() = default;
  virtual void info(std::string_view line) = 0;     // what is being done ("making the snapshot: ...")
  virtual void warning(std::string_view line) = 0;  // something to fix; the command goes on
  // -v: whether detail() lines are wanted (some cost work to make), then each line.
  virtual bool details() const { return false; }
  virtual void detail(std::string_view) {}
  virtual void phase(std::string_view, double /*seconds*/) {}  // -v: the time a phase took
  virtual void fetch(const fetch::Event&) {}                   // download progress
};

}  // namespace pb::build
