#!/usr/bin/env bash
# `pybundle plan` on the largest real lock (pydantic-ai, 1.5 MB uv.lock) against Python merely
# starting and parsing the same file with tomllib. Target: at most 0.5x.
source "$(dirname "$0")/lib.sh"
SHARED="${PYBUNDLE_SHARED:-$(dirname "$REPO")/shared}"
PROJECT="$SHARED/real-locks/pydantic__pydantic-ai__root"
RUNTIME="${PYBUNDLE_PYODIDE_DIR:-$REPO/fixtures/targets/0.29.3}"
[ -f "$PROJECT/uv.lock" ] || { echo "no real locks at $SHARED" >&2; exit 1; }
[ -x "$PYBUNDLE" ] || { echo "no pybundle binary at $PYBUNDLE" >&2; exit 1; }
CACHE=$(mktemp -d)
trap 'rm -rf "$CACHE"' EXIT
PLAN="$PYBUNDLE --cache-dir $CACHE plan $PROJECT --target pyodide@0.29.3 --runtime $RUNTIME"
# The plan exits 1 (some packages cannot be served for Pyodide); anything else is a failure.
$PLAN >/dev/null 2>&1 || [ $? -eq 1 ] || { echo "pybundle plan failed" >&2; exit 1; }
compare "plan pydantic-ai uv.lock (1.5 MB) vs python tomllib" "≤ 0.5×" \
  "$PLAN >/dev/null 2>&1; [ \$? -le 1 ]" \
  "python3 -c 'import tomllib; tomllib.load(open(\"$PROJECT/uv.lock\", \"rb\"))'" \
  --warmup 2
