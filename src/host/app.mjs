// Running the app: one request (run), or an HTTP server on loopback (serve).
import { answer, log, ms, t0 } from "./common.mjs";
import { findHandler, importEntry, loadRuntime, saveCodeCache } from "./runtime.mjs";
import { loadSnapshot } from "./snapshot.mjs";

async function startApp(opts) {
  const snapshot = loadSnapshot(opts);
  const rt = await loadRuntime(opts, { snapshot });
  if (!snapshot) importEntry(rt, opts);
  const handler = findHandler(rt, opts.entry);
  return { rt, handler, restored: !!snapshot, ready: ms(t0, performance.now()) };
}

export async function callHandler(app, method, url, headers, body) {
  const res = await app.rt.py("call")(app.handler, method, url, headers, body);
  const [status, hdrs, data, tb] = res.toJs();
  res.destroy?.();
  return { status, headers: hdrs, body: data, traceback: tb ?? null };
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
  const headers = Object.fromEntries(r.headers.map(([k, v]) => [k.toLowerCase(), v]));
  return {
    ok: !r.traceback,
    ...(r.traceback ? { error: "on_fetch raised: " + r.traceback.trim().split("\n").pop(), traceback: r.traceback } : {}),
    restored: app.restored,
    response: { status: r.status, headers, ...bodyForJson(r.body) },
    timings_ms: { runtime_ready: app.ready, handler: ms(tCall, tDone), total: ms(t0, tDone),
                  node_start: ms(0, t0), ...app.rt.timings },
    heap: app.rt.heap,
  };
}

export async function serve(opts) {
  const app = await startApp(opts);
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
  log(`serving ${opts.entry}.on_fetch on http://${host}:${port}/ ` +
      `(${app.restored ? "snapshot restored" : "imported without a snapshot"}, ready in ${app.ready} ms)`);
  if (!opts["quiet-answer"]) answer({ ok: true, listening: `http://${host}:${port}/`, port, restored: app.restored, timings_ms: { runtime_ready: app.ready } });
  for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => server.close(() => process.exit(0)));
  return null;
}
