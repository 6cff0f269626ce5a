#include "vendor/extract.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <locale.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/interrupt.hpp"
#include "util/sha256.hpp"
#include "vendor/paths.hpp"
#include "wheel/wheel.hpp"

namespace pb::vendor {

namespace {

constexpr uint64_t kRatioFloor = uint64_t(1) << 20;  // small wheels may compress well
constexpr uint64_t kMaxRecord = uint64_t(64) << 20;

// Opens a wheel with libarchive's seekable zip reader, which trusts the central directory
// (the listing every installer uses), not the local headers.
class Reader {
 public:
  // libarchive converts names to the locale's charset; under the C locale any non-ASCII name
  // fails. A UTF-8 locale for this thread only keeps names intact without touching others.
  Reader() : old_locale_(utf8_locale() ? ::uselocale(utf8_locale()) : nullptr), a_(archive_read_new()) {}
  ~Reader() {
    archive_read_free(a_);
    if (old_locale_) ::uselocale(old_locale_);
  }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  bool open(const std::filesystem::path& file) {
    archive_read_support_format_zip_seekable(a_);
    // Wheel names are UTF-8 (PEP 427) whether or not the zip's UTF-8 flag is set.
    archive_read_set_format_option(a_, "zip", "hdrcharset", "UTF-8");
    return archive_read_open_filename(a_, file.c_str(), 1 << 16) == ARCHIVE_OK;
  }
  archive* get() { return a_; }
  std::string error() {
    const char* e = archive_error_string(a_);
    return e ? e : "unknown libarchive error";
  }

 private:
  static locale_t utf8_locale() {
    static const locale_t loc = [] {
      locale_t l = ::newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
      return l ? l : ::newlocale(LC_CTYPE_MASK, "C.utf8", static_cast<locale_t>(nullptr));
    }();
    return loc;
  }
  locale_t old_locale_;
  archive* a_;
};

std::string entry_name(archive_entry* e) {
  if (const char* u = archive_entry_pathname_utf8(e)) return u;
  if (const char* p = archive_entry_pathname(e)) return p;
  return "";
}

std::string first_component(const std::string& name) {
  return name.substr(0, name.find('/'));
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string strip_padding(std::string v) {
  while (!v.empty() && v.back() == '=') v.pop_back();
  return v;
}

std::string human_size(uint64_t n) {
  if (n >= (uint64_t(1) << 20)) return std::to_string(n >> 20) + " MiB";
  return std::to_string(n) + " bytes";
}

// Checks the running uncompressed total of a wheel against both zip bomb caps.
std::optional<std::string> over_caps(uint64_t total, uint64_t archive_size, const Options& o) {
  if (total > o.max_unpacked)
    return "unpacks to more than " + human_size(o.max_unpacked) + " (the cap on uncompressed size)";
  if (total > kRatioFloor && static_cast<double>(total) > o.max_ratio * static_cast<double>(archive_size))
    return "compression ratio exceeds " + std::to_string(static_cast<long long>(o.max_ratio)) +
           ":1 (the cap; a zip bomb?)";
  return std::nullopt;
}

// Directories created so far by one extraction thread.
class DirMaker {
 public:
  explicit DirMaker(std::filesystem::path root) : root_(std::move(root)) {}
  // Creates the parents of `rel` under the root; returns an error text or "".
  std::string parents_of(const std::string& rel) {
    size_t pos = 0;
    while ((pos = rel.find('/', pos)) != std::string::npos) {
      std::string dir = rel.substr(0, pos++);
      if (made_.count(dir)) continue;
      auto full = root_ / dir;
      if (::mkdir(full.c_str(), 0755) != 0 && errno != EEXIST)
        return "cannot create directory " + full.string() + ": " + std::strerror(errno);
      made_.insert(dir);
    }
    return "";
  }

 private:
  std::filesystem::path root_;
  std::unordered_set<std::string> made_;
};

// The file cannot be read as a zip: says which file, and whether fetching it again can help (the
// download was verified, so a file that still has the lock's sha256 is damaged as published).
std::string damaged(const WheelPlan& plan, const std::string& why) {
  std::string now;
  try {
    now = sha256_file(plan.file);
  } catch (const Error&) {}
  std::string head = plan.wheel + " (" + plan.file.string() + "): " + why;
  if (plan.sha256.empty() || now.empty())
    return head + "; the wheel file itself is damaged: build " + plan.name + " into a new wheel";
  if (now != plan.sha256) return head + "; the file changed after its sha256 was checked: build again to fetch it anew";
  return head +
         "; the file has the sha256 the lock pins, so the wheel is damaged as published and fetching it "
         "again will not help: lock another version of " +
         plan.name;
}

// A wheel built for Pyodide (a wasm32 platform tag).
bool wasm_wheel(const std::string& filename) {
  auto dash = filename.rfind('-');
  return dash != std::string::npos && filename.find("wasm32", dash) != std::string::npos;
}

bool shared_library(const std::string& path) {
  auto slash = path.rfind('/');
  std::string_view base = std::string_view(path).substr(slash == std::string::npos ? 0 : slash + 1);
  return base.ends_with(".so") || base.find(".so.") != std::string_view::npos;
}

// Pyodide loads a .so as an Emscripten side module: a wasm module whose first section is dylink.0.
// Returns why `file` (`size` bytes) cannot be one, or "". Reads the section headers only.
std::string side_module_problem(const std::string& file, uint64_t size) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return "cannot read " + file + ": " + std::strerror(errno);
  auto at = [&](uint64_t offset, unsigned char* buf, size_t n) -> size_t {
    ssize_t r = ::pread(fd, buf, n, static_cast<off_t>(offset));
    return r < 0 ? 0 : static_cast<size_t>(r);
  };
  std::string why;
  unsigned char head[8] = {};
  size_t got = at(0, head, sizeof head);
  auto starts = [&](std::string_view magic) {
    return got >= magic.size() && std::memcmp(head, magic.data(), magic.size()) == 0;
  };
  if (starts(std::string_view("\x7f"
                              "ELF",
                              4))) {
    why = "an ELF shared library (built for another platform), not a WebAssembly module";
  } else if (starts("\xfe\xed\xfa\xce") || starts("\xfe\xed\xfa\xcf") || starts("\xce\xfa\xed\xfe") ||
             starts("\xcf\xfa\xed\xfe")) {
    why = "a Mach-O library (built for macOS), not a WebAssembly module";
  } else if (!starts(std::string_view("\0asm", 4))) {
    why = "not a WebAssembly module (no wasm magic number)";
  } else if (got < 8 || !starts(std::string_view("\0asm\x01\0\0\0", 8))) {
    why = "a WebAssembly module of an unknown version";
  }
  for (uint64_t offset = 8; why.empty() && offset < size;) {
    unsigned char sec[6 + 9] = {};  // id, size (LEB128, at most 5 bytes), and a dylink name's length and text
    size_t n = at(offset, sec, sizeof sec);
    uint64_t length = 0;
    size_t i = 1;
    for (int shift = 0; i < n && i <= 5; shift += 7) {
      length |= uint64_t(sec[i] & 0x7f) << shift;
      if (!(sec[i++] & 0x80)) break;
    }
    if (n < 2 || i > n || (sec[i - 1] & 0x80)) {
      why = "a truncated WebAssembly module (it ends inside a section header at byte " + std::to_string(offset) + ")";
      break;
    }
    uint64_t end = offset + i + length;
    if (end > size) {
      why = "a truncated WebAssembly module (a section ends at byte " + std::to_string(end) + ", past its " +
            std::to_string(size) + " bytes)";
      break;
    }
    if (offset == 8) {
      bool dylink = sec[0] == 0 && i < n &&
                    ((sec[i] == 8 && n >= i + 9 && std::memcmp(sec + i + 1, "dylink.0", 8) == 0) ||
                     (sec[i] == 6 && n >= i + 7 && std::memcmp(sec + i + 1, "dylink", 6) == 0));
      if (!dylink) why = "a WebAssembly module but not a side module (its first section is not dylink.0)";
    }
    offset = end;
  }
  ::close(fd);
  return why;
}

// An extension module's name says which interpreter imports it ("_x.cpython-313-wasm32-emscripten.so";
// "_x.abi3.so" and "_x.so" any). Returns why Python `python` ("3.13.2") of Pyodide would not, or "".
std::string extension_tag_problem(const std::string& path, const std::string& python) {
  auto slash = path.rfind('/');
  std::string base = path.substr(slash == std::string::npos ? 0 : slash + 1);
  if (!base.ends_with(".so")) return "";
  base.resize(base.size() - 3);
  auto dot = base.rfind('.');
  if (dot == std::string::npos || base.compare(dot + 1, 8, "cpython-") != 0) return "";
  std::string tag = base.substr(dot + 1);
  auto dash = tag.find('-', 8);
  std::string version = tag.substr(8, dash == std::string::npos ? std::string::npos : dash - 8);
  std::string platform = dash == std::string::npos ? "" : tag.substr(dash + 1);
  auto first = python.find('.'), second = python.find('.', first + 1);
  std::string want =
      first == std::string::npos ? "" : python.substr(0, first) + python.substr(first + 1, second - first - 1);
  if (!platform.empty() && platform != "wasm32-emscripten")
    return "an extension module built for " + platform + " (its name's tag " + tag + "), not for Pyodide";
  if (!want.empty() && version != want)
    return "an extension module for CPython " +
           (version.size() > 1 ? version.substr(0, 1) + "." + version.substr(1) : version) + " (its name's tag " + tag +
           "), which Python " + python.substr(0, second) + " does not import";
  return "";
}

}  // namespace

WheelPlan scan_wheel(const Input& input, const Options& options, const std::string& python) {
  WheelPlan plan;
  plan.file = input.file;
  plan.wheel = input.filename.empty() ? input.file.filename().string() : input.filename;
  plan.name = input.name;
  plan.sha256 = input.sha256;
  auto fail = [&](const std::string& entry, const std::string& why) {
    plan.problems.push_back(plan.wheel + ": entry '" + shown_name(entry) + "': " + why);
  };
  auto fail_wheel = [&](const std::string& why) { plan.problems.push_back(plan.wheel + ": " + why); };
  auto fail_damaged = [&](const std::string& why) { plan.problems.push_back(damaged(plan, why)); };

  struct stat st {};
  if (::stat(input.file.c_str(), &st) != 0) {
    fail_wheel("cannot read " + input.file.string() + ": " + std::strerror(errno));
    return plan;
  }
  plan.archive_size = static_cast<uint64_t>(st.st_size);

  Reader reader;
  if (!reader.open(input.file)) {
    fail_damaged("not a readable zip archive: " + reader.error());
    return plan;
  }
  std::unordered_map<std::string, std::string> seen;         // name without '/' -> name
  std::unordered_map<std::string, std::string> seen_folded;  // case-folded -> name
  std::map<std::string, std::string> record_texts;           // candidate RECORD files
  uint64_t declared_total = 0;
  bool unsafe = false;

  archive_entry* e = nullptr;
  while (true) {
    int rc = archive_read_next_header(reader.get(), &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) {
      fail_damaged("corrupt zip archive: " + reader.error());
      return plan;
    }
    if (plan.entries.size() >= options.max_entries) {
      fail_wheel("holds more than " + std::to_string(options.max_entries) + " entries (the cap)");
      return plan;
    }
    WheelEntry entry;
    entry.name = entry_name(e);
    const auto& name = entry.name;
    auto type = archive_entry_filetype(e);
    entry.dir = type == AE_IFDIR;
    entry.declared = archive_entry_size_is_set(e) ? static_cast<uint64_t>(archive_entry_size(e)) : 0;

    bool bad = false;
    auto refuse = [&](const std::string& why) {
      fail(name, why);
      bad = true;
    };
    if (auto why = unsafe_name(name)) refuse(*why);
    if (archive_entry_hardlink(e)) refuse("hard link to '" + std::string(archive_entry_hardlink(e)) + "'");
    else if (type == AE_IFLNK || archive_entry_symlink(e)) refuse("symbolic link");
    else if (type == AE_IFCHR || type == AE_IFBLK) refuse("device file");
    else if (type == AE_IFIFO) refuse("named pipe");
    else if (type == AE_IFSOCK) refuse("socket");
    else if (type != AE_IFREG && type != AE_IFDIR) refuse("not a regular file or directory");
    if (archive_entry_is_encrypted(e)) refuse("encrypted entry");
    unsafe = unsafe || bad;

    std::string key = name;
    if (!key.empty() && key.back() == '/') key.pop_back();
    if (auto [it, fresh] = seen.emplace(key, name); !fresh) {
      fail(name, "duplicate entry");
    } else if (auto [ft, ffresh] = seen_folded.emplace(fold_case(key), name); !ffresh) {
      fail(name, "differs only by case from entry '" + ft->second + "'");
    }

    declared_total += entry.declared;
    if (auto why = over_caps(declared_total, plan.archive_size, options)) {
      fail_wheel(*why);
      return plan;
    }
    // The RECORD of a top-level *.dist-info, read now: it decides how every entry is checked.
    if (!bad && !entry.dir && ends_with(name, ".dist-info/RECORD") &&
        name.find('/') == name.size() - std::string_view("/RECORD").size()) {
      if (entry.declared > kMaxRecord) {
        fail(name, "RECORD larger than " + human_size(kMaxRecord));
        return plan;
      }
      std::string text;
      char buf[1 << 14];
      la_ssize_t n;
      while ((n = archive_read_data(reader.get(), buf, sizeof buf)) > 0) {
        text.append(buf, static_cast<size_t>(n));
        if (text.size() > entry.declared) break;
      }
      if (n < 0 || text.size() != entry.declared) {
        fail_damaged("entry '" + name + "': cannot read: " + (n < 0 ? reader.error() : "size differs from its header"));
        return plan;
      }
      record_texts[name] = std::move(text);
    }
    plan.entries.push_back(std::move(entry));
  }
  if (unsafe) return plan;  // names are not trustworthy enough to go on

  std::set<std::string> dist_infos;
  for (const auto& entry : plan.entries) {
    auto top = first_component(entry.name);
    if (top.size() < entry.name.size() && ends_with(top, ".dist-info")) dist_infos.insert(top);
  }
  if (dist_infos.size() != 1) {
    std::string list;
    for (const auto& d : dist_infos) list += (list.empty() ? "" : ", ") + d;
    fail_wheel(dist_infos.empty() ? "no .dist-info directory" : "several .dist-info directories: " + list);
    return plan;
  }
  const std::string dist_info = *dist_infos.begin();
  const std::string record_name = dist_info + "/RECORD";
  const std::string data_dir = dist_info.substr(0, dist_info.size() - 10) + ".data";
  auto rt = record_texts.find(record_name);
  if (rt == record_texts.end()) {
    fail_wheel("no " + record_name);
    return plan;
  }
  std::unordered_map<std::string, wheel::RecordEntry> record;
  try {
    for (auto& row : wheel::parse_record(rt->second)) {
      auto path = row.path;
      if (auto [it, fresh] = record.emplace(path, std::move(row)); !fresh)
        fail(record_name, "lists '" + path + "' twice");
    }
  } catch (const Error& err) {
    fail(record_name, err.what());
    return plan;
  }

  // Where each file goes, and its RECORD row.
  std::unordered_set<std::string> files;
  for (auto& entry : plan.entries) {
    if (entry.dir) continue;
    files.insert(entry.name);
    const auto& name = entry.name;
    if (name == record_name) {
      entry.dest = name;
      continue;
    }
    if (name == record_name + ".jws" || name == record_name + ".p7s") {
      entry.dropped = "signature";
      continue;
    }
    auto row = record.find(name);
    if (row == record.end()) {
      fail(name, "not listed in RECORD");
      continue;
    }
    const auto& r = row->second;
    if (r.hash_algorithm.empty() || r.hash_value.empty()) {
      fail(name, "RECORD gives no hash");
    } else if (r.hash_algorithm == "md5" || r.hash_algorithm == "sha1") {
      fail(name, "RECORD hash uses " + r.hash_algorithm + ", which is too weak");
    } else if (!Hash::supports(r.hash_algorithm)) {
      fail(name, "RECORD hash uses unsupported algorithm '" + r.hash_algorithm + "'");
    } else {
      entry.algorithm = r.hash_algorithm;
      entry.expected = strip_padding(r.hash_value);
    }
    entry.record_size = r.size;
    if (r.size && *r.size != entry.declared)
      fail(name, "size " + std::to_string(entry.declared) + " differs from RECORD's " + std::to_string(*r.size));

    if (name.compare(0, data_dir.size() + 1, data_dir + "/") == 0) {
      auto rest = name.substr(data_dir.size() + 1);
      auto slash = rest.find('/');
      auto scheme = rest.substr(0, slash);
      if (scheme == "purelib" || scheme == "platlib") {
        if (slash != std::string::npos) entry.dest = rest.substr(slash + 1);
      } else if (scheme == "scripts" || scheme == "headers" || scheme == "data") {
        entry.dropped = scheme;
      } else {
        fail(name, "unknown .data scheme '" + scheme + "'");
      }
    } else {
      entry.dest = name;
    }
  }
  for (const auto& [path, row] : record)
    if (path != record_name && !files.count(path)) fail(path, "listed in RECORD but missing from the wheel");

  // Trimming, once every destination is known (a .pyc is dead weight next to its .py).
  std::unordered_set<std::string> dests;
  for (const auto& entry : plan.entries)
    if (!entry.dest.empty()) dests.insert(entry.dest);
  for (auto& entry : plan.entries) {
    if (entry.dest.empty()) continue;
    const std::string bundle_path = "python_modules/" + entry.dest;
    std::string reason;
    if (options.trim) {
      bool has_source = false;
      if (ends_with(entry.dest, ".pyc")) has_source = dests.count(entry.dest.substr(0, entry.dest.size() - 1)) > 0;
      reason = trim_reason(entry.dest, has_source);
    }
    if (reason.empty() && any_glob_hits(options.exclude, bundle_path)) reason = "exclude";
    if (!reason.empty() && any_glob_hits(options.keep, bundle_path)) reason.clear();
    if (!reason.empty()) {
      entry.dropped = reason;
      entry.dest.clear();
    }
  }
  // Else the import fails inside Pyodide as a missing module or a circular import.
  if (wasm_wheel(plan.wheel) && !python.empty())
    for (const auto& entry : plan.entries)
      if (!entry.dest.empty())
        if (auto why = extension_tag_problem(entry.dest, python); !why.empty())
          fail(entry.name, why + ": use the wheel built for this target");
  return plan;
}

void extract_wheel(const WheelPlan& plan, const std::filesystem::path& python_modules, const Options& options,
                   std::vector<std::string>& problems) {
  auto fail = [&](const std::string& entry, const std::string& why) {
    problems.push_back(plan.wheel + ": entry '" + shown_name(entry) + "': " + why);
  };
  auto fail_wheel = [&](const std::string& why) { problems.push_back(plan.wheel + ": " + why); };
  auto fail_damaged = [&](const std::string& entry, const std::string& why) {
    problems.push_back(damaged(plan, entry.empty() ? why : "entry '" + shown_name(entry) + "': " + why));
  };

  Reader reader;
  if (!reader.open(plan.file)) return fail_damaged("", "not a readable zip archive: " + reader.error());
  DirMaker dirs(python_modules);
  const bool wasm = wasm_wheel(plan.wheel);
  uint64_t total = 0;
  size_t index = 0;
  archive_entry* e = nullptr;
  while (true) {
    interrupt::throw_if_interrupted();
    int rc = archive_read_next_header(reader.get(), &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) return fail_damaged("", "corrupt zip archive: " + reader.error());
    if (index >= plan.entries.size() || entry_name(e) != plan.entries[index].name)
      return fail_wheel("the archive changed while it was being read");
    const auto& entry = plan.entries[index++];
    if (entry.dir) continue;

    int fd = -1;
    std::string out_path;
    if (!entry.dest.empty()) {
      if (auto err = dirs.parents_of(entry.dest); !err.empty()) return fail(entry.name, err);
      out_path = (python_modules / entry.dest).string();
      fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
      if (fd < 0) return fail(entry.name, "cannot create " + out_path + ": " + std::strerror(errno));
    }
    std::optional<Hash> digest;
    if (!entry.algorithm.empty()) digest.emplace(entry.algorithm);

    uint64_t got = 0;
    std::string error, damage;  // damage: the archive's bytes are wrong (see damaged())
    while (true) {
      const void* block = nullptr;
      size_t size = 0;
      la_int64_t offset = 0;
      int r = archive_read_data_block(reader.get(), &block, &size, &offset);
      if (r == ARCHIVE_EOF) break;
      if (r < ARCHIVE_OK) {  // a warning here is a bad CRC or size at the entry's end
        damage = "corrupt data: " + reader.error();
        break;
      }
      if (static_cast<uint64_t>(offset) != got) {
        damage = "sparse data";
        break;
      }
      got += size;
      total += size;
      if (got > entry.declared) {
        damage = "holds more data than its header declares";
        break;
      }
      if (auto why = over_caps(total, plan.archive_size, options)) {
        if (fd >= 0) ::close(fd);
        return fail_wheel(*why);
      }
      if (digest) digest->update(block, size);
      if (fd >= 0 && !fs::write_all(fd, static_cast<const char*>(block), size)) {
        error = "cannot write " + out_path + ": " + std::strerror(errno);
        break;
      }
    }
    if (fd >= 0 && ::close(fd) != 0 && error.empty()) error = "cannot write " + out_path + ": " + std::strerror(errno);
    if (!damage.empty()) return fail_damaged(entry.name, damage);
    if (!error.empty()) return fail(entry.name, error);
    if (got != entry.declared) return fail_damaged(entry.name, "size differs from its header");
    if (digest && digest->base64url() != entry.expected) fail(entry.name, entry.algorithm + " does not match RECORD");
    // Else the build would stop at the import, inside Pyodide, with its loader's words.
    if (fd >= 0 && wasm && shared_library(entry.dest)) {
      if (auto why = side_module_problem(out_path, got); !why.empty())
        fail(entry.name, why + "; Pyodide would not load it: rebuild the wheel with `pyodide build`");
    }
  }
  if (index != plan.entries.size()) fail_wheel("the archive changed while it was being read");
}

}  // namespace pb::vendor
