// Node.js, the npm `pyodide` runtime, and the JavaScript host that makes and restores snapshots.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace pb::snapshot {

// Path of `node`; throws pb::Error (Exit::usage) saying what to install when missing.
std::filesystem::path find_node();

// Directory holding pyodide.mjs and pyodide-lock.json for `version`: $PYBUNDLE_PYODIDE_DIR when
// it holds that version, else <cache>/runtimes/pyodide-<version>, installed with npm on first use.
std::filesystem::path ensure_runtime(const std::string& version, const std::filesystem::path& cache_dir);

// Run the embedded host with mode and arguments; returns its JSON answer (stdout).
// Host logs and Python tracebacks go to stderr. Throws pb::Error with the host's message on failure.
nlohmann::json run_host(const std::filesystem::path& runtime_dir, const std::string& mode,
                        const std::vector<std::string>& args);

}  // namespace pb::snapshot
