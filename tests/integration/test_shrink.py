"""`pybundle build --compile` and `--minimize` on fixtures/minimize (directory packages, no server):
bytecode from the runtime itself, byte-identical rebuilds, minimisation that keeps what the app
reads and fails the build, naming what it dropped, when the result would not import."""
import json
import os
import shutil
import stat
import tempfile
import unittest

import bundles
import support

FIXTURE = os.path.join(support.REPO, "fixtures", "minimize")
TARGET = ("--target", "pyodide@0.29.3")  # pinned: the tests name its Python


def tree(root):
    """Every path under root: type, mode, mtime and content hash."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            out[os.path.relpath(full, root)] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_mtime_ns,
                                               support.file_sha256(full) if stat.S_ISREG(st.st_mode) else None)
    return out


def bundle_files(out):
    """Files under python_modules/ and app/ on disk, relative to the bundle."""
    found = set()
    for top in ("python_modules", "app"):
        for dirpath, _, names in os.walk(os.path.join(out, top)):
            found.update(os.path.relpath(os.path.join(dirpath, n), out) for n in names)
    return found


class Shrink(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pb-shrink-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.project = support.copy_project(FIXTURE, self.tmp)
        self.out = os.path.join(self.tmp, "out")

    def build(self, *args, out=None, env=None):
        return support.run("build", self.project, "--out", out or self.out, *TARGET, *args,
                           env=bundles.env(**(env or {})))

    def manifest(self, out=None):
        return bundles.load_json(os.path.join(out or self.out, "bundle.json"))

    def answer(self, *args):
        proc = support.run("run", self.out, "--format", "json", *args, env=bundles.env())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        doc = json.loads(proc.stdout)
        self.assertEqual(doc["response"]["status"], 200, doc)
        return doc, json.loads(doc["response"]["body"])

    def assertManifestIsDisk(self, out=None):
        out = out or self.out
        listed = {f["path"]: f["sha256"] for f in self.manifest(out)["files"]}
        self.assertEqual(set(listed), bundle_files(out))
        for path, digest in listed.items():
            self.assertEqual(support.file_sha256(os.path.join(out, path)), digest, path)
        return set(listed)

    # ---- --minimize ------------------------------------------------------------------------------
    def test_minimize_keeps_what_the_app_uses_and_the_bundle_answers(self):
        with open(os.path.join(self.project, "src", "app.py"), "a") as f:
            f.write("\n_answer = on_fetch\n\ndef on_fetch(request):\n    if request.query.get('extra'):\n"
                    "        import lazydata.extra  # not on the traced request's path\n"
                    "    if request.query.get('from'):\n        from lazydata import extra  # an ImportError, not ModuleNotFoundError\n"
                    "    return _answer(request)\n")
        proc = self.build("--minimize", "--no-snapshot")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        files = self.assertManifestIsDisk()
        kept = {f for f in files if f.startswith("python_modules/")}
        self.assertEqual(kept, {
            "python_modules/lazydata/__init__.py",
            "python_modules/lazydata/words.txt",   # read lazily at import through importlib.resources
            "python_modules/lazydata/lookup.py",   # first imported by the request
            "python_modules/lazydata/unread.txt",  # data beside a used module stays
            "python_modules/lazydata-1.0.0.dist-info/METADATA",
            "python_modules/unusedpkg-1.0.0.dist-info/METADATA",  # metadata of every distribution stays
            "python_modules/fragile-1.0.0.dist-info/METADATA",
        } | {f for f in kept if ".dist-info/" in f})
        for gone in ("lazydata/extra.py", "lazydata/heavy", "unusedpkg", "fragile"):
            self.assertFalse(os.path.exists(os.path.join(self.out, "python_modules", gone)), gone)
        self.assertIn("app/app.py", files)
        _, body = self.answer("--no-snapshot")
        self.assertEqual(body["words"], ["alpha", "beta", "gamma"])
        self.assertEqual(body["first"], "alpha")
        # A module only another request imports was minimised away: the error says so and how to keep it.
        proc = support.run("run", self.out, "--no-snapshot", "--url", "http://localhost/?extra=1", env=bundles.env())
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("module 'lazydata.extra' was left out of the bundle by the build's trimming (or --minimize): "
                      "python_modules/lazydata/extra.py; rebuild with --keep 'lazydata/extra.py'", proc.stderr)
        self.assertIn('File "src/app.py", line ', proc.stderr)
        proc = support.run("run", self.out, "--no-snapshot", "--url", "http://localhost/?from=1", env=bundles.env())
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("module 'lazydata.extra' was left out of the bundle by the build's trimming (or --minimize): "
                      "python_modules/lazydata/extra.py; rebuild with --keep 'lazydata/extra.py'", proc.stderr)

    def test_minimize_then_snapshot_restores(self):
        proc = self.build("--minimize")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        doc, body = self.answer()
        self.assertTrue(doc["restored"])
        self.assertEqual(body["first"], "alpha")

    def test_a_minimisation_that_breaks_an_import_fails_naming_module_and_dropped_files(self):
        with open(os.path.join(self.project, "src", "app.py"), "a") as f:
            f.write("\nimport fragile  # lists its plugins/ directory at import\n")
        proc = self.build("--minimize", "--no-snapshot")
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("importing 'fragile' fails: FileNotFoundError", proc.stderr)
        self.assertIn("python_modules/fragile/plugins/one.py", proc.stderr)
        self.assertFalse(os.path.exists(self.out))  # nothing half-made is left in place
        self.assertEqual([n for n in os.listdir(self.tmp) if n.startswith(".out")], [])
        # --keep rescues the files minimisation cannot see being used.
        proc = self.build("--minimize", "--no-snapshot", "--keep", "fragile/plugins/**")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("python_modules/fragile/plugins/one.py", self.assertManifestIsDisk())

    def test_minimize_keeps_the_extension_modules_loaded(self):
        with open(os.path.join(support.REPO, "fixtures", "extension", "_speed.so"), "rb") as f:
            so = f.read()
        pkg = os.path.join(self.project, "packages", "lazydata", "lazydata")
        for name in ("_speed.so", "_other.so"):  # a real wasm32 side module; only _speed is imported
            with open(os.path.join(pkg, name), "wb") as f:
                f.write(so)
        with open(os.path.join(self.project, "src", "app.py"), "w") as f:
            f.write("from lazydata._speed import answer\n\ndef on_fetch(request):\n    return {'answer': answer()}\n")
        proc = self.build("--minimize", "--no-snapshot")  # the snapshot is not what this test is about
        self.assertEqual(proc.returncode, 0, proc.stderr)
        files = self.assertManifestIsDisk()
        self.assertIn("python_modules/lazydata/_speed.so", files)
        self.assertNotIn("python_modules/lazydata/_other.so", files)
        self.assertEqual(self.answer("--no-snapshot")[1], {"answer": 42})

    # ---- --compile -------------------------------------------------------------------------------
    def runtime_magic(self):
        """importlib.util.MAGIC_NUMBER of the runtime, asked through the bundle itself."""
        with open(os.path.join(self.project, "src", "app.py"), "a") as f:
            f.write("\n\nimport importlib.util as _iu\n_plain = on_fetch\n\n\ndef on_fetch(request):\n"
                    "    from lazydata import lookup\n"
                    "    return dict(_plain(request), magic=_iu.MAGIC_NUMBER.hex(), lookup=lookup.__file__)\n")

    def pyc_header(self, rel):
        with open(os.path.join(self.out, rel), "rb") as f:
            head = f.read(16)
        return head[:4].hex(), int.from_bytes(head[4:8], "little")

    def test_compile_drop_sources(self):
        self.runtime_magic()
        proc = self.build("--compile=drop-sources")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        files = self.assertManifestIsDisk()
        modules = {f for f in files if f.startswith("python_modules/")}
        self.assertEqual({f for f in modules if f.endswith(".py")}, set())
        self.assertIn("python_modules/lazydata/lookup.pyc", modules)      # next to the module, no __pycache__
        self.assertIn("python_modules/lazydata/words.txt", modules)
        self.assertIn("app/app.py", files)                                # the app keeps its sources
        self.assertIn("app/__pycache__/app.cpython-313.pyc", files)
        for rounds in range(2):
            doc, body = self.answer(*([] if rounds else ["--no-snapshot"]))
            self.assertEqual(doc["restored"], bool(rounds))
            self.assertEqual(body["first"], "alpha")
            self.assertEqual(body["lookup"], "/bundle/python_modules/lazydata/lookup.pyc")
        magic = body["magic"]
        self.assertEqual(self.pyc_header("python_modules/lazydata/lookup.pyc"), (magic, 0b01))  # unchecked hash
        self.assertEqual(self.pyc_header("app/__pycache__/app.cpython-313.pyc"), (magic, 0b11))  # checked hash

    def test_the_compile_host_runs_from_the_cache_dir_given(self):
        # --cache-dir, not $PYBUNDLE_CACHE_DIR, decides where the host that compiles is written.
        decoy = os.path.join(self.tmp, "decoy-cache")
        proc = support.run("--cache-dir", bundles.RUNTIME_CACHE, "build", self.project, "--out",
                           os.path.join(self.tmp, "out-cache-dir"), *TARGET, "--compile", "--no-snapshot",
                           "--no-smoke", env={"PYBUNDLE_CACHE_DIR": decoy})
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertFalse(os.path.exists(decoy), os.listdir(decoy) if os.path.isdir(decoy) else decoy)

    def test_compile_keep_sources_rebuilds_byte_identical(self):
        states = []
        for n in range(2):
            out = os.path.join(self.tmp, f"out{n}")
            proc = self.build("--compile", "--no-snapshot", out=out, env={"SOURCE_DATE_EPOCH": "1700000000"})
            self.assertEqual(proc.returncode, 0, proc.stderr)
            states.append(tree(out))
            files = self.assertManifestIsDisk(out)
        self.assertEqual(states[0], states[1])
        self.assertIn("python_modules/lazydata/__pycache__/lookup.cpython-313.pyc", files)
        self.assertIn("python_modules/lazydata/lookup.py", files)
        self.assertIn("python_modules/unusedpkg/__pycache__/__init__.cpython-313.pyc", files)

    def test_minimize_with_compile_drop_sources(self):
        proc = self.build("--minimize", "--compile=drop-sources", "--no-snapshot")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        kept = {f for f in self.assertManifestIsDisk() if f.startswith("python_modules/lazydata/")}
        self.assertEqual(kept, {"python_modules/lazydata/__init__.pyc", "python_modules/lazydata/lookup.pyc",
                                "python_modules/lazydata/words.txt", "python_modules/lazydata/unread.txt"})
        _, body = self.answer("--no-snapshot")
        self.assertEqual(body["first"], "alpha")

    def test_inspect_shrink_of_a_compiled_bundle_measures_no_change_for_compile(self):
        # Compiling again replaces no source: the upload is the same files, so the same gzip size.
        proc = self.build("--compile=drop-sources", "--no-snapshot")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        proc = support.run("inspect", self.out, "--shrink", "--format", "json", env=bundles.env())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        doc = json.loads(proc.stdout)
        compiled = doc["shrink"]["compile_drop_sources"]
        self.assertEqual(compiled["sources_replaced"], 0)
        self.assertEqual(compiled["gzip_bytes"], doc["gzip_bytes"])

    def test_bad_compile_mode_is_a_usage_error(self):
        proc = self.build("--compile=sometimes", "--no-snapshot")
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn("--compile", proc.stderr)

    def test_a_keep_glob_that_can_match_nothing_is_a_usage_error(self):
        for glob, why in (("", "an empty glob matches no file"), ("../secrets/**", "points outside the bundle")):
            with self.subTest(glob=glob):
                proc = self.build("--keep", glob, "--no-snapshot")
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertIn(f"--keep '{glob}'", proc.stderr)
                self.assertIn(why, proc.stderr)
                self.assertFalse(os.path.exists(self.out))  # refused before anything is written


if __name__ == "__main__":
    unittest.main()
