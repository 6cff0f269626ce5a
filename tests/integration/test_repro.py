"""Reproducible builds: the flask-app corpus built twice (other project and output paths, other
times) on every supported release gives byte-identical snapshot.bin.zst, bundle.json and --archive,
the first build making the base snapshot (the booted bare runtime) and the second restoring it.
No byte range is exempt: when this fails, tools/heapdiff on the two bundles shows where the heaps
differ (their raw heaps are in the test runtime cache's heaps/)."""
import os
import shutil
import tempfile
import unittest

import bundles
import support

LOCK_BASE = "http://127.0.0.1:8765"  # where the corpus project's uv.lock points


class ReproducibleBuild(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="pb-repro-")
        cls.corpus = support.corpus("flask-app")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def build(self, base, target, name, edit=None):
        d = os.path.join(self.tmp, target, name)
        os.makedirs(d)
        project = support.copy_project(os.path.join(self.corpus, "project"), d)
        if edit:
            edit(project)
        out, archive = os.path.join(d, "out"), os.path.join(d, "bundle.tar.zst")
        proc = support.run("build", project, "--out", out, "--target", "pyodide@" + target,
                           "--mirror", f"{LOCK_BASE}={base}", "--archive", archive, env=bundles.env())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return out, archive

    def test_two_builds_of_the_same_inputs_are_byte_identical(self):
        with support.serve_directory(self.corpus) as base:
            for target in bundles.TARGETS:
                with self.subTest(target=target):
                    for name in bundles.base_snapshots():  # the first build makes the base, the second restores it
                        os.remove(os.path.join(bundles.RUNTIME_CACHE, "heaps", name))
                    (out1, ar1), (out2, ar2) = self.build(base, target, "one"), self.build(base, target, "two")
                    for a, b in ((os.path.join(out1, "snapshot.bin.zst"), os.path.join(out2, "snapshot.bin.zst")),
                                 (os.path.join(out1, "bundle.json"), os.path.join(out2, "bundle.json")), (ar1, ar2)):
                        self.assertEqual(support.file_sha256(a), support.file_sha256(b),
                                         f"{os.path.relpath(a, self.tmp)} and {os.path.relpath(b, self.tmp)} differ")
                    manifest = bundles.load_json(os.path.join(out1, "bundle.json"))
                    self.assertEqual(manifest["snapshot"]["hash_seed"], bundles.default_hash_seed(manifest))
                    self.assertNotIn("imports", manifest["snapshot"])  # measured times: import-times.json
                    self.assertTrue(bundles.load_json(os.path.join(out1, "import-times.json")))


    def test_an_edit_of_the_app_keeps_the_seed_and_restores_the_same_base(self):
        def edit(project):
            with open(os.path.join(project, "src", "app.py"), "a") as f:
                f.write("\nEDITED = True\n")
        with support.serve_directory(self.corpus) as base:
            out1, _ = self.build(base, "314.0.7", "before")
            bases = bundles.base_snapshots()
            out2, _ = self.build(base, "314.0.7", "after", edit)
        m1, m2 = (bundles.load_json(os.path.join(o, "bundle.json")) for o in (out1, out2))
        self.assertNotEqual(m1["digest"], m2["digest"])
        self.assertEqual(m1["snapshot"]["hash_seed"], m2["snapshot"]["hash_seed"])
        self.assertTrue(bases)
        self.assertEqual(set(bundles.base_snapshots()) - set(bases), set())  # no second base made


if __name__ == "__main__":
    unittest.main()
