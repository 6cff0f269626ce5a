#include <cstdlib>
#include <iostream>

#include "cli/common.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

int main(int argc, char** argv) {
  using namespace pb::cli;
  CLI::App app{"pybundle: bundle a Python project for Pyodide, with a memory snapshot"};
  app.set_version_flag("--version", std::string("pybundle ") + PYBUNDLE_VERSION + " (default target " +
                                        default_target() + ")");
  app.require_subcommand(1);
  app.fallthrough();  // global options (-q, -v, --color, ...) after the command too, as uv allows
  auto& g = global();
  app.add_flag("-q,--quiet", g.quiet, "Print only errors")->configurable(false);
  app.add_flag("-v,--verbose", g.verbose, "More detail (repeatable)");
  app.add_option("--color", g.color, "Colour: auto, always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  app.add_option("--format", g.format, "Output: human, json, github")
      ->transform(CLI::CheckedTransformer(
          std::map<std::string, Format>{{"human", Format::human}, {"json", Format::json}, {"github", Format::github}}));
  app.add_option("--cache-dir", g.cache_dir, "Cache directory (default $XDG_CACHE_HOME/pybundle)")
      ->envname("PYBUNDLE_CACHE_DIR");
  register_build(app);
  register_cache(app);
  register_plan(app);
  register_why(app);
  register_run(app);
  register_serve(app);
  register_snapshot(app);
  register_check(app);
  register_completions(app);


  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : static_cast<int>(pb::Exit::usage);
  } catch (const pb::Error& e) {
    error(e.what());
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    error(std::string("internal error: ") + e.what());
    return static_cast<int>(pb::Exit::internal);
  }
  return 0;
}
