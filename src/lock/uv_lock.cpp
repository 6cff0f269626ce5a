// uv.lock reader: version 1, revisions 0–4, `[[distribution]]` (early uv) as an alias of `[[package]]`.
#include <map>
#include <string>
#include <tuple>

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

constexpr int kNewestRevision = 4;

std::optional<Source> read_source(Reader& r, const toml::node& n, const std::string& what) {
  const toml::table* t = n.as_table();
  if (!t) {
    r.fail(&n, what + "source must be a table");
    return std::nullopt;
  }
  static const std::pair<const char*, SourceKind> kinds[] = {{"registry", SourceKind::registry},
                                                             {"git", SourceKind::git},
                                                             {"url", SourceKind::url},
                                                             {"path", SourceKind::path},
                                                             {"directory", SourceKind::directory},
                                                             {"editable", SourceKind::editable},
                                                             {"virtual", SourceKind::virtual_}};
  for (const auto& [key, kind] : kinds) {
    if (const toml::node* v = t->get(key)) {
      const auto* s = v->as_string();
      if (!s) {
        r.fail(v, what + "source." + key + " must be a string");
        return std::nullopt;
      }
      return Source{kind, s->get()};
    }
  }
  r.fail(&n, what + "source has none of registry, git, url, path, directory, editable, virtual");
  return std::nullopt;
}

std::optional<Artifact> read_artifact(Reader& r, const toml::node& n, const std::string& what, const Source& source) {
  const toml::table* t = n.as_table();
  if (!t) {
    r.fail(&n, what + " must be a table");
    return std::nullopt;
  }
  Artifact a;
  a.url = r.str(*t, "url", what + ".").value_or("");
  a.path = r.str(*t, "path", what + ".").value_or("");
  a.filename = r.str(*t, "filename", what + ".").value_or("");
  a.hash = r.str(*t, "hash", what + ".").value_or("");
  if (auto size = r.integer(*t, "size", what + "."); size && *size >= 0) a.size = static_cast<uint64_t>(*size);
  // Local registries (`--find-links`, a directory index) give paths relative to the index.
  if (!a.path.empty() && source.kind == SourceKind::registry && source.value.find("://") == std::string::npos)
    a.path = (std::filesystem::path(source.value) / a.path).lexically_normal().string();
  // A path source is the artifact itself.
  if (a.url.empty() && a.path.empty() && source.kind == SourceKind::path) a.path = source.value;
  if (a.filename.empty())
    a.filename = (!a.url.empty() ? wheel::filename_from_url(a.url) : detail::file_name_of(a.path));
  return a;
}

Dependency read_dependency(Reader& r, const toml::node& n, const std::string& what) {
  Dependency d;
  const toml::table* t = n.as_table();
  if (!t) {
    r.fail(&n, what + " must be a table");
    return d;
  }
  if (auto name = r.str(*t, "name", what + ".")) d.name = pep508::normalize_name(*name);
  else r.fail(&n, what + " has no name");
  d.version = r.str(*t, "version", what + ".");
  if (const toml::node* s = t->get("source")) d.source = read_source(r, *s, what + ".");
  for (auto& e : r.strings(*t, "extra", what + ".")) d.extras.push_back(pep508::normalize_name(e));
  d.marker = r.str(*t, "marker", what + ".").value_or("");
  return d;
}

std::vector<Dependency> read_dependencies(Reader& r, const toml::node* n, const std::string& what) {
  std::vector<Dependency> out;
  if (!n) return out;
  const toml::array* a = n->as_array();
  if (!a) {
    r.fail(n, what + " must be an array");
    return out;
  }
  out.reserve(a->size());
  for (const auto& e : *a) out.push_back(read_dependency(r, e, what));
  return out;
}

// A table from package names to lists (optional dependencies, dependency groups): normalised names,
// each value read by `read`.
template <class Read>
auto read_name_map(Reader& r, const toml::node* n, const std::string& what, Read read) {
  std::map<std::string, decltype(read(r, n, what))> out;
  if (!n) return out;
  const toml::table* t = n->as_table();
  if (!t) {
    r.fail(n, what + " must be a table");
    return out;
  }
  for (const auto& [key, value] : *t)
    out[pep508::normalize_name(key.str())] = read(r, &value, what + "." + std::string(key.str()));
  return out;
}

// A lowered requirement table ({ name, extras, specifier, marker, url|git|path|… }) as PEP 508 text.
// Local sources (path, directory, editable) keep only the name: the location is uv's, not PEP 508's.
std::string requirement_text(Reader& r, const toml::node& n, const std::string& what) {
  const toml::table* t = n.as_table();
  if (!t) {
    r.fail(&n, what + " must be a table");
    return {};
  }
  auto name = r.str(*t, "name", what + ".");
  if (!name) {
    r.fail(&n, what + " has no name");
    return {};
  }
  std::string text = *name;
  auto extras = r.strings(*t, "extras", what + ".");
  if (!extras.empty()) {
    text += "[";
    for (size_t i = 0; i < extras.size(); ++i) text += (i ? "," : "") + extras[i];
    text += "]";
  }
  if (auto url = r.str(*t, "url", what + ".")) text += " @ " + *url;
  else if (auto git = r.str(*t, "git", what + ".")) text += " @ git+" + *git;
  else if (auto spec = r.str(*t, "specifier", what + ".")) text += *spec;
  if (auto marker = r.str(*t, "marker", what + ".")) text += " ; " + *marker;
  return text;
}

std::vector<std::string> read_requirements(Reader& r, const toml::node* n, const std::string& what) {
  std::vector<std::string> out;
  if (!n) return out;
  const toml::array* a = n->as_array();
  if (!a) {
    r.fail(n, what + " must be an array");
    return out;
  }
  for (const auto& e : *a) {
    auto text = requirement_text(r, e, what);
    if (!text.empty()) out.push_back(std::move(text));
  }
  return out;
}

void read_package(Reader& r, const toml::table& t, Lock& lock) {
  Package p;
  p.line = r.line(&t);
  auto name = r.str(t, "name", "package.");
  if (!name) {
    r.fail(&t, "package has no name");
    return;
  }
  p.name = pep508::normalize_name(*name);
  std::string what = "package '" + p.name + "': ";
  p.version = r.str(t, "version", what).value_or("");
  if (const toml::node* s = t.get("source")) {
    if (auto source = read_source(r, *s, what)) p.source = *source;
  } else {
    r.fail(&t, what + "has no source");
  }
  p.resolution_markers = r.strings(t, "resolution-markers", what);
  p.dependencies = read_dependencies(r, t.get("dependencies"), what + "dependencies");
  p.optional_dependencies =
      read_name_map(r, t.get("optional-dependencies"), what + "optional-dependencies", read_dependencies);
  const toml::node* dev = t.get("dev-dependencies");
  if (!dev) dev = t.get("dependency-groups");
  p.dev_dependencies = read_name_map(r, dev, what + "dev-dependencies", read_dependencies);
  if (const toml::node* sd = t.get("sdist")) p.sdist = read_artifact(r, *sd, what + "sdist", p.source);
  if (const toml::node* w = t.get("wheels")) {
    if (const toml::array* a = w->as_array()) {
      p.wheels.reserve(a->size());
      for (const auto& e : *a) {
        auto artifact = read_artifact(r, e, what + "wheel", p.source);
        if (!artifact) continue;
        if (artifact->url.empty() && artifact->path.empty() && artifact->filename.empty())
          r.fail(&e, what + "wheel has no url, path or filename");
        else p.wheels.push_back(std::move(*artifact));
      }
    } else {
      r.fail(w, what + "wheels must be an array");
    }
  }
  if (const toml::node* m = t.get("metadata")) {
    if (const toml::table* mt = m->as_table()) {
      if (mt->contains("requires-dist"))
        p.requires_dist = read_requirements(r, mt->get("requires-dist"), what + "metadata.requires-dist");
      const toml::node* rd = mt->get("requires-dev");
      if (!rd) rd = mt->get("dependency-groups");
      p.requires_dev = read_name_map(r, rd, what + "metadata.requires-dev", read_requirements);
      for (auto& e : r.strings(*mt, "provides-extras", what + "metadata."))
        p.provides_extras.push_back(pep508::normalize_name(e));
    } else {
      r.fail(m, what + "metadata must be a table");
    }
  }
  lock.packages.push_back(std::move(p));
}

void read_conflicts(Reader& r, const toml::node* n, Lock& lock) {
  if (!n) return;
  const toml::array* sets = n->as_array();
  if (!sets) {
    r.fail(n, "conflicts must be an array of arrays");
    return;
  }
  for (const auto& set : *sets) {
    const toml::array* items = set.as_array();
    if (!items) {
      r.fail(&set, "conflicts must be an array of arrays");
      continue;
    }
    std::vector<ConflictItem> out;
    for (const auto& item : *items) {
      const toml::table* t = item.as_table();
      if (!t) {
        r.fail(&item, "a conflict item must be a table");
        continue;
      }
      ConflictItem c;
      auto package = r.str(*t, "package", "conflict item ");
      if (!package) {
        r.fail(&item, "a conflict item has no package");
        continue;
      }
      c.package = pep508::normalize_name(*package);
      if (auto e = r.str(*t, "extra", "conflict item ")) c.extra = pep508::normalize_name(*e);
      if (auto g = r.str(*t, "group", "conflict item ")) c.group = pep508::normalize_name(*g);
      out.push_back(std::move(c));
    }
    lock.conflicts.push_back(std::move(out));
  }
}

// A big lock's DOM costs several times its text (toml++ keeps a node, a source region and a key per
// value), so the [[package]] tables are parsed a piece at a time and each piece's DOM is dropped once
// read: the peak is the text and the model. Cutting before every line that is exactly the header is
// exact unless such a line lies inside a multi-line string (then a piece does not parse) or another
// top-level table follows the packages (then a piece holds more than packages): NotSplittable, and
// the file is read whole.
struct NotSplittable {};

struct Piece {
  std::string_view text;
  long line_base = 0;  // lines before it
};

// The text before the first package header, then one piece per header; nullopt when there is none.
std::optional<std::pair<std::string_view, std::vector<Piece>>> split_packages(std::string_view text,
                                                                              std::string_view header) {
  std::vector<std::pair<size_t, long>> starts;  // offset and line number of each header line
  long line = 0;
  for (size_t at = 0; at < text.size(); ++line) {
    size_t eol = std::min(text.find('\n', at), text.size());
    auto content = text.substr(at, eol - at);
    if (!content.empty() && content.back() == '\r') content.remove_suffix(1);
    if (content == header) starts.emplace_back(at, line);
    at = eol + 1;
  }
  if (starts.empty()) return std::nullopt;
  std::vector<Piece> pieces;
  for (size_t i = 0; i < starts.size(); ++i) {
    size_t end = i + 1 < starts.size() ? starts[i + 1].first : text.size();
    pieces.push_back({text.substr(starts[i].first, end - starts[i].first), starts[i].second});
  }
  return std::make_pair(text.substr(0, starts.front().first), std::move(pieces));
}

Lock parse_uv(std::string_view text, const std::filesystem::path& file, bool whole) {
  std::string shown = project::display_path(file);
  std::string_view key = "package";
  std::optional<std::pair<std::string_view, std::vector<Piece>>> split;
  if (!whole) {
    split = split_packages(text, "[[package]]");
    if (!split) {
      split = split_packages(text, "[[distribution]]");
      key = "distribution";
    }
    if (split && (text.find("\n[[package]]") != std::string_view::npos) != (key == "package")) throw NotSplittable{};
  }
  toml::table root;
  if (split) {
    try {
      root = toml::parse(split->first, shown);
    } catch (const toml::parse_error&) {
      throw NotSplittable{};
    }
    if (root.contains("package") || root.contains("distribution")) throw NotSplittable{};
  } else {
    root = parse_toml(text, shown);
  }
  Reader r(shown);
  Lock lock;
  lock.file = file;
  lock.format = Format::uv;
  const toml::node* version = root.get("version");
  if (!version || !version->is_integer())
    throw file_error(shown, Reader::line_of(version), "no integer `version`: not a uv.lock file");
  lock.version = static_cast<int>(version->as_integer()->get());
  if (lock.version != 1)
    throw file_error(shown, Reader::line_of(version),
                     "lock file version " + std::to_string(lock.version) +
                         " is not supported (pybundle reads uv.lock version 1); re-create it with `uv lock` "
                         "from a uv release that writes version 1");
  lock.revision = static_cast<int>(r.integer(root, "revision", "").value_or(0));
  if (lock.revision > kNewestRevision)
    lock.warnings.push_back(shown + ": revision " + std::to_string(lock.revision) +
                            " is newer than pybundle knows (up to " + std::to_string(kNewestRevision) +
                            "); reading it as revision " + std::to_string(kNewestRevision));
  lock.requires_python = r.str(root, "requires-python", "").value_or("");
  lock.resolution_markers = r.strings(root, "resolution-markers", "");
  lock.supported_markers = r.strings(root, "supported-markers", "");
  lock.required_markers = r.strings(root, "required-markers", "");
  read_conflicts(r, root.get("conflicts"), lock);
  if (const toml::node* m = root.get("manifest")) {
    if (const toml::table* mt = m->as_table()) {
      for (auto& member : r.strings(*mt, "members", "manifest."))
        lock.members.push_back(pep508::normalize_name(member));
      lock.requirements = read_requirements(r, mt->get("requirements"), "manifest.requirements");
      lock.constraints = read_requirements(r, mt->get("constraints"), "manifest.constraints");
      lock.overrides = read_requirements(r, mt->get("overrides"), "manifest.overrides");
      lock.dependency_groups =
          read_name_map(r, mt->get("dependency-groups"), "manifest.dependency-groups", read_requirements);
    } else {
      r.fail(m, "[manifest] must be a table");
    }
  }
  // uv locks a name more than once only for different versions or sources; a second table of
  // the same package would otherwise be silently shadowed by the first.
  std::map<std::tuple<std::string, std::string, lock::SourceKind, std::string>, long> seen;
  auto read_packages = [&](const toml::node* packages) {
    const toml::array* a = packages->as_array();
    if (!a) {
      r.fail(packages, "package must be an array of tables ([[package]])");
      return;
    }
    for (const auto& e : *a) {
      const toml::table* t = e.as_table();
      if (!t) {
        r.fail(&e, "package must be an array of tables ([[package]])");
        continue;
      }
      size_t before = lock.packages.size();
      read_package(r, *t, lock);
      if (lock.packages.size() == before) continue;
      const auto& p = lock.packages.back();
      auto [it, fresh] = seen.emplace(std::make_tuple(p.name, p.version, p.source.kind, p.source.value), p.line);
      if (!fresh)
        r.fail(t, "package '" + p.name + "' " + p.version + " is locked twice, at lines " + std::to_string(it->second) +
                      " and " + std::to_string(p.line) + " (remove one, or run `uv lock`)");
    }
  };
  if (split) {
    lock.packages.reserve(split->second.size());
    for (const auto& piece : split->second) {
      toml::table t;
      try {
        t = toml::parse(piece.text, shown);
      } catch (const toml::parse_error&) {
        throw NotSplittable{};
      }
      const toml::node* packages = t.get(key);
      if (!packages || t.size() != 1) throw NotSplittable{};
      r.set_line_base(piece.line_base);
      read_packages(packages);
    }
    r.set_line_base(0);
  } else {
    const toml::node* packages = root.get("package");
    if (!packages) packages = root.get("distribution");
    if (packages && packages->is_array()) lock.packages.reserve(packages->as_array()->size());
    if (packages) read_packages(packages);
  }
  r.raise();
  return lock;
}

}  // namespace

Lock parse_uv(std::string_view text, const std::filesystem::path& file) {
  try {
    return parse_uv(text, file, false);
  } catch (const NotSplittable&) {
    return parse_uv(text, file, true);
  }
}

Lock load_uv(const std::filesystem::path& file) {
  return parse_uv(fs::read_file(file), file);
}

}  // namespace pb::lock
