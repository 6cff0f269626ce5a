"""`pybundle build` end to end on the example project, and its answers to bad input."""
import json
import os
import shutil
import tempfile
import unittest

import support

EXAMPLE = os.path.join(support.REPO, "fixtures", "example")
LOCK_BASE = "http://127.0.0.1:8766"


def read(path):
    with open(path) as f:
        return f.read()


def write(path, text, mode="w"):
    with open(path, mode) as f:
        f.write(text)


class BuildTest(support.ExampleProjectCase):
    tmp_prefix = "pb-build-"

    def setUp(self):
        super().setUp()
        # One cache for all tests: installing the Pyodide runtime with npm is slow.
        self.env = {"PYBUNDLE_CACHE_DIR": os.path.join(support.CACHE_ROOT, "build-cache")}

    def build(self, *args, project=None):
        return support.run("build", project or self.project, "--out", self.out,
                           "--mirror", f"{LOCK_BASE}={self.base}", *args, env=self.env)

    def test_build_with_snapshot_then_restores_differ(self):
        proc = self.build()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        manifest = json.loads(read(os.path.join(self.out, "bundle.json")))
        self.assertEqual([p["name"] for p in manifest["packages"]], ["minirouter", "slugkit"])  # winonly dropped
        self.assertTrue(os.path.exists(os.path.join(self.out, "snapshot.bin.zst")))
        self.assertIsNotNone(manifest["snapshot"])
        answers = []
        for _ in range(2):
            run = support.run("run", self.out, "--format", "json", env=self.env)
            self.assertEqual(run.returncode, 0, run.stderr)
            doc = json.loads(run.stdout)
            self.assertTrue(doc["restored"], doc)
            self.assertEqual(doc["response"]["status"], 200)
            answers.append(json.loads(doc["response"]["body"]))
        self.assertEqual(answers[0]["slug"], "hello-pyodide-world")
        # Stock Pyodide restores the same random state every time; ours reseeds.
        self.assertNotEqual(answers[0]["lucky"], answers[1]["lucky"])

    def test_one_package_is_counted_as_one(self):
        # A pylock.toml whose one wheel is a local file: "1 package", not "1 packages".
        whl = os.path.join(EXAMPLE, "index", "wheels", "slugkit-0.3.1-py3-none-any.whl")
        shutil.copy(whl, self.project)
        os.remove(os.path.join(self.project, "uv.lock"))
        write(os.path.join(self.project, "pyproject.toml"),
              read(os.path.join(self.project, "pyproject.toml")).replace('"minirouter>=1.0",', '"slugkit",')
              .replace('"winonly; sys_platform == \'win32\'",', ""))
        write(os.path.join(self.project, "pylock.toml"),
              'lock-version = "1.0"\nrequires-python = ">=3.12"\n\n[[packages]]\nname = "slugkit"\n'
              'version = "0.3.1"\nwheels = [{ path = "slugkit-0.3.1-py3-none-any.whl", hashes = { sha256 = "'
              + support.file_sha256(whl) + '" } }]\n')
        proc = self.build("--no-snapshot", "--no-smoke")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertRegex(proc.stdout, r": 1 package, \d+ files \(")
        proc = support.run("check", self.project, "--skip", "target", "--skip", "servable", "--skip", "size",
                           env=self.env)
        self.assertIn("pylock.toml: 1 package\n", proc.stdout)

    def test_dev_group_left_out_unless_asked(self):
        # A dev group needing a Windows-only wheel: fatal only when the group is bundled.
        write(os.path.join(self.project, "pyproject.toml"), '\n[dependency-groups]\ndev = ["winonly"]\n', "a")
        lock = os.path.join(self.project, "uv.lock")
        write(lock, read(lock).replace("[package.metadata]\n",
                                       '[package.dev-dependencies]\ndev = [{ name = "winonly" }]\n\n'
                                       "[package.metadata]\n", 1))
        proc = self.build("--no-snapshot", "--frozen")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        proc = self.build("--no-snapshot", "--frozen", "--dev")
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("winonly", proc.stderr)

    def test_no_lock(self):
        os.remove(os.path.join(self.project, "uv.lock"))
        proc = self.build("--no-snapshot")
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn("uv.lock", proc.stderr)
        self.assertFalse(os.path.exists(self.out))

    def test_malformed_pyproject_names_file_and_line(self):
        path = os.path.join(self.project, "pyproject.toml")
        write(path, "\n[broken\n", "a")
        proc = self.build("--no-snapshot")
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertRegex(proc.stderr, r"pyproject\.toml:\d+")

    def test_lock_version_2_is_refused(self):
        path = os.path.join(self.project, "uv.lock")
        write(path, read(path).replace("version = 1\n", "version = 2\n", 1))
        proc = self.build("--no-snapshot")
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn("version", proc.stderr)

    def test_wrong_hash_keeps_earlier_bundle_and_caches_nothing(self):
        self.assertEqual(self.build("--no-snapshot").returncode, 0)
        before = read(os.path.join(self.out, "bundle.json"))
        path = os.path.join(self.project, "uv.lock")
        text = read(path)
        good = text.split('minirouter-1.0.0-py3-none-any.whl", hash = "sha256:')[1][:64]
        write(path, text.replace(good, "0" * 64))
        proc = self.build("--no-snapshot")
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("minirouter", proc.stderr)
        self.assertIn("/wheels/minirouter-1.0.0-py3-none-any.whl", proc.stderr)
        self.assertEqual(read(os.path.join(self.out, "bundle.json")), before)
        cached = [f for _, _, files in os.walk(self.env["PYBUNDLE_CACHE_DIR"]) for f in files
                  if f.startswith("0" * 16)]
        self.assertEqual(cached, [])

    def test_entry_that_raises_shows_traceback(self):
        write(os.path.join(self.project, "src", "app.py"), "\nraise RuntimeError('boom at import')\n", "a")
        proc = self.build()
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("Traceback", proc.stderr)
        self.assertIn("boom at import", proc.stderr)
        self.assertFalse(os.path.exists(self.out))

    def test_node_missing_says_what_to_install(self):
        env = dict(self.env, PATH="/nonexistent", PYBUNDLE_NODE="")
        proc = support.run("build", self.project, "--out", self.out, "--mirror", f"{LOCK_BASE}={self.base}",
                           env=env)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("node", proc.stderr.lower())
        self.assertIn("install", proc.stderr.lower())


if __name__ == "__main__":
    unittest.main()
