#include "cli/common.hpp"

#include "util/fs.hpp"

#include <unistd.h>

#include <cstdlib>
#include <iostream>

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
  return cache_dir.empty() ? fs::default_cache_dir() : cache_dir;
}

namespace {
void emit(std::string_view label, const char* colour, std::string_view message) {
  bool c = global().use_color(2);
  std::cerr << (c ? colour : "") << label << (c ? "\033[0m" : "") << ": " << message << "\n";
}
}  // namespace

void error(std::string_view message) { emit("error", "\033[1;31m", message); }
void warning(std::string_view message) {
  if (!global().quiet) emit("warning", "\033[1;33m", message);
}
void info(std::string_view message) {
  if (!global().quiet) std::cerr << message << "\n";
}

// The newest release whose snapshot round trip passes on the flask-app corpus (README).
std::string default_target() { return "pyodide@314.0.7"; }

}  // namespace pb::cli
