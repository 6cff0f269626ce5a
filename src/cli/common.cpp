#include "cli/common.hpp"

#include "util/error.hpp"
#include "util/fs.hpp"

#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace pb::cli {

Global& global() {
  static Global g;
  return g;
}

bool Global::use_color(int fd) const {
  if (color == "always") return true;
  if (color == "never") return false;
  if (const char* nc = std::getenv("NO_COLOR"); nc && *nc) return false;
  return ::isatty(fd);
}

std::filesystem::path Global::cache() const {
  auto dir = cache_dir.empty() ? fs::default_cache_dir() : cache_dir;
  std::error_code ec;
  if (std::filesystem::exists(dir, ec) && !std::filesystem::is_directory(dir, ec))
    throw Error("cache directory " + dir.string() +
                    ": exists and is not a directory (choose another with --cache-dir or $PYBUNDLE_CACHE_DIR)",
                Exit::usage);
  return dir;
}

namespace {
void emit(std::string_view label, const char* colour, std::string_view message) {
  bool c = global().use_color(2);
  std::cerr << (c ? colour : "") << label << (c ? "\033[0m" : "") << ": " << message << "\n";
}
}  // namespace

void error(std::string_view message) {
  emit("error", "\033[1;31m", message);
}
void warning(std::string_view message) {
  if (!global().quiet) emit("warning", "\033[1;33m", message);
}
void info(std::string_view message) {
  if (!global().quiet) std::cerr << message << "\n";
}

namespace {
bool g_json_printed = false;
}

void print_json(const nlohmann::json& result, int indent) {
  // A path or message may hold bytes that are not UTF-8 (a file name): shown as U+FFFD, not an abort.
  std::cout << result.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
  g_json_printed = true;
}
void print_ordered_json(const nlohmann::ordered_json& result, int indent) {
  std::cout << result.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
  g_json_printed = true;
}
bool json_printed() {
  return g_json_printed;
}

// The newest release whose snapshot round trip passes on the flask-app corpus (README).
std::string default_target() {
  return "pyodide@314.0.7";
}

// Each has its facts in tests/integration/bundles.py and runs in test_plan.py.
const std::vector<std::string>& supported_releases() {
  static const std::vector<std::string> releases = {"0.27.7", "0.29.3", "314.0.7"};
  return releases;
}

std::string version_text() {
  auto text = fmt::format("pybundle {} (commit {})\ndefault target: {}\nsupported targets:", PYBUNDLE_VERSION,
                          build_commit(), default_target());
  for (const auto& r : supported_releases()) text += " pyodide@" + r;
  return text;
}

}  // namespace pb::cli
