// libFuzzer target: a bundle's bundle.json, read the ways pybundle reads it: `check --bundle`
// (check::manifest, then check::files when it is valid) and run and serve (bundle::read, then the
// snapshot staleness test before restoring, snapshot::stale_reason). Only pb::Error may escape.
#include <filesystem>
#include <fstream>

#include "check/bundle_checks.hpp"
#include "scratch.hpp"
#include "snapshot/snapshot.hpp"
#include "util/error.hpp"

namespace {
// A bundle directory holding one small app file, so listed paths can hit a real file.
const std::filesystem::path& dir() {
  static const std::filesystem::path& d = []() -> const std::filesystem::path& {
    const auto& scratch = scratch_dir("bundlejson");
    std::filesystem::create_directories(scratch / "app");
    std::ofstream(scratch / "app" / "main.py") << "def on_fetch(request):\n    return 'hi'\n";
    return scratch;
  }();
  return d;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  write_input(dir() / "bundle.json", data, size);
  try {
    std::optional<pb::bundle::Manifest> manifest;
    auto c = pb::check::manifest(dir(), manifest);
    if (c.findings.empty()) {
      if (!manifest) std::abort();  // a clean manifest check hands the manifest on
      (void)pb::check::files(dir(), *manifest);
    }
  } catch (const pb::Error&) {}
  // run/serve: the one reader, then the manifest against a snapshot header made for it.
  std::optional<pb::bundle::Manifest> manifest;
  try {
    manifest = pb::bundle::read(dir());
  } catch (const pb::Error&) {
    return 0;
  }
  pb::snapshot::SnapshotHeader header;
  header.version = 1;
  header.meta = {{"pyodide", "0.29.3"}, {"build_id", "b"}, {"bundle_digest", manifest->digest}};
  pb::runtime::RuntimeInfo runtime{dir(), "0.29.3", "b"};
  try {
    (void)pb::snapshot::stale_reason(header, dir(), *manifest, runtime);
  } catch (const pb::Error&) {}
  return 0;
}
