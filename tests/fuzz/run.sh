#!/bin/sh
# Run one libFuzzer target for SECONDS: tests/fuzz/run.sh TARGET SECONDS (TARGET: pep440 pep508 wheel uvlock pylock pyodidelock bundlejson snapmeta glob)
# Builds it with clang in build-fuzz/ (or $FUZZ_BUILD) first. New inputs go to
# $FUZZ_BUILD/fuzz-corpus/TARGET (the committed seeds in tests/fuzz/corpus/TARGET are only read);
# a crash is written to $FUZZ_BUILD/fuzz-artifacts/ and the script exits non-zero (2: the target
# did not build).
set -eu
target=${1:?usage: run.sh TARGET SECONDS}
seconds=${2:?usage: run.sh TARGET SECONDS}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${FUZZ_BUILD:-$root/build-fuzz}
if [ ! -f "$build/build.ninja" ]; then
  CXX=${FUZZ_CXX:-clang++} meson setup "$build" "$root" -Dfuzz=true >/dev/null
fi
# A target that does not build is not a finding: say so and exit 2.
if ! ninja -C "$build" -j"${FUZZ_JOBS:-2}" "tests/fuzz/fuzz_$target" >"$build/fuzz-build-$target.log" 2>&1; then
  tail -n 20 "$build/fuzz-build-$target.log"
  echo "fuzz_$target did not build (log: $build/fuzz-build-$target.log)"
  exit 2
fi
mkdir -p "$build/fuzz-corpus/$target" "$build/fuzz-artifacts"
dict="$root/tests/fuzz/$target.dict"
# Whole lock and manifest files need room; the name and version parsers stay short.
case $target in
  uvlock|pylock|pyodidelock|bundlejson|snapmeta) max_len=${FUZZ_MAX_LEN:-16384} ;;
  *) max_len=${FUZZ_MAX_LEN:-4096} ;;
esac
exec "$build/tests/fuzz/fuzz_$target" -dict="$dict" \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" -print_final_stats=1 \
  -artifact_prefix="$build/fuzz-artifacts/$target-" \
  "$build/fuzz-corpus/$target" "$root/tests/fuzz/corpus/$target"
