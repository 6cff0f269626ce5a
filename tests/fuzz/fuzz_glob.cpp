// libFuzzer target: the trimming globs ([tool.pybundle] exclude, --keep) against bundle paths.
// Input: "PATTERN\nPATH". Besides crashes (and timeouts: the matcher must stay linear in the
// path, never backtrack), a pattern always matches itself when it holds no special character.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "vendor/paths.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nl = in.find('\n');
  std::string_view pattern = in.substr(0, nl);
  std::string_view path = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
  (void)pb::vendor::glob_match(pattern, path);
  (void)pb::vendor::glob_hits(pattern, path);
  if (pattern.find_first_of("*?[\\") == std::string_view::npos && !pb::vendor::glob_match(pattern, pattern))
    std::abort();
  return 0;
}
