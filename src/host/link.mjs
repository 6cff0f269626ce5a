// Emscripten's dynamic linking of the main module, replayed. Every start, pyodide.asm.js puts
// ~5,000 exported functions into the wasm table one table.grow(1) at a time, makes a
// WebAssembly.Global for each of ~9,000 GOT symbols and compiles one wasm module per JS function
// it wraps (~90 ms, issue 19). The result depends only on the runtime's files: the first start
// with a code cache records it (table slots, GOT order and values) next to the code cache, and
// later starts set the same state in bulk. Each recorded fact is checked against the live module
// first (the function at each slot, each data address, the order Emscripten hands slots out in,
// that every export is covered); anything off and the stock code runs instead and records anew.
import fs from "node:fs";

import { WASM_HEADER, log, phase, realNow, uleb, wasmName, wasmSection, writeAtomic } from "./common.mjs";

const VERSION = 1;

// The statements of receiveInstance that link the main module, and what they become: replay(), or
// the stock code and linked(). 314.0.7 (pyodide.asm.mjs) updates the GOT right there; 0.27.7 and
// 0.29.3 (pyodide.asm.js) do it inside relocateExports, which is told to leave it for later (the
// stock order holds: nothing between the two touches the GOT or the table).
const replayCall = (exports, legacy) =>
  `globalThis.__pybundle_link.replay({exports:${exports},imports:wasmImports,table:wasmTable,GOT,dynamicLibraries,` +
  `freeTableIndexes,isInternalSym,addressOf:getFunctionAddress,mapFunction:(f,i)=>functionsInTableMap.set(f,i),` +
  `legacy:${legacy}})`;
const SHAPES = [
  [["updateGOT(origExports);LDSO.init();loadDylibs();",
    `if(${replayCall("origExports", false)})LDSO.init();else{updateGOT(origExports);LDSO.init();loadDylibs();` +
    "globalThis.__pybundle_link.linked()}"]],
  [["wasmExports=relocateExports(wasmExports,1024);",
    "globalThis.__pybundle_link.defer=1;wasmExports=relocateExports(wasmExports,1024);globalThis.__pybundle_link.defer=0;"],
   ["updateGOT(relocated,replace);return relocated}",
    "if(!globalThis.__pybundle_link.defer)updateGOT(relocated,replace);return relocated}"],
   ['mergeLibSymbols(wasmExports,"main");LDSO.init();loadDylibs();',
    `mergeLibSymbols(wasmExports,"main");if(${replayCall("wasmExports", true)})LDSO.init();` +
    "else{updateGOT(wasmExports);LDSO.init();loadDylibs();globalThis.__pybundle_link.linked()}"]],
];
const HOOKED = "globalThis.__pybundle_link.replay(";
// convertJsFunctionToWasm compiles a module per call; its bytes depend on the signature alone.
const TRAMPOLINE =
  /var module=new WebAssembly\.Module\(((?:new Uint8Array\()?bytes\)?)\);(?=var instance=new WebAssembly\.Instance\(module,\{"?e"?:\{"?f"?:func\}\}\))/;
const TRAMPOLINE_HOOKED = "var module=globalThis.__pybundle_link.module(";

const state = {
  file: null,      // the record, next to the V8 code cache
  hooked: false,   // the runtime's JavaScript calls replay()
  path: "stock",   // what this process did, for PYBUNDLE_HOST_TRACE
  ctx: null,       // the live module while the stock code links it
  start: 0,
  cpu: null,
  ms: undefined,   // time the link took
  modules: new Map(),
};

function fail(reason) {
  state.path = `stock (${reason})`;
  return false;
}

function readRecord() {
  if (!state.file) return fail("no code cache");
  try {
    return JSON.parse(fs.readFileSync(state.file, "utf8"));
  } catch (e) {
    return fail(e.code === "ENOENT" ? "not recorded yet" : `unreadable record: ${e.message}`);
  }
}

const SIGNATURE = /^[vijfdpe][ijfdpe]*$/;
const scratch = { table: null };

// Whether the table takes f as it is (a wasm function), or a JS function needs a wasm wrapper.
function isWasmFunction(f) {
  scratch.table ??= new WebAssembly.Table({ element: "anyfunc", initial: 1 });
  try {
    scratch.table.set(0, f);
    return true;
  } catch (e) {
    if (e instanceof TypeError) return false;
    throw e;
  } finally {
    scratch.table.set(0, null);
  }
}

// One wasm module that imports the JS functions and exports each as a wasm function of its
// signature: what convertJsFunctionToWasm does for one, compiled once for all.
function wrapAll(funcs) {
  const code = { i: 0x7f, p: 0x7f, j: 0x7e, f: 0x7d, d: 0x7c, e: 0x6f };
  const types = new Map();
  const typeSec = [], importSec = [], exportSec = [];
  funcs.forEach((f, i) => {
    const sig = f.sig;
    if (!types.has(sig)) {
      types.set(sig, types.size);
      typeSec.push(0x60, ...uleb(sig.length - 1), ...[...sig.slice(1)].map((c) => code[c]));
      typeSec.push(...(sig[0] === "v" ? [0] : [1, code[sig[0]]]));
    }
    importSec.push(...wasmName("e"), ...wasmName(String(i)), 0, ...uleb(types.get(sig)));
    exportSec.push(...wasmName(String(i)), 0, ...uleb(i));
  });
  const bytes = [...WASM_HEADER];
  for (const [id, count, body] of [[1, types.size, typeSec], [2, funcs.length, importSec], [7, funcs.length, exportSec]])
    bytes.push(...wasmSection(id, [...uleb(count), ...body]));
  const imports = Object.fromEntries(funcs.map((f, i) => [String(i), f]));
  const inst = new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array(bytes)), { e: imports });
  return funcs.map((_, i) => inst.exports[String(i)]);
}

// Checks the record against the live module; returns the functions for table slots t0.. (and which
// of them are JS functions), or false.
// Emscripten's updateGOT walks the exports in order: each function gets the slot it has in the
// table or else the next new one, each data symbol its address; reportUndefinedSymbols then gives
// the GOT imports still unresolved the next slots (JS functions) or addresses, in GOT order.
function plan(rec, ctx) {
  const { exports, imports, table, GOT, isInternalSym, addressOf } = ctx;
  if (rec?.v !== VERSION || !Array.isArray(rec.got) || !Array.isArray(rec.values) || !Array.isArray(rec.slots))
    return fail("record of another format");
  const { t0, got, values, slots } = rec;
  if (t0 !== table.length) return fail(`table has ${table.length} entries, record ${t0}`);
  if (ctx.dynamicLibraries.length || ctx.freeTableIndexes.length) return fail("libraries to link");
  if (got.length !== values.length) return fail("record of another format");
  for (const v of values) if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) return fail("a GOT value");
  const pre = Object.keys(GOT);  // the GOT imports of the main module, made while instantiating it
  if (pre.length > got.length || pre.some((n, i) => got[i] !== n)) return fail("GOT imports differ");
  const preIndex = new Map(pre.map((n, i) => [n, i]));
  const preDone = new Uint8Array(pre.length);
  const n = slots.length;
  const funcs = new Array(n);
  addressOf(null);  // Emscripten's function -> slot map of the table, built as its first addFunction does
  let k = pre.length, next = 0;
  for (const name in exports) {
    if (isInternalSym(name)) continue;
    const x = exports[name];
    const isFunc = typeof x === "function";
    // A data symbol: a Global (314.0.7), a relocated address (legacy: 0.27.7, 0.29.3).
    const address = ctx.legacy ? x : x?.value;
    if (!isFunc && typeof address !== "number") {
      if (ctx.legacy) return fail(`${name} has no address`);  // its updateGOT would complain, and link it later
      continue;
    }
    let g = preIndex.get(name);
    if (g === undefined) {
      if (got[k] !== name) return fail(`${name} not recorded in order`);
      g = k++;
    } else {
      preDone[g] = 1;
    }
    const v = values[g];
    if (!isFunc) {
      if ((address | 0) !== v) return fail(`${name} is at ${address}, record ${v}`);
    } else if (addressOf(x)) {
      if (addressOf(x) !== v) return fail(`${name} is not at slot ${v}`);
    } else if (v === t0 + next && next < n && slots[next] === g) {
      funcs[next++] = x;
    } else if (!(v >= t0 && v < t0 + next && funcs[v - t0] === x)) {  // else an alias of one placed above
      return fail(`${name} is not at slot ${v}`);
    }
  }
  if (k !== got.length) return fail(`${got[k]} is not an export`);
  let last = -1;
  const wrap = [];  // the slots of JS functions, which need a wasm wrapper
  for (let s = next; s < n; s++) {
    const g = slots[s];
    if (!(g > last && g < pre.length) || preDone[g] || values[g] !== t0 + s) return fail(`slot ${t0 + s} out of order`);
    const f = imports[got[g]];
    if (typeof f !== "function") return fail(`${got[g]} does not resolve to a function`);
    if (!isWasmFunction(f)) {
      if (!SIGNATURE.test(f.sig)) return fail(`${got[g]} has no signature to wrap it with`);
      wrap.push(s);
    }
    funcs[s] = f;
    preDone[g] = 1;
    last = g;
  }
  for (let g = 0; g < pre.length; g++) {
    if (preDone[g]) continue;
    const name = got[g], v = values[g], f = imports[name];
    if (v === 0) {
      if ((f && !f.stub) || GOT[name].required) return fail(`${name} resolves`);
    } else if (typeof f === "function") {  // a function placed already, under another name
      if (v >= t0 ? funcs[v - t0] !== f : addressOf(f) !== v) return fail(`${name} is not at slot ${v}`);
    } else if ((typeof f === "number" ? f : f?.value) !== v) {
      return fail(`${name} resolves elsewhere`);
    }
  }
  return { funcs, wrap };
}

const global = (value) => new WebAssembly.Global({ value: "i32", mutable: true }, value);

// The GOT entries of the main module's exports (~8,800) matter only to a side module that imports
// them: each is made when first looked up (through GOT's prototype), not all at every start.
function lazyEntries(GOT, lazy) {
  const make = (name) => {
    const e = global(lazy.get(name));
    lazy.delete(name);
    Object.defineProperty(GOT, name, { value: e, writable: true, enumerable: true, configurable: true });
    return e;
  };
  Object.setPrototypeOf(GOT, new Proxy(Object.getPrototypeOf(GOT), {
    get: (proto, name, receiver) => (receiver === GOT && lazy.has(name) ? make(name) : Reflect.get(proto, name, receiver)),
    has: (proto, name) => lazy.has(name) || Reflect.has(proto, name),
  }));
}

globalThis.__pybundle_link = {
  module(bytes) {
    const key = String.fromCharCode(...bytes);
    let m = state.modules.get(key);
    if (!m) state.modules.set(key, (m = new WebAssembly.Module(bytes)));
    return m;
  },
  replay(ctx) {
    state.start = realNow();
    state.cpu = process.cpuUsage();
    state.ctx = { ...ctx, t0: ctx.table.length };
    const rec = readRecord();
    const planned = rec && plan(rec, ctx);
    if (!planned) return false;
    const { funcs, wrap } = planned;
    const { table, GOT, mapFunction } = ctx;
    const { t0, got, values } = rec;
    // Nothing below fails on a record plan() accepted: the JS functions are wrapped first.
    const wrapped = wrapAll(wrap.map((s) => funcs[s]));
    const entries = funcs.slice();
    wrap.forEach((s, i) => (entries[s] = wrapped[i]));
    table.grow(funcs.length);
    entries.forEach((e, s) => {
      table.set(t0 + s, e);
      mapFunction(funcs[s], t0 + s);  // keyed by the JS function, as addFunction does
    });
    const lazy = new Map();
    for (let g = 0; g < got.length; g++) {
      const e = GOT[got[g]], v = values[g];
      if (e) e.value = v;
      else if (v === 0 || v === -1) GOT[got[g]] = global(v);  // unresolved: the loader looks for these
      else lazy.set(got[g], v);
    }
    if (lazy.size) lazyEntries(GOT, lazy);
    state.ctx = null;
    state.path = "replayed";
    state.ms = realNow() - state.start;
    state.cpu = process.cpuUsage(state.cpu);
    return true;
  },
  // After the stock code linked: record what it did, for the next start.
  linked() {
    const ctx = state.ctx;
    state.ctx = null;
    state.ms = realNow() - state.start;
    state.cpu = process.cpuUsage(state.cpu);
    if (!state.file || !ctx || ctx.dynamicLibraries.length) return;
    const { table, GOT, t0 } = ctx;
    const got = Object.keys(GOT);
    const values = got.map((n) => GOT[n].value);
    const slots = new Array(table.length - t0).fill(-1);
    values.forEach((v, g) => {
      if (v >= t0 && v < table.length && slots[v - t0] < 0) slots[v - t0] = g;
    });
    if (slots.includes(-1)) return log(`note: cannot record how ${state.file} links: a table slot without a symbol`);
    try {
      writeAtomic(state.file, JSON.stringify({ v: VERSION, t0, got, values, slots }));
    } catch (e) {
      log(`note: cannot write ${state.file}: ${e.message}`);
    }
  },
};

// Applied to the runtime's JavaScript before it runs (`hooked`: the transformed copy the code
// cache keeps). Without an exact match the stock code runs.
export function hookLinker(body, recordFile, hooked = false) {
  state.file = recordFile;
  if (hooked) {  // the transformed copy: a quick look only (the regex below costs ms on 1.2 MB)
    state.hooked = body.includes(HOOKED);
    return body;
  }
  if (body.split(TRAMPOLINE).length === 3) body = body.replace(TRAMPOLINE, `${TRAMPOLINE_HOOKED}$1);`);
  const shape = SHAPES.find((edits) => edits.every(([from]) => body.split(from).length === 2));
  if (shape) {
    state.hooked = true;
    for (const [from, to] of shape) body = body.replace(from, () => to);
  }
  return body;
}

// PYBUNDLE_HOST_TRACE: which path linked the main module.
export function traceLink() {
  const took = state.ms === undefined ? ""
    : ` in ${state.ms.toFixed(1)} ms (CPU ${((state.cpu.user + state.cpu.system) / 1000).toFixed(1)} ms)`;
  phase(`link: ${state.hooked ? state.path : "stock (the runtime's JavaScript differs)"}${took}`);
}
