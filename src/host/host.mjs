// pybundle's JavaScript host, run by Node.js: node host.mjs MODE --runtime DIR [--key value ...]
// Answers with one JSON object on stdout; logs and Python tracebacks go to stderr.
// Modes: make-base, make-snapshot, run, serve, smoke, compile, trace. The protocol is described in
// src/snapshot; the modes live in the modules imported here.
import { run, serve } from "./app.mjs";
import { HostError, answer, log, pythonMessage } from "./common.mjs";
import { makeBase, makeSnapshot } from "./snapshot.mjs";
import { compile, smoke, trace } from "./tools.mjs";

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

const MODES = { "make-base": makeBase, "make-snapshot": makeSnapshot, run, serve, smoke, compile, trace };

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
