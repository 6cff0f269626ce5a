// pybundle build: BuildOptions -> build::BuildRequest -> build::build -> the "Built ..." line or JSON.
#include <cstdlib>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "build/build.hpp"
#include "check/output.hpp"
#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/planning.hpp"
#include "cli/reporter.hpp"
#include "fetch/progress.hpp"
#include "vendor/vendor.hpp"
#include "util/text.hpp"

namespace pb::cli {

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
    std::cout << fmt::format("Built {} for pyodide {}: {}, {} ({}), {} in {:.1f}s\n", b.out.string(), b.pyodide,
                             plural(b.packages, "package"), plural(b.files, "file"),
                             fetch::human_bytes(static_cast<double>(b.bytes)), snap, b.seconds);
  }
}

}  // namespace pb::cli
