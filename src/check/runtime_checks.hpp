// Checks of a built bundle against its Pyodide runtime. The runtime work (installing it, running
// the JavaScript host) is done by src/snapshot; these read its results.
#pragma once
#include <filesystem>
#include <string>
#include <utility>

#include "check/report.hpp"
#include "bundle/manifest.hpp"
#include "nlohmann/json.hpp"
#include "snapshot/smoke.hpp"
#include "snapshot/snapshot.hpp"

namespace pb::check {

// "snapshot": bundle.json's "snapshot" names a file of that size and sha256, whose header says it
// was made for this bundle's digest by this runtime (version and build). No snapshot is a note.
Check snapshot(const std::filesystem::path& bundle, const bundle::Manifest& manifest,
               const runtime::RuntimeInfo& runtime);

// "entry": from the same answer, the entry module imported (or was restored) and defines a callable
// on_fetch — the host looks it up before it calls it. An import error names the module and the
// place in the bundle its traceback points to.
Check entry(const std::filesystem::path& bundle, const bundle::Manifest& manifest, const nlohmann::json& answer);

// "request": the answer of snapshot::run_bundle (one GET /): on_fetch answered without raising,
// with a status below 500, from the restored snapshot when the bundle has one.
Check request(const std::filesystem::path& bundle, const bundle::Manifest& manifest, const nlohmann::json& answer);

// "smoke": the host's smoke run (a fresh Pyodide, no snapshot) of `modules` (the entry, then every
// vendored top-level module). One finding per module that failed, naming it, its distribution, the
// exception and the place. A ModuleNotFoundError for a top-level module the bundle does not have (an
// optional dependency, or a stdlib module Pyodide ships separately) is a warning; any other failure
// is an error. The entry's failure is left to the entry check when `entry_reported`.
Check smoke(const std::filesystem::path& bundle, const std::vector<snapshot::SmokeModule>& modules,
            const snapshot::SmokeReport& report, bool entry_reported);

// The innermost frame of a Python traceback that lies in the bundle ("python_modules/x/y.py", an
// app/ file by its project path as bundle.json entry.source places it: "src/app.py", or
// "/bundle/app/app.py") as a path shown under `bundle` and a line; {"", 0} when no frame does.
std::pair<std::string, long> traceback_place(const std::filesystem::path& bundle, const bundle::Manifest& manifest,
                                             const std::string& traceback);

}  // namespace pb::check
