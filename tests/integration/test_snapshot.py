"""Snapshots end to end: make one in Node with Pyodide, restore it, and check what must differ
between restores, what must fail loudly, and what must be refused."""
import contextlib
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

import bundles
import support

APP = '''
import gc, json, os, random, tempfile, uuid
import attr, idna, six, tabulate

@attr.s
class Point:
    x = attr.ib()

def on_fetch(request):
    return {
        "random": random.random(),
        "uuid": str(uuid.uuid4()),
        "urandom": os.urandom(8).hex(),
        "tempname": next(tempfile._get_candidate_names()),
        "idna": idna.encode("bücher.example").decode(),
        "table": tabulate.tabulate([[1, 2]]),
        "point": repr(Point(3)),
        "method": request.method,
        "url": request.url,
        "frozen": gc.get_freeze_count(),
    }
'''


def link_paths(case, bundle, runs=1):
    """The host's account of how it linked the main module (link.mjs), one per restore."""
    paths = []
    for _ in range(runs):
        proc, answer = bundles.run_json(bundle, extra_env={"PYBUNDLE_HOST_TRACE": "1"})
        case.assertEqual(proc.returncode, 0, proc.stderr)
        case.assertTrue(answer["ok"] and answer["restored"], answer)
        paths += re.findall(r"\] [\d.]+ link: (.*?)(?: in [\d.]+ ms.*)?$", proc.stderr, re.M)
    return paths


class SnapshotCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="pb-snapshot-")
        cls.wheels = bundles.corpus_wheels("small")
        cls.bundle = os.path.join(cls.tmp, "small")
        bundles.make_bundle(cls.bundle, {"app.py": APP}, cls.wheels)
        proc = support.run("snapshot", cls.bundle, "--level", "3", env=bundles.env())
        if proc.returncode != 0:
            raise AssertionError(f"pybundle snapshot failed:\n{proc.stderr}")
        cls.snapshot_stderr = proc.stderr

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def run_ok(self, bundle=None, *args):
        proc, answer = bundles.run_json(bundle or self.bundle, *args)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertTrue(answer["ok"], answer)
        return answer

    def test_manifest_records_the_snapshot(self):
        manifest = bundles.load_json(os.path.join(self.bundle, "bundle.json"))
        snap = manifest["snapshot"]
        self.assertEqual(snap["file"], "snapshot.bin.zst")
        self.assertEqual(snap["size"], os.path.getsize(os.path.join(self.bundle, "snapshot.bin.zst")))
        self.assertEqual(snap["pyodide"], "0.29.3")
        self.assertGreater(snap["heap_size"], 10 << 20)
        self.assertLess(snap["size"], snap["raw_size"] / 3)
        self.assertFalse(os.path.exists(os.path.join(self.bundle, ".snapshot.raw.tmp")))
        self.assertEqual([], [d for d, _, files in os.walk(self.bundle) if "__pycache__" in d])

    def test_restore_answers_the_request(self):
        answer = self.run_ok()
        self.assertTrue(answer["restored"])
        self.assertEqual(answer["response"]["status"], 200)
        self.assertEqual(answer["response"]["headers"]["content-type"], "application/json")
        body = json.loads(answer["response"]["body"])
        self.assertEqual(body["idna"], "xn--bcher-kva.example")
        self.assertEqual(body["point"], "Point(x=3)")
        self.assertEqual(body["method"], "GET")
        self.assertEqual(body["url"], "http://localhost/")
        self.assertGreater(body["frozen"], 10000)  # the import's objects: no collection walks them again
        for key in ("runtime_ready", "handler", "total"):
            self.assertGreater(answer["timings_ms"][key], 0)
        self.assertEqual(link_paths(self, self.bundle), ["replayed"])

    def test_ten_restores_share_no_entropy(self):
        bodies = [json.loads(self.run_ok()["response"]["body"]) for _ in range(10)]
        for key in ("random", "uuid", "urandom", "tempname"):
            values = [b[key] for b in bodies]
            self.assertEqual(len(set(values)), 10, f"{key} repeats across restores: {values}")

    def test_without_the_snapshot_the_entry_is_imported(self):
        answer = self.run_ok(None, "--no-snapshot")
        self.assertFalse(answer["restored"])
        self.assertEqual(json.loads(answer["response"]["body"])["idna"], "xn--bcher-kva.example")

    def test_a_restore_and_an_import_keep_their_own_code_cache(self):
        # A restored run starts Node with --liftoff-only, --no-snapshot without: V8 rejects a code
        # cache made under other flags, so each keeps its own instead of rewriting one in turn.
        trace = {"PYBUNDLE_HOST_TRACE": "1"}
        self.run_ok()
        self.run_ok(None, "--no-snapshot")
        proc, answer = bundles.run_json(self.bundle, extra_env=trace)
        self.assertTrue(answer["restored"], proc.stderr)
        self.assertIn("code cache used", proc.stderr)

    def test_c_calls_of_a_restored_runtime_stay_in_wasm(self):
        # Node 20 has no wasm-gc, so Pyodide's own trampoline for calls of C functions goes through
        # JavaScript; the host's replaces it after the heap is restored (the heap holds the slot of
        # the process that made it, which a restore must not use).
        proc, answer = bundles.run_json(self.bundle, extra_env={"PYBUNDLE_HOST_TRACE": "1"})
        self.assertTrue(answer["ok"] and answer["restored"], proc.stderr)
        self.assertIn("call trampoline: wasm", proc.stderr)
        self.assertEqual(json.loads(answer["response"]["body"])["idna"], "xn--bcher-kva.example")

    def test_human_output_prints_the_body_and_the_timings(self):
        proc = support.run("run", self.bundle, env=bundles.env())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn('"idna": "xn--bcher-kva.example"', proc.stdout)
        self.assertIn("restored from the snapshot", proc.stderr)
        self.assertIn("runtime ready", proc.stderr)


SCI_APP = '''
import networkx as nx
import sympy

x = sympy.Symbol("x")

def on_fetch(request):
    graph = nx.path_graph(5)
    return {"expand": str(sympy.expand((x + 1) ** 3)), "path": nx.shortest_path(graph, 0, 4)}
'''


class RuntimesCase(unittest.TestCase):
    """Other Pyodide releases, and a heap larger than the runtime's initial memory."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pb-runtimes-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_314_restores_a_heap_larger_than_its_initial_memory(self):
        # Pyodide 314.0.7's own loader fails here (pyodide#6254): its wasm module defines its
        # memory, so the snapshot's size never reaches it and the heap copy runs off the end.
        b = os.path.join(self.tmp, "sci")
        bundles.make_bundle(b, {"app.py": SCI_APP}, bundles.corpus_wheels("sci"), target="314.0.7")
        proc = support.run("snapshot", b, "--level", "3", env=bundles.env())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        for _ in range(2):
            proc, answer = bundles.run_json(b)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertTrue(answer["restored"])
            self.assertGreater(answer["heap"]["restored"], answer["heap"]["initial"])
            body = json.loads(answer["response"]["body"])
            self.assertEqual(body, {"expand": "x**3 + 3*x**2 + 3*x + 1", "path": [0, 1, 2, 3, 4]})
        # The main module's dynamic linking is replayed from what the snapshot's build recorded
        # (runtime.mjs, link.mjs) ...
        self.assertEqual(link_paths(self, b), ["replayed"])
        # ... and a record that disagrees with the module is not used: the stock code links, the
        # answer is the same, and the record is made anew.
        records = glob.glob(os.path.join(bundles.RUNTIME_CACHE, "v8", "*-link.json"))
        self.assertTrue(records)
        for path in records:
            with open(path) as f:
                rec = json.load(f)
            i, j = rec["slots"][0], rec["slots"][1]
            rec["values"][i], rec["values"][j] = rec["values"][j], rec["values"][i]
            with open(path, "w") as f:
                json.dump(rec, f)
        paths = link_paths(self, b, runs=2)
        self.assertRegex(paths[0], r"^stock \(.* is not at slot \d+\)$")
        self.assertEqual(paths[1], "replayed")

    def test_0_27_round_trip(self):
        b = os.path.join(self.tmp, "old")
        bundles.make_bundle(b, {"app.py": "import random\ndef on_fetch(request):\n    return str(random.random())\n"},
                            target="0.27.7")
        proc = support.run("snapshot", b, "--level", "1", env=bundles.env())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        values = set()
        for _ in range(2):
            proc, answer = bundles.run_json(b)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertTrue(answer["restored"])
            values.add(answer["response"]["body"])
        self.assertEqual(len(values), 2)
        self.assertEqual(link_paths(self, b), ["replayed"])


def edit_metadata(path, change):
    """Rewrites a snapshot file's metadata JSON with change(meta) applied."""
    with open(path, "rb") as f:
        data = f.read()
    meta_len = int.from_bytes(data[12:16], "little")
    meta = json.loads(data[16:16 + meta_len])
    change(meta)
    new_meta = json.dumps(meta).encode()
    with open(path, "wb") as f:
        f.write(data[:12] + len(new_meta).to_bytes(4, "little") + new_meta + data[16 + meta_len:])
    return meta


RESTART_APP = '''
import asyncio, os
waiting = 0
async def hang():
    global waiting
    waiting = 1
    await asyncio.sleep(3600)
def on_fetch(request):
    if request.path == "/exit":
        os._exit(1)
    if request.path == "/hang":
        return hang()
    if request.path == "/waiting":
        return str(waiting)
    return "up"
'''


class StaleCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pb-stale-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def bundle(self, name, app):
        path = os.path.join(self.tmp, name)
        bundles.make_bundle(path, {"app.py": app})
        proc = support.run("snapshot", path, "--level", "1", env=bundles.env())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return path

    def test_an_edited_app_is_refused_unless_allowed(self):
        b = self.bundle("edited", "def on_fetch(request):\n    return 'one'\n")
        with open(os.path.join(b, "app", "app.py"), "w") as f:
            f.write("def on_fetch(request):\n    return 'two'\n")
        proc, answer = bundles.run_json(b)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("does not match: app/app.py changed since the build", proc.stderr)
        self.assertIn("--allow-stale-snapshot", proc.stderr)
        proc, answer = bundles.run_json(b, "--allow-stale-snapshot")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertFalse(answer["restored"])
        self.assertEqual(answer["response"]["body"], "two")
        self.assertIn("snapshot not used", proc.stderr)
        # Remaking the snapshot over the edited files would record one no restore accepts.
        with open(os.path.join(b, "snapshot.bin.zst"), "rb") as f:
            before = f.read()
        proc = support.run("snapshot", b, "--level", "1", env=bundles.env())
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertEqual(proc.stderr.strip().splitlines(),
                         [f"error: {b}: app/app.py changed since the build; rebuild the bundle with "
                          "`pybundle build` instead of editing it"])
        with open(os.path.join(b, "snapshot.bin.zst"), "rb") as f:
            self.assertEqual(f.read(), before)

    def test_a_first_restore_decompresses_into_the_heap_cache_then_reads_it(self):
        b = self.bundle("first", "def on_fetch(request):\n    return 'first'\n")
        heap = os.path.join(bundles.RUNTIME_CACHE, "heaps", support.file_sha256(os.path.join(b, "snapshot.bin.zst")) + ".raw")
        os.remove(heap)
        trace = {"PYBUNDLE_HOST_TRACE": "1"}
        proc, answer = bundles.run_json(b, extra_env=trace)
        self.assertEqual((proc.returncode, answer["restored"], answer["response"]["body"]), (0, True, "first"), proc.stderr)
        self.assertTrue(os.path.isfile(heap))
        self.assertRegex(proc.stderr, r"heap: \d+ zero runs")  # read from the file, zero pages skipped
        # A cache that cannot hold the heap (heaps/ is a file): the heap comes through stdin instead.
        cache = os.path.join(self.tmp, "cache")
        os.makedirs(cache)
        os.symlink(os.path.join(bundles.RUNTIME_CACHE, "runtimes"), os.path.join(cache, "runtimes"))
        open(os.path.join(cache, "heaps"), "w").close()
        proc, answer = bundles.run_json(b, extra_env=dict(trace, PYBUNDLE_CACHE_DIR=cache))
        self.assertEqual((proc.returncode, answer["restored"], answer["response"]["body"]), (0, True, "first"), proc.stderr)
        self.assertNotRegex(proc.stderr, r"heap: \d+ zero runs")
        # serve --workers 2 needs the heap as a file: refused, saying why.
        proc = support.run("serve", b, "--workers", "2", "--port", "0", env=bundles.env(PYBUNDLE_CACHE_DIR=cache))
        self.assertEqual(proc.returncode, 3, proc.stderr)
        self.assertRegex(proc.stderr, r"^error: cannot keep the decompressed snapshot in \S+/heaps for the server's "
                                      r"workers \(cannot create \S+\.raw\.tmp-\d+: Not a directory\); use --workers 1\n$")

    def test_a_damaged_snapshot_is_a_problem_named_with_its_file(self):
        b = self.bundle("damaged", "def on_fetch(request):\n    return 'x'\n")
        snapshot = os.path.join(b, "snapshot.bin.zst")
        with open(snapshot, "r+b") as f:  # its heap cache entry is keyed by the file's new hash: none
            f.seek(os.path.getsize(snapshot) // 2)
            f.write(b"\xff" * 64)
        proc, _ = bundles.run_json(b)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertRegex(proc.stderr, r"snapshot\.bin\.zst: the snapshot data is damaged \(zstd: .*\); remake it")

    def test_serve_restarts_only_from_a_heap_cache_it_may_read(self):
        # <sha>.raw is a directory: the first start streams the heap; the runtime restarted after
        # os._exit must not read that path (it did, and the server died of EISDIR). An async call
        # waiting on the runtime that died fails with it (it waited for --timeout).
        b = self.bundle("restart", RESTART_APP)
        cache = os.path.join(self.tmp, "cache")
        heap = os.path.join(cache, "heaps", support.file_sha256(os.path.join(b, "snapshot.bin.zst")) + ".raw")
        os.makedirs(heap)
        os.symlink(os.path.join(bundles.RUNTIME_CACHE, "runtimes"), os.path.join(cache, "runtimes"))
        with self.serving(b, cache) as base:
            hung = []
            waiting = threading.Thread(target=lambda: hung.append(self.status_of(base + "hang")))
            waiting.start()
            while urllib.request.urlopen(base + "waiting").read() != b"1":
                time.sleep(0.05)
            self.assertEqual(self.status_of(base + "exit"), 500)
            waiting.join()
            self.assertEqual(hung, [500])
            self.assertEqual(urllib.request.urlopen(base).read(), b"up")
        # The heap cache the first start read is replaced by one others may write before the restart:
        # the restart imports the entry instead of restoring that.
        os.rmdir(heap)
        with self.serving(b, cache) as base:
            self.assertTrue(os.path.isfile(heap))
            with open(heap, "r+b") as f:
                f.write(b"\0" * os.path.getsize(heap))
            os.chmod(heap, 0o666)
            self.assertEqual(self.status_of(base + "exit"), 500)
            self.assertEqual(urllib.request.urlopen(base).read(), b"up")

    @contextlib.contextmanager
    def serving(self, bundle, cache):
        """serve --workers 1 with `cache`; yields its URL; at the end, that its runtime was started again."""
        stderr = open(os.path.join(self.tmp, "stderr.txt"), "w+")
        proc = subprocess.Popen([support.PYBUNDLE, "serve", bundle, "--port", "0", "--workers", "1", "--format", "json",
                                 "--timeout", "120"], stdout=subprocess.PIPE, stderr=stderr, text=True,
                                env=dict(os.environ, **bundles.env(PYBUNDLE_CACHE_DIR=cache)))
        try:
            yield json.loads(proc.stdout.readline())["listening"]
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait()
            proc.stdout.close()
            stderr.seek(0)
            log = stderr.read()
            stderr.close()
        self.assertIn("the runtime was started again", log)

    @staticmethod
    def status_of(url):
        try:
            with urllib.request.urlopen(url) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    def test_a_base_snapshot_that_does_not_restore_is_made_again(self):
        b = self.bundle("base", "def on_fetch(request):\n    return 'base'\n")
        snapshot = os.path.join(b, "snapshot.bin.zst")
        made = support.file_sha256(snapshot)
        heaps = os.path.join(bundles.RUNTIME_CACHE, "heaps")
        used = max(bundles.base_snapshots(), key=lambda n: os.path.getmtime(os.path.join(heaps, n)))
        with open(os.path.join(heaps, used), "r+b") as f:
            f.write(b"\0" * 8)  # Pyodide's header: no magic, the heap at byte 0
        proc = support.run("snapshot", b, "--level", "1", env=bundles.env())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(support.file_sha256(snapshot), made)
        with open(os.path.join(heaps, used), "rb") as f:
            self.assertNotEqual(f.read(8), b"\0" * 8)
        proc, answer = bundles.run_json(b)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(answer["response"]["body"], "base")

    def test_a_snapshot_or_heap_of_another_bundle_is_never_used(self):
        a = self.bundle("a", "def on_fetch(request):\n    return 'a'\n")
        b = self.bundle("b", "def on_fetch(request):\n    return 'b'\n")
        snap_a, snap_b = (os.path.join(x, "snapshot.bin.zst") for x in (a, b))
        heaps = os.path.join(bundles.RUNTIME_CACHE, "heaps")
        heap_a = os.path.join(heaps, support.file_sha256(snap_a) + ".raw")
        self.assertTrue(os.path.isfile(heap_a))  # kept when the snapshot was made
        # The cache keeps the newest few heaps: a's may be pruned by the runs below (or by another
        # run sharing the cache), so the test plants a copy of its own.
        kept = os.path.join(self.tmp, "heap-a.raw")
        shutil.copy(heap_a, kept)
        heap_a = kept
        meta_a = edit_metadata(snap_a, lambda m: None)
        # b's metadata names a's heap, and a's heap lies under every name metadata could give: a
        # heap cache keyed by metadata would restore a's app into b.
        meta_b = edit_metadata(snap_b, lambda m: m.update(id=meta_a["id"]))
        self.assertEqual(meta_a["raw_size"], meta_b["raw_size"])  # else the size check alone would refuse it
        for name in {meta_a["id"], meta_a["bundle_digest"], meta_b["bundle_digest"]}:
            planted = os.path.join(heaps, name + ".raw")
            shutil.copy(heap_a, planted)
            self.addCleanup(os.remove, planted)
        proc, answer = bundles.run_json(b)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertTrue(answer["restored"])
        self.assertEqual(answer["response"]["body"], "b")
        # a's heap under b's own name, but not a file only we can write: not used, replaced.
        heap_b = os.path.join(heaps, support.file_sha256(snap_b) + ".raw")
        shutil.copy(heap_a, heap_b)
        os.chmod(heap_b, 0o666)
        proc, answer = bundles.run_json(b)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual((answer["restored"], answer["response"]["body"]), (True, "b"))
        self.assertEqual(os.stat(heap_b).st_mode & 0o022, 0)
        shutil.copy(os.path.join(a, "snapshot.bin.zst"), os.path.join(b, "snapshot.bin.zst"))
        proc, _ = bundles.run_json(b)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("it was made for bundle digest", proc.stderr)

    def test_a_snapshot_of_another_runtime_build_is_refused(self):
        b = self.bundle("c", "def on_fetch(request):\n    return 'c'\n")
        edit_metadata(os.path.join(b, "snapshot.bin.zst"), lambda m: m.update(build_id="0" * 64))
        proc, _ = bundles.run_json(b)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("different build of Pyodide 0.29.3", proc.stderr)


class FailureCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pb-fail-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_an_entry_that_raises_fails_with_its_traceback(self):
        b = os.path.join(self.tmp, "raises")
        bundles.make_bundle(b, {"app.py": "import helper\n", "helper.py": "def f():\n    return 1 / 0\n\nVALUE = f()\n"})
        for args in (["snapshot", b], ["run", b, "--no-snapshot"]):
            proc = support.run(*args, env=bundles.env())
            self.assertEqual(proc.returncode, 1, proc.stderr)
            self.assertIn("Traceback (most recent call last)", proc.stderr)
            self.assertIn('File "app/helper.py", line 4', proc.stderr)  # a bundle that does not record its project path
            self.assertIn("ZeroDivisionError: division by zero", proc.stderr)
            self.assertIn("importing 'app' failed", proc.stderr)
        self.assertFalse(os.path.exists(os.path.join(b, "snapshot.bin.zst")))
        self.assertIsNone(bundles.load_json(os.path.join(b, "bundle.json"))["snapshot"])

    def test_a_handler_that_raises_fails_the_run_with_its_traceback(self):
        b = os.path.join(self.tmp, "handler")
        bundles.make_bundle(b, {"app.py": "def on_fetch(request):\n    raise KeyError('nope')\n"})
        proc, answer = bundles.run_json(b, "--no-snapshot")
        self.assertEqual(proc.returncode, 1)
        self.assertFalse(answer["ok"])
        self.assertEqual(answer["response"]["status"], 500)
        self.assertIn("KeyError: 'nope'", answer["traceback"])
        self.assertIn("KeyError: 'nope'", proc.stderr)

    def test_a_response_serve_could_not_send_fails_the_run(self):
        b = os.path.join(self.tmp, "badheader")
        bundles.make_bundle(b, {"app.py": "class R:\n    status = 200\n    headers = {'X-Bad': 'a\\r\\nInjected: 1'}\n"
                                          "    body = 'x'\n\ndef on_fetch(request):\n    return R()\n"})
        proc, answer = bundles.run_json(b, "--no-snapshot")
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertFalse(answer["ok"])
        self.assertIn('the handler\'s response cannot be sent: header "X-Bad"', proc.stderr)

    def test_an_entry_without_on_fetch_is_named(self):
        b = os.path.join(self.tmp, "nohandler")
        bundles.make_bundle(b, {"app.py": "x = 1\n"})
        proc, _ = bundles.run_json(b, "--no-snapshot")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("entry module 'app' (app/app.py) defines no on_fetch(request)", proc.stderr)
        # Making its snapshot fails the same way (a build would pass what run and check --bundle fail).
        proc = support.run("snapshot", b, env=bundles.env())
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("entry module 'app' (app/app.py) defines no on_fetch(request)", proc.stderr)
        self.assertFalse(os.path.exists(os.path.join(b, "snapshot.bin.zst")))

    def test_missing_node_says_what_to_install(self):
        b = os.path.join(self.tmp, "nonode")
        bundles.make_bundle(b, {"app.py": "def on_fetch(request):\n    return 'x'\n"})
        for args in (["run", b], ["snapshot", b], ["serve", b]):
            proc = support.run(*args, env=bundles.env(PATH="/nonexistent", PYBUNDLE_NODE=""))
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertIn("Node.js not found", proc.stderr)
            self.assertIn("apt-get install nodejs", proc.stderr)

    def test_top_level_entropy_is_reported_with_its_call_site(self):
        b = os.path.join(self.tmp, "entropy")
        app = ("import random, uuid, secrets\n"
               "def on_fetch(request):\n    return SESSION\n"
               "SESSION = str(uuid.uuid4())\n"
               "SALT = secrets.token_hex(8)\n"
               "ORDER = random.sample(range(10), 3)\n"
               "import time, datetime, logging\n"
               "EXPIRES = time.time() + 3600\n"
               "logging.getLogger('x').warning('read the clock in a library')\n"
               "STARTED = datetime.datetime.now()\n")
        bundles.make_bundle(b, {"app.py": app})
        proc = support.run("snapshot", b, "--level", "1", env=bundles.env())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("app/app.py:4: uuid.uuid4() runs while the snapshot is made", proc.stderr)
        self.assertIn("app/app.py:5: secrets.token_hex()", proc.stderr)
        self.assertIn("app/app.py:6: random.sample()", proc.stderr)
        # The app's own clock reads (an expiry computed at import is in 2020 in every restore), not logging's.
        self.assertIn("app/app.py:8: time.time() reads the clock while the snapshot is made, where it reads "
                      "2020-01-01", proc.stderr)
        self.assertIn("app/app.py:10: datetime.now() reads the clock", proc.stderr)
        meta = bundles.load_json(os.path.join(b, "bundle.json"))["snapshot"]
        self.assertEqual(meta["entropy_warnings"], 5)

    def test_an_async_handler_is_awaited(self):
        b = os.path.join(self.tmp, "async")
        bundles.make_bundle(b, {"app.py": "import asyncio\nasync def on_fetch(request):\n"
                                          "    await asyncio.sleep(0)\n    return b'\\x00\\xffraw'\n"})
        proc = support.run("snapshot", b, "--level", "1", env=bundles.env())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        proc, answer = bundles.run_json(b)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(answer["response"]["body_base64"], "AP9yYXc=")
        self.assertEqual(answer["response"]["headers"]["content-type"], "application/octet-stream")


if __name__ == "__main__":
    unittest.main()
