// pyproject.toml: PEP 621 [project], PEP 735 [dependency-groups], [tool.uv], [tool.pybundle].
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pb::project {

// [tool.pybundle]
struct Config {
  std::optional<std::string> target;   // "pyodide@0.29.3"
  std::optional<std::string> entry;    // "src/app.py"
  std::vector<std::string> preimport;  // extra modules imported before the snapshot
  std::vector<std::string> exclude;    // trimming globs
  std::optional<uint64_t> size_budget; // bytes ("10MiB" parsed)
  std::vector<std::pair<std::string, std::string>> mirrors;  // URL prefix FROM -> TO
  std::optional<std::string> pyodide_index;  // index URL of Pyodide-built wheels
};

struct Project {
  std::filesystem::path dir;
  std::filesystem::path file;  // .../pyproject.toml
  std::string name;            // as written
  std::string version;
  std::string requires_python;
  std::vector<std::string> dependencies;  // PEP 508 strings
  std::map<std::string, std::vector<std::string>> optional_dependencies;
  // PEP 735 groups plus [tool.uv] dev-dependencies as group "dev"; `{include-group = …}`
  // entries are kept as "include-group:<name>".
  std::map<std::string, std::vector<std::string>> dependency_groups;
  std::optional<std::vector<std::string>> default_groups;  // [tool.uv] default-groups
  std::vector<std::string> workspace_members;  // [tool.uv.workspace] members globs
  Config config;
};

// Throws pb::Error (Exit::usage) naming pyproject.toml and the line of a problem.
Project load(const std::filesystem::path& dir);

// "10MiB", "3 MB", "1024" -> bytes. Throws pb::Error (Exit::usage).
uint64_t parse_size(std::string_view text);

}  // namespace pb::project
