// The host's protocol, the one place C++ names it (src/host/host.mjs is the other side):
//   node host.mjs MODE --runtime DIR --bundle DIR [--code-cache DIR] [--KEY VALUE ...]
// The host prints one JSON object on stdout as its last line, {"ok": true, ...} or
// {"ok": false, "error": "..."}; logs and Python tracebacks go to stderr. A snapshot to restore
// is a decompressed file (--snapshot-file), or one being decompressed into the heap cache
// (--snapshot-wait BYTES --heap-cache FILE: stdin says "file" when it is there, or "stream" and
// then the bytes), or arrives on stdin (--snapshot-stdin BYTES). Inside Pyodide the bundle is
// mounted at kMount.
#pragma once

namespace pb::host {

// Modes.
inline constexpr const char* kMakeBase = "make-base";          // boot the bare runtime, write its snapshot
inline constexpr const char* kMakeSnapshot = "make-snapshot";  // import the entry, write the snapshot
inline constexpr const char* kRun = "run";                     // restore or import, answer one request
inline constexpr const char* kServe = "serve";                 // restore or import, serve HTTP
inline constexpr const char* kSmoke = "smoke";                 // import modules one by one
inline constexpr const char* kCompile = "compile";             // --compile: write .pyc files
inline constexpr const char* kTrace = "trace";                 // --minimize: the files an import opens

// Options every mode takes.
inline constexpr const char* kRuntime = "--runtime";       // the Pyodide runtime directory
inline constexpr const char* kBundle = "--bundle";         // the bundle directory
inline constexpr const char* kCodeCache = "--code-cache";  // where V8's code cache is kept
inline constexpr const char* kVars = "--vars";             // a worker's env as a JSON object
inline constexpr const char* kAppSource = "--app-source";  // the project dir app/ came from
inline constexpr const char* kEntry = "--entry";           // the entry module
inline constexpr const char* kPreimport = "--preimport";   // modules imported after it, comma-separated
inline constexpr const char* kSmokeAfter = "--smoke";      // make-snapshot, run: modules to import after
inline constexpr const char* kModules = "--modules";       // smoke: the modules to import
inline constexpr const char* kOut = "--out";               // make-base, make-snapshot: the raw snapshot written
inline constexpr const char* kHashSeed = "--hash-seed";    // make-base, make-snapshot: PYTHONHASHSEED, entropy seed
inline constexpr const char* kBaseFile = "--base-file";    // make-snapshot: restore this base instead of booting
inline constexpr const char* kBaseZeroMap = "--base-zero-map";  // its zero-page map

// Answer keys.
inline constexpr const char* kOk = "ok";
inline constexpr const char* kError = "error";

// Where the bundle is mounted inside Pyodide (host/common.mjs BUNDLE, prelude.py BUNDLE).
inline constexpr const char* kMount = "/bundle";

}  // namespace pb::host
