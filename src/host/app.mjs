// Running the app: one request (run), or an HTTP server on loopback (serve).
import fs from "node:fs";

import { HostError, answer, log, logSoon, ms, onlyOurs, pythonMessage, splitList, startWorker, t0 } from "./common.mjs";
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

// The handler's answer; a promise of it when the handler is async (finished on the event loop).
// `headers`: names and values in turn, as Node's rawHeaders. An empty body goes as undefined,
// which Python sees as None (null would be JsNull).
export function callHandler(app, method, url, headers, body) {
  app.call ??= app.rt.py("call");
  const res = app.call(app.handler, method, url, headers.join("\0"), body.length ? body : undefined, true);
  if (typeof res.then !== "function") return answerOf(res);
  // res is the call's asyncio Task: cancelled, the handler gets CancelledError where it awaits.
  // Pyodide destroys res once it is awaited, so a copy of the proxy keeps the Task at hand.
  const task = res.copy();
  const answered = Promise.resolve(res).then((done) => {
    res.destroy?.();
    return answerOf(done);
  }).finally(() => task.destroy());
  answered.cancel = () => {
    try {
      task.cancel();
    } catch {}  // it finished meanwhile
  };
  return answered;
}

function answerOf(res) {
  const [status, flat, data, tb, error] = res.toJs();
  res.destroy?.();
  let headers = flat;  // pairs when a header holds a NUL (invalidResponse names it)
  if (typeof flat === "string") {
    const parts = flat ? flat.split("\0") : [];
    headers = [];
    for (let i = 0; i < parts.length; i += 2) headers.push([parts[i], parts[i + 1]]);
  }
  return { status, headers, body: data, traceback: tb ?? null, error: error ?? null };
}

function bodyForJson(data) {
  const buf = Buffer.from(data);
  const text = buf.toString("utf8");
  return Buffer.from(text, "utf8").equals(buf) ? { body: text } : { body_base64: buf.toString("base64") };
}

export async function run(opts) {
  const app = await startApp(opts);
  const tCall = performance.now();
  // --url /path is on http://localhost, as serve's handler sees its own origin.
  const url = opts.url === undefined ? "http://localhost/" : opts.url.startsWith("/") ? `http://localhost${opts.url}` : opts.url;
  let host = "localhost";
  try {
    host = new URL(url).host || host;
  } catch {}
  const r = await callHandler(app, "GET", url, ["host", host], new Uint8Array());
  const tDone = performance.now();
  saveCodeCache();
  if (r.traceback) log(r.traceback);
  // What serve would answer 500 for fails the run too (and so check --bundle's request).
  const bad = r.traceback ? null : invalidResponse(r);
  // --smoke MODULES (check --bundle): the smoke imports in this process, after the request.
  const smoke = opts.smoke ? { smoke: runSmoke(app.rt, splitList(opts.smoke)) } : {};
  const headers = Object.fromEntries(r.headers.map(([k, v]) => [String(k).toLowerCase(), v]));
  return {
    ok: !r.traceback && !bad,
    ...(r.traceback ? { error: "on_fetch raised: " + r.error, traceback: r.traceback } : {}),
    ...(bad ? { error: "the handler's response cannot be sent: " + bad } : {}),
    restored: app.restored,
    entry_style: app.style,
    response: { status: r.status, headers, ...bodyForJson(r.body) },
    timings_ms: { runtime_ready: app.ready, handler: ms(tCall, tDone), total: ms(t0, tDone),
                  node_start: ms(0, t0), ...app.rt.timings },
    heap: app.rt.heap,
    ...smoke,
  };
}

// The URL the handler sees. The request target alone decides path and query (Host is only a
// header: "Host: x/admin?secret=1#" must not turn "GET /public" into /admin); the origin is the
// address we listen on. Absolute-form targets keep only their path and query; null: unusable.
export function requestUrl(target, origin) {
  if (target.startsWith("/")) return origin + target;
  try {
    const u = new URL(target);
    if (u.protocol === "http:" || u.protocol === "https:") return origin + u.pathname + u.search;
  } catch {}
  return null;
}

// Why the handler's answer cannot be sent, or null: node:http's own rules (a header name is a
// token; a value has no control character but tab), without loading node:http into `run`.
const TOKEN = /^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$/;
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
function invalidResponse(r) {
  if (!Number.isInteger(r.status) || r.status < 200 || r.status > 599) return `status ${r.status} is not between 200 and 599`;
  for (const [k, v] of r.headers) {
    const name = `header ${JSON.stringify(String(k)).slice(0, 80)}`;
    if (typeof k !== "string" || !TOKEN.test(k)) return `${name}: the name is not an HTTP token`;
    if (typeof v !== "string" || BAD_VALUE.test(v)) return `${name}: the value holds a character HTTP does not allow`;
  }
  return null;
}

// A handler looping in Python blocks this thread; a worker thread raises KeyboardInterrupt in it
// through Pyodide's interrupt buffer once the request's deadline passes. While a sync call runs,
// its own deadline is armed (no other Python can run); otherwise the earliest of the async calls
// still waiting: a call that overtook one must not disarm it, as that one may spin once it resumes.
// An async call's is a second later, so an idle loop answers it (504) before anything is interrupted.
// A handler that catches the KeyboardInterrupt and runs on would hold the process for good: when
// this thread's event loop has not turned for STUCK_MS after the interrupt, the process is ended
// (a cluster worker is replaced by the primary; a single server stops, exit 1).
const STUCK_MS = 5000;
function requestWatchdog() {
  const shared = new SharedArrayBuffer(24);
  const interrupt = new Int32Array(shared, 0, 1);
  const deadline = new BigInt64Array(shared, 8, 1);  // Date.now() ms; 0: no request running
  const beat = new BigInt64Array(shared, 16, 1);  // Date.now() of the event loop's last turn
  const worker = startWorker(
    `const { workerData } = require("node:worker_threads");
     const interrupt = new Int32Array(workerData, 0, 1), deadline = new BigInt64Array(workerData, 8, 1);
     const beat = new BigInt64Array(workerData, 16, 1);
     let raised = 0;
     setInterval(() => {
       const now = Date.now(), d = Atomics.load(deadline, 0);
       if (d !== 0n && BigInt(now) > d) { Atomics.store(deadline, 0, 0n); Atomics.store(interrupt, 0, 2); raised = now; }
       if (raised && Atomics.load(beat, 0) > BigInt(raised)) raised = 0;
       if (raised && now - raised > ${STUCK_MS}) {
         require("node:fs").writeSync(2, "a handler still runs ${STUCK_MS / 1000} s after --timeout interrupted it " +
           "(it caught KeyboardInterrupt?): ending server process " + process.pid + "\\n");
         process.kill(process.pid, "SIGKILL");
       }
     }, 20);`,
    { eval: true, workerData: shared });
  worker.unref();
  setInterval(() => Atomics.store(beat, 0, BigInt(Date.now())), 100).unref();
  const waiting = new Set();  // { at, call } of each async call not yet answered
  const arm = (at) => Atomics.store(deadline, 0, BigInt(at));
  const earliest = () => {
    let at = 0;
    for (const w of waiting) if (!at || w.at < at) at = w.at;
    return at;
  };
  return {
    interrupt,
    // A call begins: its deadline is armed while its synchronous part runs.
    start(ms) {
      const call = { at: Date.now() + ms };
      Atomics.store(interrupt, 0, 0);
      arm(call.at);
      return call;
    },
    // Its synchronous part returned: an async call keeps its deadline among the waiting ones.
    returned(call, isAsync) {
      Atomics.store(interrupt, 0, 0);
      if (isAsync) waiting.add({ at: call.at + 1000, call });
      arm(earliest());
    },
    // An async call was answered (or given up on).
    answered(call) {
      for (const w of waiting) if (w.call === call) waiting.delete(w);
      Atomics.store(interrupt, 0, 0);
      arm(earliest());
    },
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
  log(`serving ${opts.entry}.${handler} on ${urlOf(host, port)} with ${n} workers ` +
      `(${restored ? "snapshot restored" : "imported without a snapshot"}, ready in ${ms(t0, performance.now())} ms)`);
  answer({ ok: true, listening: urlOf(host, port), port, restored, workers: n, timings_ms: { runtime_ready: slowest } });
  for (const sig of ["SIGINT", "SIGTERM"]) {
    process.on(sig, () => {
      stopping = true;
      let left = Object.keys(cluster.workers).length;
      if (!left) process.exit(0);
      let forced = false;
      cluster.on("exit", () => --left || process.exit(forced ? 1 : 0));
      for (const w of Object.values(cluster.workers)) w.process.kill("SIGTERM");
      // A worker busy in a handler never runs its SIGTERM handler: end it before pybundle ends us.
      setTimeout(() => {
        forced = true;
        log("a server worker still busy in a handler was killed");
        for (const w of Object.values(cluster.workers)) w.process.kill("SIGKILL");
      }, 4000).unref();
    });
  }
  return null;
}

// A cluster worker dies with its primary (which dies with pybundle, PR_SET_PDEATHSIG), even while
// a handler keeps its main thread busy: a thread watches for the primary going away.
function dieWithPrimary() {
  const watcher = startWorker(
    `const { workerData } = require("node:worker_threads");
     setInterval(() => { if (process.ppid !== workerData) process.kill(process.pid, "SIGKILL"); }, 100);`,
    { eval: true, workerData: process.ppid });
  watcher.unref();
}

// Why the server cannot listen, in words; exit 3 (an I/O error) as documented.
// An IPv6 address goes in brackets in a URL.
const urlOf = (host, port) => `http://${host.includes(":") ? `[${host}]` : host}:${port}/`;

function listenError(e, host, port) {
  const why = { EADDRINUSE: "the port is in use (another server?); choose another with --port, or --port 0 for a free one",
                EACCES: "permission denied (ports below 1024 need privileges); choose another with --port",
                EADDRNOTAVAIL: "no interface of this machine has that address; check --host" }[e?.code];
  return new HostError(`cannot listen on ${host}:${port}: ${why ?? String(e?.message ?? e)}`, { exit: 3 });
}

const text = (status, body) => ({ status, headers: [["content-type", "text/plain; charset=utf-8"]], body: Buffer.from(body) });

// The framing is ours, as in Cloudflare's runtime (kj's HttpServer): the body is whole, so its
// length is known. A handler's Content-Length or Transfer-Encoding that disagreed with it would
// let the body's tail be read as the next response on a kept-alive connection (or stall it).
// Only a HEAD answer keeps the handler's (the length a GET would send). 204/304 have no body nor
// length; 205 has an empty body, said so (RFC 9110 15.3.6).
const framing = ([name]) => /^(content-length|transfer-encoding)$/i.test(String(name));
function framed(headers, status, body, head) {
  if (head && headers.some(framing)) return [headers.flat(), body];
  const flat = headers.filter((h) => !framing(h)).flat();
  if (status === 204 || status === 304) return [flat, body];
  if (status === 205) body = body.subarray(0, 0);
  if (!head || body.length || status === 205) flat.push("content-length", String(body.length));
  return [flat, body];
}

export async function serve(opts) {
  const n = Number(opts.workers ?? 1);
  const cluster = n > 1 ? (await import("node:cluster")).default : null;
  if (cluster?.isPrimary) return servePrimary(opts, cluster, n);
  if (cluster) dieWithPrimary();
  const http = await import("node:http");
  const host = opts.host ?? "127.0.0.1";
  const maxBody = Number(opts["max-body"] ?? 100 * 2 ** 20);
  const timeoutMs = Number(opts["request-timeout"] ?? 300) * 1000;
  const watchdog = requestWatchdog();
  const start = async (o) => {
    const a = await startApp(o);
    a.rt.pyodide.setInterruptBuffer?.(watchdog.interrupt);
    return a;
  };
  // A cluster worker that cannot start tells the primary, which answers for the server.
  const failed = (e) => {
    if (!cluster) throw e;
    if (!(e instanceof HostError)) log(String(e.stack ?? e));
    process.send({ error: e instanceof HostError ? e.message : pythonMessage(e), extra: e.extra });
    process.exit(1);
  };
  let app;
  try {
    app = await start(opts);
  } catch (e) {
    failed(e);
  }
  let ready = Promise.resolve(app);
  let restarting = null;
  let origin = "";
  // A runtime that died (os._exit in a handler, a fatal error) is started again: from the heap
  // cache the first start wrote, else by importing the entry.
  const restart = () => {
    if (restarting) return;
    const again = { ...opts, "snapshot-stdin": undefined, "snapshot-wait": undefined };
    // pybundle checked the heap cache at the start; it may have been replaced since.
    const heap = opts["snapshot-file"] ?? opts["heap-cache"];
    again["snapshot-file"] = heap && onlyOurs(heap) ? heap : undefined;
    if (again["snapshot-file"] !== opts["snapshot-file"] || !onlyOurs(opts["zero-map"])) again["zero-map"] = undefined;
    restarting = start(again).then((a) => {
      app = a;
      restarting = null;
      log("the runtime was started again");
      return a;
    });
    ready = restarting;
  };
  // Pyodide reports a fatal error (os._exit included) from a timer of its own, not through the
  // call's promise: fail the requests in flight and start the runtime again, instead of dying.
  // A sync call that kills the runtime throws at once: the async calls waiting on it fail too.
  const inflight = new Set();
  const runtimeDied = (e) => {
    const fails = [...inflight];
    inflight.clear();
    for (const fail of fails) fail(e);
    restart();
  };
  process.on("uncaughtException", (e) => {
    if (!e?.pyodide_fatal_error && e?.name !== "ExitStatus") {
      log(`internal error: ${String(e?.stack ?? e).split("\n").slice(0, 3).join("\n")}`);
      process.exit(70);
    }
    process.exitCode = undefined;  // Emscripten's exit() sets it
    runtimeDied(e);
  });
  const late = () => ({ ...text(504, "Gateway Timeout\n"), traceback: `the handler did not answer within ${timeoutMs / 1000} s (--timeout)` });
  const failedRuntime = (e) => {
    // Not a Python exception (those come back as a traceback): the runtime itself failed.
    runtimeDied(e);
    return { ...text(500, "Internal Server Error\n"), traceback: `the runtime failed (${String(e?.message ?? e).split("\n")[0].slice(0, 200)}); starting it again` };
  };
  const checked = (r) => {
    const bad = invalidResponse(r);
    return bad ? { ...text(500, "Internal Server Error\n"), traceback: `the handler's response cannot be sent: ${bad}` } : r;
  };
  // A sync handler answers within the call (the watchdog bounds it); only an async one needs the
  // timer and the watch for a runtime that fails while the call waits on the event loop.
  const handle = (req, body) => {
    if (restarting) return ready.then(() => handle(req, body));
    const url = requestUrl(req.url, origin);
    if (url === null) return text(400, "Bad Request\n");
    const started = Date.now();
    const overdue = (r) => timeoutMs > 0 && r.traceback && Date.now() - started >= timeoutMs;
    const call = timeoutMs > 0 ? watchdog.start(timeoutMs) : null;
    let r;
    try {
      r = callHandler(app, req.method, url, req.rawHeaders, new Uint8Array(body.buffer, body.byteOffset, body.length));
    } catch (e) {
      if (call) watchdog.returned(call, false);
      return failedRuntime(e);
    }
    if (call) watchdog.returned(call, r instanceof Promise);
    if (!(r instanceof Promise)) return overdue(r) ? late() : checked(r);
    let timer, fail;
    const racers = [new Promise((_, reject) => inflight.add((fail = reject)))];
    if (timeoutMs > 0) racers.push(new Promise((resolve) => { timer = setTimeout(() => resolve("late"), timeoutMs); }));
    return Promise.race([r, ...racers]).then(
      (done) => {
        if (done !== "late") return overdue(done) ? late() : checked(done);
        watchdog.answered(call);  // first: an interrupt raised for it must not hit the cancel
        r.cancel();  // it would otherwise run on unbounded, once answered
        return late();
      },
      failedRuntime,
    ).finally(() => {
      inflight.delete(fail);
      clearTimeout(timer);
      if (call) watchdog.answered(call);
    });
  };
  const onRequest = (req, res) => {
    const chunks = [];
    let size = 0, refused = false;
    const refuse = () => {
      if (refused) return;
      refused = true;
      chunks.length = 0;
      res.writeHead(413, { "content-type": "text/plain; charset=utf-8", connection: "close" });
      res.end("Payload Too Large\n", () => req.socket.destroy());
      log(`${req.method} ${req.url} 413 (body larger than ${maxBody} bytes, --max-body)`);
    };
    if (Number(req.headers["content-length"] ?? 0) > maxBody) return refuse();
    req.on("data", (c) => {
      if (refused) return;
      size += c.length;
      if (size > maxBody) return refuse();
      chunks.push(c);
    });
    const respond = (r, started) => {
      if (r.traceback) log(`${req.method} ${req.url} raised:\n${r.traceback}`);
      let status = r.status;
      try {
        const [headers, body] = framed(r.headers, status, Buffer.from(r.body), req.method === "HEAD");
        res.writeHead(status, headers);
        res.end(body);
      } catch (e) {
        status = 500;
        log(`${req.method} ${req.url}: the response cannot be sent: ${String(e?.message ?? e).split("\n")[0]}`);
        if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
        res.end("Internal Server Error\n");
      }
      logSoon(`${req.method} ${req.url} ${status} ${ms(started, performance.now())} ms`);
    };
    req.on("end", () => {
      if (refused) return;
      const started = performance.now();
      const r = handle(req, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
      if (r instanceof Promise) r.then((done) => respond(done, started));
      else respond(r, started);
    });
  };
  const server = http.createServer(onRequest);
  // Expect: 100-continue asks whether to send the body: not when its length is over --max-body
  // (Node's own answer, 100 Continue before anything is checked, had the client send it all first).
  server.on("checkContinue", (req, res) => {
    if (Number(req.headers["content-length"] ?? 0) <= maxBody) res.writeContinue();
    onRequest(req, res);
  });
  // CONNECT asks a proxy for a tunnel, which no handler gives (nor does the platform): Node, with no
  // listener, dropped the connection unanswered.
  server.on("connect", (req, socket) => {
    socket.on("error", () => {});
    socket.end("HTTP/1.1 501 Not Implemented\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 16\r\n" +
               "connection: close\r\n\r\nNot Implemented\n");
    logSoon(`${req.method} ${req.url} 501 (CONNECT is not served)`);
  });
  const wanted = Number(opts.port ?? 8787);
  try {
    await new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(wanted, host, resolve);
    });
  } catch (e) {
    failed(listenError(e, host, wanted));
  }
  const port = server.address().port;
  origin = urlOf(host, port).slice(0, -1);
  saveCodeCache();
  const handlerName = app.style === "workers" ? "Default.fetch" : "on_fetch";
  if (cluster) {
    process.send({ listening: true, host, port, restored: app.restored, ready: app.ready, handler: handlerName });
    process.on("SIGTERM", () => { server.close(() => process.exit(0)); server.closeIdleConnections?.(); });
    process.on("SIGINT", () => {});  // the primary stops the workers
    return null;
  }
  log(`serving ${opts.entry}.${handlerName} on ${urlOf(host, port)} ` +
      `(${app.restored ? "snapshot restored" : "imported without a snapshot"}, ready in ${app.ready} ms)`);
  answer({ ok: true, listening: urlOf(host, port), port, restored: app.restored, timings_ms: { runtime_ready: app.ready } });
  // Stop taking connections, let the requests in flight finish; pybundle kills us if that takes long.
  for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => { server.close(() => process.exit(0)); server.closeIdleConnections?.(); });
  return null;
}
