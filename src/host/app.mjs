// Running the app: one request (run), or an HTTP server on loopback (serve).
import { HostError, answer, log, ms, pythonMessage, splitList, t0 } from "./common.mjs";
import { findHandler, importEntry, loadRuntime, saveCodeCache } from "./runtime.mjs";
import { loadSnapshot } from "./snapshot.mjs";
import { runSmoke } from "./tools.mjs";

async function startApp(opts) {
  const snapshot = loadSnapshot(opts);
  const rt = await loadRuntime(opts, { snapshot });
  if (!snapshot) importEntry(rt, opts);
  const handler = findHandler(rt, opts.entry, opts.vars);
  const style = rt.py("handler_style")(handler);
  return { rt, handler, style, restored: !!snapshot, ready: ms(t0, performance.now()) };
}

export async function callHandler(app, method, url, headers, body) {
  app.call ??= app.rt.py("call");
  let res = app.call(app.handler, method, url, headers, body);
  if (typeof res.then === "function") {  // an async handler: finished on the event loop
    const pending = res;
    res = await pending;
    pending.destroy?.();
  }
  const [status, hdrs, data, tb, error] = res.toJs();
  res.destroy?.();
  return { status, headers: hdrs, body: data, traceback: tb ?? null, error: error ?? null };
}

function bodyForJson(data) {
  const buf = Buffer.from(data);
  const text = buf.toString("utf8");
  return Buffer.from(text, "utf8").equals(buf) ? { body: text } : { body_base64: buf.toString("base64") };
}

export async function run(opts) {
  const app = await startApp(opts);
  const tCall = performance.now();
  const r = await callHandler(app, "GET", opts.url ?? "http://localhost/", [["host", "localhost"]], new Uint8Array());
  const tDone = performance.now();
  saveCodeCache();
  if (r.traceback) log(r.traceback);
  // --smoke MODULES (check --bundle): the smoke imports in this process, after the request.
  const smoke = opts.smoke ? { smoke: runSmoke(app.rt, splitList(opts.smoke)) } : {};
  const headers = Object.fromEntries(r.headers.map(([k, v]) => [k.toLowerCase(), v]));
  return {
    ok: !r.traceback,
    ...(r.traceback ? { error: "on_fetch raised: " + r.error, traceback: r.traceback } : {}),
    restored: app.restored,
    entry_style: app.style,
    response: { status: r.status, headers, ...bodyForJson(r.body) },
    timings_ms: { runtime_ready: app.ready, handler: ms(tCall, tDone), total: ms(t0, tDone),
                  node_start: ms(0, t0), ...app.rt.timings },
    heap: app.rt.heap,
    ...smoke,
  };
}

// serve --workers N (N > 1): this process only starts N workers (node:cluster), each restoring
// the same snapshot file with its own entropy; the cluster hands connections to them in turn.
async function servePrimary(opts, cluster, n) {
  if (opts["snapshot-stdin"]) throw new HostError("serve --workers needs the snapshot as a file (--snapshot-file)");
  cluster.setupPrimary({ exec: process.argv[1], args: process.argv.slice(2), execArgv: process.execArgv });
  let listening = null;
  const ready = [];
  let stopping = false;
  const started = new Promise((resolve, reject) => {
    cluster.on("message", (worker, msg) => {
      if (msg?.error) reject(new HostError(msg.error, msg.extra ?? {}));
      else if (msg?.listening) {
        listening = msg;
        ready.push(msg.ready);
        if (ready.length === n) resolve();
      }
    });
    cluster.on("exit", (worker, code, signal) => {
      if (stopping) return;
      if (!listening || ready.length < n) return reject(new HostError(`a server worker exited (${signal ?? code}) while starting`));
      log(`server worker ${worker.process.pid} exited (${signal ?? code}); starting another`);
      cluster.fork();
    });
  });
  for (let i = 0; i < n; i++) cluster.fork();
  try {
    await started;
  } catch (e) {
    stopping = true;
    for (const w of Object.values(cluster.workers)) w.process.kill("SIGKILL");
    throw e;
  }
  const { host, port, restored, handler } = listening;
  const slowest = Math.max(...ready);
  log(`serving ${opts.entry}.${handler} on http://${host}:${port}/ with ${n} workers ` +
      `(${restored ? "snapshot restored" : "imported without a snapshot"}, ready in ${ms(t0, performance.now())} ms)`);
  if (!opts["quiet-answer"]) answer({ ok: true, listening: `http://${host}:${port}/`, port, restored, workers: n, timings_ms: { runtime_ready: slowest } });
  for (const sig of ["SIGINT", "SIGTERM"]) {
    process.on(sig, () => {
      stopping = true;
      let left = Object.keys(cluster.workers).length;
      if (!left) process.exit(0);
      cluster.on("exit", () => --left || process.exit(0));
      for (const w of Object.values(cluster.workers)) w.process.kill("SIGTERM");
    });
  }
  return null;
}

export async function serve(opts) {
  const n = Number(opts.workers ?? 1);
  const cluster = n > 1 ? (await import("node:cluster")).default : null;
  if (cluster?.isPrimary) return servePrimary(opts, cluster, n);
  let app;
  try {
    app = await startApp(opts);
  } catch (e) {
    if (!cluster) throw e;
    if (!(e instanceof HostError)) log(String(e.stack ?? e));
    process.send({ error: e instanceof HostError ? e.message : pythonMessage(e), extra: e.extra });
    process.exit(1);
  }
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
  const handlerName = app.style === "workers" ? "Default.fetch" : "on_fetch";
  if (cluster) {
    process.send({ listening: true, host, port, restored: app.restored, ready: app.ready, handler: handlerName });
    process.on("SIGTERM", () => server.close(() => process.exit(0)));
    process.on("SIGINT", () => {});  // the primary stops the workers
    return null;
  }
  log(`serving ${opts.entry}.${handlerName} on http://${host}:${port}/ ` +
      `(${app.restored ? "snapshot restored" : "imported without a snapshot"}, ready in ${app.ready} ms)`);
  if (!opts["quiet-answer"]) answer({ ok: true, listening: `http://${host}:${port}/`, port, restored: app.restored, timings_ms: { runtime_ready: app.ready } });
  for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => server.close(() => process.exit(0)));
  return null;
}
