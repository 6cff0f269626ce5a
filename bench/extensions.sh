#!/usr/bin/env bash
# Issue 16: cold start (process start to first response) of an app that imports the compiled
# extension fixtures (fixtures/extension) and the flask-app corpus, on the default target:
# restored from its snapshot vs imported without it, and restored vs the stock floor (stock
# loadPyodide({_loadSnapshot}) of a snapshot with nothing imported).
source "$(dirname "$0")/lib.sh"
serve_flask_corpus
version=$("$PYBUNDLE" --version | sed -n 's/.*default target pyodide@\([0-9.]*\).*/\1/p')
python3 - "$REPO" "$work" "$version" <<'PY'
import os, sys
repo, work, version = sys.argv[1:]
sys.path.insert(0, os.path.join(repo, "tests", "integration"))
import bundles
corpus = os.path.join(work, "corpus")
app = open(os.path.join(corpus, "project", "src", "app.py")).read() + '''
import extfix
from extfix import _state, _linked

def on_fetch(request):
    return {"state": _state.bump(), "linked": _linked.scale(4), "flask": flask.__name__}
'''
wheels = [os.path.join(corpus, "wheels", w) for w in sorted(os.listdir(os.path.join(corpus, "wheels")))]
bundles.make_bundle(os.path.join(work, "ext"), {"app.py": app}, wheels + [bundles.extfix_wheel(work)], target=version)
PY
"$PYBUNDLE" -q snapshot "$work/ext" >&2
runtime=$(PYBUNDLE_CACHE_DIR="${PYBUNDLE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pybundle}" \
  python3 -c 'import os,sys; print(os.path.join(os.environ["PYBUNDLE_CACHE_DIR"], "runtimes", "pyodide-" + sys.argv[1], "node_modules", "pyodide"))' "$version")
[ -f "$runtime/package.json" ] || runtime="${PYBUNDLE_PYODIDE_DIR:-}"
node "$BENCH_DIR/stock_restore.mjs" make "$runtime" "$work/stock-empty.bin"

BENCH_RUNS=${BENCH_RUNS_SLOW:-5} compare "extensions + flask-app: restored vs imported, pyodide $version" "≤ 0.20×" \
  "$PYBUNDLE run $work/ext" "$PYBUNDLE run $work/ext --no-snapshot" --warmup 1
compare "extensions + flask-app restored vs the stock empty-snapshot floor, pyodide $version" "≤ 1.10×" \
  "$PYBUNDLE run $work/ext" "node $BENCH_DIR/stock_restore.mjs restore $runtime $work/stock-empty.bin" --warmup 1
