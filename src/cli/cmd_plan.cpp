// `pybundle plan [DIR]`: every package the target needs, the file chosen for each, and every
// package that cannot be served, with the reason. Exit 1 when any package cannot be served.
//
// JSON output (`--format json`), schema 1. Keys are always present; optional values are null.
// {
//   "schema": 1,
//   "ok": bool,                          // no problems
//   "project": {"name": str, "dir": str},
//   "lock": {"file": str, "format": "uv"|"pylock", "version": int, "revision": int,
//            "fresh": bool|null,         // null with --frozen (not checked)
//            "stale": [str]},            // one line per difference with pyproject.toml
//   "target": {"pyodide": str, "python": str, "abi": str, "platform": str, "index_url": str},
//   "selection": {"packages": [str], "all_packages": bool, "extras": [str], "all_extras": bool,
//                 "groups": [str], "all_groups": bool, "only_groups": [str], "no_dev": bool,
//                 "no_default_groups": bool, "stdlib": [str], "allow_substitutes": bool},
//                                      // as planned: no_dev is true unless --dev or --group dev
//   "roots": [str],                      // root packages; "<root>" = a workspace root's own needs
//   "packages": [{                       // sorted by name
//       "name": str, "version": str,
//       "origin": "lock-wheel"|"pyodide"|"source",
//       "filename": str|null,            // the wheel (null for source)
//       "url": str|null, "path": str|null,  // where it comes from (one of the two)
//       "sha256": str|null, "size": int|null,
//       "required_by": [str],            // package names; "<root>", "<stdlib>" for roots
//       "note": str|null}],
//   "app": {"entry": str|null,           // the entry module, relative to the project
//           "files": [str],              // what the build copies, as "app/..." paths
//           "problems": [str]},          // e.g. a symbolic link leading outside the project
//   "problems": [{"package": str|null, "message": str, "fix": str|null}],
//   "warnings": [str]
// }
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/planning.hpp"
#include "cli/reporter.hpp"
#include "fetch/source.hpp"
#include "util/error.hpp"
#include "util/text.hpp"

namespace pb::cli {

namespace {

nlohmann::json opt(const std::string& s) {
  return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s);
}

nlohmann::json to_json(const build::Planned& p, const build::AppFiles& app) {
  using nlohmann::json;
  const auto& s = p.selection;
  json packages = json::array();
  for (const auto& i : p.plan.items)
    packages.push_back({{"name", i.name},
                        {"version", i.version},
                        {"origin", plan::to_string(i.origin)},
                        {"filename", opt(i.filename)},
                        {"url", opt(fetch::redact_url(i.url))},  // credentials stay out of every output
                        {"path", opt(i.path)},
                        {"sha256", opt(i.sha256)},
                        {"size", i.size ? json(*i.size) : json(nullptr)},
                        {"required_by", i.required_by},
                        {"note", opt(i.note)}});
  json problems = json::array();
  for (const auto& pr : p.plan.problems)
    problems.push_back({{"package", opt(pr.package)}, {"message", pr.message}, {"fix", opt(pr.fix)}});
  return {
      {"schema", 1},
      {"ok", p.plan.ok()},
      {"project", {{"name", p.project.name}, {"dir", project::display_path(p.project.dir)}}},
      {"lock",
       {{"file", project::display_path(p.lock.file)},
        {"format", p.lock.format == lock::Format::uv ? "uv" : "pylock"},
        {"version", p.lock.version},
        {"revision", p.lock.revision},
        {"fresh", p.checked ? json(true) : json(nullptr)},
        {"stale", p.stale}}},
      {"target",
       {{"pyodide", p.target.pyodide_version},
        {"python", p.target.python_version},
        {"abi", p.target.abi_version},
        {"platform", p.target.platform},
        {"index_url", fetch::redact_url(p.target.index_url)}}},
      {"selection",
       {{"packages", s.packages},
        {"all_packages", s.all_packages},
        {"extras", s.extras},
        {"all_extras", s.all_extras},
        {"groups", s.groups},
        {"all_groups", s.all_groups},
        {"only_groups", s.only_groups},
        {"no_dev", s.no_dev},
        {"no_default_groups", s.no_default_groups},
        {"stdlib", s.stdlib},
        {"allow_substitutes", s.allow_substitutes}}},
      {"roots", p.plan.roots},
      {"app", {{"entry", opt(app.entry)}, {"files", app.files}, {"problems", app.problems}}},
      {"packages", packages},
      {"problems", problems},
      {"warnings", p.plan.warnings},
  };
}

void print_app(const build::AppFiles& app) {
  if (app.entry.empty()) {
    std::cout << "app: no entry module\n";
    return;
  }
  std::cout << "app: " << app.entry << ", " << plural(app.files.size(), "file") << ":\n";
  const size_t shown = global().verbose > 0 ? app.files.size() : std::min<size_t>(app.files.size(), 20);
  for (size_t i = 0; i < shown; ++i) std::cout << "  " << app.files[i] << "\n";
  if (shown < app.files.size()) std::cout << "  ... and " << app.files.size() - shown << " more (-v lists all)\n";
  for (const auto& pr : app.problems) error(pr);
}

void print_human(const build::Planned& p) {
  const auto& plan = p.plan;
  std::string who = p.project.name.empty() ? project::display_path(p.project.dir) : p.project.name;
  std::cout << who << " for Pyodide " << p.target.pyodide_version << " (Python " << p.target.python_version << ", "
            << p.target.platform << ") from " << project::display_path(p.lock.file) << "\n";
  size_t wn = 0, wv = 0, wo = 0;
  for (const auto& i : plan.items) {
    wn = std::max(wn, i.name.size());
    wv = std::max(wv, i.version.size());
    wo = std::max(wo, plan::to_string(i.origin).size());
  }
  size_t counts[3] = {0, 0, 0};
  for (const auto& i : plan.items) {
    ++counts[static_cast<int>(i.origin)];
    std::string origin = plan::to_string(i.origin);
    std::cout << "  " << i.name << std::string(wn - i.name.size() + 2, ' ') << i.version
              << std::string(wv - i.version.size() + 2, ' ') << origin << std::string(wo - origin.size() + 2, ' ')
              << (i.origin == plan::Origin::source ? i.path : i.filename);
    if (global().verbose > 0 && !i.required_by.empty()) {
      std::cout << "  (needed by ";
      for (size_t k = 0; k < i.required_by.size(); ++k) std::cout << (k ? ", " : "") << i.required_by[k];
      std::cout << ")";
    }
    if (!i.note.empty()) std::cout << "  [" << i.note << "]";
    std::cout << "\n";
  }
  std::cout << plural(plan.items.size(), "package") << ": " << plural(counts[0], "lock wheel") << ", "
            << plural(counts[1], "Pyodide build") << ", " << counts[2] << " from source\n";
  for (const auto& w : plan.warnings) warning(w);
  for (const auto& pr : plan.problems) {
    bool named = pr.package.empty() || pr.message.rfind(pr.package, 0) == 0 ||
                 pr.message.find("'" + pr.package + "'") != std::string::npos;
    error((named ? std::string() : pr.package + ": ") + pr.message);
    if (!pr.fix.empty()) info("  fix: " + pr.fix);
  }
}

}  // namespace

void run_plan(const PlanOptions& options) {
  TerminalReporter reporter;
  build::Planned p = build::run_plan(resolved(options), reporter);
  auto app = build::app_files(p.project, {});
  if (global().format == Format::json) {
    print_json(to_json(p, app));
  } else {
    print_human(p);
    print_app(app);
  }
  if (!app.problems.empty())
    throw Error(plural(app.problems.size(), "problem") + " with the app's files", Exit::problems);
  if (!p.plan.ok()) {
    throw Error(plural(p.plan.problems.size(), "problem") + ": not every package can be served for Pyodide " +
                    p.target.pyodide_version,
                Exit::problems);
  }
}

}  // namespace pb::cli
