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
  std::string url;     // http(s)://, file://, or an absolute local path
  std::string sha256;  // expected, lowercase hex (required)
  std::optional<uint64_t> size;
  std::string label;   // package name, for messages
};

struct Options {
  std::filesystem::path cache_dir;  // <cache>/wheels/<sha256[0:2]>/<sha256>
  int concurrency = 16;
  bool offline = false;
  int retries = 5;
  std::vector<std::pair<std::string, std::string>> mirrors;  // URL prefix rewrites
};

// Files in the same order as the requests. Throws pb::Errors listing every failed download
// (Exit::problems for hash mismatch / 404, Exit::io for network trouble).
std::vector<std::filesystem::path> fetch_all(const std::vector<Request>& requests, const Options& options);

}  // namespace pb::fetch
