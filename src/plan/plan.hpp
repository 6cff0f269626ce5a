// Which locked packages a target needs, and which file of each.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lock/lock.hpp"
#include "project/project.hpp"
#include "target/target.hpp"

namespace pb::plan {

struct Selection {
  std::vector<std::string> packages;  // --package (workspace members); empty = root project
  bool all_packages = false;
  std::vector<std::string> extras;
  bool all_extras = false;
  std::vector<std::string> groups;
  bool all_groups = false;
  std::vector<std::string> only_groups;
  bool no_dev = false;
  bool no_default_groups = false;
};

enum class Origin {
  lock_wheel,  // a wheel listed in the lock
  pyodide,     // the Pyodide distribution's own build
  source,      // a local project directory vendored from source (workspace member, path)
};
std::string to_string(Origin origin);

struct Item {
  std::string name;  // normalized
  std::string version;
  Origin origin = Origin::lock_wheel;
  std::string filename;  // wheel file name (empty for source)
  std::string url;       // remote URL, or empty when `path` is set
  std::string path;      // local file or directory (absolute)
  std::string sha256;    // lowercase hex (empty for source)
  std::optional<uint64_t> size;
  std::vector<std::string> required_by;  // normalized names, "<root>" for roots
  std::string note;      // e.g. "Pyodide ships 2.41.5, lock has 2.41.1"
};

struct Problem {
  std::string package;  // normalized name, empty for lock-wide problems
  std::string message;  // one line: what, what the lock offers, the fix
};

struct Plan {
  std::vector<Item> items;  // sorted by name
  std::vector<Problem> problems;
  std::vector<std::string> warnings;
  bool ok() const { return problems.empty(); }
};

// Pure: no I/O. Problems are collected, not thrown.
Plan make_plan(const project::Project& project, const lock::Lock& lock, const target::Target& target,
               const Selection& selection);

}  // namespace pb::plan
