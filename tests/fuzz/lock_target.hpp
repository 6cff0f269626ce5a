// The uv.lock and pylock.toml targets share one check: any input either parses into a Lock of the
// reader's format whose accessors work, or throws pb::Error; anything else (another exception, a
// crash) is a finding.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "lock/lock.hpp"
#include "util/error.hpp"

template <class Parse>
int fuzz_lock_reader(const uint8_t* data, size_t size, Parse parse, pb::lock::Format format) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  try {
    auto lock = parse(in);
    if (lock.format != format) std::abort();
    for (const auto& p : lock.packages) {
      if (lock.find(p.name).empty()) std::abort();  // every package is found by its own name
      (void)lock.where(p);
      for (const auto& w : p.wheels) (void)w.sha256();
      if (p.sdist) (void)p.sdist->sha256();
    }
  } catch (const pb::Error&) {}
  return 0;
}
