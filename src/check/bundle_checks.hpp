// Checks of a built bundle directory that need no runtime: the manifest, every file, the size.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "check/project_checks.hpp"
#include "check/report.hpp"
#include "bundle/manifest.hpp"
#include "nlohmann/json.hpp"

namespace pb::check {

// "manifest": OUT/bundle.json parses (bundle::parse) and has the keys of schema 1 (BUNDLE.md).
// `manifest` receives it when it passes. A missing directory is a usage error (exit 2).
Check manifest(const std::filesystem::path& bundle, std::optional<bundle::Manifest>& manifest);

// "files": every file under python_modules/ and app/ is in bundle.json with its size and sha256,
// every listed file exists, nothing else lies in the bundle, and the digest matches the list.
Check files(const std::filesystem::path& bundle, const bundle::Manifest& manifest);

// The bundle as one deterministic tar stream (sorted, owner 0, time 0), gzipped in memory.
struct Measured {
  uint64_t gzip_bytes = 0;        // the whole bundle, compressed
  uint64_t tar_bytes = 0;         // the uncompressed tar stream
  uint64_t files = 0, bytes = 0;  // regular files and their total size
};
Measured measure(const std::filesystem::path& bundle);

// "size": the gzip size of the upload (app/ and python_modules/, as build and inspect measure it)
// against the budget, the whole bundle's beside it; over it, the ten largest uploaded files.
Check bundle_size(const std::filesystem::path& bundle, const bundle::Manifest& manifest,
                  const std::optional<Budget>& budget);

// A path inside the bundle as shown in findings: "<bundle as given>/<rel>".
std::string shown(const std::filesystem::path& bundle, const std::string& rel);

}  // namespace pb::check
