#!/usr/bin/env bash
# Cold-cache download of the flask-app corpus wheels from a loopback server: pybundle's fetch stage
# (tests/fetch_driver → fetch_all: download, sha256, fsync, cache) against
# `curl --parallel --parallel-max 16` fetching the same URLs. Both talk to the same server.
# Target: at least 0.8× curl's throughput, i.e. a time ratio of at most 1.25×.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
DRIVER="${FETCH_DRIVER:-$(dirname "$PYBUNDLE")/tests/fetch_driver}"
[ -x "$DRIVER" ] || { echo "fetch driver not built: $DRIVER" >&2; exit 1; }

corpus=$(cd "$REPO" && python3 -c 'import sys; sys.path.insert(0, "tests/integration"); import support; print(support.corpus("flask-app"))')
work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

python3 "$REPO/tests/integration/server.py" --root "$corpus" >"$work/url" &
server_pid=$!
for _ in $(seq 100); do [ -s "$work/url" ] && break; sleep 0.05; done
base=$(cat "$work/url")

# The same URLs for both sides: the driver's JSON input and a curl config file.
summary=$(python3 - "$corpus" "$base" "$work" <<'PY'
import json, os, sys
corpus, base, work = sys.argv[1:]
wheels = json.load(open(os.path.join(corpus, "corpus.json")))
requests = [{"url": f"{base}/wheels/{w['filename']}", "sha256": w["sha256"], "size": w["size"], "label": w["name"]}
            for w in wheels]
json.dump({"requests": requests, "options": {"cache_dir": os.path.join(work, "cache"), "concurrency": 16}},
          open(os.path.join(work, "requests.json"), "w"))
with open(os.path.join(work, "curl.cfg"), "w") as f:
    for r in requests:
        f.write(f'url = "{r["url"]}"\noutput = "{work}/curl-out/{os.path.basename(r["url"])}"\n')
print(f"{len(wheels)} wheels, {sum(w['size'] for w in wheels) / 2**20:.1f} MiB")
PY
)

compare "fetch: flask-app corpus cold cache ($summary) vs curl --parallel 16" "≤ 1.25× (≥ 0.8× throughput)" \
  "$DRIVER $work/requests.json" \
  "curl --parallel --parallel-max 16 --silent --fail --config $work/curl.cfg" \
  --warmup 3 --prepare "rm -rf $work/cache $work/curl-out; mkdir -p $work/curl-out"
