// Making, checking and restoring snapshots of a bundle with the JavaScript host (runtime/host.hpp).
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bundle/manifest.hpp"
#include "nlohmann/json.hpp"
#include "runtime/runtime.hpp"
#include "snapshot/smoke.hpp"

namespace pb::snapshot {

// The host's --app-source: the project directory app/ was copied from (bundle.json entry.source's
// directory, "." at the project root), so tracebacks name the project's files; none for a bundle
// that does not record it.
std::vector<std::string> app_source_args(const bundle::Manifest& manifest);

// ---- The snapshot file (format 1) -------------------------------------------------------------
// "PBSNAP\r\n", u32 format version, u32 metadata length (little endian), metadata JSON, then one
// zstd frame holding Pyodide's own snapshot (its header and hiwire state, then the heap).
inline constexpr std::string_view kMagic = "PBSNAP\r\n";
inline constexpr uint32_t kFormatVersion = 1;

struct SnapshotHeader {
  uint32_t version = 0;
  nlohmann::json meta;          // pyodide, build_id, bundle_digest, entry, modules, heap_size, raw_size
  uint64_t payload_offset = 0;  // where the zstd frame starts
};

// Throws pb::Error naming the file when it is not a snapshot or has an unknown format version.
SnapshotHeader read_header(const std::filesystem::path& file);

// The wasm module's active data segments: what a fresh instance holds in memory before it runs.
// XOR-ing them out of the heap turns the unchanged static data into zeros (smaller files); the
// same runtime (same build id) puts them back on restore.
struct DataSegment {
  uint32_t offset;
  std::string_view bytes;
};
struct HeapBase {
  std::shared_ptr<const char> wasm;  // the module, mapped read-only; segments point into it
  size_t wasm_size = 0;
  std::vector<DataSegment> segments;  // sorted by offset
};
HeapBase load_heap_base(const std::filesystem::path& wasm_file);  // throws on a malformed module
// XOR the segments into `data`, which holds heap bytes [heap_pos, heap_pos + size).
void xor_heap_base(const HeapBase& base, char* data, size_t size, uint64_t heap_pos);

// Compress `raw` (Pyodide's snapshot bytes) with zstd at `level` and write the file atomically.
// With `base`, the heap part of raw is stored XOR the wasm's data segments.
void write_snapshot_file(const std::filesystem::path& file, nlohmann::json meta, std::string raw, int level,
                         const HeapBase* base = nullptr);
// The same, streamed: `read(buf, n)` gives up to n next bytes of the `raw_size` bytes (0: none
// left); `raw_copy` sees each piece before the XOR (for the heap cache).
using RawReader = std::function<size_t(char* buf, size_t n)>;
void write_snapshot_file(const std::filesystem::path& file, nlohmann::json meta, const RawReader& read,
                         uint64_t raw_size, int level, const HeapBase* base,
                         const std::function<void(std::string_view)>& raw_copy = {});
// Decompress the payload (undoing the XOR with `base` when the file has it), handing it out in
// pieces; throws pb::Error on corrupt data or when the file needs a base and none is given.
void decompress_payload(const std::filesystem::path& file, const SnapshotHeader& header,
                        const std::function<void(std::string_view)>& sink, const HeapBase* base = nullptr);

// Why a snapshot cannot be restored into this bundle with this runtime; empty when it can.
// Checks the bundle digest (and bundle.json's file list against it), the files' sizes, the
// contents of app/, the Pyodide version and the build id, and the sha256 of each shared library the
// snapshot recorded (the host loads them again on restore).
std::string stale_reason(const SnapshotHeader& header, const std::filesystem::path& bundle_dir,
                         const bundle::Manifest& manifest, const runtime::RuntimeInfo& runtime);

// Why the bundle's files no longer give bundle.json's digest (a file missing, resized, an app/
// file edited, the list not matching the digest); empty when they do. Part of stale_reason.
std::string files_reason(const std::filesystem::path& bundle_dir, const bundle::Manifest& manifest);

// ---- Making ---------------------------------------------------------------------------------
struct MakeOptions {
  std::filesystem::path runtime_dir;
  std::filesystem::path bundle_dir;  // staged bundle holding bundle.json, app/, python_modules/
  std::string entry_module;          // e.g. "app"
  std::vector<std::string> preimport;
  std::filesystem::path cache_dir;                   // where the host script is written (default: the user cache)
  std::vector<std::string> smoke;                    // modules to import after the snapshot is written, each on its own
  std::function<void(const SmokeReport&)> on_smoke;  // gets their results (also when the entry failed)
  int level = 6;                                     // zstd level: 12 made files 8 % smaller in 4x the time and RSS
  std::optional<uint32_t> hash_seed;                 // PYTHONHASHSEED while importing; default: from python_modules/
  std::vector<std::string> host_args;                // more host options (the build's --app-left-out)
};

struct MakeResult {
  bundle::Snapshot facts;                      // for bundle.json "snapshot" (file, sha256, size, ...)
  std::vector<std::string> warnings;           // entropy drawn at import time, with call sites
  std::vector<std::string> missing_app_files;  // "app/x": the import tried to open it and it was not there
};

// Time spent importing each top-level module while the snapshot was made ([{where, module, ms}],
// for `pybundle inspect`), kept beside bundle.json: a measurement, so not in bundle.json, which like
// the snapshot is a function of the inputs; not in --archive either.
inline constexpr const char* kImportTimesFile = bundle::kImportTimes;

// Import the entry (and preimport) in the host and write <bundle>/snapshot.bin.zst and
// <bundle>/import-times.json. Throws pb::Error
// with the import error (the Python traceback went to stderr) or naming a shared library it cannot hold.
MakeResult make_snapshot(const MakeOptions& options);

// ---- Running --------------------------------------------------------------------------------
struct RunOptions {
  std::filesystem::path bundle_dir;
  std::filesystem::path cache_dir;
  bool use_snapshot = true;
  bool allow_stale = false;  // a stale snapshot falls back to importing
  std::string url = "http://localhost/";
  std::map<std::string, std::string> vars;  // --var K=V: over bundle.json "vars" (a worker's self.env)
  std::vector<std::string> node_flags;
  std::vector<std::string> smoke;                // run: modules to import after the request (answer "smoke")
  std::function<void(const std::string&)> warn;  // e.g. why an existing snapshot is not used
};

// What `run`/`serve` need: the manifest, the runtime, and whether the snapshot is used.
struct Prepared {
  bundle::Manifest manifest;
  runtime::RuntimeInfo runtime;
  std::filesystem::path snapshot;  // empty: import from scratch
  SnapshotHeader header;
  std::string note;  // why the snapshot is not used, when it exists
};
Prepared prepare(const RunOptions& options);

// Call on_fetch once; the host's answer plus "process_ms" (spawn to answer, measured here).
nlohmann::json run_bundle(const RunOptions& options);

struct ServeOptions {
  RunOptions run;
  std::string host = "127.0.0.1";
  int port = 8787;
  bool json = false;                        // print the host's startup JSON on stdout
  int workers = 1;                          // Node processes restoring the snapshot, taking connections in turn
  uint64_t max_body = uint64_t(100) << 20;  // request bodies past this are answered 413
};
// Serve until interrupted; returns the exit code.
int serve_bundle(const ServeOptions& options);

}  // namespace pb::snapshot
