"""`pybundle export`: a bundle as a wrangler project, taken by the real wrangler (pinned in
tests/wrangler, `wrangler deploy --dry-run`, offline): every file of python_modules/ is in its module
list and its gzip total agrees with ours."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import bundles
import support
from test_workers import build_fixture

WRANGLER_DIR = os.path.join(support.REPO, "tests", "wrangler")
WRANGLER = os.path.join(WRANGLER_DIR, "node_modules", ".bin", "wrangler")


def ensure_wrangler():
    """The pinned wrangler (tools/install-deps runs `npm ci` there; a fresh checkout gets it here)."""
    if not os.path.exists(WRANGLER):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=WRANGLER_DIR, check=True,
                       stdout=subprocess.DEVNULL)
    return WRANGLER


def files_under(root):
    out = set()
    for dirpath, _, names in os.walk(root):
        out.update(os.path.relpath(os.path.join(dirpath, n), root) for n in names)
    return out


def dry_run(project, outdir):
    """wrangler deploy --dry-run --outdir; returns (stdout+stderr, gzip bytes of its Total Upload)."""
    env = dict(os.environ, WRANGLER_SEND_METRICS="false", WRANGLER_HIDE_BANNER="true", CI="1", NO_COLOR="1",
               HOME=os.path.join(outdir + "-home"))
    os.makedirs(env["HOME"], exist_ok=True)
    proc = subprocess.run([ensure_wrangler(), "deploy", "--dry-run", "--outdir", outdir], cwd=project,
                          capture_output=True, text=True, env=env)
    text = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise AssertionError("wrangler deploy --dry-run failed:\n" + text)
    m = re.search(r"Total Upload: ([\d.]+) KiB / gzip: ([\d.]+) KiB", text)
    if not m:
        raise AssertionError("no Total Upload line in wrangler's output:\n" + text)
    return text, float(m.group(2)) * 1024


class Export(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="pb-export-")
        _, cls.bundle, proc = build_fixture(cls.tmp, "--no-snapshot", "--no-smoke")
        if proc.returncode != 0:
            raise AssertionError(proc.stderr)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def export(self, bundle, out, *args, cwd=None):
        proc = support.run("export", bundle, "--out", out, "--format", "json", *args, cwd=cwd)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return json.loads(proc.stdout)

    def test_wrangler_takes_the_export(self):
        out = os.path.join(self.tmp, "deploy")
        doc = self.export(self.bundle, out)
        self.assertEqual((doc["name"], doc["main"]), ("workers-example", "src/entry.py"))
        self.assertEqual(doc["compatibility_flags"], ["python_workers"])  # 0.29.3 runs Python 3.13
        with open(os.path.join(out, "wrangler.toml")) as f:
            toml = f.read()
        self.assertIn('main = "src/entry.py"\n', toml)
        self.assertIn('[vars]\n"GREETING" = "hello"\n', toml)
        self.assertNotIn("python_modules", toml)
        self.assertEqual(files_under(os.path.join(out, "src")), {"entry.py", "pages.py"})
        ours = files_under(os.path.join(out, "python_modules"))
        manifest = bundles.load_json(os.path.join(self.bundle, "bundle.json"))
        self.assertEqual(ours, {f["path"][len("python_modules/"):] for f in manifest["files"]
                                if f["path"].startswith("python_modules/")})

        text, gzip_bytes = dry_run(out, os.path.join(self.tmp, "wrangler-out"))
        theirs = files_under(os.path.join(self.tmp, "wrangler-out", "python_modules"))
        self.assertEqual(ours - theirs, set(), text)
        self.assertLess(abs(gzip_bytes - doc["gzip_bytes"]) / doc["gzip_bytes"], 0.05,
                        f"wrangler {gzip_bytes:.0f} vs ours {doc['gzip_bytes']}")

        # Exporting again replaces the earlier export; a directory it did not write is refused.
        self.export(self.bundle, out, "--name", "Other Name")
        with open(os.path.join(out, "wrangler.toml")) as f:
            self.assertIn('name = "other-name"\n', f.read())
        proc = support.run("export", self.bundle, "--out", out, "--name", "日本語")
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn("--name 日本語: a worker name needs letters a-z or digits", proc.stderr)
        mine = os.path.join(self.tmp, "mine")
        os.makedirs(mine)
        with open(os.path.join(mine, "notes.txt"), "w") as f:
            f.write("keep me")
        proc = support.run("export", self.bundle, "--out", mine)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("was not written by `pybundle export`", proc.stderr)
        self.assertEqual(os.listdir(mine), ["notes.txt"])

    def test_sourceless_bytecode_is_configured_for_upload(self):
        b = os.path.join(self.tmp, "pyc-bundle")
        os.makedirs(os.path.join(b, "python_modules", "fast"))
        with open(os.path.join(b, "python_modules", "fast", "__init__.pyc"), "wb") as f:
            f.write(b"\xf3\x0d\x0d\x0a" + bytes(12))  # stands in for --compile=drop-sources output
        bundles.make_bundle(b, {"app.py": "def on_fetch(request):\n    return 'ok'\n"})
        out = os.path.join(self.tmp, "pyc-deploy")
        doc = self.export(b, out)
        self.assertTrue(doc["uploads_pyc"])
        self.assertEqual(doc["compatibility_flags"], ["python_workers", "disable_python_no_global_handlers"])
        with open(os.path.join(out, "wrangler.toml")) as f:
            self.assertIn("[python_modules]\nexclude = []\n", f.read())
        text, _ = dry_run(out, os.path.join(self.tmp, "pyc-wrangler-out"))
        self.assertIn("fast/__init__.pyc", files_under(os.path.join(self.tmp, "pyc-wrangler-out", "python_modules")), text)

    def test_the_entry_style_is_read_from_its_code_not_its_docstring(self):
        # A module-level on_fetch needs the flag that keeps global handlers, whatever its docstring says.
        cases = {"fetch": ('"""Plain handler: no class Default(WorkerEntrypoint) needed."""\n'
                           "def on_fetch(request):\n    return 'ok'\n", True),
                 "class": ("from workers import Response, WorkerEntrypoint\n\n"
                           "class Default(WorkerEntrypoint):\n    async def fetch(self, request):\n"
                           "        return Response('ok')\n", False)}
        for name, (source, global_handlers) in cases.items():
            b = os.path.join(self.tmp, "style-" + name)
            bundles.make_bundle(b, {"app.py": source})
            doc = self.export(b, os.path.join(self.tmp, "style-deploy-" + name))
            self.assertEqual("disable_python_no_global_handlers" in doc["compatibility_flags"], global_handlers, name)

    def test_the_flags_follow_the_compatibility_date(self):
        # Python 3.13 (0.29.3) is the platform's default only from 2025-09-29; before, it takes its flag.
        b = os.path.join(self.tmp, "dated")
        bundles.make_bundle(b, {"app.py": "def on_fetch(request):\n    return 'ok'\n"})
        doc = self.export(b, os.path.join(self.tmp, "dated-deploy"), "--compatibility-date", "2025-06-01")
        self.assertEqual(doc["compatibility_flags"],
                         ["python_workers", "python_workers_20250116", "disable_python_no_global_handlers"])
        for bad in ("2025-6-1", "x\"]", "2025-13-01", "2025-02-29", "2025-04-31"):
            proc = support.run("export", b, "--out", os.path.join(self.tmp, "dated-bad"), "--compatibility-date", bad)
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertIn(f"--compatibility-date {bad}: not a date such as", proc.stderr)
            self.assertFalse(os.path.exists(os.path.join(self.tmp, "dated-bad")))

    def test_a_var_wrangler_cannot_take_is_refused(self):
        b = os.path.join(self.tmp, "protovar")
        manifest = bundles.make_bundle(b, {"app.py": "def on_fetch(request):\n    return 'ok'\n"})
        manifest["vars"] = {"GREETING": "hi", "constructor": "x"}
        with open(os.path.join(b, "bundle.json"), "w") as f:
            json.dump(manifest, f)
        out = os.path.join(self.tmp, "protovar-deploy")
        proc = support.run("export", b, "--out", out)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn("var constructor: wrangler cannot take a var named like a JavaScript object's own property",
                      proc.stderr)
        self.assertFalse(os.path.exists(out))

    def test_an_export_the_user_changed_is_not_replaced(self):
        b = os.path.join(self.tmp, "kept")
        bundles.make_bundle(b, {"app.py": "def on_fetch(request):\n    return 'ok'\n"})
        out = os.path.join(self.tmp, "kept-deploy")
        self.export(b, out)
        self.export(b, out)  # an untouched export is replaced
        toml = os.path.join(out, "wrangler.toml")
        with open(toml) as f:
            original = f.read()
        # What a wrangler user adds beside the export, or edits in it, is never lost.
        changes = [(os.path.join(out, ".dev.vars"), "SECRET=1\n", "holds .dev.vars, which `pybundle export` did not"),
                   (toml, original + "[[d1_databases]]\nbinding = \"DB\"\n", "wrangler.toml: edited since"),
                   (os.path.join(out, "src", "mine.py"), "x = 1\n", "a file under src/ or python_modules/ was")]
        for path, text, message in changes:
            with open(path, "w") as f:
                f.write(text)
            proc = support.run("export", b, "--out", out)
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertIn(message, proc.stderr)
            with open(path) as f:
                self.assertEqual(f.read(), text)
            if path == toml:
                with open(path, "w") as f:
                    f.write(original)
            else:
                os.remove(path)
        self.export(b, out)  # undone, it is an export again
        # Nor is the bundle itself an export directory.
        proc = support.run("export", b, "--out", os.path.join(b, "deploy"))
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn("is inside the bundle", proc.stderr)
        self.assertFalse(os.path.exists(os.path.join(b, "deploy")))

    def test_the_working_directory_is_refused_as_out(self):
        b = os.path.join(self.tmp, "here")
        bundles.make_bundle(b, {"app.py": "def on_fetch(request):\n    return 'ok'\n"})
        cwd = os.path.join(self.tmp, "here-deploy", "sub")
        os.makedirs(cwd)
        for out in (".", "..", cwd):  # empty but for the working directory, which a swap cannot replace
            proc = support.run("export", b, "--out", out, cwd=cwd)
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertEqual(proc.stderr, f"error: {out}: is the working directory or holds it, and an export is "
                                          "renamed into place; run export from another directory (e.g. the "
                                          "parent, with --out and its name)\n")
            self.assertEqual(os.listdir(cwd), [])
            self.assertEqual(os.listdir(os.path.dirname(cwd)), ["sub"])
        self.export(b, "sub", cwd=os.path.dirname(cwd))  # as the error says
        self.assertTrue(os.path.exists(os.path.join(cwd, "wrangler.toml")))

    def test_what_check_refuses_is_not_exported(self):
        # A symbolic link listed with its target's hash, and a files list edited after the build:
        # check --bundle fails both, so export copies neither.
        b = os.path.join(self.tmp, "linked")
        bundles.make_bundle(b, {"app.py": "def on_fetch(request):\n    return 'ok'\n"})
        outside = os.path.join(self.tmp, "outside.txt")
        with open(outside, "w") as f:
            f.write("not part of the bundle\n")
        os.symlink(outside, os.path.join(b, "app", "outside.txt"))
        bundles.write_manifest(b)
        out = os.path.join(self.tmp, "linked-deploy")
        proc = support.run("export", b, "--out", out)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("app/outside.txt: a symbolic link", proc.stderr)
        self.assertFalse(os.path.exists(out))
        os.remove(os.path.join(b, "app", "outside.txt"))
        manifest = bundles.write_manifest(b)
        manifest["files"] = [f for f in manifest["files"] if f["path"] != "app/app.py"] + [
            {"path": "app/extra.py", "sha256": "0" * 64, "size": 1}]
        with open(os.path.join(b, "bundle.json"), "w") as f:
            json.dump(manifest, f)
        proc = support.run("export", b, "--out", out)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn('"digest" does not match the "files" list', proc.stderr)
        self.assertFalse(os.path.exists(out))

    def test_a_changed_file_is_refused_and_nothing_is_written(self):
        b = os.path.join(self.tmp, "changed")
        bundles.make_bundle(b, {"app.py": "def on_fetch(request):\n    return 'ok'\n"})
        with open(os.path.join(b, "app", "app.py"), "a") as f:
            f.write("# edited\n")
        out = os.path.join(self.tmp, "changed-deploy")
        proc = support.run("export", b, "--out", out)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("app/app.py: does not match bundle.json", proc.stderr)
        self.assertFalse(os.path.exists(out))
        self.assertEqual([n for n in os.listdir(self.tmp) if ".export-" in n], [])


if __name__ == "__main__":
    unittest.main()
