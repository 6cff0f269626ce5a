// The planning options (build::PlanOptions) of plan, why, check and build, as the commands run them.
#pragma once
#include "build/planning.hpp"

namespace pb::cli {

using build::PlanOptions;

// The options with what the global flags resolved (--cache-dir); call once the command runs.
PlanOptions resolved(PlanOptions options);

}  // namespace pb::cli
