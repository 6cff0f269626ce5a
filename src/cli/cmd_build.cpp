// pybundle build: project -> lock -> plan -> fetch -> vendor -> snapshot -> bundle.
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>

#include <fmt/format.h>

#include "check/inspect.hpp"
#include "check/project_checks.hpp"
#include "build/smoke.hpp"
#include "cli/common.hpp"
#include "cli/planning.hpp"
#include "cli/reporter.hpp"
#include "fetch/fetch.hpp"
#include "fetch/progress.hpp"
#include "host/protocol.hpp"
#include "runtime/host.hpp"
#include "snapshot/snapshot.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/interrupt.hpp"
#include "util/sha256.hpp"
#include "vendor/out_guard.hpp"
#include "vendor/shrink.hpp"
#include "vendor/vendor.hpp"

namespace pb::cli {
namespace {

struct BuildOptions {
  PlanOptions in;
  std::filesystem::path out;
  bool no_snapshot = false;
  std::optional<uint32_t> hash_seed;
  bool no_smoke = false;
  bool offline = false;
  int concurrency = 16;
  uint64_t max_download = uint64_t(1) << 30;
  std::vector<std::string> mirrors;
  std::filesystem::path ca_file, netrc_file;
  std::vector<std::string> keep;
  bool no_trim = false;
  std::filesystem::path archive;
  std::string compile;  // "", "keep-sources", "drop-sources"
  bool minimize = false;
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
  if (auto entry = build::find_entry(project)) return *entry;
  throw Error(project.file.string() + ": no entry module: set [tool.pybundle] entry = \"src/app.py\"", Exit::usage);
}

// Each fetched plan item's file in the cache, by package name (unique in a plan).
std::map<std::string, std::filesystem::path> fetch_wheels(const plan::Plan& p, const project::Project& project,
                                                          const BuildOptions& o) {
  std::vector<fetch::Request> requests;
  for (const auto& item : p.items) {
    if (item.origin == plan::Origin::source) continue;
    fetch::Request r{item.url.empty() ? item.path : item.url, item.sha256, item.size, item.name};
    // A local wheel the lock keeps no hash for is taken as it is on disk.
    if (r.sha256.empty() && !item.path.empty()) r.sha256 = sha256_file(item.path);
    requests.push_back(std::move(r));
  }
  fetch::Options fo;
  fo.cache_dir = global().cache();
  fo.concurrency = o.concurrency;
  fo.offline = o.offline;
  fo.max_download = o.max_download;
  fo.base_dir = project.dir;
  fo.ca_file = o.ca_file;
  fo.netrc_file = o.netrc_file;
  fo.mirrors = project.config.mirrors;
  for (const auto& m : o.mirrors) fo.mirrors.push_back(fetch::parse_mirror(m));
  auto style = fetch::choose_progress_style(global().quiet, global().format == Format::json, ::isatty(2));
  fo.reporter = fetch::make_reporter(style, stderr);
  if (global().verbose > 0)
    fo.reporter = [inner = fo.reporter](const fetch::Event& e) {
      if (e.kind == fetch::Event::Kind::cached) info("  " + e.label + ": cache hit");
      if (inner) inner(e);
    };
  fo.warn = [](const std::string& w) { warning(w); };
  auto files = fetch::fetch_all(requests, fo);  // in the order asked
  std::map<std::string, std::filesystem::path> by_name;
  for (size_t i = 0; i < requests.size(); ++i) by_name.emplace(requests[i].label, std::move(files.at(i)));
  return by_name;
}

// --minimize and --compile on the staged bundle, then its manifest again (the snapshot records
// the digest of the files as they will ship).
void shrink(const BuildOptions& o, const project::Project& project, const target::Target& t,
            const vendor::BundleSpec& spec, const std::filesystem::path& staged, vendor::Report& report) {
  if (!o.minimize && o.compile.empty()) return;
  vendor::HostRun host = [&](const std::string& mode, const std::vector<std::string>& args) {
    std::vector<std::string> full;
    if (!spec.vars.empty()) full = {host::kVars, nlohmann::json(spec.vars).dump()};
    full.insert(full.end(), args.begin(), args.end());
    return runtime::run_host({mode, t.runtime_dir, staged, global().cache(), true}, full);
  };
  // A bare --compile arrives as "true" (CLI11 flag); only the --compile=MODE form takes a value.
  auto mode = o.compile.empty()     ? vendor::CompileMode::none
              : o.compile == "true" ? vendor::CompileMode::keep_sources
                                    : vendor::parse_compile_mode(o.compile);
  auto compile = [&] {
    if (mode == vendor::CompileMode::none) return;
    info("compiling the bundle's modules in Pyodide " + t.pyodide_version);
    auto c = vendor::compile_bundle(staged, mode, t.python_version, host);
    for (const auto& w : c.warnings) warning(w);
    info(fmt::format("compiled {} modules for Python {} (magic {}){}", c.compiled, c.python, c.magic,
                     c.sources_dropped ? fmt::format(", {} sources dropped", c.sources_dropped) : ""));
  };
  if (o.minimize) {
    vendor::MinimizeSpec ms;
    ms.entry = std::filesystem::path(spec.entry).stem().string();
    ms.preimport = project.config.preimport;
    ms.keep = o.keep;
    ms.after_drop = compile;
    info("minimizing: tracing '" + ms.entry + "' and one request in Pyodide " + t.pyodide_version);
    auto m = vendor::minimize_bundle(staged, ms, host);
    info(
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
void validate(const BuildOptions& o) {
  if (!o.archive.empty()) vendor::check_archive_name(o.archive);
  if (!o.compile.empty() && o.compile != "true") vendor::parse_compile_mode(o.compile);
  for (const auto& m : o.mirrors) fetch::parse_mirror(m);
  vendor::source_date_epoch();
}

vendor::OutGuard out_guard(const project::Project& project, const std::string& entry) {
  auto entry_dir = std::filesystem::path(entry).parent_path();
  const char* home = std::getenv("HOME");
  return {project.dir, entry_dir.empty() ? std::filesystem::path() : project.dir / entry_dir, global().cache(),
          home && *home ? std::filesystem::path(home) : std::filesystem::path()};
}

// The upload (app/ and python_modules/, gzipped as wrangler measures) against size-budget: a
// warning naming the five largest distributions; `pybundle check` is the gate that fails.
void warn_over_budget(const std::filesystem::path& out, const bundle::Manifest& manifest, uint64_t budget) {
  auto r = check::inspect(out, manifest);
  if (r.gzip_bytes <= budget) return;
  warning("the upload is " + check::human_size(r.gzip_bytes) + " gzipped, over [tool.pybundle] size-budget " +
          check::human_size(budget) + "; the largest contributors are " + check::top_contributors(r) +
          "; build with --minimize, trim with [tool.pybundle] exclude, or drop or replace large packages "
          "(`pybundle inspect " +
          out.string() + "` shows all)");
}

void build(const BuildOptions& o) {
  auto t0 = std::chrono::steady_clock::now();
  auto lap = t0;
  auto phase = [&lap](const char* name) {  // -v: the time each phase took
    auto now = std::chrono::steady_clock::now();
    if (global().verbose > 0) info(fmt::format("{}: {:.2f}s", name, std::chrono::duration<double>(now - lap).count()));
    lap = now;
  };
  validate(o);
  auto plan_options = resolved(o.in);
  plan_options.offline = o.offline;
  TerminalReporter reporter;
  const auto services = build::Services::real();
  auto inputs = build::run_plan(plan_options, reporter);
  phase("plan");
  const auto& project = inputs.project;
  const auto& p = inputs.plan;
  for (const auto& w : p.warnings) warning(w);
  if (!p.ok()) fail_plan(p);

  vendor::BundleSpec spec;
  spec.out = o.out.empty() ? project.dir / "dist" : o.out;
  spec.app_dir = project.dir;
  spec.entry = entry_of(project);
  spec.include = project.config.include;
  spec.name = project.name;
  spec.vars = project.config.vars;
  const auto guard = out_guard(project, spec.entry);
  vendor::check_out(spec.out, guard);
  if (!o.archive.empty() && vendor::is_within(o.archive, spec.out))
    throw Error(
        "--archive " + o.archive.string() + ": inside --out " + spec.out.string() + ", which the build replaces",
        Exit::usage);

  auto files = fetch_wheels(p, project, o);
  phase("fetch");
  const auto& t = inputs.target;
  spec.target = {
      .abi = t.abi_version, .platform = t.platform, .pyodide = t.pyodide_version, .python = t.python_version};
  spec.options.trim = !o.no_trim;
  spec.options.exclude = project.config.exclude;
  spec.options.keep = o.keep;
  for (const auto& item : p.items) {
    vendor::Input in{item.name, item.version, plan::to_string(item.origin), item.filename, item.sha256, {}};
    in.file = item.origin == plan::Origin::source ? std::filesystem::path(item.path) : files.at(item.name);
    spec.inputs.push_back(std::move(in));
  }

  if (global().verbose > 0) {  // what goes in: each package's file, then the app's files
    for (const auto& item : p.items)
      info("  " + item.name + " " + item.version + ": " + (item.filename.empty() ? item.path : item.filename) + " (" +
           plan::to_string(item.origin) + ")");
    for (const auto& f : build::app_files(project, spec.out).files) info("  " + f);
  }
  vendor::Report report;
  auto staged = vendor::assemble(spec, &report);
  phase("vendor");
  std::optional<build::BuildSmoke> smoke;
  try {
    shrink(o, project, t, spec, staged, report);
    // A minimised bundle was proved already: every module the app imported, and a request.
    if (!o.no_smoke && !o.minimize)
      smoke.emplace(spec, report, staged, t.runtime_dir, !o.no_snapshot,
                    build::BuildSmoke::Context{services, reporter, global().cache()});
    if (!o.no_snapshot) {
      snapshot::MakeOptions mo;
      if (smoke) {
        mo.smoke = smoke->modules();
        mo.on_smoke = [&](const snapshot::SmokeReport& r) { smoke->take(r); };
      }
      mo.cache_dir = global().cache();
      mo.runtime_dir = t.runtime_dir;
      mo.bundle_dir = staged;
      mo.entry_module = std::filesystem::path(spec.entry).stem().string();
      mo.preimport = project.config.preimport;
      mo.hash_seed = o.hash_seed;
      mo.host_args = build::app_left_out_args(spec, staged);
      info("making the snapshot: importing '" + mo.entry_module + "' in Pyodide " + t.pyodide_version);
      auto made = snapshot::make_snapshot(mo);
      for (const auto& w : made.warnings) warning(w);
      build::fail_on_missing_app_files(spec, made.missing_app_files, reporter);
      report.manifest.snapshot = made.facts;
      report.manifest.snapshot->recipe =
          snapshot_recipe(mo.entry_module, mo.preimport, t.pyodide_version, made.facts.hash_seed.value_or(0));
      vendor::write_manifest(staged, spec, report);
      phase("snapshot");
    }
    if (smoke) smoke->finish();
    if (smoke) phase("smoke");
    // Written from the staged tree, so a failing archive leaves the earlier bundle as it was.
    if (!o.archive.empty()) vendor::write_archive(staged, o.archive, vendor::source_date_epoch());
    vendor::check_out(spec.out, guard);  // again: time passed since the first look
    fs::replace_dir(staged, spec.out);
    interrupt::forget(staged);
  } catch (...) {
    auto why = std::current_exception();
    // A snapshot that failed because the trim broke an import: the smoke run names the file.
    if (smoke) {
      try {
        smoke->finish();
      } catch (...) {
        why = std::current_exception();
      }
    }
    std::error_code ec;
    std::filesystem::remove_all(staged, ec);
    interrupt::forget(staged);
    std::rethrow_exception(why);
  }
  if (project.config.size_budget) warn_over_budget(spec.out, report.manifest, *project.config.size_budget);

  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (global().format == Format::json) {
    nlohmann::json j = {{"out", spec.out.string()}, {"packages", p.items.size()}, {"files", report.files},
                        {"bytes", report.bytes},    {"snapshot", nullptr},        {"seconds", seconds}};
    if (const auto& s = report.manifest.snapshot) j["snapshot"] = nlohmann::json(s->json());
    print_json(j);
  } else if (!global().quiet) {
    const auto& s = report.manifest.snapshot;
    std::string snap = !s ? "no snapshot" : fmt::format("snapshot {}", fetch::human_bytes(double(s->size.value_or(0))));
    std::cout << fmt::format("Built {} for pyodide {}: {} packages, {} files ({}), {} in {:.1f}s\n", spec.out.string(),
                             t.pyodide_version, p.items.size(), report.files,
                             fetch::human_bytes(static_cast<double>(report.bytes)), snap, seconds);
  }
}

}  // namespace

void register_build(CLI::App& app) {
  static BuildOptions o;
  auto* cmd = app.add_subcommand("build", "Plan, fetch, vendor and snapshot a project into a bundle");
  cmd->add_option("DIR", o.in.dir, "Project directory (default: .)");
  add_plan_options(*cmd, o.in);
  cmd->add_option("-o,--out", o.out, "Bundle directory (default: PROJECT_DIR/dist)");
  cmd->add_flag("--no-snapshot", o.no_snapshot, "Do not make a memory snapshot");
  cmd->add_option("--hash-seed", o.hash_seed,
                  "PYTHONHASHSEED while the snapshot imports (default: from the bundle digest)")
      ->check(CLI::Range(uint32_t{0}, uint32_t{4294967295u}));
  add_sandbox_flag(*cmd);
  cmd->add_flag("--no-smoke", o.no_smoke,
                "Do not import the entry and the trimmed bundle's modules in Pyodide (runs even with "
                "--no-snapshot; an entry that does not import, or a trim that breaks an import, fails the build)");
  cmd->add_flag("--offline", o.offline,
                "Use only the cache; name every file that is missing (and a missing runtime: npm is not started)");
  cmd->add_option("-j,--concurrency", o.concurrency, "Parallel downloads (default 16)")->check(CLI::Range(1, 256));
  cmd->add_option("--max-download", o.max_download,
                  "Largest file fetched when the lock gives no size, in bytes (default 1 GiB)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--mirror", o.mirrors, "Rewrite URLs starting with FROM to start with TO (FROM=TO, repeatable)");
  cmd->add_option("--ca-file", o.ca_file, "CA certificates for HTTPS (default $SSL_CERT_FILE, else the system's)");
  cmd->add_option("--netrc-file", o.netrc_file, "Credentials file (default $NETRC, else ~/.netrc)");
  cmd->add_option("--keep", o.keep, "Glob of files never trimmed (repeatable)");
  cmd->add_flag("--no-trim", o.no_trim, "Keep tests, docs, stubs and caches inside packages");
  cmd->add_option("--archive", o.archive, "Also write the bundle as FILE (.tar.zst or .zip)");
  cmd->add_flag("--compile", o.compile,
                "Precompile modules to .pyc in the target runtime; --compile=drop-sources also removes the "
                "sources of python_modules/ (app/ keeps them)")
      ->option_text("[=keep-sources|drop-sources]");
  cmd->add_flag("--minimize", o.minimize,
                "Keep only the files of python_modules/ that importing the entry and one request use (plus "
                "package metadata and --keep globs), then prove the result in a fresh runtime");
  cmd->footer(
      "Examples:\n"
      "  pybundle build                       # ./pyproject.toml + uv.lock -> ./dist\n"
      "  pybundle build app --out build/app --target pyodide@0.27.7\n"
      "  pybundle build --no-snapshot --archive app.tar.zst\n"
      "  pybundle build --minimize --compile=drop-sources   # smallest bundle, proved to work");
  cmd->callback([] { build(o); });
}

}  // namespace pb::cli
