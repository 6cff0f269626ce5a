// Making a snapshot a function of its inputs: while it is made, the entropy Emscripten hands to
// Python (os.urandom, the random module's seed, tempfile names) comes from a generator seeded with
// the hash seed, which pybundle derives from python_modules/; the wall clock (time.time()) reads
// 2020-01-01 advancing a millisecond per read, the monotonic clock a quarter millisecond per read
// (so the host's own make-snapshot timings are not real times), Math.random is a generator seeded
// likewise, and the bundle's files show fixed times, owner and inode numbers (fixFileStats).
// Restores reseed from the system.
import { createRequire } from "node:module";

const EPOCH = Date.UTC(2020, 0, 1);

export function fixEntropy(seed) {
  const nodeCrypto = createRequire(import.meta.url)("node:crypto");
  const web = globalThis.crypto;
  const saved = { fill: nodeCrypto.randomFillSync, get: web.getRandomValues, now: Date.now, mono: performance.now,
                  random: Math.random };
  let clock = EPOCH;
  Date.now = () => clock++;
  // A ChaCha state in the runtime's static data is seeded from the monotonic clock.
  let mono = 0;
  performance.now = () => (mono += 0.25);
  let counter = 0;
  const fill = (view) => {
    const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    for (let pos = 0; pos < bytes.length; pos += 32) {
      const block = nodeCrypto.createHash("sha256").update(`pybundle-entropy:${seed}:${counter++}`).digest();
      bytes.set(block.subarray(0, Math.min(32, bytes.length - pos)), pos);
    }
    return view;
  };
  nodeCrypto.randomFillSync = fill;
  web.getRandomValues = fill;
  const word = new Uint32Array(2);
  Math.random = () => (fill(word), (word[0] * 2 ** 21 + (word[1] >>> 11)) / 2 ** 53);
  return () => {
    Math.random = saved.random;
    nodeCrypto.randomFillSync = saved.fill;
    web.getRandomValues = saved.get;
    Date.now = saved.now;
    performance.now = saved.mono;
  };
}

// What Python's stat() of a bundle file sees while the snapshot is made: the real times, owner and
// (0.27.7) inode would reach the heap (importlib's directory caches, freed stat results) and differ
// on every build. Each release's NODEFS builds the stat object in one place: NODEFS.getattr(func,
// node) from 0.29, NODEFS.node_ops.getattr(node) before.
export function fixFileStats(FS) {
  const nodefs = FS.filesystems.NODEFS;
  const owner = typeof nodefs.getattr === "function" ? nodefs : nodefs.node_ops;
  const getattr = owner.getattr;
  owner.getattr = function (...args) {
    const st = getattr.apply(this, args);
    const node = args[args.length - 1];
    const when = new Date(EPOCH);
    return { ...st, atime: when, mtime: when, ctime: when, dev: 1, uid: 0, gid: 0, ino: node.id };
  };
}
