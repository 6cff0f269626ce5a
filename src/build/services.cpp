#include "build/services.hpp"

namespace pb::build {

Services Services::real() {
  Services s;
  s.fetch = [](const std::vector<fetch::Request>& requests, const fetch::Options& options) {
    auto files = fetch::fetch_all(requests, options);  // in the order asked
    std::map<std::string, std::filesystem::path> by_label;
    for (size_t i = 0; i < requests.size(); ++i) by_label.emplace(requests[i].label, std::move(files.at(i)));
    return by_label;
  };
  s.node = runtime::find_node;
  s.runtime = runtime::ensure_runtime;
  s.snapshot = [](const snapshot::MakeOptions& o) { return snapshot::make_snapshot(o); };
  s.smoke = snapshot::smoke;
  s.host = runtime::run_host;
  return s;
}

}  // namespace pb::build
