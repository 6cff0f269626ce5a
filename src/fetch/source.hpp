// Where a request's bytes come from: URL rewriting, local paths, safe display.
#pragma once
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace pb::fetch {

// The URL with any user:password@ removed, for messages.
std::string redact_url(const std::string& url);

// Applies the longest matching FROM prefix; unchanged when none matches.
std::string apply_mirrors(const std::string& url, const std::vector<std::pair<std::string, std::string>>& mirrors);

struct Source {
  enum class Kind { remote, local, unsupported };
  Kind kind = Kind::remote;
  std::string url;             // remote: the URL to fetch
  std::filesystem::path path;  // local: absolute path
};

// http(s):// → remote; file:// and paths → local (relative to base_dir); other schemes → unsupported.
Source classify(const std::string& url, const std::filesystem::path& base_dir);

// "%20" → " "; invalid escapes are kept as they are.
std::string percent_decode(const std::string& s);

}  // namespace pb::fetch
