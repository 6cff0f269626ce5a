// libFuzzer target: the pylock.toml (PEP 751) reader. Any input either parses into a Lock whose accessors
// work, or throws pb::Error; anything else (another exception, a crash) is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "lock/lock.hpp"
#include "util/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  try {
    auto lock = pb::lock::parse_pylock(in, "pylock.toml");
    if (lock.format != pb::lock::Format::pylock) std::abort();
    for (const auto& p : lock.packages) {
      if (lock.find(p.name).empty()) std::abort();  // every package is found by its own name
      (void)lock.where(p);
      for (const auto& w : p.wheels) (void)w.sha256();
      if (p.sdist) (void)p.sdist->sha256();
    }
  } catch (const pb::Error&) {
  }
  return 0;
}
