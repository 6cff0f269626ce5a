#!/usr/bin/env bash
# The full build of the flask-app corpus set (snapshot and smoke, warm download cache) against the
# same build by PYBUNDLE_BASE (a pybundle binary of an earlier commit; that row is left out when it
# is unset); the peak RSS of the whole build, all processes together (bench/tree_rss.py); and
# `check --bundle` of the result against the build.
source "$(dirname "$0")/lib.sh"
serve_flask_corpus
build="$PYBUNDLE -q build $work/corpus/project --out $work/out"
$build >&2  # warm the download cache and the runtime
if [ -n "${PYBUNDLE_BASE:-}" ]; then
  "$PYBUNDLE_BASE" -q build "$work/corpus/project" --out "$work/base" >&2
  BENCH_RUNS=${BENCH_RUNS_SLOW:-5} compare "full build of flask-app vs $(basename "$(dirname "$(dirname "$PYBUNDLE_BASE")")") (PYBUNDLE_BASE)" \
    "≤ 0.60×" "$build" "$PYBUNDLE_BASE -q build $work/corpus/project --out $work/base" --warmup 1
  base_rss=$(python3 "$BENCH_DIR/tree_rss.py" $PYBUNDLE_BASE -q build "$work/corpus/project" --out "$work/base")
else
  base_rss=
fi
rss=$(python3 "$BENCH_DIR/tree_rss.py" $build)
record "peak RSS of the whole build of flask-app, all processes (PYBUNDLE_BASE beside it)" "$rss MiB" \
  "${base_rss:-?} MiB" "$( [ -n "$base_rss" ] && python3 -c "print(f'{$rss/$base_rss:.2f}×')" || echo -)" "≤ 200 MiB"
BENCH_RUNS=${BENCH_RUNS_SLOW:-5} compare "check --bundle of flask-app vs its build" "≤ 0.50×" \
  "$PYBUNDLE -q check --bundle $work/out" "$build" --warmup 1
