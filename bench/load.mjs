// node load.mjs URL CONNECTIONS SECONDS [WARMUP_SECONDS]: keep-alive GET load from CONNECTIONS
// clients, one request in flight each; prints JSON {rps, p50_ms, p99_ms, errors}. The first
// WARMUP_SECONDS (default 0: one request per connection) are load that is not measured, for both
// V8's tiers (the server's and this client's) to settle. (No load tool is installed here, and the
// same client drives both servers being compared.)
import http from "node:http";

const [url, connections = "1", seconds = "5", warmup = "0"] = process.argv.slice(2);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(connections) });
const lat = [];
let errors = 0;
let end = performance.now() + Number(warmup) * 1000;

function once() {
  return new Promise((resolve) => {
    const t = performance.now();
    http.get(url, { agent }, (res) => {
      res.on("data", () => {});
      res.on("end", () => {
        if (res.statusCode !== 200) errors++;
        lat.push(performance.now() - t);
        resolve();
      });
    }).on("error", () => {
      errors++;
      resolve();
    });
  });
}

async function client() {
  while (performance.now() < end) await once();
}

// The warm-up (at least one request per connection), then the measured run.
await Promise.all(Array.from({ length: Number(connections) }, async () => {
  do await once(); while (performance.now() < end);
}));
lat.length = 0;
errors = 0;
end = performance.now() + Number(seconds) * 1000;
const t0 = performance.now();
await Promise.all(Array.from({ length: Number(connections) }, client));
const took = (performance.now() - t0) / 1000;
lat.sort((a, b) => a - b);
const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
console.log(JSON.stringify({ rps: lat.length / took, p50_ms: q(0.5), p99_ms: q(0.99), errors, requests: lat.length }));
agent.destroy();
