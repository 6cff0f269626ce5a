// The planning flags of plan, why, check and build, into build::PlanOptions.
#pragma once
#include <CLI/CLI.hpp>

#include "build/planning.hpp"

namespace pb::cli {

using build::PlanOptions;

// --target, --runtime, --lock, --locked/--frozen, --fetch-metadata and uv's selection flags.
void add_plan_options(CLI::App& cmd, PlanOptions& options);

// The options with what the global flags resolved (--cache-dir); call once the command runs.
PlanOptions resolved(PlanOptions options);

}  // namespace pb::cli
