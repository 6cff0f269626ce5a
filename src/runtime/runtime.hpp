// Node.js and the npm `pyodide` runtimes: where they are, installing one, what identifies it.
#pragma once
#include <filesystem>
#include <optional>
#include <string>

namespace pb::runtime {

// Where to look first, resolved by the CLI from the environment: PYBUNDLE_NODE (a node executable)
// and PYBUNDLE_PYODIDE_DIR (an installed runtime). Empty: not set.
struct Locations {
  std::filesystem::path node = {};
  std::filesystem::path pyodide_dir = {};
};
void set_locations(const Locations& locations);

// Path of `node` (Locations::node, else `node` or `nodejs` on PATH); throws pb::Error
// (Exit::usage) saying what to install when missing.
std::filesystem::path find_node();

// Directory holding pyodide.mjs and pyodide-lock.json for `version`: Locations::pyodide_dir when
// it holds that version (the package itself, or <dir>/<version>/node_modules/pyodide), else
// <cache>/runtimes/pyodide-<version>/node_modules/pyodide, installed with npm on first use
// (under a lock, into a temporary directory renamed into place). `offline`: never start npm; a
// missing runtime is an error (Exit::io) saying how to get it.
std::filesystem::path ensure_runtime(const std::string& version, const std::filesystem::path& cache_dir,
                                     bool offline = false);
// That directory when `version` is already there; nullopt when ensure_runtime would install it.
std::optional<std::filesystem::path> find_runtime(const std::string& version, const std::filesystem::path& cache_dir);

// What identifies a runtime build: its version and Pyodide's BUILD_ID (a hash of the wasm
// runtime; falls back to the sha256 of pyodide.asm.wasm).
struct RuntimeInfo {
  std::filesystem::path dir;
  std::string version;
  std::string build_id;
};
RuntimeInfo runtime_info(const std::filesystem::path& runtime_dir);

}  // namespace pb::runtime
