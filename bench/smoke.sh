#!/usr/bin/env bash
# What the build's smoke run (import every vendored top-level module of the trimmed bundle in
# Pyodide) adds to `pybundle build` of the flask-app corpus set, warm cache, side by side:
# with the snapshot (the smoke run overlaps the snapshot's Node process) and with --no-snapshot.
source "$(dirname "$0")/lib.sh"
serve_flask_corpus
build="$PYBUNDLE -q build $work/corpus/project --out $work/out"
$build >&2  # warm the download cache and the runtime

compare "build flask-app with smoke vs --no-smoke (snapshot)" "report" "$build" "$build --no-smoke" --warmup 1
compare "build flask-app with smoke vs --no-smoke (--no-snapshot)" "report" \
  "$build --no-snapshot" "$build --no-snapshot --no-smoke" --warmup 1
