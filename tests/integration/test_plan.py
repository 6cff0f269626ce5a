"""`pybundle plan` and `pybundle why` on the ten real lockfiles and on small edited copies."""
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import tomllib
import unittest

import support

VERSIONS = ["0.27.7", "0.29.3", "314.0.7"]
FASTAPI = "cloudflare__python-workers-examples__03-fastapi"


def runtime(version):
    """A Pyodide runtime directory: the npm package when installed, else the repo's fixture."""
    for candidate in (os.environ.get(f"PYBUNDLE_TEST_RUNTIME_{version.replace('.', '_')}"),
                      f"/tmp/pyo/{version}/node_modules/pyodide",
                      os.path.join(support.REPO, "fixtures", "targets", version)):
        if candidate and os.path.exists(os.path.join(candidate, "pyodide-lock.json")):
            return candidate
    raise unittest.SkipTest(f"no Pyodide {version} runtime")


def real_locks():
    if not os.path.isdir(support.REAL_LOCKS):
        raise unittest.SkipTest(f"real locks not found at {support.REAL_LOCKS}")
    return sorted(os.path.join(support.REAL_LOCKS, d) for d in os.listdir(support.REAL_LOCKS))


def plan(project, version, *args, env=None):
    """Run `plan --format json`; returns (returncode, parsed JSON or None, stderr).
    The real locks are copied without their workspace members' directories, so they cannot match
    pyproject.toml: they are planned --frozen (a stale lock is an error by default)."""
    if project.startswith(support.REAL_LOCKS + os.sep) and "--locked" not in args:
        args = ("--frozen", *args)
    proc = support.run("plan", project, "--target", f"pyodide@{version}", "--runtime", runtime(version),
                       "--format", "json", *args, env=env)
    try:
        doc = json.loads(proc.stdout)
    except json.JSONDecodeError:
        doc = None
    return proc.returncode, doc, proc.stderr


class IsolatedCache(unittest.TestCase):
    """Each test gets its own cache, so METADATA cached by one test never answers another."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pb-plan-test-")
        self.env = {"PYBUNDLE_CACHE_DIR": os.path.join(self.tmp, "cache")}

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


class RealLocks(IsolatedCache):
    def check_plan(self, project, version, *args):
        rc, doc, err = plan(project, version, *args, env=self.env)
        where = f"{os.path.basename(project)} on {version} {' '.join(args)}"
        self.assertIn(rc, (0, 1), f"{where}: exit {rc}\n{err}")
        self.assertIsNotNone(doc, f"{where}: no JSON\n{err}")
        self.assertEqual(doc["schema"], 1)
        self.assertEqual(doc["target"]["pyodide"], version)
        self.assertEqual(rc == 0, doc["ok"], where)
        self.assertEqual(rc == 0, not doc["problems"], where)
        for problem in doc["problems"]:
            self.assertTrue(problem["message"], f"{where}: a problem without a reason")
        for item in doc["packages"]:
            self.assertIn(item["origin"], ("lock-wheel", "pyodide", "source"))
            if item["origin"] != "source":
                self.assertTrue(item["filename"].endswith((".whl", ".zip", ".tar")), item)
                self.assertTrue(item["url"] or item["path"], item)
        names = [p["name"] for p in doc["packages"]]
        self.assertEqual(names, sorted(names))
        self.assertEqual(len(names), len(set(names)), f"{where}: a package listed twice")
        return doc

    def test_every_real_lock_plans_for_every_release(self):
        for project in real_locks():
            for version in VERSIONS:
                with self.subTest(project=os.path.basename(project), version=version):
                    self.check_plan(project, version)

    def test_every_real_lock_plans_with_everything_selected(self):
        for project in real_locks():
            for version in VERSIONS:
                with self.subTest(project=os.path.basename(project), version=version):
                    rc, doc, err = plan(project, version, "--all-groups", "--all-extras", env=self.env)
                    if rc == 2:  # uv refuses the same: declared conflicts chosen together
                        self.assertIn("declared as conflicting", err)
                        continue
                    self.check_plan(project, version, "--all-groups", "--all-extras")

    def test_pyemscripten_2026_wheels_on_314_only(self):
        seen_2026 = 0
        for project in real_locks():
            with open(os.path.join(project, "uv.lock"), "rb") as f:
                lock = tomllib.load(f)
            has_2026 = {(p["name"], p.get("version")) for p in lock.get("package", [])
                        if any("pyemscripten_2026_0_wasm32" in w.get("url", "") for w in p.get("wheels", []))}
            for version in VERSIONS:
                rc, doc, err = plan(project, version, "--all-groups", "--all-extras", "--no-dev", env=self.env)
                if rc == 2:
                    continue
                for item in doc["packages"]:
                    chosen = item["filename"] or ""
                    if version == "0.27.7":
                        self.assertNotIn("pyemscripten_2026_0", chosen, item)
                    if version == "314.0.7" and (item["name"], item["version"]) in has_2026:
                        self.assertEqual(item["origin"], "lock-wheel", item)
                        self.assertIn("pyemscripten_2026_0_wasm32", chosen, item)
                        seen_2026 += 1
        self.assertGreater(seen_2026, 5, "the real locks should exercise pyemscripten_2026_0 wheels")

    def test_a_pyemscripten_2025_wheel_is_chosen_on_0_29(self):
        project = os.path.join(support.REAL_LOCKS, "huggingface__lerobot__root")
        if not os.path.exists(project):
            self.skipTest("lerobot lock not present")
        rc, doc, err = plan(project, "0.29.3", "--all-groups", "--all-extras", env=self.env)
        chosen = {p["name"]: p["filename"] for p in doc["packages"]}
        self.assertEqual(chosen.get("librt"), "librt-0.13.0-cp313-cp313-pyemscripten_2025_0_wasm32.whl")


class BigLock(IsolatedCache):
    """Planning a lock costs a small multiple of its size in memory (bench/plan_rss.sh measures it)."""

    def peak_kib(self, project):
        # A child of its own, so the peak is this plan's alone.
        code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], capture_output=True); "
                "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
        out = subprocess.run([sys.executable, "-c", code, support.PYBUNDLE, "--cache-dir", self.env["PYBUNDLE_CACHE_DIR"],
                              "plan", project, "--frozen", "--target", "pyodide@0.29.3", "--runtime", runtime("0.29.3")],
                             capture_output=True, text=True, check=True)
        return int(out.stdout)

    def test_peak_rss_per_mb_of_lock(self):
        if os.environ.get("ASAN_OPTIONS"):
            self.skipTest("the sanitizers' shadow memory is not the plan's")
        original = os.path.join(support.REAL_LOCKS, "pydantic__pydantic-ai__root")
        if not os.path.isdir(original):
            self.skipTest(f"real locks not found at {support.REAL_LOCKS}")
        big = os.path.join(self.tmp, "big")
        subprocess.run([sys.executable, os.path.join(support.REPO, "bench", "big_lock.py"), original, big, "20"],
                       check=True, capture_output=True)
        grown_mb = (os.path.getsize(os.path.join(big, "uv.lock")) -
                    os.path.getsize(os.path.join(original, "uv.lock"))) / 1048576
        per_mb = (self.peak_kib(big) - self.peak_kib(original)) / 1024 / grown_mb
        # Whole-file toml++ DOM: ~6.7; a package table at a time: ~2.7.
        self.assertLess(per_mb, 4, f"{per_mb:.1f} MB of RSS per MB of uv.lock")


class FastapiPydanticCore(IsolatedCache):
    """The issue's example: pydantic 2.12.0 pins pydantic-core==2.41.1, which Pyodide does not ship."""

    PYODIDE_SHIPS = {"0.27.7": "2.27.2", "314.0.7": "2.41.5"}

    def project(self):
        src = os.path.join(support.REAL_LOCKS, FASTAPI)
        if not os.path.exists(src):
            self.skipTest("03-fastapi lock not present")
        return src

    def core_problem(self, doc):
        problems = [p for p in doc["problems"] if p["package"] == "pydantic-core"]
        self.assertEqual(len(problems), 1, doc["problems"])
        return problems[0]["message"]

    def test_without_metadata_the_report_says_it_could_not_be_checked(self):
        for version, ships in self.PYODIDE_SHIPS.items():
            with self.subTest(version=version):
                rc, doc, err = plan(self.project(), version, env=self.env)
                self.assertEqual(rc, 1)
                msg = self.core_problem(doc)
                self.assertIn("pydantic-core 2.41.1", msg)
                self.assertIn(f"ships pydantic-core {ships}", msg)
                self.assertIn("pydantic 2.12.0", msg)
                self.assertIn("could not be checked", msg)

    def test_with_metadata_the_pin_is_named(self):
        # A copy of the lock whose URLs point at a loopback server that serves the PEP 658 METADATA
        # of pydantic 2.12.0 (it pins pydantic-core==2.41.1, as the real one does).
        work = support.copy_project(self.project(), self.tmp)
        metadata = ("Metadata-Version: 2.4\nName: pydantic\nVersion: 2.12.0\n"
                    "Requires-Dist: annotated-types>=0.6.0\nRequires-Dist: pydantic-core==2.41.1\n"
                    "Requires-Dist: typing-extensions>=4.14.1\nRequires-Dist: typing-inspection>=0.4.2\n"
                    "Provides-Extra: email\nRequires-Dist: email-validator>=2.0.0; extra == 'email'\n")
        served = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                served.append(self.path)
                if self.path.endswith("/pydantic-2.12.0-py3-none-any.whl.metadata"):
                    body = metadata.encode()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    self.send_error(404)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            base = f"http://127.0.0.1:{server.server_address[1]}/"
            lock_path = os.path.join(work, "uv.lock")
            os.chmod(lock_path, 0o644)
            with open(lock_path) as f:
                text = f.read()
            with open(lock_path, "w") as f:
                f.write(re.sub(r"https://[^/\"]+/", base, text))
            for version, ships in self.PYODIDE_SHIPS.items():
                with self.subTest(version=version):
                    rc, doc, err = plan(work, version, "--fetch-metadata", env=self.env)
                    self.assertEqual(rc, 1, err)
                    msg = self.core_problem(doc)
                    self.assertIn(f"ships pydantic-core {ships}", msg)
                    self.assertIn("but pydantic 2.12.0 requires pydantic-core==2.41.1", msg)
            self.assertTrue(any(p.endswith("pydantic-2.12.0-py3-none-any.whl.metadata") for p in served))
        finally:
            server.shutdown()
            server.server_close()
        # The METADATA is cached: no network needed the next time.
        rc, doc, err = plan(work, "314.0.7", env=self.env)
        self.assertIn("but pydantic 2.12.0 requires pydantic-core==2.41.1", self.core_problem(doc))


class Why(IsolatedCache):
    def project(self):
        src = os.path.join(support.REAL_LOCKS, FASTAPI)
        if not os.path.exists(src):
            self.skipTest("03-fastapi lock not present")
        return src

    def why(self, name, *args):
        # These paths go through the dev group, which is left out unless asked (as for a build).
        return support.run("why", name, self.project(), "--target", "pyodide@0.29.3", "--runtime",
                           runtime("0.29.3"), "--dev", *args, env=self.env)

    def test_paths_from_the_root(self):
        proc = self.why("pydantic-core")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("fastapi-worker → fastapi → pydantic → pydantic-core", proc.stdout)
        # Needed, but not servable: its locked version and plan's reason, as plan names them.
        self.assertTrue(proc.stdout.startswith("pydantic-core 2.41.1 is needed for Pyodide 0.29.3 by:\n"), proc.stdout)
        self.assertIn("\nbut it cannot be served: pydantic-core 2.41.1: no wheel in the lock runs on Pyodide 0.29.3",
                      proc.stdout)
        doc = json.loads(self.why("pydantic-core", "--format", "json").stdout)
        self.assertEqual(doc["version"], "2.41.1")
        self.assertTrue(doc["problem"].startswith("pydantic-core 2.41.1: no wheel in the lock runs on"), doc)
        self.assertIsNone(json.loads(self.why("fastapi", "--format", "json").stdout)["problem"])
        doc = json.loads(self.why("typer", "--format", "json").stdout)
        self.assertTrue(doc["needed"])
        self.assertIn([{"name": "fastapi-worker", "via": ""}, {"name": "workers-py", "via": "group dev"},
                       {"name": "pyodide-cli", "via": ""}, {"name": "typer", "via": ""}], doc["paths"])

    def test_a_host_only_dependency_says_which_marker_dropped_it(self):
        proc = self.why("colorama")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("click → colorama only when sys_platform == 'win32'", proc.stdout)

    def test_an_unknown_package(self):
        proc = self.why("no-such-package")  # one line, on stderr
        self.assertEqual((proc.returncode, proc.stdout), (1, ""))
        self.assertRegex(proc.stderr, r"^error: no-such-package is not in \S*uv\.lock\n$")
        for bad in ("", "jinja2>=3"):  # a usage error, not "'' is not in uv.lock"
            proc = self.why(bad)
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertIn(f"'{bad}' is not a package name (such as jinja2)", proc.stderr)
        proc = self.why("no-such-package", "--format", "json")  # the failure object, not a result
        self.assertEqual(proc.returncode, 1)
        doc = json.loads(proc.stdout)
        self.assertEqual((doc["ok"], doc["exit"]), (False, 1))
        self.assertRegex(doc["errors"][0], r"^no-such-package is not in \S*uv\.lock$")


class Inputs(IsolatedCache):
    """Freshness and bad input, on copies of the fastapi project."""

    def copy(self):
        src = os.path.join(support.REAL_LOCKS, FASTAPI)
        if not os.path.exists(src):
            self.skipTest("03-fastapi lock not present")
        return support.copy_project(src, self.tmp)

    def edit(self, path, old, new):
        with open(path) as f:
            text = f.read()
        self.assertIn(old, text)
        os.chmod(path, 0o644)
        with open(path, "w") as f:
            f.write(text.replace(old, new))

    def run_plan(self, project, *args):
        return support.run("plan", project, "--target", "pyodide@0.29.3", "--runtime", runtime("0.29.3"), *args,
                           env=self.env)

    def test_stale_lock_fails_by_default_and_with_locked_and_is_ignored_with_frozen(self):
        work = self.copy()
        self.edit(os.path.join(work, "pyproject.toml"), '"fastapi",', '"fastapi>=0.200",')
        default = self.run_plan(work)
        self.assertEqual(default.returncode, 1)  # uv's --locked is the default (issue 15)
        self.assertIn("pyproject.toml has fastapi>=0.200 for 'fastapi', uv.lock has fastapi", default.stderr)
        self.assertIn("run `uv lock`", default.stderr)
        locked = self.run_plan(work, "--locked")
        self.assertEqual(locked.returncode, 1)
        self.assertIn("fastapi>=0.200", locked.stderr)
        self.assertIn("run `uv lock`", locked.stderr)
        self.assertEqual(locked.stdout, "")
        frozen = self.run_plan(work, "--frozen")
        self.assertNotIn("out of date", frozen.stderr)
        fresh = self.run_plan(self.copy_fresh(), "--locked")
        self.assertNotIn("out of date", fresh.stderr)

    def test_json_never_prints_credentials_of_lock_urls(self):
        work = self.copy()
        lock = os.path.join(work, "uv.lock")
        with open(lock) as f:
            text = f.read()
        self.assertIn('url = "https://', text)
        self.edit(lock, 'url = "https://', 'url = "https://user:s3cret@')
        proc = self.run_plan(work, "--frozen", "--format", "json")
        self.assertIn(proc.returncode, (0, 1), proc.stderr)
        doc = json.loads(proc.stdout)
        self.assertTrue(any(p["url"] for p in doc["packages"]), doc)
        self.assertNotIn("s3cret", proc.stdout + proc.stderr)

    def copy_fresh(self):
        return support.copy_project(os.path.join(support.REAL_LOCKS, FASTAPI), os.path.join(self.tmp, "fresh"))

    def test_no_lock_names_the_directory_and_uv_lock(self):
        work = self.copy()
        os.remove(os.path.join(work, "uv.lock"))
        proc = self.run_plan(work)
        self.assertEqual(proc.returncode, 2)
        self.assertIn(f"no uv.lock or pylock.toml in {work}", proc.stderr)
        self.assertIn("uv lock", proc.stderr)

    def test_malformed_pyproject_names_file_and_line(self):
        work = self.copy()
        self.edit(os.path.join(work, "pyproject.toml"), 'version = "0.1.0"', 'version = "0.1.0\n')
        proc = self.run_plan(work)
        self.assertEqual(proc.returncode, 2)
        self.assertRegex(proc.stderr, r"pyproject\.toml:3: ")

    def test_lock_version_2_is_refused(self):
        work = self.copy()
        self.edit(os.path.join(work, "uv.lock"), "version = 1\n", "version = 2\n")
        proc = self.run_plan(work)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("uv.lock:1: lock file version 2 is not supported", proc.stderr)

    def test_explicit_lock_file_wins(self):
        work = self.copy()
        os.rename(os.path.join(work, "uv.lock"), os.path.join(work, "other.lock"))
        proc = self.run_plan(work, "--lock", os.path.join(work, "other.lock"), "--format", "json")
        self.assertIn(proc.returncode, (0, 1), proc.stderr)
        self.assertTrue(json.loads(proc.stdout)["lock"]["file"].endswith("other.lock"))

    def test_with_stdlib_adds_pyodide_modules(self):
        work = self.copy()
        proc = self.run_plan(work, "--with-stdlib", "ssl", "--format", "json")
        doc = json.loads(proc.stdout)
        ssl = [p for p in doc["packages"] if p["name"] == "ssl"]
        self.assertEqual(len(ssl), 1)
        self.assertEqual(ssl[0]["origin"], "pyodide")
        self.assertIn("<stdlib>", ssl[0]["required_by"])


class Workspace(IsolatedCache):
    """A hand-made workspace: planning from a member's directory uses the root's lock."""

    LOCK = """version = 1
revision = 3
requires-python = ">=3.12"

[manifest]
members = ["root-app", "worker"]

[[package]]
name = "root-app"
version = "0.1.0"
source = { virtual = "." }
dependencies = [{ name = "click" }]

[package.metadata]
requires-dist = [{ name = "click" }]

[[package]]
name = "worker"
version = "0.2.0"
source = { editable = "packages/worker" }
dependencies = [{ name = "six" }]

[package.metadata]
requires-dist = [{ name = "six" }]

[[package]]
name = "click"
version = "8.1.0"
source = { registry = "https://index.invalid/simple" }
wheels = [{ url = "https://files.invalid/click-8.1.0-py3-none-any.whl", hash = "sha256:%s" }]

[[package]]
name = "six"
version = "1.17.0"
source = { registry = "https://index.invalid/simple" }
wheels = [{ url = "https://files.invalid/six-1.17.0-py2.py3-none-any.whl", hash = "sha256:%s" }]
""" % ("1" * 64, "2" * 64)

    def make(self):
        root = os.path.join(self.tmp, "ws")
        os.makedirs(os.path.join(root, "packages", "worker"))
        with open(os.path.join(root, "pyproject.toml"), "w") as f:
            f.write('[project]\nname = "root-app"\nversion = "0.1.0"\nrequires-python = ">=3.12"\n'
                    'dependencies = ["click"]\n[tool.uv.workspace]\nmembers = ["packages/*"]\n')
        with open(os.path.join(root, "packages", "worker", "pyproject.toml"), "w") as f:
            f.write('[project]\nname = "worker"\nversion = "0.2.0"\nrequires-python = ">=3.12"\n'
                    'dependencies = ["six"]\n[build-system]\nrequires = ["hatchling"]\n'
                    'build-backend = "hatchling.build"\n')
        with open(os.path.join(root, "uv.lock"), "w") as f:
            f.write(self.LOCK)
        return root

    def names(self, project, *args):
        rc, doc, err = plan(project, "0.29.3", "--locked", *args, env=self.env)
        self.assertEqual(rc, 0, err)
        return [(p["name"], p["origin"]) for p in doc["packages"]]

    def test_root_member_and_all_packages(self):
        root = self.make()
        self.assertEqual(self.names(root), [("click", "lock-wheel")])
        self.assertEqual(self.names(os.path.join(root, "packages", "worker")),
                         [("six", "lock-wheel"), ("worker", "source")])
        self.assertEqual(self.names(root, "--package", "worker"), [("six", "lock-wheel"), ("worker", "source")])
        self.assertEqual(self.names(root, "--all-packages"),
                         [("click", "lock-wheel"), ("six", "lock-wheel"), ("worker", "source")])

    def test_a_member_with_a_native_build_backend_is_a_problem(self):
        root = self.make()
        path = os.path.join(root, "packages", "worker", "pyproject.toml")
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace('"hatchling.build"', '"maturin"'))
        rc, doc, err = plan(root, "0.29.3", "--all-packages", env=self.env)
        self.assertEqual(rc, 1)
        self.assertIn("built with maturin (native code)", doc["problems"][0]["message"])


if __name__ == "__main__":
    unittest.main()
