// Internal: the manifest writer with totals, and the mtime every bundle file gets.
#pragma once
#include <cstdint>
#include <filesystem>

#include "vendor/vendor.hpp"

namespace pb::vendor {

struct ManifestTotals {
  uint64_t files = 0, bytes = 0;
};

ManifestTotals write_manifest_with(const std::filesystem::path& staged, const BundleSpec& spec);

// options.mtime, else $SOURCE_DATE_EPOCH, else 0.
int64_t resolve_mtime(const Options& options);

}  // namespace pb::vendor
