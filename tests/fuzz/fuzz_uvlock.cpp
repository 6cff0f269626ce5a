// libFuzzer target: the uv.lock reader.
#include "lock_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fuzz_lock_reader(
      data, size, [](std::string_view in) { return pb::lock::parse_uv(in, "uv.lock"); }, pb::lock::Format::uv);
}
