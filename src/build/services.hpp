// The side effects of a build that a test fakes (ninja's DiskInterface): downloads, finding
// Node and the runtime, and the runs of Pyodide in Node. real() is the real ones.
#pragma once
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fetch/fetch.hpp"
#include "runtime/host.hpp"
#include "runtime/runtime.hpp"
#include "snapshot/snapshot.hpp"

namespace pb::build {

struct Services {
  using Path = std::filesystem::path;
  // fetch::fetch_all: each request's file in the cache, keyed by its label (the plan item's
  // package name, unique in a plan).
  std::function<std::map<std::string, Path>(const std::vector<fetch::Request>&, const fetch::Options&)> fetch;
  // runtime::find_node: Node's path; throws pb::Error saying what to install.
  std::function<Path()> node;
  // runtime::ensure_runtime(version, cache_dir, offline): the runtime directory.
  std::function<Path(const std::string&, const Path&, bool)> runtime;
  // snapshot::make_snapshot: writes the snapshot into the staged bundle.
  std::function<snapshot::MakeResult(const snapshot::MakeOptions&)> snapshot;
  // snapshot::smoke(bundle, runtime, modules, cache_dir, host_args): imports in a fresh Pyodide.
  std::function<snapshot::SmokeReport(const Path&, const Path&, const std::vector<std::string>&, const Path&,
                                      const std::vector<std::string>&)>
      smoke;
  // runtime::run_host: the host's other modes on the staged bundle (--minimize's trace, --compile).
  std::function<nlohmann::json(const runtime::HostCall&, const std::vector<std::string>&)> host;

  static Services real();
};

}  // namespace pb::build
