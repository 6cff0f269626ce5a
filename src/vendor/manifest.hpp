// Internal: the manifest of a spec, and the mtime every bundle file gets.
#pragma once
#include <cstdint>

#include "bundle/manifest.hpp"
#include "vendor/vendor.hpp"

namespace pb::vendor {

// spec's target, entry, packages (sorted), name and vars; no files yet.
bundle::Manifest manifest_of(const BundleSpec& spec);

// options.mtime, else $SOURCE_DATE_EPOCH, else 0.
int64_t resolve_mtime(const Options& options);

}  // namespace pb::vendor
