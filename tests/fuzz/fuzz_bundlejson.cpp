// libFuzzer target: a bundle's bundle.json, read the ways pybundle reads it: `check --bundle`
// (check::manifest, then check::files when it is valid) and the snapshot staleness test run and
// serve apply before restoring (snapshot::stale_reason). Only pb::Error may escape.
#include <filesystem>
#include <fstream>

#include "check/bundle_checks.hpp"
#include "scratch.hpp"
#include "snapshot/snapshot.hpp"
#include "util/error.hpp"
#include "util/json.hpp"

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
    nlohmann::json manifest;
    auto c = pb::check::manifest(dir(), manifest);
    if (c.findings.empty()) {
      if (manifest.is_null()) std::abort();  // a clean manifest check hands the document on
      (void)pb::check::files(dir(), manifest);
    }
  } catch (const pb::Error&) {}
  // run/serve: the parsed document against a snapshot header made for it (read_manifest refuses
  // deep nesting before parsing, as check::manifest does).
  if (pb::json_too_deep(std::string_view(reinterpret_cast<const char*>(data), size))) return 0;
  auto doc = nlohmann::json::parse(data, data + size, nullptr, false);
  if (doc.is_discarded()) return 0;
  pb::snapshot::SnapshotHeader header;
  header.version = 1;
  header.meta = {{"pyodide", "0.29.3"}, {"build_id", "b"}};
  if (doc.is_object() && doc.contains("digest")) header.meta["bundle_digest"] = doc["digest"];
  pb::runtime::RuntimeInfo runtime{dir(), "0.29.3", "b"};
  try {
    (void)pb::snapshot::stale_reason(header, dir(), doc, runtime);
  } catch (const pb::Error&) {}
  return 0;
}
