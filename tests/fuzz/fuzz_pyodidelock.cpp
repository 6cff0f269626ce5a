// libFuzzer target: a runtime's pyodide-lock.json, read by Target::load from a directory (the
// real entry point). It either gives a Target whose derived facts work, or throws pb::Error.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "target/target.hpp"
#include "util/error.hpp"

namespace {
const std::filesystem::path& dir() {
  // Never destroyed: the exit handler that removes it runs after static destructors.
  static const std::filesystem::path* d = [] {
    std::string tmpl = (std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp") + std::string("/fuzz-pyodidelock-XXXXXX");
    if (!mkdtemp(tmpl.data())) std::abort();
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(dir(), ec);
    });
    return new std::filesystem::path(tmpl);
  }();
  return *d;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  {
    std::ofstream out(dir() / "pyodide-lock.json", std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  for (const char* requested : {"", "0.29.3"}) {
    try {
      auto t = pb::target::Target::load(dir(), requested);
      auto tags = t.tags();
      if (tags.empty()) std::abort();
      (void)t.environment();
      (void)t.python_minor();
      if (auto w = pb::wheel::WheelName::try_parse("demo-1.0-py3-none-any.whl")) (void)t.rank(*w);
      if (auto w = pb::wheel::WheelName::try_parse("demo-1.0-cp313-cp313-pyodide_2025_0_wasm32.whl")) (void)t.rank(*w);
    } catch (const pb::Error&) {
    }
  }
  return 0;
}
