// Which modules a local source directory's wheel would hold, read from its build backend's static
// configuration in pyproject.toml, so a directory dependency needs no build step.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace pb::vendor {

struct BackendModules {
  struct Module {
    std::filesystem::path src;  // a package directory or a module file
    std::string dest;           // its path under python_modules/ ("x", "x.py", "ns/x")
  };
  std::string backend;                       // the configuration read: "hatchling", "setuptools", ...; "" for none
  std::vector<Module> modules;               // named one by one
  std::vector<std::filesystem::path> roots;  // directories whose every module and package goes in
  std::vector<std::string> include;          // setuptools packages.find include patterns for roots' names
  std::vector<std::string> problems;         // a configured path that is not there, an unreadable pyproject.toml
  bool configured() const { return !modules.empty() || !roots.empty(); }
};

// Reads `dir`/pyproject.toml (missing or empty: nothing configured):
//   hatchling   [tool.hatch.build.targets.wheel] (or [tool.hatch.build]) packages, only-include, sources
//   setuptools  [tool.setuptools] packages (names, or {find = {where, include}}), py-modules, package-dir,
//               [tool.setuptools.packages.find] where/include
//   flit        [tool.flit.module] name
//   uv_build    [tool.uv.build-backend] module-name (default: the project name), module-root (default src)
//   pdm         [tool.pdm.build] package-dir, includes
// `project_name` is the distribution's name (uv_build's default module name).
BackendModules backend_modules(const std::filesystem::path& dir, const std::string& project_name);

}  // namespace pb::vendor
