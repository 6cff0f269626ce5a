// What every part of the host shares: the clock, logging, errors and the Python sources.
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

// Module evaluation starts here, before the other parts of the host.
export const t0 = performance.now();
export const BUNDLE = "/bundle";

export function answer(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

export class HostError extends Error {
  constructor(message, extra = {}) {
    super(message);
    this.extra = extra;
  }
}

// PYBUNDLE_HOST_TRACE=1: print when each start-up phase ends (ms since process start).
// The real clock, taken before make-snapshot fixes performance.now.
export const realNow = performance.now.bind(performance);
export const phase = process.env.PYBUNDLE_HOST_TRACE
  ? (name) => process.stderr.write(`[host] ${realNow().toFixed(1)} ${name}\n`)
  : () => {};
// serve's line per request goes out once per turn of the event loop, not one write each; any
// other message writes what is pending first, so the order holds.
let pendingLog = "";
const flushLog = () => {
  if (!pendingLog) return;
  const text = pendingLog;
  pendingLog = "";
  process.stderr.write(text);
};
process.on("exit", flushLog);
export const logSoon = (line) => {
  if (!pendingLog) setImmediate(flushLog);
  pendingLog += line + "\n";
};
export const log = (msg) => {
  flushLog();
  process.stderr.write(msg.endsWith("\n") ? msg : msg + "\n");
};
export const ms = (a, b) => Math.round((b - a) * 10) / 10;

// A cache file the host reads code or a heap from: a regular file of ours that no one else may
// write (as pybundle's heap_cache_file_ours).
export function onlyOurs(file) {
  try {
    const st = fs.lstatSync(file);
    return st.isFile() && st.uid === process.geteuid() && (st.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

export function writeAtomic(file, data) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, data, { mode: 0o644 });  // not group-writable under umask 002: caches trust only that
  fs.renameSync(tmp, file);
}

// A worker thread; node:worker_threads is loaded on first use (a restore from the heap cache needs none).
export function startWorker(source, options) {
  const { Worker } = createRequire(import.meta.url)("node:worker_threads");
  return new Worker(source, options);
}

export function splitList(s) {
  return s ? s.split(",").filter(Boolean) : [];
}

export function pythonMessage(e) {
  const msg = String(e.message ?? e).trim().split("\n");
  return msg[msg.length - 1];
}

export function pyToJs(value) {
  const out = value.toJs({ dict_converter: Object.fromEntries, create_pyproxies: false });
  value.destroy?.();
  return out;
}

export function runPythonIn(rt, code) {
  const dict = rt.pyodide.globals.get("dict");
  const ns = dict();
  dict.destroy();
  rt.pyodide.runPython(code, { globals: ns, filename: "<pybundle>" });
  return ns;
}

// The host's Python parts are files next to this one.
export function pythonSource(name) {
  return fs.readFileSync(new URL(name, import.meta.url), "utf8");
}

// Bytes of the small wasm modules the host assembles (link.mjs, trampoline.mjs).
export const WASM_HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
export function uleb(n) {
  const out = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}
export const wasmName = (s) => [...uleb(Buffer.byteLength(s)), ...Buffer.from(s)];
export const wasmSection = (id, body) => [id, ...uleb(body.length), ...body];
