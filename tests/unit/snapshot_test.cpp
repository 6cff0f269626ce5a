#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>

#include "snapshot/heap_cache.hpp"
#include "snapshot/snapshot.hpp"
#include "util/embedded.hpp"
#include "testing.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/interrupt.hpp"
#include "util/sha256.hpp"

namespace stdfs = std::filesystem;
using namespace pb::snapshot;

using pb::testing::error_of;
using pb::testing::TempDir;

namespace {

// A bundle with bundle.json listing its files and their digest.
pb::bundle::Manifest write_bundle(const stdfs::path& dir, const std::map<std::string, std::string>& files) {
  nlohmann::json list = nlohmann::json::array();
  pb::Hash digest;
  for (const auto& [path, text] : files) {
    stdfs::create_directories((dir / path).parent_path());
    pb::fs::write_file_atomic(dir / path, text);
    auto sha = pb::sha256_hex(text);
    list.push_back({{"path", path}, {"sha256", sha}, {"size", text.size()}});
    digest.update(path + "\t" + sha + "\n");
  }
  nlohmann::json m = {{"schema", 1},
                      {"target", {{"pyodide", "0.29.3"}}},
                      {"entry", {{"path", "app/app.py"}, {"module", "app"}}},
                      {"files", list},
                      {"digest", digest.hex()},
                      {"snapshot", nullptr}};
  pb::fs::write_file_atomic(dir / "bundle.json", m.dump(2) + "\n");
  return pb::bundle::read(dir);
}

}  // namespace

TEST_CASE("a snapshot file keeps its metadata and its heap") {
  TempDir t;
  auto file = t.path / "snapshot.bin.zst";
  std::string raw(3 << 20, '\0');
  for (size_t i = 0; i < raw.size(); i += 7) raw[i] = static_cast<char>(i * 31);
  raw.replace(4, 4, std::string("\x40\0\0\0", 4));  // Pyodide's header: heap offset 64
  write_snapshot_file(file, {{"pyodide", "0.29.3"}, {"bundle_digest", "abc"}}, raw, 3);

  auto h = read_header(file);
  CHECK(h.version == kFormatVersion);
  CHECK(h.meta["pyodide"] == "0.29.3");
  CHECK(h.meta["bundle_digest"] == "abc");
  CHECK(h.meta["raw_size"] == raw.size());
  CHECK(stdfs::file_size(file) < raw.size() / 2);
  std::string back;
  decompress_payload(file, h, [&](std::string_view s) { back.append(s); });
  CHECK(back == raw);
}

TEST_CASE("damaged snapshot files are refused with the file name") {
  TempDir t;
  auto file = t.path / "s.zst";
  pb::fs::write_file_atomic(file, "not a snapshot at all");
  CHECK(error_of([&] { read_header(file); }).find("s.zst: not a pybundle snapshot") != std::string::npos);

  std::string future(kMagic);
  future += std::string("\x07\0\0\0\x02\0\0\0{}", 10);
  pb::fs::write_file_atomic(file, future);
  CHECK(error_of([&] { read_header(file); }).find("snapshot format 7 is not supported") != std::string::npos);

  write_snapshot_file(file, {{"pyodide", "0.29.3"}}, std::string(100000, '\0'), 3);
  auto whole = pb::fs::read_file(file);
  pb::fs::write_file_atomic(file, whole.substr(0, whole.size() - 20));
  auto h = read_header(file);
  CHECK(error_of([&] { decompress_payload(file, h, [](std::string_view) {}); }) != "");
}

TEST_CASE("edited snapshot metadata is refused by name, before any restore") {
  TempDir t;
  auto file = t.path / "s.zst";
  write_snapshot_file(file, {{"pyodide", "0.29.3"}}, std::string(100000, '\0'), 3);
  const auto whole = pb::fs::read_file(file);
  auto edit = [&](const std::string& from, const std::string& to) {
    REQUIRE(from.size() == to.size());
    auto text = whole;
    auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    pb::fs::write_file_atomic(file, text.replace(at, from.size(), to));
  };
  edit("\"raw_size\":100000", "\"raw_size\":\"abcd\"");
  CHECK(error_of([&] { read_header(file); }).find("s.zst: snapshot metadata 'raw_size' is not a byte count") !=
        std::string::npos);
  edit("\"xor_wasm_data\":false", "\"xor_wasm_data\":\"no!\"");
  CHECK(error_of([&] { read_header(file); }).find("'xor_wasm_data' is not true or false") != std::string::npos);
  edit("\"raw_size\":100000", "\"raw_size\":100001");
  auto h = read_header(file);
  CHECK(error_of([&] {
          decompress_payload(file, h, [](std::string_view) {});
        }).find("decompresses to 100000 bytes, its metadata says 100001") != std::string::npos);
}

TEST_CASE("every metadata member a restore uses is checked by name, with the file") {
  TempDir t;
  auto file = t.path / "snapshot.bin.zst";
  std::string raw(64 + 2 * 65536, '\x11');  // Pyodide's header (heap at 64), then two wasm pages
  raw.replace(4, 4, std::string("\x40\0\0\0", 4));
  nlohmann::json lib = {{"path", "python_modules/x/lib.so"},
                        {"sha256", std::string(64, 'a')},
                        {"global", false},
                        {"memory_base", 1024},
                        {"memory_size", 16},
                        {"table_length", 10},
                        {"table_size", 1},
                        {"free_slots", {3}},
                        {"handles", {1}}};
  write_snapshot_file(file, {{"heap_size", 131072}, {"modules", {"app"}}, {"libraries", {lib}}}, raw, 3);
  const auto whole = pb::fs::read_file(file);
  const auto len = static_cast<unsigned char>(whole[12]) | static_cast<unsigned char>(whole[13]) << 8;
  const auto meta = nlohmann::json::parse(whole.substr(16, len));
  REQUIRE(meta["heap_offset"] == 64);
  // Writes the file again with the metadata changed by `edit` (its length prefix fixed up).
  auto with = [&](const std::function<void(nlohmann::json&)>& edit) {
    auto m = meta;
    edit(m);
    auto text = m.dump();
    std::string out = whole.substr(0, 12);
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((text.size() >> (8 * i)) & 0xff));
    pb::fs::write_file_atomic(file, out + text + whole.substr(16 + len));
  };
  auto refused = [&](const std::function<void(nlohmann::json&)>& edit) {
    with(edit);
    try {
      read_header(file);
    } catch (const pb::Error& e) {
      CHECK(e.code() == pb::Exit::problems);
      CHECK(std::string(e.what()).find(file.string() + ": snapshot metadata '") == 0);
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  auto has = [](const std::string& text, const std::string& part) {
    INFO(text);
    CHECK(text.find(part) != std::string::npos);
  };
  with([](nlohmann::json&) {});
  auto ok = read_header(file);
  std::string back;
  decompress_payload(file, ok, [&](std::string_view s) { back.append(s); });
  CHECK(back == raw);

  auto broken = whole.substr(0, 16) + "{\"raw_size\": 1" + std::string(len - 14, ' ') + whole.substr(16 + len);
  pb::fs::write_file_atomic(file, broken);
  CHECK(error_of([&] {
          read_header(file);
        }).rfind(file.string() + ": bad snapshot metadata: parse error at line 1", 0) == 0);
  has(refused([](auto& m) { m["heap_offset"] = nullptr; }), "'heap_offset' is not an offset inside the snapshot");
  has(refused([](auto& m) { m["heap_offset"] = 200000; }), "'heap_offset' is not an offset");
  has(refused([](auto& m) { m["raw_size"] = uint64_t(1) << 40; }), "'raw_size' leaves a heap larger than wasm's 4 GiB");
  has(refused([](auto& m) { m.erase("xor_wasm_data"); }), "'xor_wasm_data' is not true or false");
  has(refused([](auto& m) { m["heap_size"] = 1000; }), "'heap_size' is not a whole number of 64 KiB pages");
  has(refused([](auto& m) { m["heap_size"] = 65536; }),
      "'heap_size' 65536 is not 'raw_size' less 'heap_offset' (131072)");
  has(refused([](auto& m) { m["modules"] = "app"; }), "'modules' is not a list");
  has(refused([](auto& m) { m["libraries"] = nlohmann::json::object(); }), "'libraries' is not a list");
  has(refused([](auto& m) { m["libraries"][0] = 5; }), "'libraries[0]' is not an object");
  has(refused([](auto& m) { m["libraries"][0]["path"] = 7; }), "'libraries[0].path' is not a string");
  has(refused([](auto& m) { m["libraries"][0]["sha256"] = nullptr; }), "'libraries[0].sha256' is not a string");
  has(refused([](auto& m) { m["libraries"][0]["global"] = "yes"; }), "'libraries[0].global' is not true or false");
  has(refused([](auto& m) { m["libraries"][0]["memory_base"] = -1; }), "'libraries[0].memory_base' is not a count");
  has(refused([](auto& m) { m["libraries"][0].erase("table_size"); }), "'libraries[0].table_size' is not a count");
  has(refused([](auto& m) { m["libraries"][0]["memory_base"] = 131070; }),
      "'libraries[0]' places python_modules/x/lib.so at byte 131070, 16 bytes long, past the heap's 131072");
  has(refused([](auto& m) { m["libraries"][0]["memory_size"] = uint64_t(-1); }), "past the heap's 131072");
  has(refused([](auto& m) { m["libraries"][0]["table_length"] = 1u << 30; }),
      "'libraries[0].table_length' is larger than a function table can be");
  has(refused([](auto& m) { m["libraries"][0]["free_slots"] = {10}; }),
      "'libraries[0].free_slots' lists a slot past 'table_length'");
  has(refused([](auto& m) { m["libraries"][0]["handles"] = "1"; }), "'libraries[0].handles' is not a list of counts");
  has(refused([](auto& m) { m["libraries"][0]["free_slots"] = {1.5}; }), "'libraries[0].free_slots' is not a list");
  has(refused([](auto& m) { m["libraries"][0]["needed"] = {"libb.so"}; }), "'libraries[0].needed' is not an object");
  // A needed name maps to a library loaded before the one needing it, never to a file of its own.
  has(refused([](auto& m) {
        m["libraries"][0]["needed"] = {{"lib.so", "python_modules/x/lib.so"}};
      }),
      "'libraries[0].needed' maps 'lib.so' to no library loaded before it");
  has(refused([](auto& m) {
        m["libraries"][0]["needed"] = {{"libc.so", "../../libc.so"}};
      }),
      "'libraries[0].needed' maps 'libc.so' to no library loaded before it");

  // The heap's offset is also in Pyodide's own header: an edit that agrees with the other sizes is
  // found while decompressing, before the heap is handed on.
  with([](auto& m) {
    m["heap_offset"] = 65600;
    m["heap_size"] = 65536;
  });
  auto h = read_header(file);
  size_t handed = 0;
  has(error_of([&] { decompress_payload(file, h, [&](std::string_view s) { handed += s.size(); }); }),
      "snapshot metadata 'heap_offset' is 65600, the snapshot's own header says 64");
  CHECK(handed == 0);
}

TEST_CASE("the heap is stored XOR the wasm module's data segments, and restored exactly") {
  TempDir t;
  // A wasm module with a data section: "abcd" at 16 (i32.const), "xyz" at __memory_base (1024).
  std::string wasm("\0asm\x01\0\0\0", 8);
  std::string data;
  data += '\x02';
  data += std::string("\x00\x41\x10\x0b\x04", 5) + "abcd";
  data += std::string("\x00\x23\x00\x0b\x03", 5) + "xyz";
  wasm += '\x0b';
  wasm += static_cast<char>(data.size());
  wasm += data;
  pb::fs::write_file_atomic(t.path / "m.wasm", wasm);
  auto base = load_heap_base(t.path / "m.wasm");
  REQUIRE(base.segments.size() == 2);
  CHECK(base.segments[0].offset == 16);
  CHECK(base.segments[1].offset == 1024);

  // Pyodide's snapshot: header whose second u32 is the heap offset (32), then a 2 KiB heap.
  std::string raw(32 + 2048, '\0');
  raw[4] = 32;
  raw.replace(32 + 16, 4, "abcd");
  raw.replace(32 + 1024, 3, "xyq");
  raw[32 + 1500] = 'z';
  auto file = t.path / "s.zst";
  write_snapshot_file(file, {}, raw, 3, &base);
  auto h = read_header(file);
  CHECK(h.meta["xor_wasm_data"] == true);
  std::string stored, back;
  // Without the XOR the unchanged static bytes are zeros; only the changed byte remains.
  auto plain = h;
  plain.meta["xor_wasm_data"] = false;
  decompress_payload(file, plain, [&](std::string_view s) { stored.append(s); });
  CHECK(stored.substr(32 + 16, 4) == std::string(4, '\0'));
  CHECK(stored.substr(32 + 1024, 3) == std::string("\0\0", 2) + static_cast<char>('q' ^ 'z'));
  decompress_payload(
      file, h, [&](std::string_view s) { back.append(s); }, &base);
  CHECK(back == raw);
  // Pieces that start past a segment, inside one, or across one.
  for (uint64_t start : {0u, 17u, 20u, 1000u, 1025u, 1100u}) {
    std::string piece = stored.substr(32 + start, 64);
    xor_heap_base(base, piece.data(), piece.size(), start);
    CHECK(piece == raw.substr(32 + start, 64));
  }
  CHECK(error_of([&] { decompress_payload(file, h, [](std::string_view) {}); }).find("needs the runtime") !=
        std::string::npos);
}

TEST_CASE("a snapshot is stale when the bundle, the version or the build changed") {
  TempDir t;
  auto bundle = t.path / "b";
  auto manifest = write_bundle(
      bundle, {{"app/app.py", "def on_fetch(r):\n    return 'ok'\n"}, {"python_modules/six.py", "x = 1\n"}});
  pb::runtime::RuntimeInfo rt{t.path, "0.29.3", "abcdef0123456789"};
  SnapshotHeader h;
  h.meta = {{"pyodide", "0.29.3"}, {"build_id", "abcdef0123456789"}, {"bundle_digest", manifest.digest}};
  CHECK(stale_reason(h, bundle, manifest, rt) == "");

  auto other = h;
  other.meta["pyodide"] = "0.27.7";
  CHECK(stale_reason(other, bundle, manifest, rt).find("made with Pyodide 0.27.7") != std::string::npos);
  other = h;
  other.meta["build_id"] = "ffffffffffffffff";
  CHECK(stale_reason(other, bundle, manifest, rt).find("different build") != std::string::npos);
  other = h;
  other.meta["bundle_digest"] = "0000";
  CHECK(stale_reason(other, bundle, manifest, rt).find("bundle digest") != std::string::npos);

  pb::fs::write_file_atomic(bundle / "app/app.py", "def on_fetch(r):\n    return 'OK'\n");
  CHECK(stale_reason(h, bundle, manifest, rt) == "app/app.py changed since the build");
  pb::fs::write_file_atomic(bundle / "app/app.py", "def on_fetch(r):\n    return 'ok'\n");
  pb::fs::write_file_atomic(bundle / "python_modules/six.py", "x = 12\n");
  CHECK(stale_reason(h, bundle, manifest, rt) == "python_modules/six.py changed size since the build");
  stdfs::remove(bundle / "python_modules/six.py");
  CHECK(stale_reason(h, bundle, manifest, rt) == "python_modules/six.py is missing");
}

TEST_CASE("a snapshot is stale when a shared library it recorded changed") {
  TempDir t;
  auto bundle = t.path / "b";
  auto manifest = write_bundle(bundle, {{"app/app.py", "x = 1\n"}, {"python_modules/ext/_e.so", "wasm-one"}});
  pb::runtime::RuntimeInfo rt{t.path, "0.29.3", "b"};
  SnapshotHeader h;
  h.meta = {{"pyodide", "0.29.3"},
            {"build_id", "b"},
            {"bundle_digest", manifest.digest},
            {"libraries", {{{"path", "python_modules/ext/_e.so"}, {"sha256", pb::sha256_hex("wasm-one")}}}}};
  CHECK(stale_reason(h, bundle, manifest, rt) == "");
  pb::fs::write_file_atomic(bundle / "python_modules/ext/_e.so", "wasm-two");  // same size
  CHECK(stale_reason(h, bundle, manifest, rt) ==
        "the shared library python_modules/ext/_e.so changed since the snapshot was made");
  auto other = h;
  other.meta["libraries"][0]["path"] = "../x.so";
  CHECK(stale_reason(other, bundle, manifest, rt).find("not inside the bundle") != std::string::npos);
}

// Inputs found by tests/fuzz/fuzz_bundlejson: a hand-edited bundle.json is refused by the one
// reader (a one-line error naming the field), so its paths never leave the bundle; one without a
// file list makes the snapshot stale.
TEST_CASE("a malformed bundle.json is refused, one without a file list makes the snapshot stale") {
  for (const char* text :
       {"[]", "1", "{\"schema\": 1, \"digest\": 1}", "{\"schema\": 1, \"files\": [1]}",
        "{\"schema\": 1, \"files\": {}}", "{\"schema\": 1, \"files\": [{\"path\": 1, \"sha256\": \"a\", \"size\": 1}]}",
        "{\"schema\": 1, \"files\": [{\"path\": \"app/app.py\", \"sha256\": \"a\", \"size\": -1}]}",
        "{\"schema\": 1, \"files\": [{\"path\": \"../b/app/app.py\", \"sha256\": \"a\", \"size\": 6}]}",
        "{\"schema\": 1, \"files\": [{\"path\": \"/etc/hostname\", \"sha256\": \"a\", \"size\": 6}]}"}) {
    CAPTURE(std::string(text));
    CHECK_THROWS_AS(pb::bundle::parse(text), pb::bundle::Invalid);
  }
  TempDir t;
  auto bundle = t.path / "b";
  write_bundle(bundle, {{"app/app.py", "x = 1\n"}});
  pb::runtime::RuntimeInfo rt{t.path, "0.29.3", "b"};
  SnapshotHeader h;
  h.meta = {{"pyodide", "0.29.3"}, {"build_id", "b"}, {"bundle_digest", "d"}};
  CHECK(stale_reason(h, bundle, pb::bundle::parse(R"({"schema": 1, "digest": "d"})"), rt) ==
        "bundle.json has no file list");
}

TEST_CASE("every module and Python file the host loads is embedded") {
  std::set<std::string> names;
  for (const auto& f : pb::embedded::host_files) names.insert(std::string(f.name));
  static const std::regex ref(R"re((?:from "\./|pythonSource\(")([^"]+)")re");
  int refs = 0;
  for (const auto& f : pb::embedded::host_files) {
    std::string text(f.text);
    for (std::sregex_iterator it(text.begin(), text.end(), ref), end; it != end; ++it, ++refs) {
      CAPTURE(f.name);
      CHECK(names.count((*it)[1].str()) == 1);
    }
  }
  CHECK(names.count("host.mjs") == 1);
  CHECK(refs >= 10);  // the pattern still matches how the host imports
}

TEST_CASE("the heap cache keeps the most recently used heaps and base snapshots, each apart") {
  TempDir t;
  auto now = stdfs::file_time_type::clock::now();
  auto put = [&](const std::string& name, int age) {
    pb::fs::write_file_atomic(t.path / (name + ".raw"), "x");
    pb::fs::write_file_atomic(t.path / (name + ".zmap"), "");
    stdfs::last_write_time(t.path / (name + ".raw"), now - std::chrono::hours(age));
  };
  for (int i = 0; i < 4; ++i) put("heap" + std::to_string(i), i);
  // The bases are older than every heap: pruned by the heaps, they would all go.
  for (int i = 0; i < 3; ++i) put("base-" + std::to_string(i), 10 + i);
  prune_heap_cache(t.path, 2);
  std::set<std::string> left;
  for (const auto& e : stdfs::directory_iterator(t.path)) left.insert(e.path().filename().string());
  CHECK(left == std::set<std::string>{"heap0.raw", "heap0.zmap", "heap1.raw", "heap1.zmap", "base-0.raw", "base-0.zmap",
                                      "base-1.raw", "base-1.zmap"});
}

TEST_CASE("a heap cache file being written is removed when pybundle is interrupted") {
  TempDir t;
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {  // as pybundle: the signal's watcher removes what is registered, then dies of it
    pb::interrupt::install();
    HeapCacheWriter keep(t.path / "heap.raw", 0);
    keep.write("half a heap");
    ::kill(::getpid(), SIGINT);
    for (int i = 0; i < 5000 && !pb::interrupt::interrupted(); ++i) ::usleep(1000);
    pb::interrupt::hold_if_interrupted();
    ::_exit(99);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGINT));
  CHECK(stdfs::is_empty(t.path));
}

TEST_CASE("a heap cache file that cannot be kept says why") {
  TempDir t;
  pb::fs::write_file_atomic(t.path / "heaps", "a file, not a directory");
  HeapCacheWriter in_a_file(t.path / "heaps" / "h.raw", 0);
  in_a_file.write("heap");
  in_a_file.commit(4);
  CHECK(in_a_file.error() == "cannot create " + (t.path / "heaps" / "h.raw.tmp-").string() + std::to_string(::getpid()) +
                                 ": Not a directory");
  stdfs::create_directories(t.path / "d" / "h.raw" / "taken");  // a non-empty directory where the file goes
  HeapCacheWriter onto_a_directory(t.path / "d" / "h.raw", 0);
  onto_a_directory.write("heap");
  onto_a_directory.commit(4);
  CHECK(onto_a_directory.error().starts_with("cannot rename into " + (t.path / "d" / "h.raw").string() + ": "));
  HeapCacheWriter kept(t.path / "d" / "k.raw", 0);
  kept.write("heap");
  kept.commit(4);
  CHECK(kept.error().empty());
  CHECK(stdfs::file_size(t.path / "d" / "k.raw") == 4);
}
