#include "check/bundle_checks.hpp"
#include "check/inspect.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "snapshot/snapshot.hpp"
#include "util/fs.hpp"

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

const char* kManifest = bundle::kFile;

}  // namespace

Check manifest(const stdfs::path& bundle, std::optional<bundle::Manifest>& out) {
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
  bundle::Manifest m;
  try {
    m = bundle::parse(fs::read_file(bundle / kManifest));
  } catch (const bundle::Invalid& e) {
    c.add({.code = "manifest-invalid", .message = e.what(), .file = file, .fix = "rebuild with `pybundle build`"});
    return c;
  } catch (const Error& e) {
    c.add({.code = "manifest-unreadable", .message = e.what(), .file = file, .exit = e.code()});
    return c;
  }
  // run and serve do without some keys; a bundle as the build writes it has every one.
  std::set<std::string> reported;
  for (const auto& key : m.missing) {
    auto top = key.substr(0, key.find('.'));
    if (reported.insert(top).second)
      c.add({.code = "manifest-invalid",
             .message = "\"" + top + "\" is missing or has the wrong type",
             .file = file,
             .fix = "rebuild with `pybundle build`"});
  }
  if (c.findings.empty()) {
    c.summary = "schema 1, " + std::to_string(m.files.size()) + " files, target pyodide " + m.target.pyodide +
                (m.snapshot ? ", with a snapshot" : ", no snapshot");
    out = std::move(m);
  }
  return c;
}

Check files(const stdfs::path& bundle, const bundle::Manifest& m) {
  Check c{.name = "files", .title = "every file matches bundle.json"};
  auto v = bundle::verify(bundle, m);
  if (!v.digest_ok)
    c.add({.code = "digest-mismatch",
           .message = "\"digest\" does not match the \"files\" list: bundle.json was edited after the build",
           .file = shown(bundle, kManifest),
           .fix = "rebuild with `pybundle build`"});
  using Kind = bundle::Problem::Kind;
  size_t changed = 0, missing = 0, extra = 0;
  const std::string rebuild = "rebuild with `pybundle build`", remove = "remove it, or rebuild with `pybundle build`";
  for (const auto& p : v.problems) {
    auto where = shown(bundle, p.path);
    switch (p.kind) {
      case Kind::not_bundle:
        ++extra;
        c.add({.code = "file-extra",
               .message = std::string(p.is_dir ? "a directory " : "") +
                          "not part of a bundle (only bundle.json, python_modules/, app/ and the snapshot are)",
               .file = where,
               .fix = remove});
        break;
      case Kind::not_regular: c.add({.code = "file-not-regular", .message = p.message, .file = where}); break;
      case Kind::missing:
        ++missing;
        c.add({.code = "file-missing", .message = "listed in bundle.json but missing", .file = where, .fix = rebuild});
        break;
      case Kind::changed:
        ++changed;
        c.add({.code = "file-changed",
               .message = "changed since the build (" + p.message + ")",
               .file = where,
               .fix = "rebuild with `pybundle build` instead of editing the bundle"});
        break;
      case Kind::unreadable:
        c.add({.code = "file-unreadable", .message = p.message, .file = where, .exit = p.exit});
        break;
      case Kind::unlisted:
        ++extra;
        c.add({.code = "file-extra", .message = "not listed in bundle.json", .file = where, .fix = remove});
        break;
    }
  }
  if (!v.list_error.empty()) {
    c.add({.code = "bundle-unreadable", .message = v.list_error, .exit = Exit::io});
    return c;
  }
  c.metrics["files"] = m.files.size();
  c.metrics["bytes"] = v.bytes;
  c.metrics["changed"] = changed;
  c.metrics["missing"] = missing;
  c.metrics["extra"] = extra;
  c.summary = std::to_string(m.files.size()) + " files (" + human_size(v.bytes) + ")";
  if (c.findings.empty()) c.summary += ", all match bundle.json";
  else
    c.summary += ": " + std::to_string(changed) + " changed, " + std::to_string(missing) + " missing, " +
                 std::to_string(extra) + " extra";
  return c;
}

// The budget is what a deploy uploads (app/ and python_modules/ in one gzip stream), as the build's
// warning and `inspect` measure it; the whole bundle, snapshot included, is reported beside it.
Check bundle_size(const stdfs::path& bundle, const bundle::Manifest& manifest, const std::optional<Budget>& budget) {
  Check c{.name = "size", .title = "the upload's gzip size is within the size budget"};
  Measured whole;
  Inspection upload;
  try {
    whole = measure(bundle);
    upload = inspect(bundle, manifest);
  } catch (const Error& e) {
    c.add(from_error(e, "size-unmeasured"));
    return c;
  }
  c.metrics["gzip_bytes"] = upload.gzip_bytes;
  c.metrics["files"] = upload.files;
  c.metrics["bytes"] = upload.bytes;
  c.metrics["bundle_gzip_bytes"] = whole.gzip_bytes;
  c.metrics["tar_bytes"] = whole.tar_bytes;
  c.metrics["budget_bytes"] = budget ? json(budget->bytes) : json(nullptr);
  // The ten largest uploaded files.
  std::vector<const bundle::File*> files;
  for (const auto& f : manifest.files) files.push_back(&f);
  std::stable_sort(files.begin(), files.end(), [](auto* a, auto* b) { return a->size > b->size; });
  if (files.size() > 10) files.resize(10);
  json largest = json::array();
  for (const auto* f : files) largest.push_back({{"path", f->path}, {"size", f->size}});
  c.metrics["largest"] = largest;
  c.summary = human_size(upload.gzip_bytes) + " gzipped upload (" + human_size(upload.bytes) + " in " +
              std::to_string(upload.files) + " files of app/ and python_modules/; the whole bundle " +
              human_size(whole.gzip_bytes) + ")";
  if (budget) c.summary += ", budget " + human_size(budget->bytes) + " (" + budget->source + ")";
  else c.summary += "; no size-budget set";
  if (budget && upload.gzip_bytes > budget->bytes) {
    std::string fix =
        "build with --minimize, trim with [tool.pybundle] exclude, drop or replace large packages, or raise "
        "size-budget";
    auto top = top_contributors(upload);
    if (!top.empty()) fix = "the largest contributors are " + top + "; " + fix + " (`pybundle inspect` shows all)";
    c.add({.code = "size-over-budget",
           .message = "the upload (app/ and python_modules/) is " + human_size(upload.gzip_bytes) + " gzipped (" +
                      std::to_string(upload.gzip_bytes) + " bytes), over the size budget of " +
                      human_size(budget->bytes) + " (" + budget->source + ")",
           .file = budget->file,
           .fix = fix});
    for (const auto* f : files)
      c.add({.severity = Severity::note,
             .code = "size-largest",
             .message = f->path + ": " + human_size(f->size),
             .file = shown(bundle, f->path)});
  }
  return c;
}

}  // namespace pb::check
