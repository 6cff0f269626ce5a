#include <cstdlib>
#include <iostream>

#include "cli/common.hpp"
#include "runtime/host.hpp"
#include "runtime/runtime.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/interrupt.hpp"

int main(int argc, char** argv) {
  using namespace pb::cli;
  pb::interrupt::install();
  // The environment is read here, once; library code is told.
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return std::filesystem::path(v && *v ? v : "");
  };
  pb::runtime::set_locations({.node = env("PYBUNDLE_NODE"), .pyodide_dir = env("PYBUNDLE_PYODIDE_DIR")});
  CLI::App app{"pybundle: bundle a Python project for Pyodide, with a memory snapshot"};
  app.set_version_flag("--version", version_text(), "Print the version, commit, default and supported targets");
  app.require_subcommand(1);
  app.fallthrough();  // global options (-q, -v, --color, ...) after the command too, as uv allows
  auto& g = global();
  app.add_flag("-q,--quiet", g.quiet, "Print only errors")->configurable(false);
  app.add_flag("-v,--verbose", g.verbose, "More detail (repeatable)");
  app.add_option("--color", g.color, "Colour: auto, always, never")->check(CLI::IsMember({"auto", "always", "never"}));
  add_format_option(app, {"github", "human", "json"}, "Output: human, json, github (github: check only)");
  app.add_option("--cache-dir", g.cache_dir, "Cache directory (default $XDG_CACHE_HOME/pybundle)")
      ->envname("PYBUNDLE_CACHE_DIR");
  app.add_option_function<double>(
         "--timeout", [](const double& s) { pb::runtime::set_host_timeout(s); },
         "Seconds one run of the JavaScript host may take (snapshot, smoke, run, check; in serve, each "
         "request), default 300; 0: no limit")
      ->check(CLI::Validator(
          [](const std::string& s) -> std::string {
            char* end = nullptr;
            double v = std::strtod(s.c_str(), &end);
            return end != s.c_str() && *end == '\0' && v >= 0 && v <= 1e9
                       ? ""
                       : "'" + s + "' is not a number of seconds, 0 or more";
          },
          "SECONDS"));
  register_build(app);
  register_cache(app);
  register_plan(app);
  register_why(app);
  register_run(app);
  register_serve(app);
  register_snapshot(app);
  register_check(app);
  register_completions(app);
  register_self(app);
  register_export(app);
  register_inspect(app);
  for (auto* cmd : app.get_subcommands({}))
    if (cmd->get_name() != "check") refuse_github_format(*cmd);

  // --format json: a command that fails before printing its result still prints one JSON object.
  auto fail = [&](pb::Exit code, const std::vector<std::string>& errors) {
    pb::interrupt::hold_if_interrupted();
    if (g.format == Format::json && !json_printed())
      print_json({{"ok", false}, {"exit", static_cast<int>(code)}, {"errors", errors}});
    return static_cast<int>(code);
  };
  // The first word that is not an option (or a global option's value) names the command. An
  // unknown one is refused before parsing, so --format json is looked for here.
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--format=json" || (a == "--format" && i + 1 < argc && std::string_view(argv[i + 1]) == "json"))
      g.format = Format::json;
  }
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--") break;
    if (a == "--color" || a == "--format" || a == "--cache-dir" || a == "--timeout") {
      ++i;
      continue;
    }
    if (a.starts_with("-")) continue;
    std::string names;
    bool known = false;
    for (const auto* cmd : app.get_subcommands({})) {
      names += (names.empty() ? "" : ", ") + cmd->get_name();
      known = known || cmd->get_name() == a;
    }
    if (known) break;
    error("unknown command '" + std::string(a) + "' (commands: " + names + "; see pybundle --help)");
    return fail(pb::Exit::usage, {"unknown command '" + std::string(a) + "'"});
  }
  // An error or the end of a command while a signal is being handled waits there to be killed.
  struct Hold {
    ~Hold() { pb::interrupt::hold_if_interrupted(); }
  } hold;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : fail(pb::Exit::usage, {e.what()});
  } catch (const pb::Errors& e) {
    pb::interrupt::hold_if_interrupted();
    error(e.what());
    return fail(e.code(), e.problems());
  } catch (const pb::Error& e) {
    pb::interrupt::hold_if_interrupted();
    error(e.what());
    return fail(e.code(), {e.what()});
  } catch (const std::exception& e) {
    pb::interrupt::hold_if_interrupted();
    error(std::string("internal error: ") + e.what());
    return fail(pb::Exit::internal, {std::string("internal error: ") + e.what()});
  }
  return 0;
}
