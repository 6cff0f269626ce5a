// The host's smoke mode: import modules of a bundle in a fresh Pyodide, each on its own.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "bundle/manifest.hpp"
#include "nlohmann/json.hpp"

namespace pb::snapshot {

// A module to import and the distribution it belongs to ("" for the entry).
struct SmokeModule {
  std::string module;
  std::string distribution;  // normalised name ("python-dateutil"); several joined by ", "
};

// The top-level modules of every distribution under `python_modules`, sorted by module name:
// each .dist-info's top_level.txt when present, else RECORD's top-level .py files, packages
// (directories holding .py/.pyc/.so files) and extension modules. Skips *.dist-info, *.data,
// __pycache__, names that are not identifiers, and names with nothing left on disk (a top-level
// `tests` package the trim removed whole). A module shipped by two distributions is listed once.
std::vector<SmokeModule> vendored_modules(const std::filesystem::path& python_modules);

// The default smoke list of a bundle: its entry module (bundle.json "entry"), then vendored_modules.
std::vector<SmokeModule> smoke_modules(const std::filesystem::path& bundle_dir, const bundle::Manifest& manifest);

struct SmokeResult {
  std::string module;
  bool ok = true;
  std::string error;           // exception type: "ModuleNotFoundError"
  std::string message;         // str(exception)
  std::string file;            // innermost traceback frame in the bundle ("python_modules/x/__init__.py"),
  long line = 0;               // else the innermost frame outside the import machinery; "" / 0 when none
  std::string missing_module;  // ImportError.name, when set
  std::string missing_file;    // OSError.filename (relative to the bundle when inside it)
  std::string traceback;       // without the host's frames; app/ files named as in the project
  std::string hint;            // what the host knows of the cause (a module trimmed, not a dependency, ...)
  double ms = 0;               // time the import took
};

struct SmokeReport {
  std::vector<SmokeResult> results;            // in the order asked
  nlohmann::json timings;                      // the host's timings_ms
  double process_ms = 0;                       // spawn to answer
  std::vector<std::string> missing_app_files;  // "app/x" the imports tried to open and did not find
  std::string handler_error;                   // with --entry: why the imported entry has no handler run could call
  // Where the imports ran: a fresh Pyodide of their own (empty), or after a request in the runtime
  // that answered it: "restored" from the snapshot, or "imported" without one.
  std::string after_request;
  size_t failed() const;
};

// The strings of the array member `key` of the host's answer (other values skipped).
std::vector<std::string> string_list(const nlohmann::json& answer, const char* key);

// Run the host's smoke mode on `bundle_dir` with the runtime in `runtime_dir` (no snapshot), importing
// `modules` in order. `cache_dir` (default: the user cache) holds the host script and V8's code cache.
// Throws pb::Error when the host cannot run or does not answer.
// `host_args`: more host options (the build's --app-left-out).
SmokeReport smoke(const std::filesystem::path& bundle_dir, const std::filesystem::path& runtime_dir,
                  const std::vector<std::string>& modules, const std::filesystem::path& cache_dir = {},
                  const std::vector<std::string>& host_args = {});

// "a,b,c" for the host's --modules/--smoke; throws pb::Error (Exit::usage) on a name holding a comma.
std::string smoke_list(const std::vector<std::string>& modules);
// The host's per-module answers (smoke mode's "modules", make-snapshot's "smoke"); throws pb::Error
// when it does not hold `expected` of them.
SmokeReport smoke_report(const nlohmann::json& modules, size_t expected);

// The module names of a smoke list.
std::vector<std::string> names(const std::vector<SmokeModule>& modules);

}  // namespace pb::snapshot

namespace pb::snapshot {

// Of `removed` (paths relative to python_modules/ of files left out of a bundle), those the failure
// names as missing: the module of ImportError.name ("pkg.tests" -> pkg/tests.py, pkg/tests/...,
// pkg/tests.*.so) or OSError.filename ("python_modules/pkg/x.pyi"). Empty when it names none.
std::vector<std::string> culprits(const SmokeResult& failure, const std::vector<std::string>& removed);

}  // namespace pb::snapshot
