// pybundle's entry point: what the whole process needs, then the command line (cli/flags.cpp).
#include <cstdlib>
#include <filesystem>

#include "cli/commands.hpp"
#include "runtime/runtime.hpp"
#include "util/interrupt.hpp"

int main(int argc, char** argv) {
  pb::interrupt::install();
  // The environment is read here, once; library code is told.
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return std::filesystem::path(v && *v ? v : "");
  };
  pb::runtime::set_locations({.node = env("PYBUNDLE_NODE"), .pyodide_dir = env("PYBUNDLE_PYODIDE_DIR")});
  return pb::cli::run(argc, argv);
}
