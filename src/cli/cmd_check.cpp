// `pybundle check [DIR]` and `pybundle check --bundle OUT`: the pre-deploy gate. Every check
// runs (a failed one only skips those that need its result), then the report is printed as
// human text, JSON (schema in man/pybundle.1, CHECK OUTPUT) or GitHub annotations.
// Exit 0 when no check found an error, else the report's exit class (src/util/error.hpp).
#include <chrono>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <set>

#include "check/bundle_checks.hpp"
#include "check/output.hpp"
#include "check/project_checks.hpp"
#include "check/runtime_checks.hpp"
#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/planning.hpp"
#include "cli/reporter.hpp"
#include "snapshot/smoke.hpp"
#include "runtime/runtime.hpp"
#include "snapshot/snapshot.hpp"
#include "util/error.hpp"
#include "util/text.hpp"

namespace pb::cli {

namespace {

using check::Check;
using check::Report;

// Runs `body` as the check, timing it, unless the user skipped it or a prerequisite failed.
class Runner {
 public:
  Runner(Report& report, const std::vector<std::string>& skip) : report_(report), skip_(skip.begin(), skip.end()) {}

  // `blocked`: why the check cannot run (a failed prerequisite); empty when it can. A std::function,
  // not a template: one copy of this code, not one per check (~0.6 s less to compile, release).
  Check& operator()(const std::string& name, const std::string& title, const std::string& blocked,
                    const std::function<Check()>& body) {
    Check c;
    if (skip_.count(name)) {
      c = Check{.name = name, .title = title};
      c.skip("--skip " + name);
    } else if (!blocked.empty()) {
      c = Check{.name = name, .title = title};
      c.skip(blocked);
    } else {
      auto t0 = std::chrono::steady_clock::now();
      try {
        c = body();
      } catch (const Error& e) {
        c = Check{.name = name, .title = title};
        c.add(check::from_error(e, name + "-error"));
      } catch (const std::exception& e) {  // a bug: still report every other check
        c = Check{.name = name, .title = title};
        c.add({.code = name + "-internal",
               .message = std::string("internal error: ") + e.what(),
               .exit = Exit::internal});
      }
      c.name = name;
      if (c.title.empty()) c.title = title;
      c.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    report_.checks.push_back(std::move(c));
    return report_.checks.back();
  }

 private:
  Report& report_;
  std::set<std::string> skip_;
};

// The size budget: --size-budget, else $PYBUNDLE_SIZE_BUDGET, else [tool.pybundle] size-budget.
// Throws pb::Error (Exit::usage) naming where a malformed value came from.
std::optional<check::Budget> resolve_budget(const CheckOptions& o, const project::Project* project) {
  auto parse = [](const std::string& text, const std::string& source) {
    try {
      return check::Budget{project::parse_size(text), source};
    } catch (const Error& e) {
      throw Error(source + ": " + e.what(), Exit::usage);
    }
  };
  if (o.size_budget) return parse(*o.size_budget, "--size-budget");
  if (const char* env = std::getenv("PYBUNDLE_SIZE_BUDGET"); env && *env) return parse(env, "PYBUNDLE_SIZE_BUDGET");
  if (project && project->config.size_budget)
    return check::Budget{*project->config.size_budget,
                         project::display_path(project->file) + " [tool.pybundle] size-budget",
                         project::display_path(project->file)};
  return std::nullopt;
}

// A check that only records a failure to load something.
Check load_error(const Error& e, const std::string& code) {
  Check c;
  if (auto* many = dynamic_cast<const Errors*>(&e)) {
    for (const auto& line : many->problems()) c.add(check::from_error(Error(line, e.code()), code));
  } else {
    c.add(check::from_error(e, code));
  }
  return c;
}

Report check_project(const CheckOptions& o) {
  const auto plan_options = resolved(o.plan);
  TerminalReporter reporter;
  Report r;
  r.kind = "project";
  r.path = project::display_path(o.plan.dir);
  Runner run(r, o.skip);

  std::optional<project::Project> project;
  run("pyproject", "pyproject.toml parses", "", [&] {
    try {
      project = project::load(o.plan.dir);
    } catch (const Error& e) {
      return load_error(e, "pyproject-invalid");
    }
    Check c;
    c.summary = project::display_path(project->file) + ": " +
                (project->has_project_table ? "project " + project->name : std::string("a workspace root"));
    return c;
  });

  std::optional<lock::Lock> lock;
  run("lock", "the lock parses", project ? "" : "pyproject.toml did not load", [&] {
    try {
      lock = lock::load_for_project(o.plan.dir, o.plan.lock_file);
    } catch (const Error& e) {
      return load_error(e, "lock-invalid");
    }
    Check c;
    c.summary = project::display_path(lock->file) + ": " + plural(lock->packages.size(), "package");
    for (const auto& w : lock->warnings)
      c.add({.severity = check::Severity::warning,
             .code = "lock-warning",
             .message = w,
             .file = project::display_path(lock->file)});
    return c;
  });

  run("lock-fresh", "the lock matches pyproject.toml", project && lock ? "" : "the project or the lock did not load",
      [&] {
        if (o.plan.frozen) {
          Check c;
          c.skip("--frozen");
          return c;
        }
        return check::lock_fresh(*project, *lock);
      });

  std::optional<target::Target> target;
  run("target", "the target runtime is available", project ? "" : "pyproject.toml did not load", [&] {
    try {
      target = build::resolve_target(*project, plan_options);
    } catch (const Error& e) {
      return load_error(e, "target-unavailable");
    }
    r.target = "pyodide@" + target->pyodide_version;
    Check c;
    c.summary =
        "Pyodide " + target->pyodide_version + " (Python " + target->python_version + ", " + target->platform + ")";
    return c;
  });

  std::optional<plan::Plan> plan;
  std::string plan_blocked = project && lock && target ? "" : "the project, the lock or the target did not load";
  std::string plan_error;
  if (plan_blocked.empty()) {
    try {
      plan = plan::make_plan(*project, *lock, *target, build::selection_for(*project, plan_options),
                             build::make_context(*lock, project->config, plan_options, reporter));
    } catch (const Error& e) {
      plan_error = e.what();
      run("servable", "every needed package has a file that runs on the target", "",
          [&] { return load_error(e, "selection-invalid"); });
      plan_blocked = "the selection is invalid";
    }
  }
  if (plan_error.empty())
    run("servable", "every needed package has a file that runs on the target", plan_blocked,
        [&] { return check::servable(*plan, *lock); });
  run("sources", "no package from git, a direct URL or only a source distribution", plan_blocked,
      [&] { return check::sources(*plan, *lock); });
  run("size", "the estimated bundle size is within the size budget", plan_blocked,
      [&] { return check::estimated_size(*plan, resolve_budget(o, &*project), build::app_files(*project, {}).bytes); });
  run("app", "the entry module and the app's files are there", project ? "" : "pyproject.toml did not load", [&] {
    auto app = build::app_files(*project, {});
    return check::app(*project, app.entry, app.files.size(), app.problems);
  });
  return r;
}

Report check_bundle(const CheckOptions& o) {
  Report r;
  r.kind = "bundle";
  const auto& dir = *o.bundle;
  r.path = project::display_path(dir);
  Runner run(r, o.skip);

  std::optional<bundle::Manifest> manifest;
  run("manifest", "bundle.json is a bundle manifest pybundle can read", "",
      [&] { return check::manifest(dir, manifest); });
  const std::string no_manifest = manifest ? "" : "bundle.json did not load";
  if (manifest) r.target = "pyodide@" + manifest->target.pyodide;
  run("files", "every file matches bundle.json", no_manifest, [&] { return check::files(dir, *manifest); });
  const bool files_ok = r.checks.back().status() != check::Status::fail;
  // Running a bundle whose files are not those of bundle.json proves nothing about the build.
  const std::string no_files = !no_manifest.empty() ? no_manifest
                               : files_ok           ? ""
                                                    : "the files do not match bundle.json";

  std::optional<runtime::RuntimeInfo> runtime;
  run("runtime", "the bundle's Pyodide runtime is available", no_files, [&] {
    const auto& version = manifest->target.pyodide;
    runtime = runtime::runtime_info(runtime::ensure_runtime(version, global().cache()));
    Check c;
    c.summary =
        "Pyodide " + runtime->version + " (build " + runtime->build_id.substr(0, 12) + ") at " + runtime->dir.string();
    return c;
  });
  const std::string no_runtime = !no_files.empty()         ? no_files
                                 : runtime                 ? ""
                                 : r.checks.back().skipped ? "runtime: " + r.checks.back().summary
                                                           : "the runtime is not available";
  run("snapshot", "the snapshot matches the bundle and the runtime", no_runtime,
      [&] { return check::snapshot(dir, *manifest, *runtime); });
  const bool snapshot_ok = r.checks.back().status() != check::Status::fail;

  // One run of the bundle (the host imports or restores the entry, finds on_fetch, calls it once)
  // answers both `entry` and `request`.
  const std::string no_run = !no_runtime.empty() ? no_runtime : snapshot_ok ? "" : "the snapshot does not match";
  // The smoke imports run in that same process after the request (one Pyodide for the whole
  // check); only when that run cannot happen or does not answer for them, in a process of their own.
  std::vector<snapshot::SmokeModule> smoke_list;
  const bool skip_smoke = std::find(o.skip.begin(), o.skip.end(), "smoke") != o.skip.end();
  if (no_runtime.empty() && !skip_smoke) smoke_list = snapshot::smoke_modules(dir, *manifest);
  std::optional<nlohmann::json> answer;
  auto run_once = [&]() -> const nlohmann::json& {
    if (!answer) {
      snapshot::RunOptions ro;
      ro.bundle_dir = dir;
      ro.cache_dir = global().cache();
      ro.smoke = snapshot::names(smoke_list);
      answer = snapshot::run_bundle(ro);
    }
    return *answer;
  };
  run("entry", "the entry imports and defines a handler (on_fetch or Default.fetch)", no_run,
      [&] { return check::entry(dir, *manifest, run_once()); });
  const bool entry_ok = r.checks.back().status() != check::Status::fail;
  run("smoke", "the entry and every vendored top-level module import", no_runtime, [&] {
    snapshot::SmokeReport report;
    if (answer && answer->contains("smoke")) {
      report = snapshot::smoke_report((*answer)["smoke"], smoke_list.size());
      report.after_request = answer->value("restored", false) ? "restored" : "imported";
    } else {
      report = snapshot::smoke(dir, runtime->dir, snapshot::names(smoke_list), global().cache());
    }
    if (global().verbose > 0)
      for (const auto& m : report.results)
        if (!m.ok) std::cerr << "smoke: importing '" << m.module << "' raised:\n" << m.traceback;
    return check::smoke(dir, smoke_list, report, !entry_ok);
  });

  // The budget comes from DIR's pyproject.toml when there is one (DIR defaults to ".").
  std::optional<project::Project> project;
  std::optional<Error> project_error;
  if (o.dir_given || std::filesystem::exists(o.plan.dir / "pyproject.toml")) {
    try {
      project = project::load(o.plan.dir);
    } catch (const Error& e) {
      project_error = e;
    }
  }
  // The upload is measured from the files bundle.json lists.
  run("size", "the upload's gzip size is within the size budget", no_files, [&] {
    if (project_error) return load_error(*project_error, "pyproject-invalid");
    return check::bundle_size(dir, *manifest, resolve_budget(o, project ? &*project : nullptr));
  });
  run("request", "the bundle restores and answers one request",
      !no_run.empty() ? no_run
      : entry_ok      ? ""
                      : "the entry did not load",
      [&] { return check::request(dir, *manifest, run_once()); });
  return r;
}

void print(const Report& r) {
  const auto& g = global();
  switch (g.format) {
    case Format::json: print_json(check::to_json(r)); break;
    case Format::github: std::cout << check::render_github(r); break;
    case Format::human:
      std::cout << check::render_human(r, {.color = g.use_color(1), .quiet = g.quiet, .verbose = g.verbose});
      break;
  }
  std::cout.flush();
}

}  // namespace

const std::vector<std::string>& check_names() {
  static const std::vector<std::string> names = {
      "pyproject", "lock",  "lock-fresh", "target",   "servable", "sources", "size",   "app",  // project
      "manifest",  "files", "runtime",    "snapshot", "entry",    "smoke",   "request"};       // --bundle
  return names;
}

void run_check(const CheckOptions& o) {
  Report r = o.bundle ? check_bundle(o) : check_project(o);
  print(r);
  if (!r.ok()) throw Error("check failed: " + check::summary_line(r), r.exit_code());
}

}  // namespace pb::cli
