#include "plan/choose.hpp"

#include <algorithm>
#include <deque>

#include "util/error.hpp"
#include "wheel/wheel.hpp"

namespace pb::plan::detail {

namespace {

std::string join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

// "a, b and c"
std::string listing(const std::vector<std::string>& v) {
  if (v.size() <= 1) return join(v);
  return join(std::vector<std::string>(v.begin(), v.end() - 1)) + " and " + v.back();
}

bool is_emscripten_platform(const std::string& platform) {
  return platform.rfind("pyodide_", 0) == 0 || platform.rfind("pyemscripten_", 0) == 0 ||
         platform.rfind("emscripten_", 0) == 0;
}

std::string platform_family(const std::string& platform) {
  if (platform.rfind("manylinux", 0) == 0 || platform.rfind("musllinux", 0) == 0 || platform.rfind("linux", 0) == 0)
    return "Linux";
  if (platform.rfind("macosx", 0) == 0) return "macOS";
  if (platform.rfind("win", 0) == 0) return "Windows";
  if (platform.rfind("android", 0) == 0) return "Android";
  if (platform.rfind("ios", 0) == 0) return "iOS";
  if (platform == "any") return "";
  return platform;
}

// Build backends (or build requirements) that compile native code: no source vendoring for those.
std::string native_builder(const LocalProject& local) {
  static const char* backends[] = {"maturin",  "scikit_build_core", "mesonpy", "setuptools_rust",
                                   "sipbuild", "py_build_cmake",    "enscons", "pymsbuild"};
  for (const char* b : backends)
    if (local.build_backend.rfind(b, 0) == 0) return local.build_backend;
  static const char* requires_[] = {"maturin", "scikit-build-core", "meson-python", "setuptools-rust",
                                    "cython",  "pybind11",          "nanobind",     "cffi"};
  for (const auto& r : local.build_requires) {
    std::string name;
    try {
      name = pep508::Requirement::parse(r).normalized_name();
    } catch (const Error&) {
      continue;
    }
    for (const char* n : requires_)
      if (name == n) return name;
  }
  return {};
}

const char* kWheelFix =
    "build a wasm32 wheel with `pyodide build` and lock it (an index or a path source), or re-lock for the "
    "Pyodide platform ([tool.uv] required-environments = [\"sys_platform == 'emscripten'\"], then `uv lock`) "
    "if the index has Pyodide wheels for it";

}  // namespace

Chooser::Chooser(const project::Project& project, const lock::Lock& lock, const target::Target& target,
                 const Context& context, Plan& plan, const Selected& selected)
    : project_(project), lock_(lock), target_(target), context_(context), plan_(plan), selected_(selected) {
  for (size_t i : selected.packages) chosen_[lock.packages[i].name] = &lock.packages[i];
}

std::string Chooser::target_label() const {
  return "Pyodide " + target_.pyodide_version + " (Python " + target_.python_minor() + ", " + target_.platform +
         ", ABI " + target_.abi_version + ")";
}

std::string Chooser::absolute(const std::string& path) const {
  std::filesystem::path p(path);
  if (p.is_relative()) p = lock_.file.parent_path() / p;
  return std::filesystem::absolute(p).lexically_normal().string();
}

const lock::Artifact* Chooser::best_wheel(const lock::Package& p) const {
  const lock::Artifact* best = nullptr;
  size_t best_rank = 0;
  uint64_t best_build = 0;
  for (const auto& w : p.wheels) {
    auto name = wheel::WheelName::try_parse(w.filename);
    if (!name) continue;
    auto rank = target_.rank(*name);
    if (!rank) continue;
    uint64_t build = name->build ? name->build->first : 0;
    if (!best || *rank < best_rank || (*rank == best_rank && build > best_build)) {
      best = &w;
      best_rank = *rank;
      best_build = build;
    }
  }
  return best;
}

void Chooser::use_wheel(const lock::Package& p, const lock::Artifact& w) {
  Item item;
  item.name = p.name;
  item.version = p.version;
  item.origin = Origin::lock_wheel;
  item.filename = w.filename;
  if (!w.url.empty()) item.url = w.url;
  else item.path = absolute(w.path);
  item.sha256 = w.sha256();
  item.size = w.size;
  if (item.sha256.empty() && !(w.hash.empty() && !item.path.empty())) {
    std::string algo = w.hash.substr(0, w.hash.find(':'));
    std::string why = w.hash.empty()     ? " has no hash"
                      : algo != "sha256" ? " hash is not sha256 (" + algo + ")"
                                         : " hash '" + w.hash + "' is not 64 hexadecimal digits";
    plan_.problems.push_back({p.name,
                              lock_.where(p) + ": package '" + p.name + "': wheel " + w.filename + why +
                                  ", so its download cannot be verified",
                              algo == "sha256" && !w.hash.empty()
                                  ? "re-lock (`uv lock`): the lock was damaged or edited"
                                  : "re-lock against an index that publishes sha256 hashes"});
    return;
  }
  item_names_.insert(item.name);
  plan_.items.push_back(std::move(item));
}

void Chooser::use_pyodide(const target::PyodidePackage& pp, const std::string& name, const std::string& note) {
  if (!item_names_.insert(name).second) return;
  Item item;
  item.name = name;
  item.version = pp.version;
  item.origin = Origin::pyodide;
  item.filename = pp.file_name;
  if (target_.index_url.find("://") != std::string::npos) item.url = target_.index_url + pp.file_name;
  else item.path = (std::filesystem::path(target_.index_url) / pp.file_name).lexically_normal().string();
  item.sha256 = pp.sha256;
  item.note = note;
  plan_.items.push_back(std::move(item));
}

void Chooser::use_source(const lock::Package& p) {
  std::string dir = absolute(p.source.value);
  LocalProject local = context_.local_project ? context_.local_project(dir) : LocalProject{true, {}, {}};
  if (!local.exists) {
    plan_.problems.push_back({p.name,
                              "package '" + p.name + "' is a local project at " + dir + ", which does not exist",
                              "check the path (workspace members, [tool.uv.sources]) and re-run `uv lock`"});
    return;
  }
  if (auto native = native_builder(local); !native.empty()) {
    plan_.problems.push_back(
        {p.name,
         "package '" + p.name + "' is a local project built with " + native +
             " (native code): pybundle vendors local projects from source, which works only for pure Python",
         "build a Pyodide wheel for it with `pyodide build` and depend on that wheel"});
    return;
  }
  Item item;
  item.name = p.name;
  item.version = p.version;
  item.origin = Origin::source;
  item.path = dir;
  item.note = "vendored from source (" + lock::to_string(p.source.kind) + ")";
  item_names_.insert(item.name);
  plan_.items.push_back(std::move(item));
}

std::string Chooser::offers(const lock::Package& p) const {
  std::vector<std::string> families, pyodide_tags, other;
  std::set<std::string> seen;
  for (const auto& w : p.wheels) {
    auto name = wheel::WheelName::try_parse(w.filename);
    if (!name) {
      if (seen.insert(w.filename).second) other.push_back(w.filename);
      continue;
    }
    for (const auto& tag : name->tags) {
      if (is_emscripten_platform(tag.platform)) {
        if (seen.insert(tag.str()).second) pyodide_tags.push_back(tag.str());
      } else if (auto fam = platform_family(tag.platform); !fam.empty()) {
        if (seen.insert(fam).second) families.push_back(fam);
      } else if (seen.insert(tag.str()).second) {
        other.push_back(tag.str());  // e.g. py2-none-any
      }
    }
  }
  std::vector<std::string> parts;
  if (!families.empty()) parts.push_back(listing(families) + " wheels");
  if (!other.empty()) parts.push_back("wheels for " + join(other));
  if (!pyodide_tags.empty()) parts.push_back("Pyodide wheels for another Python or ABI (" + join(pyodide_tags) + ")");
  if (p.sdist) parts.push_back("a source distribution");
  if (parts.empty()) return "the lock has no files for it";
  return "the lock has " + (pyodide_tags.empty() && p.wheels.size() > 0 ? std::string("only ") : "") + listing(parts);
}

std::optional<std::vector<std::string>> Chooser::requirements_of(const lock::Package& d) const {
  auto with_groups = [](std::vector<std::string> reqs, const std::map<std::string, std::vector<std::string>>& groups) {
    for (const auto& [_, g] : groups) reqs.insert(reqs.end(), g.begin(), g.end());
    return reqs;
  };
  if (d.requires_dist) return with_groups(*d.requires_dist, d.requires_dev);
  auto from_project = [&](const project::Project& p) -> std::optional<std::vector<std::string>> {
    if (std::find(p.dynamic.begin(), p.dynamic.end(), "dependencies") != p.dynamic.end()) return std::nullopt;
    std::vector<std::string> reqs = p.dependencies;
    for (const auto& [_, o] : p.optional_dependencies) reqs.insert(reqs.end(), o.begin(), o.end());
    for (const auto& [g, _] : p.dependency_groups) {
      auto expanded = p.group_requirements(g);
      reqs.insert(reqs.end(), expanded.begin(), expanded.end());
    }
    return reqs;
  };
  if (d.source.is_local()) {
    if (is_project_root(project_, d)) return from_project(project_);
    for (const auto& m : project_.members)
      if (pep508::normalize_name(m.name) == d.name) return from_project(m);
    return std::nullopt;
  }
  if (context_.requires_dist) return context_.requires_dist(d.name, d.version);
  return std::nullopt;
}

void Chooser::no_wheel(const lock::Package& p) {
  std::string what = p.name + " " + p.version + ": no wheel in the lock runs on " + target_label() + "; " + offers(p);
  auto it = target_.packages.find(p.name);
  if (it == target_.packages.end() || it->second.package_type == "cpython_module" ||
      it->second.package_type == "shared_library") {
    plan_.problems.push_back(
        {p.name, what + ", and Pyodide " + target_.pyodide_version + " does not ship it", kWheelFix});
    return;
  }
  const target::PyodidePackage& pp = it->second;
  auto lock_version = pep440::Version::try_parse(p.version);
  auto pyodide_version = pep440::Version::try_parse(pp.version);
  bool same = lock_version && pyodide_version ? *lock_version == *pyodide_version : p.version == pp.version;
  if (same) {
    use_pyodide(pp, p.name, "the lock has no wheel for Pyodide; using Pyodide " + target_.pyodide_version + "'s build");
    return;
  }
  // Another version: acceptable only when every dependent's requirement admits it.
  std::vector<std::string> rejected, unknown, accepted;
  const pep508::Environment env = target_.environment();
  std::set<std::string> dependents;
  for (const auto& e : plan_.edges)
    if (e.to == p.name) dependents.insert(e.from);
  for (const auto& from : dependents) {
    std::optional<std::vector<std::string>> reqs;
    std::string label = from;
    pep508::ActiveExtras extras;
    if (from == "<root>") {
      reqs = lock_.requirements;
      for (const auto& [_, g] : lock_.dependency_groups) reqs->insert(reqs->end(), g.begin(), g.end());
      label = "the workspace root";
    } else if (auto c = chosen_.find(from); c != chosen_.end()) {
      reqs = requirements_of(*c->second);
      label = from + " " + c->second->version;
      if (auto x = selected_.extras.find(from); x != selected_.extras.end())
        extras.insert(x->second.begin(), x->second.end());
    }
    if (!reqs) {
      unknown.push_back(label);
      continue;
    }
    for (const auto& text : *reqs) {
      std::optional<pep508::Requirement> req;
      try {
        req = pep508::Requirement::parse(text);
      } catch (const Error&) {
        continue;
      }
      if (req->normalized_name() != p.name) continue;
      if (!req->marker.is_true() && !req->marker.evaluate(env, extras)) continue;
      bool ok = req->url.empty() && pyodide_version && req->specifier.contains(*pyodide_version, true);
      std::string spec = req->url.empty()
                             ? (req->specifier.empty() ? std::string(" (any version)") : req->specifier.str())
                             : " @ " + req->url;
      (ok ? accepted : rejected).push_back(label + " requires " + p.name + spec);
    }
  }
  std::string ships = "Pyodide " + target_.pyodide_version + " ships " + p.name + " " + pp.version;
  if (allow_substitutes && (!rejected.empty() || !unknown.empty())) {
    std::string why =
        !rejected.empty() ? "although " + listing(rejected) : "unchecked: no METADATA for " + listing(unknown);
    plan_.warnings.push_back(p.name + ": using Pyodide's build " + pp.version + " instead of the locked " + p.version +
                             " (--allow-substitutes; " + why + ")");
    use_pyodide(pp, p.name, "lock has " + p.version + ", " + ships + "; --allow-substitutes");
  } else if (!rejected.empty()) {
    plan_.problems.push_back({p.name, what + "; " + ships + ", but " + listing(rejected),
                              "use a Pyodide release that ships " + p.name + " " + p.version +
                                  ", or change the requirements so the lock resolves " + p.name + " " + pp.version +
                                  " (then `uv lock`), or accept it with --allow-substitutes"});
  } else if (!unknown.empty()) {
    plan_.problems.push_back(
        {p.name,
         what + "; " + ships + ", and whether " + listing(unknown) + " accept" + (unknown.size() == 1 ? "s" : "") +
             " it could not be checked (no METADATA available for " + (unknown.size() == 1 ? "it" : "them") + ")",
         std::string(context_.fetches_metadata
                         ? "the index did not give the METADATA either (see the warning above): pin "
                         : "run `pybundle plan --fetch-metadata` to read the dependents' METADATA, or pin ") +
             p.name + "==" + pp.version + " and re-run `uv lock`, or accept it unchecked with --allow-substitutes"});
  } else {
    std::string note = "lock has " + p.version + ", " + ships + (accepted.empty() ? "" : "; " + listing(accepted));
    plan_.warnings.push_back(p.name + ": using Pyodide's build " + pp.version + " instead of the locked " + p.version +
                             " (no wheel in the lock runs on Pyodide)");
    use_pyodide(pp, p.name, note);
  }
}

void Chooser::choose(const lock::Package& p) {
  using lock::SourceKind;
  switch (p.source.kind) {
    case SourceKind::virtual_: return;
    case SourceKind::editable:
    case SourceKind::directory: use_source(p); return;
    case SourceKind::git:
      plan_.problems.push_back({p.name,
                                p.name + " " + p.version + " comes from git (" + p.source.value +
                                    "): only wheels run on Pyodide, and pybundle does not build from source",
                                "build a Pyodide wheel with `pyodide build` and depend on it from an index or a path"});
      return;
    case SourceKind::registry:
    case SourceKind::url:
    case SourceKind::path: break;
  }
  if (const lock::Artifact* w = best_wheel(p)) {
    use_wheel(p, *w);
    return;
  }
  if (p.source.kind == SourceKind::registry) {
    no_wheel(p);
    return;
  }
  std::string from =
      p.source.kind == SourceKind::url ? "a URL (" + p.source.value + ")" : "a local file (" + p.source.value + ")";
  if (p.wheels.empty())
    plan_.problems.push_back({p.name,
                              p.name + " " + p.version + " comes from " + from +
                                  " that is a source archive: only wheels run on Pyodide, and pybundle does not build "
                                  "from source",
                              "build a Pyodide wheel with `pyodide build` and depend on it instead"});
  else
    plan_.problems.push_back(
        {p.name,
         p.name + " " + p.version + " comes from " + from + ": no wheel runs on " + target_label() + "; " + offers(p),
         kWheelFix});
}

void Chooser::stdlib(const std::string& name) {
  auto it = target_.packages.find(name);
  if (it != target_.packages.end() && it->second.package_type == "cpython_module") {
    if (!item_names_.count(name)) plan_.edges.push_back({"<stdlib>", name, ""});
    use_pyodide(it->second, name, "unvendored stdlib module");
    return;
  }
  std::vector<std::string> available;
  for (const auto& [n, pp] : target_.packages)
    if (pp.package_type == "cpython_module") available.push_back(n);
  if (it != target_.packages.end()) {
    plan_.problems.push_back({name,
                              "'" + name + "' is not an unvendored stdlib module of Pyodide " +
                                  target_.pyodide_version + " (it is a " + it->second.package_type + ")",
                              "list it as a project dependency instead"});
    return;
  }
  plan_.problems.push_back(
      {name,
       "Pyodide " + target_.pyodide_version + " ships no separate stdlib module '" + name + "'" +
           (available.empty() ? std::string(" (it ships none separately: its stdlib is complete)")
                              : " (it has " + join(available) + ")"),
       available.empty() ? "remove it from the stdlib list" : "pick one of those, or remove it from the stdlib list"});
}

void Chooser::add_pyodide_dependencies() {
  std::deque<std::string> queue;
  for (const auto& item : plan_.items)
    if (item.origin == Origin::pyodide) queue.push_back(item.name);
  while (!queue.empty()) {
    std::string name = queue.front();
    queue.pop_front();
    auto it = target_.packages.find(name);
    if (it == target_.packages.end()) continue;
    for (const auto& dep : it->second.depends) {
      plan_.edges.push_back({name, dep, "pyodide"});
      if (item_names_.count(dep) || chosen_.count(dep)) continue;  // already served (or reported)
      auto d = target_.packages.find(dep);
      if (d == target_.packages.end()) {
        plan_.problems.push_back({dep,
                                  "Pyodide " + target_.pyodide_version + "'s " + name + " depends on '" + dep +
                                      "', which its pyodide-lock.json does not list",
                                  "report it to the Pyodide distribution; pick another release"});
        continue;
      }
      use_pyodide(d->second, dep, "needed by Pyodide's build of " + name);
      queue.push_back(dep);
    }
  }
}

}  // namespace pb::plan::detail
