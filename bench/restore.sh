#!/usr/bin/env bash
# The first restore of a snapshot on a machine (no heap cache: pybundle decompresses it into the
# host's stdin while Node starts) against a restore from the heap cache; flask-app bundle.
source "$(dirname "$0")/lib.sh"
serve_flask_corpus
export PYBUNDLE_CACHE_DIR="$work/cache"
"$PYBUNDLE" -q build "$work/corpus/project" --out "$work/flask" >&2
"$PYBUNDLE" run "$work/flask" >/dev/null  # the V8 code cache
compare "first restore without the heap cache vs with it (flask-app)" "≤ 1.10×" \
  "sh -c 'rm -rf $work/cache/heaps; $PYBUNDLE run $work/flask'" "$PYBUNDLE run $work/flask" --warmup 1
