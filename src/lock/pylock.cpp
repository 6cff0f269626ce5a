// pylock.toml (PEP 751) read into the same model as uv.lock. Selection in a pylock is by each
// package's `marker` (with the `extras` / `dependency_groups` variables), not by a graph walk.
#include "lock/lock.hpp"
#include "lock/toml_reader.hpp"
#include "pep508/requirement.hpp"
#include "project/project.hpp"
#include "util/fs.hpp"
#include "util/toml.hpp"
#include "wheel/wheel.hpp"

namespace pb::lock {

namespace {

using detail::Reader;

// `hashes = {sha256 = "…"}` -> "sha256:…" (sha256 preferred, else the first algorithm).
std::string read_hashes(Reader& r, const toml::table& t, const std::string& what) {
  const toml::node* n = t.get("hashes");
  if (!n) return {};
  const toml::table* h = n->as_table();
  if (!h) {
    r.fail(n, what + "hashes must be a table");
    return {};
  }
  if (auto s = r.str(*h, "sha256", what + "hashes.")) return "sha256:" + *s;
  for (const auto& [algo, value] : *h)
    if (const auto* s = value.as_string()) return std::string(algo.str()) + ":" + s->get();
  return {};
}

std::optional<Artifact> read_file_entry(Reader& r, const toml::node& n, const std::string& what) {
  const toml::table* t = n.as_table();
  if (!t) {
    r.fail(&n, what + " must be a table");
    return std::nullopt;
  }
  Artifact a;
  a.url = r.str(*t, "url", what + ".").value_or("");
  a.path = r.str(*t, "path", what + ".").value_or("");
  a.filename = r.str(*t, "name", what + ".").value_or("");
  if (a.filename.empty())
    a.filename = (!a.url.empty() ? wheel::filename_from_url(a.url) : detail::file_name_of(a.path));
  if (auto size = r.integer(*t, "size", what + "."); size && *size >= 0) a.size = static_cast<uint64_t>(*size);
  a.hash = read_hashes(r, *t, what + ".");
  if (a.url.empty() && a.path.empty()) r.fail(&n, what + " has neither url nor path");
  return a;
}

bool is_wheel_name(const std::string& filename) {
  return filename.size() > 4 && filename.compare(filename.size() - 4, 4, ".whl") == 0;
}

void read_package(Reader& r, const toml::table& t, Lock& lock) {
  Package p;
  p.line = Reader::line_of(&t);
  auto name = r.str(t, "name", "packages.");
  if (!name) {
    r.fail(&t, "package has no name");
    return;
  }
  p.name = pep508::normalize_name(*name);
  std::string what = "package '" + p.name + "': ";
  p.version = r.str(t, "version", what).value_or("");
  p.resolution_marker = r.str(t, "marker", what).value_or("");
  if (const toml::array* deps = r.tables(t, "dependencies", what)) {
    for (const auto& d : *deps) {
      const toml::table& dt = *d.as_table();
      Dependency dep;
      if (auto dn = r.str(dt, "name", what + "dependencies.")) dep.name = pep508::normalize_name(*dn);
      else continue;
      dep.version = r.str(dt, "version", what + "dependencies.");
      p.dependencies.push_back(std::move(dep));
    }
  }
  for (const char* key : {"vcs", "directory"})  // else the package would be read as one from an index
    if (const toml::node* n = t.get(key); n && !n->is_table()) r.fail(n, what + key + " must be a table");
  if (const toml::node* v = t.get("vcs"); v && v->is_table()) {
    const toml::table& vt = *v->as_table();
    auto url = r.str(vt, "url", what + "vcs.");
    auto path = r.str(vt, "path", what + "vcs.");
    p.source = {SourceKind::git, url.value_or(path.value_or(""))};
    if (auto commit = r.str(vt, "commit-id", what + "vcs.")) p.source.value += "#" + *commit;
  } else if (const toml::node* d = t.get("directory"); d && d->is_table()) {
    const toml::table& dt = *d->as_table();
    bool editable = dt.get("editable") && dt.get("editable")->value<bool>().value_or(false);
    p.source = {editable ? SourceKind::editable : SourceKind::directory,
                r.str(dt, "path", what + "directory.").value_or("")};
  } else if (const toml::node* a = t.get("archive")) {
    auto artifact = read_file_entry(r, *a, what + "archive");
    if (artifact) {
      p.source = {artifact->url.empty() ? SourceKind::path : SourceKind::url,
                  artifact->url.empty() ? artifact->path : artifact->url};
      if (is_wheel_name(artifact->filename)) p.wheels.push_back(*artifact);
      else p.sdist = *artifact;
    }
  } else {
    p.source = {SourceKind::registry, r.str(t, "index", what).value_or("")};
  }
  if (const toml::node* sd = t.get("sdist")) p.sdist = read_file_entry(r, *sd, what + "sdist");
  if (const toml::array* wheels = r.tables(t, "wheels", what)) {
    for (const auto& w : *wheels)
      if (auto artifact = read_file_entry(r, w, what + "wheel")) p.wheels.push_back(std::move(*artifact));
  }
  lock.packages.push_back(std::move(p));
}

}  // namespace

Lock parse_pylock(std::string_view text, const std::filesystem::path& file) {
  std::string shown = project::display_path(file);
  toml::table root = parse_toml(text, shown);
  Reader r(shown);
  Lock lock;
  lock.file = file;
  lock.format = Format::pylock;
  const toml::node* v = root.get("lock-version");
  const auto* vs = v ? v->as_string() : nullptr;
  if (!vs) throw file_error(shown, Reader::line_of(v), "no string `lock-version`: not a pylock.toml file (PEP 751)");
  const std::string& version = vs->get();
  if (version.rfind("1.", 0) != 0 && version != "1")
    throw file_error(shown, Reader::line_of(v),
                     "lock-version " + version + " is not supported (pybundle reads PEP 751 lock-version 1.x)");
  lock.version = 1;
  lock.requires_python = r.str(root, "requires-python", "").value_or("");
  lock.supported_markers = r.strings(root, "environments", "");
  for (auto& e : r.strings(root, "extras", "")) lock.pylock_extras.push_back(pep508::normalize_name(e));
  for (auto& g : r.strings(root, "dependency-groups", "")) lock.pylock_groups.push_back(pep508::normalize_name(g));
  for (auto& g : r.strings(root, "default-groups", "")) lock.pylock_default_groups.push_back(pep508::normalize_name(g));
  if (const toml::array* packages = r.tables(root, "packages", "")) {
    lock.packages.reserve(packages->size());
    for (const auto& p : *packages) read_package(r, *p.as_table(), lock);
  }
  r.raise();
  return lock;
}

Lock load_pylock(const std::filesystem::path& file) {
  return parse_pylock(fs::read_file(file), file);
}

}  // namespace pb::lock
