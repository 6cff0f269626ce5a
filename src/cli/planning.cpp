#include "cli/planning.hpp"

#include "cli/common.hpp"

namespace pb::cli {

PlanOptions resolved(PlanOptions options) {
  options.cache_dir = global().cache();
  return options;
}

}  // namespace pb::cli
