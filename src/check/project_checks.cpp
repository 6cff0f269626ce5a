#include "check/project_checks.hpp"

#include "check/output.hpp"
#include "util/text.hpp"

#include <algorithm>
#include <cstdio>
#include <set>
#include <utility>
#include <vector>

namespace pb::check {

std::string human_size(uint64_t bytes) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  else std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

namespace {

using lock::SourceKind;

std::string lock_name(const lock::Lock& lock) {
  return project::display_path(lock.file);
}

// The lock's line for a package (its first [[package]] table of that name).
long line_of(const lock::Lock& lock, const std::string& name) {
  auto found = lock.find(name);
  return found.empty() ? 0 : found.front()->line;
}

// "git-source", "url-source" or "sdist-only" when the package's source is one `sources`
// reports; empty otherwise.
std::string source_code(const lock::Lock& lock, const std::string& name) {
  for (const auto* p : lock.find(name)) {
    if (p->source.kind == SourceKind::git) return "git-source";
    if (p->source.kind == SourceKind::url) return "url-source";
  }
  for (const auto* p : lock.find(name))
    if (!p->source.is_local() && p->wheels.empty() && p->sdist) return "sdist-only";
  return "";
}

Finding package_finding(const lock::Lock& lock, const plan::Problem& problem, std::string code) {
  Finding f;
  f.code = std::move(code);
  f.message = problem.message;
  f.fix = problem.fix;
  f.file = lock_name(lock);
  if (!problem.package.empty()) f.line = line_of(lock, problem.package);
  return f;
}

}  // namespace

Check lock_fresh(const project::Project& project, const lock::Lock& lock) {
  Check c{.name = "lock-fresh", .title = "the lock matches pyproject.toml"};
  auto stale = plan::check_freshness(project, lock);
  for (const auto& d : stale)
    c.add({.code = "lock-stale",
           .message = "out of date: " + d,
           .file = lock_name(lock),
           .fix = "run `uv lock` and commit the result"});
  c.summary = stale.empty() ? lock_name(lock) + " is up to date"
                            : plural(stale.size(), "difference") + " between pyproject.toml and " + lock_name(lock);
  c.metrics["differences"] = stale.size();
  return c;
}

Check servable(const plan::Plan& plan, const lock::Lock& lock) {
  Check c{.name = "servable", .title = "every needed package has a file that runs on the target"};
  size_t refused = 0;
  for (const auto& pr : plan.problems) {
    if (!pr.package.empty() && !source_code(lock, pr.package).empty()) continue;  // reported by `sources`
    c.add(package_finding(lock, pr, "unservable"));
    ++refused;
  }
  for (const auto& w : plan.warnings)
    c.add({.severity = Severity::warning, .code = "pyodide-version", .message = w, .file = lock_name(lock)});
  size_t wheels = 0, pyodide = 0, source = 0;
  for (const auto& i : plan.items) {
    wheels += i.origin == plan::Origin::lock_wheel;
    pyodide += i.origin == plan::Origin::pyodide;
    source += i.origin == plan::Origin::source;
  }
  c.summary = plural(plan.items.size(), "package") + " served (" + std::to_string(wheels) + " from the lock, " +
              std::to_string(pyodide) + " from Pyodide, " + std::to_string(source) + " from source)";
  if (refused) c.summary += ", " + std::to_string(refused) + " not servable";
  c.metrics["packages"] = plan.items.size();
  c.metrics["lock_wheels"] = wheels;
  c.metrics["pyodide"] = pyodide;
  c.metrics["source"] = source;
  c.metrics["unservable"] = refused;
  return c;
}

Check sources(const plan::Plan& plan, const lock::Lock& lock) {
  Check c{.name = "sources", .title = "no package from git, a direct URL or only a source distribution"};
  std::set<std::string> reported;
  for (const auto& pr : plan.problems) {
    if (pr.package.empty()) continue;
    auto code = source_code(lock, pr.package);
    if (code.empty()) continue;
    c.add(package_finding(lock, pr, code));
    reported.insert(pr.package);
  }
  // Served anyway: a wheel at a direct URL, or Pyodide's build standing in for an sdist.
  for (const auto& item : plan.items) {
    if (reported.count(item.name)) continue;
    auto code = source_code(lock, item.name);
    if (code.empty()) continue;
    Finding f;
    f.code = code;
    f.file = lock_name(lock);
    f.line = line_of(lock, item.name);
    if (code == "sdist-only") {
      f.severity = Severity::warning;
      f.message = item.name + ": the lock has only a source distribution; Pyodide's build " + item.version + " is used";
    } else {
      const auto* p = lock.find(item.name).front();
      f.message = item.name + " " + item.version + " comes from " +
                  (code == "git-source" ? "git (" : "a direct URL (") + p->source.value +
                  "), not from a package index: the deploy depends on that address staying the same";
      f.fix = "publish the wheel to an index (or keep it in the repository as a path dependency) and re-run `uv lock`";
    }
    c.add(std::move(f));
  }
  c.summary = c.findings.empty() ? "every needed package comes from an index, Pyodide or the project"
                                 : plural(c.findings.size(), "package") + " from git, a URL or an sdist";
  return c;
}

Check app(const project::Project& project, const std::string& entry, size_t files,
          const std::vector<std::string>& problems) {
  Check c{.name = "app", .title = "the entry module and the app's files are there"};
  const auto pyproject = project::display_path(project.file);
  if (entry.empty()) {
    c.add({.code = "no-entry",
           .message = "no entry module (none of src/app.py, src/main.py, app.py, main.py exists)",
           .file = pyproject,
           .fix = "set [tool.pybundle] entry = \"src/app.py\"",
           .exit = Exit::usage});
    c.summary = "no entry module";
    return c;
  }
  for (const auto& p : problems) c.add({.code = "app-files", .message = p, .file = pyproject});
  c.summary = problems.empty()
                  ? "entry " + entry + ", " + plural(files, "file") + " in app/"
                  : plural(problems.size(), "problem") + " with the app's files (`pybundle plan` lists them)";
  c.metrics["files"] = files;
  return c;
}

Check estimated_size(const plan::Plan& plan, const std::optional<Budget>& budget, uint64_t app_bytes) {
  Check c{.name = "size", .title = "the estimated bundle size is within the size budget"};
  // The app's files count too: a large data file or template set is uploaded like a package.
  uint64_t total = app_bytes;
  std::vector<const plan::Item*> sized;
  std::vector<std::string> unsized;
  for (const auto& i : plan.items) {
    if (i.size) {
      total += *i.size;
      sized.push_back(&i);
    } else {
      unsized.push_back(i.name);
    }
  }
  c.metrics["estimated_bytes"] = total;
  c.metrics["app_bytes"] = app_bytes;
  c.metrics["budget_bytes"] = budget ? nlohmann::ordered_json(budget->bytes) : nlohmann::ordered_json(nullptr);
  c.metrics["uncounted_packages"] = unsized.size();
  c.summary = "estimated " + human_size(total) + " (sum of " + plural(sized.size(), "wheel size") +
              (app_bytes ? " and the app's " + human_size(app_bytes) : "") + ", an upper bound)";
  if (budget) c.summary += ", budget " + human_size(budget->bytes) + " (" + budget->source + ")";
  else c.summary += "; no size-budget set";
  if (!unsized.empty()) {
    std::string names;
    for (const auto& n : unsized) names += (names.empty() ? "" : ", ") + n;
    c.add({.severity = Severity::note,
           .code = "size-unknown",
           .message = "not counted (the lock gives no size): " + names});
  }
  if (budget && total > budget->bytes) {
    c.add({.code = "size-over-budget",
           .message = "estimated bundle size " + human_size(total) + " exceeds the size budget of " +
                      human_size(budget->bytes) + " (" + budget->source + ")",
           .file = budget->file,
           .fix = "drop or replace the largest packages, trim with [tool.pybundle] exclude, or raise size-budget; "
                  "`pybundle check --bundle` measures the built bundle exactly"});
    std::vector<std::pair<std::string, uint64_t>> parts;
    for (const auto* i : sized) parts.emplace_back(i->filename, *i->size);
    if (app_bytes) parts.emplace_back("app/ (the project's own files)", app_bytes);
    std::stable_sort(parts.begin(), parts.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    for (size_t k = 0; k < parts.size() && k < 10; ++k)
      c.add({.severity = Severity::note,
             .code = "size-largest",
             .message = parts[k].first + ": " + human_size(parts[k].second)});
  }
  return c;
}

}  // namespace pb::check
