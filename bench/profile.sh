#!/usr/bin/env bash
# profile.sh BUNDLE [RUNS]: CPU profiles (node --cpu-prof, 200 µs) of RUNS restored starts of BUNDLE
# by `pybundle run`, summarised by bench/cpuprof.py, and the host's phase lines
# (PYBUNDLE_HOST_TRACE=1, ms since the Node process started) of as many runs without the profiler.
source "$(dirname "$0")/lib.sh"
bundle=$1 runs=${2:-5}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/bin" "$dir/prof"
# --cpu-prof is refused in NODE_OPTIONS: put a node that passes it first on PATH.
printf '#!/bin/sh\nexec %s --cpu-prof --cpu-prof-dir=%s --cpu-prof-interval 200 "$@"\n' "$(command -v node)" "$dir/prof" >"$dir/bin/node"
chmod +x "$dir/bin/node"
"$PYBUNDLE" run "$bundle" >/dev/null 2>&1  # the heap cache and V8's code cache
for _ in $(seq "$runs"); do PATH="$dir/bin:$PATH" "$PYBUNDLE" run "$bundle" >/dev/null 2>&1; done
python3 "$BENCH_DIR/cpuprof.py" "$dir/prof"
echo
for _ in $(seq "$runs"); do PYBUNDLE_HOST_TRACE=1 "$PYBUNDLE" run "$bundle" 2>&1 >/dev/null | grep '^\[host\]' | tr '\n' '|'; echo; done |
python3 -c '
import re, statistics, sys
runs = [[(float(m.group(1)), m.group(2)) for m in re.finditer(r"\[host\] ([\d.]+) ([^|]+)", l)] for l in sys.stdin]
print("| phase (ends) | ms (median) | at ms (median) |\n|---|---|---|")
for i, (_, name) in enumerate(runs[0]):
    d = [r[i][0] - (r[i - 1][0] if i else 0) for r in runs]
    print(f"| {name} | {statistics.median(d):.0f} | {statistics.median(r[i][0] for r in runs):.0f} |")'
