#!/usr/bin/env bash
# A cold-cache build (--no-snapshot --no-smoke, empty wheel cache) of the flask-app corpus set from
# `python3 -m http.server` (listen queue 5) against the same from a server with a 128-deep queue:
# a burst of connections that overflows the short queue costs 1 s per dropped SYN.
source "$(dirname "$0")/lib.sh"
serve_flask_corpus
port2=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -c 'import functools, http.server as h, sys
h.ThreadingHTTPServer.request_queue_size = 128
h.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), functools.partial(h.SimpleHTTPRequestHandler, directory=sys.argv[2])).serve_forever()' \
  "$port2" "$work/corpus" >/dev/null 2>&1 &
deep=$!
trap 'kill "${server:-}" "$deep" 2>/dev/null || true; rm -rf "$work"' EXIT
sleep 1
build="$PYBUNDLE -q build $work/corpus/project --out $work/out --no-snapshot --no-smoke"
export PYBUNDLE_CACHE_DIR="$work/cache"
$build >&2  # the runtime
compare "cold-cache build from python3 -m http.server (queue 5) vs a 128-deep queue" "≤ 1.15×" \
  "$build" "$build --mirror http://127.0.0.1:$port=http://127.0.0.1:$port2" --prepare "rm -rf $work/cache/wheels"
