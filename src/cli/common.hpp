// Shared command-line state and output helpers.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

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

// The command's one JSON result on stdout (--format json). main prints {"ok": false, ...} for a
// command that failed before printing its own.
void print_json(const nlohmann::json& result, int indent = 2);
bool json_printed();

// --format with these names only (no enum numbers in --help, none accepted), into global().format.
CLI::Option* add_format_option(CLI::App& app, const std::vector<std::string>& names, const std::string& help);
// A command without GitHub annotations refuses a global --format github (usage error).
void refuse_github_format(CLI::App& cmd);

// Register each command on the app. Each lives in cmd_<name>.cpp.
void register_build(CLI::App& app);
void register_run(CLI::App& app);
void register_cache(CLI::App& app);
void register_plan(CLI::App& app);
void register_why(CLI::App& app);
void register_serve(CLI::App& app);
void register_snapshot(CLI::App& app);
void register_check(CLI::App& app);
void register_completions(CLI::App& app);
void register_self(CLI::App& app);
void register_export(CLI::App& app);
void register_inspect(CLI::App& app);

// --var K=V (repeatable) on run and serve: a worker's self.env over bundle.json "vars".
void add_var_option(CLI::App& cmd, std::map<std::string, std::string>& vars);

// --sandbox on build, check and snapshot: the project's code runs under Node's permission model.
void add_sandbox_flag(CLI::App& cmd);

// Options shared by commands that resolve a target.
std::string default_target();
// The Pyodide releases the tests run against ("0.27.7", ...), oldest first; the default is one.
const std::vector<std::string>& supported_releases();

// The git commit this binary was built from (vcs_tag at build time; "unknown" outside git).
std::string build_commit();
// What `pybundle --version` prints: version, commit, default and supported targets.
std::string version_text();

}  // namespace pb::cli
