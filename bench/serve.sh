#!/usr/bin/env bash
# `pybundle serve` against CPython's threaded http.server calling the same on_fetch (bench/
# cpython_server.py), both driven by the same keep-alive client (bench/load.mjs, SERVE_SECONDS
# each, default 5; medians of SERVE_ROUNDS rounds, default 3): a trivial handler and a jinja2
# page (100 rows), requests per second at 16 connections (--workers 2 and 1) and p99 latency at
# 1 connection. Each figure twice: measured from the first request, and after SERVE_WARMUP seconds
# (default 3) of the same load left unmeasured on both sides, once V8 has compiled the hot wasm
# and JavaScript with its optimising tier (a jinja2 request costs ~1.7x the CPU in the first second).
source "$(dirname "$0")/lib.sh"
serve_flask_corpus
seconds=${SERVE_SECONDS:-5}
warmup=${SERVE_WARMUP:-3}
printf 'def on_fetch(request):\n    return "ok"\n' >"$work/corpus/project/src/app.py"
"$PYBUNDLE" -q build "$work/corpus/project" --out "$work/trivial" --no-smoke >&2
cat >"$work/corpus/project/src/app.py" <<'PY'
import jinja2

PAGE = jinja2.Environment(autoescape=True).from_string(
    "<html><body><h1>{{ title }}</h1><ul>{% for i in items %}<li>{{ i.name }}: {{ i.value }}</li>{% endfor %}"
    "</ul></body></html>")


def on_fetch(request):
    return PAGE.render(title="Items", items=[{"name": f"item {i}", "value": i * i} for i in range(100)])
PY
"$PYBUNDLE" -q build "$work/corpus/project" --out "$work/jinja" --no-smoke >&2

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 600); do curl -sf "http://127.0.0.1:$1/" >/dev/null && return; sleep 0.1; done; echo "server on $1 did not start" >&2; exit 1; }
# load SERVER_CMD PORT CONNECTIONS WARMUP: start the server, measure, stop it; prints load.mjs's JSON.
# pybundle serve --format json prints its first line once every worker listens: wait for that
# too, so no measurement starts with one worker taking all the connections.
load() {
  local out; out=$(mktemp)
  $1 >"$out" 2>/dev/null &
  local pid=$!
  if [[ $1 == *"--format json"* ]]; then
    for _ in $(seq 600); do [ -s "$out" ] && break; sleep 0.1; done
  fi
  wait_up "$2"
  node "$BENCH_DIR/load.mjs" "http://127.0.0.1:$2/" "$3" "$seconds" "$4"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -f "$out"
}
# row FIGURE BUNDLE WORKERS CONNECTIONS FIELD TARGET WARMUP: SERVE_ROUNDS (default 3) rounds, ours and
# theirs in turn, the median of each side.
row() {
  local p1 p2 ours=() theirs=()
  for _ in $(seq "${SERVE_ROUNDS:-3}"); do
    p1=$(free_port); p2=$(free_port)
    ours+=("$(load "$PYBUNDLE --format json serve $2 --port $p1 --workers $3" "$p1" "$4" "$7")")
    theirs+=("$(load "python3 $BENCH_DIR/cpython_server.py $2 $p2" "$p2" "$4" "$7")")
  done
  python3 - "$1" "$5" "$6" "${#ours[@]}" "${ours[@]}" "${theirs[@]}" >>"$BENCH_RESULTS" <<'PY'
import json, statistics, sys
fig, field, target, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
runs = [json.loads(x)[field] for x in sys.argv[5:]]
ours, theirs = statistics.median(runs[:n]), statistics.median(runs[n:])
unit = "req/s" if field == "rps" else "ms"
print(f"| {fig} | {ours:.1f} {unit} | {theirs:.1f} {unit} | {ours / theirs:.2f}× | {target} |")
PY
}
for w in 0 "$warmup"; do
  if [ "$w" = 0 ]; then when="from the first request"; else when="after ${w} s of load"; fi
  row "serve --workers 2, trivial handler, 16 connections vs CPython threaded http.server, $when" "$work/trivial" 2 16 rps "≥ 1.0×" "$w"
  row "serve --workers 2, jinja2 page, 16 connections vs CPython, $when" "$work/jinja" 2 16 rps "≥ 1.0×" "$w"
  row "serve --workers 1, jinja2 page, 16 connections vs CPython, $when" "$work/jinja" 1 16 rps "report" "$w"
  row "serve --workers 2, jinja2 page, p99 at 1 connection vs CPython, $when" "$work/jinja" 2 1 p99_ms "≤ 2×" "$w"
done
