#!/usr/bin/env bash
# Cold start of the flask-app corpus bundle: process start to first response, restored from
# its snapshot vs importing from scratch (both `pybundle run`, side by side in one hyperfine run).
source "$(dirname "$0")/lib.sh"
serve_flask_corpus
"$PYBUNDLE" -q build "$work/corpus/project" --out "$work/bundle" >&2
BENCH_RUNS=${BENCH_RUNS_SLOW:-5} compare "flask-app cold start: snapshot vs no snapshot (issue 2)" "faster with snapshot" \
  "$PYBUNDLE run $work/bundle" "$PYBUNDLE run $work/bundle --no-snapshot"
