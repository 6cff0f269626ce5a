// The download engine behind fetch_all: locks cache entries, copies local files, and runs
// remote transfers on one libcurl multi handle with retries and resumption.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "fetch/cache.hpp"
#include "fetch/fetch.hpp"
#include "fetch/progress.hpp"
#include "fetch/source.hpp"

namespace pb::fetch::detail {

// One distinct file (requests with the same sha256 share an item).
struct Item {
  std::string label, sha256, shown_url;  // shown_url has credentials removed
  std::optional<uint64_t> size;
  Source source;
  bool done = false, cached = false;
  std::string error;     // cause, when it failed
  bool problem = false;  // the failure will not go away by retrying (404, wrong hash, ...)
};

// Brings every item into the cache or sets its error. Items already cached are skipped.
void run(std::vector<Item*>& items, const Cache& cache, const Options& options, Progress& progress);

}  // namespace pb::fetch::detail
