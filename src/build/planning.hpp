// The planning inputs every command that plans uses (plan, why, check, build): resolving the
// target runtime, the selection rule, the freshness check, and the I/O make_plan may ask for.
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "build/reporter.hpp"
#include "lock/lock.hpp"
#include "plan/plan.hpp"
#include "project/project.hpp"
#include "target/target.hpp"

namespace pb::build {

// What the command line (cli/planning.hpp) asked for, with the cache it resolved.
struct PlanOptions {
  std::filesystem::path dir = ".";
  std::filesystem::path cache_dir;                 // metadata, runtimes (the CLI's --cache-dir resolved)
  std::string target;                              // --target pyodide@V ("" = env, else config, else default)
  std::string env_target;                          // $PYBUNDLE_TARGET ("" when unset)
  std::string default_target;                      // "pyodide@V" when neither --target nor the config names one
  std::optional<std::filesystem::path> runtime;    // --runtime DIR (a directory with pyodide-lock.json)
  std::optional<std::filesystem::path> lock_file;  // --lock FILE
  bool locked = false, frozen = false;             // --locked is the default; --frozen skips the check
  bool dev = false;                                // --dev: include the dev group (a deploy leaves it out)
  bool offline = false;                            // build --offline: never install a runtime
  bool fetch_metadata = false;                     // read dependents' METADATA over the network
  plan::Selection selection;
};

struct Planned {
  project::Project project;
  lock::Lock lock;
  target::Target target;
  plan::Plan plan;
  std::vector<std::string> stale;  // freshness differences (empty when fresh or --frozen)
  bool checked = false;            // the lock was checked against pyproject.toml (not --frozen)
  plan::Selection selection;       // what was planned (selection_for)
};

// The one selection rule of plan, why, check and build: uv's flags with a deploy's default
// (`uv sync --no-dev`): the dev group only with --dev or when named by --group/--only-group;
// [tool.pybundle] stdlib added to --with-stdlib.
plan::Selection selection_for(const project::Project& project, const PlanOptions& options);

// The lock against pyproject.toml unless --frozen: a stale lock is an error (uv's --locked) naming
// each difference and saying "run `uv lock`". Returns the differences (empty when fresh or frozen).
std::vector<std::string> check_lock_fresh(const project::Project& project, const lock::Lock& lock,
                                          const PlanOptions& options);

// Loads project, lock and target, checks freshness (check_lock_fresh), plans.
Planned run_plan(const PlanOptions& options, Reporter& reporter);

// The entry module: [tool.pybundle] entry, else the first of src/app.py, src/main.py, app.py and
// main.py that exists; nullopt when none does.
std::optional<std::string> find_entry(const project::Project& project);

// The app's files as the build copies them into app/ (vendor::plan_app), for plan and build -v.
struct AppFiles {
  std::string entry;               // "" without an entry
  std::vector<std::string> files;  // paths under app/
  uint64_t bytes = 0;              // their size on disk
  std::vector<std::string> problems;
};
AppFiles app_files(const project::Project& project, const std::filesystem::path& out);

// The target runtime: --runtime, else runtime::ensure_runtime ($PYBUNDLE_PYODIDE_DIR when it holds
// the version, else the npm package in options.cache_dir).
target::Target resolve_target(const project::Project& project, const PlanOptions& options);

// I/O for make_plan: local project directories, and dependents' Requires-Dist from the cache
// (<cache>/metadata, cached wheels) or, with fetch_metadata, PEP 658 .metadata files (fetch::get)
// or the wheel. `reporter` must outlive the context.
plan::Context make_context(const lock::Lock& lock, const project::Config& config, const PlanOptions& options,
                           Reporter& reporter);

}  // namespace pb::build
