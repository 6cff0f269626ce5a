// make_plan: target checks, the walk (select.cpp), then one file per package (choose.cpp).
#include "plan/plan.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <queue>
#include <tuple>

#include "plan/choose.hpp"
#include "plan/internal.hpp"
#include "util/error.hpp"

namespace pb::plan {

std::string to_string(Origin origin) {
  switch (origin) {
    case Origin::lock_wheel: return "lock-wheel";
    case Origin::pyodide: return "pyodide";
    case Origin::source: return "source";
  }
  return "unknown";
}

const Item* Plan::find(const std::string& name) const {
  auto it = std::lower_bound(items.begin(), items.end(), name,
                             [](const Item& i, const std::string& n) { return i.name < n; });
  return it != items.end() && it->name == name ? &*it : nullptr;
}

namespace {

std::string join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

// The lock (and project) must admit the target's Python and platform at all.
void check_target(const project::Project& project, const lock::Lock& lock, const target::Target& target,
                  const pep508::Environment& env, detail::MarkerCache& markers, Plan& plan) {
  const std::string shown = project::display_path(lock.file);
  auto python = pep440::Version::try_parse(target.python_version);
  auto check_python = [&](const std::string& spec, const std::string& where, const std::string& fix) {
    if (spec.empty() || !python) return;
    if (!pep440::SpecifierSet::parse(spec).contains(*python, true))
      plan.problems.push_back({"",
                               where + " requires-python " + spec + " excludes Python " + target.python_version +
                                   " of Pyodide " + target.pyodide_version,
                               fix});
  };
  check_python(
      lock.requires_python, shown + ":",
      "pick a Pyodide release whose Python the project supports, or widen requires-python and re-run `uv lock`");
  if (project.has_project_table && project.requires_python != lock.requires_python)
    check_python(project.requires_python, project::display_path(project.file) + ":",
                 "pick a Pyodide release whose Python the project supports, or widen requires-python");
  auto admits = [&](const std::vector<std::string>& list) {
    return list.empty() ||
           std::any_of(list.begin(), list.end(), [&](const std::string& m) { return markers.get(m).possible(env); });
  };
  if (!admits(lock.supported_markers))
    plan.problems.push_back({"",
                             shown + ": the lock supports only " + join(lock.supported_markers, " | ") +
                                 ", which excludes Pyodide (sys_platform == 'emscripten')",
                             "add \"sys_platform == 'emscripten'\" to [tool.uv] environments and re-run `uv lock`"});
  if (!admits(lock.resolution_markers))
    plan.problems.push_back({"",
                             shown + ": the lock was resolved only for " + join(lock.resolution_markers, " | ") +
                                 ", none of which matches Pyodide " + target.pyodide_version,
                             "re-run `uv lock`"});
}

std::vector<std::string> required_by(const Plan& plan, const std::string& name, const std::vector<std::string>& roots) {
  std::vector<std::string> out;
  for (const auto& e : plan.edges)
    if (e.to == name && std::find(out.begin(), out.end(), e.from) == out.end()) out.push_back(e.from);
  if (std::find(roots.begin(), roots.end(), name) != roots.end()) out.insert(out.begin(), "<root>");
  return out;
}

}  // namespace

Plan make_plan(const project::Project& project, const lock::Lock& lock, const target::Target& target,
               const Selection& selection, const Context& context) {
  Plan plan;
  detail::MarkerCache markers;
  const pep508::Environment env = target.environment();
  check_target(project, lock, target, env, markers, plan);

  detail::Selected sel = lock.format == lock::Format::pylock
                             ? detail::select_pylock(project, lock, env, selection, markers)
                             : detail::select_uv(project, lock, env, selection, markers);
  plan.roots = sel.roots;
  plan.edges = std::move(sel.edges);
  plan.dropped = std::move(sel.dropped);
  plan.problems.insert(plan.problems.end(), sel.problems.begin(), sel.problems.end());
  for (const auto& w : lock.warnings) plan.warnings.push_back(w);

  // A name reached twice at different versions cannot be installed side by side.
  std::map<std::string, std::vector<size_t>> by_name;
  for (size_t i : sel.packages) by_name[lock.packages[i].name].push_back(i);

  detail::Chooser chooser(project, lock, target, context, plan, sel);
  chooser.allow_substitutes = selection.allow_substitutes;
  for (const auto& [name, indexes] : by_name) {
    if (indexes.size() > 1) {
      std::vector<std::string> versions, places;
      for (size_t i : indexes) {
        versions.push_back(lock.packages[i].version);
        places.push_back(lock.where(lock.packages[i]));
      }
      plan.problems.push_back({name,
                               "the lock selects " + name + " at " + join(versions, " and ") + " (" +
                                   join(places, ", ") + ") for this target; only one can be installed",
                               lock.format == lock::Format::pylock
                                   ? lock.relock() + " (two of its entries' markers hold on Pyodide)"
                                   : "re-run `uv lock` (the lock's forks overlap for Pyodide)"});
      continue;
    }
    const lock::Package& p = lock.packages[indexes.front()];
    if (detail::is_project_root(project, p)) continue;          // the app itself
    if (p.source.kind == lock::SourceKind::virtual_) continue;  // nothing to install
    chooser.choose(p);
  }
  for (const auto& name : selection.stdlib) chooser.stdlib(pep508::normalize_name(name));
  chooser.add_pyodide_dependencies();

  if (target.index_url.empty() &&
      std::any_of(plan.items.begin(), plan.items.end(), [](const Item& i) { return i.origin == Origin::pyodide; }))
    plan.problems.push_back(
        {"",
         "Pyodide " + target.pyodide_version + "'s runtime (" + target.runtime_dir.string() +
             ") names no index URL for its own packages, and some are needed",
         "set [tool.pybundle] pyodide-index to the distribution's URL or a local full distribution"});
  for (auto& item : plan.items) {
    auto by = required_by(plan, item.name, plan.roots);
    if (!by.empty() || item.required_by.empty()) item.required_by = by;
  }
  std::sort(plan.items.begin(), plan.items.end(), [](const Item& a, const Item& b) { return a.name < b.name; });
  return plan;
}

std::vector<std::vector<std::string>> paths_to(const Plan& plan, const std::string& name, size_t limit) {
  // Best-first from the package back to the roots over reversed edges, ordered by the length a
  // path can at best reach (its length so far plus the head's distance from the nearest root, one
  // breadth-first pass): the shortest paths come out first, and a deep diamond (millions of paths)
  // costs no more than the few paths asked for.
  std::multimap<std::string, std::string> parents, children;
  for (const auto& e : plan.edges) {
    parents.emplace(e.to, e.from);
    children.emplace(e.from, e.to);
  }
  auto is_root = [&](const std::string& n) {
    return n.front() == '<' || std::find(plan.roots.begin(), plan.roots.end(), n) != plan.roots.end();
  };
  std::map<std::string, size_t> from_root;
  std::deque<std::string> bfs;
  for (const auto& e : plan.edges)
    if (is_root(e.from) && from_root.emplace(e.from, 0).second) bfs.push_back(e.from);
  if (is_root(name) && from_root.emplace(name, 0).second) bfs.push_back(name);
  while (!bfs.empty()) {
    auto n = bfs.front();
    bfs.pop_front();
    auto [lo, hi] = children.equal_range(n);
    for (auto it = lo; it != hi; ++it)
      if (from_root.emplace(it->second, from_root[n] + 1).second) bfs.push_back(it->second);
  }
  // Among equal bounds the longest partial path first: it completes a path at once, where
  // breadth-first would first extend all 2^depth partial paths of a diamond.
  struct Partial {
    size_t bound, seq;
    std::vector<std::string> path;  // root-most first
    bool operator<(const Partial& o) const {
      return std::make_tuple(bound, o.path.size(), seq) > std::make_tuple(o.bound, path.size(), o.seq);
    }
  };
  std::priority_queue<Partial> queue;
  size_t seq = 0;
  auto push = [&](std::vector<std::string> path) {
    auto d = from_root.find(path.front());
    if (d != from_root.end()) queue.push({path.size() + d->second, seq++, std::move(path)});
  };
  push({name});
  std::vector<std::vector<std::string>> out;
  for (size_t pops = 0; !queue.empty() && out.size() < limit && pops < 1000000; ++pops) {
    auto path = queue.top().path;
    queue.pop();
    const std::string head = path.front();
    if (is_root(head)) {
      out.push_back(std::move(path));
      continue;
    }
    auto [lo, hi] = parents.equal_range(head);
    for (auto it = lo; it != hi; ++it) {
      if (std::find(path.begin(), path.end(), it->second) != path.end()) continue;
      auto next = path;
      next.insert(next.begin(), it->second);
      push(std::move(next));
    }
  }
  return out;
}

}  // namespace pb::plan
