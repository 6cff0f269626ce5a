#!/usr/bin/env bash
# What the build's smoke run (import every vendored top-level module of the trimmed bundle in
# Pyodide) adds to `pybundle build` of the flask-app corpus set, warm cache, side by side:
# with the snapshot (the smoke run overlaps the snapshot's Node process) and with --no-snapshot.
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
build="$PYBUNDLE -q build $work/corpus/project --out $work/out"
$build >&2  # warm the download cache and the runtime

compare "build flask-app with smoke vs --no-smoke (snapshot)" "report" "$build" "$build --no-smoke" --warmup 1
compare "build flask-app with smoke vs --no-smoke (--no-snapshot)" "report" \
  "$build --no-snapshot" "$build --no-snapshot --no-smoke" --warmup 1
