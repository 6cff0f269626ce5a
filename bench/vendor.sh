#!/usr/bin/env bash
# Vendoring the flask-app corpus set: warm-cache `pybundle build --no-snapshot` against pip, bundle
# size with default trimming against the untrimmed copy, and the peak RSS of our process.
# The build runs with --no-smoke: the smoke run is a separate Node process (bench/smoke.sh measures
# what it adds); this figure is the vendoring itself.
source "$(dirname "$0")/lib.sh"

CORPUS=$(cd "$REPO/tests/integration" && python3 -c 'import support; print(support.corpus("flask-app"))')
WORK=$(mktemp -d)
trap 'kill "${server:-}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
export PYBUNDLE_CACHE_DIR="$WORK/cache"

# The corpus lock points at 127.0.0.1:8765; serve it on a free port and map the URLs there.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$CORPUS" >/dev/null 2>&1 &
server=$!
cp -r "$CORPUS/project" "$WORK/project"
printf '\n[tool.pybundle]\nentry = "src/app.py"\n' >>"$WORK/project/pyproject.toml"
sleep 1
build() { "$PYBUNDLE" -q build "$WORK/project" --no-snapshot --no-smoke --offline "$@"; }
# Warm the cache once, online.
"$PYBUNDLE" -q build "$WORK/project" --no-snapshot --no-smoke --out "$WORK/default" \
  --mirror "http://127.0.0.1:8765=http://127.0.0.1:$port"
kill "$server"; server=
WHEELS=$(ls "$CORPUS"/wheels/*.whl | tr '\n' ' ')

compare "warm-cache build --no-snapshot of flask-app (25 wheels) vs pip install --target" "≤ 0.10×" \
  "$PYBUNDLE -q build $WORK/project --no-snapshot --no-smoke --offline --out $WORK/default" \
  "python3 -m pip install -q --disable-pip-version-check --no-index --find-links $CORPUS/wheels --target $WORK/pip $WHEELS" \
  --warmup 1 --prepare "rm -rf $WORK/default $WORK/pip"

# gzip of python_modules/ as a tar (sorted names, fixed owner and time).
tgz_size() {
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf - -C "$1" python_modules | gzip -9 | wc -c
}
build --out "$WORK/untrimmed" --no-trim
build --out "$WORK/default"
ours=$(tgz_size "$WORK/default"); naive=$(tgz_size "$WORK/untrimmed")
record "python_modules tar.gz, default trimming vs untrimmed" "$((ours / 1024)) KiB" "$((naive / 1024)) KiB" \
  "$(python3 -c "print(f'{$ours / $naive:.2f}×')")" "report (≤ 0.60× is for --minimize)"

peak_kib() { /usr/bin/time -f "%M" "$@" 2>&1 >/dev/null | tail -1; }
ours=$(peak_kib "$PYBUNDLE" -q build "$WORK/project" --no-snapshot --no-smoke --offline --out "$WORK/default")
rm -rf "$WORK/pip"
theirs=$(peak_kib python3 -m pip install -q --disable-pip-version-check --no-index --find-links "$CORPUS/wheels" \
  --target "$WORK/pip" $WHEELS)
record "peak RSS of pybundle, build --no-snapshot of flask-app (pip for comparison)" "$((ours / 1024)) MiB" "$((theirs / 1024)) MiB" \
  "$(python3 -c "print(f'{$ours / $theirs:.2f}×')")" "≤ 64 MiB"
