// pybundle's JavaScript host, run by Node.js: node host.mjs MODE --runtime DIR [--key value ...]
// Answers with one JSON object on stdout; logs and Python tracebacks go to stderr.
// Modes: make-snapshot, run, serve, smoke, trace. The protocol is described in src/snapshot.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const t0 = performance.now();
const BUNDLE = "/bundle";

function parseArgs(argv) {
  const opts = { mode: argv[0] };
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) throw new Error(`unexpected argument '${a}'`);
    const eq = a.indexOf("=");
    if (eq > 0) opts[a.slice(2, eq)] = a.slice(eq + 1);
    else opts[a.slice(2)] = argv[++i];
  }
  return opts;
}

function answer(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

class HostError extends Error {
  constructor(message, extra = {}) {
    super(message);
    this.extra = extra;
  }
}

// PYBUNDLE_HOST_TRACE=1: print when each start-up phase ends (ms since process start).
const phase = process.env.PYBUNDLE_HOST_TRACE
  ? (name) => process.stderr.write(`[host] ${performance.now().toFixed(1)} ${name}\n`)
  : () => {};
const log = (msg) => process.stderr.write(msg.endsWith("\n") ? msg : msg + "\n");
const ms = (a, b) => Math.round((b - a) * 10) / 10;

// Python helpers, run in a private namespace in every process (after a restore too).
const PRELUDE = String.raw`
import sys, os, json, importlib, traceback, inspect, base64

BUNDLE = "/bundle"

def add_paths():
    sys.dont_write_bytecode = True  # never write __pycache__ into the mounted bundle
    paths = [BUNDLE + "/app", BUNDLE + "/python_modules"]
    for p in paths:
        while p in sys.path:
            sys.path.remove(p)
    sys.path[0:0] = paths
    importlib.invalidate_caches()

def reseed():
    # A restored heap carries the RNG state of the process that made it.
    import random
    random.seed()
    tf = sys.modules.get("tempfile")
    if tf is not None:
        tf._name_sequence = None
    os.urandom(16)

def format_exc(exc):
    return "".join(traceback.format_exception(exc))

def import_modules(names):
    """Import each module; returns None, or the traceback text of the first failure."""
    for name in names:
        try:
            importlib.import_module(name)
        except BaseException as exc:
            text = format_exc(exc)
            sys.stderr.write(text)
            sys.stderr.flush()
            return {"module": name, "error": "%s: %s" % (type(exc).__name__, exc), "traceback": text}
    return None

def collect():
    import gc
    gc.collect()

def module_names():
    return sorted(sys.modules)

def rel(filename):
    if filename.startswith(BUNDLE + "/"):
        return filename[len(BUNDLE) + 1:]
    return filename

# --- entropy drawn while the snapshot is made -------------------------------------------
_STDLIB_SOURCES = ("random.py", "tempfile.py", "uuid.py", "secrets.py", "os.py")
_TEMPFILE = {"mkstemp", "mkdtemp", "mktemp", "NamedTemporaryFile", "TemporaryFile",
             "SpooledTemporaryFile", "TemporaryDirectory", "_get_candidate_names"}
_NOT_DRAWS = {"seed", "getstate", "setstate", "__init__", "__reduce__", "__getstate__", "__setstate__"}

def _describe(fn):
    rnd = sys.modules.get("random")
    if rnd is not None:
        owner = getattr(fn, "__self__", None)
        if isinstance(owner, rnd.Random):
            name = getattr(fn, "__name__", "?")
            if name in _NOT_DRAWS:
                return None
            if isinstance(owner, rnd.SystemRandom):
                return "SystemRandom().%s()" % name
            if owner is getattr(rnd, "_inst", None):
                return "random.%s()" % name
            return "Random.%s() of an instance" % name
        if isinstance(fn, type) and issubclass(fn, rnd.Random) and not issubclass(fn, rnd.SystemRandom):
            return "%s.%s()" % (fn.__module__, fn.__qualname__)
    if fn is os.urandom or fn is getattr(os, "getrandom", None):
        return "os.%s()" % fn.__name__
    mod = getattr(fn, "__module__", None)
    name = getattr(fn, "__name__", None)
    if mod == "uuid" and name in ("uuid1", "uuid4"):
        return "uuid.%s()" % name
    if mod == "secrets" and name in ("token_bytes", "token_hex", "token_urlsafe", "randbelow", "randbits", "choice"):
        return "secrets.%s()" % name
    if mod == "tempfile" and name in _TEMPFILE:
        return "tempfile.%s()" % name
    return None

def _line_of(code, offset):
    for start, end, line in code.co_lines():
        if start <= offset < end:
            return line
    return code.co_firstlineno

class EntropyWatch:
    def __init__(self):
        self.found = []
        self.sites = set()
        self.tool = None

    def start(self):
        mon = getattr(sys, "monitoring", None)
        if mon is None:
            return
        for tool in range(6):
            if mon.get_tool(tool) is None:
                self.tool = tool
                break
        if self.tool is None:
            return
        mon.use_tool_id(self.tool, "pybundle")
        mon.register_callback(self.tool, mon.events.CALL, self._on_call)
        mon.set_events(self.tool, mon.events.CALL)

    def stop(self):
        if self.tool is None:
            return
        mon = sys.monitoring
        mon.set_events(self.tool, 0)
        mon.register_callback(self.tool, mon.events.CALL, None)
        mon.free_tool_id(self.tool)
        self.tool = None

    def _on_call(self, code, offset, fn, arg0):
        try:
            what = _describe(fn)
        except Exception:
            what = None
        filename = code.co_filename
        if what is None or filename.endswith(_STDLIB_SOURCES) or filename == "<pybundle>":
            return sys.monitoring.DISABLE
        site = (filename, offset)
        if site not in self.sites:
            self.sites.add(site)
            entry = {"call": what, "file": rel(filename), "line": _line_of(code, offset),
                     "kind": "generator" if isinstance(fn, type) else "draw"}
            frame = sys._getframe(1)
            while frame is not None:
                f = frame.f_code.co_filename
                if f.startswith(BUNDLE + "/app/") and f != filename:
                    entry["imported_from"] = "%s:%d" % (rel(f), frame.f_lineno)
                    break
                frame = frame.f_back
            self.found.append(entry)
        return sys.monitoring.DISABLE

# --- compiled extensions ------------------------------------------------------------------
def _record_owners():
    owners = {}
    base = BUNDLE + "/python_modules"
    try:
        entries = os.listdir(base)
    except OSError:
        return owners
    for d in entries:
        if not d.endswith(".dist-info"):
            continue
        dist = d[: -len(".dist-info")].rsplit("-", 1)[0]
        try:
            with open(base + "/" + d + "/RECORD", encoding="utf-8") as f:
                for line in f:
                    p = line.split(",", 1)[0]
                    if p.endswith(".so") or ".so." in p:
                        owners[base + "/" + p] = dist
        except OSError:
            pass
    return owners

def loaded_extensions():
    found = []
    owners = None
    for name, m in list(sys.modules.items()):
        f = getattr(m, "__file__", None) or ""
        if f.endswith(".so"):
            if owners is None:
                owners = _record_owners()
            found.append({"module": name, "file": rel(f), "package": owners.get(f)})
    return found

# --- requests and responses ---------------------------------------------------------------
class Headers(dict):
    """Case-insensitive header mapping (keys stored lower-case)."""
    def __init__(self, pairs=()):
        super().__init__()
        for k, v in pairs:
            k = str(k).lower()
            super().__setitem__(k, v if k not in self else self[k] + ", " + v)
    def __getitem__(self, k):
        return super().__getitem__(k.lower())
    def __contains__(self, k):
        return super().__contains__(str(k).lower())
    def get(self, k, default=None):
        return super().get(str(k).lower(), default)

class Request:
    def __init__(self, method, url, headers, body):
        self.method = method
        self.url = url
        self.headers = Headers(headers)
        self.body = bytes(body)
    @property
    def path(self):
        from urllib.parse import urlsplit
        return urlsplit(self.url).path
    @property
    def query(self):
        from urllib.parse import urlsplit, parse_qs
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.url).query).items()}
    def text(self):
        return self.body.decode("utf-8")
    def json(self):
        return json.loads(self.body or b"null")
    def __repr__(self):
        return "<Request %s %s>" % (self.method, self.url)

def _header_pairs(h):
    if h is None:
        return []
    if hasattr(h, "items"):
        items = h.items()
    else:
        items = h
    return [[str(k), str(v)] for k, v in items]

def to_response(r):
    if r is None:
        return 204, [], b""
    if isinstance(r, str):
        return 200, [["content-type", "text/plain; charset=utf-8"]], r.encode("utf-8")
    if isinstance(r, (bytes, bytearray, memoryview)):
        return 200, [["content-type", "application/octet-stream"]], bytes(r)
    if isinstance(r, (dict, list)):
        return 200, [["content-type", "application/json"]], json.dumps(r).encode("utf-8")
    status = getattr(r, "status", None)
    if not isinstance(status, int):
        status = getattr(r, "status_code", None)
    if isinstance(status, int):
        headers = _header_pairs(getattr(r, "headers", None))
        if hasattr(r, "get_data"):
            body = r.get_data()
        else:
            body = getattr(r, "body", None)
            if body is None:
                body = getattr(r, "content", None)
            if body is None:
                body = getattr(r, "text", b"")
        if isinstance(body, str):
            body = body.encode("utf-8")
            if not any(k.lower() == "content-type" for k, _ in headers):
                headers.append(["content-type", "text/plain; charset=utf-8"])
        elif isinstance(body, (dict, list)):
            body = json.dumps(body).encode("utf-8")
            if not any(k.lower() == "content-type" for k, _ in headers):
                headers.append(["content-type", "application/json"])
        return status, headers, bytes(body or b"")
    raise TypeError("on_fetch returned %s; expected str, bytes, dict, list or an object with "
                    "status and headers" % type(r).__name__)

async def warm_handler(request):
    return {"path": request.path, "query": request.query, "text": request.text()}

def find_handler(entry):
    mod = sys.modules.get(entry) or importlib.import_module(entry)
    fn = getattr(mod, "on_fetch", None)
    if not callable(fn):
        raise LookupError("entry module '%s' (%s) defines no on_fetch(request)" % (entry, rel(getattr(mod, "__file__", "?"))))
    return fn

async def call(fn, method, url, headers, body):
    """Call the handler; returns [status, headers, body, traceback-or-None]."""
    try:
        r = fn(Request(method, url, headers, body))
        if inspect.isawaitable(r):
            r = await r
        status, hdrs, data = to_response(r)
        return [status, hdrs, data, None]
    except BaseException as exc:
        text = format_exc(exc)
        return [500, [["content-type", "text/plain; charset=utf-8"]], b"Internal Server Error\n", text]
`;

// Pyodide's Emscripten module (pyodide.asm.js up to 0.29, pyodide.asm.mjs after) is 1.2 MB of
// JavaScript. import() runs it through the CommonJS/ESM loaders (lexing it for exports) and
// compiles it afresh in every process. Instead run it as a classic script with V8's code cache
// (kept in --cache), which holds the functions compiled during a restore. Dynamic import() and
// import.meta inside it are routed to us; any source we do not recognise falls back to import().
const codeCache = { script: null, file: null, write: false };

function transformSource(body, isModule) {
  body = body.replace(/(?<![\w$.])import\(/g, "__pb_import(");
  if (isModule) {
    const exportRe = /export\s+default\s+_createPyodideModule\s*;?\s*$/;
    if (!exportRe.test(body)) return null;
    body = body.replace(exportRe, "return _createPyodideModule;").replace(/\bimport\.meta\.url\b/g, "__pb_url");
    if (/\bimport\.meta\b|(^|[;}\n])\s*(import|export)\s*[{*\w]/.test(body)) return null;
  } else {
    if (!/globalThis\._createPyodideModule\s*=/.test(body)) return null;
    body += "\nreturn globalThis._createPyodideModule;";
  }
  return `(function (exports, require, module, __filename, __dirname, __pb_import, __pb_url) {"use strict";${body}\n})`;
}

function writeAtomic(file, data) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

// The transformed source, kept next to the code cache so later runs skip the rewrite.
function scriptSource(file, isModule, cacheBase) {
  if (cacheBase) {
    try {
      return fs.readFileSync(`${cacheBase}.js`, "utf8");
    } catch {}
  }
  const source = transformSource(fs.readFileSync(file, "utf8"), isModule);
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
  let cacheBase = null;
  if (cacheDir) {
    const st = fs.statSync(file);
    cacheBase = path.join(cacheDir, `pyodide-${st.size}-${Math.round(st.mtimeMs)}-${st.ino}-${process.version}-${process.arch}-1`);
  }
  const source = scriptSource(file, isModule, cacheBase);
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
      cachedData = fs.readFileSync(codeCache.file);
    } catch {
      codeCache.write = true;
    }
  }
  const script = new vm.Script(source, { filename: file, cachedData });
  if (cachedData && script.cachedDataRejected) codeCache.write = true;
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
function saveCodeCache() {
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
async function loadRuntime(opts, { snapshot = null, makeSnapshot = false } = {}) {
  const { loadPyodide, create } = await importRuntime(opts);
  const tImported = performance.now();
  let module = null;
  const heap = { restored: 0, initial: 0 };
  // Pyodide sets INITIAL_MEMORY from the snapshot length, but a wasm module that defines its own
  // memory ignores it; restoreSnapshot then writes past the end (pyodide#6254). So size the memory
  // here, and when the heap comes from a file, read it straight into wasm memory (Pyodide then
  // gets only its header and copies nothing).
  const wrapped = async (settings) => {
    if (snapshot) settings.INITIAL_MEMORY = snapshot.heapSize;
    phase("create");
    const m = await create(settings);
    phase("created");
    module = m;
    if (snapshot) {
      heap.initial = m.HEAP8.length;
      heap.restored = snapshot.heapSize;
      if (snapshot.heapSize > m.HEAP8.length) {
        if (typeof m.growMemory === "function") m.growMemory(snapshot.heapSize);
        else m.wasmMemory?.grow(Math.ceil((snapshot.heapSize - m.HEAP8.length) / 65536));
        if (m.HEAP8.length < snapshot.heapSize) throw new HostError(`cannot grow the wasm heap to ${snapshot.heapSize} bytes`);
      }
      snapshot.fillHeap?.(m.HEAP8, m);
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
    env: { PYTHONINSPECT: "1" },
  };
  if (makeSnapshot) config._makeSnapshot = true;
  if (snapshot) config._loadSnapshot = snapshot.bytes;
  const pyodide = await loadPyodide(config);
  phase("loadPyodide");
  const tLoaded = performance.now();
  pyodide.FS.mkdirTree(BUNDLE);
  pyodide.mountNodeFS(BUNDLE, path.resolve(opts.bundle));
  const host = hostModule(pyodide);
  const py = (name) => host[name];
  py("add_paths")();
  if (snapshot) py("reseed")();
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
const PRELUDE_ID = fnv1a(PRELUDE);

// The prelude lives in the snapshot as module _pybundle_host, so a restore compiles no Python
// (the first compile in a process pulls in a lot of wasm code). Made fresh when missing or stale.
function hostModule(pyodide) {
  const modules = pyodide.pyimport("sys").modules;
  let host = modules.get("_pybundle_host");
  if (!host || host.PRELUDE_ID !== PRELUDE_ID) {
    host = pyodide.pyimport("types").ModuleType("_pybundle_host");
    pyodide.runPython(PRELUDE, { globals: host.__dict__, filename: "<pybundle>" });
    host.PRELUDE_ID = PRELUDE_ID;
    modules.set("_pybundle_host", host);
  }
  return host;
}

function readAll(fd, size) {
  const buf = new Uint8Array(size);
  let off = 0;
  while (off < size) {
    let n;
    try {
      n = fs.readSync(fd, buf, off, size - off, null);
    } catch (e) {
      if (e.code === "EAGAIN") continue;
      throw e;
    }
    if (n === 0) throw new HostError(`snapshot stream ended after ${off} of ${size} bytes`);
    off += n;
  }
  return buf;
}

// The snapshot to restore: Pyodide's bytes, either whole (from stdin) or only its header (from a
// file, whose heap part is read into wasm memory once the module exists).
function loadSnapshot(opts) {
  const fromBytes = (bytes) => ({ bytes, heapSize: bytes.length - new DataView(bytes.buffer, bytes.byteOffset).getUint32(4, true) });
  if (opts["snapshot-stdin"]) return fromBytes(readAll(0, Number(opts["snapshot-stdin"])));
  if (!opts["snapshot-file"]) return null;
  const fd = fs.openSync(opts["snapshot-file"], "r");
  const size = fs.fstatSync(fd).size;
  const head = new Uint8Array(8);
  fs.readSync(fd, head, 0, 8, 0);
  const offset = new DataView(head.buffer).getUint32(4, true);
  if (offset < 48 || offset > size) throw new HostError(`${opts["snapshot-file"]}: not a Pyodide snapshot`);
  const bytes = new Uint8Array(offset);
  fs.readSync(fd, bytes, 0, offset, 0);
  const heapSize = size - offset;
  const zeros = readZeroMap(opts["zero-map"]);
  return {
    bytes, heapSize,
    // Copy the heap into memory, except all-zero pages where memory is certainly untouched since
    // instantiation (so already zero): above the current break, and the deep part of the stack.
    fillHeap(heap8, m) {
      const skippable = skipRule(m);
      let pos = 0, skipped = 0;
      const copy = (end) => {
        while (pos < end) {
          const n = fs.readSync(fd, heap8, pos, end - pos, offset + pos);
          if (n === 0) throw new HostError(`${opts["snapshot-file"]}: ended early`);
          pos += n;
        }
      };
      for (const [first, count] of zeros) {
        for (const [a, b] of skippable(first * 65536, Math.min(heapSize, (first + count) * 65536))) {
          if (a < pos) continue;
          copy(a);
          skipped += b - a;
          pos = b;
        }
      }
      copy(heapSize);
      fs.closeSync(fd);
      phase(`heap: ${zeros.length} zero runs, ${skipped} bytes not copied`);
    },
  };
}

function readZeroMap(file) {
  if (!file) return [];
  try {
    const b = fs.readFileSync(file);
    const v = new DataView(b.buffer, b.byteOffset, b.length);
    const runs = [];
    for (let i = 0; i + 8 <= b.length; i += 8) runs.push([v.getUint32(i, true), v.getUint32(i + 4, true)]);
    return runs;
  } catch {
    return [];
  }
}

// The parts of the zero run [a, b) that may be left alone: above the current break, and the deep
// part of the stack (start-up before a restore uses its top only; leave that a generous megabyte).
function skipRule(m) {
  if (typeof m._sbrk !== "function") return () => [];
  const brk = m._sbrk(0);
  const stackLow = m._emscripten_stack_get_end?.() ?? 0;
  const stackHigh = m._emscripten_stack_get_base?.() ?? 0;
  const deadTop = stackHigh - (1 << 20);
  const stackOk = stackLow > 0 && stackHigh <= brk && deadTop > stackLow;
  return (a, b) => {
    const parts = [];
    if (stackOk && a < deadTop && b > stackLow) parts.push([Math.max(a, stackLow), Math.min(b, deadTop)]);
    if (b > brk) parts.push([Math.max(a, brk), b]);
    return parts;
  };
}

function splitList(s) {
  return s ? s.split(",").filter(Boolean) : [];
}

// Stale bytes in dlmalloc's free chunks and in the dead part of the stack would only cost space
// in the snapshot file: overwrite them with zeros. Memory that is in use is not touched.
function scrubFreeMemory(m) {
  let zeroed = 0;
  const malloc = m._emscripten_builtin_malloc ?? m._malloc;
  const free = m._emscripten_builtin_free ?? m._free;
  if (malloc && free && m._sbrk) {
    const top = m._sbrk(0);
    const cap = Math.max(1 << 16, (m.HEAP8.length - top) >> 1);  // never grow the heap much
    const taken = [];
    for (let size = 1 << 24; size >= 8; size >>= 1) {
      if (size > cap) continue;
      for (;;) {
        const p = malloc(size);
        if (!p) break;
        if (p + size > top) {  // would come from new memory: stop at this size
          free(p);
          break;
        }
        m.HEAP8.fill(0, p, p + size);
        taken.push(p);
        zeroed += size;
      }
    }
    for (const p of taken) free(p);
  }
  if (m._emscripten_stack_get_end && m._emscripten_stack_get_free) {
    const end = m._emscripten_stack_get_end();
    const dead = m._emscripten_stack_get_free() - 1024;  // keep a margin below the stack pointer
    if (dead > 0) {
      m.HEAP8.fill(0, end, end + dead);
      zeroed += dead;
    }
  }
  return zeroed;
}

async function makeSnapshot(opts) {
  const rt = await loadRuntime(opts, { makeSnapshot: true });
  const before = new Set(rt.py("module_names")().toJs());
  const watch = rt.py("EntropyWatch")();
  watch.start();
  const failure = rt.py("import_modules")([opts.entry, ...splitList(opts.preimport)]);
  watch.stop();
  if (failure) {
    const f = failure.toJs({ dict_converter: Object.fromEntries });
    throw new HostError(`importing '${f.module}' failed: ${f.error}`, { traceback: f.traceback, module: f.module });
  }
  const exts = rt.py("loaded_extensions")().toJs({ dict_converter: Object.fromEntries });
  if (exts.length) {
    throw new HostError(
      "compiled extensions were loaded while making the snapshot: " +
        exts.map((e) => `module '${e.module}' of package '${e.package ?? "?"}' (${e.file})`).join(", ") +
        "; a Pyodide memory snapshot cannot hold loaded shared libraries",
      { extensions: exts });
  }
  const warnings = watch.found.toJs({ dict_converter: Object.fromEntries });
  const modules = rt.py("module_names")().toJs().filter((m) => !before.has(m));
  // Run the request path once with a stand-in handler, so what it imports and initialises on
  // first use (the event loop, urllib.parse, json) is in the snapshot too.
  const warm = await callHandler({ rt, handler: rt.py("warm_handler") }, "GET", "http://localhost/?warm=1",
                                 [["host", "localhost"]], new Uint8Array());
  if (warm.traceback) throw new HostError("warming the request path failed", { traceback: warm.traceback });
  rt.py("collect")();
  const tImported = performance.now();
  const scrubbed = scrubFreeMemory(rt.module());
  const snap = rt.pyodide.makeMemorySnapshot();
  fs.writeFileSync(opts.out, snap);
  const m = rt.module();
  return {
    ok: true,
    pyodide: rt.pyodide.version,
    build_id: rt.pyodide._api.config.BUILD_ID,
    heap_size: m.HEAP8.length,
    snapshot_size: snap.length,
    scrubbed_bytes: scrubbed,
    modules,
    entropy: warnings,
    timings_ms: { ...rt.timings, imports: ms(t0 + rt.timings.ready, tImported), total: ms(t0, performance.now()) },
  };
}

async function startApp(opts) {
  const snapshot = loadSnapshot(opts);
  const rt = await loadRuntime(opts, { snapshot });
  if (!snapshot) {
    const failure = rt.py("import_modules")([opts.entry, ...splitList(opts.preimport)]);
    if (failure) {
      const f = failure.toJs({ dict_converter: Object.fromEntries });
      throw new HostError(`importing '${f.module}' failed: ${f.error}`, { traceback: f.traceback, module: f.module });
    }
  }
  let handler;
  try {
    handler = rt.py("find_handler")(opts.entry);
  } catch (e) {
    throw new HostError(pythonMessage(e));
  }
  return { rt, handler, restored: !!snapshot, ready: ms(t0, performance.now()) };
}

function pythonMessage(e) {
  const msg = String(e.message ?? e).trim().split("\n");
  return msg[msg.length - 1];
}

async function callHandler(app, method, url, headers, body) {
  const res = await app.rt.py("call")(app.handler, method, url, headers, body);
  const [status, hdrs, data, tb] = res.toJs();
  res.destroy?.();
  return { status, headers: hdrs, body: data, traceback: tb ?? null };
}

function bodyForJson(data) {
  const buf = Buffer.from(data);
  const text = buf.toString("utf8");
  return Buffer.from(text, "utf8").equals(buf) ? { body: text } : { body_base64: buf.toString("base64") };
}

async function run(opts) {
  const app = await startApp(opts);
  const tCall = performance.now();
  const r = await callHandler(app, "GET", opts.url ?? "http://localhost/", [["host", "localhost"]], new Uint8Array());
  const tDone = performance.now();
  saveCodeCache();
  if (r.traceback) log(r.traceback);
  const headers = Object.fromEntries(r.headers.map(([k, v]) => [k.toLowerCase(), v]));
  return {
    ok: !r.traceback,
    ...(r.traceback ? { error: "on_fetch raised: " + r.traceback.trim().split("\n").pop(), traceback: r.traceback } : {}),
    restored: app.restored,
    response: { status: r.status, headers, ...bodyForJson(r.body) },
    timings_ms: { runtime_ready: app.ready, handler: ms(tCall, tDone), total: ms(t0, tDone),
                  node_start: ms(0, t0), ...app.rt.timings },
    heap: app.rt.heap,
  };
}

async function serve(opts) {
  const app = await startApp(opts);
  const http = await import("node:http");
  const host = opts.host ?? "127.0.0.1";
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      const started = performance.now();
      const body = Buffer.concat(chunks);
      const hdrs = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) hdrs.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
      const url = `http://${req.headers.host ?? host}${req.url}`;
      let r;
      try {
        r = await callHandler(app, req.method, url, hdrs, new Uint8Array(body.buffer, body.byteOffset, body.length));
      } catch (e) {
        r = { status: 500, headers: [["content-type", "text/plain; charset=utf-8"]],
              body: Buffer.from("Internal Server Error\n"), traceback: String(e.stack ?? e) };
      }
      if (r.traceback) log(`${req.method} ${req.url} raised:\n${r.traceback}`);
      res.writeHead(r.status, r.headers.flat());
      res.end(Buffer.from(r.body));
      log(`${req.method} ${req.url} ${r.status} ${ms(started, performance.now())} ms`);
    });
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(Number(opts.port ?? 8787), host, resolve);
  });
  const port = server.address().port;
  saveCodeCache();
  log(`serving ${opts.entry}.on_fetch on http://${host}:${port}/ ` +
      `(${app.restored ? "snapshot restored" : "imported without a snapshot"}, ready in ${app.ready} ms)`);
  if (!opts["quiet-answer"]) answer({ ok: true, listening: `http://${host}:${port}/`, port, restored: app.restored, timings_ms: { runtime_ready: app.ready } });
  for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => server.close(() => process.exit(0)));
  return null;
}

// smoke: in a fresh Pyodide (never a snapshot), import each module of --modules (comma-separated)
// on its own — one failure does not stop the others — and answer per module: ok, or the
// exception's type and message, the innermost traceback frame in the bundle (else the innermost
// frame) and what was missing (ImportError.name, OSError.filename).
async function smoke(opts) {
  const SMOKE = String.raw`
import sys, importlib, traceback, json, time
_B = "/bundle/"

def _rel(f):
    return f[len(_B):] if isinstance(f, str) and f.startswith(_B) else (f or "")

def _place(exc):
    if isinstance(exc, SyntaxError) and exc.filename:
        return _rel(exc.filename), exc.lineno or 0
    frames = traceback.extract_tb(exc.__traceback__)
    inside = [f for f in frames if f.filename.startswith(_B)]
    # Else the innermost frame that is not the import machinery or this code.
    other = [f for f in frames if not f.filename.startswith("<") and "/importlib/" not in f.filename]
    f = (inside or other or [None])[-1]
    return (_rel(f.filename), f.lineno or 0) if f else ("", 0)

def smoke(names):
    out = []
    for name in names:
        t = time.perf_counter()
        r = {"module": name, "ok": True}
        try:
            importlib.import_module(name)
        except BaseException as exc:
            file, line = _place(exc)
            r = {"module": name, "ok": False, "error": type(exc).__name__, "message": str(exc),
                 "file": file, "line": line, "traceback": "".join(traceback.format_exception(exc))}
            if isinstance(exc, ImportError) and exc.name:
                # "from pkg import tests" (3.12+ name_from): what may be the missing submodule.
                sub = getattr(exc, "name_from", None)
                r["missing_module"] = exc.name + "." + sub if sub else exc.name
            if isinstance(exc, OSError) and isinstance(exc.filename, str):
                r["missing_file"] = _rel(exc.filename)
        r["ms"] = round((time.perf_counter() - t) * 1000, 1)
        out.append(r)
    return json.dumps(out)
`;
  const rt = await loadRuntime(opts);
  const ns = rt.pyodide.toPy({});
  rt.pyodide.runPython(SMOKE, { globals: ns, filename: "<pybundle-smoke>" });
  const tImports = performance.now();
  const modules = JSON.parse(ns.get("smoke")(splitList(opts.modules)));
  const tDone = performance.now();
  saveCodeCache();
  return {
    ok: true,
    pyodide: rt.pyodide.version,
    modules,
    failed: modules.filter((m) => !m.ok).length,
    timings_ms: { ...rt.timings, imports: ms(tImports, tDone), total: ms(t0, tDone) },
  };
}

// ---- compile: bytecode for the bundle, made by the runtime's own Python ----------------------
// Sources under python_modules/ get unchecked-hash .pyc (no mtimes: rebuilds are byte-identical),
// next to the module (`mod.pyc`, found without its source) with --placement legacy, else in
// __pycache__. app/ always gets checked-hash .pyc in __pycache__ and keeps its sources.
const COMPILE_PY = String.raw`
import os, sys, py_compile, importlib.util

def compile_bundle(placement, python):
    have = "%d.%d.%d" % sys.version_info[:3]
    if python and python != have:
        raise ValueError("the runtime runs Python %s, the target says %s" % (have, python))
    compiled, failed = [], []
    for top, legacy, mode in (("python_modules", placement == "legacy", py_compile.PycInvalidationMode.UNCHECKED_HASH),
                              ("app", False, py_compile.PycInvalidationMode.CHECKED_HASH)):
        base = "/bundle/" + top
        for root, dirs, files in os.walk(base):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                if not name.endswith(".py"):
                    continue
                src = root + "/" + name
                cfile = src + "c" if legacy else importlib.util.cache_from_source(src)
                try:
                    py_compile.compile(src, cfile=cfile, dfile=src, doraise=True, invalidation_mode=mode)
                except py_compile.PyCompileError as e:
                    failed.append({"file": src[len("/bundle/"):], "error": str(e.exc_value).strip().splitlines()[-1]})
                    continue
                compiled.append({"file": src[len("/bundle/"):], "pyc": cfile[len("/bundle/"):]})
    return {"compiled": compiled, "failed": failed, "magic": importlib.util.MAGIC_NUMBER.hex(),
            "cache_tag": sys.implementation.cache_tag, "python": have}
`;

function pyToJs(value) {
  const out = value.toJs({ dict_converter: Object.fromEntries, create_pyproxies: false });
  value.destroy?.();
  return out;
}

function runPythonIn(rt, code) {
  const ns = rt.pyodide.globals.get("dict")();
  rt.pyodide.runPython(code, { globals: ns, filename: "<pybundle>" });
  return ns;
}

async function compile(opts) {
  const rt = await loadRuntime(opts);
  const ns = runPythonIn(rt, COMPILE_PY);
  const result = pyToJs(ns.get("compile_bundle")(opts.placement ?? "pycache", opts.python ?? ""));
  return { ok: true, ...result, timings_ms: { ...rt.timings, total: ms(t0, performance.now()) } };
}

// ---- trace: which bundle files the entry's import and one request use ----------------------
// Every path Emscripten's FS opens or stats under /bundle (imports, extension modules, data read
// through open/importlib.resources/pkgutil, existence checks), plus each loaded module's file.
const TRACE_PY = String.raw`
import sys

def bundle_modules():
    out = {}
    for name, m in list(sys.modules.items()):
        spec = getattr(m, "__spec__", None)
        files = [getattr(m, "__file__", None), getattr(spec, "origin", None), getattr(spec, "cached", None)]
        paths = list(getattr(m, "__path__", None) or [])
        hit = [f for f in files if isinstance(f, str) and f.startswith("/bundle/")]
        if hit or any(isinstance(p, str) and p.startswith("/bundle/") for p in paths):
            out[name] = sorted(set(hit))
    return out
`;

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

async function trace(opts) {
  const rt = await loadRuntime(opts);
  const watch = watchBundleFiles(rt.pyodide.FS);
  const failure = rt.py("import_modules")([opts.entry, ...splitList(opts.preimport)]);
  if (failure) {
    watch.stop();
    const f = pyToJs(failure);
    throw new HostError(`importing '${f.module}' failed: ${f.error}`, { traceback: f.traceback, module: f.module });
  }
  let handler;
  try {
    handler = rt.py("find_handler")(opts.entry);
  } catch (e) {
    watch.stop();
    throw new HostError(pythonMessage(e));
  }
  const r = await callHandler({ rt, handler }, "GET", opts.url ?? "http://localhost/", [["host", "localhost"]], new Uint8Array());
  watch.stop();
  if (r.traceback) log(r.traceback);
  const ns = runPythonIn(rt, TRACE_PY);
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
    ...(r.traceback ? { error: "on_fetch raised: " + r.traceback.trim().split("\n").pop(), traceback: r.traceback } : {}),
    status: r.status,
    files,
    modules: rt.py("module_names")().toJs(),
    bundle_modules: Object.keys(owned).sort(),
    timings_ms: { ...rt.timings, total: ms(t0, performance.now()) },
  };
}

const MODES = { "make-snapshot": makeSnapshot, run, serve, smoke, compile, trace };

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
    const fn = MODES[opts.mode];
    if (!fn) throw new HostError(`unknown mode '${opts.mode}'`);
    if (!opts.runtime) throw new HostError("missing --runtime");
    const result = await fn(opts);
    if (result) answer(result);
  } catch (e) {
    if (!(e instanceof HostError)) log(String(e.stack ?? e));
    answer({ ok: false, error: e instanceof HostError ? e.message : pythonMessage(e), ...(e.extra ?? {}) });
    process.exitCode = 1;
  }
}

await main();
