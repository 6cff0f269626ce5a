// Snapshots: reading one back into wasm memory, and making one after the entry's import.
import fs from "node:fs";
import { Worker } from "node:worker_threads";

import { callHandler } from "./app.mjs";
import { HostError, ms, phase, pyToJs, pythonSource, runPythonIn, splitList, t0 } from "./common.mjs";
import { recordLibraries } from "./dylibs.mjs";
import { fixEntropy } from "./repro.mjs";
import { importEntry, loadRuntime } from "./runtime.mjs";
import { runSmoke, watchMissingAppFiles } from "./tools.mjs";

// Reads the snapshot from stdin into shared memory on a worker thread (see loadSnapshot).
const STDIN_READER = `
const fs = require("node:fs");
const { workerData, parentPort } = require("node:worker_threads");
const buf = new Uint8Array(workerData.sab);
const pause = new Int32Array(new SharedArrayBuffer(4));
let off = 0;
try {
  while (off < buf.length) {
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
// heap into wasm memory once the module exists. From a file (the heap cache) the heap is read
// straight into memory; from stdin (a first restore, decompressed by pybundle as it goes) a worker
// thread reads it while this one loads and compiles the runtime: loadRuntime awaits `ready`.
export function loadSnapshot(opts) {
  const libraries = JSON.parse(opts.libraries ?? "[]");
  if (opts["snapshot-stdin"]) {
    const size = Number(opts["snapshot-stdin"]);
    const sab = new SharedArrayBuffer(size);
    const reader = new Worker(STDIN_READER, { eval: true, workerData: { sab } });
    const snap = { bytes: null, libraries, heapSize: 0, fillHeap: null };
    snap.ready = new Promise((resolve, reject) => {
      reader.once("message", (m) => (m.error ? reject(new HostError(m.error)) : resolve()));
      reader.once("error", reject);
    }).then(() => {
      const all = new Uint8Array(sab);
      const offset = new DataView(sab).getUint32(4, true);
      if (offset < 48 || offset > size) throw new HostError("the snapshot on stdin is not a Pyodide snapshot");
      snap.bytes = all.slice(0, offset);  // an unshared copy for Pyodide, which decodes text from it
      snap.heapSize = size - offset;
      snap.fillHeap = (heap8) => heap8.set(all.subarray(offset));
    });
    snap.ready.catch(() => {});  // reported where loadRuntime awaits it
    return snap;
  }
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

// --smoke MODULES: the build's smoke imports (tools.mjs), done here once the snapshot is written
// (or the entry failed to import) instead of booting a second Pyodide for them.
function smokeAfter(rt, opts) {
  return opts.smoke ? { smoke: runSmoke(rt, splitList(opts.smoke)) } : {};
}

export async function makeSnapshot(opts) {
  const realNow = performance.now.bind(performance);  // fixEntropy fixes the clocks; the import clock needs real time
  const unfix = opts["hash-seed"] ? fixEntropy(opts["hash-seed"]) : () => {};
  const rt = await loadRuntime(opts, { makeSnapshot: true });
  const before = new Set(rt.py("module_names")().toJs());
  const watch = rt.py("EntropyWatch")();
  // Import time per top-level module, for `pybundle inspect` (PYBUNDLE_IMPORT_TRACE=0: off, for bench/).
  const clock = process.env.PYBUNDLE_IMPORT_TRACE === "0" ? null : runPythonIn(rt, pythonSource("importtime.py")).get("ImportClock")(realNow);
  const opened = watchMissingAppFiles(rt.pyodide.FS);
  watch.start();
  clock?.start();
  try {
    importEntry(rt, opts);
  } catch (e) {
    clock?.stop();
    watch.stop();
    opened.stop();
    if (e instanceof HostError) Object.assign(e.extra, smokeAfter(rt, opts));
    throw e;
  }
  clock?.stop();
  watch.stop();
  const missingAppFiles = opened.stop();
  const imports = clock ? pyToJs(clock.results()) : null;
  const warnings = watch.found.toJs({ dict_converter: Object.fromEntries });
  const modules = rt.py("module_names")().toJs().filter((m) => !before.has(m));
  // Run the request path once with a stand-in handler, so what it imports and initialises on
  // first use (the event loop, urllib.parse, json) is in the snapshot too.
  const warm = await callHandler({ rt, handler: rt.py("warm_handler") }, "GET", "http://localhost/?warm=1",
                                 [["host", "localhost"]], new Uint8Array());
  if (warm.traceback) throw new HostError("warming the request path failed", { traceback: warm.traceback });
  // The build's --app-left-out is not part of the bundle: keep it out of the heap (`pybundle snapshot`
  // has none), and back for the smoke imports after it.
  rt.py("set_app_source")(opts["app-source"] ?? "", "");
  rt.py("collect")();
  const libraries = recordLibraries(rt.module(), opts.bundle, (file) => {
    const exts = rt.py("loaded_extensions")().toJs({ dict_converter: Object.fromEntries });
    return exts.find((e) => e.file === file)?.module;
  });
  const tImported = performance.now();
  const scrubbed = scrubFreeMemory(rt.module());
  const snap = rt.pyodide.makeMemorySnapshot();
  unfix();
  fs.writeFileSync(opts.out, snap);
  const m = rt.module();
  const tWritten = performance.now();
  rt.py("set_app_source")(opts["app-source"] ?? "", opts["app-left-out"] ?? "");
  const smoke = smokeAfter(rt, opts);
  return {
    ok: true,
    ...smoke,
    pyodide: rt.pyodide.version,
    build_id: rt.pyodide._api.config.BUILD_ID,
    heap_size: m.HEAP8.length,
    snapshot_size: snap.length,
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
