// pybundle build: flags -> build::BuildRequest -> build::build -> the "Built ..." line or JSON.
#include <cstdlib>
#include <iostream>

#include <fmt/format.h>

#include "build/build.hpp"
#include "cli/common.hpp"
#include "cli/planning.hpp"
#include "cli/reporter.hpp"
#include "fetch/progress.hpp"
#include "vendor/vendor.hpp"

namespace pb::cli {
namespace {

struct BuildOptions {
  build::BuildRequest request;
  std::string compile;  // "", "true" (a bare --compile), "keep-sources", "drop-sources"
  bool no_snapshot = false, no_smoke = false, no_trim = false;
};

void run_build(BuildOptions o) {
  auto& r = o.request;
  // A bare --compile arrives as "true" (CLI11 flag); only the --compile=MODE form takes a value.
  r.compile = o.compile.empty()     ? vendor::CompileMode::none
              : o.compile == "true" ? vendor::CompileMode::keep_sources
                                    : vendor::parse_compile_mode(o.compile);
  r.source_date_epoch = vendor::source_date_epoch();
  r.snapshot = !o.no_snapshot;
  r.smoke = !o.no_smoke;
  r.trim = !o.no_trim;
  r.plan = resolved(r.plan);
  if (const char* home = std::getenv("HOME"); home && *home) r.home = home;
  TerminalReporter reporter;
  auto b = build::build(r, build::Services::real(), reporter);
  if (global().format == Format::json) {
    nlohmann::json j = {{"out", b.out.string()}, {"packages", b.packages}, {"files", b.files},
                        {"bytes", b.bytes},      {"snapshot", nullptr},    {"seconds", b.seconds}};
    if (b.snapshot) j["snapshot"] = nlohmann::json(b.snapshot->json());
    print_json(j);
  } else if (!global().quiet) {
    std::string snap = !b.snapshot
                           ? "no snapshot"
                           : fmt::format("snapshot {}", fetch::human_bytes(double(b.snapshot->size.value_or(0))));
    std::cout << fmt::format("Built {} for pyodide {}: {} packages, {} files ({}), {} in {:.1f}s\n", b.out.string(),
                             b.pyodide, b.packages, b.files, fetch::human_bytes(static_cast<double>(b.bytes)), snap,
                             b.seconds);
  }
}

}  // namespace

void register_build(CLI::App& app) {
  static BuildOptions o;
  auto* cmd = app.add_subcommand("build", "Plan, fetch, vendor and snapshot a project into a bundle");
  auto& r = o.request;
  cmd->add_option("DIR", r.plan.dir, "Project directory (default: .)");
  add_plan_options(*cmd, r.plan);
  cmd->add_option("-o,--out", r.out, "Bundle directory (default: PROJECT_DIR/dist)");
  cmd->add_flag("--no-snapshot", o.no_snapshot, "Do not make a memory snapshot");
  cmd->add_option("--hash-seed", r.hash_seed,
                  "PYTHONHASHSEED while the snapshot imports (default: from python_modules/)")
      ->check(CLI::Range(uint32_t{0}, uint32_t{4294967295u}));
  add_sandbox_flag(*cmd);
  cmd->add_flag("--no-smoke", o.no_smoke,
                "Do not import the entry and the trimmed bundle's modules in Pyodide (runs even with "
                "--no-snapshot; an entry that does not import, or a trim that breaks an import, fails the build)");
  cmd->add_flag("--offline", r.plan.offline,
                "Use only the cache; name every file that is missing (and a missing runtime: npm is not started)");
  cmd->add_option("-j,--concurrency", r.concurrency, "Parallel downloads (default 16)")->check(CLI::Range(1, 256));
  cmd->add_option("--max-download", r.max_download,
                  "Largest file fetched when the lock gives no size, in bytes (default 1 GiB)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--mirror", r.mirrors, "Rewrite URLs starting with FROM to start with TO (FROM=TO, repeatable)");
  cmd->add_option("--ca-file", r.ca_file, "CA certificates for HTTPS (default $SSL_CERT_FILE, else the system's)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--netrc-file", r.netrc_file, "Credentials file (default $NETRC, else ~/.netrc)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--keep", r.keep, "Glob of files never trimmed (repeatable)");
  cmd->add_flag("--no-trim", o.no_trim, "Keep tests, docs, stubs and caches inside packages");
  cmd->add_option("--archive", r.archive, "Also write the bundle as FILE (.tar.zst or .zip)");
  cmd->add_flag("--compile", o.compile,
                "Precompile modules to .pyc in the target runtime; --compile=drop-sources also removes the "
                "sources of python_modules/ (app/ keeps them)")
      ->option_text("[=keep-sources|drop-sources]");
  cmd->add_flag("--minimize", r.minimize,
                "Keep only the files of python_modules/ that importing the entry and one request use (plus "
                "package metadata and --keep globs), then prove the result in a fresh runtime");
  cmd->footer(
      "Examples:\n"
      "  pybundle build                       # ./pyproject.toml + uv.lock -> ./dist\n"
      "  pybundle build app --out build/app --target pyodide@0.27.7\n"
      "  pybundle build --no-snapshot --archive app.tar.zst\n"
      "  pybundle build --minimize --compile=drop-sources   # smallest bundle, proved to work");
  cmd->callback([] { run_build(o); });
}

}  // namespace pb::cli
