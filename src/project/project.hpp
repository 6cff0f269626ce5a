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
  // The app's files besides the entry: globs relative to the entry's directory (unset: that whole
  // tree minus VCS, virtualenvs, caches, build output, python_modules and tests).
  std::optional<std::vector<std::string>> include;
  std::optional<uint64_t> size_budget;                       // bytes ("10MiB" parsed)
  std::vector<std::pair<std::string, std::string>> mirrors;  // URL prefix FROM -> TO
  std::optional<std::string> pyodide_index;                  // index URL of Pyodide-built wheels
  std::vector<std::string> stdlib;                           // unvendored stdlib modules to include ("ssl", "sqlite3")
  std::map<std::string, std::string> vars;  // a worker's env vars (self.env.NAME), recorded in bundle.json
};

// One entry of [tool.uv.sources] (the first, when a list of marker-scoped sources is given).
struct UvSource {
  std::string kind;   // "workspace", "path", "git", "url", "index"
  std::string value;  // path, URL or index name; empty for workspace
  bool editable = false;
};

struct Project {
  std::filesystem::path dir;
  std::filesystem::path file;      // .../pyproject.toml
  bool has_project_table = false;  // false for a virtual workspace root
  std::string name;                // as written
  std::string version;
  std::string requires_python;
  std::vector<std::string> dynamic;                                       // [project] dynamic (normalized field names)
  std::vector<std::string> dependencies;                                  // PEP 508 strings
  std::map<std::string, std::vector<std::string>> optional_dependencies;  // normalized extra names
  // PEP 735 groups plus [tool.uv] dev-dependencies as group "dev"; `{include-group = …}`
  // entries are kept as "include-group:<name>". Group names normalized.
  std::map<std::string, std::vector<std::string>> dependency_groups;
  std::optional<std::vector<std::string>> default_groups;    // [tool.uv] default-groups
  bool default_groups_all = false;                           // default-groups = "all"
  std::vector<std::string> workspace_members;                // [tool.uv.workspace] members globs
  std::vector<std::string> workspace_exclude;                // [tool.uv.workspace] exclude globs
  std::map<std::string, UvSource> sources;                   // [tool.uv.sources], by normalized name
  std::optional<bool> uv_package;                            // [tool.uv] package
  std::map<std::string, std::string> group_requires_python;  // [tool.uv.dependency-groups] G.requires-python
  std::string build_backend;                                 // [build-system] build-backend
  std::vector<std::string> build_requires;                   // [build-system] requires
  // Member projects found by expanding workspace_members (minus excludes); only directories
  // holding a pyproject.toml. Filled by load(), not by load_file().
  std::vector<Project> members;
  Config config;

  // A group with its include-group entries expanded (PEP 735); throws pb::Error (Exit::usage)
  // on an unknown or cyclic include.
  std::vector<std::string> group_requirements(const std::string& group) const;
};

// Throws pb::Error (Exit::usage) naming pyproject.toml and the line of a problem.
Project load(const std::filesystem::path& dir);
// One pyproject.toml without workspace expansion.
Project load_file(const std::filesystem::path& file);
// Parse text as if read from `file` (for tests and callers that already hold the bytes).
Project parse(std::string_view text, const std::filesystem::path& file);

// "10MiB", "3 MB", "1024" -> bytes. Throws pb::Error (Exit::usage).
uint64_t parse_size(std::string_view text);

// "jinja2.ext": dot-separated identifiers, as `import` takes a module's name.
bool is_module_name(std::string_view name);

// How a path is shown in messages: relative paths as given, "./x" without the "./".
std::string display_path(const std::filesystem::path& path);

}  // namespace pb::project
