"""The vendor stage end to end: malicious wheels made here with zipfile, the real corpus,
byte-identical bundles and archives, and builds killed at any point."""
import io
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import tarfile
import tempfile
import time
import unittest
import zipfile

import support

DRIVER = os.path.join(os.path.dirname(support.PYBUNDLE), "tests", "vendor_driver")
TARGET = {"pyodide": "0.29.3", "python": "3.13.2", "abi": "2025_0", "platform": "emscripten_4_0_9"}


def make_wheel(directory, dist, version, files, *, unlisted=(), rows=None, modes=None, compress=False):
    """A deterministic wheel: `files` maps names to bytes (written in order, duplicates allowed as
    a list of pairs); RECORD lists every file unless `unlisted`; `modes` sets unix modes."""
    items = list(files.items()) if isinstance(files, dict) else list(files)
    dist_info = f"{dist}-{version}.dist-info"
    items.append((f"{dist_info}/METADATA", f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n".encode()))
    record = []
    for name, data in items:
        if name in unlisted or name.endswith("/"):
            continue
        record.append((rows or {}).get(name, f"{name},{support.record_hash(data)},{len(data)}"))
    record.append(f"{dist_info}/RECORD,,")
    items.append((f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode()))
    path = os.path.join(directory, f"{dist}-{version}-py3-none-any.whl")
    with zipfile.ZipFile(path, "w") as z:
        for name, data in items:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = (modes or {}).get(name, 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
            with _quiet_duplicates():
                z.writestr(info, data)
    return {"name": dist, "version": version, "filename": os.path.basename(path),
            "sha256": support.file_sha256(path), "file": path}


class _quiet_duplicates:
    def __enter__(self):
        import warnings
        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        self._w.__exit__(*exc)


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f)


def drive(spec, tmp, env=None):
    path = os.path.join(tmp, f"spec-{random.random()}.json")
    write_json(path, spec)
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([DRIVER, path], capture_output=True, text=True, env=full_env)


def tree_state(root):
    """Every path under root with its type, mode, mtime and content hash."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            rel = os.path.relpath(full, root)
            digest = support.file_sha256(full) if stat.S_ISREG(st.st_mode) else None
            out[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_mtime_ns, digest)
    return out


def verify_bundle(test, out):
    """bundle.json matches the files on disk exactly, and its digest is right."""
    with open(os.path.join(out, "bundle.json")) as f:
        manifest = json.load(f)
    on_disk = {}
    for top in ("python_modules", "app"):
        for dirpath, _, filenames in os.walk(os.path.join(out, top)):
            for name in filenames:
                full = os.path.join(dirpath, name)
                on_disk[os.path.relpath(full, out)] = support.file_sha256(full)
    listed = {f["path"]: f["sha256"] for f in manifest["files"]}
    test.assertEqual(listed, on_disk)
    test.assertEqual([f["path"] for f in manifest["files"]], sorted(listed, key=lambda p: p.encode()))
    test.assertEqual(manifest["digest"], support.bundle_digest(manifest["files"]))
    return manifest


class MaliciousWheels(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pb-vendor-it-")
        self.out = os.path.join(self.tmp, "out", "bundle")
        good = make_wheel(self.tmp, "good", "1.0", {"good/__init__.py": b"ok = True\n"})
        proc = drive({"out": self.out, "target": TARGET, "inputs": [good]}, self.tmp)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.before = tree_state(os.path.dirname(self.out))

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def refuse(self, wheels, *expected, **options):
        """The build fails with exit 1, one line per problem, each expected text present; the
        previous bundle is untouched and nothing else is left next to it."""
        proc = drive({"out": self.out, "target": TARGET, "inputs": wheels, "options": options}, self.tmp)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        for text in expected:
            self.assertIn(text, proc.stderr)
        self.assertEqual(tree_state(os.path.dirname(self.out)), self.before)
        return proc.stderr

    def wheel(self, files, **kw):
        return make_wheel(self.tmp, "evil", "1.0", files, **kw)

    def test_path_traversal(self):
        self.refuse([self.wheel({"evil/../../escape.py": b"x"})],
                    "evil-1.0-py3-none-any.whl: entry 'evil/../../escape.py': '..' path component")

    def test_absolute_path(self):
        self.refuse([self.wheel({"/tmp/pb-absolute.py": b"x"})],
                    "evil-1.0-py3-none-any.whl: entry '/tmp/pb-absolute.py': absolute path")
        self.assertFalse(os.path.exists("/tmp/pb-absolute.py"))

    def test_symlink(self):
        self.refuse([self.wheel({"evil/passwd": b"/etc/passwd"}, modes={"evil/passwd": 0o120777})],
                    "evil-1.0-py3-none-any.whl: entry 'evil/passwd': symbolic link")

    def test_device_file(self):
        self.refuse([self.wheel({"evil/null": b""}, modes={"evil/null": 0o020666})],
                    "evil-1.0-py3-none-any.whl: entry 'evil/null': device file")

    def test_duplicate_entries(self):
        self.refuse([self.wheel([("evil/a.py", b"one"), ("evil/a.py", b"one")])],
                    "evil-1.0-py3-none-any.whl: entry 'evil/a.py': duplicate entry")

    def test_case_only_clash(self):
        self.refuse([self.wheel({"evil/Config.py": b"a", "evil/config.py": b"b"})],
                    "entry 'evil/config.py': differs only by case from entry 'evil/Config.py'")

    def test_zip_bomb_ratio(self):
        bomb = self.wheel({"evil/zeros.bin": bytes(32 << 20)}, compress=True)
        self.assertLess(os.path.getsize(bomb["file"]), 1 << 20)
        self.refuse([bomb], "evil-1.0-py3-none-any.whl: compression ratio exceeds 100:1")

    def test_zip_bomb_size_cap(self):
        self.refuse([self.wheel({"evil/big.bin": os.urandom(3 << 20)})],
                    "evil-1.0-py3-none-any.whl: unpacks to more than 2 MiB", max_unpacked=2 << 20)

    def test_record_mismatch(self):
        self.refuse([self.wheel({"evil/a.py": b"tampered"},
                                rows={"evil/a.py": f"evil/a.py,{support.record_hash(b'original')},8"})],
                    "entry 'evil/a.py': sha256 does not match RECORD")

    def test_unlisted_file(self):
        self.refuse([self.wheel({"evil/a.py": b"a", "evil/extra.py": b"b"}, unlisted={"evil/extra.py"})],
                    "entry 'evil/extra.py': not listed in RECORD")

    def test_two_wheels_one_path_and_every_problem_at_once(self):
        a = make_wheel(self.tmp, "alpha", "1.0", {"common/x.py": b"a"})
        b = make_wheel(self.tmp, "beta", "1.0", {"common/x.py": b"b"})
        err = self.refuse([b, a], "python_modules/common/x.py is written by both alpha-1.0-py3-none-any.whl "
                                  "(entry 'common/x.py') and beta-1.0-py3-none-any.whl (entry 'common/x.py')")
        c = make_wheel(self.tmp, "gamma", "1.0", {"/abs.py": b""})
        d = make_wheel(self.tmp, "delta", "1.0", {"delta/link": b"x"}, modes={"delta/link": 0o120777})
        err = self.refuse([c, d], "gamma-1.0-py3-none-any.whl: entry '/abs.py'",
                          "delta-1.0-py3-none-any.whl: entry 'delta/link'")
        self.assertEqual(len(err.strip().splitlines()), 2, err)

    def damaged(self, compress):
        """A wheel whose entry's bytes are damaged after packing, with the sha256 of the result."""
        source = "\n".join(f"x{i} = {i * i}" for i in range(3000)).encode()  # does not deflate to nothing
        w = make_wheel(self.tmp, "six", "1.0", {"six.py": source}, compress=compress)
        with open(w["file"], "r+b") as f:
            data = bytearray(f.read())
            at = data.index(b"six.py") + len("six.py") + 200  # inside the entry's data
            data[at] ^= 0xFF
            data[at + 1] ^= 0x55
            f.seek(0)
            f.write(data)
        w["sha256"] = support.file_sha256(w["file"])
        return w

    def test_damaged_wheel_names_its_file_and_that_fetching_again_will_not_help(self):
        w = self.damaged(compress=True)
        err = self.refuse([w], f"six-1.0-py3-none-any.whl ({w['file']}): entry 'six.py': corrupt data: ",
                          "the file has the sha256 the lock pins", "lock another version of six")
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        # A bad CRC is damage too, not a RECORD mismatch.
        self.refuse([self.damaged(compress=False)], "entry 'six.py': corrupt data: ZIP bad CRC",
                    "the file has the sha256 the lock pins")

    def test_damaged_cache_file_that_changed_after_its_check(self):
        w = dict(self.damaged(compress=True), sha256="0" * 64)
        self.refuse([w], f"({w['file']}): entry 'six.py': corrupt data: ",
                    "the file changed after its sha256 was checked: build again")


class Corpus(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.corpus = support.corpus("flask-app")
        with open(os.path.join(cls.corpus, "corpus.json")) as f:
            cls.meta = json.load(f)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pb-vendor-it-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def spec(self, out, **options):
        inputs = [{"name": w["name"], "version": w["version"], "filename": w["filename"], "sha256": w["sha256"],
                   "file": os.path.join(self.corpus, "wheels", w["filename"])} for w in self.meta]
        return {"out": out, "app_dir": os.path.join(self.corpus, "project"), "entry": "src/app.py",
                "target": TARGET, "inputs": inputs, "options": options}

    def test_every_recorded_file_is_there_or_reported_dropped(self):
        out = os.path.join(self.tmp, "bundle")
        proc = drive(self.spec(out), self.tmp)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        report = json.loads(proc.stdout)
        manifest = verify_bundle(self, out)
        files = {f["path"] for f in manifest["files"]}
        dropped = {(d["wheel"], d["entry"]) for d in report["dropped"]}
        for w in self.meta:
            with zipfile.ZipFile(os.path.join(self.corpus, "wheels", w["filename"])) as z:
                for name in z.namelist():
                    if name.endswith("/"):
                        continue
                    self.assertTrue(f"python_modules/{name}" in files or (w["filename"], name) in dropped, name)
        self.assertIn("app/app.py", files)
        self.assertEqual(manifest["entry"], {"path": "app/app.py", "module": "app", "source": "src/app.py"})
        self.assertEqual([p["name"] for p in manifest["packages"]], sorted(w["name"] for w in self.meta))
        self.assertEqual(list(manifest), ["schema", "tool", "target", "entry", "packages", "files", "digest",
                                          "snapshot"])
        self.assertIsNone(manifest["snapshot"])
        # Python imports the result: every public module of the set, from python_modules alone.
        modules = sorted({m for w in self.meta for m in w["import_names"]})
        code = ("import importlib, sys\nsys.path.insert(0, sys.argv[1])\n"
                "for m in sys.argv[2:]: importlib.import_module(m)\n")
        run = subprocess.run(["python3", "-I", "-S", "-c", code, os.path.join(out, "python_modules"), *modules],
                             capture_output=True, text=True)
        self.assertEqual(run.returncode, 0, run.stderr)

    def test_same_inputs_give_identical_bundles(self):
        one, two = os.path.join(self.tmp, "one"), os.path.join(self.tmp, "two")
        for out, jobs in ((one, 1), (two, 2)):
            proc = drive(self.spec(out, jobs=jobs), self.tmp, env={"SOURCE_DATE_EPOCH": "1700000000"})
            self.assertEqual(proc.returncode, 0, proc.stderr)
        a, b = tree_state(one), tree_state(two)
        self.assertEqual(a, b)
        self.assertEqual({m for (_, _, m, _) in a.values()}, {1700000000 * 10**9})
        self.assertEqual({(t, mode) for (t, mode, _, _) in a.values()},
                         {(stat.S_IFDIR, 0o755), (stat.S_IFREG, 0o644)})
        self.assertEqual(os.stat(one).st_mtime_ns, 1700000000 * 10**9)

    def test_archives_are_byte_identical_and_hold_the_bundle(self):
        for ext in ("tar.zst", "zip"):
            archives = []
            for n in (1, 2):
                spec = self.spec(os.path.join(self.tmp, f"b{n}"))
                spec["archive"] = os.path.join(self.tmp, f"bundle{n}.{ext}")
                proc = drive(spec, self.tmp, env={"SOURCE_DATE_EPOCH": "1700000000", "TZ": ["UTC", "Asia/Tokyo"][n - 1]})
                self.assertEqual(proc.returncode, 0, proc.stderr)
                with open(spec["archive"], "rb") as f:
                    archives.append(f.read())
            self.assertEqual(archives[0], archives[1], ext)
            if ext == "zip":
                with zipfile.ZipFile(io.BytesIO(archives[0])) as z:
                    names = z.namelist()
                    contents = {n: z.read(n) for n in names if not n.endswith("/")}
            else:
                if not shutil.which("zstd"):
                    continue
                tar = subprocess.run(["zstd", "-dc"], input=archives[0], capture_output=True, check=True).stdout
                with tarfile.open(fileobj=io.BytesIO(tar)) as t:
                    members = t.getmembers()
                    names = [m.name + ("/" if m.isdir() else "") for m in members]
                    contents = {m.name: t.extractfile(m).read() for m in members if m.isfile()}
                    self.assertEqual({(m.uid, m.gid, m.mtime) for m in members}, {(0, 0, 1700000000)})
            self.assertEqual(names, sorted(names, key=lambda n: n.encode()))
            on_disk = {}
            for rel in tree_state(os.path.join(self.tmp, "b1")):
                full = os.path.join(self.tmp, "b1", rel)
                if os.path.isfile(full):
                    with open(full, "rb") as f:
                        on_disk[rel] = f.read()
            self.assertEqual(contents, on_disk)

    def test_builds_killed_at_any_point_leave_a_whole_bundle(self):
        out = os.path.join(self.tmp, "bundle")
        proc = drive(self.spec(out), self.tmp)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        first = verify_bundle(self, out)["digest"]
        # A second version of the bundle: without default trimming, so every file differs in count.
        spec = self.spec(out, trim=False)
        spec_path = os.path.join(self.tmp, "kill-spec.json")
        write_json(spec_path, spec)
        start = time.monotonic()
        subprocess.run([DRIVER, spec_path], check=True, capture_output=True)
        full = time.monotonic() - start
        second = verify_bundle(self, out)["digest"]
        self.assertNotEqual(first, second)
        rng = random.Random(7)
        specs = [self.spec(out), spec]
        for i in range(12):
            path = os.path.join(self.tmp, f"kill-{i}.json")
            write_json(path, specs[i % 2])
            child = subprocess.Popen([DRIVER, path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0, full * 1.2))
            child.send_signal(signal.SIGKILL)
            child.wait()
            self.assertIn(verify_bundle(self, out)["digest"], (first, second))
        proc = drive(self.spec(out), self.tmp)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(verify_bundle(self, out)["digest"], first)
        self.assertEqual(sorted(os.listdir(self.tmp)),
                         sorted(["bundle"] + [n for n in os.listdir(self.tmp) if n.endswith(".json")]))


if __name__ == "__main__":
    unittest.main()
