#include "cli/common.hpp"

#include "runtime/host.hpp"
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
  std::cout << result.dump(indent) << std::endl;
  g_json_printed = true;
}
bool json_printed() {
  return g_json_printed;
}

CLI::Option* add_format_option(CLI::App& app, const std::vector<std::string>& names, const std::string& help) {
  auto* opt = app.add_option_function<std::string>(
      "--format",
      [](const std::string& v) {
        global().format = v == "json" ? Format::json : v == "github" ? Format::github : Format::human;
      },
      help);
  opt->check(CLI::IsMember(names))->type_name("FORMAT")->trigger_on_parse();  // set before the command starts
  return opt;
}

void refuse_github_format(CLI::App& cmd) {
  // The global --format comes before the command's name, so it is set when the command starts.
  cmd.preparse_callback([&cmd](size_t) {
    if (global().format == Format::github)
      throw CLI::ValidationError(
          "--format", "github annotations are made only by `check`; `" + cmd.get_name() + "` prints human or json");
  });
}

void add_sandbox_flag(CLI::App& cmd) {
  cmd.add_flag_callback(
      "--sandbox", [] { runtime::set_sandbox(true); },
      "Run the project's code (snapshot, smoke, check's imports) under Node's permission model: "
      "it reads only the bundle and the runtime, writes only the bundle, starts no processes");
}

void add_var_option(CLI::App& cmd, std::map<std::string, std::string>& vars) {
  cmd.add_option_function<std::vector<std::string>>(
         "--var",
         [&vars](const std::vector<std::string>& given) {
           for (const auto& kv : given) {
             auto eq = kv.find('=');
             if (eq == 0 || eq == std::string::npos)
               throw CLI::ValidationError("--var", "'" + kv + "' is not NAME=VALUE");
             vars[kv.substr(0, eq)] = kv.substr(eq + 1);
           }
         },
         "Set a worker var (self.env.NAME) for this run, over [tool.pybundle] vars (NAME=VALUE, repeatable)")
      ->type_name("NAME=VALUE");
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
  std::string text = std::string("pybundle ") + PYBUNDLE_VERSION + " (commit " + build_commit() + ")\n" +
                     "default target: " + default_target() + "\nsupported targets:";
  for (const auto& r : supported_releases()) text += " pyodide@" + r;
  return text;
}

}  // namespace pb::cli
