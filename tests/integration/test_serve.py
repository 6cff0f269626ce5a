"""pybundle serve: requests reach on_fetch with method, URL, headers and body; every kind of return
value becomes a response; an exception is a 500 and the server keeps serving; a sync on_fetch is
called directly (no event loop); --workers 2 restores two processes, each with its own entropy."""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import bundles
import support

APP = '''
import asyncio, inspect, json, os, random, sys

first = None  # the first random number this process drew, and how many requests it answered
count = 0

class Response:
    def __init__(self, body, status=200, headers=None):
        self.body, self.status, self.headers = body, status, headers or {}

def on_fetch(request):
    global first, count
    path = request.path
    if path == "/who":
        count += 1
        first = first or random.random()
        return {"first": first, "count": count}
    if path == "/caller":  # the host's caller: a coroutine when the call went through the event loop
        return "coroutine" if sys._getframe(1).f_code.co_flags & inspect.CO_COROUTINE else "direct"
    if path == "/echo":
        return {"method": request.method, "url": request.url, "body": request.text(),
                "header": request.headers.get("X-Test"), "query": request.query}
    if path == "/bytes":
        return b"\\x00\\x01binary"
    if path == "/created":
        return Response("made", 201, {"X-Made": "yes"})
    if path == "/raise":
        raise RuntimeError("handler exploded")
    if path == "/none":
        return None
    if path == "/loop":
        while True:
            pass
    if path == "/hang":  # an awaitable that never finishes, awaited by the host
        return asyncio.sleep(3600)
    if path == "/badstatus":
        return Response("x", 1000)
    if path == "/badheader":
        return Response("x", 200, {"X-Bad": "a\\r\\nInjected: 1"})
    if path == "/nulheader":
        return Response("x", 200, {"X-Ok": "1", "X-Nul": "a\\x00b"})
    if path == "/bytesheader":
        return Response("x", 200, [(b"X-B", b"caf\\xe9")])
    if path == "/framed":  # framing that disagrees with the body: ours replaces it
        return Response("abcdef", 200, [("Content-Length", "3"), ("transfer-encoding", "gzip")])
    if path == "/reset":
        return Response("x", 205)
    if path == "/strstatus":
        return Response("x", "201")
    if path == "/intbody":  # not bytes(5), five NUL bytes
        return Response(5)
    if path == "/viewbody":
        return Response(memoryview(b"viewed"))
    if path == "/exit":
        os._exit(3)
    if path == "/busy":  # two seconds of work
        import time
        end = time.time() + 2
        while time.time() < end:
            pass
        return "done"
    if path == "/stubborn":  # catches the KeyboardInterrupt --timeout raises, and loops on
        while True:
            try:
                while True:
                    pass
            except BaseException:
                pass
    if path == "/spin-when-poked":  # waits for /poke, then loops in Python
        return spin_when_poked()
    if path == "/poke":
        if not waiting:
            return "nobody waits"
        waiting.pop().set()
        return "poked"
    return "hello"

waiting = []

async def spin_when_poked():
    gate = asyncio.Event()
    waiting.append(gate)
    try:
        await gate.wait()
    finally:
        if gate in waiting:
            waiting.remove(gate)
    while True:
        pass
'''


class ServeCase(bundles.ServedBundle, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="pb-serve-")
        cls.bundle = os.path.join(cls.tmp, "b")
        bundles.make_bundle(cls.bundle, {"app.py": APP}, source="web/app.py")
        proc = support.run("snapshot", cls.bundle, "--level", "1", env=bundles.env())
        if proc.returncode != 0:
            raise AssertionError(proc.stderr)
        cls.start_server(cls.bundle, "--workers", "2", "--timeout", "2", "--max-body", "1000")

    @classmethod
    def tearDownClass(cls):
        cls.stop_server()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_startup_reports_the_restore(self):
        self.assertTrue(self.startup["restored"])
        self.assertGreater(self.startup["timings_ms"]["runtime_ready"], 0)
        self.assertIn("snapshot restored, ready in", self.log())

    def test_requests_and_responses(self):
        status, headers, body = self.fetch("/echo?a=1&b=2", data=b"payload", headers={"X-Test": "yes"}, method="PUT")
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "application/json")
        echo = json.loads(body)
        self.assertEqual(echo["method"], "PUT")
        self.assertEqual(echo["body"], "payload")
        self.assertEqual(echo["header"], "yes")
        self.assertEqual(echo["query"], {"a": "1", "b": "2"})
        self.assertTrue(echo["url"].endswith("/echo?a=1&b=2"))

        self.assertEqual(self.fetch("/")[::2], (200, b"hello"))
        status, headers, body = self.fetch("/bytes")
        self.assertEqual((status, body, headers["content-type"]), (200, b"\x00\x01binary", "application/octet-stream"))
        status, headers, body = self.fetch("/created")
        self.assertEqual((status, body, headers["x-made"]), (201, b"made", "yes"))
        self.assertEqual(self.fetch("/none")[0], 204)
        self.assertEqual(self.fetch("/viewbody")[::2], (200, b"viewed"))  # any bytes-like body
        status, headers, _ = self.fetch("/bytesheader")  # bytes names and values as latin-1, not "b'X-B'"
        self.assertEqual((status, headers.get("x-b")), (200, "caf\xe9"))

    def test_a_whole_body_is_sent_with_its_length(self):
        status, headers, body = self.fetch("/")
        self.assertEqual((status, headers["content-length"], headers["transfer-encoding"]), (200, "5", None))
        status, headers, _ = self.fetch("/none")  # no body: no length either (RFC 9110)
        self.assertEqual((status, headers["content-length"]), (204, None))
        # One kept-alive connection: a handler's wrong length must not leak into the next answer.
        url = urllib.parse.urlsplit(self.base)
        conn = http.client.HTTPConnection(url.hostname, url.port)
        answers = []
        for method, path in [("GET", "/framed"), ("GET", "/"), ("HEAD", "/framed"), ("GET", "/reset"), ("GET", "/")]:
            conn.request(method, path)
            r = conn.getresponse()
            answers.append((r.status, r.getheader("content-length"), r.getheader("transfer-encoding"), r.read()))
        conn.close()
        self.assertEqual(answers, [(200, "6", None, b"abcdef"), (200, "5", None, b"hello"),
                                   (200, "3", "gzip", b""),  # HEAD: the handler's length is what a GET would send
                                   (205, "0", None, b""), (200, "5", None, b"hello")])

    def test_a_sync_handler_is_called_directly(self):
        self.assertEqual(self.fetch("/caller")[::2], (200, b"direct"))

    def test_two_workers_share_the_requests_with_their_own_entropy(self):
        self.assertEqual(self.startup["workers"], 2)
        seen = [json.loads(self.fetch("/who")[2]) for _ in range(6)]
        firsts = {w["first"] for w in seen}
        self.assertEqual(len(firsts), 2, seen)  # two processes answered, each reseeded on its own
        self.assertLess(max(w["count"] for w in seen), 6, seen)

    def test_an_exception_is_a_500_and_the_server_keeps_serving(self):
        status, _, body = self.fetch("/raise")
        self.assertEqual(status, 500)
        self.assertNotIn(b"exploded", body)  # the traceback goes to the log, not to the client
        for _ in range(3):
            self.assertEqual(self.fetch("/")[::2], (200, b"hello"))
        log = self.log()
        self.assertIn("RuntimeError: handler exploded", log)
        self.assertIn("Traceback (most recent call last)", log)
        # The project's path, and none of the host's frames.
        line = APP.split("\n").index('        raise RuntimeError("handler exploded")') + 1
        self.assertIn(f'File "web/app.py", line {line}, in on_fetch', log)
        self.assertNotIn("<pybundle", log)
        self.assertNotIn("/bundle/app", log)

    def raw(self, request):
        port = int(self.base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(request)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split()[1]), body

    def test_the_url_comes_from_the_request_target_not_the_host_header(self):
        status, body = self.raw(b"GET /echo HTTP/1.0\r\nHost: x/admin?secret=1#\r\n\r\n")
        self.assertEqual(status, 200)
        echo = json.loads(body)
        self.assertTrue(echo["url"].endswith("/echo"), echo)
        self.assertNotIn("admin", echo["url"])
        self.assertEqual(echo["query"], {})

    def test_connect_is_answered_501(self):
        status, body = self.raw(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        self.assertEqual((status, body), (501, b"Not Implemented\n"))
        self.assertIn("CONNECT example.com:443 501", self.log())
        self.assertEqual(self.fetch("/")[::2], (200, b"hello"))

    def test_a_body_past_the_cap_is_413(self):
        self.assertEqual(self.fetch("/echo", data=b"x" * 1001, method="POST")[0], 413)
        self.assertEqual(self.fetch("/echo", data=b"x" * 1000, method="POST")[0], 200)
        self.assertEqual(self.fetch("/")[::2], (200, b"hello"))

    def first_answer(self, head):
        """The first status line the server sends after `head` (a request's headers, no body)."""
        port = int(self.base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(head)
            data = b""
            while b"\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        return data.split(b"\r\n", 1)[0]

    def test_expect_100_continue_is_refused_for_a_body_past_the_cap(self):
        head = b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n"
        self.assertEqual(self.first_answer(head % 1001), b"HTTP/1.1 413 Payload Too Large")
        self.assertEqual(self.first_answer(head % 1000), b"HTTP/1.1 100 Continue")
        status, _, body = self.fetch("/echo", data=b"x" * 5, method="POST", headers={"Expect": "100-continue"})
        self.assertEqual((status, json.loads(body)["body"]), (200, "xxxxx"))

    def test_a_response_that_cannot_be_sent_is_a_500(self):
        for path, why in [("/badstatus", "status 1000"), ("/badheader", "X-Bad"), ("/nulheader", "X-Nul"),
                          ("/intbody", "TypeError: on_fetch's response body is int; expected str, bytes"),
                          ("/strstatus", "TypeError: on_fetch returned Response whose status is '201' (str); "
                                         "expected an int such as 200")]:
            self.assertEqual(self.fetch(path)[0], 500, path)
            self.assertIn(why, self.log())
            self.assertEqual(self.fetch("/")[::2], (200, b"hello"))

    def test_a_handler_that_never_answers_is_a_504(self):
        for path in ("/loop", "/hang"):
            self.assertEqual(self.fetch(path)[0], 504, path)
            self.assertEqual(self.fetch("/")[::2], (200, b"hello"))
        self.assertIn("did not answer within 2 s", self.log())

    def test_a_runtime_that_exits_is_started_again(self):
        self.assertEqual(self.fetch("/exit")[0], 500)
        for _ in range(4):  # the workers take connections in turn: one of these reaches the restarted one
            self.assertEqual(self.fetch("/")[::2], (200, b"hello"))
        self.assertIn("the runtime was started again", self.log())
        self.assertTrue(all(len(line) < 2000 for line in self.log().splitlines()))  # no minified runtime


class ServeOneWorkerTest(bundles.ServedBundle, unittest.TestCase):
    """--timeout bounds an async handler that other requests overtake, and one answered 504 is
    cancelled rather than left to run on."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="pb-serve-one-")
        bundle = os.path.join(cls.tmp, "b")
        bundles.make_bundle(bundle, {"app.py": APP})
        cls.start_server(bundle, "--no-snapshot", "--workers", "1", "--timeout", "2")

    @classmethod
    def tearDownClass(cls):
        cls.stop_server()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def get(self, path):
        # The timeout only guards against a server that never answers; it measures nothing.
        try:
            with urllib.request.urlopen(self.base + path, timeout=300) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def poke(self):
        while self.get("/poke") != (200, b"poked"):  # until the waiting handler is in place
            pass

    def test_an_async_handler_that_spins_after_another_request_is_interrupted(self):
        answer = {}
        waiter = threading.Thread(target=lambda: answer.update(spin=self.get("/spin-when-poked")))
        waiter.start()
        self.poke()  # a sync request while the async one waits: it must not disarm the other's deadline
        waiter.join()
        self.assertEqual(answer["spin"][0], 504)
        self.assertEqual(self.get("/"), (200, b"hello"))

    def test_an_async_handler_answered_504_does_not_run_on(self):
        self.assertEqual(self.get("/spin-when-poked")[0], 504)  # never poked: it waits past --timeout
        self.assertEqual(self.get("/poke"), (200, b"nobody waits"))  # it was cancelled, so it waits no more
        self.assertEqual(self.get("/"), (200, b"hello"))


class ServeStubbornHandlerTest(unittest.TestCase):
    """A handler that catches the interrupt --timeout raises ends its process: a cluster worker is
    replaced and the server answers on; a single server stops with exit 1, saying why."""

    def serve(self, tmp, workers):
        bundle = os.path.join(tmp, "b")
        if not os.path.exists(bundle):
            bundles.make_bundle(bundle, {"app.py": APP})
        stderr = open(os.path.join(tmp, f"stderr-{workers}.txt"), "w+")
        self.addCleanup(stderr.close)
        proc = subprocess.Popen([support.PYBUNDLE, "serve", bundle, "--port", "0", "--format", "json", "--no-snapshot",
                                 "--timeout", "1", "--workers", workers], stdout=subprocess.PIPE, stderr=stderr,
                                text=True, env=dict(os.environ, **bundles.env()))
        self.addCleanup(proc.wait)
        self.addCleanup(proc.kill)  # its node dies with it (PR_SET_PDEATHSIG)
        self.addCleanup(proc.stdout.close)
        port = json.loads(proc.stdout.readline())["port"]
        return proc, port, stderr

    @staticmethod
    def ask(port, path):
        """The raw answer (b"" when the connection closed without one); the timeout is a hang guard."""
        with socket.create_connection(("127.0.0.1", port), timeout=300) as sock:
            sock.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path.encode())
            data = b""
            try:
                while chunk := sock.recv(65536):
                    data += chunk
            except ConnectionResetError:
                pass
        return data

    def test_a_worker_is_replaced(self):
        tmp = tempfile.mkdtemp(prefix="pb-serve-stubborn-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        proc, port, stderr = self.serve(tmp, "2")
        self.assertEqual(self.ask(port, "/stubborn"), b"")
        for _ in range(4):  # both workers: the other one, and the one started in place of the ended one
            self.assertTrue(self.ask(port, "/").endswith(b"\r\n\r\nhello"))
        stderr.seek(0)
        log = stderr.read()
        self.assertIn("a handler still runs 5 s after --timeout interrupted it (it caught KeyboardInterrupt?)", log)
        self.assertIn("exited (SIGKILL); starting another", log)

    def test_a_single_server_stops_saying_why(self):
        tmp = tempfile.mkdtemp(prefix="pb-serve-stubborn-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        proc, port, stderr = self.serve(tmp, "1")
        self.assertEqual(self.ask(port, "/stubborn"), b"")
        self.assertEqual(proc.wait(), 1)
        stderr.seek(0)
        log = stderr.read()
        self.assertIn("a handler still runs 5 s after --timeout interrupted it (it caught KeyboardInterrupt?)", log)
        self.assertIn("error: the server stopped (exit 137)", log)


class ServeShutdownTest(unittest.TestCase):
    """serve stops on SIGTERM even while a handler spins, and its node never outlives it."""

    def node_of(self, bundle):
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            if bundle.encode() in cmd and b"serve" in cmd and b"node" in cmd.split(b"\0")[0]:
                found.append(int(pid))
        return found

    def serve_spinning(self, bundle):
        env = dict(os.environ, **bundles.env())
        proc = subprocess.Popen([support.PYBUNDLE, "serve", bundle, "--port", "0", "--format", "json",
                                 "--timeout", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        base = json.loads(proc.stdout.readline())["listening"]
        threading.Thread(target=lambda: self.quiet_fetch(base + "loop"), daemon=True).start()
        while not self.node_of(bundle):
            time.sleep(0.1)
        time.sleep(0.5)  # the request reaches the handler
        return proc

    @staticmethod
    def quiet_fetch(url):
        try:
            urllib.request.urlopen(url).read()
        except Exception:
            pass

    def test_sigterm_and_sigkill_while_a_handler_spins(self):
        tmp = tempfile.mkdtemp(prefix="pb-serve-stop-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        bundle = os.path.join(tmp, "b")
        bundles.make_bundle(bundle, {"app.py": APP})
        proc = self.serve_spinning(bundle)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(), 1)
        self.assertIn("error: the server was killed: a handler was still busy after the stop signal's grace period",
                      proc.stderr.read())
        self.assertEqual(self.node_of(bundle), [])
        proc = self.serve_spinning(bundle)
        node = self.node_of(bundle)
        proc.kill()
        proc.wait()
        for _ in range(100):  # PR_SET_PDEATHSIG: the kernel kills it with us (reaping may lag a little)
            if not self.node_of(bundle):
                break
            time.sleep(0.1)
        self.assertEqual(self.node_of(bundle), [], node)

    def test_one_stop_request_delivered_twice_lets_the_request_finish(self):
        # timeout(1) sends SIGTERM to pybundle and then to its process group: one request, not two.
        tmp = tempfile.mkdtemp(prefix="pb-serve-stop-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        bundle = os.path.join(tmp, "b")
        bundles.make_bundle(bundle, {"app.py": APP})
        proc = subprocess.Popen([support.PYBUNDLE, "serve", bundle, "--port", "0", "--format", "json", "--workers", "1"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=dict(os.environ, **bundles.env()), start_new_session=True)
        base = json.loads(proc.stdout.readline())["listening"]
        answer = []
        fetch = threading.Thread(target=lambda: answer.append(urllib.request.urlopen(base + "busy").read()))
        fetch.start()
        time.sleep(0.5)  # the request reaches the handler
        os.kill(proc.pid, signal.SIGTERM)
        time.sleep(0.05)  # two deliveries, not one merged pending signal
        os.killpg(proc.pid, signal.SIGTERM)
        _, err = proc.communicate()
        fetch.join()
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(answer, [b"done"])
        self.assertNotIn("error", err)


class ServeStartFailureTest(unittest.TestCase):
    """A server that cannot start says why in one line, with the documented exit code, and exits."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="pb-serve-start-")
        cls.ok = os.path.join(cls.tmp, "ok")
        bundles.make_bundle(cls.ok, {"app.py": "def on_fetch(request):\n    return 'hi'\n"})
        cls.broken = os.path.join(cls.tmp, "broken")
        bundles.make_bundle(cls.broken, {"app.py": "import nosuchmodule\n\ndef on_fetch(request):\n    return 'hi'\n"})

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def serve(self, bundle, *args):
        # The timeout only guards against a hang; it measures nothing.
        return support.run("serve", bundle, "--no-snapshot", *args, env=bundles.env(), timeout=600)

    def assert_one_error(self, proc, code, why):
        self.assertEqual(proc.returncode, code, proc.stderr)
        self.assertEqual(proc.stdout, "")
        errors = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
        self.assertEqual(len(errors), 1, proc.stderr)
        self.assertIn(why, errors[0])
        self.assertNotIn('{"ok"', proc.stderr)

    def test_a_busy_port(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            port = s.getsockname()[1]
            for workers in ("1", "2"):
                proc = self.serve(self.ok, "--port", str(port), "--workers", workers)
                self.assert_one_error(proc, 3, f"cannot listen on 127.0.0.1:{port}: the port is in use")
                self.assertNotIn("    at ", proc.stderr)  # no JavaScript stack

    def test_a_malformed_address_is_a_usage_error(self):
        for host, why in [("256.1.1.1", "'256.1.1.1' is not an IPv4 address"), ("::g", "'::g' is not an IPv6 address"),
                          ("bad_host", "'bad_host' is neither an IP address nor a host name"), ("", "empty address")]:
            proc = self.serve(self.ok, "--host", host)
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertIn(f"--host: {why}", proc.stderr)

    def test_an_entry_that_cannot_import(self):
        for workers in ("1", "2"):
            proc = self.serve(self.broken, "--port", "0", "--workers", workers)
            self.assert_one_error(proc, 1, "nosuchmodule")


class ServeIPv6Test(bundles.ServedBundle, unittest.TestCase):
    """On an IPv6 address (given as in a URL) the URL serve prints has it in brackets, and it answers there."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="pb-serve-v6-")
        bundle = os.path.join(cls.tmp, "b")
        bundles.make_bundle(bundle, {"app.py": "def on_fetch(request):\n    return request.url\n"})
        cls.start_server(bundle, "--no-snapshot", "--host", "[::1]", "--workers", "2")

    @classmethod
    def tearDownClass(cls):
        cls.stop_server()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_the_url_has_the_address_in_brackets(self):
        port = self.startup["port"]
        self.assertEqual(self.startup["listening"], f"http://[::1]:{port}/")
        self.assertIn(f"on http://[::1]:{port}/ with 2 workers", self.log())
        status, _, body = self.fetch("/x?y=1")
        self.assertEqual((status, body), (200, f"http://[::1]:{port}/x?y=1".encode()))


if __name__ == "__main__":
    unittest.main()
