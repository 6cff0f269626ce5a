"""Shared helpers for integration tests: the binary, the wheel corpus, loopback servers."""
import base64
import contextlib
import functools
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYBUNDLE = os.environ.get("PYBUNDLE", os.path.join(REPO, "build", "pybundle"))
SHARED = os.environ.get("PYBUNDLE_SHARED", os.path.join(os.path.dirname(REPO), "shared"))
REAL_LOCKS = os.path.join(SHARED, "real-locks")
CACHE_ROOT = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "pybundle-tests")


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def record_hash(data):
    """A wheel RECORD's hash field for `data`."""
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def bundle_digest(files):
    """bundle.json's digest: sha256 of "path<TAB>sha256<LF>" for every listed file, in path order."""
    return hashlib.sha256("".join(f"{f['path']}\t{f['sha256']}\n" for f in sorted(files, key=lambda f: f["path"]))
                          .encode()).hexdigest()


def run(*args, env=None, cwd=None, check=False, timeout=None):
    """Run pybundle; returns CompletedProcess with text stdout/stderr."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run([PYBUNDLE, *map(str, args)], capture_output=True, text=True, env=full_env,
                          cwd=cwd, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"pybundle {' '.join(map(str, args))} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


@functools.lru_cache(maxsize=None)
def corpus(*sets, base_url="http://127.0.0.1:8765"):
    """Build (once per machine) the debian-wheels corpus for `sets`; returns its directory.
    The directory holds wheels/, simple/, corpus.json and project/ (uv.lock pointing at base_url)."""
    key = "-".join(sorted(sets)) + "-" + base_url.replace(":", "_").replace("/", "_")
    out = os.path.join(CACHE_ROOT, "corpus", key)
    if os.path.exists(os.path.join(out, "corpus.json")):
        return out
    tool = os.path.join(SHARED, "corpus", "debian-wheels")
    if not os.path.exists(tool):
        raise unittest_skip(f"corpus tool not found at {tool}")
    tmp = tempfile.mkdtemp(dir=os.path.dirname(out) if os.path.isdir(os.path.dirname(out)) else None)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    args = [sys.executable, tool, "build", "--out", tmp, "--base-url", base_url]
    for s in sets:
        args += ["--set", s]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    try:
        os.rename(tmp, out)
    except OSError:  # another test process built it first
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def unittest_skip(reason):
    import unittest
    return unittest.SkipTest(reason)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve_directory(directory, handler=QuietHandler):
    """Serve `directory` on 127.0.0.1 (a free port) in a thread; yields the base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(handler, directory=directory))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def copy_project(src, dest_parent):
    """Copy a project directory (pyproject.toml, uv.lock, sources) for a test to modify."""
    dest = os.path.join(dest_parent, os.path.basename(os.path.normpath(src)))
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("index", "__pycache__"))
    return dest


def load_json(text):
    return json.loads(text)


EXAMPLE = os.path.join(REPO, "fixtures", "example")


class ExampleProjectCase(unittest.TestCase):
    """Each test gets its own copy of fixtures/example (self.project; self.out beside it in self.tmp);
    the class serves the example's package index on loopback (self.base)."""
    tmp_prefix = "pb-example-"

    @classmethod
    def setUpClass(cls):
        cls._server = serve_directory(os.path.join(EXAMPLE, "index"))
        cls.base = cls._server.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls._server.__exit__(None, None, None)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix=self.tmp_prefix)
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.project = copy_project(EXAMPLE, self.tmp)
        self.out = os.path.join(self.tmp, "out")
