#!/usr/bin/env bash
# Vendoring the flask-app corpus set: warm build time against pip, bundle size with default
# trimming against the untrimmed copy, and the peak RSS of our process.
# Until `pybundle build` lands, "ours" is the vendor stage through tests/vendor_driver, which
# does what the build does after fetching: assemble, manifest, swap into place.
source "$(dirname "$0")/lib.sh"
DRIVER="${VENDOR_DRIVER:-$(dirname "$PYBUNDLE")/tests/vendor_driver}"
[ -x "$DRIVER" ] || { echo "missing $DRIVER (ninja -C $(dirname "$PYBUNDLE"))" >&2; exit 1; }

CORPUS=$(cd "$REPO/tests/integration" && python3 -c 'import support; print(support.corpus("flask-app"))')
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Driver specs for the same wheels pip installs.
python3 - "$CORPUS" "$WORK" <<'PY'
import json, os, sys
corpus, work = sys.argv[1:]
meta = json.load(open(os.path.join(corpus, "corpus.json")))
inputs = [{"name": w["name"], "version": w["version"], "filename": w["filename"], "sha256": w["sha256"],
           "file": os.path.join(corpus, "wheels", w["filename"])} for w in meta]
target = {"pyodide": "0.29.3", "python": "3.13.2", "abi": "2025_0", "platform": "emscripten_4_0_9"}
for name, options in (("default", {}), ("untrimmed", {"trim": False})):
    json.dump({"out": os.path.join(work, name), "app_dir": os.path.join(corpus, "project"), "entry": "src/app.py",
               "target": target, "inputs": inputs, "options": options}, open(os.path.join(work, name + ".json"), "w"))
open(os.path.join(work, "wheels.txt"), "w").write(" ".join(i["file"] for i in inputs))
PY
WHEELS=$(cat "$WORK/wheels.txt")

compare "warm vendor of flask-app (25 wheels) vs pip install --target" "≤ 0.10×" \
  "$DRIVER $WORK/default.json" \
  "python3 -m pip install -q --disable-pip-version-check --no-index --find-links $CORPUS/wheels --target $WORK/pip $WHEELS" \
  --warmup 1 --prepare "rm -rf $WORK/default $WORK/pip"

# gzip of python_modules/ as a tar (sorted names, fixed owner and time).
tgz_size() {
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf - -C "$1" python_modules | gzip -9 | wc -c
}
"$DRIVER" "$WORK/untrimmed.json" >/dev/null
"$DRIVER" "$WORK/default.json" >/dev/null
ours=$(tgz_size "$WORK/default"); naive=$(tgz_size "$WORK/untrimmed")
record "python_modules tar.gz, default trimming vs untrimmed" "$((ours / 1024)) KiB" "$((naive / 1024)) KiB" \
  "$(python3 -c "print(f'{$ours / $naive:.2f}×')")" "report (≤ 0.60× is for --minimize)"

peak_kib() { /usr/bin/time -f "%M" "$@" 2>&1 >/dev/null | tail -1; }
ours=$(peak_kib "$DRIVER" "$WORK/default.json")
rm -rf "$WORK/pip"
theirs=$(peak_kib python3 -m pip install -q --disable-pip-version-check --no-index --find-links "$CORPUS/wheels" \
  --target "$WORK/pip" $WHEELS)
record "peak RSS, vendoring flask-app (pip for comparison)" "$((ours / 1024)) MiB" "$((theirs / 1024)) MiB" \
  "$(python3 -c "print(f'{$ours / $theirs:.2f}×')")" "≤ 64 MiB"
