// What `pybundle check` found: checks, each with findings (severity, code, message, place).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "nlohmann/json.hpp"
#include "util/error.hpp"

namespace pb::check {

enum class Severity { error, warning, note };
std::string to_string(Severity severity);  // "error", "warning", "note"

struct Finding {
  Severity severity = Severity::error;
  std::string code{};          // stable, kebab-case: "lock-stale", "file-changed", ...
  std::string message{};       // one line, without the file:line prefix
  std::string file{};          // path as shown to the user; empty when none
  long line = 0;               // 1-based; 0 when none
  std::string fix{};           // what to do about it; may be empty
  Exit exit = Exit::problems;  // what this finding means for the exit code when it is an error
};

// A finding from a pb::Error whose message starts "file:line: " or "file: " (split off into
// file and line when the prefix names an existing path or a known file name).
Finding from_error(const Error& error, std::string code);

enum class Status { pass, warn, fail, skip };
std::string to_string(Status status);  // "pass", "warn", "fail", "skip"

struct Check {
  std::string name{};     // stable: "lock-fresh", "files", ...
  std::string title{};    // what it asserts, for people: "the lock matches pyproject.toml"
  std::string summary{};  // one line on what was seen ("12 files, 4.1 KiB"); the skip reason when skipped
  std::vector<Finding> findings{};
  nlohmann::ordered_json metrics = nlohmann::ordered_json::object();  // numbers for machines
  bool skipped = false;
  double seconds = 0;

  Status status() const;  // skip, else fail on an error, warn on a warning, else pass
  Check& add(Finding finding);
  Check& skip(std::string reason);
};

struct Report {
  std::string kind{};    // "project" or "bundle"
  std::string path{};    // the project or bundle directory, as given
  std::string target{};  // "pyodide@0.29.3" when known
  std::vector<Check> checks{};

  size_t count(Severity severity) const;
  bool ok() const { return count(Severity::error) == 0; }
  // 0 when ok; else the gravest exit class among the errors (internal > io > usage > problems):
  // 1 means every check ran and found problems, 2-4 that some check could not run.
  Exit exit_code() const;
  Check* find(std::string_view name);
};

}  // namespace pb::check
