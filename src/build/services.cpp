#include "build/services.hpp"

namespace pb::build {

Services Services::real() {
  Services s;
  s.fetch = fetch::fetch_all;
  s.node = runtime::find_node;
  s.runtime = runtime::ensure_runtime;
  s.snapshot = [](const snapshot::MakeOptions& o) { return snapshot::make_snapshot(o); };
  s.smoke = snapshot::smoke;
  s.host = runtime::run_host;
  return s;
}

}  // namespace pb::build
