// Walking the lock the way `uv sync --frozen` does (crates/uv-resolver/src/lock/installable.rs):
// roots and their extras/groups, then a breadth-first walk whose edge markers are evaluated for the
// target with uv's conflict items (project-N-…, extra-N-…, group-N-…) as active extras.
#include <algorithm>
#include <deque>
#include <tuple>

#include "plan/internal.hpp"
#include "util/error.hpp"

namespace pb::plan::detail {

const pep508::Marker& MarkerCache::get(const std::string& text) {
  auto it = cache_.find(text);
  if (it == cache_.end()) it = cache_.emplace(text, pep508::Marker::parse(text)).first;
  return it->second;
}

std::string encode_project(const std::string& package) {
  return "project-" + std::to_string(package.size()) + "-" + package;
}
std::string encode_extra(const std::string& package, const std::string& extra) {
  return "extra-" + std::to_string(package.size()) + "-" + package + "-" + extra;
}
std::string encode_group(const std::string& package, const std::string& group) {
  return "group-" + std::to_string(package.size()) + "-" + package + "-" + group;
}

bool is_project_root(const project::Project& project, const lock::Package& package) {
  return project.has_project_table && package.source.is_local() && package.name == pep508::normalize_name(project.name);
}

namespace {

using lock::Dependency;
using lock::Package;
using PkgExtra = std::pair<std::string, std::string>;  // (package, extra)

std::string join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

// "a, b", or "it has none" rather than "()".
std::string listing(const std::vector<std::string>& names) {
  return names.empty() ? "it has none" : join(names);
}

// The groups a selection includes (uv's DependencyGroupsWithDefaults).
struct Groups {
  bool all = false;
  std::set<std::string> include, exclude;
  bool prod = true;  // false with --only-group: the roots' own dependencies are left out
  bool contains(const std::string& g) const { return (all || include.count(g)) && !exclude.count(g); }
};

Groups resolve_groups(const Selection& s, bool defaults_all, const std::vector<std::string>& defaults) {
  Groups g;
  g.prod = s.only_groups.empty();
  if (s.all_groups) {
    g.all = true;
  } else {
    for (const auto& n : s.groups) g.include.insert(pep508::normalize_name(n));
    for (const auto& n : s.only_groups) g.include.insert(pep508::normalize_name(n));
    if (!s.no_default_groups && s.only_groups.empty()) {
      if (defaults_all) g.all = true;
      else g.include.insert(defaults.begin(), defaults.end());
    }
  }
  if (s.no_dev) g.exclude.insert("dev");
  return g;
}

void raise(const std::vector<std::string>& errors) {
  if (errors.size() == 1) throw Error(errors.front(), Exit::usage);
  if (!errors.empty()) throw Errors(errors, Exit::usage);
}

class Walker {
 public:
  Walker(const lock::Lock& lock, const pep508::Environment& env, MarkerCache& markers)
      : lock_(lock), env_(env), markers_(markers) {
    for (size_t i = 0; i < lock.packages.size(); ++i) by_name_[lock.packages[i].name].push_back(i);
  }

  const Package& pkg(size_t i) const { return lock_.packages[i]; }

  // The locked package a dependency edge points at; npos when the lock has none.
  size_t resolve(const Dependency& d) const {
    auto it = by_name_.find(d.name);
    if (it == by_name_.end()) return npos;
    if (it->second.size() == 1) return it->second.front();
    for (size_t i : it->second) {
      const Package& p = pkg(i);
      if (d.version && p.version != *d.version) continue;
      if (d.source && !(p.source == *d.source)) continue;
      return i;
    }
    return npos;
  }

  // A root or a manifest requirement by name: the local project first, else the fork whose
  // resolution markers admit the target.
  size_t by_name(const std::string& name) const {
    auto it = by_name_.find(name);
    if (it == by_name_.end()) return npos;
    for (size_t i : it->second)
      if (pkg(i).source.is_local()) return i;
    for (size_t i : it->second) {
      const auto& forks = pkg(i).resolution_markers;
      if (forks.empty() ||
          std::any_of(forks.begin(), forks.end(), [&](const std::string& m) { return markers_.get(m).possible(env_); }))
        return i;
    }
    return it->second.front();
  }

  bool eval(const std::string& marker, const pep508::ActiveExtras& active) {
    return marker.empty() || markers_.get(marker).evaluate(env_, active);
  }

  static constexpr size_t npos = static_cast<size_t>(-1);

 private:
  const lock::Lock& lock_;
  const pep508::Environment& env_;
  MarkerCache& markers_;
  std::unordered_map<std::string, std::vector<size_t>> by_name_;
};

// The extras and groups a root package defines.
std::set<std::string> extras_of(const Package& p) {
  std::set<std::string> out(p.provides_extras.begin(), p.provides_extras.end());
  for (const auto& [e, _] : p.optional_dependencies) out.insert(e);
  return out;
}
std::set<std::string> groups_of(const Package& p) {
  std::set<std::string> out;
  for (const auto& [g, _] : p.dev_dependencies) out.insert(g);
  for (const auto& [g, _] : p.requires_dev) out.insert(g);
  return out;
}

std::string describe(const lock::ConflictItem& c) {
  if (c.extra) return "extra '" + *c.extra + "' of " + c.package;
  if (c.group) return "group '" + *c.group + "' of " + c.package;
  return "project " + c.package;
}

}  // namespace

Selected select_uv(const project::Project& project, const lock::Lock& lock, const pep508::Environment& env,
                   const Selection& selection, MarkerCache& markers) {
  Walker w(lock, env, markers);
  Selected out;
  std::vector<std::string> errors;

  // Roots: the project, chosen members, or every member of a virtual workspace root.
  std::string project_name = project.has_project_table ? pep508::normalize_name(project.name) : "";
  std::vector<std::string> root_names;
  if (selection.all_packages) {
    root_names = lock.members;
    if (root_names.empty() && !project_name.empty()) root_names.push_back(project_name);
  } else if (!selection.packages.empty()) {
    for (const auto& raw : selection.packages) {
      auto n = pep508::normalize_name(raw);
      bool member = n == project_name || std::find(lock.members.begin(), lock.members.end(), n) != lock.members.end();
      if (!member)
        errors.push_back("--package " + raw + ": not a workspace member" +
                         (lock.members.empty() ? std::string(" (this lock has no workspace members)")
                                               : " (members: " + join(lock.members) + ")"));
      else root_names.push_back(n);
    }
  } else if (!project_name.empty()) {
    root_names.push_back(project_name);
  } else {
    root_names = lock.members;
  }
  std::vector<size_t> roots;
  for (const auto& n : root_names) {
    size_t i = w.by_name(n);
    if (i == Walker::npos)
      errors.push_back(project::display_path(lock.file) + " has no package '" + n +
                       "' for the project: the lock is out of date, " + lock.relock());
    else roots.push_back(i);
  }
  raise(errors);
  for (size_t r : roots) out.roots.push_back(w.pkg(r).name);

  // Extras and groups, checked against what the roots define.
  // uv takes default-groups from the project being synced: a --package member's own pyproject.
  const project::Project* defaults_from = &project;
  if (selection.packages.size() == 1)
    for (const auto& m : project.members)
      if (pep508::normalize_name(m.name) == pep508::normalize_name(selection.packages[0])) defaults_from = &m;
  std::vector<std::string> default_groups = defaults_from->default_groups.value_or(std::vector<std::string>{"dev"});
  Groups groups = resolve_groups(selection, defaults_from->default_groups_all, default_groups);
  std::set<std::string> defined_extras, defined_groups;
  for (size_t r : roots) {
    auto e = extras_of(w.pkg(r));
    defined_extras.insert(e.begin(), e.end());
    auto g = groups_of(w.pkg(r));
    defined_groups.insert(g.begin(), g.end());
  }
  for (const auto& [g, _] : lock.dependency_groups) defined_groups.insert(g);
  if (project.has_project_table)
    for (const auto& [g, _] : project.dependency_groups) defined_groups.insert(g);
  std::set<std::string> wanted_extras;
  for (const auto& raw : selection.extras) {
    auto e = pep508::normalize_name(raw);
    if (!defined_extras.count(e))
      errors.push_back("extra '" + raw + "' is not defined by " + join(out.roots) +
                       (defined_extras.empty()
                            ? " (it has no optional dependencies)"
                            : " (extras: " + join({defined_extras.begin(), defined_extras.end()}) + ")"));
    wanted_extras.insert(e);
  }
  std::vector<std::string> requested_groups = selection.groups;
  requested_groups.insert(requested_groups.end(), selection.only_groups.begin(), selection.only_groups.end());
  for (const auto& raw : requested_groups) {
    if (!defined_groups.count(pep508::normalize_name(raw)))
      errors.push_back("group '" + raw + "' is not defined in [dependency-groups]" +
                       (defined_groups.empty()
                            ? std::string()
                            : " (groups: " + join({defined_groups.begin(), defined_groups.end()}) + ")"));
  }
  raise(errors);
  auto root_extras = [&](const Package& p) {
    std::vector<std::string> v;
    for (const auto& e : extras_of(p))
      if (selection.all_extras || wanted_extras.count(e)) v.push_back(e);
    return v;
  };

  // Conflicting extras/groups chosen together (uv's detect_conflicts).
  for (const auto& set : lock.conflicts) {
    std::vector<const lock::ConflictItem*> chosen;
    for (const auto& item : set) {
      if (std::find(out.roots.begin(), out.roots.end(), item.package) == out.roots.end()) continue;
      bool on = item.extra   ? (selection.all_extras || wanted_extras.count(*item.extra) > 0)
                : item.group ? groups.contains(*item.group)
                             : groups.prod;
      if (on) chosen.push_back(&item);
    }
    if (chosen.size() >= 2) {
      std::string msg = describe(*chosen[0]) + " and " + describe(*chosen[1]) +
                        " are declared as conflicting ([tool.uv] conflicts) and cannot be chosen together";
      for (const auto* c : chosen)
        if (c->group && !selection.all_groups &&
            std::none_of(requested_groups.begin(), requested_groups.end(),
                         [&](const std::string& r) { return pep508::normalize_name(r) == *c->group; }))
          msg += " (group '" + *c->group + "' is on by default: use --no-default-groups or --no-dev)";
      errors.push_back(msg);
    }
  }
  raise(errors);

  // Activated conflict items.
  std::set<std::string> projects;
  std::set<PkgExtra> extras;
  std::set<PkgExtra> group_items;
  for (size_t r : roots) {
    const Package& p = w.pkg(r);
    if (groups.prod) {
      projects.insert(p.name);
      for (const auto& e : root_extras(p)) extras.insert({p.name, e});
    }
    for (const auto& g : groups_of(p))
      if (groups.contains(g)) group_items.insert({p.name, g});
  }
  auto encode = [&](const std::set<PkgExtra>& more) {
    pep508::ActiveExtras a;
    for (const auto& p : projects) a.insert(encode_project(p));
    for (const auto& [p, e] : extras) a.insert(encode_extra(p, e));
    for (const auto& [p, e] : more) a.insert(encode_extra(p, e));
    for (const auto& [p, g] : group_items) a.insert(encode_group(p, g));
    return a;
  };
  auto newly = [&](const Dependency& d) {
    std::set<PkgExtra> s;
    for (const auto& e : d.extras)
      if (!extras.count({d.name, e})) s.insert({d.name, e});
    return s;
  };

  using Node = std::pair<size_t, std::string>;  // (package, extra or "")
  std::vector<Node> start;
  std::set<std::tuple<std::string, std::string, std::string>> edge_seen;
  auto add_edge = [&](const std::string& from, const std::string& to, const std::string& via) {
    if (edge_seen.insert({from, to, via}).second) out.edges.push_back({from, to, via});
  };
  auto unresolved = [&](const std::string& from, const Dependency& d) {
    out.problems.push_back({d.name,
                            project::display_path(lock.file) + ": " + from + " depends on '" + d.name +
                                "' which the lock does not contain (is the lock corrupt or hand-edited?)",
                            lock.relock()});
  };

  for (size_t r : roots) {
    const Package& p = w.pkg(r);
    if (groups.prod) {
      out.installed_roots.insert(r);
      start.push_back({r, ""});
      for (const auto& e : root_extras(p)) start.push_back({r, e});
    }
    for (const auto& [g, deps] : p.dev_dependencies) {
      if (!groups.contains(g)) continue;
      for (const auto& d : deps) {
        auto more = newly(d);
        if (!w.eval(d.marker, encode(more))) {
          out.dropped.push_back({p.name, d.name, d.marker});
          continue;
        }
        size_t to = w.resolve(d);
        if (to == Walker::npos) {
          unresolved(p.name, d);
          continue;
        }
        extras.insert(more.begin(), more.end());
        add_edge(p.name, d.name, "group " + g);
        start.push_back({to, ""});
        for (const auto& e : d.extras) start.push_back({to, e});
      }
    }
  }
  // Requirements and groups of a non-project workspace root ([manifest]).
  auto manifest_requirement = [&](const std::string& text, const std::string& via) {
    auto req = pep508::Requirement::parse(text);
    if (!req.marker.evaluate(env)) return;
    auto name = req.normalized_name();
    size_t to = w.by_name(name);
    if (to == Walker::npos) {
      unresolved("the workspace root", Dependency{name, {}, {}, {}, {}});
      return;
    }
    if (std::find(out.roots.begin(), out.roots.end(), "<root>") == out.roots.end()) out.roots.push_back("<root>");
    add_edge("<root>", name, via);
    start.push_back({to, ""});
    for (const auto& e : req.extras) {
      extras.insert({name, e});
      start.push_back({to, e});
    }
  };
  for (const auto& text : lock.requirements) manifest_requirement(text, "");
  for (const auto& [g, reqs] : lock.dependency_groups)
    if (groups.contains(g))
      for (const auto& text : reqs) manifest_requirement(text, "group " + g);

  auto deps_of = [&](const Node& n) -> const std::vector<Dependency>& {
    static const std::vector<Dependency> none;
    const Package& p = w.pkg(n.first);
    if (n.second.empty()) return p.dependencies;
    auto it = p.optional_dependencies.find(n.second);
    return it == p.optional_dependencies.end() ? none : it->second;
  };

  // With conflicts, markers may depend on extras activated anywhere in the graph: grow the
  // activated set until a walk activates nothing new (uv's first traversal).
  if (!lock.conflicts.empty()) {
    for (int round = 0; round < 64; ++round) {
      auto active = encode({});
      std::set<Node> seen(start.begin(), start.end());
      std::deque<Node> queue(start.begin(), start.end());
      std::set<PkgExtra> found;
      while (!queue.empty()) {
        Node n = queue.front();
        queue.pop_front();
        for (const auto& d : deps_of(n)) {
          auto more = newly(d);
          pep508::ActiveExtras a = active;
          for (const auto& [p, e] : more) a.insert(encode_extra(p, e));
          if (!w.eval(d.marker, a)) continue;
          found.insert(more.begin(), more.end());
          size_t to = w.resolve(d);
          if (to == Walker::npos) continue;
          if (seen.insert({to, ""}).second) queue.push_back({to, ""});
          for (const auto& e : d.extras)
            if (seen.insert({to, e}).second) queue.push_back({to, e});
        }
      }
      size_t before = extras.size();
      extras.insert(found.begin(), found.end());
      if (extras.size() == before) break;
    }
    for (const auto& set : lock.conflicts) {
      std::vector<const lock::ConflictItem*> on;
      for (const auto& item : set)
        if (item.extra && extras.count({item.package, *item.extra})) on.push_back(&item);
      if (on.size() >= 2)
        errors.push_back(describe(*on[0]) + " and " + describe(*on[1]) +
                         " are declared as conflicting ([tool.uv] conflicts), but the selected dependencies need both");
    }
    raise(errors);
  }

  // The walk that decides.
  auto active = encode({});
  std::set<Node> seen(start.begin(), start.end());
  std::deque<Node> queue(start.begin(), start.end());
  std::set<size_t> reached;
  for (const auto& n : start) reached.insert(n.first);
  for (size_t r : roots)
    if (!out.installed_roots.count(r)) reached.erase(r);
  for (const auto& n : start)
    if (!n.second.empty()) out.extras[w.pkg(n.first).name].insert(n.second);
  while (!queue.empty()) {
    Node n = queue.front();
    queue.pop_front();
    const Package& from = w.pkg(n.first);
    for (const auto& d : deps_of(n)) {
      if (!w.eval(d.marker, active)) {
        out.dropped.push_back({from.name, d.name, d.marker});
        continue;
      }
      size_t to = w.resolve(d);
      if (to == Walker::npos) {
        unresolved(from.name, d);
        continue;
      }
      add_edge(from.name, d.name, n.second.empty() ? "" : "extra " + n.second);
      reached.insert(to);
      if (seen.insert({to, ""}).second) queue.push_back({to, ""});
      for (const auto& e : d.extras) {
        out.extras[d.name].insert(e);
        if (seen.insert({to, e}).second) queue.push_back({to, e});
      }
    }
  }
  out.packages.assign(reached.begin(), reached.end());
  return out;
}

Selected select_pylock(const project::Project& project, const lock::Lock& lock, const pep508::Environment& env,
                       const Selection& selection, MarkerCache& markers) {
  Selected out;
  std::vector<std::string> errors;
  if (!selection.packages.empty() || selection.all_packages)
    errors.push_back("--package and --all-packages need a uv.lock (a pylock.toml has no workspace)");
  Groups groups = resolve_groups(selection, false, lock.pylock_default_groups);
  pep508::ActiveExtras active;
  for (const auto& raw : selection.extras) {
    auto e = pep508::normalize_name(raw);
    if (std::find(lock.pylock_extras.begin(), lock.pylock_extras.end(), e) == lock.pylock_extras.end())
      errors.push_back("extra '" + raw + "' is not in the lock's extras (" + listing(lock.pylock_extras) + ")");
    active.insert(e);
  }
  if (selection.all_extras) active.insert(lock.pylock_extras.begin(), lock.pylock_extras.end());
  std::vector<std::string> requested = selection.groups;
  requested.insert(requested.end(), selection.only_groups.begin(), selection.only_groups.end());
  for (const auto& raw : requested)
    if (std::find(lock.pylock_groups.begin(), lock.pylock_groups.end(), pep508::normalize_name(raw)) ==
        lock.pylock_groups.end())
      errors.push_back("group '" + raw + "' is not in the lock's dependency-groups (" + listing(lock.pylock_groups) +
                       ")");
  raise(errors);
  for (const auto& g : lock.pylock_groups)
    if (groups.contains(g)) active.insert(g);

  // --only-group: the groups' requirements and what they depend on, by name.
  std::set<std::string> from_groups;
  if (!groups.prod) {
    std::deque<std::string> queue;
    for (const auto& g : lock.pylock_groups)
      if (groups.contains(g) && project.dependency_groups.count(g))
        for (const auto& text : project.group_requirements(g)) {
          auto req = pep508::Requirement::parse(text);
          if (req.marker.evaluate(env) && from_groups.insert(req.normalized_name()).second)
            queue.push_back(req.normalized_name());
        }
    while (!queue.empty()) {
      auto name = queue.front();
      queue.pop_front();
      for (const auto* p : lock.find(name))
        for (const auto& d : p->dependencies)
          if (from_groups.insert(d.name).second) queue.push_back(d.name);
    }
  }
  const pep508::ActiveExtras none;
  std::set<std::string> selected;
  for (size_t i = 0; i < lock.packages.size(); ++i) {
    const auto& p = lock.packages[i];
    const auto& m = p.resolution_marker;
    if (!m.empty() && !markers.get(m).evaluate(env, active)) {
      out.dropped.push_back({"<root>", p.name, m});
      continue;
    }
    // Without the project's dependencies, a package the groups neither need nor reach is not selected.
    if (!groups.prod && !from_groups.count(p.name) && (m.empty() || markers.get(m).evaluate(env, none))) continue;
    out.packages.push_back(i);
    selected.insert(p.name);
  }
  // pylock dependencies are informational; they give `why` its paths.
  std::set<std::string> depended;
  for (size_t i : out.packages)
    for (const auto& d : lock.packages[i].dependencies)
      if (selected.count(d.name)) {
        out.edges.push_back({lock.packages[i].name, d.name, ""});
        depended.insert(d.name);
      }
  for (size_t i : out.packages)
    if (!depended.count(lock.packages[i].name)) out.edges.push_back({"<root>", lock.packages[i].name, ""});
  out.roots.push_back("<root>");
  return out;
}

}  // namespace pb::plan::detail
