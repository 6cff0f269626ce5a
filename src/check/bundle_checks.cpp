#include "check/bundle_checks.hpp"
#include "check/inspect.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "snapshot/snapshot.hpp"
#include "util/fs.hpp"
#include "util/json.hpp"
#include "util/sha256.hpp"

namespace pb::check {

namespace stdfs = std::filesystem;
using nlohmann::json;

std::string shown(const stdfs::path& bundle, const std::string& rel) {
  auto b = bundle.generic_string();
  while (b.size() > 1 && b.back() == '/') b.pop_back();
  if (b == ".") return rel;
  return b + "/" + rel;
}

namespace {

const char* kManifest = "bundle.json";

// A listed path we can safely open: relative, normalized, under python_modules/ or app/.
bool safe_listed_path(const std::string& p) {
  if (p.empty() || p.front() == '/' || p.find('\\') != std::string::npos || p.find('\0') != std::string::npos)
    return false;
  if (!(p.starts_with("python_modules/") || p.starts_with("app/"))) return false;
  size_t start = 0;
  while (start <= p.size()) {
    auto end = p.find('/', start);
    if (end == std::string::npos) end = p.size();
    auto part = p.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

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

std::string snapshot_file(const json& manifest) {
  auto name = json_string(json_at(manifest, "snapshot"), "file");
  return name.empty() ? "snapshot.bin.zst" : name;
}

}  // namespace

Check manifest(const stdfs::path& bundle, json& out) {
  Check c{.name = "manifest", .title = "bundle.json is a bundle manifest pybundle can read"};
  std::error_code ec;
  auto file = shown(bundle, kManifest);
  if (!stdfs::is_directory(bundle, ec)) {
    c.add({.code = "bundle-missing",
           .message = bundle.string() + " is not a directory",
           .fix = "pass the output directory of `pybundle build`",
           .exit = Exit::usage});
    return c;
  }
  if (!stdfs::exists(bundle / kManifest, ec)) {
    c.add({.code = "manifest-missing",
           .message = "no bundle.json in " + bundle.string() + ": not a bundle, or its manifest was removed",
           .file = file,
           .fix = "rebuild with `pybundle build`"});
    return c;
  }
  json m;
  try {
    auto text = fs::read_file(bundle / kManifest);
    if (json_too_deep(text)) {
      c.add({.code = "manifest-invalid", .message = kTooDeep, .file = file});
      return c;
    }
    m = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    c.add({.code = "manifest-invalid", .message = std::string("not valid JSON: ") + e.what(), .file = file});
    return c;
  } catch (const Error& e) {
    c.add({.code = "manifest-unreadable", .message = e.what(), .file = file, .exit = e.code()});
    return c;
  }
  auto bad = [&](const std::string& what) {
    c.add({.code = "manifest-invalid", .message = what, .file = file, .fix = "rebuild with `pybundle build`"});
  };
  if (!m.is_object()) {
    bad("not a JSON object");
    return c;
  }
  if (!m.contains("schema") || !m["schema"].is_number_integer()) {
    bad("no \"schema\" number");
    return c;
  }
  if (m["schema"] != 1) {
    bad("schema " + m["schema"].dump() + " is not one this pybundle reads (1)");
    return c;
  }
  auto need = [&](const char* key, bool ok) {
    if (!ok) bad(std::string("\"") + key + "\" is missing or has the wrong type");
    return ok;
  };
  need("target", m.contains("target") && m["target"].is_object() && m["target"].contains("pyodide") &&
                     m["target"]["pyodide"].is_string());
  need("entry", m.contains("entry") &&
                    (m["entry"].is_null() ||
                     (m["entry"].is_object() && m["entry"].contains("path") && m["entry"]["path"].is_string() &&
                      m["entry"].contains("module") && m["entry"]["module"].is_string())));
  need("packages", m.contains("packages") && m["packages"].is_array());
  need("digest", m.contains("digest") && m["digest"].is_string());
  need("snapshot", m.contains("snapshot") && (m["snapshot"].is_null() || m["snapshot"].is_object()));
  if (need("files", m.contains("files") && m["files"].is_array())) {
    size_t k = 0;
    for (const auto& f : m["files"]) {
      if (!f.is_object() || !f.contains("path") || !f["path"].is_string() || !f.contains("sha256") ||
          !f["sha256"].is_string() || !f.contains("size") || !f["size"].is_number_unsigned()) {
        bad("files[" + std::to_string(k) + "] is not {\"path\", \"sha256\", \"size\"}");
      } else if (!safe_listed_path(f["path"].get<std::string>())) {
        bad("files[" + std::to_string(k) + "]: '" + f["path"].get<std::string>() +
            "' is not a path under python_modules/ or app/");
      }
      ++k;
    }
  }
  if (c.findings.empty()) {
    out = m;
    c.summary = "schema 1, " + std::to_string(m["files"].size()) + " files, target pyodide " +
                m["target"]["pyodide"].get<std::string>() +
                (m["snapshot"].is_null() ? ", no snapshot" : ", with a snapshot");
  }
  return c;
}

Check files(const stdfs::path& bundle, const json& m) {
  Check c{.name = "files", .title = "every file matches bundle.json"};
  struct Listed {
    std::string sha256;
    uint64_t size;
  };
  std::map<std::string, Listed> listed;
  Sha256 digest;
  for (const auto& f : m["files"]) {
    auto path = f["path"].get<std::string>();
    listed[path] = {f["sha256"].get<std::string>(), f["size"].get<uint64_t>()};
    digest.update(path + "\t" + f["sha256"].get<std::string>() + "\n");
  }
  if (digest.hex() != m["digest"].get<std::string>())
    c.add({.code = "digest-mismatch",
           .message = "\"digest\" does not match the \"files\" list: bundle.json was edited after the build",
           .file = shown(bundle, kManifest),
           .fix = "rebuild with `pybundle build`"});

  // What is on disk.
  std::map<std::string, uint64_t> found;  // regular files under python_modules/ and app/
  size_t extra = 0;
  std::set<std::string> top_allowed = {kManifest, "python_modules", "app"};
  if (m["snapshot"].is_object()) top_allowed.insert({snapshot_file(m), snapshot::kImportTimesFile});
  std::error_code ec;
  for (stdfs::recursive_directory_iterator it(bundle, ec), end; !ec && it != end; it.increment(ec)) {
    auto rel = it->path().lexically_relative(bundle).generic_string();
    auto type = it->symlink_status(ec).type();
    if (ec) break;
    const bool is_dir = type == stdfs::file_type::directory;
    if (rel.find('/') == std::string::npos) {
      if (!top_allowed.count(rel)) {
        ++extra;
        c.add({.code = "file-extra",
               .message = std::string(is_dir ? "a directory " : "") +
                          "not part of a bundle (only bundle.json, python_modules/, app/ and the snapshot are)",
               .file = shown(bundle, rel),
               .fix = "remove it, or rebuild with `pybundle build`"});
        if (is_dir) it.disable_recursion_pending();
        continue;
      }
      const bool want_dir = rel == "python_modules" || rel == "app";
      if (want_dir != is_dir || (!want_dir && type != stdfs::file_type::regular)) {
        c.add({.code = "file-not-regular",
               .message = (type == stdfs::file_type::regular ? std::string("a file") : type_name(type)) +
                          (want_dir ? ", not a directory" : ", not a file"),
               .file = shown(bundle, rel)});
        if (is_dir) it.disable_recursion_pending();
      }
      continue;
    }
    if (is_dir) continue;
    if (type != stdfs::file_type::regular) {
      c.add({.code = "file-not-regular",
             .message = type_name(type) + "; a bundle holds only regular files",
             .file = shown(bundle, rel)});
      continue;
    }
    found[rel] = it->file_size(ec);
    if (ec) break;
  }
  if (ec) {
    c.add({.code = "bundle-unreadable",
           .message = "cannot list " + bundle.string() + ": " + ec.message(),
           .exit = Exit::io});
    return c;
  }

  uint64_t bytes = 0;
  size_t changed = 0, missing = 0;
  for (const auto& [rel, facts] : listed) {
    auto it = found.find(rel);
    if (it == found.end()) {
      ++missing;
      c.add({.code = "file-missing",
             .message = "listed in bundle.json but missing",
             .file = shown(bundle, rel),
             .fix = "rebuild with `pybundle build`"});
      continue;
    }
    bytes += it->second;
    std::string what;
    if (it->second != facts.size) {
      what = "size " + std::to_string(it->second) + " bytes, bundle.json says " + std::to_string(facts.size);
    } else {
      std::string sha;
      try {
        sha = sha256_file(bundle / rel);
      } catch (const Error& e) {
        c.add({.code = "file-unreadable", .message = e.what(), .file = shown(bundle, rel), .exit = e.code()});
        continue;
      }
      if (sha != facts.sha256) what = "sha256 " + sha + ", bundle.json says " + facts.sha256;
    }
    if (!what.empty()) {
      ++changed;
      c.add({.code = "file-changed",
             .message = "changed since the build (" + what + ")",
             .file = shown(bundle, rel),
             .fix = "rebuild with `pybundle build` instead of editing the bundle"});
    }
  }
  for (const auto& [rel, size] : found) {
    if (listed.count(rel)) continue;
    ++extra;
    c.add({.code = "file-extra",
           .message = "not listed in bundle.json",
           .file = shown(bundle, rel),
           .fix = "remove it, or rebuild with `pybundle build`"});
  }
  c.metrics["files"] = listed.size();
  c.metrics["bytes"] = bytes;
  c.metrics["changed"] = changed;
  c.metrics["missing"] = missing;
  c.metrics["extra"] = extra;
  c.summary = std::to_string(listed.size()) + " files (" + human_size(bytes) + ")";
  if (c.findings.empty()) c.summary += ", all match bundle.json";
  else
    c.summary += ": " + std::to_string(changed) + " changed, " + std::to_string(missing) + " missing, " +
                 std::to_string(extra) + " extra";
  return c;
}

static std::string over_budget_fix(const stdfs::path& bundle) {
  std::string fix =
      "build with --minimize, trim with [tool.pybundle] exclude, drop or replace large packages, or raise "
      "size-budget";
  try {
    auto manifest = nlohmann::json::parse(fs::read_file(bundle / "bundle.json"));
    auto top = top_contributors(inspect(bundle, manifest));
    if (!top.empty()) fix = "the largest contributors are " + top + "; " + fix + " (`pybundle inspect` shows all)";
  } catch (const std::exception&) {  // the size finding stands without the breakdown
  }
  return fix;
}

Check bundle_size(const stdfs::path& bundle, const std::optional<Budget>& budget) {
  Check c{.name = "size", .title = "the bundle's gzip size is within the size budget"};
  Measured s;
  try {
    s = measure(bundle);
  } catch (const Error& e) {
    c.add(from_error(e, "size-unmeasured"));
    return c;
  }
  c.metrics["gzip_bytes"] = s.gzip_bytes;
  c.metrics["tar_bytes"] = s.tar_bytes;
  c.metrics["files"] = s.files;
  c.metrics["bytes"] = s.bytes;
  c.metrics["budget_bytes"] = budget ? json(budget->bytes) : json(nullptr);
  json largest = json::array();
  for (const auto& [path, size] : s.largest) largest.push_back({{"path", path}, {"size", size}});
  c.metrics["largest"] = largest;
  c.summary =
      human_size(s.gzip_bytes) + " gzipped (" + human_size(s.bytes) + " in " + std::to_string(s.files) + " files)";
  if (budget) c.summary += ", budget " + human_size(budget->bytes) + " (" + budget->source + ")";
  else c.summary += "; no size-budget set";
  if (budget && s.gzip_bytes > budget->bytes) {
    c.add({.code = "size-over-budget",
           .message = "the bundle is " + human_size(s.gzip_bytes) + " gzipped (" + std::to_string(s.gzip_bytes) +
                      " bytes), over the size budget of " + human_size(budget->bytes) + " (" + budget->source + ")",
           .file = budget->file,
           .fix = over_budget_fix(bundle)});
    for (const auto& [path, size] : s.largest)
      c.add({.severity = Severity::note,
             .code = "size-largest",
             .message = path + ": " + human_size(size),
             .file = shown(bundle, path)});
  }
  return c;
}

}  // namespace pb::check
