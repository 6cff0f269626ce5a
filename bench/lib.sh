# Shared benchmark helpers. Source this file from a bench script.
# compare FIGURE TARGET OURS_CMD THEIRS_CMD [hyperfine args...]
#   Runs both commands side by side in one hyperfine run and appends the markdown row
#   "figure | our median | their median | ratio | target" to $BENCH_RESULTS.
set -euo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$BENCH_DIR")"
PYBUNDLE="${PYBUNDLE:-$REPO/build-release/pybundle}"
BENCH_RESULTS="${BENCH_RESULTS:-/dev/stdout}"
BENCH_RUNS="${BENCH_RUNS:-10}"

compare() {
  local figure=$1 target=$2 ours=$3 theirs=$4; shift 4
  local json; json=$(mktemp)
  hyperfine --style basic --runs "$BENCH_RUNS" --export-json "$json" "$@" \
    -n ours "$ours" -n theirs "$theirs" >&2
  python3 - "$json" "$figure" "$target" >>"$BENCH_RESULTS" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
print(f"| {sys.argv[2]} | {r['ours']*1000:.1f} ms | {r['theirs']*1000:.1f} ms | {r['ours']/r['theirs']:.2f}× | {sys.argv[3]} |")
PY
  rm -f "$json"
}

# record FIGURE OURS THEIRS RATIO TARGET: for figures that are not times (sizes, RSS).
record() {
  echo "| $1 | $2 | $3 | $4 | $5 |" >>"$BENCH_RESULTS"
}

# serve_flask_corpus: build the flask-app corpus set into a fresh $work/corpus, serve it on a free
# loopback port (its uv.lock points there), give its project an entry; removed on exit.
serve_flask_corpus() {
  work=$(mktemp -d)
  trap 'kill "${server:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  python3 "$REPO/../shared/corpus/debian-wheels" build --set flask-app --out "$work/corpus" \
    --base-url "http://127.0.0.1:$port" >/dev/null
  python3 -m http.server "$port" --bind 127.0.0.1 --directory "$work/corpus" >/dev/null 2>&1 &
  server=$!
  sleep 1
  printf '\n[tool.pybundle]\nentry = "src/app.py"\n' >>"$work/corpus/project/pyproject.toml"
}
