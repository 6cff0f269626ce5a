// Snapshots: reading one back into wasm memory, and making one after the entry's import.
import fs from "node:fs";

import { callHandler } from "./app.mjs";
import { HostError, ms, phase, pyToJs, pythonSource, runPythonIn, splitList, startWorker, t0 } from "./common.mjs";
import { recordLibraries } from "./dylibs.mjs";
import { fixEntropy } from "./repro.mjs";
import { findHandler, importEntry, loadRuntime } from "./runtime.mjs";
import { runSmoke, watchMissingAppFiles } from "./tools.mjs";

// Reads the snapshot from stdin into shared memory on a worker thread (see loadSnapshot).
const STDIN_READER = `
const fs = require("node:fs");
const { workerData, parentPort } = require("node:worker_threads");
const buf = new Uint8Array(workerData.sab);
const pause = new Int32Array(new SharedArrayBuffer(4));
let off = 0, head = false;
try {
  while (off < buf.length) {
    // Pyodide's header (its length is in it) is all the runtime needs to start: say when it is in.
    if (!head && off >= 8 && off >= new DataView(workerData.sab).getUint32(4, true)) {
      head = true;
      parentPort.postMessage({ head: true });
    }
    let n;
    try {
      n = fs.readSync(0, buf, off, buf.length - off, null);
    } catch (e) {
      if (e.code !== "EAGAIN") throw e;
      Atomics.wait(pause, 0, 0, 1);
      continue;
    }
    if (n === 0) throw new Error("snapshot stream ended after " + off + " of " + buf.length + " bytes");
    off += n;
  }
  parentPort.postMessage({});
} catch (e) {
  parentPort.postMessage({ error: e.message });
}`;

// The snapshot to restore: Pyodide's header bytes and the heap's size, and fillHeap to copy the
// heap into wasm memory once the module exists. loadRuntime awaits `head` (when there is one)
// before it starts the runtime, and `ready` (when there is one) before the copy.
export function loadSnapshot(opts) {
  const libraries = JSON.parse(opts.libraries ?? "[]");
  if (opts["snapshot-wait"]) return afterDecompression(opts, libraries);
  if (opts["snapshot-stdin"]) return fromStdin(Number(opts["snapshot-stdin"]), libraries);
  if (!opts["snapshot-file"]) return null;
  return fromFile(opts, libraries);
}

// A first restore: pybundle decompresses the snapshot into the heap cache (--heap-cache) while
// Node starts, then says on stdin "file" (read it from there, as any later restore does) or
// "stream" (the cache cannot be written: the decompressed snapshot follows on stdin).
function afterDecompression(opts, libraries) {
  const snap = { bytes: null, libraries, heapSize: 0, fillHeap: null };
  snap.head = lineOnStdin().then(async (line) => {
    if (line !== "file" && line !== "stream") throw new HostError("the snapshot was not decompressed");
    // pybundle found the cache unusable (not ours, not a file): serve's restart must not read it.
    if (line === "stream") opts["heap-cache"] = undefined;
    const from = line === "file" ? fromFile({ ...opts, "snapshot-file": opts["heap-cache"] }, libraries)
      : fromStdin(Number(opts["snapshot-wait"]), libraries);
    if (from.head) await from.head;
    Object.assign(snap, from, { head: null });
  });
  snap.head.catch(() => {});  // reported where loadRuntime awaits it
  return snap;
}

// One short line from stdin, a byte at a time: what follows it is the reader's. Off this thread.
function lineOnStdin() {
  const byte = Buffer.alloc(1);
  let line = "";
  return new Promise((resolve) => {
    const next = () => fs.read(0, byte, 0, 1, null, (err, n) => {
      if (err?.code === "EAGAIN") return setTimeout(next, 1);
      if (err || n === 0 || byte[0] === 10 || line.length > 64) return resolve(line);
      line += String.fromCharCode(byte[0]);
      next();
    });
    next();
  });
}

// The decompressed snapshot streamed on stdin: a worker thread reads it while this one loads,
// compiles, instantiates and links the runtime.
function fromStdin(size, libraries) {
  const sab = new SharedArrayBuffer(size);
  const reader = startWorker(STDIN_READER, { eval: true, workerData: { sab } });
  const snap = { bytes: null, libraries, heapSize: 0, fillHeap: null };
  let headIn;
  const head = new Promise((resolve) => (headIn = resolve));
  snap.ready = new Promise((resolve, reject) => {
    reader.on("message", (m) => (m.error ? reject(new HostError(m.error)) : m.head ? headIn() : resolve()));
    reader.once("error", reject);
  });
  snap.head = Promise.race([head, snap.ready]).then(() => {
    const all = new Uint8Array(sab);
    const offset = new DataView(sab).getUint32(4, true);
    if (offset < 48 || offset > size) throw new HostError("the snapshot on stdin is not a Pyodide snapshot");
    snap.bytes = all.slice(0, offset);  // an unshared copy for Pyodide, which decodes text from it
    snap.heapSize = size - offset;
    snap.fillHeap = (heap8) => heap8.set(all.subarray(offset));
  });
  snap.ready.catch(() => {});  // reported where loadRuntime awaits it
  snap.head.catch(() => {});
  return snap;
}

// The decompressed snapshot in a file (the heap cache), read straight into wasm memory.
function fromFile(opts, libraries) {
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
    bytes, heapSize, libraries,
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

// Zeroes heap8[a, b) a 4 KiB page at a time, leaving pages that are zero already alone: writing
// to memory the process never touched would make it resident (~10 MiB more peak RSS).
function zeroFill(heap8, a, b) {
  for (let p = a; p < b;) {
    const end = Math.min(b, (Math.floor(p / 4096) + 1) * 4096);
    let i = p;
    while (i < end && heap8[i] === 0) i++;
    if (i < end) heap8.fill(0, i, end);
    p = end;
  }
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
        zeroFill(m.HEAP8, p, p + size);
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
      zeroFill(m.HEAP8, end, end + dead);
      zeroed += dead;
    }
  }
  return zeroed;
}

// Writes Pyodide's snapshot to `out` and returns its size. makeMemorySnapshot copies the whole heap
// into a new array (its header, then HEAP8): with an empty HEAP8 in place for the call it makes the
// header alone, and the heap is written straight from wasm memory, so the build never holds a
// second copy of it (~45 MiB less peak RSS). Same bytes either way; if the header does not end where
// Pyodide says the heap starts (a release that builds it differently), what it made is written as is.
function writeSnapshot(rt, out) {
  const m = rt.module();
  const heap = m.HEAP8;
  const empty = new Int8Array(0);
  m.HEAP8 = empty;
  let snap;
  try {
    snap = takeSnapshot(rt);
  } finally {
    if (m.HEAP8 === empty) m.HEAP8 = heap;  // else memory grew and Emscripten set fresh views
  }
  const headerOnly = snap.length >= 8 && new DataView(snap.buffer, snap.byteOffset).getUint32(4, true) === snap.length;
  const fd = fs.openSync(out, "w");
  const put = (bytes) => {
    for (let off = 0; off < bytes.length;) off += fs.writeSync(fd, bytes, off, bytes.length - off);
  };
  try {
    put(snap);
    if (headerOnly) put(new Uint8Array(m.HEAP8.buffer, m.HEAP8.byteOffset, m.HEAP8.length));
  } finally {
    fs.closeSync(fd);
  }
  return snap.length + (headerOnly ? m.HEAP8.length : 0);
}

// Pyodide refuses to snapshot a JavaScript object Python still refers to ("Can't serialize object
// at index N" of its JS reference table). Name the object and the module that holds it.
function takeSnapshot(rt) {
  try {
    return rt.pyodide.makeMemorySnapshot();
  } catch (e) {
    const index = /(?:serialize object|object of type \w+) at index (\d+)/.exec(e.message ?? "")?.[1];
    if (index === undefined) throw e;
    throw unserialisable(rt, Number(index));
  }
}

function unserialisable(rt, index) {
  let obj;
  try {
    obj = rt.module().__hiwire_get(index);
  } catch {
    return new HostError(`the snapshot cannot hold JavaScript object ${index} of Pyodide's reference table`);
  }
  const ctor = obj?.constructor?.name;
  const what = typeof obj === "function" ? `the JavaScript function ${obj.name || "(anonymous)"}`
    : `a JavaScript ${ctor && ctor !== "Object" ? ctor : typeof obj}`;
  const list = rt.py("js_holders")();
  const holders = list.toJs({ depth: 2 }).filter(([, , v]) => v === obj);
  list.destroy();
  const tail = "; a snapshot holds Python and wasm memory, not JavaScript objects: make it when a request " +
               "needs it (in the handler), or drop the reference before the import ends";
  if (!holders.length)
    return new HostError(`${what} is still referenced from Python when the snapshot is made, but no module's ` +
                         `globals hold it (C code of an extension may)${tail}`, { object: what, module: null });
  const [module] = holders[0];
  const paths = holders.map(([, p]) => p);
  return new HostError(`module '${module}' holds ${what} as ${paths.join(", ")} when the snapshot is made${tail}`,
                       { object: what, module, holders: paths });
}

// --smoke MODULES: the build's smoke imports (tools.mjs), done here once the snapshot is written
// (or the entry failed to import) instead of booting a second Pyodide for them.
function smokeAfter(rt, opts) {
  return opts.smoke ? { smoke: runSmoke(rt, splitList(opts.smoke)) } : {};
}

// The times and sums of importtime.py's ImportClock, kept on this side (see there).
function importClock(now) {
  const stack = [];  // [start, time of nested bundle modules]
  const totals = new Map();
  return {
    enter: () => void stack.push([now(), 0]),
    leave: (where, module) => {
      const [start, nested] = stack.pop();
      const spent = now() - start;
      const key = `${where}/${module}`;
      totals.set(key, { where, module, ms: (totals.get(key)?.ms ?? 0) + spent - nested });
      if (stack.length) stack[stack.length - 1][1] += spent;
    },
    results: () => [...totals.values()].map((r) => ({ ...r, ms: Math.round(r.ms * 10) / 10 }))
      .sort((a, b) => b.ms - a.ms || a.where.localeCompare(b.where) || a.module.localeCompare(b.module)),
  };
}

// obj.name(...args) on a PyProxy without leaving the bound method's proxy to the GC.
function callMethod(obj, name, ...args) {
  const fn = obj[name];
  try {
    return fn(...args);
  } finally {
    fn.destroy();
  }
}

// make-base: boot the bare runtime (no bundle mounted, nothing imported) under the fixed entropy
// and write its snapshot to --out. make-snapshot restores it (--base-file) instead of booting:
// Python's start-up is the larger part of a build's time in Node.
export async function makeBase(opts) {
  const unfix = fixEntropy(opts["hash-seed"]);
  const rt = await loadRuntime(opts, { makeSnapshot: true, bare: true });
  const libraries = recordLibraries(rt.module(), opts.bundle, () => null);
  if (libraries.length) throw new HostError("the bare runtime loaded shared libraries; no base snapshot");
  rt.py("collect")();
  scrubFreeMemory(rt.module());
  const size = writeSnapshot(rt, opts.out);
  unfix();
  return { ok: true, pyodide: rt.pyodide.version, snapshot_size: size };
}

export async function makeSnapshot(opts) {
  const realNow = performance.now.bind(performance);  // fixEntropy fixes the clocks; the import clock needs real time
  const unfix = opts["hash-seed"] ? fixEntropy(opts["hash-seed"]) : () => {};
  let rt;
  try {
    const base = opts["base-file"] && loadSnapshot({ "snapshot-file": opts["base-file"], "zero-map": opts["base-zero-map"] });
    rt = await loadRuntime(opts, { snapshot: base || null, makeSnapshot: true });
  } catch (e) {
    if (!opts["base-file"]) throw e;
    throw new HostError(`cannot restore the base snapshot ${opts["base-file"]}: ${e.message ?? e}`, { base_failed: true });
  }
  // Every proxy made here is destroyed (see runtime.mjs helpers) before the heap is written.
  const before = new Set(pyToJs(rt.py("module_names")()));
  const watch = rt.py("EntropyWatch")();
  // Import time per top-level module, for `pybundle inspect` (PYBUNDLE_IMPORT_TRACE=0: off, for bench/).
  const times = process.env.PYBUNDLE_IMPORT_TRACE === "0" ? null : importClock(realNow);
  let clock = null;
  if (times) {
    const ns = runPythonIn(rt, pythonSource("importtime.py"));
    const cls = ns.get("ImportClock");
    clock = cls(times.enter, times.leave);
    cls.destroy();
    ns.destroy();
  }
  const opened = watchMissingAppFiles(rt.pyodide.FS);
  const stop = () => {
    if (clock) callMethod(clock, "stop");
    callMethod(watch, "stop");
  };
  callMethod(watch, "start");
  if (clock) callMethod(clock, "start");
  try {
    importEntry(rt, opts);
  } catch (e) {
    stop();
    opened.stop();
    if (e instanceof HostError) Object.assign(e.extra, smokeAfter(rt, opts));
    throw e;
  }
  stop();
  const missingAppFiles = opened.stop();
  clock?.destroy();
  const imports = times?.results() ?? null;
  const warnings = pyToJs(watch.found);
  watch.destroy();
  const modules = pyToJs(rt.py("module_names")()).filter((m) => !before.has(m));
  // Run the request path once with a stand-in handler, so what it imports and initialises on
  // first use (the event loop, urllib.parse, json) is in the snapshot too.
  const warm = await callHandler({ rt, handler: rt.py("warm_handler") }, "GET", "http://localhost/?warm=1",
                                 ["host", "localhost"], new Uint8Array());
  if (warm.traceback) throw new HostError("warming the request path failed", { traceback: warm.traceback });
  // The build's --app-left-out is not part of the bundle: keep it out of the heap (`pybundle snapshot`
  // has none), and back for the smoke imports after it.
  rt.py("set_app_source")(opts["app-source"] ?? "", "");
  rt.py("collect")();
  const libraries = recordLibraries(rt.module(), opts.bundle, (file) => {
    const exts = pyToJs(rt.py("loaded_extensions")());
    return exts.find((e) => e.file === file)?.module;
  });
  const tImported = performance.now();
  const scrubbed = scrubFreeMemory(rt.module());
  const snapshotSize = writeSnapshot(rt, opts.out);
  unfix();
  const tWritten = performance.now();
  rt.py("set_app_source")(opts["app-source"] ?? "", opts["app-left-out"] ?? "");
  const smoke = smokeAfter(rt, opts);
  // The handler run and check --bundle call: an entry without one fails the build, not the deploy.
  // Looked up after the heap is written, which it does not change.
  try {
    findHandler(rt, opts.entry, "{}").destroy?.();
  } catch (e) {
    if (e instanceof HostError) Object.assign(e.extra, smoke);
    throw e;
  }
  return {
    ok: true,
    ...smoke,
    pyodide: rt.pyodide.version,
    build_id: rt.pyodide._api.config.BUILD_ID,
    snapshot_size: snapshotSize,
    scrubbed_bytes: scrubbed,
    modules,
    libraries,
    entropy: warnings,
    imports,
    missing_app_files: missingAppFiles,
    timings_ms: { ...rt.timings, imports: ms(t0 + rt.timings.ready, tImported), written: ms(t0, tWritten),
                  total: ms(t0, performance.now()) },
  };
}
