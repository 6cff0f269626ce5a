#!/usr/bin/env bash
# Issue 6: process start to first response, side by side, medians (hyperfine):
#   (a) the floor: stock loadPyodide({_loadSnapshot}) of a snapshot with nothing imported
#   (b) the flask-app bundle without its snapshot   (c) the same bundle restored from its snapshot
#   (d) our host restoring the empty snapshot (a bundle with no dependencies)
# and the snapshot's size on disk against the raw heap. All on the default target.
source "$(dirname "$0")/lib.sh"
serve_flask_corpus
"$PYBUNDLE" -q build "$work/corpus/project" --out "$work/flask" >&2

# A project with no dependencies: its snapshot holds an interpreter and one tiny module.
mkdir -p "$work/empty/src"
printf '[project]\nname = "empty"\nversion = "0.1.0"\nrequires-python = ">=3.12"\ndependencies = []\n\n[tool.pybundle]\nentry = "src/app.py"\n' \
  >"$work/empty/pyproject.toml"
printf 'version = 1\nrequires-python = ">=3.12"\n\n[[package]]\nname = "empty"\nversion = "0.1.0"\nsource = { virtual = "." }\n' \
  >"$work/empty/uv.lock"
printf 'def on_fetch(request):\n    return "ok"\n' >"$work/empty/src/app.py"
"$PYBUNDLE" -q build "$work/empty" --out "$work/emptyb" >&2

# The runtime the bundles use, where pybundle installed it.
version=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["target"]["pyodide"])' "$work/flask/bundle.json")
runtime=""
for dir in "${PYBUNDLE_PYODIDE_DIR:-}" "${PYBUNDLE_PYODIDE_DIR:-}/$version/node_modules/pyodide" \
           "${PYBUNDLE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pybundle}/runtimes/pyodide-$version/node_modules/pyodide"; do
  if [ -n "$dir" ] && [ -f "$dir/package.json" ] && grep -q "\"version\": \"$version\"" "$dir/package.json"; then runtime=$dir; break; fi
done
[ -n "$runtime" ] || { echo "cannot find the pyodide@$version runtime" >&2; exit 1; }
node "$BENCH_DIR/stock_restore.mjs" make "$runtime" "$work/stock-empty.bin"
floor="node $BENCH_DIR/stock_restore.mjs restore $runtime $work/stock-empty.bin"

compare "(c) flask-app restored vs (a) the floor, pyodide $version" "≤ 1.10×" \
  "$PYBUNDLE run $work/flask" "$floor" --warmup 1
BENCH_RUNS=${BENCH_RUNS_SLOW:-5} compare "(c) flask-app restored vs (b) imported without snapshot" "≤ 0.20× (b ≥ 5× c)" \
  "$PYBUNDLE run $work/flask" "$PYBUNDLE run $work/flask --no-snapshot" --warmup 1
compare "(d) our host restoring the empty snapshot vs (a) the floor" "≤ 0.50× (moonshot)" \
  "$PYBUNDLE run $work/emptyb" "$floor" --warmup 1
python3 - "$work/flask/bundle.json" >>"$BENCH_RESULTS" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["snapshot"]
print(f"| flask-app snapshot on disk vs raw heap | {s['size']/2**20:.1f} MiB | {s['heap_size']/2**20:.1f} MiB | "
      f"{s['size']/s['heap_size']:.3f}× | ≤ 0.25× |")
PY
