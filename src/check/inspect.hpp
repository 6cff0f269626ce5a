// What a built bundle costs, per distribution: files, bytes, gzip bytes, share of the upload, and
// the import time measured while its snapshot was made (`pybundle inspect`, check's size advice).
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "bundle/manifest.hpp"
#include "nlohmann/json.hpp"

namespace pb::check {

// Cloudflare's Worker size limits (gzip): Free and Paid plans.
inline constexpr uint64_t kFreeLimit = 3ull << 20, kPaidLimit = 10ull << 20;

struct Contributor {
  std::string name;  // distribution (normalized), "(app)", or "(other)" for files no RECORD names
  std::string version;
  std::vector<std::string> modules;               // top-level modules seen in its files
  uint64_t files = 0, bytes = 0, gzip_bytes = 0;  // gzip: its files in one stream
  double share = 0;                               // of the summed gzip bytes of all contributors
  std::optional<double> import_ms;  // self time of its modules' bodies during the snapshot's import; none: not imported
};

struct Inspection {
  std::vector<Contributor> contributors;  // most gzip bytes first
  uint64_t files = 0, bytes = 0;          // what a deploy uploads: app/ and python_modules/
  uint64_t gzip_bytes = 0;                // all of it in one gzip stream, as wrangler measures
  bool import_times = false;              // the snapshot recorded import times
};

// Reads the files bundle.json lists; throws pb::Error naming a file that cannot be read.
Inspection inspect(const std::filesystem::path& bundle, const bundle::Manifest& manifest);

// What --minimize and --compile=drop-sources would make of the upload, measured on copies of the
// bundle in its own runtime: the host's trace (the files the entry's import and one request use,
// as --minimize keeps them) and its compile mode (the .pyc --compile=drop-sources ships). Every
// figure is the gzip size of the upload (app/ and python_modules/) in one stream, as `gzip_bytes`.
struct Savings {
  uint64_t gzip_bytes = 0;  // as built
  uint64_t minimized = 0, compiled = 0, both = 0;
  size_t minimize_drops = 0;  // files of python_modules/ --minimize would drop
  size_t compile_drops = 0;   // .py sources of python_modules/ drop-sources replaces by .pyc
};

// Boots the bundle's runtime twice (trace, compile); `cache_dir` holds the runtime and the copies.
// Throws pb::Error naming the bundle when the trace or the compile fails.
Savings measure_savings(const std::filesystem::path& bundle, const bundle::Manifest& manifest,
                        const std::filesystem::path& cache_dir);

// "jinja2 3.1.2 (300.1 KiB, 72%), markupsafe 2.1.2 (...)": the `n` largest, for messages.
std::string top_contributors(const Inspection& inspection, size_t n = 5);

}  // namespace pb::check
