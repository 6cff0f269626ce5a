// pybundle export BUNDLE: the built (and checked) bundle as the project wrangler deploys. A separate
// command rather than a build layout: run, serve, check and snapshot keep one bundle shape, and
// what is exported is exactly what `check --bundle` passed (each file is checked against bundle.json).
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "fetch/progress.hpp"
#include "vendor/wrangler.hpp"

namespace pb::cli {

namespace {

// Cloudflare's Worker size limits (gzip): Free and Paid plans.
constexpr uint64_t kFreeLimit = 3ull << 20, kPaidLimit = 10ull << 20;

}  // namespace

void run_export(const ExportArgs& a) {
  vendor::WranglerOptions o;
  o.bundle = a.bundle;
  auto bundle = a.bundle.lexically_normal();
  if (!bundle.has_filename()) bundle = bundle.parent_path();  // "dist/" -> "dist"
  o.out = a.out.empty() ? std::filesystem::path(bundle.string() + "-wrangler") : a.out;
  o.name = a.name;
  o.compatibility_date = a.compatibility_date;
  auto r = vendor::export_wrangler(o);
  if (global().format == Format::json) {
    nlohmann::json j = {{"out", o.out.string()},
                        {"name", r.name},
                        {"main", r.main},
                        {"compatibility_date", r.compatibility_date},
                        {"compatibility_flags", r.flags},
                        {"uploads_pyc", r.uploads_pyc},
                        {"skipped_pyc", r.skipped_pyc},
                        {"files", r.files},
                        {"bytes", r.bytes},
                        {"gzip_bytes", r.gzip_bytes},
                        {"free_limit_bytes", kFreeLimit},
                        {"paid_limit_bytes", kPaidLimit}};
    print_json(j);
    return;
  }
  if (global().quiet) return;
  auto h = [](uint64_t n) { return fetch::human_bytes(static_cast<double>(n)); };
  std::string limit = r.gzip_bytes > kPaidLimit   ? "over the 10 MiB limit of every plan"
                      : r.gzip_bytes > kFreeLimit ? "over the Free plan's 3 MiB, within the Paid plan's 10 MiB"
                                                  : "within the Free plan's 3 MiB";
  std::cout << fmt::format("Exported {} to {} for wrangler: main {}, {} modules ({}), {} gzipped ({})\n",
                           a.bundle.string(), o.out.string(), r.main, r.files, h(r.bytes), h(r.gzip_bytes), limit);
  std::string flags;
  for (const auto& f : r.flags) flags += (flags.empty() ? "" : ", ") + f;
  info(fmt::format("compatibility date {}, flags {}{}", r.compatibility_date, flags,
                   r.uploads_pyc ? "; sourceless .pyc uploaded (python_modules.exclude = [])" : ""));
  if (r.skipped_pyc)
    info(fmt::format("{} __pycache__ .pyc files left out (wrangler does not upload them)", r.skipped_pyc));
  info("deploy: cd " + o.out.string() + " && npx wrangler deploy");
}

}  // namespace pb::cli
