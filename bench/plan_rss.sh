#!/usr/bin/env bash
# Peak RSS of `pybundle plan` per MB of uv.lock, on locks grown from the largest real lock
# (pydantic-ai) to 20 MB and 200 MB by copying its packages under new names (bench/big_lock.py),
# planned --frozen (the copy has no workspace members).
# The figure is (peak RSS - RSS on the 1.5 MB original) / (lock MB - 1.5); target: at most 3.
source "$(dirname "$0")/lib.sh"
SHARED="${PYBUNDLE_SHARED:-$(dirname "$REPO")/shared}"
PROJECT="$SHARED/real-locks/pydantic__pydantic-ai__root"
RUNTIME="${PYBUNDLE_PYODIDE_DIR:-$REPO/fixtures/targets/0.29.3}"
[ -f "$PROJECT/uv.lock" ] || { echo "no real locks at $SHARED" >&2; exit 1; }
[ -x "$PYBUNDLE" ] || { echo "no pybundle binary at $PYBUNDLE" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Peak RSS in KiB; the plan exits 1 (some packages cannot be served for Pyodide), anything else fails.
peak_kib() {
  /usr/bin/time -f %M -o "$work/rss" "$PYBUNDLE" --cache-dir "$work/cache" plan "$1" --frozen --target pyodide@0.29.3 \
    --runtime "$RUNTIME" >/dev/null 2>&1 || [ $? -eq 1 ] || { echo "pybundle plan $1 failed" >&2; exit 1; }
  tail -n 1 "$work/rss"
}
base=$(peak_kib "$PROJECT")
base_mb=$(stat -c %s "$PROJECT/uv.lock")
for mb in ${PLAN_RSS_SIZES:-20 200}; do
  python3 "$BENCH_DIR/big_lock.py" "$PROJECT" "$work/lock$mb" "$mb" >/dev/null
  size=$(stat -c %s "$work/lock$mb/uv.lock")
  rss=$(peak_kib "$work/lock$mb")
  per=$(python3 -c "print(f'{($rss - $base) / 1024 / (($size - $base_mb) / 1048576):.1f}')")
  record "peak RSS of plan per MB of uv.lock, $mb MB lock (vs the 1.5 MB original)" "$((rss / 1024)) MiB" \
    "$((base / 1024)) MiB" "$per MB/MB" "≤ 3 MB/MB"
  rm -rf "$work/lock$mb"
done
