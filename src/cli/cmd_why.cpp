// `pybundle why PKG [DIR]`: the dependency paths from a root to PKG for the target; when PKG is
// not needed, why not (a marker false on Pyodide, or only wanted by unselected extras/groups).
//
// JSON output: {"package": str, "version": str|null, "needed": bool,
//               "paths": [[{"name": str, "via": str}]],   // root first; via: "", "extra X", "group G"
//               "dropped": [{"from": str, "marker": str}],  // edges whose marker is false here
//               "wanted_by": [str],                         // unselected extras/groups that want it
//               "problem": str|null}                        // why plan cannot serve it (as plan says)
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/planning.hpp"
#include "cli/reporter.hpp"
#include "pep508/requirement.hpp"
#include "util/error.hpp"

namespace pb::cli {

namespace {

std::string via_of(const plan::Plan& plan, const std::string& from, const std::string& to) {
  for (const auto& e : plan.edges)
    if (e.from == from && e.to == to) return e.via;
  return {};
}

// Who in the lock would want `name` under other extras or groups.
std::vector<std::string> wanted_by(const lock::Lock& lock, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& p : lock.packages) {
    for (const auto& [extra, deps] : p.optional_dependencies)
      for (const auto& d : deps)
        if (d.name == name) out.push_back(p.name + " (extra " + extra + ")");
    for (const auto& [group, deps] : p.dev_dependencies)
      for (const auto& d : deps)
        if (d.name == name) out.push_back(p.name + " (group " + group + ")");
  }
  return out;
}

}  // namespace

void run_why(const std::string& package, const PlanOptions& options) {
  TerminalReporter reporter;
  build::Planned p = build::run_plan(resolved(options), reporter);
  const std::string pkg = pep508::normalize_name(package);
  const auto& plan = p.plan;
  auto paths = plan::paths_to(plan, pkg);
  bool needed = plan.find(pkg) != nullptr || !paths.empty();
  bool in_lock = !p.lock.find(pkg).empty() || plan.find(pkg);
  std::string version;
  if (const auto* item = plan.find(pkg)) version = item->version;
  // A needed package the plan cannot serve has no plan item: its locked version, and plan's reason.
  const plan::Problem* problem = nullptr;
  for (const auto& pr : plan.problems)
    if (pr.package == pkg && !problem) problem = &pr;
  if (auto locked = p.lock.find(pkg); version.empty() && locked.size() == 1) version = locked.front()->version;
  std::vector<const plan::Dropped*> dropped;
  for (const auto& d : plan.dropped)
    if (d.to == pkg) dropped.push_back(&d);
  auto wanted = needed ? std::vector<std::string>{} : wanted_by(p.lock, pkg);
  // Before any output: with --format json this failure is the {"ok": false, ...} object, not a result.
  if (!in_lock) throw Error(pkg + " is not in " + project::display_path(p.lock.file), Exit::problems);

  if (global().format == Format::json) {
    using nlohmann::json;
    json jpaths = json::array();
    for (const auto& path : paths) {
      json jp = json::array();
      for (size_t i = 0; i < path.size(); ++i)
        jp.push_back({{"name", path[i]}, {"via", i ? via_of(plan, path[i - 1], path[i]) : ""}});
      jpaths.push_back(jp);
    }
    json jdropped = json::array();
    for (const auto* d : dropped) jdropped.push_back({{"from", d->from}, {"marker", d->marker}});
    print_json(json{{"package", pkg},
                    {"version", version.empty() ? json(nullptr) : json(version)},
                    {"needed", needed},
                    {"paths", jpaths},
                    {"dropped", jdropped},
                    {"wanted_by", wanted},
                    {"problem", problem ? json(problem->message) : json(nullptr)}});
  } else if (needed) {
    std::cout << pkg << (version.empty() ? "" : " " + version) << " is needed for Pyodide " << p.target.pyodide_version
              << " by:\n";
    for (const auto& path : paths) {
      std::cout << "  ";
      for (size_t i = 0; i < path.size(); ++i) {
        if (i) {
          auto via = via_of(plan, path[i - 1], path[i]);
          std::cout << (via.empty() ? " → " : " →(" + via + ") ");
        }
        std::cout << path[i];
      }
      std::cout << "\n";
    }
    if (problem) std::cout << "but it cannot be served: " << problem->message << "\n";
  } else if (in_lock) {
    std::cout << pkg << " is in " << project::display_path(p.lock.file) << " but not needed for Pyodide "
              << p.target.pyodide_version << ":\n";
    for (const auto* d : dropped) std::cout << "  " << d->from << " → " << pkg << " only when " << d->marker << "\n";
    if (dropped.empty() && !wanted.empty()) {
      std::cout << "  wanted only by extras or groups not selected:\n";
      for (const auto& w : wanted) std::cout << "    " << w << "\n";
    }
  }
  if (!needed) throw Error(pkg + " is not needed for this selection and target", Exit::problems);
}

}  // namespace pb::cli
