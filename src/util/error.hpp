// Errors are values with context; every command maps them to one documented exit code.
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

namespace pb {

enum class Exit : int {
  ok = 0,
  problems = 1,  // the check or build found problems (unservable package, bad hash, ...)
  usage = 2,     // usage or configuration error (bad flag, malformed pyproject.toml, ...)
  io = 3,        // network or I/O error
  internal = 4,
};

class Error : public std::runtime_error {
 public:
  explicit Error(std::string message, Exit code = Exit::problems)
      : std::runtime_error(std::move(message)), code_(code) {}
  Exit code() const { return code_; }

 private:
  Exit code_;
};

// A parse error at a place in a file: "uv.lock:412: package 'foo': ...".
inline Error file_error(const std::string& file, long line, const std::string& message, Exit code = Exit::usage) {
  return Error(line > 0 ? file + ":" + std::to_string(line) + ": " + message : file + ": " + message, code);
}

// Several problems found by one stage, reported together.
class Errors : public Error {
 public:
  Errors(std::vector<std::string> problems, Exit code) : Error(join(problems), code), problems_(std::move(problems)) {}
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  static std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& p : v) out += (out.empty() ? "" : "\n") + p;
    return out;
  }
  std::vector<std::string> problems_;
};

}  // namespace pb
