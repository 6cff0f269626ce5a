// build::Reporter on the terminal: notes and warnings on stderr (--quiet silences them), -v's
// details and phase times, fetch progress in the style the terminal and --format allow.
#pragma once
#include "build/reporter.hpp"

namespace pb::cli {

class TerminalReporter : public build::Reporter {
 public:
  TerminalReporter();
  void info(std::string_view line) override;
  void warning(std::string_view line) override;
  bool details() const override;
  void detail(std::string_view line) override;
  void phase(std::string_view name, double seconds) override;
  void fetch(const fetch::Event& event) override;

 private:
  fetch::Reporter progress_;
};

}  // namespace pb::cli
