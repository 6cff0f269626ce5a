// libFuzzer target: a runtime's pyodide-lock.json, read by Target::load from a directory (the
// real entry point). It either gives a Target whose derived facts work, or throws pb::Error.
#include "scratch.hpp"
#include "target/target.hpp"
#include "util/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& dir = scratch_dir("pyodidelock");
  write_input(dir / "pyodide-lock.json", data, size);
  for (const char* requested : {"", "0.29.3"}) {
    try {
      auto t = pb::target::Target::load(dir, requested);
      auto tags = t.tags();
      if (tags.empty()) std::abort();
      (void)t.environment();
      (void)t.python_minor();
      if (auto w = pb::wheel::WheelName::try_parse("demo-1.0-py3-none-any.whl")) (void)t.rank(*w);
      if (auto w = pb::wheel::WheelName::try_parse("demo-1.0-cp313-cp313-pyodide_2025_0_wasm32.whl")) (void)t.rank(*w);
    } catch (const pb::Error&) {}
  }
  return 0;
}
