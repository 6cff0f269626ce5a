"""Reproducible builds: the flask-app corpus built twice (other project and output paths, other
times) on every supported release gives byte-identical snapshot.bin.zst, bundle.json and --archive.
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

    def build(self, base, target, name):
        d = os.path.join(self.tmp, target, name)
        os.makedirs(d)
        project = support.copy_project(os.path.join(self.corpus, "project"), d)
        out, archive = os.path.join(d, "out"), os.path.join(d, "bundle.tar.zst")
        proc = support.run("build", project, "--out", out, "--target", "pyodide@" + target,
                           "--mirror", f"{LOCK_BASE}={base}", "--archive", archive, env=bundles.env())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return out, archive

    def test_two_builds_of_the_same_inputs_are_byte_identical(self):
        with support.serve_directory(self.corpus) as base:
            for target in bundles.TARGETS:
                with self.subTest(target=target):
                    (out1, ar1), (out2, ar2) = self.build(base, target, "one"), self.build(base, target, "two")
                    for a, b in ((os.path.join(out1, "snapshot.bin.zst"), os.path.join(out2, "snapshot.bin.zst")),
                                 (os.path.join(out1, "bundle.json"), os.path.join(out2, "bundle.json")), (ar1, ar2)):
                        self.assertEqual(support.file_sha256(a), support.file_sha256(b),
                                         f"{os.path.relpath(a, self.tmp)} and {os.path.relpath(b, self.tmp)} differ")
                    manifest = bundles.load_json(os.path.join(out1, "bundle.json"))
                    self.assertEqual(manifest["snapshot"]["hash_seed"], int(manifest["digest"][:8], 16))
                    self.assertNotIn("imports", manifest["snapshot"])  # measured times: import-times.json
                    self.assertTrue(bundles.load_json(os.path.join(out1, "import-times.json")))


if __name__ == "__main__":
    unittest.main()
