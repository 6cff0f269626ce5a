// Shared libraries (compiled extensions) in a snapshot. The heap holds their data and the C side of
// the dynamic linker, but not the wasm function table or the JS side (LDSO, GOT). So, as workerd
// does: while making the snapshot, record every library Emscripten's loader places (load order,
// memory base, table length, dlopen handles); on restore, before the heap is copied in, load the
// same files again in the same order with each one's data forced to its recorded memory base (the
// allocator state that reserved it is in the heap) and its functions at its recorded table base.
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

import { BUNDLE, HostError } from "./common.mjs";

// The one statement in loadWebAssemblyModule (Emscripten's dynamic loader, in pyodide.asm.js/.mjs of
// 0.27.7, 0.29.3 and 314.0.7) that picks a library's memory and table bases.
const PLACEMENT =
  "var memoryBase=metadata.memorySize?alignMemory(getMemory(metadata.memorySize+memAlign),memAlign):0;" +
  "var tableBase=metadata.tableSize?wasmTable.length:0;";
const HOOKED =
  "var [memoryBase,tableBase]=globalThis.__pybundle_dylibs.place(libName,flags,metadata,wasmTable,freeTableIndexes," +
  "()=>metadata.memorySize?alignMemory(getMemory(metadata.memorySize+memAlign),memAlign):0);";

// 0.27.7's loader looks a library another one needs (DT_NEEDED) up by its bare name only, where
// later releases search the dependent's rpath and LD_LIBRARY_PATH: also look in the dependent's own
// directory (as rpath $ORIGIN), through Emscripten's FS (the bundle is mounted there, not on the host).
const NEEDED = "metadata.neededDynlibs.forEach(needed=>loadDynamicLibrary(needed,flags,localScope));return loadModule()";
const NEEDED_HOOKED =
  "metadata.neededDynlibs.forEach(needed=>loadDynamicLibrary(...globalThis.__pybundle_dylibs.needed(" +
  "needed,libName,flags,FS,LDSO),localScope));return loadModule()";
// 0.29.3 and 314.0.7 resolve a needed name through rpath and LD_LIBRARY_PATH (twice: sync and async).
// Hooked so the snapshot records which file each name found: two wheels may ship one library name,
// and a restore runs before the search path (in the C environment) is back.
const RESOLVE = "needed=findLibraryFS(needed,flags.rpath)??needed;";
const RESOLVE_HOOKED =
  "needed=globalThis.__pybundle_dylibs.resolve(libName,needed,findLibraryFS(needed,flags.rpath)??needed);";

// The `fs` option of 0.27.7's loadDynamicLibrary: where it reads a library that has no handle.
const readerOf = (FS) => ({ findObject: (p) => FS.analyzePath(p).exists, readFile: (p, o) => FS.readFile(p, o) });

const state = {
  hooked: false,   // the runtime's loader calls place()
  records: [],     // libraries placed in this process, in load order
  replay: null,    // name -> record while a restore loads the recorded libraries
  gap: [],         // table slots a restore keeps free for later allocations
  needed: new Map(), // library -> {needed name: the path it was loaded from}, while recording
};

// The file a needed name found: recorded while the snapshot is made, replayed on restore.
function replayed(parent, name) {
  const rel = state.replay?.get(parent)?.needed?.[name];
  return rel ? `${BUNDLE}/${rel}` : null;
}
function recorded(parent, name, found) {
  if (!state.replay) {
    if (!state.needed.has(parent)) state.needed.set(parent, {});
    state.needed.get(parent)[name] = found;
  }
  return found;
}

globalThis.__pybundle_dylibs = {
  needed(name, parent, flags, FS, LDSO) {
    const again = replayed(parent, name);
    if (again) return [again, { ...flags, fs: readerOf(FS) }];
    if (name.includes("/") || LDSO.loadedLibsByName[name]) return [recorded(parent, name, name), flags];
    const near = path.posix.join(path.posix.dirname(parent), name);
    if (!FS.analyzePath(near).exists) return [recorded(parent, name, name), flags];
    return [recorded(parent, name, near), { ...flags, fs: readerOf(FS) }];
  },
  resolve(parent, name, found) {
    return replayed(parent, name) ?? recorded(parent, name, found);
  },
  place(libName, flags, metadata, table, free, allocate) {
    const rec = state.replay?.get(libName);
    if (state.replay && !rec)
      throw new HostError(`cannot restore the snapshot: the shared library ${libName} was not loaded while it was made`);
    if (rec) {
      // The table must look as it did when the snapshot loaded this library: same length, same free
      // slots (the loader takes those first). Slots taken before this load back then (a dlsym'd init
      // function, wrappers a restore only makes later) stay reserved for what takes them later.
      const want = new Set(rec.free_slots);
      for (const i of free) if (!want.has(i)) state.gap.push(i);
      if (table.length < rec.table_length) {
        for (let i = table.length; i < rec.table_length; i++) if (!want.has(i)) state.gap.push(i);
        table.grow(rec.table_length - table.length);
      }
      if (table.length !== rec.table_length || rec.free_slots.some((i) => table.get(i)))
        throw new HostError(`cannot restore ${rec.path}: the function table has ${table.length} entries where the ` +
                            `snapshot loaded it at ${rec.table_length}`);
      free.length = 0;
      free.push(...rec.free_slots);
      return [rec.memory_base, metadata.tableSize ? table.length : 0];
    }
    const memoryBase = allocate();
    state.records.push({
      path: libName, global: !!flags.global, memory_base: memoryBase, memory_size: metadata.memorySize,
      table_length: table.length, table_size: metadata.tableSize, free_slots: [...free],
      needed: state.needed.get(libName) ?? {},
    });
    return [memoryBase, metadata.tableSize ? table.length : 0];
  },
};

// Called on the runtime's JavaScript before it runs; without the hook, libraries cannot be
// snapshotted with this release (and are refused when one is loaded).
// Also given the transformed source kept in the code cache, which is hooked already.
export function hookLoader(body) {
  if (body.includes(HOOKED)) {
    state.hooked = true;
    return body;
  }
  if (body.split(PLACEMENT).length !== 2) return body;
  state.hooked = true;
  if (body.split(NEEDED).length === 2) body = body.replace(NEEDED, NEEDED_HOOKED);
  body = body.replaceAll(RESOLVE, RESOLVE_HOOKED);
  return body.replace(PLACEMENT, HOOKED);
}

// node:crypto costs a few ms to load: only when there are libraries.
function sha256(file) {
  return createRequire(import.meta.url)("node:crypto").createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

// After the imports: what the snapshot metadata records about each library loaded.
// `moduleOf(path)` names the Python module a library was imported as, when one was.
export function recordLibraries(m, bundleDir, moduleOf) {
  const loaded = Object.keys(m.LDSO?.loadedLibsByName ?? {}).filter((n) => n !== "__main__");
  if (!loaded.length) return [];
  if (!state.hooked)
    throw new HostError("this Pyodide release's dynamic loader does not match what pybundle hooks " +
                        "(loadWebAssemblyModule's memory placement); compiled extensions cannot be snapshotted with it");
  const handles = {};
  for (const [h, dso] of Object.entries(m.LDSO.loadedLibsByHandle)) {
    if (Number(h) !== 0) (handles[dso.name] ??= []).push(Number(h));
  }
  return state.records.map((r) => {
    if (!r.path.startsWith(BUNDLE + "/")) {
      const mod = moduleOf(r.path);
      throw new HostError(`${mod ? `module '${mod}' loaded ` : ""}the shared library ${r.path} from outside the ` +
                          "bundle; a snapshot can only hold libraries it can load again from the bundle's files",
                          { library: r.path, module: mod ?? null });
    }
    const rel = r.path.slice(BUNDLE.length + 1);
    // Only names that found a file of the bundle (any other library is refused above).
    const needed = Object.fromEntries(Object.entries(r.needed)
      .filter(([, p]) => p?.startsWith(BUNDLE + "/")).map(([n, p]) => [n, p.slice(BUNDLE.length + 1)]));
    return { ...r, path: rel, sha256: sha256(path.join(bundleDir, rel)), handles: handles[r.path] ?? [], needed };
  });
}

// On restore, after the module exists and before the heap is copied in: load each recorded library
// again from the bundle. The memory they touch is zeroed again afterwards (the heap copy may skip
// pages it knows to be zero in a fresh instance).
export function reloadLibraries(m, libraries, bundleDir) {
  if (!libraries.length) return;
  if (!state.hooked)
    throw new HostError("the snapshot holds compiled extensions but this Pyodide release's dynamic loader " +
                        "does not match what pybundle hooks");
  state.replay = new Map(libraries.map((r) => [`${BUNDLE}/${r.path}`, r]));
  state.gap = [];
  m.FS.mkdirTree(BUNDLE);
  m.FS.mount(m.FS.filesystems.NODEFS, { root: path.resolve(bundleDir) }, BUNDLE);
  const aliases = [];
  try {
    // 0.27.7 reads a library named by a dependency through flags.fs (later releases search the FS).
    const fsShim = readerOf(m.FS);
    for (const r of libraries) {
      const name = `${BUNDLE}/${r.path}`;
      if (!m.LDSO.loadedLibsByName[name]) {
        m.loadDynamicLibrary(name, { global: r.global, nodelete: true, fs: fsShim }, r.global ? undefined : {});
      }
      const dso = m.LDSO.loadedLibsByName[name];
      // A dependent names its dependency by file name; while the snapshot was made the search path
      // (in the C environment, restored only with the heap) found it.
      const base = path.posix.basename(name);
      if (!m.LDSO.loadedLibsByName[base]) {
        m.LDSO.loadedLibsByName[base] = dso;
        aliases.push(base);
      }
      for (const h of r.handles) m.LDSO.loadedLibsByHandle[h] = dso;
      m.HEAP8.fill(0, r.memory_base, r.memory_base + r.memory_size);
    }
  } finally {
    for (const a of aliases) delete m.LDSO.loadedLibsByName[a];
    m.FS.unmount(BUNDLE);
    state.replay = null;
  }
  // Ascending pops: slots are handed out again in the order they were first taken.
  m.freeTableIndexes.push(...state.gap.sort((a, b) => b - a));
}

// Before the restored heap is used: every recorded library still has the bytes it had.
export function changedLibrary(libraries, bundleDir) {
  for (const r of libraries) {
    let sha;
    try {
      sha = sha256(path.join(bundleDir, r.path));
    } catch {
      return `${r.path} is missing`;
    }
    if (sha !== r.sha256) return `${r.path} changed since the snapshot was made`;
  }
  return "";
}
