"""The gate agrees with the build (issue 15): one selection rule for plan/why/check/build, the lock
checked by default, every build imports its entry, substitutes only when accepted."""
import json
import os
import shutil
import tempfile
import unittest

import bundles
import support

EXAMPLE = os.path.join(support.REPO, "fixtures", "example")
RUNTIME = os.path.join(support.REPO, "fixtures", "targets", "0.29.3")
TARGET = "pyodide@0.29.3"
PINNED = ("--target", TARGET, "--runtime", RUNTIME)
LOCK_BASE = "http://127.0.0.1:8766"
CLEAN_ENV = {"PYBUNDLE_TARGET": "", "PYBUNDLE_SIZE_BUDGET": "", "NO_COLOR": ""}


def read(path):
    with open(path) as f:
        return f.read()


def write(path, text, mode="w"):
    with open(path, mode) as f:
        f.write(text)


class GateTest(support.ExampleProjectCase):
    tmp_prefix = "pb-gate-"

    def run_cmd(self, *args):
        return support.run(*args, env=bundles.env(**CLEAN_ENV))

    def build(self, *args):
        return self.run_cmd("build", self.project, "--out", self.out, "--mirror", f"{LOCK_BASE}={self.base}",
                            "--target", TARGET, *args)

    def add_dev_group(self):
        """A dev group needing a Windows-only wheel, recorded in the lock (so the lock is fresh)."""
        write(os.path.join(self.project, "pyproject.toml"), '\n[dependency-groups]\ndev = ["winonly"]\n', "a")
        lock = os.path.join(self.project, "uv.lock")
        write(lock, read(lock).replace("[package.metadata]\n",
                                       '[package.dev-dependencies]\ndev = [{ name = "winonly" }]\n\n'
                                       "[package.metadata]\n", 1)
              .replace('    { name = "winonly", marker = "sys_platform == \'win32\'" },\n]\n\n[[package]]',
                       '    { name = "winonly", marker = "sys_platform == \'win32\'" },\n]\n\n'
                       '[package.metadata.requires-dev]\ndev = [{ name = "winonly" }]\n\n[[package]]', 1))

    def test_plan_why_check_leave_out_dev_like_build_and_take_the_same_flags(self):
        self.add_dev_group()
        plan = self.run_cmd("plan", self.project, *PINNED, "--format", "json")
        self.assertEqual(plan.returncode, 0, plan.stderr)
        doc = json.loads(plan.stdout)
        self.assertEqual([p["name"] for p in doc["packages"]], ["minirouter", "slugkit"])
        self.assertTrue(doc["selection"]["no_dev"])
        check = self.run_cmd("check", self.project, *PINNED)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        why = self.run_cmd("why", "winonly", self.project, *PINNED)
        self.assertEqual(why.returncode, 1, why.stdout + why.stderr)
        # --dev means the same to every command.
        plan = self.run_cmd("plan", self.project, *PINNED, "--dev")
        self.assertEqual(plan.returncode, 1, plan.stderr)
        self.assertIn("winonly", plan.stderr)
        check = self.run_cmd("check", self.project, *PINNED, "--dev")
        self.assertEqual(check.returncode, 1, check.stdout)
        self.assertIn("winonly", check.stdout)
        why = self.run_cmd("why", "winonly", self.project, *PINNED, "--dev")
        self.assertEqual(why.returncode, 0, why.stdout + why.stderr)
        self.assertIn("group dev", why.stdout)
        self.assertEqual(self.run_cmd("plan", self.project, *PINNED, "--group", "dev").returncode, 1)
        for cmd in ("plan", "check", "build", "why"):
            args = ["winonly"] if cmd == "why" else []
            proc = self.run_cmd(cmd, *args, self.project, *PINNED, "--dev", "--no-dev")
            self.assertEqual(proc.returncode, 2, f"{cmd}: {proc.stderr}")
            self.assertIn("--dev", proc.stderr)

    def test_a_stale_lock_is_an_error_by_default_and_frozen_skips_the_check(self):
        write(os.path.join(self.project, "pyproject.toml"),
              read(os.path.join(self.project, "pyproject.toml")).replace('"minirouter>=1.0",',
                                                                         '"minirouter>=1.0",\n    "slugkit>=9",'))
        for cmd in ("plan", "why"):
            args = ["slugkit"] if cmd == "why" else []
            proc = self.run_cmd(cmd, *args, self.project, *PINNED)
            self.assertEqual(proc.returncode, 1, proc.stderr)
            self.assertIn("pyproject.toml has slugkit>=9 for 'slugkit', uv.lock has nothing", proc.stderr)
            self.assertIn("run `uv lock`", proc.stderr)
        proc = self.build("--no-snapshot", "--no-smoke")
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("run `uv lock`", proc.stderr)
        self.assertFalse(os.path.exists(self.out))
        proc = self.run_cmd("plan", self.project, *PINNED, "--frozen")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        check = self.run_cmd("check", self.project, *PINNED, "--frozen", "--format", "json")
        self.assertEqual(check.returncode, 0, check.stdout)
        self.assertEqual(next(c for c in json.loads(check.stdout)["checks"] if c["name"] == "lock-fresh")["status"],
                         "skip")

    def test_a_pylock_with_a_new_dependency_is_stale(self):
        os.remove(os.path.join(self.project, "uv.lock"))
        wheels = {"minirouter": "1.0.0", "slugkit": "0.3.1"}
        # Locked for Pyodide only (PEP 751 environments): winonly's win32 requirement does not apply.
        lock = ('lock-version = "1.0"\nrequires-python = ">=3.12"\ncreated-by = "test"\n'
                'environments = ["sys_platform == \'emscripten\'"]\n')
        for name, version in wheels.items():
            lock += (f'\n[[packages]]\nname = "{name}"\nversion = "{version}"\n'
                     f'wheels = [{{ url = "{LOCK_BASE}/wheels/{name}-{version}-py3-none-any.whl", '
                     f'hashes = {{ sha256 = "{support.file_sha256(os.path.join(EXAMPLE, "index", "wheels", f"{name}-{version}-py3-none-any.whl"))}" }} }}]\n')
        write(os.path.join(self.project, "pylock.toml"), lock)
        self.assertEqual(self.run_cmd("plan", self.project, *PINNED).returncode, 0)
        write(os.path.join(self.project, "pyproject.toml"),
              read(os.path.join(self.project, "pyproject.toml")).replace('"minirouter>=1.0",',
                                                                         '"minirouter>=2",\n    "rich",'))
        proc = self.run_cmd("plan", self.project, *PINNED)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("pyproject.toml has minirouter>=2, pylock.toml has minirouter 1.0.0", proc.stderr)
        self.assertIn("pyproject.toml has rich, pylock.toml has nothing for 'rich'", proc.stderr)
        check = self.run_cmd("check", self.project, *PINNED)
        self.assertEqual(check.returncode, 1, check.stdout)
        self.assertIn("rich", check.stdout)

    def test_a_missing_entry_file_fails_the_build_before_any_download(self):
        os.remove(os.path.join(self.project, "src", "app.py"))
        proc = self.build()
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertEqual(proc.stderr.strip().splitlines(),
                         [f"error: entry 'src/app.py': no such file in {self.project}"])
        self.assertFalse(os.path.exists(self.out))

    def test_no_snapshot_build_fails_when_the_entry_does_not_import(self):
        write(os.path.join(self.project, "src", "app.py"), "\nimport not_a_dependency_anywhere\n", "a")
        proc = self.build("--no-snapshot")
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("the entry module 'app' does not import", proc.stderr)
        self.assertIn("not_a_dependency_anywhere", proc.stderr)
        self.assertFalse(os.path.exists(self.out))
        proc = self.build("--no-snapshot", "--no-smoke")
        self.assertEqual(proc.returncode, 0, proc.stderr)

    def test_json_mode_prints_one_object_on_failure(self):
        write(os.path.join(self.project, "pyproject.toml"), "\n[broken\n", "a")
        for args in (("build", self.project, "--out", self.out), ("plan", self.project, *PINNED),
                     ("why", "slugkit", self.project, *PINNED)):
            proc = self.run_cmd(*args, "--format", "json")
            self.assertEqual(proc.returncode, 2, proc.stderr)
            doc = json.loads(proc.stdout)
            self.assertFalse(doc["ok"])
            self.assertEqual(doc["exit"], 2)
            self.assertRegex(doc["errors"][0], r"pyproject\.toml:\d+")

    def test_mirrors_as_from_to_strings_and_verbose_build_lists_what_goes_in(self):
        path = os.path.join(self.project, "pyproject.toml")
        write(path, read(path).replace('[tool.pybundle]\n', f'[tool.pybundle]\nmirrors = ["{LOCK_BASE}={self.base}"]\n'))
        write(os.path.join(self.project, "src", "motd.txt"), "hello\n")
        proc = self.run_cmd("build", self.project, "--out", self.out, "--target", TARGET, "--no-snapshot",
                            "--no-smoke", "-v")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("minirouter 1.0.0: minirouter-1.0.0-py3-none-any.whl (lock-wheel)", proc.stderr)
        self.assertIn("  app/motd.txt", proc.stderr)
        for phase in ("plan", "fetch", "vendor"):
            self.assertRegex(proc.stderr, rf"(?m)^{phase}: \d+\.\d\ds$")
        again = self.run_cmd("build", self.project, "--out", self.out, "--target", TARGET, "--no-snapshot",
                             "--no-smoke", "-v")
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertIn("minirouter: cache hit", again.stderr)
        self.assertTrue(os.path.exists(os.path.join(self.out, "app", "motd.txt")))
        plan = self.run_cmd("plan", self.project, *PINNED, "--format", "json")
        self.assertEqual(json.loads(plan.stdout)["app"], {"entry": "src/app.py", "files": ["app/app.py", "app/motd.txt"],
                                                          "problems": []})


class CommandLineTest(unittest.TestCase):
    def test_format_takes_names_only_and_github_only_where_it_means_something(self):
        for args in ((), ("plan",), ("check",)):
            out = support.run(*args, "--help").stdout
            self.assertNotIn("ENUM", out)
            self.assertNotIn("->", out)
        self.assertEqual(support.run("plan", "--format", "1").returncode, 2)
        proc = support.run("--format", "github", "plan", EXAMPLE, *PINNED)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn("only by `check`", proc.stderr)

    def test_an_unknown_command_is_named_and_the_commands_listed(self):
        proc = support.run("bogus")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("unknown command 'bogus'", proc.stderr)
        self.assertIn("build, cache, plan", proc.stderr)
        proc = support.run("--color", "never", "bogus", "x")
        self.assertIn("unknown command 'bogus'", proc.stderr)

    def test_global_options_before_the_command_and_json_from_every_command(self):
        cache = tempfile.mkdtemp(prefix="pb-gate-cli-")
        self.addCleanup(shutil.rmtree, cache, ignore_errors=True)
        env = {"PYBUNDLE_CACHE_DIR": cache}
        # --timeout takes a value like the other global options.
        proc = support.run("--timeout", "10", "cache", "dir", env=env)
        self.assertEqual((proc.returncode, proc.stdout), (0, cache + "\n"), proc.stderr)
        proc = support.run("--timeout", "-1", "cache", "dir", env=env)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("'-1' is not a number of seconds", proc.stderr)
        # --format json: one object on stdout from every command, an unknown one included.
        for args, doc in [(("--format", "json", "bogus"), {"ok": False, "exit": 2,
                                                          "errors": ["unknown command 'bogus'"]}),
                          (("cache", "dir", "--format", "json"), {"ok": True, "dir": cache}),
                          (("cache", "prune", "--format", "json"), {"ok": True, "dir": cache, "days": 30,
                                                                    "removed_files": 0, "removed_bytes": 0})]:
            proc = support.run(*args, env=env)
            self.assertEqual(json.loads(proc.stdout), doc, proc.stderr)
        proc = support.run("completions", "bash", "--format", "json", env=env)
        self.assertEqual(proc.returncode, 2)
        self.assertFalse(json.loads(proc.stdout)["ok"])

    def test_offline_without_the_runtime_says_how_to_get_it_and_never_starts_npm(self):
        self.tmp = tempfile.mkdtemp(prefix="pb-gate-offline-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.project = support.copy_project(EXAMPLE, self.tmp)
        self.out = os.path.join(self.tmp, "out")
        bin_dir = os.path.join(self.tmp, "bin")
        os.makedirs(bin_dir)
        marker = os.path.join(self.tmp, "npm-ran")
        write(os.path.join(bin_dir, "npm"), f"#!/bin/sh\ntouch {marker}\nexit 1\n")
        os.chmod(os.path.join(bin_dir, "npm"), 0o755)
        env = dict(CLEAN_ENV, PYBUNDLE_CACHE_DIR=os.path.join(self.tmp, "empty-cache"), PYBUNDLE_PYODIDE_DIR="",
                   PATH=bin_dir + os.pathsep + os.environ["PATH"])
        proc = support.run("build", self.project, "--out", self.out, "--target", TARGET, "--offline", env=env)
        self.assertEqual(proc.returncode, 3, proc.stderr)
        self.assertIn("the Pyodide runtime pyodide@0.29.3 is not installed", proc.stderr)
        self.assertIn("run one build without --offline", proc.stderr)
        self.assertFalse(os.path.exists(marker))


class SnapshotRecipeTest(unittest.TestCase):
    def test_snapshot_remakes_with_the_recorded_preimport(self):
        tmp = tempfile.mkdtemp(prefix="pb-gate-recipe-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        bundles.make_bundle(tmp, {"app.py": "def on_fetch(request):\n    return 'ok'\n",
                                  "helper.py": "raise RuntimeError('helper was preimported')\n"})
        path = os.path.join(tmp, "bundle.json")
        manifest = bundles.load_json(path)
        manifest["snapshot"] = {"recipe": {"entry": "app", "preimport": ["helper"], "target": "pyodide@0.29.3",
                                           "hash_seed": 12345}}
        write(path, json.dumps(manifest, indent=2) + "\n")
        proc = support.run("snapshot", tmp, env=bundles.env(**CLEAN_ENV))
        self.assertNotEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("helper was preimported", proc.stderr)
        proc = support.run("snapshot", tmp, "--preimport", "json", env=bundles.env(**CLEAN_ENV))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        snapshot = bundles.load_json(path)["snapshot"]
        self.assertEqual(snapshot["hash_seed"], 12345)  # the recorded seed, not the digest's
        self.assertEqual(snapshot["recipe"],
                         {"entry": "app", "preimport": ["json"], "target": "pyodide@0.29.3", "hash_seed": 12345})


class RequestQueryTest(unittest.TestCase):
    def test_repeated_query_keys_keep_every_value(self):
        tmp = tempfile.mkdtemp(prefix="pb-gate-query-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        bundles.make_bundle(tmp, {"app.py": "def on_fetch(request):\n"
                                            "    q = request.query\n"
                                            "    return {'all': q.getlist('a'), 'last': q['a'], 'b': q.getlist('b'),\n"
                                            "            'lists': q.lists()}\n"})
        proc, answer = bundles.run_json(tmp, "--no-snapshot", "--url", "http://app.invalid/x?a=1&b=2&a=3")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        body = json.loads(answer["response"]["body"])
        self.assertEqual(body, {"all": ["1", "3"], "last": "3", "b": ["2"], "lists": [["a", ["1", "3"]], ["b", ["2"]]]})


if __name__ == "__main__":
    unittest.main()
