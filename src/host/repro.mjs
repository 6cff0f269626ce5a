// Making a snapshot a function of its inputs: while it is made, the entropy Emscripten hands to
// Python (os.urandom, the random module's seed, tempfile names) comes from a generator seeded with
// the hash seed, which pybundle derives from the bundle digest; the wall clock (time.time()) reads
// 2020-01-01 advancing a millisecond per read, the monotonic clock a quarter millisecond per read
// (so the host's own make-snapshot timings are not real times). Restores reseed from the system.
import crypto from "node:crypto";
import { createRequire } from "node:module";

export function fixEntropy(seed) {
  const nodeCrypto = createRequire(import.meta.url)("node:crypto");
  const web = globalThis.crypto;
  const saved = { fill: nodeCrypto.randomFillSync, get: web.getRandomValues, now: Date.now, mono: performance.now };
  let clock = Date.UTC(2020, 0, 1);
  Date.now = () => clock++;
  // A ChaCha state in the runtime's static data is seeded from the monotonic clock.
  let mono = 0;
  performance.now = () => (mono += 0.25);
  let counter = 0;
  const fill = (view) => {
    const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    for (let pos = 0; pos < bytes.length; pos += 32) {
      const block = crypto.createHash("sha256").update(`pybundle-entropy:${seed}:${counter++}`).digest();
      bytes.set(block.subarray(0, Math.min(32, bytes.length - pos)), pos);
    }
    return view;
  };
  nodeCrypto.randomFillSync = fill;
  web.getRandomValues = fill;
  return () => {
    nodeCrypto.randomFillSync = saved.fill;
    web.getRandomValues = saved.get;
    Date.now = saved.now;
    performance.now = saved.mono;
  };
}
