// pybundle export: a built bundle as the project wrangler deploys. Wrangler uploads main, the
// modules beside it under src/ (**/*.py) and every file of python_modules/ except **/*.pyc (its
// python_modules.exclude default). What it uploads is what we measure.
#include "vendor/wrangler.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>

#include "bundle/manifest.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

namespace pb::vendor {

namespace stdfs = std::filesystem;

namespace {

constexpr std::string_view kMarker = "# Written by `pybundle export`";

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// A TOML basic string (JSON's escapes are valid TOML).
std::string toml_string(const std::string& s) {
  return nlohmann::json(s).dump();
}

// The export's second line: what it wrote, so a later export replaces only an untouched one.
constexpr std::string_view kDigests = "# pybundle export digests: ";

// sha256 over "path\tsha256\n" of each file written under src/ and python_modules/, sorted.
std::string files_digest(std::vector<std::string> lines) {
  std::sort(lines.begin(), lines.end());
  Hash h;
  for (const auto& l : lines) h.update(l);
  return h.hex();
}

std::string digests_line(const std::string& files, std::string_view toml_body) {
  return std::string(kDigests) + "files " + files + ", wrangler.toml " + sha256_hex(toml_body) + "\n";
}

// An existing `out` may be replaced only when it is empty or an earlier export exactly as export
// wrote it: nothing beside wrangler.toml, src/ and python_modules/ (a .dev.vars, wrangler's own
// .wrangler/ state), an unedited wrangler.toml (bindings added there) and the same files.
void check_replaceable(const stdfs::path& out) {
  std::error_code ec;
  if (!stdfs::exists(out, ec)) return;
  if (!stdfs::is_directory(out, ec))
    throw Error(out.string() + ": exists and is not a directory; choose another --out", Exit::usage);
  if (stdfs::is_empty(out, ec)) return;
  const std::string keep = "; choose another --out, or move what you need out of it and remove it";
  auto toml = out / "wrangler.toml";
  std::string text;
  if (stdfs::is_regular_file(toml, ec)) text = fs::read_file(toml);
  if (!text.starts_with(kMarker))
    throw Error(out.string() + ": exists and was not written by `pybundle export`" + keep, Exit::usage);
  for (const auto& e : stdfs::directory_iterator(out)) {
    auto name = e.path().filename().string();
    if (name != "wrangler.toml" && name != "src" && name != "python_modules")
      throw Error(out.string() + ": holds " + name + ", which `pybundle export` did not write" + keep, Exit::usage);
  }
  auto line1 = text.find('\n');
  auto line2 = line1 == std::string::npos ? line1 : text.find('\n', line1 + 1);
  auto recorded = line2 == std::string::npos ? std::string() : text.substr(line1 + 1, line2 - line1);
  if (!recorded.starts_with(kDigests))
    throw Error(toml.string() + ": records no digests (written by an older pybundle, or edited)" + keep, Exit::usage);
  std::vector<std::string> lines;
  for (const char* top : {"src", "python_modules"}) {
    if (!stdfs::exists(out / top, ec)) continue;
    for (auto it = stdfs::recursive_directory_iterator(out / top); it != stdfs::recursive_directory_iterator(); ++it) {
      if (it->is_directory(ec) && !it->is_symlink(ec)) continue;
      auto rel = it->path().lexically_relative(out).generic_string();
      if (!it->is_regular_file(ec) || it->is_symlink(ec))
        throw Error((out / rel).string() + ": not a regular file, so not written by `pybundle export`" + keep,
                    Exit::usage);
      lines.push_back(rel + "\t" + sha256_file(it->path()) + "\n");
    }
  }
  auto now = digests_line(files_digest(std::move(lines)), std::string_view(text).substr(line2 + 1));
  auto files_part = [](const std::string& l) { return l.substr(0, l.find(',')); };
  if (files_part(now) != files_part(recorded))
    throw Error(out.string() + ": a file under src/ or python_modules/ was added, changed or removed since " +
                    "`pybundle export` wrote it" + keep,
                Exit::usage);
  if (now != recorded)
    throw Error(toml.string() + ": edited since `pybundle export` wrote it (an export would lose the edits)" + keep,
                Exit::usage);
}

void copy_checked(const stdfs::path& from, const stdfs::path& to, const std::string& sha256, const stdfs::path& bundle,
                  const std::string& rel) {
  std::error_code ec;
  auto st = stdfs::symlink_status(from, ec);
  if (st.type() == stdfs::file_type::symlink)  // as check --bundle: a bundle holds only regular files
    throw Error((bundle / rel).string() + ": a symbolic link; a bundle holds only regular files", Exit::problems);
  if (!stdfs::is_regular_file(st))
    throw Error((bundle / rel).string() + ": listed in bundle.json but missing; rebuild the bundle", Exit::problems);
  if (sha256_file(from) != sha256)
    throw Error((bundle / rel).string() +
                    ": does not match bundle.json; rebuild the bundle (`pybundle check --bundle " + bundle.string() +
                    "` lists every changed file)",
                Exit::problems);
  stdfs::create_directories(to.parent_path(), ec);
  if (!ec) stdfs::copy_file(from, to, stdfs::copy_options::overwrite_existing, ec);
  if (ec) throw Error("cannot write " + to.string() + ": " + ec.message(), Exit::io);
}

}  // namespace

bool is_export(const stdfs::path& dir) {
  std::error_code ec;
  auto toml = dir / "wrangler.toml";
  if (!stdfs::is_regular_file(toml, ec) || stdfs::file_size(toml, ec) > (1u << 20)) return false;
  return fs::read_file(toml).starts_with(kMarker);
}

std::vector<std::string> python_worker_flags(const std::string& python, bool class_style, std::string_view date) {
  // Cloudflare's Python runtimes: 3.12 (Pyodide 0.26) by `python_workers` alone, 3.13 (Pyodide
  // 0.28) implied by it from 2025-09-29 (before, by python_workers_20250116), 3.14 (Pyodide 314)
  // by its own flag. Each flag only where the date does not already say it (the platform refuses
  // an enable flag that "became the default").
  bool py313_default = date >= std::string_view("2025-09-29");
  std::vector<std::string> flags{"python_workers"};
  if (python.starts_with("3.12.")) {
    if (py313_default) flags.push_back("no_python_workers_20250116");
  } else if (python.starts_with("3.13.")) {
    if (!py313_default) flags.push_back("python_workers_20250116");
  } else if (python.starts_with("3.14.")) {
    flags.push_back("python_workers_20260610");
  } else {
    throw Error("no Cloudflare Python Workers runtime runs Python " + python +
                    "; build for a target with Python 3.12, 3.13 or 3.14 (e.g. --target pyodide@0.29.3)",
                Exit::usage);
  }
  if (!class_style) flags.push_back("disable_python_no_global_handlers");
  return flags;
}

namespace {

// The source with comments and string literals (any quotes, prefixes, triple-quoted) blanked.
std::string code_only(std::string_view src) {
  std::string out;
  out.reserve(src.size());
  for (size_t i = 0; i < src.size();) {
    char c = src[i];
    if (c == '#') {
      while (i < src.size() && src[i] != '\n') ++i;
      continue;
    }
    if (c != '"' && c != '\'') {
      out += c;
      ++i;
      continue;
    }
    bool triple = src.substr(i, 3) == std::string(3, c);
    size_t quote_len = triple ? 3 : 1;
    i += quote_len;
    while (i < src.size()) {
      if (src[i] == '\\') {
        i += 2;
        continue;
      }
      if (!triple && src[i] == '\n') break;  // an unterminated string ends with its line
      if (src.substr(i, quote_len) == std::string(quote_len, c)) {
        i += quote_len;
        break;
      }
      ++i;
    }
    out += ' ';
  }
  return out;
}

// YYYY-MM-DD, as wrangler takes a compatibility date.
bool is_date(const std::string& s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9})
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  namespace c = std::chrono;
  c::year_month_day date{c::year(std::stoi(s.substr(0, 4))), c::month(static_cast<unsigned>(std::stoi(s.substr(5, 2)))),
                         c::day(static_cast<unsigned>(std::stoi(s.substr(8, 2))))};
  return date.ok();  // a day of the calendar: no 2025-02-30
}

// wrangler keeps vars in a plain JavaScript object: a name an object already has (constructor,
// toString, __proto__, ...) crashes its build.
bool object_property(std::string_view name) {
  for (std::string_view p :
       {"constructor", "__proto__", "toString", "toLocaleString", "valueOf", "hasOwnProperty", "isPrototypeOf",
        "propertyIsEnumerable", "__defineGetter__", "__defineSetter__", "__lookupGetter__", "__lookupSetter__"})
    if (name == p) return true;
  return false;
}

bool has_word(const std::string& code, std::string_view word) {
  auto ident = [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_'; };
  for (size_t pos = code.find(word); pos != std::string::npos; pos = code.find(word, pos + 1)) {
    bool starts = pos == 0 || !ident(code[pos - 1]);
    bool ends = pos + word.size() >= code.size() || !ident(code[pos + word.size()]);
    if (starts && ends) return true;
  }
  return false;
}

}  // namespace

bool is_class_style(std::string_view source) {
  // As the host picks: a Default (a WorkerEntrypoint) when there is one, else on_fetch. A Default
  // imported from another module counts; a Default beside on_fetch only with WorkerEntrypoint in sight.
  auto code = code_only(source);
  return has_word(code, "Default") && (has_word(code, "WorkerEntrypoint") || !has_word(code, "on_fetch"));
}

std::string worker_name(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c)))
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    else if (!out.empty() && out.back() != '-') out += '-';
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  if (out.size() > 63) out.resize(63);
  return out.empty() ? "worker" : out;
}

uint64_t gzip_concat_size(const std::vector<stdfs::path>& files) {
  uint64_t total = 0;
  for (const auto& f : files) total += stdfs::file_size(f);
  struct Sink {
    uint64_t bytes = 0;
  } sink;
  auto count = [](struct archive*, void* data, const void*, size_t n) -> la_ssize_t {
    static_cast<Sink*>(data)->bytes += n;
    return static_cast<la_ssize_t>(n);
  };
  std::unique_ptr<struct archive, decltype(&archive_write_free)> a(archive_write_new(), &archive_write_free);
  auto ok = [&](int rc) {
    if (rc < ARCHIVE_WARN) throw Error(std::string("libarchive: ") + archive_error_string(a.get()), Exit::internal);
  };
  // The raw format writes one entry's data and nothing else: the gzip stream of the contents.
  ok(archive_write_set_format_raw(a.get()));
  ok(archive_write_add_filter_gzip(a.get()));
  archive_write_set_filter_option(a.get(), "gzip", "timestamp", nullptr);
  ok(archive_write_set_bytes_in_last_block(a.get(), 1));
  ok(archive_write_open2(a.get(), &sink, nullptr, count, nullptr, nullptr));
  std::unique_ptr<archive_entry, decltype(&archive_entry_free)> entry(archive_entry_new(), &archive_entry_free);
  archive_entry_set_pathname(entry.get(), "upload");
  archive_entry_set_filetype(entry.get(), AE_IFREG);
  archive_entry_set_size(entry.get(), static_cast<la_int64_t>(total));
  ok(archive_write_header(a.get(), entry.get()));
  std::string buf(1 << 17, '\0');
  for (const auto& f : files) {
    int fd = ::open(f.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error("cannot read " + f.string() + ": " + std::strerror(errno), Exit::io);
    for (;;) {
      ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        ::close(fd);
        throw Error("cannot read " + f.string() + ": " + std::strerror(errno), Exit::io);
      }
      if (n == 0) break;
      if (archive_write_data(a.get(), buf.data(), static_cast<size_t>(n)) < 0) {
        ::close(fd);
        ok(ARCHIVE_FATAL);
      }
    }
    ::close(fd);
  }
  ok(archive_write_close(a.get()));
  return sink.bytes;
}

WranglerExport export_wrangler(const WranglerOptions& o) {
  auto manifest_file = o.bundle / bundle::kFile;
  const auto m = bundle::read(o.bundle);
  std::string entry_path = m.entry ? m.entry->path : "";
  if (!entry_path.starts_with("app/") || !ends_with(entry_path, ".py"))
    throw Error(manifest_file.string() + ": entry.path is not a module under app/", Exit::usage);
  if (std::find(m.missing.begin(), m.missing.end(), "files") != m.missing.end())
    throw Error(manifest_file.string() + ": no files list", Exit::usage);
  if (bundle::digest(m.files) != m.digest)
    throw Error(manifest_file.string() +
                    ": \"digest\" does not match the \"files\" list: bundle.json was edited after " +
                    "the build; rebuild the bundle",
                Exit::problems);

  WranglerExport r;
  r.main = "src/" + entry_path.substr(4);
  r.compatibility_date = o.compatibility_date.empty() ? std::string(kCompatibilityDate) : o.compatibility_date;
  if (!is_date(r.compatibility_date))
    throw Error("--compatibility-date " + r.compatibility_date + ": not a date such as " +
                    std::string(kCompatibilityDate) + " (YYYY-MM-DD)",
                Exit::usage);
  r.name = worker_name(!o.name.empty() ? o.name : !m.name.empty() ? m.name : m.entry->module);
  if (!o.name.empty() &&
      std::none_of(o.name.begin(), o.name.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)); }))
    throw Error("--name " + o.name + ": a worker name needs letters a-z or digits", Exit::usage);
  for (const auto& [k, v] : m.vars)
    if (object_property(k))
      throw Error(manifest_file.string() + ": var " + k +
                      ": wrangler cannot take a var named like a JavaScript object's own property; rename it",
                  Exit::usage);
  // A module-level on_fetch needs the flag that keeps global handlers; a WorkerEntrypoint does not.
  bool class_style = is_class_style(fs::read_file(o.bundle / entry_path));
  r.flags = python_worker_flags(m.target.python, class_style, r.compatibility_date);

  auto out = o.out.lexically_normal();
  if (!out.has_filename()) out = out.parent_path();  // "deploy/" -> "deploy": its parent holds the staging dir
  auto within = [](const stdfs::path& inner, const stdfs::path& outer) {
    auto rel = stdfs::weakly_canonical(inner).lexically_relative(stdfs::weakly_canonical(outer));
    return !rel.empty() && *rel.begin() != "..";
  };
  if (within(out, o.bundle) || within(o.bundle, out))
    throw Error(out.string() + ": is inside the bundle " + o.bundle.string() +
                    " or holds it (an export there would change the bundle); choose another --out",
                Exit::usage);
  // The export is renamed into place: the working directory itself cannot be (rename fails with
  // EBUSY on "."), and a shell left in it would sit in the removed old tree.
  std::error_code cwd_ec;
  auto cwd = stdfs::current_path(cwd_ec);
  if (!cwd_ec && within(cwd, out))
    throw Error(out.string() + ": is the working directory or holds it, and an export is renamed into place; " +
                    "run export from another directory (e.g. the parent, with --out and its name)",
                Exit::usage);
  check_replaceable(out);
  auto staged = fs::make_temp_dir(out, "." + out.filename().string() + ".export-");
  try {
    std::vector<stdfs::path> uploaded;
    std::vector<std::string> written;  // "dest\tsha256\n", for the digests line
    stdfs::path main_file;
    for (const auto& f : m.files) {  // bundle::parse refused paths outside python_modules/ and app/
      const std::string& rel = f.path;
      std::string dest;
      bool pyc = ends_with(rel, ".pyc");
      if (rel.starts_with("app/")) {
        if (pyc) {  // wrangler uploads only **/*.py from src/
          ++r.skipped_pyc;
          continue;
        }
        dest = "src/" + rel.substr(4);
      } else if (rel.starts_with("python_modules/")) {
        if (pyc && rel.find("/__pycache__/") != std::string::npos) {
          ++r.skipped_pyc;
          continue;
        }
        if (pyc) r.uploads_pyc = true;  // sourceless: the only code of that module
        dest = rel;
      } else {
        continue;  // bundle.json, the snapshot: the platform makes its own
      }
      copy_checked(o.bundle / rel, staged / dest, f.sha256, o.bundle, rel);
      written.push_back(dest + "\t" + f.sha256 + "\n");
      bool uploads = !rel.starts_with("app/") || ends_with(rel, ".py");
      if (!uploads) continue;
      if (dest == r.main) main_file = staged / dest;
      else uploaded.push_back(staged / dest);
    }
    if (main_file.empty())
      throw Error(manifest_file.string() + ": the entry " + entry_path + " is not in files", Exit::usage);
    uploaded.push_back(main_file);  // wrangler measures its modules, then main
    for (const auto& p : uploaded) r.bytes += stdfs::file_size(p);
    r.files = uploaded.size();
    r.gzip_bytes = gzip_concat_size(uploaded);

    std::string toml = "name = " + toml_string(r.name) + "\n";
    toml += "main = " + toml_string(r.main) + "\n";
    toml += "compatibility_date = " + toml_string(r.compatibility_date) + "\n";
    toml += "compatibility_flags = [";
    for (size_t i = 0; i < r.flags.size(); ++i) toml += (i ? ", " : "") + toml_string(r.flags[i]);
    toml += "]\n";
    if (r.uploads_pyc) {
      toml += "\n# --compile=drop-sources left only bytecode for some modules: upload the .pyc files too.\n";
      toml += "[python_modules]\nexclude = []\n";
    }
    if (!m.vars.empty()) {
      toml += "\n[vars]\n";
      for (const auto& [k, v] : m.vars) toml += toml_string(k) + " = " + toml_string(v) + "\n";
    }
    auto from = o.bundle.string();
    std::replace(from.begin(), from.end(), '\n', '?');  // the header stays one comment line
    auto header = std::string(kMarker) + " from " + from + "; `wrangler deploy` uploads it.\n";
    fs::write_file_atomic(staged / "wrangler.toml",
                          header + digests_line(files_digest(std::move(written)), toml) + toml);
    fs::replace_dir(staged, out);
  } catch (...) {
    std::error_code ec;
    stdfs::remove_all(staged, ec);
    throw;
  }
  return r;
}

}  // namespace pb::vendor
