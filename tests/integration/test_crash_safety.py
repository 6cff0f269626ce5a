"""Crash safety: `pybundle build` is killed with SIGKILL at random moments of its fetch, extraction
and snapshot phases, then run again. After every kill and every rebuild the output directory is a
complete bundle (the previous one or the new one, never a mix), the download cache holds no entry
whose content does not match its name, and the rebuild leaves nothing behind next to the output.

The schedule is random; the seed is printed. PYBUNDLE_CRASH_SEED=N replays one schedule,
PYBUNDLE_CRASH_RUNS=N changes the number of kills per phase (default 8, so 24 kills)."""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import bundles
import support
from server import FaultServer

TARGET = "0.29.3"
CORPUS_BASE = "http://127.0.0.1:8765"
PHASES = ("fetch", "extract", "snapshot")
POLL = 0.002


def children(pid):
    """Direct children of a process (the Node host of a snapshot), from /proc."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


class CrashSafetyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.seed = int(os.environ.get("PYBUNDLE_CRASH_SEED") or random.SystemRandom().randrange(1 << 32))
        cls.runs = int(os.environ.get("PYBUNDLE_CRASH_RUNS") or 8)
        print(f"\ncrash-safety seed {cls.seed} (PYBUNDLE_CRASH_SEED={cls.seed} replays this schedule)",
              file=sys.stderr, flush=True)
        cls.rng = random.Random(cls.seed)
        corpus = support.corpus("flask-app")
        cls.tmp = tempfile.mkdtemp(prefix="pb-crash-")
        # Two variants of one project: the same lock, a different app module.
        cls.projects = {}
        for variant in ("a", "b"):
            dest = os.path.join(cls.tmp, "project-" + variant)
            shutil.copytree(os.path.join(corpus, "project"), dest)
            with open(os.path.join(dest, "src", "app.py"), "a") as f:
                f.write(f"\nVARIANT = {variant!r}\n")
            cls.projects[variant] = dest
        cls.out_parent = os.path.join(cls.tmp, "outs")
        os.makedirs(cls.out_parent)
        cls.out = os.path.join(cls.out_parent, "out")
        cls.cache = os.path.join(cls.tmp, "cache")
        cls.server = FaultServer(corpus)
        # A killed build resets its connections mid-body: expected here, so not printed.
        cls.server.httpd.handle_error = lambda request, client_address: None
        cls.server.start()
        # The Pyodide runtime comes from the tests' shared runtime cache (installed once per machine).
        proc = support.run("plan", cls.projects["a"], "--target", "pyodide@" + TARGET,
                           env=bundles.env())
        if proc.returncode != 0:
            raise AssertionError(f"pybundle plan failed:\n{proc.stderr}")
        cls.env = dict(os.environ, PYBUNDLE_CACHE_DIR=cls.cache,
                       PYBUNDLE_PYODIDE_DIR=os.path.join(bundles.RUNTIME_CACHE, "runtimes",
                                                         "pyodide-" + TARGET, "node_modules", "pyodide"))

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # -- driving builds ---------------------------------------------------------------------------

    def start(self, variant):
        err = tempfile.TemporaryFile()
        self.addCleanup(err.close)
        proc = subprocess.Popen(
            [support.PYBUNDLE, "build", self.projects[variant], "--out", self.out, "--target", "pyodide@" + TARGET,
             "--mirror", f"{CORPUS_BASE}={self.server.base_url}"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=err)
        proc.errfile = err
        return proc

    def build(self, variant):
        """A build that runs to the end; returns how long its phases took."""
        proc = self.start(variant)
        t0 = time.monotonic()
        marks = {}
        while proc.poll() is None:
            if "fetch" not in marks and self.wheel_requests():
                marks["fetch"] = time.monotonic()
            p = self.phase()
            if p != "fetch" and p not in marks:
                marks[p] = time.monotonic()
            time.sleep(POLL)
        self.assertEqual(proc.returncode, 0, f"build of variant {variant} failed:\n{self.stderr_of(proc)}")
        end = time.monotonic()
        fetch = marks.get("fetch", t0)
        extract = marks.get("extract", fetch)
        snapshot = marks.get("snapshot", extract)
        return {"fetch": extract - fetch, "extract": snapshot - extract, "snapshot": end - snapshot}

    @staticmethod
    def stderr_of(proc):
        proc.errfile.seek(0)
        return proc.errfile.read().decode(errors="replace")

    def staging(self):
        """The build's staging directories next to OUT."""
        return [os.path.join(self.out_parent, n) for n in os.listdir(self.out_parent) if n != "out"]

    def phase(self):
        """Where a running build is, from what it has written: a staging directory appears when
        extraction starts, and its bundle.json once extraction is done and the snapshot starts."""
        st = self.staging()
        if not st:
            return "fetch"
        return "snapshot" if any(os.path.exists(os.path.join(d, "bundle.json")) for d in st) else "extract"

    def wait_for(self, proc, ready):
        while proc.poll() is None:
            if ready():
                return True
            time.sleep(POLL)
        return False

    def wheel_requests(self):
        return sum(1 for e in self.server.log if e["path"].endswith(".whl") and e["method"] == "GET")

    def timeline(self, variant):
        """A build with slowed downloads and an empty wheel cache: how long fetching takes."""
        shutil.rmtree(os.path.join(self.cache, "wheels"), ignore_errors=True)
        self.server.clear()
        self.server.add_fault("*", "drip", times=None, chunk=16384, interval=0.01)
        spans = self.build(variant)
        self.server.clear()
        return spans

    def kill_in(self, variant, phase, span):
        """Start a build of `variant`, wait for `phase`, kill it a random moment into it. Returns
        the phase the kill landed in (None when the build finished first)."""
        if phase == "fetch":
            shutil.rmtree(os.path.join(self.cache, "wheels"), ignore_errors=True)
            self.server.clear()
            self.server.add_fault("*", "drip", times=None, chunk=16384, interval=0.01)
        proc = self.start(variant)
        if phase == "fetch":
            reached = self.wait_for(proc, lambda: self.wheel_requests() > 0)
        else:
            reached = self.wait_for(proc, lambda: self.phase() == phase)
        delay = self.rng.uniform(0, span)
        deadline = time.monotonic() + delay
        while reached and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(POLL)
        landed = None
        if proc.poll() is None:
            landed = self.phase()
            hosts = children(proc.pid)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            # The Node host dies with its parent (PDEATHSIG); let it go before looking at the files.
            while any(alive(h) for h in hosts):
                time.sleep(0.01)
        else:
            proc.wait()
        self.server.clear()
        return landed, delay

    # -- checking ---------------------------------------------------------------------------------

    def bundle_state(self):
        """The digest of OUT's bundle, after checking that it is complete: every listed file with its
        size and sha256, nothing unlisted, the snapshot its manifest describes."""
        manifest_path = os.path.join(self.out, "bundle.json")
        self.assertTrue(os.path.isfile(manifest_path), f"{self.out} has no bundle.json: {self.listing()}")
        manifest = bundles.load_json(manifest_path)
        listed = {f["path"]: f for f in manifest["files"]}
        found = set()
        top = set(os.listdir(self.out))
        allowed = {"bundle.json", "app", "python_modules"}
        if manifest.get("snapshot"):
            snap = manifest["snapshot"]
            name = snap.get("file", "snapshot.bin.zst")
            allowed.add(name)
            allowed.add("import-times.json")  # the snapshot build's measurements, beside bundle.json
            path = os.path.join(self.out, name)
            self.assertTrue(os.path.isfile(path), f"{name} listed but missing")
            if "size" in snap:
                self.assertEqual(os.path.getsize(path), snap["size"], f"{name} is not the listed size")
            if "sha256" in snap:
                self.assertEqual(support.file_sha256(path), snap["sha256"], f"{name} is not the listed content")
        self.assertLessEqual(top, allowed, "unexpected entries in OUT")
        for sub in ("app", "python_modules"):
            for root, _, names in os.walk(os.path.join(self.out, sub)):
                for n in names:
                    found.add(os.path.relpath(os.path.join(root, n), self.out))
        self.assertEqual(found, set(listed), "OUT's files differ from bundle.json's list")
        for rel, f in listed.items():
            path = os.path.join(self.out, rel)
            self.assertEqual(os.path.getsize(path), f["size"], rel)
            self.assertEqual(support.file_sha256(path), f["sha256"], rel)
        self.assertEqual(support.bundle_digest(manifest["files"]), manifest["digest"])
        return manifest["digest"]

    def check_cache(self):
        """Every complete cache entry holds the bytes its name promises."""
        root = os.path.join(self.cache, "wheels")
        checked = 0
        for dirpath, _, names in os.walk(root):
            for n in names:
                path = os.path.join(dirpath, n)
                if n.endswith(".part") or n.startswith("."):
                    continue  # a download in progress (resumed or discarded by the next build)
                self.assertRegex(n, r"^[0-9a-f]{64}$", f"unexpected file in the cache: {path}")
                self.assertEqual(os.path.basename(dirpath), n[:2], path)
                self.assertEqual(support.file_sha256(path), n, f"corrupt cache entry {path}")
                checked += 1
        return checked

    def listing(self):
        return sorted(os.listdir(self.out_parent))

    # -- the test ---------------------------------------------------------------------------------

    def test_sigkill_at_random_moments(self):
        spans = self.timeline("a")
        digests = {"a": self.bundle_state()}
        self.build("b")
        digests["b"] = self.bundle_state()
        self.assertNotEqual(digests["a"], digests["b"])
        # Extraction and snapshot from a warm build (the first snapshot of a machine is slower).
        warm = self.build("a")
        spans.update(extract=warm["extract"], snapshot=warm["snapshot"])
        print("phase durations (s): " + ", ".join(f"{k} {v:.2f}" for k, v in spans.items()), file=sys.stderr)
        current = "a"
        plan = [p for p in PHASES for _ in range(self.runs)]
        self.rng.shuffle(plan)
        landed = {p: 0 for p in PHASES}
        finished = 0
        for i, phase in enumerate(plan):
            new = "b" if current == "a" else "a"
            where, delay = self.kill_in(new, phase, spans[phase])
            what = f"run {i} (seed {self.seed}): kill aimed at {phase} +{delay:.3f}s landed in {where}"
            if where is None:
                finished += 1
            else:
                landed[where] += 1
            with self.subTest(what):
                digest = self.bundle_state()
                self.assertIn(digest, (digests[current], digests[new]), "OUT is neither bundle")
                self.check_cache()
                if where is None:
                    self.assertEqual(digest, digests[new], "a finished build did not replace OUT")
            # The rebuild succeeds, gives the new bundle, and leaves nothing next to OUT.
            rebuilt = self.build(new)
            spans.update(extract=rebuilt["extract"], snapshot=rebuilt["snapshot"])
            with self.subTest(what + ", rebuild"):
                self.assertEqual(self.bundle_state(), digests[new])
                self.assertEqual(self.listing(), ["out"], "leftovers next to OUT after a rebuild")
                self.assertGreater(self.check_cache(), 0)
            current = new
        print(f"kills landed: {landed}, builds that finished before the kill: {finished}", file=sys.stderr)
        for p in PHASES:
            self.assertGreater(landed[p], 0, f"no kill landed in {p}: {landed}")


if __name__ == "__main__":
    unittest.main()
