// Turn verified wheels and the app into a bundle directory.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bundle/manifest.hpp"

namespace pb::vendor {

struct Input {
  std::string name, version, origin;  // origin: "lock-wheel", "pyodide", "source"
  std::string filename, sha256;       // the wheel (empty for source)
  std::filesystem::path file;         // verified wheel file, or source directory
};

// How wheels are unpacked and trimmed.
struct Options {
  bool trim = true;                           // default trimming (__pycache__, stubs, tests, docs, ...)
  std::vector<std::string> exclude;           // extra globs to drop ([tool.pybundle] exclude)
  std::vector<std::string> keep;              // globs never dropped by trimming or excludes (--keep)
  uint64_t max_unpacked = uint64_t(1) << 30;  // zip bomb cap: uncompressed bytes per wheel
  double max_ratio = 100;                     // zip bomb cap: uncompressed / compressed size per wheel,
                                              // applied once a wheel unpacks to more than 1 MiB
  uint64_t max_entries = 100000;              // cap on entries per wheel (empty files cost no bytes)
  std::optional<int64_t> mtime;               // file times; unset: $SOURCE_DATE_EPOCH, else 0
  int jobs = 2;                               // wheels extracted in parallel
};

struct BundleSpec {
  std::filesystem::path out;      // final bundle directory
  std::filesystem::path app_dir;  // project directory holding the entry
  std::string entry;              // entry path relative to app_dir, e.g. "src/app.py"
  // app/ besides the entry: globs relative to the entry's directory ([tool.pybundle] include);
  // unset: that directory's whole tree (see plan_app in vendor/copy.hpp).
  std::optional<std::vector<std::string>> include;
  bundle::Target target;
  std::vector<Input> inputs;
  Options options;
  std::map<std::string, std::string> vars;  // manifest "vars" (a worker's env), left out when empty
  std::string name;                         // manifest "name": the project's, left out when empty
};

// A file left out of the bundle, and why: "scripts", "headers", "data" (wheel schemes that
// have no place in a Pyodide bundle), "signature", "__pycache__", "bytecode", "stubs", "tests",
// "docs", "exclude".
struct Dropped {
  std::string wheel;  // wheel file name (or source package name)
  std::string entry;  // path inside the wheel
  std::string reason;
  uint64_t size = 0;
};

struct Report {
  std::vector<Dropped> dropped;   // in wheel order, then entry order
  uint64_t files = 0, bytes = 0;  // written under python_modules/ and app/
  bundle::Manifest manifest;      // as last written to bundle.json
  uint64_t hashed = 0;            // files read to hash them, over every write of the manifest
};

// Assemble the bundle in a temporary directory next to `out` and return it (the caller
// adds the snapshot, then commits with pb::fs::replace_dir). Every problem (unsafe entry,
// RECORD mismatch, two wheels writing one path, ...) is collected and thrown as pb::Errors,
// one line each naming the wheel and the entry; nothing is left behind then. Staging
// directories of killed builds of the same `out` are removed first; this one is removed if we are
// interrupted (util/interrupt.hpp) until the caller forgets it.
std::filesystem::path assemble(const BundleSpec& spec, Report* report = nullptr);

// Write report.manifest to bundle.json of a staged bundle again, after its files changed
// (--minimize, --compile) or the caller set its snapshot: files changed since the last write are
// hashed again (bundle::scan), the others keep their hash. Updates report's counts.
void write_manifest(const std::filesystem::path& staged, const BundleSpec& spec, Report& report);

// Pack a bundle directory into `file`, by extension ".tar.zst" or ".zip": sorted entries,
// modes 0644/0755, owner 0, every time `mtime`. Written to a temporary file and renamed.
// Throws pb::Error (Exit::usage) for another extension.
void write_archive(const std::filesystem::path& bundle_dir, const std::filesystem::path& file, int64_t mtime);

// Throws pb::Error (Exit::usage) unless `file` ends in ".tar.zst" or ".zip", is not a directory
// and its directory exists.
void check_archive_name(const std::filesystem::path& file);

// $SOURCE_DATE_EPOCH as seconds, else 0. Throws pb::Error (Exit::usage) when malformed.
int64_t source_date_epoch();

}  // namespace pb::vendor
