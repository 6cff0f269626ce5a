#!/usr/bin/env bash
# Issue 17: the import-time trace `pybundle inspect` shows costs ≤ 5 % of making the snapshot.
# `pybundle snapshot` of the flask-app bundle with the trace (default) vs PYBUNDLE_IMPORT_TRACE=0.
source "$(dirname "$0")/lib.sh"
serve_flask_corpus
"$PYBUNDLE" -q build "$work/corpus/project" --out "$work/flask" --no-snapshot --no-smoke >&2
BENCH_RUNS=${BENCH_RUNS_SLOW:-5} compare "snapshot flask-app: import-time trace on vs off" "≤ 1.05×" \
  "$PYBUNDLE -q snapshot $work/flask" "env PYBUNDLE_IMPORT_TRACE=0 $PYBUNDLE -q snapshot $work/flask" --warmup 1
