// The host's protocol, the one place C++ names it (src/host/host.mjs is the other side):
//   node host.mjs MODE --runtime DIR --bundle DIR [--code-cache DIR] [--KEY VALUE ...]
// The host prints one JSON object on stdout as its last line, {"ok": true, ...} or
// {"ok": false, "error": "..."}; logs and Python tracebacks go to stderr. A snapshot to restore
// arrives decompressed on stdin (--snapshot-stdin BYTES). Inside Pyodide the bundle is mounted at
// kMount.
#pragma once
#include <string_view>

namespace pb::host {

// Modes.
inline constexpr std::string_view kMakeSnapshot = "make-snapshot";  // import the entry, write the snapshot
inline constexpr std::string_view kRun = "run";                     // restore or import, answer one request
inline constexpr std::string_view kServe = "serve";                 // restore or import, serve HTTP
inline constexpr std::string_view kSmoke = "smoke";                 // import modules one by one
inline constexpr std::string_view kCompile = "compile";             // --compile: write .pyc files
inline constexpr std::string_view kTrace = "trace";                 // --minimize: the files an import opens

// Options every mode takes.
inline constexpr std::string_view kRuntime = "--runtime";        // the Pyodide runtime directory
inline constexpr std::string_view kBundle = "--bundle";          // the bundle directory
inline constexpr std::string_view kCodeCache = "--code-cache";   // where V8's code cache is kept
inline constexpr std::string_view kVars = "--vars";              // a worker's env as a JSON object
inline constexpr std::string_view kAppSource = "--app-source";   // the project dir app/ came from
inline constexpr std::string_view kEntry = "--entry";            // the entry module
inline constexpr std::string_view kPreimport = "--preimport";    // modules imported after it, comma-separated
inline constexpr std::string_view kSmokeAfter = "--smoke";       // make-snapshot, run: modules to import after
inline constexpr std::string_view kModules = "--modules";        // smoke: the modules to import

// Answer keys.
inline constexpr const char* kOk = "ok";
inline constexpr const char* kError = "error";

// Where the bundle is mounted inside Pyodide (host/common.mjs BUNDLE, prelude.py BUNDLE).
inline constexpr std::string_view kMount = "/bundle";

}  // namespace pb::host
