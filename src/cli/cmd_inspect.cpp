// pybundle inspect BUNDLE: what each distribution costs in the upload and at import, against the
// size budget and Cloudflare's limits.
#include <cmath>
#include <cstdlib>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "check/inspect.hpp"
#include "check/project_checks.hpp"
#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "project/project.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/json.hpp"

namespace pb::cli {

namespace {

// "-" when smaller, "+" when larger: what the option changes of the gzip upload.
std::string delta(uint64_t after, uint64_t before) {
  if (after == before) return "no change";
  return fmt::format(
      "{}{} ({}{:.1f}%)", after > before ? "+" : "-",
      check::human_size(after > before ? after - before : before - after), after > before ? "+" : "-",
      before ? 100.0 * std::abs(static_cast<double>(after) - static_cast<double>(before)) / static_cast<double>(before)
             : 0.0);
}

std::string percent(uint64_t part, uint64_t whole) {
  return whole ? fmt::format("{:.1f}%", 100.0 * static_cast<double>(part) / static_cast<double>(whole)) : "-";
}

}  // namespace

void run_inspect(const InspectArgs& a) {
  auto manifest = bundle::read(a.bundle);
  std::optional<uint64_t> budget;
  std::string budget_source;
  auto budget_text = a.size_budget;
  budget_source = "--size-budget";
  if (!budget_text) {
    if (const char* env = std::getenv("PYBUNDLE_SIZE_BUDGET"); env && *env) {
      budget_text = env;
      budget_source = "PYBUNDLE_SIZE_BUDGET";
    }
  }
  if (budget_text) {
    try {
      budget = project::parse_size(*budget_text);
    } catch (const Error& e) {
      throw Error(budget_source + ": " + e.what(), Exit::usage);
    }
  }
  auto r = check::inspect(a.bundle, manifest);
  std::optional<check::Savings> savings;
  if (a.shrink) {
    info("measuring --minimize and --compile=drop-sources on copies of the bundle in Pyodide " +
         manifest.target.pyodide);
    savings = check::measure_savings(a.bundle, manifest, global().cache());
  }

  if (global().format == Format::json) {
    nlohmann::ordered_json j;
    j["bundle"] = a.bundle.string();
    j["files"] = r.files;
    j["bytes"] = r.bytes;
    j["gzip_bytes"] = r.gzip_bytes;
    j["limits"] = {{"free_bytes", check::kFreeLimit}, {"paid_bytes", check::kPaidLimit}};
    j["budget_bytes"] = budget ? nlohmann::ordered_json(*budget) : nlohmann::ordered_json();
    j["import_times"] = r.import_times;
    auto list = nlohmann::ordered_json::array();
    for (const auto& c : r.contributors) {
      nlohmann::ordered_json e;
      e["name"] = c.name;
      e["version"] = c.version.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(c.version);
      e["modules"] = c.modules;
      e["files"] = c.files;
      e["bytes"] = c.bytes;
      e["gzip_bytes"] = c.gzip_bytes;
      e["share"] = std::round(c.share * 10000) / 10000;
      e["import_ms"] =
          c.import_ms ? nlohmann::ordered_json(std::round(*c.import_ms * 10) / 10) : nlohmann::ordered_json();
      list.push_back(std::move(e));
    }
    j["contributors"] = std::move(list);
    if (savings)
      j["shrink"] = {
          {"gzip_bytes", savings->gzip_bytes},
          {"minimize", {{"gzip_bytes", savings->minimized}, {"files_dropped", savings->minimize_drops}}},
          {"compile_drop_sources", {{"gzip_bytes", savings->compiled}, {"sources_replaced", savings->compile_drops}}},
          {"both", {{"gzip_bytes", savings->both}}}};
    else j["shrink"] = nullptr;
    print_ordered_json(j);
    return;
  }
  using check::human_size;
  std::cout << fmt::format("{}: {} files, {}; upload {} gzipped (one gzip stream, as wrangler measures)\n",
                           a.bundle.string(), r.files, human_size(r.bytes), human_size(r.gzip_bytes));
  std::cout << fmt::format("  Cloudflare limits: {} of the Free plan's 3 MiB, {} of the Paid plan's 10 MiB{}\n",
                           percent(r.gzip_bytes, check::kFreeLimit), percent(r.gzip_bytes, check::kPaidLimit),
                           budget ? fmt::format("; {} of the budget {} ({})", percent(r.gzip_bytes, *budget),
                                                human_size(*budget), budget_source)
                                  : "");
  std::cout << fmt::format("\n{:<24} {:>10} {:>6} {:>10} {:>10} {:>6} {:>10}\n", "distribution", "version", "files",
                           "bytes", "gzip", "share", "import");
  for (const auto& c : r.contributors)
    std::cout << fmt::format("{:<24} {:>10} {:>6} {:>10} {:>10} {:>5.1f}% {:>10}\n", c.name, c.version, c.files,
                             human_size(c.bytes), human_size(c.gzip_bytes), c.share * 100,
                             c.import_ms ? fmt::format("{:.1f} ms", *c.import_ms) : "-");
  std::cout << "\n"
            << (r.import_times
                    ? "import: self time of each distribution's module bodies while the snapshot was made (the "
                      "stdlib modules they import included); a restore does not pay it again; - : not imported "
                      "then (a request that imports it pays it).\n"
                    : "import: not recorded (no snapshot, or one made by an older pybundle); `pybundle snapshot "
                      "BUNDLE` records it.\n")
            << "share: of the distributions' gzip bytes, each compressed on its own.\n"
            << "heap: each distribution's share of the snapshot heap is not measured.\n";
  if (!savings) {
    std::cout << "shrink: `pybundle inspect --shrink` measures what --minimize and --compile would save.\n";
    return;
  }
  const auto& s = *savings;
  std::cout << fmt::format("\nmeasured on copies of the bundle (gzip upload now {}):\n", human_size(s.gzip_bytes))
            << fmt::format("  --minimize                       {:>10}  {} ({} files of python_modules/ dropped)\n",
                           human_size(s.minimized), delta(s.minimized, s.gzip_bytes), s.minimize_drops)
            << fmt::format("  --compile=drop-sources           {:>10}  {} ({} sources replaced by .pyc)\n",
                           human_size(s.compiled), delta(s.compiled, s.gzip_bytes), s.compile_drops)
            << fmt::format("  --minimize --compile=drop-sources {:>9}  {}\n", human_size(s.both),
                           delta(s.both, s.gzip_bytes))
            << "--minimize: the files the entry's import and one GET / do not touch, from the same trace a build runs "
               "(a build then proves the result); --compile: the .pyc the bundle's runtime writes.\n";
}

}  // namespace pb::cli
