#!/usr/bin/env python3
"""A loopback HTTP server for tests, which can misbehave on purpose.

It serves a directory on 127.0.0.1 over HTTP/1.1 (keep-alive, byte ranges, sendfile), logs every
request, and applies faults chosen per path ("*" for every path), from Python or over HTTP:

    with FaultServer(root) as srv:
        srv.add_fault("/a.whl", "status", times=2, code=500)
        url = srv.url("/a.whl")
        ...
        assert srv.count("/a.whl") == 3       # GET requests seen for the path

With tls=(certfile, keyfile) it speaks HTTPS (HTTP/1.1 over TLS) and base_url starts with https://.

As a program (for other tests, benchmarks, or by hand):
    python3 server.py --root DIR [--port 0] [--no-range] [--cert C --key K]   # prints the base URL

Control endpoint (JSON bodies; the same operations as the methods):
    POST /_control/fault  {"path": "/a.whl", "kind": "reset", "times": 1, ...params}
    POST /_control/range  {"enabled": false, "path": "/a.whl"}   (path omitted: the default)
    POST /_control/clear  forget faults and the log
    GET  /_control/log    [{"method", "path", "target", "range", "accept_encoding", "status", "auth", "conn",
                            "time"}, ...]

A request with an absolute URL (a client using the server as its HTTP proxy) is served from the
directory too, by the URL's path.

Fault kinds and their parameters:
    status  code=500, headers={}, body=""   an error response, e.g. 404, or 429 + {"Retry-After": "1"}
    reset   after=None                     headers and `after` body bytes (default half), then a TCP reset
    stall   after=None, seconds=60         part of the body, then silence (ended early by stop())
    short   missing=1000, stall=None       a Content-Length larger than the body, then the connection closes
                                           (with stall=S: stays silent for S seconds, ended early by stop())
    encoding  encoding="gzip"              the whole file gzip-compressed, with that Content-Encoding
    drip    chunk=1024, interval=0.01      the body in small, slow pieces
    wrong                                  the right length, different bytes
    delay   seconds=0.2, close=False       wait, then answer normally (close=True: with Connection: close,
                                           as an HTTP/1.0 server does)
    auth    user, password                 Basic authentication required (401 otherwise)
`times` is how many requests the fault applies to (None: all). A path's faults apply in the order
they were added; a path's own faults come before those for "*".
"""
import argparse
import base64
import json
import os
import gzip
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONTROL = "/_control/"


class _Fault:
    def __init__(self, kind, times, params):
        self.kind, self.times, self.params = kind, times, params


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pybundle-test-server"
    timeout = 60  # idle keep-alive connections end eventually

    def log_message(self, format, *args):  # quiet; the request log is the record
        pass

    def handle(self):
        try:
            super().handle()
        except ConnectionResetError:  # a client that hung up on an answer it refused
            self.close_connection = True

    # --- entry points -------------------------------------------------------------------------
    def do_GET(self):
        self._serve(head=False)

    def do_HEAD(self):
        self._serve(head=True)

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        if not path.startswith(CONTROL):
            return self._simple(405, b"method not allowed\n")
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        state = self.server.state
        op = path[len(CONTROL):]
        if op == "fault":
            params = {k: v for k, v in body.items() if k not in ("path", "kind", "times")}
            state.add_fault(body["path"], body["kind"], body.get("times", 1), **params)
        elif op == "range":
            state.set_range(body.get("enabled", True), body.get("path"))
        elif op == "clear":
            state.clear()
        else:
            return self._simple(404, b"unknown control operation\n")
        self._simple(200, b"{}\n", "application/json")

    # --- helpers ------------------------------------------------------------------------------
    def _simple(self, code, body, ctype="text/plain", headers=None, head=False):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _file_for(self, path):
        root = self.server.state.root
        rel = urllib.parse.unquote(path).lstrip("/")
        full = os.path.realpath(os.path.join(root, rel))
        if full != root and not full.startswith(root + os.sep):
            return None
        if os.path.isdir(full):
            full = os.path.join(full, "index.html")
        return full if os.path.isfile(full) else None

    def _reset(self):
        """Abort the connection with a TCP RST instead of an orderly close."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.rfile.close()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def _serve(self, head):
        state = self.server.state
        path = urllib.parse.urlsplit(self.path).path
        if path == CONTROL + "log":
            return self._simple(200, json.dumps(state.log_copy()).encode(), "application/json")
        entry = state.record(self, path)
        fault = state.take_fault(path)
        kind = fault.kind if fault else None
        p = fault.params if fault else {}
        try:
            if kind == "delay":
                time.sleep(p.get("seconds", 0.2))
            if kind == "auth":
                expected = "Basic " + base64.b64encode(f"{p['user']}:{p['password']}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    entry["status"] = 401
                    return self._simple(401, b"unauthorized\n", headers={"WWW-Authenticate": 'Basic realm="test"'},
                                        head=head)
            if kind == "status":
                code = int(p.get("code", 500))
                entry["status"] = code
                body = p.get("body", f"fault: HTTP {code}\n").encode()
                return self._simple(code, body, headers=p.get("headers"), head=head)
            file = self._file_for(path)
            if file is None:
                entry["status"] = 404
                return self._simple(404, b"not found\n", head=head)
            self._send_file(file, entry, kind, p, head)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _send_file(self, file, entry, kind, p, head):
        if kind == "encoding":  # ignores Range, as a compressing proxy might
            with open(file, "rb") as f:
                body = gzip.compress(f.read(), mtime=0)
            entry["status"] = 200
            return self._simple(200, body, "application/octet-stream", {"Content-Encoding": p.get("encoding", "gzip")},
                                head=head)
        size = os.path.getsize(file)
        start, end, code = 0, size, 200
        rng = self.headers.get("Range")
        if rng and self.server.state.range_enabled(entry["path"]) and rng.startswith("bytes="):
            spec = rng[6:]
            if "," not in spec and "-" in spec and not spec.startswith("-"):
                first, last = spec.split("-", 1)
                if first.isdigit() and (last == "" or last.isdigit()):
                    start = int(first)
                    end = min(size, int(last) + 1) if last else size
                    code = 206
                    if start >= size or start >= end:
                        entry["status"] = 416
                        return self._simple(416, b"", headers={"Content-Range": f"bytes */{size}"}, head=head)
        length = end - start
        entry["status"] = code
        self.send_response(code)
        self.send_header("Content-Type", "application/octet-stream")
        declared = length + (int(p.get("missing", 1000)) if kind == "short" else 0)
        self.send_header("Content-Length", str(declared))
        if self.server.state.range_enabled(entry["path"]):
            self.send_header("Accept-Ranges", "bytes")
        if code == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        if kind == "delay" and p.get("close"):
            self.send_header("Connection", "close")  # and BaseHTTPRequestHandler closes after the body
        self.end_headers()
        if head:
            return
        with open(file, "rb") as f:
            if kind in ("reset", "stall"):
                after = p.get("after")
                cut = length // 2 if after is None else min(int(after), length)
                f.seek(start)
                self.wfile.write(f.read(cut))
                if kind == "reset":
                    return self._reset()
                self.wfile.flush()
                self.server.state.stopping.wait(p.get("seconds", 60))
                self.close_connection = True
                return
            if kind == "wrong":
                f.seek(start)
                data = bytearray(f.read(length))
                for i in range(0, len(data), 4096):
                    data[i] ^= 0xFF
                self.wfile.write(bytes(data))
                entry["complete"] = True
                return
            if kind == "drip":
                f.seek(start)
                chunk, interval = int(p.get("chunk", 1024)), float(p.get("interval", 0.01))
                left = length
                while left > 0:
                    piece = f.read(min(chunk, left))
                    self.wfile.write(piece)
                    left -= len(piece)
                    if left:
                        time.sleep(interval)
                entry["complete"] = True
                return
            if length:
                self.connection.sendfile(f, start, length)
            if kind == "short":
                if p.get("stall") is not None:
                    self.wfile.flush()
                    self.server.state.stopping.wait(float(p["stall"]))
                self.close_connection = True
        entry["complete"] = True


class _State:
    def __init__(self, root, range_support):
        self.root = os.path.realpath(root)
        self.lock = threading.Lock()
        self.faults = {}
        self.range_default = range_support
        self.range_paths = {}
        self.log = []
        self.stopping = threading.Event()

    def add_fault(self, path, kind, times=1, **params):
        with self.lock:
            self.faults.setdefault(path, []).append(_Fault(kind, times, params))

    def take_fault(self, path):
        with self.lock:
            for key in (path, "*"):
                for f in self.faults.get(key, []):
                    if f.times is None or f.times < 0:
                        return f
                    if f.times > 0:
                        f.times -= 1
                        return f
        return None

    def set_range(self, enabled, path=None):
        with self.lock:
            if path is None:
                self.range_default = enabled
            else:
                self.range_paths[path] = enabled

    def range_enabled(self, path):
        with self.lock:
            return self.range_paths.get(path, self.range_default)

    def record(self, handler, path):
        entry = {
            "method": handler.command,
            "path": path,
            "target": handler.path,  # as sent: an absolute URL when the client uses us as a proxy
            "range": handler.headers.get("Range"),
            "accept_encoding": handler.headers.get("Accept-Encoding"),
            "auth": handler.headers.get("Authorization"),
            "conn": handler.client_address[1],
            "time": time.monotonic(),
            "status": None,
            "complete": False,
        }
        with self.lock:
            self.log.append(entry)
        return entry

    def log_copy(self):
        with self.lock:
            return [dict(e) for e in self.log]

    def clear(self):
        with self.lock:
            self.faults.clear()
            self.range_paths.clear()
            self.log.clear()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class FaultServer:
    def __init__(self, root, port=0, range_support=True, tls=None):
        self.state = _State(root, range_support)
        self.httpd = _Server(("127.0.0.1", port), _Handler)
        self.httpd.state = self.state
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.base_url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self.state.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread:
            self._thread.join()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def url(self, path):
        return self.base_url + "/" + urllib.parse.quote(path.lstrip("/"))

    # Faults and the log, as described in the module docstring.
    def add_fault(self, path, kind, times=1, **params):
        self.state.add_fault(path, kind, times, **params)

    def set_range(self, enabled, path=None):
        self.state.set_range(enabled, path)

    def clear(self):
        self.state.clear()

    @property
    def log(self):
        return self.state.log_copy()

    def requests(self, path, method="GET"):
        return [e for e in self.log if e["path"] == path and e["method"] == method]

    def count(self, path, method="GET"):
        return len(self.requests(path, method))


def main():
    ap = argparse.ArgumentParser(description="Serve a directory on 127.0.0.1 with optional faults.")
    ap.add_argument("--root", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--no-range", action="store_true", help="ignore Range headers")
    ap.add_argument("--cert", help="serve HTTPS with this certificate (PEM)")
    ap.add_argument("--key", help="the certificate's private key (PEM)")
    args = ap.parse_args()
    tls = (args.cert, args.key) if args.cert else None
    srv = FaultServer(args.root, args.port, range_support=not args.no_range, tls=tls)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(srv.base_url, flush=True)
    try:
        srv.httpd.serve_forever(poll_interval=0.1)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        srv.state.stopping.set()
        srv.httpd.server_close()


if __name__ == "__main__":
    main()
