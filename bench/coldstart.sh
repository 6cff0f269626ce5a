#!/usr/bin/env bash
# Cold start of the flask-app corpus bundle: process start to first response, restored from
# its snapshot vs importing from scratch (both `pybundle run`, side by side in one hyperfine run).
source "$(dirname "$0")/lib.sh"
work=$(mktemp -d)
trap 'kill "${server:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 "$REPO/../shared/corpus/debian-wheels" build --set flask-app --out "$work/corpus" \
  --base-url "http://127.0.0.1:$port" >/dev/null
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$work/corpus" >/dev/null 2>&1 &
server=$!
sleep 1
printf '\n[tool.pybundle]\nentry = "src/app.py"\n' >>"$work/corpus/project/pyproject.toml"
"$PYBUNDLE" -q build "$work/corpus/project" --out "$work/bundle" >&2
BENCH_RUNS=${BENCH_RUNS_SLOW:-5} compare "flask-app cold start: snapshot vs no snapshot (issue 2)" "faster with snapshot" \
  "$PYBUNDLE run $work/bundle" "$PYBUNDLE run $work/bundle --no-snapshot"
