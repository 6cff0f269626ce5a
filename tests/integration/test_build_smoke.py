"""`pybundle build`: every trimmed bundle still imports what imported before trimming (the host's
smoke mode); a trim that breaks an import fails the build and names the file."""
import hashlib
import json
import os
import shutil
import tempfile
import unittest
import zipfile

import bundles
import support

TARGET = "pyodide@0.29.3"

# Wheels made here: each package's import needs a file that default trimming or an exclude glob drops,
# except `optional_extra`, which fails with or without trimming (an optional dependency).
PACKAGES = {
    "trimpkg": {"trimpkg/__init__.py": "from . import tests\n\nVALUE = tests.VALUE\n",
                "trimpkg/tests/__init__.py": "VALUE = 1\n",
                "trimpkg/tests/test_value.py": "def test_value():\n    pass\n"},
    "stubread": {"stubread/__init__.py": "import os\n\nwith open(os.path.join(os.path.dirname(__file__), 'api.pyi')) as f:\n"
                                         "    API = f.read()\n",
                 "stubread/api.pyi": "def f() -> int: ...\n"},
    "datapkg": {"datapkg/__init__.py": "import json, os\n\nDATA = json.load(open(os.path.join(os.path.dirname(__file__), "
                                       "'table.json')))\n",
                "datapkg/table.json": "{\"a\": 1}\n"},
    "extras": {"optional_extra.py": "import not_installed_anywhere\n", "extras_core.py": "X = 1\n",
               "extras_core_docs/README.md": "docs\n"},
}


def make_wheel(directory, name, files):
    filename = f"{name}-1.0-py3-none-any.whl"
    info = f"{name}-1.0.dist-info"
    contents = {path: text.encode() for path, text in files.items()}
    contents[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode()
    contents[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = "".join(f"{p},{support.record_hash(d)},{len(d)}\n" for p, d in contents.items()) + f"{info}/RECORD,,\n"
    path = os.path.join(directory, filename)
    with zipfile.ZipFile(path, "w") as z:
        for p, d in contents.items():
            z.writestr(p, d)
        z.writestr(f"{info}/RECORD", record)
    with open(path, "rb") as f:
        data = f.read()
    return filename, hashlib.sha256(data).hexdigest(), len(data)


def write_project(root, base, wheels, exclude, packages=PACKAGES):
    os.makedirs(os.path.join(root, "src"))
    with open(os.path.join(root, "src", "app.py"), "w") as f:
        f.write("def on_fetch(request):\n    return 'ok'\n")
    deps = "".join(f'    "{n}",\n' for n in packages)
    with open(os.path.join(root, "pyproject.toml"), "w") as f:
        f.write(f'[project]\nname = "smoke-app"\nversion = "0.1.0"\nrequires-python = ">=3.12"\n'
                f'dependencies = [\n{deps}]\n\n[tool.pybundle]\nentry = "src/app.py"\nexclude = {exclude!r}\n'
                .replace("'", '"'))
    lock = ['version = 1\nrevision = 3\nrequires-python = ">=3.12"\n\n[[package]]\nname = "smoke-app"\n'
            'version = "0.1.0"\nsource = { virtual = "." }\ndependencies = [\n' +
            "".join(f'    {{ name = "{n}" }},\n' for n in packages) + ']\n\n[package.metadata]\nrequires-dist = [\n' +
            "".join(f'    {{ name = "{n}" }},\n' for n in packages) + ']\n']
    for name, (filename, sha, size) in sorted(wheels.items()):
        lock.append(f'\n[[package]]\nname = "{name}"\nversion = "1.0"\nsource = {{ registry = "{base}/simple" }}\n'
                    f'wheels = [\n    {{ url = "{base}/wheels/{filename}", hash = "sha256:{sha}", size = {size} }},\n]\n')
    with open(os.path.join(root, "uv.lock"), "w") as f:
        f.write("".join(lock))


class BuildSmokeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="pb-build-smoke-")
        index = os.path.join(cls.tmp, "index")
        os.makedirs(os.path.join(index, "wheels"))
        wheels = {n: make_wheel(os.path.join(index, "wheels"), n, files) for n, files in PACKAGES.items()}
        cls._server = support.serve_directory(index)
        base = cls._server.__enter__()
        cls.project = os.path.join(cls.tmp, "project")
        write_project(cls.project, base, wheels, ["*.json"])

    @classmethod
    def tearDownClass(cls):
        cls._server.__exit__(None, None, None)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def build(self, *args):
        out = tempfile.mkdtemp(dir=self.tmp)
        shutil.rmtree(out)
        proc = support.run("build", self.project, "--out", out, "--target", TARGET, "--no-snapshot", *args,
                           env=bundles.env())
        return proc, out

    def test_a_trim_that_breaks_an_import_fails_the_build_and_names_the_file(self):
        proc, out = self.build()
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertFalse(os.path.exists(out))
        err = proc.stderr
        # Default trimming: a tests package the package imports, a stub it reads.
        self.assertIn("trimming breaks module 'trimpkg' (trimpkg): ImportError: cannot import name 'tests'", err)
        self.assertIn("it needs python_modules/trimpkg/tests/__init__.py, python_modules/trimpkg/tests/test_value.py, "
                      "dropped as tests from trimpkg-1.0-py3-none-any.whl; keep it with --keep 'trimpkg/tests/**'", err)
        self.assertIn("trimming breaks module 'stubread' (stubread): FileNotFoundError", err)
        self.assertIn("it needs python_modules/stubread/api.pyi, dropped as stubs", err)
        # A user exclude glob.
        self.assertIn("trimming breaks module 'datapkg' (datapkg): FileNotFoundError", err)
        self.assertIn("it needs python_modules/datapkg/table.json, dropped as exclude from datapkg-1.0-py3-none-any.whl; "
                      "keep it with --keep 'datapkg/table.json' or narrow [tool.pybundle] exclude", err)
        # Never imported, trimmed or not: a warning only.
        self.assertIn("warning: module 'optional_extra' (extras) does not import, not because of trimming: "
                      "ModuleNotFoundError: No module named 'not_installed_anywhere'", err)
        self.assertNotIn("'extras_core'", err)

    def test_keep_mends_it_and_no_smoke_skips_it(self):
        proc, out = self.build("--keep", "trimpkg/tests/**", "--keep", "*.pyi", "--keep", "datapkg/table.json")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertTrue(os.path.exists(os.path.join(out, "python_modules", "trimpkg", "tests", "__init__.py")))
        self.assertIn("'optional_extra' (extras) does not import", proc.stderr)
        # Without the smoke run the broken bundle is built.
        proc, out = self.build("--no-smoke")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertNotIn("does not import", proc.stderr)
        self.assertFalse(os.path.exists(os.path.join(out, "python_modules", "stubread", "api.pyi")))

    def test_check_bundle_names_what_trimming_dropped_as_the_build_does(self):
        proc, out = self.build("--no-smoke")  # the bundle the smoke run would have refused
        self.assertEqual(proc.returncode, 0, proc.stderr)
        proc = support.run("check", "--bundle", out, "--format", "json", env=bundles.env())
        self.assertEqual(proc.returncode, 1, proc.stderr)
        smoke = next(c for c in json.loads(proc.stdout)["checks"] if c["name"] == "smoke")
        fixes = {f["message"].split("'")[1]: f["fix"] for f in smoke["findings"] if f["severity"] == "error"}
        self.assertEqual(set(fixes), {"trimpkg", "stubread", "datapkg"})
        self.assertTrue(fixes["datapkg"].startswith("python_modules/datapkg/table.json was left out of the bundle by "
                                                    "the build's trimming (or --minimize); rebuild with --keep "
                                                    "'datapkg/table.json'"), fixes["datapkg"])
        self.assertTrue(fixes["stubread"].startswith("python_modules/stubread/api.pyi was left out"), fixes["stubread"])
        # `from . import tests` of a package still being initialised: an ImportError naming the package.
        self.assertTrue(fixes["trimpkg"].startswith("module 'trimpkg.tests' was left out of the bundle by the build's "
                                                    "trimming (or --minimize): python_modules/trimpkg/tests/"),
                        fixes["trimpkg"])
        self.assertIn("rebuild with --keep 'trimpkg/tests/**'", fixes["trimpkg"])

    def replace_app(self, text):
        """Gives the project's entry `text` until the test ends."""
        app = os.path.join(self.project, "src", "app.py")
        with open(app) as f:
            source = f.read()
        def restore():
            with open(app, "w") as f:
                f.write(source)
        self.addCleanup(restore)
        with open(app, "w") as f:
            f.write(text)

    def test_an_entry_without_a_handler_fails_a_build_without_snapshot(self):
        # A snapshot build looks the handler up when it makes the snapshot; without one the smoke
        # does, or the bundle would pass the build and fail run, serve and check --bundle.
        self.replace_app("def handler(request):\n    return 'ok'\n")
        proc, out = self.build("--no-trim")
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("entry module 'app' (app/app.py) defines no on_fetch(request) and no class Default", proc.stderr)
        self.assertFalse(os.path.exists(out))

    def test_an_entry_with_a_framework_app_and_no_handler_is_told_what_it_has(self):
        self.replace_app("class Flask:  # as flask.Flask looks to the host\n"
                         "    def wsgi_app(self, environ, start_response): ...\n"
                         "    def __call__(self, environ, start_response): ...\n"
                         "    def test_client(self): ...\n\n\nsite = Flask()\n")
        proc, out = self.build("--no-trim")
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("defines no on_fetch(request) and no class Default(WorkerEntrypoint); its 'site' is a WSGI app "
                      "(app.Flask), which nothing calls by itself: add def on_fetch(request): return "
                      "site.test_client().open(request.url, method=request.method, ", proc.stderr)
        self.replace_app("class Quart:  # an ASGI framework's app\n"
                         "    async def asgi_app(self, scope, receive, send): ...\n"
                         "    async def __call__(self, scope, receive, send): ...\n\n\napi = Quart()\n")
        proc, out = self.build("--no-trim")
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("; its 'api' is an ASGI app (app.Quart), which nothing calls by itself: define "
                      "async def on_fetch(request) that passes the request to it", proc.stderr)

    def test_warnings_name_files_as_the_project_has_them(self):
        # Python printed them under the bundle's mount point (/bundle/app/app.py).
        self.replace_app("import warnings\nwarnings.warn('at import')\n\n\ndef on_fetch(request):\n"
                         "    warnings.warn('in handler')\n    return 'ok'\n")
        proc, out = self.build("--no-trim", "--keep", "datapkg/table.json")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        proc = support.run("run", out, env=bundles.env())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("src/app.py:2: UserWarning: at import\n  warnings.warn('at import')\n", proc.stderr)
        self.assertIn("src/app.py:6: UserWarning: in handler\n  warnings.warn('in handler')\n", proc.stderr)
        self.assertNotIn("/bundle/", proc.stderr)

    def test_an_entry_that_raises_in_a_snapshot_build_shows_its_traceback_once(self):
        # The snapshot's import printed it, then the smoke's error showed it again.
        self.replace_app("raise RuntimeError('boom at import')\n")
        out = os.path.join(self.tmp, "raising")
        proc = support.run("build", self.project, "--out", out, "--target", TARGET, "--keep", "trimpkg/tests/**",
                           "--keep", "*.pyi", "--keep", "datapkg/table.json", env=bundles.env())
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("the entry module 'app' does not import: RuntimeError: boom at import (src/app.py:1)", proc.stderr)
        self.assertEqual(proc.stderr.count("Traceback (most recent call last)"), 1, proc.stderr)
        self.assertFalse(os.path.exists(out))


class SmokeAfterSnapshotTest(unittest.TestCase):
    """The smoke imports run in the snapshot's process after the heap is written; one that grows the
    memory must not change what the bundle records about the heap (it did: the bundle then failed to
    restore as "edited or damaged")."""

    def test_a_smoke_import_that_grows_the_memory_leaves_a_bundle_that_restores(self):
        tmp = tempfile.mkdtemp(prefix="pb-smoke-grow-")
        self.addCleanup(shutil.rmtree, tmp, True)
        index = os.path.join(tmp, "index")
        os.makedirs(os.path.join(index, "wheels"))
        # A tests package default trimming drops, so the build's smoke run imports bigpkg.
        big = {"bigpkg/__init__.py": "BUFFER = bytearray(96 << 20)  # grows the wasm memory\n",
               "bigpkg/tests/__init__.py": ""}
        wheels = {"bigpkg": make_wheel(os.path.join(index, "wheels"), "bigpkg", big)}
        with support.serve_directory(index) as base:
            project = os.path.join(tmp, "project")
            write_project(project, base, wheels, [], packages=["bigpkg"])
            out = os.path.join(tmp, "out")
            proc = support.run("build", project, "--out", out, "--target", TARGET, env=bundles.env())
            self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(os.path.join(out, "bundle.json")) as f:
            snap = json.load(f)["snapshot"]
        self.assertLess(snap["heap_size"], 96 << 20)  # the heap as written, before the smoke import
        proc = support.run("run", out, env=bundles.env())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("restored from the snapshot", proc.stderr)


if __name__ == "__main__":
    unittest.main()
