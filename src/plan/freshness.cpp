// Is the lock still what pyproject.toml asks for? uv records the requirements it resolved in
// [package.metadata]; it rewrites markers on the way (python_version -> python_full_version,
// simplified by requires-python, split per source), so requirements are compared by what they
// select in a set of sample environments, not by their text.
#include <algorithm>
#include <set>

#include "plan/internal.hpp"
#include "util/error.hpp"

namespace pb::plan {

namespace {

struct Req {
  std::string text;  // for messages
  std::string name;  // normalized
  std::string what;  // extras + specifier (+ url), canonical
  const pep508::Marker* marker = nullptr;
  std::vector<std::string> extras_in_marker;   // extras the marker tests (lock side)
  std::string section;                         // "" = dependencies, else the extra
  std::optional<pep440::SpecifierSet> python;  // group requires-python (pyproject side)
};

std::string canonical_spec(const pep440::SpecifierSet& s) {
  std::vector<std::string> parts;
  for (const auto& spec : s.specs) parts.push_back(spec.str());
  std::sort(parts.begin(), parts.end());
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ",") + p;
  return out;
}

// The `extra == '…'` names a marker mentions (uv writes them quoted with single quotes).
std::vector<std::string> mentioned_extras(const std::string& marker) {
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = marker.find("extra", pos)) != std::string::npos) {
    size_t q = marker.find_first_of("'\"", pos);
    if (q == std::string::npos) break;
    size_t end = marker.find(marker[q], q + 1);
    if (end == std::string::npos) break;
    out.push_back(pep508::normalize_name(marker.substr(q + 1, end - q - 1)));
    pos = end + 1;
  }
  return out;
}

class Comparer {
 public:
  Comparer(const lock::Lock& lock, detail::MarkerCache& markers) : markers_(markers) {
    for (const auto& p : lock.packages)
      if (p.source.kind != lock::SourceKind::registry) sourced_.insert(p.name);
    // Sample environments: every Python minor the lock admits, on the usual platforms.
    std::optional<pep440::SpecifierSet> rp;
    try {
      if (!lock.requires_python.empty()) rp = pep440::SpecifierSet::parse(lock.requires_python);
    } catch (const Error&) {}
    struct Platform {
      const char *sys, *system, *machine, *os;
    };
    static const Platform platforms[] = {
        {"linux", "Linux", "x86_64", "posix"},  {"linux", "Linux", "aarch64", "posix"},
        {"darwin", "Darwin", "arm64", "posix"}, {"darwin", "Darwin", "x86_64", "posix"},
        {"win32", "Windows", "AMD64", "nt"},    {"emscripten", "Emscripten", "wasm32", "posix"}};
    for (int minor = 6; minor <= 16; ++minor) {
      std::string full = "3." + std::to_string(minor) + ".0";
      if (rp && !rp->contains(full, true)) continue;
      for (const auto& pl : platforms) {
        pep508::Environment env{{"python_version", "3." + std::to_string(minor)},
                                {"python_full_version", full},
                                {"sys_platform", pl.sys},
                                {"platform_system", pl.system},
                                {"platform_machine", pl.machine},
                                {"os_name", pl.os},
                                {"implementation_name", "cpython"},
                                {"platform_python_implementation", "CPython"},
                                {"implementation_version", full},
                                {"platform_release", ""},
                                {"platform_version", ""}};
        envs_.push_back(std::move(env));
      }
    }
  }

  std::optional<Req> make(const std::string& text, const std::string& section, bool lock_side) {
    Req r;
    try {
      auto req = pep508::Requirement::parse(text);
      r.text = text;
      r.name = req.normalized_name();
      std::vector<std::string> extras = req.extras;
      std::sort(extras.begin(), extras.end());
      for (const auto& e : extras) r.what += "[" + e + "]";
      // uv lowers [tool.uv.sources] (dropping the specifier) and rewrites URLs (git+…@rev ->
      // git=…?rev=…): for those only the name and extras are comparable.
      if (!sourced_.count(r.name)) r.what += req.url.empty() ? canonical_spec(req.specifier) : " @ URL";
      std::string marker = req.marker.str();
      if (!req.marker.is_true()) r.marker = &markers_.get(marker);
      if (lock_side) r.extras_in_marker = mentioned_extras(marker);
      r.section = section;
    } catch (const Error&) {
      return std::nullopt;
    }
    return r;
  }

  // Facts "section|name|what" true in environment `env`.
  std::set<std::string> facts(const std::vector<Req>& reqs, const pep508::Environment& env) const {
    std::set<std::string> out;
    for (const auto& r : reqs) {
      if (r.python && !r.python->contains(env.at("python_full_version"), true)) continue;
      if (!r.marker) {
        out.insert(r.section + "|" + r.name + "|" + r.what);
        continue;
      }
      if (r.marker->evaluate(env)) {
        out.insert(r.section + "|" + r.name + "|" + r.what);
        continue;
      }
      for (const auto& x : r.extras_in_marker)
        if (r.marker->evaluate(env, {x})) out.insert(x + "|" + r.name + "|" + r.what);
    }
    return out;
  }

  // Differences between the two sides, one line per (section, name).
  void compare(const std::vector<Req>& ours, const std::vector<Req>& theirs, const std::string& label,
               const std::string& lock_name, std::vector<std::string>& out) const {
    std::set<std::string> reported;
    for (const auto& env : envs_) {
      auto a = facts(ours, env), b = facts(theirs, env);
      if (a == b) continue;
      std::vector<std::string> diff;
      std::set_symmetric_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(diff));
      for (const auto& fact : diff) {
        auto bar = fact.find('|');
        std::string section = fact.substr(0, bar);
        std::string name = fact.substr(bar + 1, fact.find('|', bar + 1) - bar - 1);
        if (!reported.insert(section + "|" + name).second) continue;
        auto texts = [&](const std::vector<Req>& side) {
          std::string s;
          for (const auto& r : side)
            if (r.name == name &&
                (r.section == section || std::count(r.extras_in_marker.begin(), r.extras_in_marker.end(), section)))
              s += (s.empty() ? "" : ", ") + r.text;
          return s.empty() ? std::string("nothing") : s;
        };
        std::string where = section.empty() ? label : label + " extra '" + section + "'";
        out.push_back(where + ": pyproject.toml has " + texts(ours) + " for '" + name + "', " + lock_name + " has " +
                      texts(theirs));
      }
    }
  }

  const std::vector<pep508::Environment>& envs() const { return envs_; }

  bool same_python(const std::string& a, const std::string& b) const {
    if (a == b) return true;
    try {
      auto sa = pep440::SpecifierSet::parse(a), sb = pep440::SpecifierSet::parse(b);
      for (int minor = 0; minor <= 20; ++minor)
        for (int patch : {0, 1, 5, 20}) {
          std::string v = "3." + std::to_string(minor) + "." + std::to_string(patch);
          if (sa.contains(v, true) != sb.contains(v, true)) return false;
        }
      return true;
    } catch (const Error&) {
      return false;
    }
  }

 private:
  detail::MarkerCache& markers_;
  std::vector<pep508::Environment> envs_;
  std::set<std::string> sourced_;  // names the lock has from git, URLs, paths or the workspace
};

bool is_dynamic(const project::Project& p, const char* field) {
  return std::find(p.dynamic.begin(), p.dynamic.end(), field) != p.dynamic.end();
}

void compare_project(const project::Project& p, const lock::Package& pkg, const lock::Lock& lock, Comparer& c,
                     std::vector<std::string>& out) {
  const std::string lock_name = project::display_path(lock.file.filename());
  const std::string label = p.name;
  bool deps_dynamic = is_dynamic(p, "dependencies"), extras_dynamic = is_dynamic(p, "optional-dependencies");
  if (pkg.requires_dist && !(deps_dynamic && extras_dynamic)) {
    std::vector<Req> ours, theirs;
    if (!deps_dynamic)
      for (const auto& t : p.dependencies)
        if (auto r = c.make(t, "", false)) ours.push_back(*r);
    if (!extras_dynamic)
      for (const auto& [extra, reqs] : p.optional_dependencies)
        for (const auto& t : reqs)
          if (auto r = c.make(t, extra, false)) ours.push_back(*r);
    for (const auto& t : *pkg.requires_dist)
      if (auto r = c.make(t, "", true)) {
        bool extra_only = !r->extras_in_marker.empty();
        if ((extra_only && extras_dynamic) || (!extra_only && deps_dynamic)) continue;
        theirs.push_back(*r);
      }
    c.compare(ours, theirs, label + " dependencies", lock_name, out);
    if (!extras_dynamic) {
      std::set<std::string> a, b(pkg.provides_extras.begin(), pkg.provides_extras.end());
      for (const auto& [e, _] : p.optional_dependencies) a.insert(e);
      if (!pkg.provides_extras.empty() && a != b)
        out.push_back(label + " extras: pyproject.toml defines " + std::to_string(a.size()) + ", " + lock_name +
                      " has " + std::to_string(b.size()));
    }
  }
  if (pkg.requires_dist) {  // metadata present (revision < 4): groups are recorded too
    std::set<std::string> names;
    for (const auto& [g, _] : p.dependency_groups) names.insert(g);
    for (const auto& [g, _] : pkg.requires_dev) names.insert(g);
    for (const auto& g : names) {
      std::vector<Req> ours, theirs;
      if (p.dependency_groups.count(g)) {
        std::optional<pep440::SpecifierSet> python;
        if (auto it = p.group_requires_python.find(g); it != p.group_requires_python.end()) {
          try {
            python = pep440::SpecifierSet::parse(it->second);
          } catch (const Error&) {}
        }
        for (const auto& t : p.group_requirements(g))
          if (auto r = c.make(t, "", false)) {
            r->python = python;
            ours.push_back(*r);
          }
      }
      if (auto it = pkg.requires_dev.find(g); it != pkg.requires_dev.end())
        for (const auto& t : it->second)
          if (auto r = c.make(t, "", true)) theirs.push_back(*r);
      c.compare(ours, theirs, label + " group '" + g + "'", lock_name, out);
    }
  }
}

// A pylock.toml (PEP 751) records what was resolved, not from what: it is fresh when its
// requires-python, extras and dependency-groups are pyproject's, and every requirement of the
// project, of each extra and of each group the lock lists is met, in every sample environment
// where it applies (and the lock's `environments` admit), by a locked package whose marker holds
// there with that extra or group active.
void check_pylock(const project::Project& p, const lock::Lock& lock, Comparer& c, detail::MarkerCache& markers,
                  std::vector<std::string>& out) {
  const std::string lock_name = project::display_path(lock.file.filename());
  if (!p.requires_python.empty() && !c.same_python(p.requires_python, lock.requires_python))
    out.push_back("requires-python: pyproject.toml has " + p.requires_python + ", " + lock_name + " has " +
                  (lock.requires_python.empty() ? "none" : lock.requires_python));
  auto listed = [](const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  };
  for (const auto& e : lock.pylock_extras)
    if (!p.optional_dependencies.count(e))
      out.push_back("extra '" + e + "': " + lock_name + " has it, pyproject.toml does not define it");
  for (const auto& g : lock.pylock_groups)
    if (!p.dependency_groups.count(g))
      out.push_back("group '" + g + "': " + lock_name + " has it, pyproject.toml does not define it");
  for (const auto& g : lock.pylock_default_groups)
    if (!listed(lock.pylock_groups, g))
      out.push_back("default-groups: '" + g + "' is not in " + lock_name + "'s dependency-groups");

  struct Section {
    std::string label;            // for messages
    pep508::ActiveExtras active;  // the extra or group the lock's markers see
    std::vector<std::string> requirements;
  };
  std::vector<Section> sections;
  if (!is_dynamic(p, "dependencies")) sections.push_back({p.name + " dependencies", {}, p.dependencies});
  for (const auto& [e, reqs] : p.optional_dependencies)
    if (listed(lock.pylock_extras, e)) sections.push_back({p.name + " extra '" + e + "'", {e}, reqs});
  for (const auto& [g, _] : p.dependency_groups)
    if (listed(lock.pylock_groups, g))
      sections.push_back({p.name + " group '" + g + "'", {g}, p.group_requirements(g)});
  std::set<std::string> reported;
  for (const auto& sec : sections) {
    for (const auto& text : sec.requirements) {
      std::optional<pep508::Requirement> req;
      try {
        req = pep508::Requirement::parse(text);
      } catch (const Error&) {
        continue;  // reported where pyproject.toml is read
      }
      auto name = req->normalized_name();
      if (name == pep508::normalize_name(p.name)) continue;  // a self-reference for extras
      for (const auto& env : c.envs()) {
        if (!req->marker.is_true() && !req->marker.evaluate(env)) continue;
        // Only the environments the lock is for (PEP 751 `environments`).
        if (!lock.supported_markers.empty() &&
            std::none_of(lock.supported_markers.begin(), lock.supported_markers.end(),
                         [&](const std::string& m) { return markers.get(m).evaluate(env); }))
          continue;
        std::vector<std::string> present;
        bool met = false;
        for (const auto* pkg : lock.find(name)) {
          const auto& m = pkg->resolution_marker;
          if (!m.empty() && !markers.get(m).evaluate(env, sec.active)) continue;
          present.push_back(pkg->version.empty() ? pkg->name : pkg->name + " " + pkg->version);
          auto v = pep440::Version::try_parse(pkg->version);
          if (!req->url.empty() || req->specifier.empty() || (v && req->specifier.contains(*v, true))) met = true;
        }
        if (met) continue;
        if (reported.insert(sec.label + "|" + name).second)
          out.push_back(sec.label + ": pyproject.toml has " + text + ", " + lock_name + " has " +
                        (present.empty() ? "nothing for '" + name + "'" : present.front()) + " (Python " +
                        env.at("python_version") + ", " + env.at("sys_platform") + ")");
        break;
      }
    }
  }
}

}  // namespace

std::vector<std::string> check_freshness(const project::Project& project, const lock::Lock& lock) {
  std::vector<std::string> out;
  detail::MarkerCache markers;
  Comparer c(lock, markers);
  if (lock.format == lock::Format::pylock) {
    if (project.has_project_table) check_pylock(project, lock, c, markers, out);
    return out;
  }
  const std::string lock_name = project::display_path(lock.file.filename());
  auto local_package = [&](const std::string& name) -> const lock::Package* {
    for (const auto* p : lock.find(pep508::normalize_name(name)))
      if (p->source.is_local()) return p;
    return nullptr;
  };
  if (project.has_project_table && !project.requires_python.empty() && lock.members.size() <= 1 &&
      !c.same_python(project.requires_python, lock.requires_python))
    out.push_back("requires-python: pyproject.toml has " + project.requires_python + ", " + lock_name + " has " +
                  (lock.requires_python.empty() ? "none" : lock.requires_python));

  std::vector<const project::Project*> projects;
  if (project.has_project_table) projects.push_back(&project);
  for (const auto& m : project.members) projects.push_back(&m);
  for (const auto* p : projects) {
    if (p->name.empty()) continue;
    const lock::Package* pkg = local_package(p->name);
    if (!pkg) {
      out.push_back("project '" + p->name + "' is not in " + lock_name);
      continue;
    }
    compare_project(*p, *pkg, lock, c, out);
  }
  // Workspace members: the lock's [manifest] against the member directories found on disk.
  if (!project.workspace_members.empty() || !lock.members.empty()) {
    std::set<std::string> ours, theirs(lock.members.begin(), lock.members.end());
    for (const auto* p : projects) ours.insert(pep508::normalize_name(p->name));
    if (theirs.empty() && ours.size() <= 1) return out;  // a single project records no members
    for (const auto& m : theirs)
      if (!ours.count(m))
        out.push_back("workspace member '" + m + "' is in " + lock_name + " but not in the workspace");
    for (const auto& m : ours)
      if (!theirs.count(m)) out.push_back("workspace member '" + m + "' is not in " + lock_name);
  }
  // A virtual workspace root's own groups are recorded in [manifest].
  if (!project.has_project_table) {
    for (const auto& [g, _] : project.dependency_groups) {
      std::vector<Req> ours, theirs;
      for (const auto& t : project.group_requirements(g))
        if (auto r = c.make(t, "", false)) ours.push_back(*r);
      if (auto it = lock.dependency_groups.find(g); it != lock.dependency_groups.end())
        for (const auto& t : it->second)
          if (auto r = c.make(t, "", true)) theirs.push_back(*r);
      c.compare(ours, theirs, "workspace group '" + g + "'", lock_name, out);
    }
  }
  return out;
}

}  // namespace pb::plan
