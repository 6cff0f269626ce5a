// Build-time modes, each in a fresh Pyodide: smoke (import each module), compile (bytecode made
// by the runtime's own Python), trace (which bundle files a start and one request use).
import fs from "node:fs";
import path from "node:path";

import { callHandler } from "./app.mjs";
import { BUNDLE, log, ms, pyToJs, pythonSource, runPythonIn, splitList, t0 } from "./common.mjs";
import { findHandler, importEntry, loadRuntime, saveCodeCache } from "./runtime.mjs";

// smoke: in a fresh Pyodide (never a snapshot), import each module of --modules (comma-separated)
// on its own — one failure does not stop the others — and answer per module: ok, or the
// exception's type and message, the innermost traceback frame in the bundle (else the innermost
// frame) and what was missing (ImportError.name, OSError.filename).
export function runSmoke(rt, modules) {
  const ns = runPythonIn(rt, pythonSource("smoke.py"));
  return JSON.parse(ns.get("smoke")(modules));
}

// Files under app/ the app tried to open and did not find (ENOENT), as "app/config.yaml": the build
// fails when the project has such a file that the app's file set left out.
const ENOENT = 44;  // Emscripten's errno
export function watchMissingAppFiles(FS) {
  const missing = new Set();
  const open = FS.open;
  FS.open = function (p, ...rest) {
    try {
      return open.call(this, p, ...rest);
    } catch (e) {
      if (e?.errno === ENOENT && typeof p === "string") {
        const abs = path.posix.normalize(p.startsWith("/") ? p : path.posix.join(FS.cwd(), p));
        if (abs.startsWith(BUNDLE + "/app/")) missing.add(abs.slice(BUNDLE.length + 1));
      }
      throw e;
    }
  };
  return { stop: () => ((FS.open = open), [...missing].sort()) };
}

export async function smoke(opts) {
  const rt = await loadRuntime(opts);
  const tImports = performance.now();
  const watch = watchMissingAppFiles(rt.pyodide.FS);
  const modules = runSmoke(rt, splitList(opts.modules));
  const missingAppFiles = watch.stop();
  // --entry: the entry imported, so it must also have a handler (what run and serve look up).
  let handlerError;
  if (opts.entry && modules.find((m) => m.module === opts.entry)?.ok) {
    try {
      findHandler(rt, opts.entry, opts.vars);
    } catch (e) {
      handlerError = e.message;
    }
  }
  const tDone = performance.now();
  saveCodeCache();
  return {
    ok: true,
    pyodide: rt.pyodide.version,
    modules,
    failed: modules.filter((m) => !m.ok).length,
    missing_app_files: missingAppFiles,
    ...(handlerError ? { handler_error: handlerError } : {}),
    timings_ms: { ...rt.timings, imports: ms(tImports, tDone), total: ms(t0, tDone) },
  };
}

// ---- compile: bytecode for the bundle, made by the runtime's own Python ----------------------
// Sources under python_modules/ get unchecked-hash .pyc (no mtimes: rebuilds are byte-identical),
// next to the module (`mod.pyc`, found without its source) with --placement legacy, else in
// __pycache__. app/ always gets checked-hash .pyc in __pycache__ and keeps its sources.
export async function compile(opts) {
  const rt = await loadRuntime(opts);
  const ns = runPythonIn(rt, pythonSource("compile.py"));
  const result = pyToJs(ns.get("compile_bundle")(opts.placement ?? "pycache", opts.python ?? ""));
  return { ok: true, ...result, timings_ms: { ...rt.timings, total: ms(t0, performance.now()) } };
}

// ---- trace: which bundle files the entry's import and one request use ----------------------
// Every path Emscripten's FS opens or stats under /bundle (imports, extension modules, data read
// through open/importlib.resources/pkgutil, existence checks), plus each loaded module's file.
function watchBundleFiles(FS) {
  const seen = new Set();
  const saved = {};
  for (const fn of ["open", "stat", "lstat"]) {
    const orig = FS[fn];
    saved[fn] = orig;
    FS[fn] = function (p, ...rest) {
      const r = orig.call(this, p, ...rest);  // only successful calls are recorded
      if (typeof p === "string") {
        const abs = p.startsWith("/") ? p : path.posix.join(FS.cwd(), p);
        if (abs.startsWith(BUNDLE + "/")) seen.add(path.posix.normalize(abs).slice(BUNDLE.length + 1));
      }
      return r;
    };
  }
  return { seen, stop: () => Object.assign(FS, saved) };
}

export async function trace(opts) {
  const rt = await loadRuntime(opts);
  const watch = watchBundleFiles(rt.pyodide.FS);
  importEntry(rt, opts);
  const handler = findHandler(rt, opts.entry, opts.vars);
  const r = await callHandler({ rt, handler }, "GET", opts.url ?? "http://localhost/", ["host", "localhost"], new Uint8Array());
  watch.stop();
  if (r.traceback) log(r.traceback);
  const ns = runPythonIn(rt, pythonSource("trace.py"));
  const owned = pyToJs(ns.get("bundle_modules")());
  for (const files of Object.values(owned)) for (const f of files) watch.seen.add(f.slice(BUNDLE.length + 1));
  const root = path.resolve(opts.bundle);
  const files = [...watch.seen].filter((rel) => {
    try {
      return fs.statSync(path.join(root, rel)).isFile();
    } catch {
      return false;
    }
  }).sort();
  return {
    ok: !r.traceback,
    ...(r.traceback ? { error: "on_fetch raised: " + r.error, traceback: r.traceback } : {}),
    status: r.status,
    files,
    modules: rt.py("module_names")().toJs(),
    bundle_modules: Object.keys(owned).sort(),
    timings_ms: { ...rt.timings, total: ms(t0, performance.now()) },
  };
}

