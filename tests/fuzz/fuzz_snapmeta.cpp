// libFuzzer target: a snapshot file's metadata, read the way run, serve and check read it before a
// restore (snapshot::read_header), then what they do with a header it accepts: decompress the
// payload (which checks the heap offset against Pyodide's own header) and the staleness test. The
// input is the metadata JSON, framed as a snapshot file around a fixed one-page heap. Only pb::Error
// may escape, and an accepted header must hold what the restore computes with.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "scratch.hpp"
#include "snapshot/snapshot.hpp"
#include "util/error.hpp"

namespace {

namespace stdfs = std::filesystem;
constexpr uint64_t kHeapOffset = 64, kHeap = 65536;

std::string read_all(const stdfs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The compressed payload of a snapshot whose raw stream is Pyodide's header (heap at 64) and a
// page of heap; and a bundle directory with bundle.json and one listed file.
struct Fixture {
  stdfs::path dir = scratch_dir("snapmeta");
  std::string payload;
  pb::bundle::Manifest manifest;
  Fixture() {
    std::string raw(kHeapOffset + kHeap, '\x11');
    raw.replace(4, 4, std::string("\x40\0\0\0", 4));
    pb::snapshot::write_snapshot_file(dir / "seed.zst", nlohmann::json::object(), raw, 1);
    auto whole = read_all(dir / "seed.zst");
    uint32_t len = 0;
    for (int i = 3; i >= 0; --i) len = (len << 8) | static_cast<unsigned char>(whole[12 + i]);
    payload = whole.substr(16 + len);
    stdfs::create_directories(dir / "python_modules" / "x");
    std::ofstream(dir / "python_modules" / "x" / "lib.so") << "not really a library";
    // No files: the digest of an empty list (seeds name it as their bundle_digest).
    manifest.digest = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  }
};

const Fixture& fixture() {
  static const Fixture f;
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& f = fixture();
  std::string file(pb::snapshot::kMagic);
  for (uint32_t v : {pb::snapshot::kFormatVersion, static_cast<uint32_t>(size)})
    for (int i = 0; i < 4; ++i) file.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  file.append(reinterpret_cast<const char*>(data), size);
  file += f.payload;
  auto path = f.dir / "snapshot.bin.zst";
  write_input(path, reinterpret_cast<const uint8_t*>(file.data()), file.size());
  pb::snapshot::SnapshotHeader header;
  try {
    header = pb::snapshot::read_header(path);
  } catch (const pb::Error&) {
    return 0;
  }
  // What host.cpp reads without further checks: these must not throw.
  const auto& meta = header.meta;
  uint64_t raw_size = meta.value("raw_size", uint64_t{0}), offset = meta.value("heap_offset", uint64_t{0});
  (void)meta.value("xor_wasm_data", false);
  if (offset > raw_size || raw_size - offset > (uint64_t(1) << 32)) std::abort();
  if (auto libs = meta.find("libraries"); libs != meta.end())
    for (const auto& lib : *libs)
      if (lib.at("memory_base").get<uint64_t>() + lib.at("memory_size").get<uint64_t>() > raw_size - offset ||
          !lib.at("global").is_boolean() || !lib.at("handles").is_array() || !lib.at("free_slots").is_array())
        std::abort();
  try {
    pb::snapshot::HeapBase base;  // no data segments: the XOR leaves the heap as it is
    pb::snapshot::decompress_payload(
        path, header, [](std::string_view) {}, &base);
  } catch (const pb::Error&) {}
  try {
    (void)pb::snapshot::stale_reason(header, f.dir, f.manifest, {f.dir, "0.29.3", "b"});
  } catch (const pb::Error&) {}
  return 0;
}
