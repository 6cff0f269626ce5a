// `pybundle cache dir | clean | prune [--days N]`: the download cache.
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "fetch/cache.hpp"
#include "fetch/progress.hpp"
#include "util/fs.hpp"
#include "util/text.hpp"

namespace pb::cli {

namespace {

std::string describe(const pb::fetch::CacheStats& s) {
  return plural(s.files, "file") + " (" + pb::fetch::human_bytes(static_cast<double>(s.bytes)) + ")";
}

}  // namespace

void run_cache_dir() {
  if (global().format == Format::json) return print_json({{"ok", true}, {"dir", global().cache().string()}});
  std::cout << global().cache().string() << "\n";
}

void run_cache_clean() {
  auto dir = global().cache();
  auto stats = pb::fetch::clean_cache(dir, global().cache_dir.empty());
  if (global().format == Format::json)
    return print_json({{"ok", true},
                       {"dir", dir.string()},
                       {"removed_files", stats.files},
                       {"removed_bytes", stats.bytes},
                       {"kept", stats.kept}});
  info("removed " + describe(stats) + " from " + dir.string());
  if (!stats.kept.empty()) {
    std::string names;
    for (const auto& n : stats.kept) names += (names.empty() ? "" : ", ") + n;
    warning("kept what pybundle did not write there: " + names);
  }
}

void run_cache_prune(int days) {
  auto dir = global().cache();
  auto stats = pb::fetch::prune_cache(dir, std::chrono::hours(24) * days);
  if (global().format == Format::json)
    return print_json({{"ok", true},
                       {"dir", dir.string()},
                       {"days", days},
                       {"removed_files", stats.files},
                       {"removed_bytes", stats.bytes}});
  info("removed " + describe(stats) + " not used for " + std::to_string(days) + " days from " + dir.string());
}

}  // namespace pb::cli
