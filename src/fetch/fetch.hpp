// Parallel, verified downloads into a content-addressed cache.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace pb::fetch {

struct Request {
  std::string url;     // http(s)://, file://, or a local path (relative ones resolve against Options::base_dir)
  std::string sha256;  // expected, lowercase hex (required)
  std::optional<uint64_t> size;
  std::string label;  // package name, for messages
};

// What happened, for progress display. Emitted on the calling thread.
struct Event {
  enum class Kind {
    start,       // files_total / bytes_total known
    cached,      // label: already in the cache
    downloaded,  // label, url, bytes: verified and stored
    retry,       // label, url, message (cause), attempt (the one that failed), delay_seconds
    waiting,     // label: another process holds this entry's lock; waiting for it
    failed,      // label, url, message: final error for this file
    progress,    // aggregate counters (at most ~10 per second)
    finish,      // aggregate counters, final
  };
  Kind kind = Kind::progress;
  std::string label{}, url{}, message{};
  int attempt = 0;
  double delay_seconds = 0;
  uint64_t bytes = 0;
  // Aggregate counters, valid on every event.
  size_t files_done = 0, files_total = 0, files_cached = 0, files_failed = 0;  // done includes both
  uint64_t bytes_done = 0, bytes_total = 0;  // bytes_total counts downloads of known size only
};
using Reporter = std::function<void(const Event&)>;

struct Options {
  std::filesystem::path cache_dir;  // required (the CLI resolves it): <cache>/wheels/<sha256[0:2]>/<sha256>
  int concurrency = 16;
  bool offline = false;
  int retries = 5;
  std::vector<std::pair<std::string, std::string>> mirrors;  // URL prefix rewrites (longest match wins)
  // Additions.
  std::filesystem::path base_dir;                // for relative local paths; empty = current directory
  uint64_t max_download = uint64_t(1) << 30;     // bytes, for a file whose size the lock does not give
  double stall_timeout = 30;                     // seconds without a byte before a transfer is aborted and retried
  int connect_timeout = 30;                      // seconds
  double retry_base_delay = 0.5;                 // first backoff in seconds; doubles per attempt, jittered
  double retry_max_delay = 30;                   // cap for backoff and for a server's Retry-After
  std::filesystem::path ca_file;                 // empty: $SSL_CERT_FILE, else the system store (ca_store.hpp)
  std::filesystem::path netrc_file;              // empty: $NETRC, else ~/.netrc (if present)
  Reporter reporter;                             // optional
  std::function<void(const std::string&)> warn;  // optional: a corrupt cache entry that was evicted
};

// Files in the same order as the requests. Throws pb::Errors listing every failed download
// (Exit::problems for hash mismatch / 404, Exit::io for network trouble).
std::vector<std::filesystem::path> fetch_all(const std::vector<Request>& requests, const Options& options);

// One small body (a PEP 658 .metadata file) with fetch_all's CA store, netrc, mirrors and
// timeouts; nothing is cached. nullopt on any failure, offline, for a URL that is not http(s), or
// past max_bytes: the caller falls back.
std::optional<std::string> get(const std::string& url, const Options& options, size_t max_bytes = 16u << 20);

// "FROM=TO" from the command line or [tool.pybundle] mirrors; throws pb::Error (Exit::usage).
std::pair<std::string, std::string> parse_mirror(const std::string& spec);

}  // namespace pb::fetch
