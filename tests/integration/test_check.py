"""`pybundle check`: one broken fixture per check (fixtures/check/), exit codes, the JSON schema
documented in man/pybundle.1, GitHub annotations line by line, configuration precedence, and
`pybundle completions`."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import support

FIXTURES = os.path.join(support.REPO, "fixtures", "check")
EXAMPLE = os.path.join(support.REPO, "fixtures", "example")
RUNTIME = os.path.join(support.REPO, "fixtures", "targets", "0.29.3")
TARGET = "pyodide@0.29.3"  # pinned: the tests name its facts, whatever the default target is
PINNED = ("--target", TARGET, "--runtime", RUNTIME)
MAN = os.path.join(support.REPO, "man", "pybundle.1")

# The environment a user may have set; tests set what they need themselves.
CLEAN_ENV = {"PYBUNDLE_TARGET": "", "PYBUNDLE_SIZE_BUDGET": "", "NO_COLOR": ""}


def check(*args, env=None, cwd=None):
    full = dict(CLEAN_ENV)
    full.update(env or {})
    return support.run("check", *args, env=full, cwd=cwd)


def check_json(*args, env=None, cwd=None):
    proc = check(*args, "--format", "json", env=env, cwd=cwd)
    try:
        doc = json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        raise AssertionError(f"not JSON ({e}):\n{proc.stdout}\nstderr:\n{proc.stderr}")
    validate(doc, documented_schema())
    return proc, doc


def fixture(name):
    return os.path.join(FIXTURES, name)


def findings(doc, check_name=None):
    return [dict(f, check=c["name"]) for c in doc["checks"] if check_name in (None, c["name"]) for f in c["findings"]]


def status(doc, name):
    return next(c["status"] for c in doc["checks"] if c["name"] == name)


# ---- The JSON schema, read from the man page -----------------------------------------------------

def documented_schema():
    """The JSON Schema between the BEGIN/END CHECK JSON SCHEMA comments of man/pybundle.1."""
    with open(MAN, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r'^\.\\" BEGIN CHECK JSON SCHEMA\n(.*?)^\.\\" END CHECK JSON SCHEMA', text, re.S | re.M)
    if not m:
        raise AssertionError("man/pybundle.1 has no CHECK JSON SCHEMA block")
    body = "\n".join(l for l in m.group(1).splitlines() if not l.startswith("."))
    return json.loads(body.replace("\\-", "-").replace("\\e", "\\"))


def validate(value, schema, where="$"):
    """The subset of JSON Schema the documented schema uses: type (one or a list), enum, const,
    properties, required, additionalProperties (bool or schema), items, minimum."""
    types = schema.get("type")
    if types is not None:
        names = types if isinstance(types, list) else [types]
        kinds = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}

        def fits(t):
            if t == "integer":
                return isinstance(value, int) and not isinstance(value, bool)
            if t == "number":
                return isinstance(value, (int, float)) and not isinstance(value, bool)
            return isinstance(value, kinds[t])
        if not any(fits(t) for t in names):
            raise AssertionError(f"{where}: {value!r} is not of type {types}")
    if "enum" in schema and value not in schema["enum"]:
        raise AssertionError(f"{where}: {value!r} not in {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        raise AssertionError(f"{where}: {value!r} != {schema['const']!r}")
    if "minimum" in schema and isinstance(value, (int, float)) and value < schema["minimum"]:
        raise AssertionError(f"{where}: {value!r} < {schema['minimum']}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                raise AssertionError(f"{where}: missing key {key!r}")
        extra = schema.get("additionalProperties", True)
        for key, v in value.items():
            if key in props:
                validate(v, props[key], f"{where}.{key}")
            elif extra is False:
                raise AssertionError(f"{where}: unexpected key {key!r}")
            elif isinstance(extra, dict):
                validate(v, extra, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            validate(v, schema["items"], f"{where}[{i}]")


class Schema(unittest.TestCase):
    def test_the_validator_rejects_what_the_schema_forbids(self):
        schema = documented_schema()
        _, doc = check_json(EXAMPLE, *PINNED)
        for broken in (
            dict(doc, ok="yes"),
            dict(doc, extra=1),
            {k: v for k, v in doc.items() if k != "checks"},
            dict(doc, checks=[dict(doc["checks"][0], status="fine")]),
            dict(doc, checks=[dict(doc["checks"][0], findings=[{"severity": "error"}])]),
        ):
            with self.assertRaises(AssertionError):
                validate(broken, schema)


# ---- Project checks ------------------------------------------------------------------------------

class ProjectChecks(unittest.TestCase):
    def test_example_passes(self):
        proc, doc = check_json(EXAMPLE, *PINNED)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertTrue(doc["ok"])
        self.assertEqual(doc["kind"], "project")
        self.assertEqual(doc["target"], "pyodide@0.29.3")
        self.assertEqual([c["name"] for c in doc["checks"]],
                         ["pyproject", "lock", "lock-fresh", "target", "servable", "sources", "size", "app"])
        self.assertEqual({c["status"] for c in doc["checks"]}, {"pass"})
        size = next(c for c in doc["checks"] if c["name"] == "size")
        # The lock's two wheel sizes and the app's one file.
        self.assertEqual(size["metrics"]["estimated_bytes"], 1298 + 1108 + os.path.getsize(os.path.join(EXAMPLE, "src", "app.py")))

    def test_stale_lock(self):
        proc, doc = check_json(fixture("stale-lock"), *PINNED)
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(status(doc, "lock-fresh"), "fail")
        [f] = findings(doc, "lock-fresh")
        self.assertEqual(f["code"], "lock-stale")
        self.assertIn("requests>=2", f["message"])
        self.assertTrue(f["file"].endswith("stale-lock/uv.lock"))
        self.assertIn("uv lock", f["fix"])
        # Only the lock is wrong.
        self.assertEqual([c["name"] for c in doc["checks"] if c["status"] != "pass"], ["lock-fresh"])

    def test_unsupported_package(self):
        proc, doc = check_json(fixture("unsupported"), *PINNED)
        self.assertEqual(proc.returncode, 1)
        [f] = findings(doc, "servable")
        self.assertEqual(f["code"], "unservable")
        self.assertIn("fastnum 1.2.0: no wheel in the lock runs on Pyodide 0.29.3", f["message"])
        self.assertIn("Linux and macOS wheels", f["message"])
        self.assertEqual(f["line"], 5)  # its [[package]] table in uv.lock
        self.assertIn("pyodide build", f["fix"])

    def test_git_url_and_sdist_packages(self):
        proc, doc = check_json(fixture("sources"), *PINNED)
        self.assertEqual(proc.returncode, 1)
        got = {f["code"]: f for f in findings(doc, "sources")}
        self.assertEqual(set(got), {"git-source", "url-source", "sdist-only"})
        self.assertIn("gitdep 1.0 comes from git", got["git-source"]["message"])
        self.assertIn("urldep 2.0 comes from a direct URL", got["url-source"]["message"])
        self.assertIn("sdistdep 0.9", got["sdist-only"]["message"])
        self.assertTrue(all(f["severity"] == "error" for f in got.values()))
        self.assertEqual(status(doc, "servable"), "pass")  # not reported twice

    def test_estimated_size_over_budget(self):
        proc, doc = check_json(fixture("over-budget"), *PINNED)
        self.assertEqual(proc.returncode, 1)
        fs = findings(doc, "size")
        self.assertEqual(fs[0]["code"], "size-over-budget")
        self.assertIn("estimated bundle size 2.4 KiB exceeds the size budget of 1.0 KiB", fs[0]["message"])
        self.assertIn("[tool.pybundle] size-budget", fs[0]["message"])
        self.assertTrue(fs[0]["file"].endswith("over-budget/pyproject.toml"))
        self.assertEqual([f["message"] for f in fs[1:]],
                         ["minirouter-1.0.0-py3-none-any.whl: 1.3 KiB", "slugkit-0.3.1-py3-none-any.whl: 1.1 KiB",
                          "app/ (the project's own files): 47 B"])

    def test_the_estimate_counts_the_apps_files(self):
        # A data file beside the entry is uploaded like a package: a budget the wheels alone fit is not
        # met, as check --bundle would find once it is built.
        tmp = tempfile.mkdtemp(prefix="pb-check-size-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        project = support.copy_project(EXAMPLE, tmp)
        proc, doc = check_json(project, *PINNED, "--size-budget", "32KiB")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(os.path.join(project, "src", "table.bin"), "wb") as f:
            f.write(os.urandom(64 * 1024))
        proc, doc = check_json(project, *PINNED, "--size-budget", "32KiB")
        self.assertEqual(proc.returncode, 1, proc.stderr)
        fs = findings(doc, "size")
        self.assertEqual(fs[0]["code"], "size-over-budget")
        self.assertEqual(fs[1]["message"], "app/ (the project's own files): 64.4 KiB")

    def test_an_entry_the_build_would_not_find_fails(self):
        # The gate passed a project whose entry file is missing; the build then failed on it.
        with tempfile.TemporaryDirectory() as tmp:
            project = os.path.join(tmp, "p")
            shutil.copytree(EXAMPLE, project)
            os.rename(os.path.join(project, "src", "app.py"), os.path.join(project, "src", "worker.py"))
            proc, doc = check_json(project, *PINNED)
            self.assertEqual(proc.returncode, 1, proc.stdout)
            [f] = findings(doc, "app")
            self.assertEqual(f["code"], "app-files")
            self.assertEqual(f["message"], f"entry 'src/app.py': no such file in {project}")
            self.assertEqual([c["name"] for c in doc["checks"] if c["status"] != "pass"], ["app"])
            with open(os.path.join(project, "pyproject.toml"), "r+") as pyproject:
                text = pyproject.read().replace('entry = "src/app.py"', "")
                pyproject.seek(0)
                pyproject.truncate()
                pyproject.write(text)
            proc, doc = check_json(project, *PINNED)
            self.assertEqual(proc.returncode, 2, proc.stdout)
            [f] = findings(doc, "app")
            self.assertEqual((f["code"], f["fix"]), ("no-entry", 'set [tool.pybundle] entry = "src/app.py"'))

    def test_malformed_pyproject_is_a_configuration_error(self):
        proc, doc = check_json(fixture("bad-pyproject"), *PINNED)
        self.assertEqual(proc.returncode, 2)
        self.assertEqual(doc["exit_code"], 2)
        [f] = findings(doc, "pyproject")
        self.assertEqual(f["code"], "pyproject-invalid")
        self.assertTrue(f["file"].endswith("bad-pyproject/pyproject.toml"))
        self.assertEqual(f["line"], 6)
        self.assertEqual({c["status"] for c in doc["checks"][1:]}, {"skip"})

    def test_missing_runtime_is_a_configuration_error(self):
        # No runtime given, none in the (empty) cache, and no npm to install one.
        with tempfile.TemporaryDirectory() as tmp:
            proc, doc = check_json(EXAMPLE, "--cache-dir", tmp,
                                   env={"PYBUNDLE_PYODIDE_DIR": "", "PATH": os.path.join(tmp, "bin")})
        self.assertEqual(proc.returncode, 2, proc.stdout)
        [f] = findings(doc, "target")
        self.assertEqual(f["code"], "target-unavailable")
        self.assertIn("npm not found", f["message"])

    def test_skip(self):
        proc, doc = check_json(fixture("stale-lock"), *PINNED, "--skip", "lock-fresh")
        self.assertEqual(proc.returncode, 0, proc.stdout)
        self.assertEqual(status(doc, "lock-fresh"), "skip")
        self.assertEqual(check("--skip", "nonsense", EXAMPLE).returncode, 2)


# ---- Bundle checks: bundles built from the example and fixtures/check, then broken on purpose -----

LOCK_BASE = "http://127.0.0.1:8766"


def tar_gzip_size(directory):
    """The gzip size of a sorted pax tar of `directory` (owner 0, time 0), as Python makes it."""
    import gzip
    import io
    import tarfile
    entries = []
    for root, dirs, files in os.walk(directory):
        for n in dirs + files:
            p = os.path.join(root, n)
            entries.append((os.path.relpath(p, directory) + ("/" if os.path.isdir(p) else ""), p))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for rel, p in sorted(entries):
            info = t.gettarinfo(p, arcname=rel.rstrip("/"))
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            info.mode = 0o755 if info.isdir() else 0o644
            if info.isreg():
                with open(p, "rb") as f:
                    t.addfile(info, f)
            else:
                t.addfile(info)
    return len(gzip.compress(raw.getvalue(), compresslevel=6, mtime=0))


class BundleChecks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import bundles
        cls.env = bundles.env()  # one Pyodide runtime cache per machine
        cls._server = support.serve_directory(os.path.join(EXAMPLE, "index"))
        cls.base = cls._server.__enter__()
        cls.tmp = tempfile.mkdtemp(prefix="pb-check-")
        cls.built = {}

    @classmethod
    def tearDownClass(cls):
        cls._server.__exit__(None, None, None)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def build(cls, project, *args):
        """Build once per class; returns the bundle directory."""
        key = (project, args)
        if key not in cls.built:
            out = os.path.join(cls.tmp, f"built-{len(cls.built)}")
            proc = support.run("build", project, "--out", out, "--mirror", f"{LOCK_BASE}={cls.base}",
                               "--target", TARGET, *args, env=cls.env)
            if proc.returncode != 0:
                raise AssertionError(f"build failed:\n{proc.stderr}")
            cls.built[key] = out
        return cls.built[key]

    def copy(self, project=EXAMPLE, *args):
        """A fresh copy of a built bundle, to break."""
        dest = tempfile.mkdtemp(dir=self.tmp)
        shutil.rmtree(dest)
        shutil.copytree(self.build(project, *args), dest)
        return dest

    def check(self, bundle, *args):
        return check_json("--bundle", bundle, *args, env=self.env, cwd=self.tmp)

    def assertRuntimeChecksSkipped(self, doc, reason):
        for name in ("runtime", "snapshot", "entry", "smoke", "request"):
            c = next(c for c in doc["checks"] if c["name"] == name)
            self.assertEqual((c["status"], c["summary"]), ("skip", reason))

    def test_example_with_snapshot_passes(self):
        bundle = self.copy()
        proc, doc = self.check(bundle)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertEqual(doc["kind"], "bundle")
        self.assertEqual([c["name"] for c in doc["checks"]],
                         ["manifest", "files", "runtime", "snapshot", "entry", "smoke", "size", "request"])
        self.assertEqual({c["status"] for c in doc["checks"]}, {"pass"})
        request = next(c for c in doc["checks"] if c["name"] == "request")
        self.assertEqual(request["metrics"]["status"], 200)
        self.assertTrue(request["metrics"]["restored"])
        smoke = next(c for c in doc["checks"] if c["name"] == "smoke")
        self.assertIn("imported after the request, in the Pyodide restored from the snapshot", smoke["summary"])

    def test_tampered_file(self):
        bundle = self.copy()
        path = os.path.join(bundle, "python_modules", "minirouter", "__init__.py")
        with open(path, "r+b") as f:  # same size, one byte different
            first = f.read(1)
            f.seek(0)
            f.write(b"#" if first != b"#" else b" ")
        proc, doc = self.check(bundle)
        self.assertEqual(proc.returncode, 1)
        [f] = findings(doc, "files")
        self.assertEqual(f["code"], "file-changed")
        self.assertEqual(f["file"], os.path.join(bundle, "python_modules/minirouter/__init__.py"))
        self.assertRegex(f["message"], r"^changed since the build \(sha256 [0-9a-f]{64}, bundle.json says [0-9a-f]{64}\)$")
        self.assertRuntimeChecksSkipped(doc, "the files do not match bundle.json")

    def test_extra_file(self):
        bundle = self.copy()
        with open(os.path.join(bundle, "python_modules", "minirouter", "backdoor.py"), "w") as f:
            f.write("import os\n")
        with open(os.path.join(bundle, "notes.txt"), "w") as f:
            f.write("hello\n")
        proc, doc = self.check(bundle)
        self.assertEqual(proc.returncode, 1)
        got = sorted((f["code"], os.path.relpath(f["file"], bundle), f["message"]) for f in findings(doc, "files"))
        self.assertEqual(got, [("file-extra", "notes.txt", "not part of a bundle (only bundle.json, python_modules/, "
                                                            "app/ and the snapshot are)"),
                               ("file-extra", "python_modules/minirouter/backdoor.py", "not listed in bundle.json")])

    def test_missing_file(self):
        bundle = self.copy()
        os.remove(os.path.join(bundle, "python_modules", "slugkit", "__init__.py"))
        proc, doc = self.check(bundle)
        self.assertEqual(proc.returncode, 1)
        [f] = findings(doc, "files")
        self.assertEqual((f["code"], f["message"]), ("file-missing", "listed in bundle.json but missing"))
        self.assertTrue(f["file"].endswith("/python_modules/slugkit/__init__.py"))

    def test_snapshot_from_another_pyodide_version(self):
        bundle = self.copy()
        path = os.path.join(bundle, "snapshot.bin.zst")
        with open(path, "rb") as f:
            data = f.read()
        meta_len = int.from_bytes(data[12:16], "little")
        meta = json.loads(data[16:16 + meta_len])
        self.assertEqual(meta["pyodide"], "0.29.3")
        meta["pyodide"] = "0.27.7"
        new_meta = json.dumps(meta).encode()
        with open(path, "wb") as f:
            f.write(data[:12] + len(new_meta).to_bytes(4, "little") + new_meta + data[16 + meta_len:])
        # bundle.json is updated to the new file: only the version is wrong.
        manifest_path = os.path.join(bundle, "bundle.json")
        with open(manifest_path) as f:
            manifest = json.load(f)
        import hashlib
        with open(path, "rb") as f:
            manifest["snapshot"]["sha256"] = hashlib.sha256(f.read()).hexdigest()
        manifest["snapshot"]["size"] = os.path.getsize(path)
        with open(manifest_path, "w") as f:
            json.dump(manifest, f, indent=2)
        proc, doc = self.check(bundle)
        self.assertEqual(proc.returncode, 1)
        [f] = findings(doc, "snapshot")
        self.assertEqual(f["code"], "snapshot-stale")
        self.assertEqual(f["message"], "snapshot.bin.zst cannot be restored: it was made with Pyodide 0.27.7, "
                                       "the runtime is Pyodide 0.29.3")
        self.assertEqual(status(doc, "request"), "skip")

    def test_entry_without_on_fetch(self):
        # A build refuses an entry without a handler; --no-smoke makes the broken bundle to check.
        bundle = self.copy(fixture("no-on-fetch"), "--no-snapshot", "--no-smoke")
        proc, doc = self.check(bundle)
        self.assertEqual(proc.returncode, 1)
        [f] = findings(doc, "entry")
        self.assertEqual(f["code"], "no-on-fetch")
        self.assertIn("entry module 'app' (app/app.py) defines no on_fetch(request)", f["message"])
        self.assertEqual(f["file"], os.path.join(bundle, "app/app.py"))
        self.assertIn("def on_fetch(request):", f["fix"])
        self.assertEqual((status(doc, "request"), doc["checks"][-1]["summary"]), ("skip", "the entry did not load"))

    def test_entry_that_raises(self):
        # A build refuses an entry that does not import; --no-smoke makes the broken bundle to check.
        bundle = self.copy(fixture("entry-raises"), "--no-snapshot", "--no-smoke")
        proc, doc = self.check(bundle)
        self.assertEqual(proc.returncode, 1)
        [f] = findings(doc, "entry")
        self.assertEqual(f["code"], "import-error")
        self.assertEqual(f["message"], "importing 'app' failed: KeyError: 'timeout' (src/app.py:6)")
        self.assertEqual((f["file"], f["line"]), (os.path.join(bundle, "app/app.py"), 6))
        self.assertIn("KeyError: 'timeout'", proc.stderr)  # the traceback, for people
        self.assertIn(f"`pybundle run {bundle}` reproduces it", f["fix"])

    def broken_import_bundle(self):
        """fixtures/check/broken-import as a bundle: its app/ and python_modules/, and a bundle.json."""
        import bundles
        dest = tempfile.mkdtemp(dir=self.tmp)
        for top in ("app", "python_modules"):
            shutil.copytree(os.path.join(fixture("broken-import"), top), os.path.join(dest, top))
        bundles.write_manifest(dest)
        return dest

    def test_vendored_modules_that_do_not_import(self):
        bundle = self.broken_import_bundle()
        proc, doc = self.check(bundle)
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assertEqual((status(doc, "entry"), status(doc, "request")), ("pass", "pass"))
        smoke = next(c for c in doc["checks"] if c["name"] == "smoke")
        self.assertEqual(smoke["status"], "fail")
        self.assertEqual((smoke["metrics"]["modules"], smoke["metrics"]["failed"]), (6, 4))  # app + 5 vendored
        self.assertEqual(smoke["summary"], "2 of 6 modules imported after the request, in the Pyodide that imported "
                                           "the entry, 1 needs a top-level module the bundle does not have")
        got = {f["message"].split("'")[1]: f for f in smoke["findings"]}
        self.assertEqual(sorted(got), ["exits", "halfpkg", "optional_extra", "raising"])
        # One failure does not stop the others; SystemExit is caught too.
        exits, half, optional, raising = got["exits"], got["halfpkg"], got["optional_extra"], got["raising"]
        self.assertEqual((exits["severity"], exits["code"]), ("error", "module-import-error"))
        self.assertEqual(exits["message"], "module 'exits' (misc-tools) does not import: SystemExit: 3")
        self.assertEqual((exits["file"], exits["line"]), (os.path.join(bundle, "python_modules/exits.py"), 3))
        self.assertTrue(half["message"].startswith("module 'halfpkg' (halfpkg) does not import: ImportError: "
                                                   "cannot import name 'tests' from partially initialized module "
                                                   "'halfpkg'"), half["message"])
        self.assertEqual((half["file"], half["line"]), (os.path.join(bundle, "python_modules/halfpkg/__init__.py"), 2))
        self.assertIn("--keep", half["fix"])
        self.assertEqual(raising["message"], "module 'raising' (raising-dist) does not import: "
                                             "RuntimeError: RAISING_CONFIG is not set")
        self.assertEqual((raising["file"], raising["line"]),
                         (os.path.join(bundle, "python_modules/raising/__init__.py"), 3))
        self.assertEqual((optional["severity"], optional["code"]), ("warning", "module-needs-absent"))
        self.assertEqual(optional["message"], "module 'optional_extra' (misc-tools) does not import: "
                                              "ModuleNotFoundError: No module named 'not_installed_anywhere'")
        # GitHub annotations, one per failing module.
        gh = check("--bundle", bundle, "--format", "github", env=self.env, cwd=self.tmp)
        lines = [l for l in gh.stdout.splitlines() if "pybundle smoke" in l]
        for line in lines:
            self.assertRegex(line, ANNOTATION)
        self.assertIn(f"::error file={bundle}/python_modules/raising/__init__.py,line=3,"
                      f"title=pybundle smoke%3A module-import-error::module 'raising' (raising-dist) does not import: "
                      f"RuntimeError: RAISING_CONFIG is not set (fix: `pybundle check --bundle OUT -v` prints the "
                      f"traceback)", lines)
        self.assertEqual(sorted(l.split("::")[1].split(" ")[0] for l in lines), ["error", "error", "error", "warning"])
        # -v prints each traceback; --skip smoke leaves the bundle passing.
        verbose = check("--bundle", bundle, "-v", env=self.env, cwd=self.tmp)
        self.assertIn("smoke: importing 'raising' raised:\nTraceback", verbose.stderr)
        proc, doc = self.check(bundle, "--skip", "smoke")
        self.assertEqual(proc.returncode, 0, proc.stdout)

    def test_entry_failure_is_left_to_the_entry_check(self):
        bundle = self.broken_import_bundle()
        with open(os.path.join(bundle, "app", "app.py"), "a") as f:
            f.write("import halfpkg\n")
        import bundles
        bundles.write_manifest(bundle)
        proc, doc = self.check(bundle)
        self.assertEqual(proc.returncode, 1)
        [entry] = findings(doc, "entry")
        self.assertEqual(entry["code"], "import-error")
        self.assertNotIn("entry module", " ".join(f["message"] for f in findings(doc, "smoke")))
        self.assertEqual(len(findings(doc, "smoke")), 4)

    def test_bundle_over_budget(self):
        bundle = self.copy()
        proc, doc = self.check(bundle, "--size-budget", "1KiB")
        self.assertEqual(proc.returncode, 1)
        size = next(c for c in doc["checks"] if c["name"] == "size")
        self.assertEqual(size["status"], "fail")
        over, *largest = size["findings"]
        self.assertEqual(over["code"], "size-over-budget")
        self.assertRegex(over["message"], r"^the upload \(app/ and python_modules/\) is [\d.]+ KiB gzipped \(\d+ bytes\), "
                                          r"over the size budget of 1\.0 KiB \(--size-budget\)$")
        # The ten largest uploaded files (the snapshot is not uploaded, so not among them).
        import bundles
        listed = [(f["path"], f["size"]) for f in bundles.load_json(os.path.join(bundle, "bundle.json"))["files"]]
        shown = [(e["path"], e["size"]) for e in size["metrics"]["largest"]]
        self.assertEqual(len(shown), min(10, len(listed)))
        self.assertEqual([s for _, s in shown], sorted((s for _, s in listed), reverse=True)[:len(shown)])
        self.assertTrue(set(shown) <= set(listed))
        self.assertEqual(len(largest), len(shown))
        self.assertEqual(largest[0]["file"], os.path.join(bundle, shown[0][0]))
        self.assertTrue(all(f["code"] == "size-largest" and f["severity"] == "note" for f in largest))
        # The budget measures what build's warning and inspect measure; the whole bundle is beside it.
        inspected = support.run("inspect", bundle, "--format", "json", env=self.env)
        self.assertEqual(inspected.returncode, 0, inspected.stderr)
        self.assertEqual(size["metrics"]["gzip_bytes"], json.loads(inspected.stdout)["gzip_bytes"])
        self.assertAlmostEqual(size["metrics"]["bundle_gzip_bytes"] / tar_gzip_size(bundle), 1.0, delta=0.02)
        self.assertGreater(size["metrics"]["bundle_gzip_bytes"], size["metrics"]["gzip_bytes"])
        # And as GitHub annotations.
        gh = check("--bundle", bundle, "--size-budget", "1KiB", "--format", "github", env=self.env)
        lines = gh.stdout.splitlines()
        for line in lines:
            self.assertRegex(line, ANNOTATION)
        self.assertTrue(lines[0].startswith("::error title=pybundle size%3A size-over-budget::the upload "))
        self.assertEqual(lines[1], f"::notice file={bundle}/{shown[0][0]},title=pybundle size%3A size-largest::"
                                   f"{shown[0][0]}: {largest[0]['message'].split(': ')[1]}")

    def test_budget_from_the_projects_pyproject(self):
        bundle = self.copy()
        project = support.copy_project(EXAMPLE, tempfile.mkdtemp(dir=self.tmp))
        with open(os.path.join(project, "pyproject.toml"), "a") as f:
            f.write('size-budget = "100MiB"\n')
        proc, doc = self.check(bundle, project)
        self.assertEqual(proc.returncode, 0, proc.stdout)
        size = next(c for c in doc["checks"] if c["name"] == "size")
        self.assertEqual(size["metrics"]["budget_bytes"], 100 << 20)
        self.assertIn("[tool.pybundle] size-budget", size["summary"])

    def test_not_a_bundle(self):
        proc, doc = self.check(os.path.join(self.tmp, "nowhere"))
        self.assertEqual(proc.returncode, 2)
        self.assertEqual(findings(doc)[0]["code"], "bundle-missing")
        proc, doc = self.check(FIXTURES)
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(findings(doc)[0]["code"], "manifest-missing")


# ---- Output formats ------------------------------------------------------------------------------

ANNOTATION = re.compile(r"^::(error|warning|notice)( (file=[^,:]+(,line=\d+)?,)?title=[^:]+)?::[^\n\r]*$")


class Output(unittest.TestCase):
    def test_github_annotations_line_by_line(self):
        proc = check(fixture("sources"), *PINNED, "--format", "github")
        self.assertEqual(proc.returncode, 1)
        lines = proc.stdout.splitlines()
        for line in lines:
            self.assertRegex(line, ANNOTATION)
        errors = [l for l in lines if l.startswith("::error ")]
        self.assertEqual(len(errors), 3)
        lock = os.path.join(fixture("sources"), "uv.lock")
        git = next(l for l in errors if "sources%3A git-source" in l)
        self.assertTrue(git.startswith(f"::error file={lock},line=5,title=pybundle sources%3A git-source::gitdep 1.0 comes"))
        self.assertEqual(lines[-1], "::notice title=pybundle check::failed: 3 errors, 0 warnings in 8 checks")

    def test_github_passing(self):
        proc = check(EXAMPLE, *PINNED, "--format", "github")
        self.assertEqual(proc.returncode, 0)
        self.assertEqual(proc.stdout, "::notice title=pybundle check::passed: 0 errors, 0 warnings in 8 checks\n")

    def test_human_quiet_verbose_and_colour(self):
        proc = check(fixture("stale-lock"), *PINNED)
        self.assertEqual(proc.returncode, 1)
        self.assertNotIn("\033[", proc.stdout)  # not a terminal
        self.assertIn("FAIL lock-fresh", proc.stdout)
        self.assertIn("error[lock-stale]:", proc.stdout)
        self.assertIn("failed: 1 error, 0 warnings in 8 checks (exit 1)", proc.stdout)

        quiet = check(fixture("stale-lock"), *PINNED, "-q")
        self.assertEqual(quiet.returncode, 1)
        [line] = quiet.stdout.splitlines()
        self.assertRegex(line, r"^error\[lock-stale\]: .*stale-lock/uv.lock: out of date: ")

        verbose = check(fixture("stale-lock"), *PINNED, "-v")
        self.assertRegex(verbose.stdout, r"lock-fresh .*\(\d+\.\d\d s\)")
        self.assertIn('{"differences":1}', verbose.stdout)

        always = check(fixture("stale-lock"), *PINNED, "--color", "always")
        self.assertIn("\033[1;31mFAIL\033[0m", always.stdout)
        no_color = check(fixture("stale-lock"), *PINNED, "--color", "auto", env={"NO_COLOR": "1"})
        self.assertNotIn("\033[", no_color.stdout)


# ---- Configuration precedence: CLI > environment > [tool.pybundle] > defaults ---------------------

class Precedence(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)
        self.project = support.copy_project(EXAMPLE, self.tmp)

    def configure(self, text):
        path = os.path.join(self.project, "pyproject.toml")
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)

    def target(self, *args, env=None):
        proc, doc = check_json(self.project, "--runtime", RUNTIME, *args, env=env)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        return doc["target"]

    def budget(self, *args, env=None):
        _, doc = check_json(self.project, "--runtime", RUNTIME, *args, env=env)
        return next(c for c in doc["checks"] if c["name"] == "size")

    def test_target(self):
        default = support.run("--version").stdout.split("default target: ")[1].split("\n")[0]
        self.assertEqual(self.target(), default)
        self.configure('target = "pyodide@0.27.7"\n')
        self.assertEqual(self.target(), "pyodide@0.27.7")
        self.assertEqual(self.target(env={"PYBUNDLE_TARGET": "pyodide@0.29.3"}), "pyodide@0.29.3")
        self.assertEqual(self.target("--target", "pyodide@314.0.7", env={"PYBUNDLE_TARGET": "pyodide@0.29.3"}),
                         "pyodide@314.0.7")
        # A bad value says where it came from.
        proc = support.run("plan", self.project, env={"PYBUNDLE_TARGET": "bad"})
        self.assertEqual(proc.returncode, 2)
        self.assertIn("error: $PYBUNDLE_TARGET: invalid target 'bad'", proc.stderr)
        proc = support.run("plan", self.project, "--target", "bad", env={"PYBUNDLE_TARGET": "pyodide@0.29.3"})
        self.assertIn("error: invalid target 'bad'", proc.stderr)

    def test_size_budget(self):
        self.assertIsNone(self.budget()["metrics"]["budget_bytes"])
        self.configure('size-budget = "1KiB"\n')
        size = self.budget()
        self.assertEqual(size["metrics"]["budget_bytes"], 1024)
        self.assertEqual(size["status"], "fail")
        size = self.budget(env={"PYBUNDLE_SIZE_BUDGET": "2MiB"})
        self.assertEqual((size["metrics"]["budget_bytes"], size["status"]), (2 << 20, "pass"))
        self.assertIn("PYBUNDLE_SIZE_BUDGET", size["summary"])
        size = self.budget("--size-budget", "2KiB", env={"PYBUNDLE_SIZE_BUDGET": "2MiB"})
        self.assertEqual((size["metrics"]["budget_bytes"], size["status"]), (2048, "fail"))
        self.assertIn("--size-budget", size["findings"][0]["message"])

    def test_a_malformed_budget_names_its_source(self):
        proc, doc = check_json(self.project, "--runtime", RUNTIME, env={"PYBUNDLE_SIZE_BUDGET": "lots"})
        self.assertEqual(proc.returncode, 2)
        [f] = findings(doc, "size")
        self.assertTrue(f["message"].startswith("PYBUNDLE_SIZE_BUDGET: "), f["message"])


# ---- Exit codes of the CLI itself, and completions -----------------------------------------------

class Cli(unittest.TestCase):
    def test_usage_errors_exit_2(self):
        for args in (["--no-such-flag"], ["check", "--no-such-flag"], ["check", "--format", "xml"],
                     ["completions", "tcsh"], ["completions"], ["nonsense"], []):
            with self.subTest(args=args):
                self.assertEqual(support.run(*args).returncode, 2)

    def test_every_command_maps_a_bad_flag_to_2_and_has_help(self):
        for cmd in self.commands():
            with self.subTest(cmd=cmd):
                self.assertEqual(support.run(cmd, "--no-such-flag").returncode, 2)
                self.assertEqual(support.run(cmd, "--help").returncode, 0)

    def test_help_and_version_exit_0(self):
        for args in (["--help"], ["check", "--help"], ["completions", "--help"], ["--version"]):
            with self.subTest(args=args):
                self.assertEqual(support.run(*args).returncode, 0)
        self.assertIn("Examples:", support.run("check", "--help").stdout)

    def commands(self):
        """Subcommand names from `pybundle --help` (CLI11's Subcommands: section)."""
        text = support.run("--help").stdout
        section = text.split("Subcommands:")[1]
        return [l.split()[0] for l in section.splitlines() if l.startswith("  ") and l.split()]

    def test_bash_completion(self):
        script = support.run("completions", "bash", check=True).stdout

        def complete(*words):
            line = " ".join(words)
            prog = (script + "\nCOMP_WORDS=(" + " ".join(f"'{w}'" for w in words) + ")\n"
                    f"COMP_CWORD={len(words) - 1}\nCOMP_LINE='{line}'\n_pybundle\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n")
            out = subprocess.run(["bash", "-c", prog], capture_output=True, text=True, cwd=self.tmp_cwd())
            self.assertEqual(out.returncode, 0, out.stderr)
            return out.stdout.split()

        commands = self.commands()
        self.assertIn("check", commands)
        self.assertIn("completions", commands)
        self.assertEqual(sorted(complete("pybundle", "")), sorted(commands + ["--help", "--version", "-h", "-q", "-v",
                                                                              "--quiet", "--verbose", "--color", "--format",
                                                                              "--cache-dir", "--timeout"]))
        self.assertEqual(complete("pybundle", "ch"), ["check"])
        self.assertIn("--size-budget", complete("pybundle", "check", "--"))
        self.assertIn("--bundle", complete("pybundle", "check", "--b"))
        self.assertEqual(sorted(complete("pybundle", "check", "--format", "")), ["github", "human", "json"])
        self.assertEqual(complete("pybundle", "--color", "a"), ["auto", "always"])
        self.assertEqual(sorted(complete("pybundle", "cache", "")), ["--help", "-h", "clean", "dir", "prune"])
        # An option's value is not taken for a command word.
        self.assertIn("--size-budget", complete("pybundle", "--color", "never", "check", "--s"))
        self.assertEqual(complete("pybundle", "cache", "prune", "--d"), ["--days"])

    def tmp_cwd(self):
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d)
        return d

    def test_zsh_and_fish_completion(self):
        zsh = support.run("completions", "zsh", check=True).stdout
        fish = support.run("completions", "fish", check=True).stdout
        self.assertTrue(zsh.startswith("#compdef pybundle\n"))
        for cmd in self.commands():
            self.assertIn(f"'|{cmd}') cmd='{cmd}'", zsh)
            self.assertIn(f"-n '__pybundle_at \\'\\'' -a '{cmd}'", fish)
        self.assertIn("'check|--format') compadd -- github human json; return ;;", zsh)
        self.assertIn("-n '__pybundle_at \\'check\\'' -l format -x -a 'github human json'", fish)
        if shutil.which("fish"):
            with tempfile.NamedTemporaryFile("w", suffix=".fish") as f:
                f.write(fish)
                f.flush()
                out = subprocess.run(["fish", "-c", f"source {f.name}; complete -C 'pybundle ch'; "
                                      "complete -C 'pybundle check --format '; complete -C 'pybundle --color n check --b'"],
                                     capture_output=True, text=True)
                self.assertEqual([l.split("\t")[0] for l in out.stdout.splitlines()],
                                 ["check", "github", "human", "json", "--bundle"], out.stderr)
        for shell, text in (("zsh", zsh), ("fish", fish)):
            exe = shutil.which(shell)
            if not exe:
                continue
            with tempfile.NamedTemporaryFile("w", suffix="." + shell) as f:
                f.write(text)
                f.flush()
                args = [exe, "-n", f.name] if shell == "zsh" else [exe, "--no-execute", f.name]
                out = subprocess.run(args, capture_output=True, text=True)
                self.assertEqual(out.returncode, 0, f"{shell}: {out.stderr}")


if __name__ == "__main__":
    unittest.main()
