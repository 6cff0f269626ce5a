"""Errors that point at the user's code (issue 15 items 5 and 7): tracebacks name the project's
files without the host's frames, a missing module says why it is missing, and a file the app opens
at import that the bundle left out fails the build."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import bundles
import support
from test_gate import CLEAN_ENV, EXAMPLE, LOCK_BASE, TARGET, read, write

HELPER = "src/helper.py"


class ErrorsTest(support.ExampleProjectCase):
    tmp_prefix = "pb-errors-"

    def build(self, *args):
        return support.run("build", self.project, "--out", self.out, "--mirror", f"{LOCK_BASE}={self.base}",
                           "--target", TARGET, *args, env=bundles.env(**CLEAN_ENV))

    def app_imports(self, helper_source):
        """src/app.py imports src/helper.py, whose second line is `helper_source`."""
        write(os.path.join(self.project, HELPER), "# helper\n" + helper_source + "\n")
        write(os.path.join(self.project, "src", "app.py"), "\nimport helper\n", "a")

    def assertProjectTraceback(self, text, line):
        self.assertIn(f'File "{HELPER}", line {line}, in <module>', text)
        self.assertIn('File "src/app.py", line ', text)
        self.assertNotIn("/bundle/", text)
        self.assertNotIn("<pybundle", text)
        self.assertNotIn("importlib", text)

    def test_snapshot_build_names_project_files_and_a_stdlib_module_shipped_separately(self):
        self.app_imports("import ssl")  # Pyodide 0.29.3 ships ssl as a package of its own
        proc = self.build()
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertProjectTraceback(proc.stderr, 2)
        self.assertIn(f"No module named 'ssl' ({HELPER}:2)", proc.stderr)
        self.assertIn("'ssl' is a standard library module this Pyodide release ships separately: build with "
                      "--with-stdlib ssl", proc.stderr)
        self.assertFalse(os.path.exists(self.out))

    def test_smoke_import_says_the_module_is_not_a_dependency(self):
        self.app_imports("import yaml")
        proc = self.build("--no-snapshot")
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertProjectTraceback(proc.stderr, 2)
        self.assertIn(f"the entry module 'app' does not import: ModuleNotFoundError: No module named 'yaml' "
                      f"({HELPER}:2); no package in the bundle provides module 'yaml': it is not a dependency in "
                      "pyproject.toml", proc.stderr)

    def test_an_import_error_of_several_lines_is_reported_on_one(self):
        # Emscripten's loader puts its own error on a line of its own after "Could not load dynamic lib".
        with open(os.path.join(self.project, "src", "_native.so"), "wb") as f:
            f.write(b"\x7fELF\x02\x01\x01" + bytes(64))  # a library for another platform
        write(os.path.join(self.project, "src", "app.py"), "\nimport _native\n", "a")
        for args, failed in ((["--no-snapshot"], "the entry module 'app' does not import"),  # the smoke import
                             ([], "snapshot: importing 'app' failed")):
            proc = self.build(*args)
            self.assertEqual(proc.returncode, 1, proc.stderr)
            errors = [l for l in proc.stderr.splitlines() if l.startswith("error: ")]
            self.assertEqual(len(errors), 1, proc.stderr)
            self.assertRegex(errors[0], "^error: " + failed + r": ImportError: Could not load dynamic lib: "
                                        r"/bundle/app/_native.so; Error: need to see wasm magic number "
                                        r"\(src/app.py:\d+\)$")

    def test_a_relative_import_or_a_relative_path_in_the_entry_says_what_to_write(self):
        app = os.path.join(self.project, "src", "app.py")
        source = read(app)
        write(os.path.join(self.project, "src", "config.py"), "X = 1\n")
        write(app, "from .config import X\n" + source)
        proc = self.build("--no-snapshot")
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("ImportError: attempted relative import with no known parent package (src/app.py:1); the modules "
                      "at the root of app/ (src/, the entry's directory) are top-level modules, in no package: import "
                      "their neighbours absolutely", proc.stderr)
        os.makedirs(os.path.join(self.project, "src", "data"))
        write(os.path.join(self.project, "src", "data", "d.json"), "{}")
        write(app, "import json\nD = json.load(open('data/d.json'))\n" + source)
        proc = self.build("--no-snapshot")
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("(src/app.py:2); 'data/d.json' is opened relative to the working directory (", proc.stderr)
        self.assertIn("not to the app's files (src/data/d.json): build the path from the module's own, "
                      "pathlib.Path(__file__).parent / ...", proc.stderr)

    def test_a_project_module_the_app_files_left_out_is_not_called_a_missing_dependency(self):
        path = os.path.join(self.project, "pyproject.toml")
        write(path, read(path).replace("[tool.pybundle]\n", '[tool.pybundle]\ninclude = ["templates/**"]\n'))
        os.makedirs(os.path.join(self.project, "src", "lib"))
        write(os.path.join(self.project, "src", "lib", "util.py"), "")  # a namespace package: no include matches
        write(os.path.join(self.project, "src", "app.py"), "\nimport lib.util\n", "a")
        proc = self.build("--no-snapshot")
        self.assertEqual(proc.returncode, 1, proc.stderr)
        line = read(os.path.join(self.project, "src", "app.py")).count("\n")
        self.assertIn(f"No module named 'lib' (src/app.py:{line}); module 'lib' is in the project (src/lib) but not among "
                      "the app's files: an include glob does not match it", proc.stderr)
        self.assertNotIn("not a dependency", proc.stderr)

    def test_a_module_the_trim_left_out_is_named_on_build_and_run(self):
        path = os.path.join(self.project, "pyproject.toml")
        write(path, read(path).replace("[tool.pybundle]\n",
                                                    '[tool.pybundle]\nexclude = ["slugkit/__init__.py"]\n'))
        proc = self.build()
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("pybundle: module 'slugkit' was left out of the bundle by the build's trimming (or "
                      "--minimize): python_modules/slugkit/__init__.py; rebuild with --keep 'slugkit/**'", proc.stderr)
        self.assertNotIn("/bundle/", proc.stderr)
        # Shipped anyway (--no-smoke): `run` says the same.
        proc = self.build("--no-snapshot", "--no-smoke")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        proc, answer = bundles.run_json(self.out, extra_env=CLEAN_ENV)
        self.assertNotEqual(proc.returncode, 0, proc.stderr)
        self.assertIn('File "src/app.py", line 4, in <module>', proc.stderr)
        self.assertNotIn("<pybundle", proc.stderr)
        self.assertIn("No module named 'slugkit'", answer["error"])
        self.assertIn("left out of the bundle by the build's trimming", answer["error"])

    def test_handler_traceback_on_run_names_project_files(self):
        write(os.path.join(self.project, HELPER), "# helper\ndef lookup():\n    import yaml\n")
        write(os.path.join(self.project, "src", "app.py"),
              "import helper\n\ndef on_fetch(request):\n    return helper.lookup()\n")
        proc = self.build("--no-snapshot", "--no-smoke")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        proc, answer = bundles.run_json(self.out, extra_env=CLEAN_ENV)
        self.assertNotEqual(proc.returncode, 0, proc.stderr)
        self.assertIn('File "src/app.py", line 4, in on_fetch', proc.stderr)
        self.assertIn(f'File "{HELPER}", line 3, in lookup', proc.stderr)
        self.assertNotIn("<pybundle", proc.stderr)
        self.assertNotIn("/bundle/", proc.stderr)
        self.assertIn(f"on_fetch raised: ModuleNotFoundError: No module named 'yaml' ({HELPER}:3); no package in "
                      "the bundle provides module 'yaml'", answer["error"])

    def test_a_file_opened_at_import_that_the_bundle_left_out_fails_the_build(self):
        path = os.path.join(self.project, "pyproject.toml")
        write(path, read(path).replace("[tool.pybundle]\n", '[tool.pybundle]\ninclude = ["*.py"]\n'))
        src = os.path.join(self.project, "src")
        for name in ("conf/settings.toml", "tests/data.txt"):
            os.makedirs(os.path.dirname(os.path.join(src, name)), exist_ok=True)
            write(os.path.join(src, name), "debug = false\n")
        # The app copes with the files missing, so nothing else would notice.
        write(os.path.join(src, "app.py"),
              "\nimport pathlib\nfor name in ('conf/settings.toml', 'tests/data.txt'):\n    try:\n"
              "        (pathlib.Path(__file__).parent / name).read_text()\n    except FileNotFoundError:\n"
              "        pass\n", "a")
        settings = os.path.join(src, "conf", "settings.toml")
        for args in ((), ("--no-snapshot",)):
            proc = self.build(*args)
            self.assertEqual(proc.returncode, 1, f"{args}: {proc.stderr}")
            self.assertIn("the app opens conf/settings.toml while it is imported, but the bundle does not have it: "
                          f"{settings} is not among the app's files (no [tool.pybundle] include glob matches it: "
                          'add one, e.g. include = [..., "conf/settings.toml"]', proc.stderr)
            # tests/ is never shipped, so no glob helps: a warning.
            self.assertIn("warning: the app opens tests/data.txt while it is imported", proc.stderr)
            self.assertIn("are never shipped", proc.stderr)
            self.assertFalse(os.path.exists(self.out))
        write(path, read(path).replace('include = ["*.py"]', 'include = ["*.py", "conf/*.toml"]\n'
                                                            'exclude = ["**/settings.toml"]'))
        proc = self.build("--no-snapshot")
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn(f"{settings} is not among the app's files (a [tool.pybundle] exclude glob matches it: narrow it",
                      proc.stderr)
        write(path, read(path).replace('exclude = ["**/settings.toml"]', ""))
        write(os.path.join(src, "app.py"), "import uuid\nBUILD_ID = uuid.uuid4()\n", "a")
        proc = self.build()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("warning: the app opens tests/data.txt while it is imported", proc.stderr)
        # Snapshot warnings name the project's files too.
        line = read(os.path.join(src, "app.py")).count("\n")
        self.assertIn(f"src/app.py:{line}: uuid.uuid4() runs while the snapshot is made", proc.stderr)

    def test_json_output_holds_a_name_that_is_not_utf8(self):
        # A file name (or a --var) that is not UTF-8 is reported in valid JSON, not an abort or exit 4.
        with open(os.path.join(os.fsencode(self.project), b"src", b"caf\xe9.txt"), "wb") as f:
            f.write(b"x")
        env = dict(os.environ, **bundles.env(**CLEAN_ENV))
        for args in (["plan", self.project, "--target", TARGET],
                     ["build", self.project, "--out", self.out, "--mirror", f"{LOCK_BASE}={self.base}",
                      "--target", TARGET, "--no-snapshot", "--no-smoke"]):
            proc = subprocess.run([support.PYBUNDLE, *args, "--format", "json"], capture_output=True, env=env)
            self.assertEqual(proc.returncode, 1, proc.stderr)
            doc = json.loads(proc.stdout)
            self.assertIn("app: 'caf\ufffd.txt': name is not valid UTF-8", json.dumps(doc, ensure_ascii=False))
        self.assertFalse(os.path.exists(self.out))
        proc = subprocess.run([support.PYBUNDLE, "run", self.out, "--var", b"GREETING=a\xffb", "--format", "json"],
                              capture_output=True, env=env)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertEqual(json.loads(proc.stdout)["errors"], ["--var: GREETING: not valid UTF-8"])

    def test_a_bundle_path_that_is_not_utf8_is_refused_in_one_line(self):
        # Node.js reads its argv as UTF-8, so the host would be handed a path that does not exist.
        env = dict(os.environ, **bundles.env(**CLEAN_ENV))
        bad = os.fsencode(self.tmp) + b"/out\xff"
        common = ["--mirror", f"{LOCK_BASE}={self.base}", "--target", TARGET]
        proc = subprocess.run([support.PYBUNDLE, "build", self.project, "--out", bad, *common], capture_output=True,
                              env=env)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn(b"is a path that is not valid UTF-8, which Node.js cannot open", proc.stderr)
        self.assertNotIn(b"Fetched", proc.stderr)
        self.assertEqual(os.listdir(self.tmp), [os.path.basename(self.project)])
        # A bundle moved there after its build: run names it in one line.
        proc = self.build("--no-snapshot", "--no-smoke")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        os.rename(self.out, bad)
        proc = subprocess.run([support.PYBUNDLE, "run", bad], capture_output=True, env=env)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertEqual(proc.stderr.count(b"\n"), 1, proc.stderr)
        self.assertIn(b"/out\xff: the path is not valid UTF-8, so Node.js cannot open it", proc.stderr)


class DirectoryDependencyTest(unittest.TestCase):
    """A local directory dependency whose modules its build backend's configuration places (item 15)."""

    def test_hatch_packages_are_found_and_an_unknown_layout_says_to_build_a_wheel(self):
        tmp = tempfile.mkdtemp(prefix="pb-errors-dir-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        project = support.copy_project(os.path.join(support.REPO, "fixtures", "minimize"), tmp)
        pkg = os.path.join(project, "packages", "unusedpkg")
        os.makedirs(os.path.join(pkg, "lib"))
        os.rename(os.path.join(pkg, "unusedpkg"), os.path.join(pkg, "lib", "unusedpkg"))
        pyproject = os.path.join(pkg, "pyproject.toml")
        write(pyproject, '\n[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n\n'
                         '[tool.hatch.build.targets.wheel]\npackages = ["lib/unusedpkg"]\n', "a")
        out = os.path.join(tmp, "out")
        args = ("build", project, "--out", out, "--target", TARGET, "--no-snapshot", "--no-smoke")
        proc = support.run(*args, env=bundles.env(**CLEAN_ENV))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertTrue(os.path.isfile(os.path.join(out, "python_modules", "unusedpkg", "__init__.py")))
        # Configured by code only (setup.py): nothing pybundle can read, so it says what to do.
        write(pyproject, read(pyproject).split("\n[tool.hatch")[0].replace("hatchling", "setuptools")
              .replace("setuptools.build", "setuptools.build_meta"))
        write(os.path.join(pkg, "setup.py"), "from setuptools import setup\nsetup(package_dir={'': 'lib'})\n")
        proc = support.run(*args, env=bundles.env(**CLEAN_ENV))
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn(f"unusedpkg: no Python modules or packages in {pkg}, and pybundle does not run build "
                      f"backends: build the directory into a wheel first (`uv build --wheel {pkg}`) and depend on "
                      "the wheel", proc.stderr)


if __name__ == "__main__":
    unittest.main()
