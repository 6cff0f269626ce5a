// Loading Pyodide fast: V8's code cache for its Emscripten script, the wasm compiled in parallel,
// a restored heap filled straight from the snapshot file, and the prelude module.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

import {
  BUNDLE, HostError, log, ms, onlyOurs, phase, pyToJs, pythonMessage, pythonSource, splitList, t0, writeAtomic,
} from "./common.mjs";
import { hookLoader, reloadLibraries } from "./dylibs.mjs";
import { hookLinker, traceLink } from "./link.mjs";
import { fixFileStats } from "./repro.mjs";
import { installCallTrampoline, keepCallTrampoline } from "./trampoline.mjs";

// Python helpers, run in a private namespace in every process (after a restore too).
const PRELUDE = pythonSource("prelude.py");
// The `workers` module apps of Cloudflare's entry style import (loaded by the prelude on import).
const WORKERS = pythonSource("workers.py");

// Pyodide's Emscripten module (pyodide.asm.js up to 0.29, pyodide.asm.mjs after) is 1.2 MB of
// JavaScript. import() runs it through the CommonJS/ESM loaders (lexing it for exports) and
// compiles it afresh in every process. Instead run it as a classic script with V8's code cache
// (kept in --cache), which holds the functions compiled during a restore. Dynamic import() and
// import.meta inside it are routed to us; any source we do not recognise falls back to import().
const codeCache = { script: null, file: null, write: false };

function transformSource(body, isModule, linkRecord) {
  body = hookLinker(hookLoader(body), linkRecord).replace(/(?<![\w$.])import\(/g, "__pb_import(");
  if (isModule) {
    const exportRe = /export\s+default\s+_createPyodideModule\s*;?\s*$/;
    if (!exportRe.test(body)) return null;
    body = body.replace(exportRe, "return _createPyodideModule;").replace(/\bimport\.meta\.url\b/g, "__pb_url");
    // A leftover import/export statement (not `exports.x` or `__pb_import(`) needs the ESM loader.
    if (/\bimport\.meta\b|(^|[;}\n])\s*(import|export)(?![\w$])\s*[{*\w]/.test(body)) return null;
  } else {
    if (!/globalThis\._createPyodideModule\s*=/.test(body)) return null;
    body += "\nreturn globalThis._createPyodideModule;";
  }
  return `(function (exports, require, module, __filename, __dirname, __pb_import, __pb_url) {"use strict";${body}\n})`;
}

// The transformed source, kept next to the code cache so later runs skip the rewrite.
function scriptSource(file, isModule, cacheBase, linkRecord) {
  if (cacheBase && onlyOurs(`${cacheBase}.js`)) {
    try {
      return hookLinker(hookLoader(fs.readFileSync(`${cacheBase}.js`, "utf8")), linkRecord, true);
    } catch {}
  }
  const source = transformSource(fs.readFileSync(file, "utf8"), isModule, linkRecord);
  if (source !== null && cacheBase) {
    try {
      writeAtomic(`${cacheBase}.js`, source);
    } catch {}
  }
  return source;
}

async function loadCreateFunction(runtime, cacheDir) {
  const asmMjs = path.join(runtime, "pyodide.asm.mjs");
  const isModule = fs.existsSync(asmMjs);
  const file = isModule ? asmMjs : path.join(runtime, "pyodide.asm.js");
  let cacheBase = null, linkRecord = null;
  if (cacheDir) {
    const st = fs.statSync(file);
    const id = path.join(cacheDir, `pyodide-${st.size}-${Math.round(st.mtimeMs)}-${st.ino}-${process.version}-${process.arch}`);
    // V8 rejects a code cache made under other flags: one per set (a restored `run` uses --liftoff-only).
    const flags = process.execArgv.length ? `-${fnv1a(process.execArgv.join(" "))}` : "";
    cacheBase = `${id}${flags}-6`;
    linkRecord = `${id}-link.json`;
  }
  const source = scriptSource(file, isModule, cacheBase, linkRecord);
  if (source === null) {
    if (isModule) return (await import(pathToFileURL(file).href)).default;
    await import(pathToFileURL(file).href);
    return globalThis._createPyodideModule;
  }
  const vm = await import("node:vm");
  const { createRequire } = await import("node:module");
  const req = createRequire(file);
  let cachedData;
  if (cacheBase) {
    codeCache.file = `${cacheBase}.v8`;
    try {
      if (!onlyOurs(codeCache.file)) throw new Error("not ours");
      cachedData = fs.readFileSync(codeCache.file);
    } catch {
      codeCache.write = true;
    }
  }
  const script = new vm.Script(source, { filename: file, cachedData });
  if (cachedData && script.cachedDataRejected) codeCache.write = true;
  phase(`code cache ${!cachedData ? "absent" : script.cachedDataRejected ? "rejected" : "used"}`);
  codeCache.script = script;
  // Bare specifiers (the `ws` package) resolve from the runtime's node_modules.
  const dynImport = (spec) =>
    spec.startsWith("node:") || spec.includes("://") ? import(spec) : import(pathToFileURL(req.resolve(spec)).href);
  const module = { exports: {} };
  return script.runInThisContext()(module.exports, req, module, file, path.dirname(file), dynImport,
                                   pathToFileURL(file).href);
}

// Compile pyodide.asm.wasm while the JavaScript above loads (compilation runs on V8's background
// threads), and hand the compiled module to Pyodide's instantiate call.
async function precompileWasm(runtime) {
  const file = path.join(runtime, "pyodide.asm.wasm");
  const bytes = fs.readFileSync(file);
  const compiled = WebAssembly.compile(bytes);
  compiled.catch(() => {});  // Pyodide's own path reports the error
  const instantiate = WebAssembly.instantiate;
  WebAssembly.instantiate = async function (source, imports) {
    if ((source instanceof ArrayBuffer || ArrayBuffer.isView(source)) && source.byteLength === bytes.length) {
      WebAssembly.instantiate = instantiate;
      const module = await compiled;
      return { module, instance: await instantiate(module, imports) };
    }
    return instantiate(source, imports);
  };
  // Pyodide reads the same file again for that call: hand it the bytes we have.
  const { createRequire, syncBuiltinESMExports } = await import("node:module");
  const fsp = createRequire(import.meta.url)("node:fs/promises");
  const readFile = fsp.readFile;
  fsp.readFile = function (p, ...rest) {
    if (p === file && rest.length === 0) {
      fsp.readFile = readFile;
      syncBuiltinESMExports();
      return Promise.resolve(bytes);
    }
    return readFile.call(this, p, ...rest);
  };
  syncBuiltinESMExports();
}

// After the first restore with this runtime and Node, keep the compiled code for the next ones.
export function saveCodeCache() {
  if (!codeCache.write || !codeCache.script) return;
  codeCache.write = false;
  try {
    writeAtomic(codeCache.file, codeCache.script.createCachedData());
  } catch (e) {
    log(`note: cannot write the code cache ${codeCache.file}: ${e.message}`);
  }
}

async function importRuntime(opts) {
  phase("host loaded");
  await precompileWasm(opts.runtime);
  const mod = await import(pathToFileURL(path.join(opts.runtime, "pyodide.mjs")).href);
  phase("pyodide.mjs");
  const create = await loadCreateFunction(opts.runtime, opts["code-cache"]);
  phase("emscripten module script");
  return { loadPyodide: mod.loadPyodide, create };
}

// Load Pyodide, restoring `snapshot` (stock snapshot bytes) when given.
// Under --sandbox (Node's permission model) process.binding is denied; Emscripten's NODEFS only
// asks it for the fs constants, which node:fs has too.
function allowNodefsInSandbox() {
  if (!process.permission || process.binding.sandboxed) return;
  const binding = process.binding;
  process.binding = Object.assign(
    (name) => (name === "constants" ? { fs: fs.constants } : binding.call(process, name)), { sandboxed: true });
}

// `bare`: stop once Pyodide and the host module are up, before the bundle is mounted (make-base).
export async function loadRuntime(opts, { snapshot = null, makeSnapshot = false, bare = false } = {}) {
  allowNodefsInSandbox();
  const { loadPyodide, create } = await importRuntime(opts);
  if (snapshot?.head) await snapshot.head;  // from stdin: Pyodide's header (the heap follows meanwhile)
  const tImported = performance.now();
  let module = null;
  const heap = { restored: 0, initial: 0 };
  // Pyodide sets INITIAL_MEMORY from the snapshot length, but a wasm module that defines its own
  // memory ignores it; restoreSnapshot then writes past the end (pyodide#6254). So size the memory
  // here, and when the heap comes from a file, read it straight into wasm memory (Pyodide then
  // gets only its header and copies nothing).
  const wrapped = async (settings) => {
    // Emscripten's default argv[0] in Node is this script's path, which Python keeps (sys.executable,
    // the environment's `_`): a snapshot would depend on where the cache is.
    settings.thisProgram ??= "./this.program";
    if (snapshot) settings.INITIAL_MEMORY = snapshot.heapSize;
    phase("create");
    const m = await create(settings);
    phase("created");
    traceLink();
    module = m;
    if (snapshot) {
      heap.initial = m.HEAP8.length;
      heap.restored = snapshot.heapSize;
      if (snapshot.heapSize > m.HEAP8.length) {
        if (typeof m.growMemory === "function") m.growMemory(snapshot.heapSize);
        else m.wasmMemory?.grow(Math.ceil((snapshot.heapSize - m.HEAP8.length) / 65536));
        if (m.HEAP8.length < snapshot.heapSize) throw new HostError(`cannot grow the wasm heap to ${snapshot.heapSize} bytes`);
      }
      reloadLibraries(m, snapshot.libraries, opts.bundle);
      if (snapshot.ready) await snapshot.ready;  // the heap from stdin, read while the runtime started
      const putBack = keepCallTrampoline(m);
      snapshot.fillHeap?.(m.HEAP8, m);
      putBack();
      phase("heap filled");
    }
    return m;
  };
  globalThis._createPyodideModule = wrapped;
  const config = {
    indexURL: opts.runtime.endsWith("/") ? opts.runtime : opts.runtime + "/",
    createPyodideModule: wrapped,
    stdout: (s) => log(s),
    stderr: (s) => log(s),
    // LANG: Emscripten takes it from navigator.language (Node 21 on: the machine's locale) otherwise.
    env: { PYTHONINSPECT: "1", LANG: "C.UTF-8" },
  };
  if (makeSnapshot) config._makeSnapshot = true;
  if (makeSnapshot && opts["hash-seed"]) config.env.PYTHONHASHSEED = opts["hash-seed"];
  if (snapshot) config._loadSnapshot = snapshot.bytes;
  const pyodide = await loadPyodide(config);
  phase("loadPyodide");
  if (installCallTrampoline(module)) phase("call trampoline: wasm");
  const tLoaded = performance.now();
  if (!bare) {
    pyodide.FS.mkdirTree(BUNDLE);
    if (makeSnapshot && opts["hash-seed"]) fixFileStats(pyodide.FS);
    pyodide.mountNodeFS(BUNDLE, path.resolve(opts.bundle));
  }
  const host = hostModule(pyodide);
  // One proxy per helper, kept: a proxy dropped without destroy() holds its object until JS's GC
  // finalises it, so a snapshot's refcounts would depend on when the GC ran.
  const helpers = new Map();
  const py = (name) => helpers.get(name) ?? helpers.set(name, host[name]).get(name);
  if (!bare) {
    py("add_paths")();
    py("set_app_source")(opts["app-source"] ?? "", opts["app-left-out"] ?? "");  // tracebacks name the project's files
  }
  if (snapshot) py("restore_environ")();
  if (snapshot && !makeSnapshot) py("reseed")();  // a snapshot made from the base keeps the fixed entropy
  return {
    pyodide, py, module: () => module, heap,
    timings: { import_runtime: ms(t0, tImported), load: ms(tImported, tLoaded), ready: ms(t0, performance.now()) },
  };
}

// A 32-bit FNV-1a of the prelude: a snapshot made by another pybundle carries another prelude.
function fnv1a(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16);
}

const PRELUDE_ID = fnv1a(PRELUDE + WORKERS);

// The prelude lives in the snapshot as module _pybundle_host, so a restore compiles no Python
// (the first compile in a process pulls in a lot of wasm code). Made fresh when missing or stale.
function hostModule(pyodide) {
  const sys = pyodide.pyimport("sys");
  const modules = sys.modules;
  let host = modules.get("_pybundle_host");
  if (!host || host.PRELUDE_ID !== PRELUDE_ID) {
    const types = pyodide.pyimport("types");
    host = types.ModuleType("_pybundle_host");
    types.destroy();
    pyodide.runPython(PRELUDE, { globals: host.__dict__, filename: "<pybundle>" });
    host.WORKERS_SOURCE = WORKERS;
    host.PRELUDE_ID = PRELUDE_ID;
    modules.set("_pybundle_host", host);
  }
  modules.destroy();
  sys.destroy();
  return host;
}

// Import the entry and the --preimport modules; the first failure ends the mode with its traceback.
export function importEntry(rt, opts) {
  const failure = rt.py("import_modules")([opts.entry, ...splitList(opts.preimport)]);
  if (failure) {
    const f = pyToJs(failure);
    throw new HostError(`importing '${f.module}' failed: ${f.error}`, { traceback: f.traceback, module: f.module });
  }
}

// The entry's handler; `vars` (JSON object text) become self.env of a WorkerEntrypoint.
export function findHandler(rt, entry, vars) {
  try {
    return rt.py("find_handler")(entry, vars ?? "{}");
  } catch (e) {
    throw new HostError(pythonMessage(e));
  }
}
