// Which locked packages a target needs, and which file of each.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "lock/lock.hpp"
#include "project/project.hpp"
#include "target/target.hpp"

namespace pb::plan {

// What `uv sync` would be asked for (same flags, same meaning).
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
  std::vector<std::string> stdlib;  // unvendored stdlib modules to add from Pyodide ("ssl")
  // Use Pyodide's build of another version even when a dependent rejects it or cannot be checked
  // (--allow-substitutes); otherwise that is a problem.
  bool allow_substitutes = false;
};

enum class Origin {
  lock_wheel,  // a wheel listed in the lock
  pyodide,     // the Pyodide distribution's own build
  source,      // a local project directory vendored from source (workspace member, path)
};
std::string to_string(Origin origin);  // "lock-wheel", "pyodide", "source"

struct Item {
  std::string name;  // normalized
  std::string version;
  Origin origin = Origin::lock_wheel;
  std::string filename;  // wheel file name (empty for source)
  std::string url;       // remote URL, or empty when `path` is set
  std::string path;      // local file or directory (absolute)
  std::string sha256;    // lowercase hex (empty for source, and for a local wheel the lock has no hash for)
  std::optional<uint64_t> size;
  std::vector<std::string> required_by;  // normalized names, "<root>" for roots
  std::string note;                      // e.g. "Pyodide ships 2.41.5, lock has 2.41.1"
};

struct Problem {
  std::string package;  // normalized name, empty for lock-wide problems
  std::string message;  // one line: what is wrong and what the lock offers
  std::string fix;      // one line: what to do about it (may be empty)
};

// One dependency edge that was followed ("from" is a package name; "via" says why:
// "", "extra NAME" or "group NAME").
struct Edge {
  std::string from, to, via;
};
// One that was not, because its marker is false for the target.
struct Dropped {
  std::string from, to, marker;
};

struct Plan {
  std::vector<std::string> roots;  // the selected root packages (the project, members)
  std::vector<Item> items;         // sorted by name
  std::vector<Problem> problems;
  std::vector<std::string> warnings;
  std::vector<Edge> edges;
  std::vector<Dropped> dropped;
  bool ok() const { return problems.empty(); }
  const Item* find(const std::string& name) const;
};

// A local project directory as seen on disk (for workspace members and path dependencies).
struct LocalProject {
  bool exists = false;
  std::string build_backend;                // [build-system] build-backend
  std::vector<std::string> build_requires;  // [build-system] requires
};

// What make_plan may ask the caller, which can do I/O. Every member is optional.
struct Context {
  // Requires-Dist of a registry package's wheel METADATA, when it can be read (cache, PEP 658).
  std::function<std::optional<std::vector<std::string>>(const std::string& name, const std::string& version)>
      requires_dist;
  // What is at a local source directory (absolute path).
  std::function<LocalProject(const std::filesystem::path& dir)> local_project;
  // requires_dist asks the index too (--fetch-metadata): advice does not offer that again.
  bool fetches_metadata = false;
};

// Pure: no I/O. Servability problems are collected in the plan, not thrown. Selection errors
// (an unknown extra, group or package; conflicting extras or groups chosen together) throw
// pb::Error / pb::Errors with Exit::usage.
Plan make_plan(const project::Project& project, const lock::Lock& lock, const target::Target& target,
               const Selection& selection, const Context& context = {});

// Differences between pyproject.toml and what the lock was made from, as `uv lock --check` sees
// them (dependencies, optional dependencies, groups, requires-python, workspace members). Each
// is one line; empty when the lock is fresh. Fields the project declares `dynamic` are skipped.
std::vector<std::string> check_freshness(const project::Project& project, const lock::Lock& lock);

// The dependency paths from a root to `name`, each root first (at most `limit`, shortest first).
std::vector<std::vector<std::string>> paths_to(const Plan& plan, const std::string& name, size_t limit = 10);

}  // namespace pb::plan
