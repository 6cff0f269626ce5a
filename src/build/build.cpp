#include "build/build.hpp"

#include <chrono>
#include <map>

#include <fmt/format.h>

#include "build/smoke.hpp"
#include "check/inspect.hpp"
#include "check/project_checks.hpp"
#include "fetch/progress.hpp"
#include "host/protocol.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/interrupt.hpp"
#include "util/sha256.hpp"
#include "vendor/out_guard.hpp"
#include "vendor/vendor.hpp"

namespace pb::build {
namespace {

using Clock = std::chrono::steady_clock;

// The staged bundle: removed (and forgotten by util/interrupt) on every way out but commit().
class Staging {
 public:
  explicit Staging(std::filesystem::path dir) : dir_(std::move(dir)) {}
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;
  ~Staging() {
    if (committed_) return;
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    interrupt::forget(dir_);
  }
  const std::filesystem::path& dir() const { return dir_; }
  // Swaps the staged bundle into place at `out`.
  void commit(const std::filesystem::path& out) {
    fs::replace_dir(dir_, out);
    committed_ = true;
    interrupt::forget(dir_);
  }

 private:
  std::filesystem::path dir_;
  bool committed_ = false;
};

// Every problem of the plan, one line each, then fail with Exit::problems.
[[noreturn]] void fail_plan(const plan::Plan& p) {
  std::vector<std::string> lines;
  for (const auto& pr : p.problems) {
    std::string line = pr.package.empty() ? pr.message : "package '" + pr.package + "': " + pr.message;
    if (!pr.fix.empty()) line += " (" + pr.fix + ")";
    lines.push_back(line);
  }
  throw Errors(lines, Exit::problems);
}

std::string entry_of(const project::Project& project) {
  if (auto entry = find_entry(project)) return *entry;
  throw Error(project.file.string() + ": no entry module: set [tool.pybundle] entry = \"src/app.py\"", Exit::usage);
}

// Each fetched plan item's file in the cache, keyed by package name (unique in a plan).
std::map<std::string, std::filesystem::path> fetch_wheels(const plan::Plan& p, const project::Project& project,
                                                          const BuildRequest& r, const Services& services,
                                                          Reporter& reporter) {
  std::vector<fetch::Request> requests;
  for (const auto& item : p.items) {
    if (item.origin == plan::Origin::source) continue;
    fetch::Request q{item.url.empty() ? item.path : item.url, item.sha256, item.size, item.name};
    // A local wheel the lock keeps no hash for is taken as it is on disk.
    if (q.sha256.empty() && !item.path.empty()) q.sha256 = sha256_file(item.path);
    requests.push_back(std::move(q));
  }
  fetch::Options fo;
  fo.cache_dir = r.plan.cache_dir;
  fo.concurrency = r.concurrency;
  fo.offline = r.plan.offline;
  fo.max_download = r.max_download;
  fo.base_dir = project.dir;
  fo.ca_file = r.ca_file;
  fo.netrc_file = r.netrc_file;
  fo.mirrors = project.config.mirrors;
  for (const auto& m : r.mirrors) fo.mirrors.push_back(fetch::parse_mirror(m));
  fo.reporter = [&reporter](const fetch::Event& e) {
    if (e.kind == fetch::Event::Kind::cached && reporter.details()) reporter.detail("  " + e.label + ": cache hit");
    reporter.fetch(e);
  };
  fo.warn = [&reporter](const std::string& w) { reporter.warning(w); };
  return services.fetch(requests, fo);
}

// --minimize and --compile on the staged bundle, then its manifest again (the snapshot records
// the digest of the files as they will ship).
void shrink(const BuildRequest& r, const project::Project& project, const target::Target& t,
            const vendor::BundleSpec& spec, const std::filesystem::path& staged, vendor::Report& report,
            const Services& services, Reporter& reporter) {
  if (!r.minimize && r.compile == vendor::CompileMode::none) return;
  vendor::HostRun host = [&](const std::string& mode, const std::vector<std::string>& args) {
    std::vector<std::string> full;
    if (!spec.vars.empty()) full = {host::kVars, nlohmann::json(spec.vars).dump()};
    full.insert(full.end(), args.begin(), args.end());
    return services.host({mode, t.runtime_dir, staged, r.plan.cache_dir, true}, full);
  };
  auto compile = [&] {
    if (r.compile == vendor::CompileMode::none) return;
    reporter.info("compiling the bundle's modules in Pyodide " + t.pyodide_version);
    auto c = vendor::compile_bundle(staged, r.compile, t.python_version, host);
    for (const auto& w : c.warnings) reporter.warning(w);
    reporter.info(fmt::format("compiled {} modules for Python {} (magic {}){}", c.compiled, c.python, c.magic,
                              c.sources_dropped ? fmt::format(", {} sources dropped", c.sources_dropped) : ""));
  };
  if (r.minimize) {
    vendor::MinimizeSpec ms;
    ms.entry = std::filesystem::path(spec.entry).stem().string();
    ms.preimport = project.config.preimport;
    ms.keep = r.keep;
    ms.after_drop = compile;
    reporter.info("minimizing: tracing '" + ms.entry + "' and one request in Pyodide " + t.pyodide_version);
    auto m = vendor::minimize_bundle(staged, ms, host);
    reporter.info(
        fmt::format("minimized python_modules/ to {} of {} files ({} of {}); {} modules imported again and the "
                    "entry answered",
                    m.files_kept, m.files_before, fetch::human_bytes(static_cast<double>(m.bytes_kept)),
                    fetch::human_bytes(static_cast<double>(m.bytes_before)), m.modules.size()));
  } else {
    compile();
  }
  vendor::write_manifest(staged, spec, report);  // hashes only the files that changed
}

// Every option that can be wrong, checked before anything touches the disk.
void validate(const BuildRequest& r) {
  if (!r.archive.empty()) vendor::check_archive_name(r.archive);
  // As [tool.pybundle] exclude: a glob that can match nothing would keep nothing, silently.
  for (const auto& g : r.keep) {
    if (g.find_first_not_of('/') == std::string::npos)
      throw Error("--keep '" + g +
                      "': an empty glob matches no file; name files as under python_modules/, e.g. "
                      "'pkg/data/**'",
                  Exit::usage);
    if (g == ".." || g.starts_with("../") || g.find("/../") != std::string::npos || g.ends_with("/.."))
      throw Error("--keep '" + g + "' points outside the bundle, so it can never match: globs match paths inside it",
                  Exit::usage);
  }
  for (const auto& m : r.mirrors) fetch::parse_mirror(m);
}

vendor::OutGuard out_guard(const project::Project& project, const std::string& entry, const BuildRequest& r) {
  auto entry_dir = std::filesystem::path(entry).parent_path();
  return {project.dir, entry_dir.empty() ? std::filesystem::path() : project.dir / entry_dir, r.plan.cache_dir, r.home};
}

// The upload (app/ and python_modules/, gzipped as wrangler measures) against size-budget: a
// warning naming the five largest distributions; `pybundle check` is the gate that fails.
void warn_over_budget(const std::filesystem::path& out, const bundle::Manifest& manifest, uint64_t budget,
                      Reporter& reporter) {
  auto r = check::inspect(out, manifest);
  if (r.gzip_bytes <= budget) return;
  reporter.warning("the upload is " + check::human_size(r.gzip_bytes) + " gzipped, over [tool.pybundle] size-budget " +
                   check::human_size(budget) + "; the largest contributors are " + check::top_contributors(r) +
                   "; build with --minimize, trim with [tool.pybundle] exclude, or drop or replace large packages "
                   "(`pybundle inspect " +
                   out.string() + "` shows all)");
}

}  // namespace

bundle::Recipe snapshot_recipe(const std::string& entry_module, const std::vector<std::string>& preimport,
                               const std::string& pyodide, uint32_t hash_seed) {
  return {.entry = entry_module, .hash_seed = hash_seed, .preimport = preimport, .target = "pyodide@" + pyodide};
}

BuildResult build(const BuildRequest& r, const Services& services, Reporter& reporter) {
  auto t0 = Clock::now();
  auto lap = t0;
  auto phase = [&](const char* name) {
    auto now = Clock::now();
    reporter.phase(name, std::chrono::duration<double>(now - lap).count());
    lap = now;
  };
  validate(r);
  auto inputs = run_plan(r.plan, reporter);
  phase("plan");
  const auto& project = inputs.project;
  const auto& p = inputs.plan;
  for (const auto& w : p.warnings) reporter.warning(w);
  if (!p.ok()) fail_plan(p);

  vendor::BundleSpec spec;
  spec.out = r.out.empty() ? project.dir / "dist" : r.out;
  spec.app_dir = project.dir;
  spec.entry = entry_of(project);
  spec.include = project.config.include;
  spec.name = project.name;
  spec.vars = project.config.vars;
  const auto guard = out_guard(project, spec.entry, r);
  vendor::check_out(spec.out, guard);
  if (!r.archive.empty() && vendor::is_within(r.archive, spec.out))
    throw Error(
        "--archive " + r.archive.string() + ": inside --out " + spec.out.string() + ", which the build replaces",
        Exit::usage);
  // An archive among the app's sources would be shipped in app/ by the next build.
  if (!r.archive.empty() &&
      (guard.app_dir.empty() ? std::filesystem::weakly_canonical(std::filesystem::absolute(r.archive)).parent_path() ==
                                   std::filesystem::weakly_canonical(project.dir)
                             : vendor::is_within(r.archive, guard.app_dir)))
    throw Error("--archive " + r.archive.string() + ": among the app's sources " +
                    (guard.app_dir.empty() ? project.dir : guard.app_dir).string() +
                    ", so the next build would ship it in app/; write it elsewhere",
                Exit::usage);

  // The app is the project's own: an entry file that is not there fails before any download.
  if (auto app = app_files(project, spec.out); !app.problems.empty())
    throw Errors(std::move(app.problems), Exit::problems);
  auto files = fetch_wheels(p, project, r, services, reporter);
  phase("fetch");
  const auto& t = inputs.target;
  spec.target = {
      .abi = t.abi_version, .platform = t.platform, .pyodide = t.pyodide_version, .python = t.python_version};
  spec.options.trim = r.trim;
  spec.options.exclude = project.config.exclude;
  spec.options.keep = r.keep;
  for (const auto& item : p.items) {
    vendor::Input in{item.name, item.version, plan::to_string(item.origin), item.filename, item.sha256, {}};
    if (item.origin == plan::Origin::source) {
      in.file = item.path;
    } else if (auto f = files.find(item.name); f != files.end()) {
      in.file = f->second;
    } else {
      throw Error("package '" + item.name + "': the fetch gave no file for it", Exit::internal);
    }
    spec.inputs.push_back(std::move(in));
  }

  if (reporter.details()) {  // what goes in: each package's file, then the app's files
    for (const auto& item : p.items)
      reporter.detail("  " + item.name + " " + item.version + ": " +
                      (item.filename.empty() ? item.path : item.filename) + " (" + plan::to_string(item.origin) + ")");
    for (const auto& f : app_files(project, spec.out).files) reporter.detail("  " + f);
  }
  vendor::Report report;
  Staging staging(vendor::assemble(spec, &report));
  const auto& staged = staging.dir();
  phase("vendor");
  std::optional<BuildSmoke> smoke;  // after staging: destroyed (its run waited for) before the staged dir goes
  try {
    shrink(r, project, t, spec, staged, report, services, reporter);
    // A minimised bundle was proved already: every module the app imported, and a request.
    if (r.smoke && !r.minimize)
      smoke.emplace(spec, report, staged, t.runtime_dir, r.snapshot,
                    BuildSmoke::Context{services, reporter, r.plan.cache_dir});
    if (r.snapshot) {
      snapshot::MakeOptions mo;
      if (smoke) {
        mo.smoke = smoke->modules();
        mo.on_smoke = [&](const snapshot::SmokeReport& s) { smoke->take(s); };
      }
      mo.cache_dir = r.plan.cache_dir;
      mo.runtime_dir = t.runtime_dir;
      mo.bundle_dir = staged;
      mo.entry_module = std::filesystem::path(spec.entry).stem().string();
      mo.preimport = project.config.preimport;
      mo.hash_seed = r.hash_seed;
      mo.host_args = app_left_out_args(spec, staged);
      reporter.info("making the snapshot: importing '" + mo.entry_module + "' in Pyodide " + t.pyodide_version);
      auto made = services.snapshot(mo);
      for (const auto& w : made.warnings) reporter.warning(w);
      fail_on_missing_app_files(spec, made.missing_app_files, reporter);
      report.manifest.snapshot = made.facts;
      report.manifest.snapshot->recipe =
          snapshot_recipe(mo.entry_module, mo.preimport, t.pyodide_version, made.facts.hash_seed.value_or(0));
      vendor::write_manifest(staged, spec, report);
      phase("snapshot");
    }
    if (smoke) {
      smoke->finish();
      phase("smoke");
    }
    // Written from the staged tree, so a failing archive leaves the earlier bundle as it was.
    if (!r.archive.empty()) vendor::write_archive(staged, r.archive, r.source_date_epoch);
    vendor::check_out(spec.out, guard);  // again: time passed since the first look
    staging.commit(spec.out);
  } catch (...) {
    // A snapshot that failed because the trim broke an import: the smoke run names the file.
    if (smoke) smoke->finish();
    throw;
  }
  if (project.config.size_budget) warn_over_budget(spec.out, report.manifest, *project.config.size_budget, reporter);

  BuildResult out;
  out.out = spec.out;
  out.pyodide = t.pyodide_version;
  out.packages = p.items.size();
  out.files = report.files;
  out.bytes = report.bytes;
  out.snapshot = report.manifest.snapshot;
  out.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return out;
}

}  // namespace pb::build
