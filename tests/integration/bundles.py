"""Bundles made directly in tests (the format of notes/BUNDLE.md), and the environment that lets the
snapshot tests share one Pyodide runtime cache per machine."""
import hashlib
import json
import os
import signal
import subprocess
import urllib.error
import urllib.request
import zipfile

import support

TARGETS = {
    "0.27.7": {"pyodide": "0.27.7", "python": "3.12.7", "abi": "2024_0", "platform": "emscripten_3_1_58"},
    "0.29.3": {"pyodide": "0.29.3", "python": "3.13.2", "abi": "2025_0", "platform": "emscripten_4_0_9"},
    "314.0.7": {"pyodide": "314.0.7", "python": "3.14.2", "abi": "2026_0", "platform": "emscripten_5_0_3"},
}
RUNTIME_CACHE = os.path.join(support.CACHE_ROOT, "pybundle-cache")


def env(**extra):
    """Environment for pybundle: a shared cache, so each Pyodide runtime is installed once."""
    e = {"PYBUNDLE_CACHE_DIR": RUNTIME_CACHE}
    e.update(extra)
    return e


def default_hash_seed(manifest):
    """The str hash seed a snapshot gets unless given: from the bundle's python_modules/ files only."""
    h = hashlib.sha256()
    for f in manifest["files"]:
        if f["path"].startswith("python_modules/"):
            h.update(f["path"].encode() + b"\0" + f["sha256"].encode() + b"\n")
    return int(h.hexdigest()[:8], 16)


def base_snapshots():
    """The base snapshots (bare runtimes) in the test cache."""
    heaps = os.path.join(RUNTIME_CACHE, "heaps")
    return sorted(n for n in os.listdir(heaps) if n.startswith("base-") and n.endswith(".raw")) if os.path.isdir(heaps) else []


def write_manifest(dest, target="0.29.3", module="app", source=None):
    files = []
    for top in ("app", "python_modules"):
        for root, dirs, names in os.walk(os.path.join(dest, top)):
            dirs.sort()
            for n in names:
                p = os.path.join(root, n)
                files.append({"path": os.path.relpath(p, dest), "sha256": support.file_sha256(p), "size": os.path.getsize(p)})
    files.sort(key=lambda f: f["path"])
    digest = support.bundle_digest(files)
    manifest = {
        "schema": 1,
        "tool": "pybundle 0.1.0",
        "target": TARGETS[target],
        "entry": {"path": f"app/{module}.py", "module": module, **({"source": source} if source else {})},
        "packages": [],
        "files": files,
        "digest": digest,
        "snapshot": None,
    }
    with open(os.path.join(dest, "bundle.json"), "w") as f:
        f.write(json.dumps(manifest, indent=2) + "\n")
    return manifest


def make_bundle(dest, app, wheels=(), target="0.29.3", module="app", source=None):
    """A bundle in `dest`: `app` maps file names under app/ to source text; `wheels` are unpacked
    into python_modules/; `source`: the entry's path in a project (bundle.json entry.source)."""
    os.makedirs(os.path.join(dest, "python_modules"), exist_ok=True)
    for whl in wheels:
        with zipfile.ZipFile(whl) as z:
            z.extractall(os.path.join(dest, "python_modules"))
    for name, text in app.items():
        path = os.path.join(dest, "app", name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    return write_manifest(dest, target, module, source)


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def corpus_wheels(*sets):
    """The wheel files of the corpus sets (built once per machine)."""
    out = support.corpus(*sets)
    names = load_json(os.path.join(out, "corpus.json"))
    return [os.path.join(out, "wheels", w["filename"]) for w in names]


def run_json(bundle, *args, extra_env=None):
    """pybundle run BUNDLE --format json; returns (CompletedProcess, answer or None)."""
    proc = support.run("run", bundle, "--format", "json", *args, env=env(**(extra_env or {})))
    answer = None
    lines = proc.stdout.splitlines()
    for i in reversed(range(len(lines))):
        if lines[i].startswith("{"):  # one line, or a failure object printed over several
            answer = json.JSONDecoder().raw_decode("\n".join(lines[i:]))[0]
            break
    return proc, answer


def wheel(dest_dir, name, files):
    """A py3-none-any wheel `name`-1.0 in dest_dir holding `files` (archive path -> bytes)."""
    whl = os.path.join(dest_dir, f"{name}-1.0-py3-none-any.whl")
    info = f"{name}-1.0.dist-info"
    files = dict(files)
    files[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode()
    files[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = "".join(f"{n},,\n" for n in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(whl, "w") as z:
        for n, data in files.items():
            z.writestr(n, data)
        z.writestr(f"{info}/RECORD", record)
    return whl


def fixture_so(name):
    """A compiled wasm32 side module from fixtures/extension (built by its build.sh)."""
    with open(os.path.join(support.REPO, "fixtures", "extension", name), "rb") as f:
        return f.read()


def extfix_wheel(dest_dir):
    """The extension fixtures as one wheel: _state (static state, a stored callback), libcore.so and
    _linked (which needs libcore, loaded first and globally), _needs (which names libbase.so as needed
    in its dylink section: the loader loads it first), _lazy (for imports after a restore)."""
    init = (b"import ctypes, os\n"
            b"here = os.path.dirname(__file__)\n"
            b"# libcore.so first, into the global namespace: _linked.so's core_* functions come from it.\n"
            b"core = ctypes.CDLL(os.path.join(here, 'libcore.so'), mode=ctypes.RTLD_GLOBAL)\n"
            b"# Where the loader finds libbase.so, which _needs.so needs (a wheel's shared library directory).\n"
            b"os.environ['LD_LIBRARY_PATH'] = here + ':' + os.environ.get('LD_LIBRARY_PATH', '')\n"
            b"from . import _state, _linked, _needs\n")
    files = {"extfix/__init__.py": init}
    for so in ("_state.so", "libcore.so", "_linked.so", "libbase.so", "_needs.so", "_lazy.so"):
        files["extfix/" + so] = fixture_so(so)
    return wheel(dest_dir, "extfix", files)


class ServedBundle:
    """For a TestCase class that serves one bundle for all its tests: start_server() in setUpClass
    (cls.tmp set), stop_server() in tearDownClass; then self.startup, self.base, self.log(), self.fetch()."""

    @classmethod
    def start_server(cls, bundle, *args):
        cls.stderr_path = os.path.join(cls.tmp, "stderr.txt")
        cls.stderr = open(cls.stderr_path, "w")
        cls.proc = subprocess.Popen([support.PYBUNDLE, "serve", bundle, "--port", "0", "--format", "json", *args],
                                    stdout=subprocess.PIPE, stderr=cls.stderr, text=True, env=dict(os.environ, **env()))
        line = cls.proc.stdout.readline()
        if not line:
            cls.proc.wait()
            raise AssertionError("serve exited: " + cls.log())
        cls.startup = json.loads(line)
        cls.base = cls.startup["listening"].rstrip("/")

    @classmethod
    def stop_server(cls):
        cls.proc.send_signal(signal.SIGTERM)
        cls.proc.wait()
        cls.proc.stdout.close()
        cls.stderr.close()

    @classmethod
    def log(cls):
        with open(cls.stderr_path) as f:
            return f.read()

    def fetch(self, path, data=None, headers=None, method=None):
        req = urllib.request.Request(self.base + path, data=data, headers=headers or {}, method=method)
        try:
            with urllib.request.urlopen(req) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()
