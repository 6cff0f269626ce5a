#include "bundle/manifest.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <unordered_map>

#include "util/fs.hpp"
#include "util/json.hpp"
#include "util/sha256.hpp"

namespace pb::bundle {

namespace stdfs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

namespace {

// ---- writing ----

template <class T>
void put(ordered_json& o, const char* key, const std::optional<T>& v) {
  if (v) o[key] = *v;
}

}  // namespace

ordered_json Snapshot::json() const {
  const Snapshot& s = *this;
  ordered_json o = ordered_json::object();
  put(o, "build_id", s.build_id);
  put(o, "entropy_warnings", s.entropy_warnings);
  put(o, "file", s.file);
  put(o, "hash_seed", s.hash_seed);
  put(o, "heap_size", s.heap_size);
  put(o, "libraries", s.libraries);
  put(o, "modules", s.modules);
  put(o, "pyodide", s.pyodide);
  put(o, "raw_size", s.raw_size);
  if (s.recipe) {
    ordered_json r = ordered_json::object();
    put(r, "entry", s.recipe->entry);
    put(r, "hash_seed", s.recipe->hash_seed);
    put(r, "preimport", s.recipe->preimport);
    put(r, "target", s.recipe->target);
    o["recipe"] = std::move(r);
  }
  put(o, "sha256", s.sha256);
  put(o, "size", s.size);
  return o;
}

namespace {

void set_mode_and_time(const stdfs::path& path, mode_t mode, int64_t mtime) {
  struct timespec times[2];
  times[0].tv_sec = times[1].tv_sec = static_cast<time_t>(mtime);
  times[0].tv_nsec = times[1].tv_nsec = 0;
  if (::chmod(path.c_str(), mode) != 0 || ::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
    throw Error("cannot set the mode and time of " + path.string() + ": " + std::strerror(errno), Exit::io);
}

Stamp stamp_of(const struct stat& st) {
  return {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size),
          static_cast<int64_t>(st.st_ctim.tv_sec), static_cast<int64_t>(st.st_ctim.tv_nsec)};
}

// Hashes a bundle file and gives it mode 0644 and the fixed time, through one descriptor.
File hash_and_fix(const stdfs::path& path, const std::string& rel, int64_t mtime) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st {};
  auto fail = [&](const char* what) {
    auto err = Error(what + path.string() + ": " + std::strerror(errno), Exit::io);
    if (fd >= 0) ::close(fd);
    return err;
  };
  if (fd < 0 || ::fstat(fd, &st) != 0) throw fail("cannot read ");
  Hash hash;
  static thread_local std::vector<char> buf(1 << 17);
  File file{rel, "", 0, std::nullopt};
  while (true) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw fail("cannot read ");
    if (n == 0) break;
    hash.update(buf.data(), static_cast<size_t>(n));
    file.size += static_cast<uint64_t>(n);
  }
  struct timespec times[2];
  times[0].tv_sec = times[1].tv_sec = static_cast<time_t>(mtime);
  times[0].tv_nsec = times[1].tv_nsec = 0;
  bool ok = ((st.st_mode & 07777) == 0644 || ::fchmod(fd, 0644) == 0) &&
            ((st.st_mtim.tv_sec == mtime && st.st_mtim.tv_nsec == 0) || ::futimens(fd, times) == 0);
  if (!ok) throw fail("cannot set the mode and time of ");
  if (::fstat(fd, &st) != 0) throw fail("cannot read ");  // the change time after our own changes
  ::close(fd);
  file.sha256 = hash.hex();
  file.stamp = stamp_of(st);
  return file;
}

// ---- reading ----

std::string type_of(const json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "a list";
  return "an object";
}

[[noreturn]] void wrong(const std::string& field, const json& v, const char* want) {
  throw Invalid("\"" + field + "\" is " + type_of(v) + ", not " + want);
}

// Member `key` of object `o` as T; nullopt when absent; Invalid naming `field` when of another type.
std::optional<std::string> opt_string(const json& o, const char* key, const std::string& field) {
  auto it = o.find(key);
  if (it == o.end()) return std::nullopt;
  if (!it->is_string()) wrong(field, *it, "a string");
  return it->get<std::string>();
}

std::optional<uint64_t> opt_size(const json& o, const char* key, const std::string& field) {
  auto it = o.find(key);
  if (it == o.end()) return std::nullopt;
  if (!it->is_number_unsigned()) wrong(field, *it, "a whole number of 0 or more");
  return it->get<uint64_t>();
}

std::optional<uint32_t> opt_seed(const json& o, const char* key, const std::string& field) {
  auto n = opt_size(o, key, field);
  if (n && *n > UINT32_MAX) throw Invalid("\"" + field + "\" is over 4294967295");
  return n ? std::optional<uint32_t>(static_cast<uint32_t>(*n)) : std::nullopt;
}

// A string or null.
std::optional<std::string> nullable_string(const json& o, const char* key, const std::string& field) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) wrong(field, *it, "a string or null");
  return it->get<std::string>();
}

Snapshot snapshot_of(const json& o) {
  Snapshot s;
  s.build_id = opt_string(o, "build_id", "snapshot.build_id");
  s.entropy_warnings = opt_size(o, "entropy_warnings", "snapshot.entropy_warnings");
  s.file = opt_string(o, "file", "snapshot.file");
  if (s.file && (s.file->empty() || s.file->find('/') != std::string::npos || s.file->starts_with(".")))
    throw Invalid("\"snapshot.file\" '" + *s.file + "' is not a file name");
  s.hash_seed = opt_seed(o, "hash_seed", "snapshot.hash_seed");
  s.heap_size = opt_size(o, "heap_size", "snapshot.heap_size");
  s.libraries = opt_size(o, "libraries", "snapshot.libraries");
  s.modules = opt_size(o, "modules", "snapshot.modules");
  s.pyodide = opt_string(o, "pyodide", "snapshot.pyodide");
  s.raw_size = opt_size(o, "raw_size", "snapshot.raw_size");
  if (auto it = o.find("recipe"); it != o.end()) {
    if (!it->is_object()) wrong("snapshot.recipe", *it, "an object");
    Recipe r;
    r.entry = opt_string(*it, "entry", "snapshot.recipe.entry");
    r.hash_seed = opt_seed(*it, "hash_seed", "snapshot.recipe.hash_seed");
    if (auto p = it->find("preimport"); p != it->end()) {
      if (!p->is_array()) wrong("snapshot.recipe.preimport", *p, "a list");
      r.preimport.emplace();
      for (const auto& m : *p) {
        if (!m.is_string()) wrong("snapshot.recipe.preimport[]", m, "a string");
        r.preimport->push_back(m.get<std::string>());
      }
    }
    r.target = opt_string(*it, "target", "snapshot.recipe.target");
    s.recipe = std::move(r);
  }
  s.sha256 = opt_string(o, "sha256", "snapshot.sha256");
  s.size = opt_size(o, "size", "snapshot.size");
  return s;
}

Manifest manifest_of(const json& m) {
  if (!m.is_object()) throw Invalid("not a JSON object");
  auto schema = m.find("schema");
  if (schema == m.end() || !schema->is_number_integer()) throw Invalid("no \"schema\" number");
  if (*schema != 1) throw Invalid("schema " + schema->dump() + " is not one this pybundle reads (1)");
  Manifest out;
  auto missing = [&](const char* key) { out.missing.push_back(key); };
  out.tool = opt_string(m, "tool", "tool").value_or("");

  if (auto t = m.find("target"); t == m.end()) {
    missing("target");
  } else {
    if (!t->is_object()) wrong("target", *t, "an object");
    out.target.abi = opt_string(*t, "abi", "target.abi").value_or("");
    out.target.platform = opt_string(*t, "platform", "target.platform").value_or("");
    auto pyodide = opt_string(*t, "pyodide", "target.pyodide");
    if (!pyodide) missing("target.pyodide");
    out.target.pyodide = pyodide.value_or("");
    out.target.python = opt_string(*t, "python", "target.python").value_or("");
  }

  if (auto e = m.find("entry"); e == m.end()) {
    missing("entry");
  } else if (!e->is_null()) {
    if (!e->is_object()) wrong("entry", *e, "an object or null");
    Entry entry;
    auto path = opt_string(*e, "path", "entry.path"), module = opt_string(*e, "module", "entry.module");
    if (!path) missing("entry.path");
    if (!module) missing("entry.module");
    entry.path = path.value_or("");
    entry.module = module.value_or("");
    entry.source = opt_string(*e, "source", "entry.source").value_or("");
    out.entry = std::move(entry);
  }

  if (auto p = m.find("packages"); p == m.end()) {
    missing("packages");
  } else {
    if (!p->is_array()) wrong("packages", *p, "a list");
    for (size_t i = 0; i < p->size(); ++i) {
      const auto& v = (*p)[i];
      auto field = "packages[" + std::to_string(i) + "]";
      if (!v.is_object()) wrong(field, v, "an object");
      out.packages.push_back({opt_string(v, "name", field + ".name").value_or(""),
                              opt_string(v, "version", field + ".version").value_or(""),
                              opt_string(v, "origin", field + ".origin").value_or(""),
                              nullable_string(v, "wheel", field + ".wheel"),
                              nullable_string(v, "sha256", field + ".sha256")});
    }
  }

  if (auto f = m.find("files"); f == m.end()) {
    missing("files");
  } else {
    if (!f->is_array()) wrong("files", *f, "a list");
    for (size_t i = 0; i < f->size(); ++i) {
      const auto& v = (*f)[i];
      auto field = "files[" + std::to_string(i) + "]";
      if (!v.is_object() || !v.contains("path") || !v["path"].is_string() || !v.contains("sha256") ||
          !v["sha256"].is_string() || !v.contains("size") || !v["size"].is_number_unsigned())
        throw Invalid("\"" + field + "\" is not {\"path\", \"sha256\", \"size\"}");
      auto path = v["path"].get<std::string>();
      if (!listable(path))
        throw Invalid("\"" + field + "\": '" + path + "' is not a path under python_modules/ or app/");
      out.files.push_back({path, v["sha256"].get<std::string>(), v["size"].get<uint64_t>(), std::nullopt});
    }
  }

  auto digest = opt_string(m, "digest", "digest");
  if (!digest) missing("digest");
  out.digest = digest.value_or("");

  if (auto s = m.find("snapshot"); s == m.end()) {
    missing("snapshot");
  } else if (!s->is_null()) {
    if (!s->is_object()) wrong("snapshot", *s, "an object or null");
    out.snapshot = snapshot_of(*s);
  }

  out.name = opt_string(m, "name", "name").value_or("");
  if (auto v = m.find("vars"); v != m.end()) {
    if (!v->is_object()) wrong("vars", *v, "an object");
    for (const auto& [k, value] : v->items()) {
      if (!value.is_string()) wrong("vars." + k, value, "a string");
      out.vars[k] = value.get<std::string>();
    }
  }
  return out;
}

}  // namespace

bool listable(std::string_view p) {
  if (p.empty() || p.front() == '/' || p.find('\\') != std::string_view::npos || p.find('\0') != std::string_view::npos)
    return false;
  if (!(p.starts_with("python_modules/") || p.starts_with("app/"))) return false;
  size_t start = 0;
  while (start <= p.size()) {
    auto end = p.find('/', start);
    if (end == std::string_view::npos) end = p.size();
    auto part = p.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

std::string digest(const std::vector<File>& files) {
  Hash hash;
  for (const auto& f : files) {
    hash.update(f.path);
    hash.update("\t");
    hash.update(f.sha256);
    hash.update("\n");
  }
  return hash.hex();
}

std::string Manifest::text() const {
  ordered_json m;
  m["schema"] = schema;
  if (!tool.empty()) m["tool"] = tool;
  ordered_json t = ordered_json::object();
  for (auto [key, value] : {std::pair{"abi", &target.abi},
                            {"platform", &target.platform},
                            {"pyodide", &target.pyodide},
                            {"python", &target.python}})
    if (!value->empty()) t[key] = *value;
  m["target"] = std::move(t);
  if (entry) {
    m["entry"] = {{"path", entry->path}, {"module", entry->module}};
    if (!entry->source.empty()) m["entry"]["source"] = entry->source;
  } else {
    m["entry"] = nullptr;
  }
  ordered_json list = ordered_json::array();
  for (const auto& p : packages) {
    ordered_json o;
    o["name"] = p.name;
    o["version"] = p.version;
    o["origin"] = p.origin;
    o["wheel"] = p.wheel ? ordered_json(*p.wheel) : ordered_json();
    o["sha256"] = p.sha256 ? ordered_json(*p.sha256) : ordered_json();
    list.push_back(std::move(o));
  }
  m["packages"] = std::move(list);
  list = ordered_json::array();
  for (const auto& f : files) list.push_back({{"path", f.path}, {"sha256", f.sha256}, {"size", f.size}});
  m["files"] = std::move(list);
  m["digest"] = digest;
  m["snapshot"] = snapshot ? snapshot->json() : ordered_json();
  if (!name.empty()) m["name"] = name;
  if (!vars.empty()) m["vars"] = vars;
  return m.dump(2) + "\n";
}

Manifest parse(std::string_view text) {
  if (json_too_deep(text)) throw Invalid(kTooDeep);
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    throw Invalid(std::string("not valid JSON: ") + e.what());
  }
  return manifest_of(doc);
}

Manifest read(const stdfs::path& dir) {
  auto file = dir / kFile;
  std::error_code ec;
  if (!stdfs::exists(file, ec))
    throw Error(dir.string() + ": no bundle.json here; build a bundle with `pybundle build`", Exit::usage);
  auto text = fs::read_file(file);
  try {
    return parse(text);
  } catch (const Invalid& e) {
    throw Error(file.string() + ": " + e.what(), Exit::usage);
  }
}

std::vector<File> scan(const stdfs::path& dir, int64_t mtime, const std::vector<File>& known,
                       Manifest::ScanStats* stats) {
  std::unordered_map<std::string_view, const File*> before;
  for (const auto& f : known)
    if (f.stamp) before.emplace(f.path, &f);
  std::vector<File> files;
  std::error_code ec;
  for (stdfs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    auto rel = it->path().lexically_relative(dir).generic_string();
    auto type = it->symlink_status(ec).type();
    if (ec) break;
    if (type == stdfs::file_type::directory) continue;
    if (type != stdfs::file_type::regular)
      throw Error("bundle " + dir.string() + ": '" + rel + "' is not a regular file or directory", Exit::internal);
    if (!rel.starts_with("python_modules/") && !rel.starts_with("app/")) {
      if (rel != kFile) set_mode_and_time(it->path(), 0644, mtime);
      continue;
    }
    struct stat st {};
    if (auto b = before.find(rel);
        b != before.end() && ::lstat(it->path().c_str(), &st) == 0 && stamp_of(st) == *b->second->stamp) {
      files.push_back(*b->second);
      if (stats) stats->reused += 1;
    } else {
      files.push_back(hash_and_fix(it->path(), rel, mtime));
      if (stats) stats->hashed += 1;
    }
    if (stats) stats->bytes += files.back().size;
  }
  if (ec) throw Error("cannot list " + dir.string() + ": " + ec.message(), Exit::io);
  std::sort(files.begin(), files.end(), [](const File& a, const File& b) { return a.path < b.path; });
  return files;
}

Manifest::ScanStats Manifest::rescan(const stdfs::path& dir, int64_t mtime) {
  ScanStats stats;
  files = scan(dir, mtime, files, &stats);
  digest = bundle::digest(files);
  return stats;
}

void Manifest::write(const stdfs::path& dir, std::optional<int64_t> mtime) const {
  fs::write_file_atomic(dir / kFile, text());
  if (!mtime) return;
  set_mode_and_time(dir / kFile, 0644, *mtime);
  std::vector<stdfs::path> dirs;
  std::error_code ec;
  for (stdfs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->symlink_status(ec).type() == stdfs::file_type::directory) dirs.push_back(it->path());
  if (ec) throw Error("cannot list " + dir.string() + ": " + ec.message(), Exit::io);
  // Deepest first: setting a directory's time must come after every change inside it.
  std::sort(dirs.begin(), dirs.end(), [](const stdfs::path& a, const stdfs::path& b) { return a > b; });
  for (const auto& d : dirs) set_mode_and_time(d, 0755, *mtime);
  set_mode_and_time(dir, 0755, *mtime);
}

namespace {

std::string type_name(stdfs::file_type t) {
  switch (t) {
    case stdfs::file_type::symlink: return "a symbolic link";
    case stdfs::file_type::directory: return "a directory";
    case stdfs::file_type::fifo: return "a FIFO";
    case stdfs::file_type::socket: return "a socket";
    case stdfs::file_type::block:
    case stdfs::file_type::character: return "a device";
    default: return "not a regular file";
  }
}

}  // namespace

Verified verify(const stdfs::path& dir, const Manifest& manifest) {
  Verified v;
  v.digest_ok = digest(manifest.files) == manifest.digest;
  using Kind = Problem::Kind;
  std::set<std::string> top_allowed = {kFile, "python_modules", "app"};
  if (manifest.snapshot) top_allowed.insert({manifest.snapshot->file_name(), kImportTimes});
  std::map<std::string, uint64_t> found;  // regular files under python_modules/ and app/
  std::error_code ec;
  for (stdfs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    auto rel = it->path().lexically_relative(dir).generic_string();
    auto type = it->symlink_status(ec).type();
    if (ec) break;
    const bool is_dir = type == stdfs::file_type::directory;
    if (rel.find('/') == std::string::npos) {
      if (!top_allowed.count(rel)) {
        v.problems.push_back({Kind::not_bundle, rel, "", is_dir});
        if (is_dir) it.disable_recursion_pending();
        continue;
      }
      const bool want_dir = rel == "python_modules" || rel == "app";
      if (want_dir != is_dir || (!want_dir && type != stdfs::file_type::regular)) {
        v.problems.push_back({Kind::not_regular, rel,
                              (type == stdfs::file_type::regular ? std::string("a file") : type_name(type)) +
                                  (want_dir ? ", not a directory" : ", not a file"),
                              is_dir});
        if (is_dir) it.disable_recursion_pending();
      }
      continue;
    }
    if (is_dir) continue;
    if (type != stdfs::file_type::regular) {
      v.problems.push_back({Kind::not_regular, rel, type_name(type) + "; a bundle holds only regular files"});
      continue;
    }
    found[rel] = it->file_size(ec);
    if (ec) break;
  }
  if (ec) {
    v.list_error = "cannot list " + dir.string() + ": " + ec.message();
    return v;
  }
  std::map<std::string, const File*> listed;
  for (const auto& f : manifest.files) listed[f.path] = &f;
  for (const auto& [rel, file] : listed) {
    auto it = found.find(rel);
    if (it == found.end()) {
      v.problems.push_back({Kind::missing, rel, ""});
      continue;
    }
    v.bytes += it->second;
    if (it->second != file->size) {
      v.problems.push_back(
          {Kind::changed, rel,
           "size " + std::to_string(it->second) + " bytes, bundle.json says " + std::to_string(file->size)});
      continue;
    }
    try {
      if (auto sha = sha256_file(dir / rel); sha != file->sha256)
        v.problems.push_back({Kind::changed, rel, "sha256 " + sha + ", bundle.json says " + file->sha256});
    } catch (const Error& e) {
      v.problems.push_back({Kind::unreadable, rel, e.what(), false, e.code()});
    }
  }
  for (const auto& [rel, size] : found)
    if (!listed.count(rel)) v.problems.push_back({Kind::unlisted, rel, ""});
  return v;
}

}  // namespace pb::bundle
