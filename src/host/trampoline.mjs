// CPython calls C functions whose arity it does not know (PyCFunction and kin) through a
// trampoline. Pyodide's wasm one needs wasm-gc, which Node 20 lacks, so there every such call goes
// out to JavaScript and back. These stay in wasm: one funcref table per arity (0-3), filled on a
// function's first call when its type is exactly (i32 x n) -> i32. Python 3.14 keeps a trampoline
// in _PyRuntime (`call`; any other function keeps the JavaScript path), Python 3.13 a function
// that counts a function's parameters (`count`; -1, as with wasm-gc: "takes too many arguments").

import { WASM_HEADER, uleb, wasmName as name, wasmSection as section } from "./common.mjs";

const I32 = 0x7f;
const vec = (items) => [...uleb(items.length), ...items.flat()];
const fnType = (n) => [0x60, n, ...Array(n).fill(I32), 1, I32];
const importFunc = (field, type) => [...name("e"), ...name(field), 0x00, type];
const code = (body) => [...uleb(body.length + 1), 0, ...body];  // no locals

// For each arity k (two first: METH_O and METH_NOARGS), when t_k holds the slot in local `func`:
// hit(k), then return.
function byArity(func, hit) {
  const body = [];
  for (const k of [2, 3, 1, 0])
    body.push(0x20, func, 0xfc, 0x10, k, 0x49, 0x04, 0x40,  // if func < table.size(t_k)
              0x20, func, 0x25, k, 0xd1, 0x45, 0x04, 0x40,  //   if t_k[func] is not null
              ...hit(k), 0x0f, 0x0b, 0x0b);
  return body;
}

// Types: 0 call, 1-4 arity 3-0, 5 the JavaScript path. Functions: 0 miss (caches the function and
// gives its arity, or -1), 1 the JavaScript path, 2 call, 3 count.
const ARITY_TYPE = [4, 3, 2, 1];
function trampolineModule() {
  const types = section(1, vec([fnType(5), fnType(3), fnType(2), fnType(1), fnType(0), fnType(4)]));
  const imports = section(2, vec([
    importFunc("miss", 3), importFunc("js", 5),
    ...[0, 1, 2, 3].map((k) => [...name("e"), ...name(`t${k}`), 0x01, 0x70, 0x00, 0x00]),
  ]));
  // call(success*, func, a, b, c): CPython sets *success = 1 before; this never fails a call.
  const args = (k) => [2, 3, 4].slice(0, k).flatMap((local) => [0x20, local]);
  const call = byArity(1, (k) => [...args(k), 0x20, 1, 0x11, ARITY_TYPE[k], k]);
  call.push(0x20, 1, 0x10, 0, 0x41, 0, 0x4e, 0x04, I32,  // if miss(func) >= 0: again, now cached
            0x20, 0, 0x20, 1, 0x20, 2, 0x20, 3, 0x20, 4, 0x10, 2,
            0x05, 0x20, 1, 0x20, 2, 0x20, 3, 0x20, 4, 0x10, 1, 0x0b);  // else the JavaScript path
  const count = byArity(0, (k) => [0x41, k]);
  count.push(0x20, 0, 0x10, 0);  // miss(func)
  return new WebAssembly.Module(new Uint8Array([
    ...WASM_HEADER, ...types, ...imports, ...section(3, vec([[0], [3]])),
    ...section(7, vec([[...name("call"), 0x00, 2], [...name("count"), 0x00, 3]])),
    ...section(10, vec([code([...call, 0x0b]), code([...count, 0x0b])])),
  ]));
}

// Instantiating a module that imports (i32 x n) -> i32 checks a function's exact type.
const probeModule = (n) =>
  new WebAssembly.Module(new Uint8Array([...WASM_HEADER, ...section(1, vec([fnType(n)])), ...section(2, vec([importFunc("f", 0)]))]));

// Where _PyRuntime keeps the trampoline (Python 3.14) or the parameter counter (3.13), as an
// index into HEAP32, and which of the two it is; null for other runtimes.
function field(m) {
  const runtime = m.__PyRuntime;
  for (const [kind, offsetAt] of [["call", m.__PyEM_EMSCRIPTEN_TRAMPOLINE_OFFSET], ["count", m.__PyEM_EMSCRIPTEN_COUNT_ARGS_OFFSET]])
    if (runtime && offsetAt) return { kind, at: (runtime + m.HEAP32[offsetAt >>> 2]) >>> 2 };
  return null;
}

// The field must name this process's function, not one of the process that made a restored heap
// (Pyodide sets it before start-up, and the heap is filled after): returns what puts it back.
export function keepCallTrampoline(m) {
  const f = field(m);
  if (!f) return () => {};
  const value = m.HEAP32[f.at];
  return () => { m.HEAP32[f.at] = value; };
}

// Install ours when the runtime uses the JavaScript path. Returns whether it did.
export function installCallTrampoline(m) {
  const f = field(m), table = m.wasmTable;
  if (!f || !table || m.HEAP32[f.at] !== 0) return false;
  const tables = [0, 1, 2, 3].map(() => new WebAssembly.Table({ element: "anyfunc", initial: 0 }));
  const probes = [0, 1, 2, 3].map(probeModule);
  const slow = new Set();
  const miss = (func) => {
    if (slow.has(func)) return -1;
    const fn = table.get(func);
    const n = typeof fn === "function" ? fn.length : -1;
    try {
      if (n < 0 || n > 3) throw new Error();
      new WebAssembly.Instance(probes[n], { e: { f: fn } });
    } catch {
      slow.add(func);
      return -1;
    }
    if (tables[n].length <= func) tables[n].grow(func + 1 - tables[n].length);
    tables[n].set(func, fn);
    return n;
  };
  const js = (func, a, b, c) => table.get(func)(a, b, c);
  // A slot given another function (removeFunction, then addFunction) must not keep the old one.
  const set = table.set;
  table.set = function (i) {
    slow.delete(i);
    for (const t of tables) if (i < t.length) t.set(i, null);
    return set.apply(this, arguments);
  };
  const exports = new WebAssembly.Instance(trampolineModule(), {
    e: { miss, js, t0: tables[0], t1: tables[1], t2: tables[2], t3: tables[3] },
  }).exports;
  const slot = table.grow(1);
  set.call(table, slot, exports[f.kind]);
  m.HEAP32[f.at] = slot;
  if (f.kind === "count") m._PyEM_CountArgsPtr = slot;  // what Python's own start-up would read
  return true;
}
