// Checks of a project before anything is downloaded: values in, a Check out (no I/O).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "check/report.hpp"
#include "lock/lock.hpp"
#include "plan/plan.hpp"
#include "project/project.hpp"

namespace pb::check {

// Where a size budget came from, for messages: "--size-budget", "PYBUNDLE_SIZE_BUDGET",
// "pyproject.toml [tool.pybundle] size-budget".
struct Budget {
  uint64_t bytes = 0;
  std::string source;
  std::string file{};  // pyproject.toml when the budget comes from there (for annotations)
};

// "lock-fresh": the lock matches pyproject.toml, as `uv lock --check` (and --locked) sees it.
Check lock_fresh(const project::Project& project, const lock::Lock& lock);

// "servable": every package the target needs has a file that runs there (the plan's problems,
// except those `sources` reports), and the plan's warnings (another version from Pyodide).
Check servable(const plan::Plan& plan, const lock::Lock& lock);

// "sources": no needed package comes from git, a direct URL or only a source distribution.
Check sources(const plan::Plan& plan, const lock::Lock& lock);

// "size": the packages' wheel sizes and the app's files (`app_bytes` on disk) summed, an upper bound
// of the bundle's gzip size (packages whose size the lock does not give are not counted), against
// the budget.
Check estimated_size(const plan::Plan& plan, const std::optional<Budget>& budget, uint64_t app_bytes = 0);

// "app": the build has an entry module, and the app's files (`files` of them, from
// build::app_files) can be copied: each of `problems` is an error, as it fails the build.
Check app(const project::Project& project, const std::string& entry, size_t files,
          const std::vector<std::string>& problems);

// "1.5 MiB"
std::string human_size(uint64_t bytes);

}  // namespace pb::check
