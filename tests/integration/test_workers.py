"""Cloudflare-style workers (fixtures/workers: `class Default(WorkerEntrypoint)`, jinja2) built with a
snapshot, served and asked several requests; vars reach self.env; check names the entry style."""
import json
import os
import re
import shutil
import tempfile
import unittest

import bundles
import support

FIXTURE = os.path.join(support.REPO, "fixtures", "workers")
LOCK_BASE = "http://127.0.0.1:8765"
TARGET = ("--target", "pyodide@0.29.3")


def sync_lock(project, corpus):
    """The fixture's lock names the corpus wheels by hash; take the hashes of this machine's corpus
    build (the same unless Debian updated a package)."""
    with open(os.path.join(corpus, "project", "uv.lock")) as f:
        lines = {m.group(1): m.group(0) for m in re.finditer(r'    \{ url = "[^"]*/wheels/([^"]+)".*', f.read())}
    path = os.path.join(project, "uv.lock")
    with open(path) as f:
        text = f.read()
    text = re.sub(r'    \{ url = "[^"]*/wheels/([^"]+)".*', lambda m: lines.get(m.group(1), m.group(0)), text)
    with open(path, "w") as f:
        f.write(text)


def build_fixture(tmp, *args):
    """Copy fixtures/workers into tmp and build it from the corpus; returns (project, out, proc)."""
    corpus = support.corpus("flask-app")
    project = support.copy_project(FIXTURE, tmp)
    sync_lock(project, corpus)
    out = os.path.join(tmp, "out")
    with support.serve_directory(corpus) as base:
        proc = support.run("build", project, "--out", out, *TARGET, "--mirror", f"{LOCK_BASE}={base}", *args,
                           env=bundles.env())
    return project, out, proc


class WorkersStyle(bundles.ServedBundle, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="pb-workers-")
        cls.project, cls.out, proc = build_fixture(cls.tmp)
        if proc.returncode != 0:
            raise AssertionError(proc.stderr)
        cls.manifest = bundles.load_json(os.path.join(cls.out, "bundle.json"))
        cls.start_server(cls.out, "--var", "GREETING=howdy")

    @classmethod
    def tearDownClass(cls):
        cls.stop_server()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_the_bundle_records_vars_and_a_snapshot_holding_jinja2_and_workers(self):
        self.assertEqual(self.manifest["vars"], {"GREETING": "hello"})
        self.assertIsNotNone(self.manifest["snapshot"])
        self.assertEqual([p["name"] for p in self.manifest["packages"]], ["jinja2", "markupsafe"])

    def test_inspect_shows_each_distribution_with_its_measured_import_time(self):
        proc = support.run("inspect", self.out, "--format", "json")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        doc = json.loads(proc.stdout)
        by_name = {c["name"]: c for c in doc["contributors"]}
        self.assertEqual(set(by_name), {"jinja2", "markupsafe", "(app)"})
        self.assertEqual(doc["contributors"][0]["name"], "jinja2")  # the most gzip bytes
        self.assertEqual(by_name["(app)"]["files"], 2)
        self.assertTrue(doc["import_times"])
        # Real time, not the fixed clock the snapshot is made with: importing jinja2 takes a while.
        self.assertGreater(by_name["jinja2"]["import_ms"], 20)
        self.assertLess(doc["gzip_bytes"], doc["limits"]["free_bytes"])
        self.assertIsNone(doc["shrink"])  # measured only with --shrink (it starts Pyodide)

    def tree(self):
        out = {}
        for root, _, files in os.walk(self.out):
            for name in files:
                path = os.path.join(root, name)
                with open(path, "rb") as f:
                    out[os.path.relpath(path, self.out)] = f.read()
        return out

    def test_inspect_shrink_measures_minimize_and_compile_on_copies(self):
        before = self.tree()
        proc = support.run("inspect", self.out, "--shrink", "--format", "json", env=bundles.env())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(self.tree(), before)  # the copies are changed, never the bundle
        self.assertEqual([d for d in os.listdir(bundles.RUNTIME_CACHE) if d.startswith("inspect-")], [])  # removed
        doc = json.loads(proc.stdout)
        s = doc["shrink"]
        self.assertEqual(s["gzip_bytes"], doc["gzip_bytes"])
        # GET / answers without a template: --minimize drops jinja2 modules no one imports.
        self.assertGreater(s["minimize"]["files_dropped"], 0)
        self.assertLess(s["minimize"]["gzip_bytes"], s["gzip_bytes"])
        # Every .py of jinja2 and markupsafe becomes a .pyc; app/ keeps its sources and gains .pyc.
        py = [f["path"] for f in self.manifest["files"]
              if f["path"].startswith("python_modules/") and f["path"].endswith(".py")]
        self.assertEqual(s["compile_drop_sources"]["sources_replaced"], len(py))
        self.assertNotEqual(s["compile_drop_sources"]["gzip_bytes"], s["gzip_bytes"])
        self.assertLess(s["both"]["gzip_bytes"], s["compile_drop_sources"]["gzip_bytes"])
        human = support.run("inspect", self.out, env=bundles.env())
        self.assertIn("pybundle inspect --shrink", human.stdout)
        self.assertIn("share of the snapshot heap is not measured", human.stdout)

    def test_inspect_shrink_needs_the_target(self):
        bad = os.path.join(self.tmp, "no-target")
        shutil.copytree(self.out, bad)
        manifest = dict(self.manifest)
        del manifest["target"]
        with open(os.path.join(bad, "bundle.json"), "w") as f:
            json.dump(manifest, f)
        proc = support.run("inspect", bad, "--shrink", env=bundles.env())
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn("bundle.json: needs target.pyodide and entry.module", proc.stderr)

    def test_inspect_of_a_bundle_missing_a_listed_file_names_it(self):
        bad = os.path.join(self.tmp, "missing-file")
        shutil.copytree(self.out, bad)
        gone = next(f["path"] for f in self.manifest["files"] if f["path"].startswith("python_modules/"))
        os.remove(os.path.join(bad, gone))
        for args in ((), ("--shrink",)):
            proc = support.run("inspect", bad, *args, env=bundles.env())
            self.assertEqual(proc.returncode, 1, proc.stderr)
            self.assertEqual(proc.stderr.strip().splitlines()[-1],
                             f"error: {os.path.join(bad, gone)}: listed in bundle.json but missing; rebuild the bundle")

    def test_served_from_the_snapshot_with_routes_json_and_a_jinja2_page(self):
        self.assertTrue(self.startup["restored"])
        self.assertIn("serving entry.Default.fetch on", self.log())
        status, headers, body = self.fetch("/")
        self.assertEqual((status, headers["content-type"]), (200, "application/json"))
        self.assertEqual(json.loads(body)["routes"], ["/", "/hello", "/echo"])
        # --var GREETING=howdy wins over [tool.pybundle] vars; jinja2 escapes the query.
        status, headers, body = self.fetch("/hello?name=%3Cb%3Eada")
        self.assertEqual((status, headers["content-type"]), (200, "text/html; charset=utf-8"))
        self.assertIn(b"<h1>howdy, &lt;b&gt;ada!</h1>", body)
        self.assertIn(b"<li>jinja2</li><li>snapshot</li>", body)
        status, _, body = self.fetch("/echo", data=b'{"n": [1, 2]}', headers={"User-Agent": "pb-test"}, method="POST")
        self.assertEqual(status, 201)
        self.assertEqual(json.loads(body), {"got": {"n": [1, 2]}, "agent": "pb-test"})
        status, headers, body = self.fetch("/missing")
        self.assertEqual((status, body, headers["content-type"]), (404, b"no route for /missing", "text/plain;charset=UTF-8"))

    def test_run_uses_the_bundle_vars_and_reports_the_style(self):
        proc, answer = bundles.run_json(self.out, "--url", "http://localhost/hello?name=bo")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(answer["entry_style"], "workers")
        self.assertTrue(answer["restored"])
        self.assertIn("<h1>hello, bo!</h1>", answer["response"]["body"])

    def test_run_hands_the_handler_an_absolute_url_as_serve_does(self):
        b = os.path.join(self.out + "-url")
        self.addCleanup(shutil.rmtree, b, ignore_errors=True)
        bundles.make_bundle(b, {"app.py": "from workers import Response, WorkerEntrypoint\n"
                                          "class Default(WorkerEntrypoint):\n"
                                          "    async def fetch(self, request):\n"
                                          "        return Response(request.url + ' ' + request.headers['host'])\n"})
        for given, seen in (("/hello?name=bo", "http://localhost/hello?name=bo localhost"),
                            ("https://app.example:8443/x", "https://app.example:8443/x app.example:8443")):
            proc, answer = bundles.run_json(b, "--no-snapshot", "--url", given)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertEqual(answer["response"]["body"], seen)
        proc = support.run("run", b, "--url", "hello", env=bundles.env())
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn("--url: 'hello' is neither a path (/hello?name=ada) nor an http:// or https:// URL", proc.stderr)

    def test_check_says_which_style_it_found(self):
        proc = support.run("check", "--bundle", self.out, "--skip", "smoke", "--format", "json", env=bundles.env())
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        entry = next(c for c in json.loads(proc.stdout)["checks"] if c["name"] == "entry")
        self.assertEqual(entry["metrics"]["style"], "workers")
        self.assertIn("entry.Default.fetch found (Cloudflare Workers style", entry["summary"])


class WorkersModule(unittest.TestCase):
    """The host's `workers` module on its own, without a build: both styles, errors, the API."""

    APP = '''
from workers import Response, WorkerEntrypoint, Request

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        if request.url.endswith("/bad"):
            return {"not": "a Response"}
        r = Response.json({"env": self.env.NAME, "method": request.method, "ok": Response("x").ok,
                           "missing": "OTHER" in self.env, "text": await request.text(),
                           "lossy": await Request("http://x/", "POST", body=b"\\xef\\xbb\\xbfa\\xffb").text()},
                          headers={"x-kind": "workers"})
        assert (await r.json())["env"] == self.env.NAME
        return r
'''

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pb-workers-mod-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def test_run_without_a_snapshot_vars_from_the_command_line(self):
        b = os.path.join(self.tmp, "b")
        bundles.make_bundle(b, {"app.py": self.APP})
        proc, answer = bundles.run_json(b, "--no-snapshot", "--var", "NAME=cli")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(answer["entry_style"], "workers")
        self.assertEqual(answer["response"]["headers"]["x-kind"], "workers")
        self.assertEqual(json.loads(answer["response"]["body"]),
                         {"env": "cli", "method": "GET", "ok": True, "missing": False, "text": "",
                          "lossy": "a\ufffdb"})  # the platform's UTF-8 decode: BOM dropped, U+FFFD
        proc, answer = bundles.run_json(b, "--no-snapshot", "--var", "NAME=cli", "--url", "http://localhost/bad")
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("Default.fetch returned dict; a worker must return a workers.Response", answer["traceback"])
        proc = support.run("run", b, "--var", "NAME", env=bundles.env())
        self.assertEqual(proc.returncode, 2)
        self.assertIn("'NAME' is not NAME=VALUE", proc.stderr)

    def test_an_entry_with_neither_style_names_both(self):
        b = os.path.join(self.tmp, "b")
        bundles.make_bundle(b, {"app.py": "import workers\nclass Default:\n    pass\n"})
        proc, answer = bundles.run_json(b, "--no-snapshot")
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("defines no on_fetch(request) and no class Default(WorkerEntrypoint)", answer["error"])


if __name__ == "__main__":
    unittest.main()
