#!/usr/bin/env bash
# Issue 5: bundle size of the flask-app corpus set, as gzip of the python_modules/ tree as a tar,
# against the naive copy (every wheel extracted, nothing trimmed): default trimming, --compile,
# --minimize, --minimize --compile=drop-sources. Every minimised bundle was proved by the build
# (each module the app imported imports again, the entry answers); here it also answers `run`.
# Then the effect of --compile on the snapshot (make time, size) and on start-up (hyperfine).
source "$(dirname "$0")/lib.sh"
serve_flask_corpus
TARGET=${SIZE_TARGET:-pyodide@0.29.3}

# gzip of python_modules/ as a tar (sorted names, fixed owner and time).
tgz_size() {
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf - -C "$1" python_modules | gzip -9 | wc -c
}
ratio() { python3 -c "print(f'{$1 / $2:.2f}×')"; }

# The naive copy: every wheel unzipped into python_modules/, nothing left out.
python3 - "$work/corpus" "$work/naive/python_modules" <<'PY'
import json, os, sys, zipfile
corpus, dest = sys.argv[1:]
for w in json.load(open(os.path.join(corpus, "corpus.json"))):
    zipfile.ZipFile(os.path.join(corpus, "wheels", w["filename"])).extractall(dest)
PY
naive=$(tgz_size "$work/naive")

build() {  # NAME ARGS...
  local name=$1; shift
  local start; start=$(date +%s.%N)
  "$PYBUNDLE" -q build "$work/corpus/project" --out "$work/$name" --target "$TARGET" "$@" >&2
  echo "$name: built in $(python3 -c "import time; print(f'{time.time() - $start:.1f}')") s" >&2
  "$PYBUNDLE" -q run "$work/$name" --format json --no-snapshot >"$work/$name.answer"
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["response"]["status"] == 200, d' "$work/$name.answer"
}
build default --no-snapshot
build compiled --no-snapshot --compile=drop-sources
build minimized --no-snapshot --minimize
build minimized-compiled --no-snapshot --minimize --compile=drop-sources
for name in default compiled minimized minimized-compiled; do
  size=$(tgz_size "$work/$name")
  target="report"
  [ "$name" = minimized ] && target="≤ 0.60×"
  record "python_modules tar.gz, flask-app, $name vs naive copy" "$((size / 1024)) KiB" "$((naive / 1024)) KiB" \
    "$(ratio "$size" "$naive")" "$target"
done

# Snapshots of the minimised bundle with and without bytecode: making them, their size, and
# start-up from each (restored), side by side.
for name in minimized minimized-compiled; do
  start=$(date +%s.%N)
  "$PYBUNDLE" -q snapshot "$work/$name" >&2
  echo "$name: snapshot made in $(python3 -c "import time; print(f'{time.time() - $start:.1f}')") s," \
       "$(stat -c %s "$work/$name/snapshot.bin.zst") bytes" >&2
done
record "snapshot.bin.zst, minimized + compiled vs minimized" \
  "$(($(stat -c %s "$work/minimized-compiled/snapshot.bin.zst") / 1024)) KiB" \
  "$(($(stat -c %s "$work/minimized/snapshot.bin.zst") / 1024)) KiB" \
  "$(ratio "$(stat -c %s "$work/minimized-compiled/snapshot.bin.zst")" "$(stat -c %s "$work/minimized/snapshot.bin.zst")")" "report"
compare "run, restored: minimized + compiled vs minimized" "report" \
  "$PYBUNDLE run $work/minimized-compiled" "$PYBUNDLE run $work/minimized" --warmup 1
BENCH_RUNS=${BENCH_IMPORT_RUNS:-5} compare "run without snapshot (imports): minimized + compiled vs minimized" \
  "report" "$PYBUNDLE run --no-snapshot $work/minimized-compiled" "$PYBUNDLE run --no-snapshot $work/minimized" \
  --warmup 1
