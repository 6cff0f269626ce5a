#!/usr/bin/env bash
# Vendoring the flask-app corpus set: warm-cache `pybundle build --no-snapshot` against pip, and the
# peak RSS of our process (bundle sizes: bench/size.sh).
# The build runs with --no-smoke: the smoke run is a separate Node process (bench/smoke.sh measures
# what it adds); this figure is the vendoring itself.
source "$(dirname "$0")/lib.sh"
serve_flask_corpus
export PYBUNDLE_CACHE_DIR="$work/cache"
PROJECT="$work/corpus/project"
WHEELS=$(ls "$work"/corpus/wheels/*.whl | tr '\n' ' ')
pip_install() {
  echo "python3 -m pip install -q --disable-pip-version-check --no-index --find-links $work/corpus/wheels --target $work/pip $WHEELS"
}
# Warm the cache once, online; every build after this one is offline.
"$PYBUNDLE" -q build "$PROJECT" --no-snapshot --no-smoke --out "$work/default"

compare "warm-cache build --no-snapshot of flask-app (25 wheels) vs pip install --target" "≤ 0.10×" \
  "$PYBUNDLE -q build $PROJECT --no-snapshot --no-smoke --offline --out $work/default" "$(pip_install)" \
  --warmup 1 --prepare "rm -rf $work/default $work/pip"

peak_kib() { /usr/bin/time -f "%M" "$@" 2>&1 >/dev/null | tail -1; }
ours=$(peak_kib "$PYBUNDLE" -q build "$PROJECT" --no-snapshot --no-smoke --offline --out "$work/default")
rm -rf "$work/pip"
theirs=$(peak_kib $(pip_install))
record "peak RSS of pybundle, build --no-snapshot of flask-app (pip for comparison)" "$((ours / 1024)) MiB" "$((theirs / 1024)) MiB" \
  "$(python3 -c "print(f'{$ours / $theirs:.2f}×')")" "≤ 64 MiB"
