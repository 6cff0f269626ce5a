#!/usr/bin/env python3
"""cpython_server.py BUNDLE PORT: the peer for `pybundle serve`: CPython's threaded http.server
(HTTP/1.1 keep-alive) calling the bundle's on_fetch with the host's own Request and response
conversion (src/host/prelude.py), the bundle's app/ and python_modules/ on sys.path."""
import os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

bundle, port = sys.argv[1], int(sys.argv[2])
sys.path[0:0] = [os.path.join(bundle, "app"), os.path.join(bundle, "python_modules")]
host = {}
exec(open(os.path.join(os.path.dirname(__file__), "..", "src", "host", "prelude.py")).read(), host)
import json
entry = json.load(open(os.path.join(bundle, "bundle.json")))["entry"]["module"]
handler = host["find_handler"](entry)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle on, each keep-alive response would wait
    # for the client's delayed ACK (~40 ms), which would make the peer look 10x slower than it is.
    disable_nagle_algorithm = True

    def do_GET(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        status, headers, data = host["call"](handler, self.command, "http://localhost" + self.path,
                                             list(self.headers.items()), body)[:3]
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def log_message(self, *args):
        pass


ThreadingHTTPServer.request_queue_size = 128
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
