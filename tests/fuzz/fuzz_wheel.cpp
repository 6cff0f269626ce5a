// libFuzzer target: wheel file names, METADATA headers and RECORD rows.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "util/error.hpp"
#include "wheel/wheel.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto w = pb::wheel::WheelName::try_parse(in)) {
    if (w->tags.empty() || w->distribution.empty() || w->version.empty()) std::abort();
    for (const auto& t : w->tags)
      if (t.python.empty() || t.abi.empty() || t.platform.empty()) std::abort();
  }
  if (pb::wheel::filename_from_url(in).size() > in.size()) std::abort();  // decoding only shrinks
  auto m = pb::wheel::parse_metadata(in);
  (void)m;
  try {
    for (const auto& row : pb::wheel::parse_record(in))
      if (row.path.empty()) std::abort();
  } catch (const pb::Error&) {}
  return 0;
}
