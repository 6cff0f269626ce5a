// Making, checking and restoring snapshots through the JavaScript host (host/protocol.hpp). A
// snapshot to restore arrives decompressed on the host's stdin, so decompression overlaps Node's
// start-up and no raw heap is written to disk.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>

#include "snapshot/heap_cache.hpp"
#include "host/protocol.hpp"
#include "runtime/host.hpp"
#include "runtime/runtime.hpp"
#include "snapshot/smoke.hpp"
#include "snapshot/snapshot.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/interrupt.hpp"
#include "util/json.hpp"
#include "util/sha256.hpp"

namespace pb::snapshot {

namespace stdfs = std::filesystem;
using runtime::find_node;
using runtime::host_spawn;
using runtime::NodeSpawn;
using runtime::parse_answer;
using runtime::runtime_info;
using runtime::spawn_node;

namespace {

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

std::string entropy_warning(const nlohmann::json& e) {
  std::string msg = e.value("file", "?") + ":" + std::to_string(e.value("line", 0)) + ": " + e.value("call", "?");
  if (e.value("kind", "") == "generator") {
    msg += " creates a random generator while the snapshot is made";
    if (e.contains("imported_from")) msg += " (imported from " + e["imported_from"].get<std::string>() + ")";
    return msg + "; every restore starts it from the same state (only the module-level random is reseeded)";
  }
  if (e.value("kind", "") == "clock")
    return msg + " reads the clock while the snapshot is made, where it reads 2020-01-01; every restore shares that " +
           "time — read it inside the handler instead";
  msg += " runs while the snapshot is made";
  if (e.contains("imported_from")) msg += " (imported from " + e["imported_from"].get<std::string>() + ")";
  return msg + "; every restore of the snapshot shares its result — call it inside the handler instead";
}

}  // namespace

std::vector<std::string> app_source_args(const bundle::Manifest& manifest) {
  auto source = manifest.entry ? manifest.entry->source : "";
  if (source.empty()) return {};
  auto dir = stdfs::path(source).parent_path().generic_string();
  return {host::kAppSource, dir.empty() ? "." : dir};
}

namespace {

// The default str hash seed (and entropy seed): from the files under python_modules/ only, so a
// build after an edit of the app restores the same base snapshot.
uint32_t default_hash_seed(const bundle::Manifest& manifest) {
  Hash h;
  for (const auto& f : manifest.files) {
    if (!f.path.starts_with("python_modules/")) continue;
    h.update(f.path);
    h.update(std::string_view("\0", 1));
    h.update(f.sha256);
    h.update(std::string_view("\n", 1));
  }
  return static_cast<uint32_t>(std::stoul(h.hex().substr(0, 8), nullptr, 16));
}

// Removes a file of ours however the scope ends.
struct RemoveOnExit {
  stdfs::path p;
  ~RemoveOnExit() {
    std::error_code ec;
    stdfs::remove(p, ec);
  }
};

// Where the heap starts in a raw snapshot (Pyodide's header: u32 magic, u32 heap offset); the
// stream is left at its start. Empty when the stream is shorter than the header.
std::optional<uint64_t> pyodide_heap_offset(std::ifstream& raw) {
  char head[8] = {};
  bool whole = static_cast<bool>(raw.read(head, 8));
  raw.clear();
  raw.seekg(0);
  if (!whole) return std::nullopt;
  uint64_t offset = 0;
  for (int i = 3; i >= 0; --i) offset = (offset << 8) | static_cast<unsigned char>(head[4 + i]);
  return offset;
}

std::string stat_text(const stdfs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return "?";
  return std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec) + ":" + std::to_string(st.st_ino);
}

// The base snapshot for this runtime, Node, host and hash seed: <cache>/heaps/base-<key>.raw, made
// by `make-base` the first time (a boot of the bare runtime, ~2 s) and restored by every later
// make-snapshot. Empty when it cannot be made or kept (the snapshot then boots the runtime itself,
// and its bytes differ from those of one made from the base).
stdfs::path base_snapshot(const MakeOptions& options, const runtime::RuntimeInfo& runtime, uint32_t hash_seed) {
  auto script = runtime::host_script(options.cache_dir);
  Hash key;
  for (const auto& part :
       {runtime.version, runtime.build_id, stat_text(options.runtime_dir / "pyodide.asm.wasm"),
        stat_text(options.runtime_dir / "pyodide.asm.mjs"), find_node().string(), stat_text(find_node()),
        script.parent_path().filename().string(), std::to_string(hash_seed)}) {
    key.update(part);
    key.update(std::string_view("\0", 1));
  }
  auto file = options.cache_dir / "heaps" / ("base-" + key.hex().substr(0, 32) + ".raw");
  if (heap_cache_file_ours(file) && heap_cache_file_ours(zero_map_path(file))) {
    ::utimensat(AT_FDCWD, file.c_str(), nullptr, 0);  // most recently used
    return file;
  }
  auto raw_file = options.bundle_dir / ".base.raw.tmp";
  RemoveOnExit remove_raw{raw_file};
  auto spawn = host_spawn({host::kMakeBase, options.runtime_dir, options.bundle_dir, options.cache_dir, true});
  spawn.argv.insert(spawn.argv.end(),
                    {host::kOut, stdfs::absolute(raw_file).string(), host::kHashSeed, std::to_string(hash_seed)});
  auto answer = parse_answer(spawn_node(spawn), host::kMakeBase);
  if (!answer.value(host::kOk, false)) return {};
  std::ifstream raw(raw_file, std::ios::binary);
  auto heap_offset = pyodide_heap_offset(raw);
  if (!heap_offset) return {};
  HeapCacheWriter keep(file, *heap_offset);
  std::vector<char> buf(1 << 20);
  uint64_t total = 0;
  while (raw.read(buf.data(), static_cast<std::streamsize>(buf.size())) || raw.gcount() > 0) {
    keep.write({buf.data(), static_cast<size_t>(raw.gcount())});
    total += static_cast<uint64_t>(raw.gcount());
  }
  keep.commit(total);
  return heap_cache_file_ours(file) ? file : stdfs::path();
}

}  // namespace

MakeResult make_snapshot(const MakeOptions& options) {
  find_node();
  auto manifest = bundle::read(options.bundle_dir);
  auto runtime = runtime_info(options.runtime_dir);
  auto raw_file = options.bundle_dir / ".snapshot.raw.tmp";
  // The snapshot is a function of its inputs: the str hash seed and the entropy drawn while importing
  // come from the bundle's python_modules/ unless given, and the base snapshot from the seed.
  const auto& digest = manifest.digest;
  uint32_t hash_seed = options.hash_seed.value_or(default_hash_seed(manifest));
  std::vector<std::string> args{host::kEntry,    options.entry_module,
                                host::kOut,      stdfs::absolute(raw_file).string(),
                                host::kHashSeed, std::to_string(hash_seed)};
  for (auto& a : app_source_args(manifest)) args.push_back(std::move(a));
  args.insert(args.end(), options.host_args.begin(), options.host_args.end());
  if (!options.preimport.empty()) {
    args.push_back(host::kPreimport);
    args.push_back(join(options.preimport, ","));
  }
  if (!options.smoke.empty()) {
    args.push_back(host::kSmokeAfter);
    args.push_back(smoke_list(options.smoke));
  }
  RemoveOnExit remove_raw{raw_file};  // the raw file is only ours
  auto make = [&](const stdfs::path& base) {
    // One V8 worker thread: the build's peak memory is this process, and its wasm tier-up on more
    // threads held ~15 MiB more for no time saved on two cores (bench/build.sh).
    auto spawn = host_spawn(
        {host::kMakeSnapshot, options.runtime_dir, options.bundle_dir, options.cache_dir, true, {"--v8-pool-size=1"}});
    spawn.argv.insert(spawn.argv.end(), args.begin(), args.end());
    if (!base.empty()) {
      spawn.argv.insert(spawn.argv.end(),
                        {host::kBaseFile, base.string(), host::kBaseZeroMap, zero_map_path(base).string()});
      spawn.reads.insert(spawn.reads.end(), {base, zero_map_path(base)});
    }
    return parse_answer(spawn_node(spawn), host::kMakeSnapshot);
  };
  auto base_file = base_snapshot(options, runtime, hash_seed);
  auto answer = make(base_file);
  // A base in the cache that does not restore is made again, once.
  if (!base_file.empty() && !answer.value(host::kOk, false) && answer.value("base_failed", false)) {
    std::error_code ec;
    stdfs::remove(base_file, ec);
    stdfs::remove(zero_map_path(base_file), ec);
    answer = make(base_snapshot(options, runtime, hash_seed));
  }
  // The smoke imports ran after the snapshot was written, or after the entry failed to import.
  if (!options.smoke.empty() && options.on_smoke && answer.contains("smoke"))
    options.on_smoke(smoke_report(answer["smoke"], options.smoke.size()));
  if (!answer.value("ok", false))
    throw Error("snapshot: " + answer.value("error", "the JavaScript host failed"), Exit::problems);
  std::error_code ec;
  std::ifstream raw(raw_file, std::ios::binary);
  auto raw_size = stdfs::file_size(raw_file, ec);
  if (!raw || ec) throw Error("snapshot: cannot read " + raw_file.string(), Exit::io);
  // The heap's size is what was written, not the memory's size by the time the host answers: the
  // smoke imports run after the write and may grow it.
  auto heap_offset = pyodide_heap_offset(raw).value_or(0);
  uint64_t heap_size = raw_size > heap_offset ? raw_size - heap_offset : 0;

  nlohmann::json meta = {
      {"pyodide", runtime.version},
      {"build_id", runtime.build_id},
      {"bundle_digest", digest},
      {"hash_seed", hash_seed},
      {"entry", options.entry_module},
      {"preimport", options.preimport},
      {"heap_size", heap_size},
      {"modules", answer.value("modules", nlohmann::json::array())},
      {"entropy", answer.value("entropy", nlohmann::json::array())},
      {"libraries", answer.value("libraries", nlohmann::json::array())},
      {"created_by", std::string("pybundle ") + PYBUNDLE_VERSION},
      {"id", sha256_file(raw_file).substr(0, 32)},  // names the decompressed heap in the cache
  };
  auto file = options.bundle_dir / "snapshot.bin.zst";
  // The first restore on this machine then needs no decompression either. The heap is written
  // while the file is, and named once the file's hash is known.
  HeapCacheWriter keep(options.cache_dir / "heaps" / ("new-" + std::to_string(::getpid()) + ".raw"), heap_offset);
  auto base = load_heap_base(options.runtime_dir / "pyodide.asm.wasm");
  write_snapshot_file(
      file, meta,
      [&](char* buf, size_t n) {
        raw.read(buf, static_cast<std::streamsize>(n));
        return static_cast<size_t>(raw.gcount());
      },
      raw_size, options.level, &base, [&](std::string_view chunk) { keep.write(chunk); });
  auto file_sha256 = sha256_file(file);
  keep.commit(raw_size, heap_cache_path(options.cache_dir, file_sha256));

  MakeResult result;
  for (const auto& e : meta["entropy"]) result.warnings.push_back(entropy_warning(e));
  result.missing_app_files = string_list(answer, "missing_app_files");
  auto& facts = result.facts;
  facts.file = "snapshot.bin.zst";
  facts.sha256 = file_sha256;
  facts.size = stdfs::file_size(file);
  facts.pyodide = runtime.version;
  facts.build_id = runtime.build_id;
  facts.heap_size = heap_size;
  facts.raw_size = raw_size;
  facts.hash_seed = hash_seed;
  facts.modules = meta["modules"].size();
  facts.libraries = meta["libraries"].size();
  facts.entropy_warnings = result.warnings.size();
  // Self time of each bundle module's body during the import, by top-level name (inspect).
  auto times = options.bundle_dir / kImportTimesFile;
  if (answer.contains("imports") && answer["imports"].is_array()) {
    fs::write_file_atomic(times, answer["imports"].dump(1) + "\n");
  } else {
    stdfs::remove(times, ec);
  }
  return result;
}

Prepared prepare(const RunOptions& options) {
  find_node();  // before installing a runtime that could not run anyway
  Prepared p;
  p.manifest = bundle::read(options.bundle_dir);
  const auto& version = p.manifest.target.pyodide;
  if (version.empty()) throw Error((options.bundle_dir / "bundle.json").string() + ": no target.pyodide", Exit::usage);
  p.runtime = runtime_info(runtime::ensure_runtime(version, options.cache_dir));

  const auto& snap = p.manifest.snapshot;
  std::string name = snap ? snap->file_name() : "snapshot.bin.zst";  // bundle::parse refused a path
  auto file = options.bundle_dir / name;
  std::error_code ec;
  if (!options.use_snapshot) return p;
  if (!stdfs::exists(file, ec)) {
    if (snap) p.note = "bundle.json lists " + name + " but the file is missing; importing without it";
    return p;
  }
  p.header = read_header(file);
  auto reason = stale_reason(p.header, options.bundle_dir, p.manifest, p.runtime);
  if (reason.empty()) {
    p.snapshot = file;
  } else if (options.allow_stale) {
    p.note = "snapshot not used: " + reason + "; importing without it";
  } else {
    throw Error(file.string() + " does not match: " + reason +
                    "; rebuild the bundle, or pass --allow-stale-snapshot to import without the snapshot",
                Exit::problems);
  }
  return p;
}

namespace {

// Decompress the snapshot's payload into `sink` and keep a copy in the heap cache at `cached`.
// Returns why the copy could not be kept, "" when it was.
std::string decompress_and_keep(const Prepared& p, const stdfs::path& cached,
                                const std::function<void(std::string_view)>& sink) {
  HeapBase base;
  if (p.header.meta.value("xor_wasm_data", false)) base = load_heap_base(p.runtime.dir / "pyodide.asm.wasm");
  HeapCacheWriter keep(cached, p.header.meta.value("heap_offset", uint64_t{0}));
  decompress_payload(
      p.snapshot, p.header,
      [&](std::string_view chunk) {
        interrupt::throw_if_interrupted();  // the watcher removes the cache's temporary: stop writing it
        if (sink) sink(chunk);
        keep.write(chunk);
      },
      &base);
  keep.commit(p.header.meta.value("raw_size", uint64_t{0}));
  return keep.error();
}

// `need_file`: the host must read the heap from a file (serve --workers: several processes restore
// it); a snapshot not in the heap cache yet is decompressed into it first.
NodeSpawn app_spawn(const RunOptions& options, const Prepared& p, const std::string& mode, bool need_file = false) {
  std::string entry = p.manifest.entry ? p.manifest.entry->module : "";
  if (entry.empty()) throw Error((options.bundle_dir / "bundle.json").string() + ": no entry.module", Exit::usage);
  auto spawn = host_spawn({mode, p.runtime.dir, options.bundle_dir, options.cache_dir, false, options.node_flags});
  spawn.argv.insert(spawn.argv.end(), {host::kEntry, entry});
  for (auto& a : app_source_args(p.manifest)) spawn.argv.push_back(std::move(a));
  auto vars = p.manifest.vars;
  for (const auto& [k, v] : options.vars) vars[k] = v;
  if (!vars.empty()) {
    spawn.argv.push_back(host::kVars);
    spawn.argv.push_back(nlohmann::json(vars).dump());
  }
  if (!p.snapshot.empty()) {
    // The shared libraries the host loads again before the heap is copied in.
    if (auto libs = p.header.meta.find("libraries");
        libs != p.header.meta.end() && libs->is_array() && !libs->empty()) {
      spawn.argv.push_back("--libraries");
      spawn.argv.push_back(libs->dump());
    }
    auto raw_size = p.header.meta.value("raw_size", uint64_t{0});
    auto cached = heap_cache_path(options.cache_dir, sha256_file(p.snapshot));
    std::string why;
    if (need_file && !heap_cache_ready(cached, p.header)) why = decompress_and_keep(p, cached, nullptr);
    if (heap_cache_ready(cached, p.header)) {
      spawn.argv.push_back("--snapshot-file");
      spawn.argv.push_back(cached.string());
      spawn.reads.push_back(cached);
      if (heap_cache_file_ours(zero_map_path(cached))) {
        spawn.reads.push_back(zero_map_path(cached));
        spawn.argv.push_back("--zero-map");
        spawn.argv.push_back(zero_map_path(cached).string());
      }
      return spawn;
    }
    if (need_file)
      throw Error("cannot keep the decompressed snapshot in " + cached.parent_path().string() +
                      " for the server's workers" + (why.empty() ? "" : " (" + why + ")") + "; use --workers 1",
                  Exit::io);
    auto stream = [p](int fd, const stdfs::path& keep) {
      bool reader_gone = false;
      decompress_and_keep(p, keep, [&](std::string_view chunk) {
        if (!reader_gone && !fs::write_all(fd, chunk.data(), chunk.size())) reader_gone = true;
      });
    };
    if (cached.empty()) {
      spawn.argv.push_back("--snapshot-stdin");
      spawn.argv.push_back(std::to_string(raw_size));
      spawn.feed = [stream](int fd) { stream(fd, {}); };
      return spawn;
    }
    // A first restore: decompress into the heap cache on a thread while Node starts (it is done
    // before Node needs it), then the host reads it like any later restore: all-zero pages
    // skipped, no pipe, no reader thread. Streaming the heap through stdin cost 30-50 ms more.
    // A cache that cannot be written still gets the heap through stdin.
    spawn.argv.insert(spawn.argv.end(), {"--snapshot-wait", std::to_string(raw_size), "--heap-cache", cached.string(),
                                         "--zero-map", zero_map_path(cached).string()});
    spawn.reads.push_back(cached);
    spawn.reads.push_back(zero_map_path(cached));
    spawn.feed = [p, cached, stream](int fd) {
      decompress_and_keep(p, cached, nullptr);
      bool kept = heap_cache_ready(cached, p.header) && heap_cache_file_ours(zero_map_path(cached));
      std::string_view say = kept ? "file\n" : "stream\n";
      if (!fs::write_all(fd, say.data(), say.size()) || kept) return;
      stream(fd, {});
    };
  }
  return spawn;
}

}  // namespace

nlohmann::json run_bundle(const RunOptions& options) {
  auto start = std::chrono::steady_clock::now();
  auto p = prepare(options);
  double prepare_ms = ms_since(start);
  if (!p.note.empty() && options.warn) options.warn(p.note);
  auto spawn = app_spawn(options, p, host::kRun);
  // A restored run executes little wasm: baseline code only. Optimising hot functions on V8's
  // background threads costs CPU the start-up needs, and Node waits for those jobs at exit (140 ms
  // of CPU per run measured). --no-snapshot's imports and the smoke imports do need the top tier.
  // A 16 MiB young generation from the start: 2-4 scavenges instead of 10 (15 against 35-85 ms).
  // The host keeps one V8 code cache per flag set.
  if (!p.snapshot.empty() && options.smoke.empty())
    spawn.argv.insert(spawn.argv.begin() + 1,
                      {"--liftoff-only", "--max-semi-space-size=16", "--min-semi-space-size=16"});
  spawn.argv.push_back("--url");
  spawn.argv.push_back(options.url);
  if (!options.smoke.empty()) {
    spawn.argv.push_back(host::kSmokeAfter);
    spawn.argv.push_back(smoke_list(options.smoke));
  }
  auto answer = parse_answer(spawn_node(spawn), host::kRun);
  answer["process_ms"] = std::round(ms_since(start) * 10) / 10;
  answer["prepare_ms"] = std::round(prepare_ms * 10) / 10;
  if (!p.note.empty()) answer["note"] = p.note;
  return answer;
}

int serve_bundle(const ServeOptions& options) {
  auto p = prepare(options.run);
  if (!p.note.empty() && options.run.warn) options.run.warn(p.note);
  int workers = std::max(1, options.workers);
  auto spawn = app_spawn(options.run, p, host::kServe, workers > 1 && !p.snapshot.empty());
  for (std::string s : std::initializer_list<std::string>{
           "--host", options.host, "--port", std::to_string(options.port), "--workers", std::to_string(workers),
           "--request-timeout", runtime::seconds_text(runtime::host_timeout()), "--max-body",
           std::to_string(options.max_body)})
    spawn.argv.push_back(s);
  spawn.forward_signals = true;
  spawn.timeout = 0;  // serves until stopped; each request has its own limit
  // The host's first line is its start-up answer: a failure becomes our one-line error, success is
  // printed for --format json; whatever follows passes through.
  std::string first;
  bool answered = false;
  nlohmann::json failed;
  spawn.on_stdout = [&](std::string_view chunk) {
    if (!answered) {
      auto nl = chunk.find('\n');
      first.append(chunk.substr(0, nl));
      if (nl == std::string_view::npos) return;
      answered = true;
      chunk.remove_prefix(nl + 1);
      auto j = nlohmann::json::parse(first, nullptr, false);
      if (j.is_object() && !j.value("ok", true)) failed = std::move(j);
      else if (options.json || !j.is_object()) fs::write_all(1, (first + "\n").data(), first.size() + 1);
    }
    fs::write_all(1, chunk.data(), chunk.size());
  };
  auto r = spawn_node(spawn);
  if (failed.is_object()) {
    int code = failed.value("exit", static_cast<int>(Exit::problems));
    throw Error("serve: " + failed.value("error", std::string("the server did not start")),
                code == static_cast<int>(Exit::io) ? Exit::io : Exit::problems);
  }
  return r.signal ? 128 + r.signal : r.exit_code;
}

}  // namespace pb::snapshot
