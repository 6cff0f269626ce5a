// The snapshot file: magic, format version, JSON metadata, zstd-compressed Pyodide snapshot.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <string_view>
#include <thread>
#include <vector>

#include "snapshot/snapshot.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/json.hpp"
#include "util/sha256.hpp"

namespace pb::snapshot {

namespace stdfs = std::filesystem;

namespace {

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint32_t get_u32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

Error zstd_error(const stdfs::path& file, size_t code) {
  return Error(file.string() + ": zstd: " + ZSTD_getErrorName(code), Exit::io);
}

// LEB128 readers over a wasm module; throw on running off the end.
struct WasmReader {
  std::string_view b;
  size_t p = 0;
  uint8_t byte() {
    if (p >= b.size()) throw Error("truncated wasm module", Exit::internal);
    return static_cast<uint8_t>(b[p++]);
  }
  uint32_t u32() {
    uint32_t r = 0;
    for (int shift = 0;; shift += 7) {
      uint8_t x = byte();
      if (shift < 32) r |= static_cast<uint32_t>(x & 0x7f) << shift;
      if (!(x & 0x80)) return r;
      if (shift > 35) throw Error("bad LEB128 in wasm module", Exit::internal);
    }
  }
  int32_t i32() {
    uint32_t r = 0;
    int shift = 0;
    uint8_t x;
    do {
      x = byte();
      if (shift < 32) r |= static_cast<uint32_t>(x & 0x7f) << shift;
      shift += 7;
      if (shift > 42) throw Error("bad LEB128 in wasm module", Exit::internal);
    } while (x & 0x80);
    if (shift < 32 && (x & 0x40)) r |= ~0u << shift;
    return static_cast<int32_t>(r);
  }
};

// Emscripten places a main module's data at GLOBAL_BASE (1024) when segments are relative to
// __memory_base. A wrong guess would only cost compression, never correctness: the same bytes
// are XOR-ed at the same places on both sides.
constexpr uint32_t kMemoryBase = 1024;

constexpr uint64_t kWasmPage = 64 * 1024;
constexpr uint64_t kMaxHeap = uint64_t(1) << 32;  // wasm32 memory
constexpr uint64_t kMaxTable = 10'000'000;        // V8's limit on a function table

// Members the restore computes with or hands to the host: a hand-edited value must fail here, by
// name, not as a wasm trap, a host exception or a JSON type error later.
void check_metadata(const nlohmann::json& meta, const stdfs::path& file) {
  auto edited = [&](const std::string& what) {
    return Error(file.string() + ": snapshot metadata " + what +
                     " (edited or damaged); remake it with `pybundle snapshot` or rebuild the bundle",
                 Exit::problems);
  };
  auto count = [](const nlohmann::json& v) { return v.is_number_unsigned(); };
  if (!meta.is_object()) throw edited("is not a JSON object");
  const auto& raw_size = json_at(meta, "raw_size");
  if (!count(raw_size) || raw_size.get<uint64_t>() < 8) throw edited("'raw_size' is not a byte count");
  const auto& heap_offset = json_at(meta, "heap_offset");
  if (!count(heap_offset) || heap_offset.get<uint64_t>() > raw_size.get<uint64_t>())
    throw edited("'heap_offset' is not an offset inside the snapshot");
  const uint64_t heap = raw_size.get<uint64_t>() - heap_offset.get<uint64_t>();
  if (heap > kMaxHeap) throw edited("'raw_size' leaves a heap larger than wasm's 4 GiB");
  if (const auto& x = json_at(meta, "xor_wasm_data"); !x.is_boolean())
    throw edited("'xor_wasm_data' is not true or false");
  if (const auto& size = json_at(meta, "heap_size"); !size.is_null()) {
    if (!count(size) || size.get<uint64_t>() % kWasmPage != 0)
      throw edited("'heap_size' is not a whole number of 64 KiB pages");
    if (size.get<uint64_t>() != heap)
      throw edited("'heap_size' " + size.dump() + " is not 'raw_size' less 'heap_offset' (" + std::to_string(heap) +
                   ")");
  }
  if (const auto& modules = json_at(meta, "modules"); !modules.is_null() && !modules.is_array())
    throw edited("'modules' is not a list");
  const auto& libraries = json_at(meta, "libraries");
  if (libraries.is_null()) return;
  if (!libraries.is_array()) throw edited("'libraries' is not a list");
  for (size_t i = 0; i < libraries.size(); ++i) {
    const auto& lib = libraries[i];
    auto name = "'libraries[" + std::to_string(i) + "]";
    if (!lib.is_object()) throw edited(name + "' is not an object");
    for (const char* key : {"path", "sha256"})
      if (!json_at(lib, key).is_string()) throw edited(name + "." + key + "' is not a string");
    if (!json_at(lib, "global").is_boolean()) throw edited(name + ".global' is not true or false");
    for (const char* key : {"memory_base", "memory_size", "table_length", "table_size"})
      if (!count(json_at(lib, key))) throw edited(name + "." + key + "' is not a count");
    for (const char* key : {"free_slots", "handles"}) {
      const auto& list = json_at(lib, key);
      if (!list.is_array() || !std::all_of(list.begin(), list.end(), count))
        throw edited(name + "." + key + "' is not a list of counts");
    }
    uint64_t base = lib["memory_base"].get<uint64_t>(), size = lib["memory_size"].get<uint64_t>();
    if (base > heap || size > heap - base)
      throw edited(name + "' places " + lib["path"].get<std::string>() + " at byte " + std::to_string(base) + ", " +
                   std::to_string(size) + " bytes long, past the heap's " + std::to_string(heap));
    uint64_t table = lib["table_length"].get<uint64_t>();
    if (table > kMaxTable) throw edited(name + ".table_length' is larger than a function table can be");
    for (const auto& slot : lib["free_slots"])
      if (slot.get<uint64_t>() >= table) throw edited(name + ".free_slots' lists a slot past 'table_length'");
    // Which library each needed name found; absent in snapshots made before it was recorded.
    if (const auto& needed = json_at(lib, "needed"); !needed.is_null()) {
      if (!needed.is_object()) throw edited(name + ".needed' is not an object");
      for (const auto& item : needed.items()) {
        const auto& found = item.value();  // not a structured binding: clang 14 cannot capture one
        bool earlier = found.is_string() && std::any_of(libraries.begin(), libraries.begin() + i,
                                                        [&](const auto& l) { return l["path"] == found; });
        if (!earlier) throw edited(name + ".needed' maps '" + item.key() + "' to no library loaded before it");
      }
    }
  }
}

}  // namespace

HeapBase load_heap_base(const stdfs::path& wasm_file) {
  HeapBase base;
  // Mapped, not read: restoring only touches the data section, not the 8 MB of code.
  int fd = ::open(wasm_file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error("cannot read " + wasm_file.string() + ": " + std::strerror(errno), Exit::io);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size < 8) {
    ::close(fd);
    throw Error(wasm_file.string() + ": not a wasm module", Exit::usage);
  }
  base.wasm_size = static_cast<size_t>(st.st_size);
  void* map = ::mmap(nullptr, base.wasm_size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) throw Error("cannot map " + wasm_file.string() + ": " + std::strerror(errno), Exit::io);
  size_t map_size = base.wasm_size;
  base.wasm = std::shared_ptr<const char>(static_cast<const char*>(map),
                                          [map_size](const char* p) { ::munmap(const_cast<char*>(p), map_size); });
  std::string_view wasm(base.wasm.get(), base.wasm_size);
  WasmReader r{wasm};
  if (wasm.substr(0, 4) != std::string_view("\0asm", 4))
    throw Error(wasm_file.string() + ": not a wasm module", Exit::usage);
  r.p = 8;
  try {
    while (r.p < wasm.size()) {
      uint8_t id = r.byte();
      uint32_t size = r.u32();
      size_t end = r.p + size;
      if (end > wasm.size()) throw Error("section past the end", Exit::internal);
      if (id == 11) {  // data section
        uint32_t count = r.u32();
        for (uint32_t i = 0; i < count; ++i) {
          uint32_t flags = r.u32();
          if (flags == 1) {  // passive: not placed by instantiation
            uint32_t len = r.u32();
            r.p += len;
            continue;
          }
          if (flags == 2) r.u32();  // memory index
          uint8_t op = r.byte();
          uint32_t offset;
          if (op == 0x41) {
            offset = static_cast<uint32_t>(r.i32());
          } else if (op == 0x23) {
            r.u32();
            offset = kMemoryBase;
          } else {
            throw Error("unsupported data offset expression", Exit::internal);
          }
          if (r.byte() != 0x0b) throw Error("unsupported data offset expression", Exit::internal);
          uint32_t len = r.u32();
          if (r.p + len > end) throw Error("data segment past its section", Exit::internal);
          base.segments.push_back({offset, wasm.substr(r.p, len)});
          r.p += len;
        }
      }
      r.p = end;
    }
  } catch (const Error& e) {
    throw Error(wasm_file.string() + ": " + e.what(), Exit::usage);
  }
  std::sort(base.segments.begin(), base.segments.end(),
            [](const DataSegment& a, const DataSegment& b) { return a.offset < b.offset; });
  return base;
}

void xor_heap_base(const HeapBase& base, char* data, size_t size, uint64_t heap_pos) {
  uint64_t end = heap_pos + size;
  auto it = std::upper_bound(base.segments.begin(), base.segments.end(), heap_pos,
                             [](uint64_t pos, const DataSegment& s) { return pos < s.offset; });
  if (it != base.segments.begin()) --it;
  for (; it != base.segments.end() && it->offset < end; ++it) {
    uint64_t s0 = std::max<uint64_t>(it->offset, heap_pos);
    uint64_t s1 = std::min<uint64_t>(it->offset + it->bytes.size(), end);
    if (s1 <= s0) continue;  // the segment before heap_pos may end before it
    char* out = data + (s0 - heap_pos);
    const char* in = it->bytes.data() + (s0 - it->offset);
    size_t n = static_cast<size_t>(s1 - s0), i = 0;
    for (; i + 8 <= n; i += 8) {  // eight bytes at a time; memcpy keeps it free of alignment rules
      uint64_t a, b;
      std::memcpy(&a, out + i, 8);
      std::memcpy(&b, in + i, 8);
      a ^= b;
      std::memcpy(out + i, &a, 8);
    }
    for (; i < n; ++i) out[i] ^= in[i];
  }
}

SnapshotHeader read_header(const stdfs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error("cannot read " + file.string(), Exit::io);
  char head[16];
  if (!in.read(head, sizeof head) || std::string_view(head, 8) != kMagic)
    throw Error(file.string() + ": not a pybundle snapshot (bad magic)", Exit::problems);
  SnapshotHeader h;
  h.version = get_u32(head + 8);
  if (h.version != kFormatVersion)
    throw Error(file.string() + ": snapshot format " + std::to_string(h.version) +
                    " is not supported (this pybundle reads format " + std::to_string(kFormatVersion) +
                    "); rebuild the bundle",
                Exit::problems);
  uint32_t len = get_u32(head + 12);
  if (len > (64u << 20)) throw Error(file.string() + ": snapshot metadata too large", Exit::problems);
  std::string meta(len, '\0');
  if (!in.read(meta.data(), len)) throw Error(file.string() + ": truncated snapshot metadata", Exit::problems);
  if (json_too_deep(meta)) throw Error(file.string() + ": bad snapshot metadata: " + kTooDeep, Exit::problems);
  try {
    h.meta = nlohmann::json::parse(meta);
  } catch (const std::exception& e) {
    std::string_view why = e.what();  // "[json.exception.parse_error.101] parse error at ..."
    if (auto end = why.find("] "); why.substr(0, 1) == "[" && end != std::string_view::npos) why.remove_prefix(end + 2);
    throw Error(file.string() + ": bad snapshot metadata: " + std::string(why), Exit::problems);
  }
  check_metadata(h.meta, file);
  h.payload_offset = sizeof head + len;
  return h;
}

void write_snapshot_file(const stdfs::path& file, nlohmann::json meta, std::string raw, int level,
                         const HeapBase* base) {
  size_t pos = 0;
  auto size = raw.size();
  write_snapshot_file(
      file, std::move(meta),
      [&](char* buf, size_t n) {
        n = std::min(n, raw.size() - pos);
        std::memcpy(buf, raw.data() + pos, n);
        pos += n;
        return n;
      },
      size, level, base);
}

void write_snapshot_file(const stdfs::path& file, nlohmann::json meta, const RawReader& read, uint64_t raw_size,
                         int level, const HeapBase* base, const std::function<void(std::string_view)>& raw_copy) {
  // Streamed a chunk at a time: neither the raw heap nor the compressed file is ever held whole.
  std::vector<char> chunk(1 << 20);
  size_t have = 0;
  auto fill = [&] {
    while (have < chunk.size()) {
      size_t n = read(chunk.data() + have, chunk.size() - have);
      if (n == 0) break;
      have += n;
    }
  };
  fill();
  // Pyodide's own header: u32 magic, u32 offset of the heap, ...
  if (have < 16 || raw_size < 16) throw Error("snapshot: Pyodide's snapshot is too short", Exit::internal);
  uint64_t heap_offset = get_u32(chunk.data() + 4);
  if (heap_offset > raw_size) throw Error("snapshot: bad heap offset in Pyodide's snapshot", Exit::internal);
  meta["heap_offset"] = heap_offset;
  meta["xor_wasm_data"] = base != nullptr;
  meta["format"] = kFormatVersion;
  meta["raw_size"] = raw_size;
  meta["zstd_level"] = level;
  std::string m = meta.dump();
  std::string head(kMagic);
  put_u32(head, kFormatVersion);
  put_u32(head, static_cast<uint32_t>(m.size()));
  head += m;

  // Written under a temporary name, removed unless it was renamed into place.
  struct Tmp {
    stdfs::path path;
    int fd = -1;
    bool keep = false;
    ~Tmp() {
      if (fd >= 0) ::close(fd);
      if (!keep) ::unlink(path.c_str());
    }
  } tmp{file.string() + ".tmp-" + std::to_string(::getpid())};
  tmp.fd = ::open(tmp.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (tmp.fd < 0) throw Error("cannot create " + tmp.path.string() + ": " + std::strerror(errno), Exit::io);
  int fd = tmp.fd;
  auto put = [&](const char* p, size_t n) {
    while (n > 0) {
      ssize_t w = ::write(fd, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) throw Error("cannot write " + tmp.path.string() + ": " + std::strerror(errno), Exit::io);
      p += w;
      n -= static_cast<size_t>(w);
    }
  };
  put(head.data(), head.size());

  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  if (!cctx) throw Error("zstd: out of memory", Exit::internal);
  std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> guard(cctx, ZSTD_freeCCtx);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
  // Worker threads when libzstd was built with them; ignored otherwise.
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_nbWorkers, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  ZSTD_CCtx_setPledgedSrcSize(cctx, raw_size);
  std::vector<char> obuf(ZSTD_CStreamOutSize());
  uint64_t pos = 0;
  for (;;) {
    if (pos + have > raw_size) throw Error("snapshot: Pyodide's snapshot is longer than its size", Exit::internal);
    if (raw_copy && have) raw_copy(std::string_view(chunk.data(), have));
    if (base && pos + have > heap_offset) {
      size_t skip = pos < heap_offset ? static_cast<size_t>(heap_offset - pos) : 0;
      xor_heap_base(*base, chunk.data() + skip, have - skip, pos + skip - heap_offset);
    }
    pos += have;
    bool last = pos == raw_size;
    ZSTD_inBuffer in{chunk.data(), have, 0};
    size_t rc;
    do {
      ZSTD_outBuffer ob{obuf.data(), obuf.size(), 0};
      rc = ZSTD_compressStream2(cctx, &ob, &in, last ? ZSTD_e_end : ZSTD_e_continue);
      if (ZSTD_isError(rc)) throw zstd_error(file, rc);
      put(obuf.data(), ob.pos);
    } while (last ? rc != 0 : in.pos < in.size);
    if (last) break;
    have = 0;
    fill();
    if (have == 0)
      throw Error("snapshot: Pyodide's snapshot ended after " + std::to_string(pos) + " of " +
                      std::to_string(raw_size) + " bytes",
                  Exit::internal);
  }
  bool ok = ::fsync(fd) == 0;
  ok = ::close(fd) == 0 && ok;
  tmp.fd = -1;
  if (!ok) throw Error("cannot write " + tmp.path.string() + ": " + std::strerror(errno), Exit::io);
  if (::rename(tmp.path.c_str(), file.c_str()) != 0)
    throw Error("cannot rename into " + file.string() + ": " + std::strerror(errno), Exit::io);
  tmp.keep = true;
}

void decompress_payload(const stdfs::path& file, const SnapshotHeader& header,
                        const std::function<void(std::string_view)>& sink, const HeapBase* base) {
  bool xored = header.meta.value("xor_wasm_data", false);
  if (xored && !base) throw Error(file.string() + ": restoring needs the runtime's wasm module", Exit::internal);
  uint64_t heap_offset = header.meta.value("heap_offset", uint64_t{0});
  uint64_t pos = 0;          // position in the raw stream
  std::string pyodide_head;  // its first 8 bytes: Pyodide's magic, then where the heap starts
  auto emit = [&](char* data, size_t size) {
    if (pyodide_head.size() < 8) {
      pyodide_head.append(data, std::min(size, 8 - pyodide_head.size()));
      if (pyodide_head.size() == 8 && get_u32(pyodide_head.data() + 4) != heap_offset)
        throw Error(file.string() + ": snapshot metadata 'heap_offset' is " + std::to_string(heap_offset) +
                        ", the snapshot's own header says " + std::to_string(get_u32(pyodide_head.data() + 4)) +
                        " (edited or damaged); remake it with `pybundle snapshot` or rebuild the bundle",
                    Exit::problems);
    }
    if (xored && pos + size > heap_offset) {
      size_t skip = pos < heap_offset ? static_cast<size_t>(heap_offset - pos) : 0;
      xor_heap_base(*base, data + skip, size - skip, pos + skip - heap_offset);
    }
    pos += size;
    sink(std::string_view(data, size));
  };
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error("cannot read " + file.string(), Exit::io);
  in.seekg(static_cast<std::streamoff>(header.payload_offset));
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  if (!dctx) throw Error("zstd: out of memory", Exit::internal);
  std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> guard(dctx, ZSTD_freeDCtx);
  std::vector<char> ibuf(ZSTD_DStreamInSize() * 8), obuf(1 << 20);
  size_t last = 1;
  bool any = false;
  bool full = false;  // the decoder may hold more output even when the input is used up
  for (;;) {
    size_t got = 0;
    if (in) {
      in.read(ibuf.data(), static_cast<std::streamsize>(ibuf.size()));
      got = static_cast<size_t>(in.gcount());
    }
    if (got == 0 && !full) break;
    any = any || got > 0;
    ZSTD_inBuffer ib{ibuf.data(), got, 0};
    do {
      ZSTD_outBuffer ob{obuf.data(), obuf.size(), 0};
      last = ZSTD_decompressStream(dctx, &ob, &ib);
      // A damaged file is a problem with the bundle, like a truncated or mis-sized one.
      if (ZSTD_isError(last))
        throw Error(file.string() + ": the snapshot data is damaged (zstd: " + ZSTD_getErrorName(last) +
                        "); remake it with `pybundle snapshot`",
                    Exit::problems);
      if (ob.pos) emit(obuf.data(), ob.pos);
      // 0: the frame is complete and flushed; another call would start a new frame.
      full = last != 0 && ob.pos == ob.size;
    } while (ib.pos < ib.size || full);
  }
  if (!any || last != 0) throw Error(file.string() + ": truncated snapshot data", Exit::problems);
  if (const auto& raw_size = json_at(header.meta, "raw_size");
      raw_size.is_number_unsigned() && pos != raw_size.get<uint64_t>())
    throw Error(file.string() + ": the snapshot decompresses to " + std::to_string(pos) + " bytes, its metadata says " +
                    raw_size.dump() + " (edited or damaged); remake it with `pybundle snapshot`",
                Exit::problems);
}

namespace {

// A listed file path that stays inside the bundle: relative, no "." or ".." segments.
bool inside_bundle(const std::string& p) {
  if (p.empty() || p.front() == '/' || p.find('\0') != std::string::npos) return false;
  size_t start = 0;
  while (start <= p.size()) {
    auto end = p.find('/', start);
    if (end == std::string::npos) end = p.size();
    auto part = std::string_view(p).substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

}  // namespace

std::string files_reason(const stdfs::path& bundle_dir, const bundle::Manifest& manifest) {
  // bundle.json's file list must still produce its digest, and the files must still be there.
  if (std::find(manifest.missing.begin(), manifest.missing.end(), "files") != manifest.missing.end())
    return "bundle.json has no file list";
  for (const auto& f : manifest.files) {
    std::error_code ec;
    auto full = bundle_dir / f.path;
    auto on_disk = stdfs::file_size(full, ec);
    if (ec) return f.path + " is missing";
    if (on_disk != f.size) return f.path + " changed size since the build";
    // The app's own modules are what people edit after a build; hash them (they are small).
    if (f.path.starts_with("app/") && sha256_file(full) != f.sha256) return f.path + " changed since the build";
  }
  if (bundle::digest(manifest.files) != manifest.digest) return "bundle.json's file list does not match its digest";
  return "";
}

std::string stale_reason(const SnapshotHeader& header, const stdfs::path& bundle_dir, const bundle::Manifest& manifest,
                         const runtime::RuntimeInfo& runtime) {
  const auto& meta = header.meta;
  auto str = [&](const char* key) { return json_string(meta, key); };
  if (str("pyodide") != runtime.version)
    return "it was made with Pyodide " + str("pyodide") + ", the runtime is Pyodide " + runtime.version;
  if (str("build_id") != runtime.build_id)
    return "it was made by a different build of Pyodide " + runtime.version + " (build id " +
           str("build_id").substr(0, 12) + ", runtime " + runtime.build_id.substr(0, 12) + ")";
  const std::string& digest = manifest.digest;
  if (str("bundle_digest") != digest)
    return "it was made for bundle digest " + str("bundle_digest").substr(0, 12) + ", bundle.json has " +
           digest.substr(0, 12);
  if (auto why = files_reason(bundle_dir, manifest); !why.empty()) return why;
  // The shared libraries a restore loads again must be the bytes the snapshot placed.
  if (auto libs = meta.find("libraries"); libs != meta.end()) {
    if (!libs->is_array()) return "its list of shared libraries is not a list";
    for (const auto& lib : *libs) {
      auto path = json_string(lib, "path");
      if (!inside_bundle(path)) return "it lists a shared library '" + path + "' that is not inside the bundle";
      std::error_code ec;
      if (!stdfs::is_regular_file(bundle_dir / path, ec)) return "the shared library " + path + " is missing";
      if (sha256_file(bundle_dir / path) != json_string(lib, "sha256"))
        return "the shared library " + path + " changed since the snapshot was made";
    }
  }
  return "";
}

}  // namespace pb::snapshot
