// Shared by the commands that plan (plan, why, and later build/check): the selection flags,
// resolving the target runtime, the freshness check, and the I/O make_plan may ask for.
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "lock/lock.hpp"
#include "plan/plan.hpp"
#include "project/project.hpp"
#include "target/target.hpp"

namespace pb::cli {

struct PlanOptions {
  std::filesystem::path dir = ".";
  std::string target;                        // --target pyodide@V ("" = config, else default)
  std::optional<std::filesystem::path> runtime;  // --runtime DIR (a directory with pyodide-lock.json)
  std::optional<std::filesystem::path> lock_file;  // --lock FILE
  bool locked = false, frozen = false;
  bool fetch_metadata = false;               // read dependents' METADATA over the network
  plan::Selection selection;
};

// --target, --runtime, --lock, --locked/--frozen, --fetch-metadata and uv's selection flags.
void add_plan_options(CLI::App& cmd, PlanOptions& options);

struct Planned {
  project::Project project;
  lock::Lock lock;
  target::Target target;
  plan::Plan plan;
  std::vector<std::string> stale;  // freshness differences (empty when fresh or --frozen)
};

// Loads project, lock and target, checks freshness (warns, or fails with --locked), plans.
Planned run_plan(const PlanOptions& options);

// The target runtime: --runtime, else snapshot::ensure_runtime ($PYBUNDLE_PYODIDE_DIR when it holds
// the version, else the npm package in the cache).
target::Target resolve_target(const project::Project& project, const PlanOptions& options);

// I/O for make_plan: local project directories, and dependents' Requires-Dist from the cache
// (<cache>/metadata, cached wheels) or, with fetch_metadata, PEP 658 .metadata files or the wheel.
plan::Context make_context(const lock::Lock& lock, const project::Config& config, bool fetch_metadata);

}  // namespace pb::cli
