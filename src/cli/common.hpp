// Shared command-line state and output helpers.
#pragma once
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace pb::cli {

enum class Format { human, json, github };

struct Global {
  bool quiet = false;
  int verbose = 0;
  Format format = Format::human;
  std::string color = "auto";       // auto | always | never
  std::filesystem::path cache_dir;  // --cache-dir / PYBUNDLE_CACHE_DIR

  bool use_color(int fd) const;
  std::filesystem::path cache() const;  // cache_dir, else $XDG_CACHE_HOME/pybundle
};

Global& global();

// Human output on stderr: "error: …", "warning: …", "note: …" (coloured on a TTY).
void error(std::string_view message);
void warning(std::string_view message);
void info(std::string_view message);  // silent with --quiet

// The command's one JSON result on stdout (--format json). cli::run prints {"ok": false, ...} for a
// command that failed before printing its own.
void print_json(const nlohmann::json& result, int indent = 2);
void print_ordered_json(const nlohmann::ordered_json& result, int indent = 2);  // keys in their order
bool json_printed();

// The target when neither --target, $PYBUNDLE_TARGET nor [tool.pybundle] names one.
std::string default_target();
// The Pyodide releases the tests run against ("0.27.7", ...), oldest first; the default is one.
const std::vector<std::string>& supported_releases();

// The git commit this binary was built from (vcs_tag at build time; "unknown" outside git).
std::string build_commit();
// What `pybundle --version` prints: version, commit, default and supported targets.
std::string version_text();

}  // namespace pb::cli
