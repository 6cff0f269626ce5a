// libFuzzer target: a bundle's bundle.json, read the ways pybundle reads it: `check --bundle`
// (check::manifest, then check::files when it is valid) and the snapshot staleness test run and
// serve apply before restoring (snapshot::stale_reason). Only pb::Error may escape.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "check/bundle_checks.hpp"
#include "snapshot/snapshot.hpp"
#include "util/error.hpp"

namespace {
// A bundle directory holding one small app file, so listed paths can hit a real file.
const std::filesystem::path& dir() {
  // Never destroyed: the exit handler that removes it runs after static destructors.
  static const std::filesystem::path* d = [] {
    std::string tmpl = (std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp") + std::string("/fuzz-bundlejson-XXXXXX");
    if (!mkdtemp(tmpl.data())) std::abort();
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(dir(), ec);
    });
    std::filesystem::path p(tmpl);
    std::filesystem::create_directories(p / "app");
    std::ofstream(p / "app" / "main.py") << "def on_fetch(request):\n    return 'hi'\n";
    return new std::filesystem::path(p);
  }();
  return *d;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  {
    std::ofstream out(dir() / "bundle.json", std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    nlohmann::json manifest;
    auto c = pb::check::manifest(dir(), manifest);
    if (c.findings.empty()) {
      if (manifest.is_null()) std::abort();  // a clean manifest check hands the document on
      (void)pb::check::files(dir(), manifest);
    }
  } catch (const pb::Error&) {
  }
  // run/serve: the parsed document against a snapshot header made for it.
  auto doc = nlohmann::json::parse(data, data + size, nullptr, false);
  if (doc.is_discarded()) return 0;
  pb::snapshot::SnapshotHeader header;
  header.version = 1;
  header.meta = {{"pyodide", "0.29.3"}, {"build_id", "b"}};
  if (doc.is_object() && doc.contains("digest")) header.meta["bundle_digest"] = doc["digest"];
  pb::snapshot::RuntimeInfo runtime{dir(), "0.29.3", "b"};
  try {
    (void)pb::snapshot::stale_reason(header, dir(), doc, runtime);
  } catch (const pb::Error&) {
  }
  return 0;
}
