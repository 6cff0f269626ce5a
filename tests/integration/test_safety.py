"""What a build may destroy and leave behind: --out only replaces an empty directory or an earlier
bundle, options are checked before the disk is touched, and an interrupted build cleans up."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import unittest

import support

EXAMPLE = os.path.join(support.REPO, "fixtures", "example")
LOCK_BASE = "http://127.0.0.1:8766"


def tree(path):
    """Every file under path with its bytes and inode: what a refused build must leave alone."""
    found = {}
    for root, _, files in os.walk(path):
        for f in files:
            full = os.path.join(root, f)
            with open(full, "rb") as fh:
                found[os.path.relpath(full, path)] = (fh.read(), os.stat(full).st_ino)
    return found


def dead_pid():
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


class OutGuardTest(support.ExampleProjectCase):
    tmp_prefix = "pb-safety-"

    def setUp(self):
        super().setUp()
        self.cache = os.path.join(support.CACHE_ROOT, "build-cache")
        self.env = {"PYBUNDLE_CACHE_DIR": self.cache}
        os.makedirs(os.path.join(self.project, ".git"))
        with open(os.path.join(self.project, ".git", "HEAD"), "w") as f:
            f.write("ref: refs/heads/main\n")

    def build(self, out, *args, env=None):
        return support.run("build", self.project, "--out", out, "--mirror", f"{LOCK_BASE}={self.base}",
                           "--no-snapshot", *args, env=dict(self.env, **(env or {})))

    def assert_refused(self, out, why, env=None):
        # Outside our temporary directory (/, the shared cache) the refusal must come before any write.
        inside = os.path.realpath(out).startswith(os.path.realpath(self.tmp) + os.sep)
        before = tree(self.tmp) if inside or out == self.tmp else None
        proc = self.build(out, env=env)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        lines = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
        self.assertEqual(len(lines), 1, proc.stderr)
        self.assertIn(f"--out {out}: {why}", lines[0])
        if before is not None:
            self.assertEqual(tree(self.tmp), before)

    def test_refuses_what_is_not_an_earlier_bundle(self):
        unrelated = os.path.join(self.tmp, "photos")
        os.makedirs(unrelated)
        with open(os.path.join(unrelated, "cat.jpg"), "w") as f:
            f.write("meow")
        self.assert_refused(unrelated, "is a directory that is neither empty nor a pybundle bundle")
        foreign = os.path.join(self.tmp, "foreign")
        os.makedirs(foreign)
        with open(os.path.join(foreign, "bundle.json"), "w") as f:
            json.dump({"schema": 7, "files": []}, f)
        self.assert_refused(foreign, "is a directory that is neither empty nor a pybundle bundle")
        self.assert_refused(self.project, "is the project directory")
        self.assert_refused(self.tmp, "contains the project directory")
        self.assert_refused(os.path.join(self.project, "src"), "is inside the app's sources")
        self.assert_refused(os.path.join(self.project, "src", "new"), "is inside the app's sources")
        self.assert_refused(self.cache, "is the cache directory")
        self.assert_refused(os.path.join(self.cache, "bundle"), "is inside the cache directory")
        self.assert_refused(os.path.dirname(self.cache), "contains the cache directory")
        self.assert_refused("/", "is the root directory")
        home = os.path.join(self.tmp, "home")
        os.makedirs(os.path.join(home, "docs"))
        self.assert_refused(home, "is your home directory", env={"HOME": home})
        regular = os.path.join(self.tmp, "notes.txt")
        with open(regular, "w") as f:
            f.write("keep me")
        self.assert_refused(regular, "exists and is not a directory")
        link = os.path.join(self.tmp, "link")
        os.symlink(unrelated, link)
        self.assert_refused(link, "is a symbolic link")

    def test_replaces_an_empty_directory_and_an_earlier_bundle(self):
        os.makedirs(self.out)
        self.assertEqual(self.build(self.out).returncode, 0)
        proc = self.build(self.out)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(os.path.join(self.out, "bundle.json")) as f:
            self.assertEqual(json.load(f)["schema"], 1)

    def test_refuses_a_bundle_holding_a_file_it_does_not_list(self):
        self.assertEqual(self.build(self.out).returncode, 0)
        os.makedirs(os.path.join(self.out, "app", "__pycache__"))
        with open(os.path.join(self.out, "app", "__pycache__", "app.cpython-313.pyc"), "wb") as f:
            f.write(b"bytecode a run may leave")  # Python's cache: replaced with the bundle
        self.assertEqual(self.build(self.out).returncode, 0)
        with open(os.path.join(self.out, "notes.md"), "w") as f:
            f.write("my notes")
        self.assert_refused(self.out, "holds notes.md, which its bundle.json does not list")
        os.remove(os.path.join(self.out, "notes.md"))
        # A bundle without a snapshot: files by the snapshot's names are not ours either.
        for name in ("snapshot.bin.zst", "import-times.json"):
            with open(os.path.join(self.out, name), "w") as f:
                f.write("the user's")
            self.assert_refused(self.out, f"holds {name}, which its bundle.json does not list")
            os.remove(os.path.join(self.out, name))

    def test_bad_options_leave_the_earlier_bundle_untouched(self):
        self.assertEqual(self.build(self.out).returncode, 0)
        os.makedirs(self.project + ".zip")
        before = tree(self.out)
        for args, why in [(["--archive", os.path.join(self.tmp, "x.tar.gz")], "must end in .tar.zst or .zip"),
                          (["--archive", os.path.join(self.out, "x.zip")], "which the build replaces"),
                          (["--archive", self.project + ".zip"], "is a directory"),
                          (["--archive", os.path.join(self.project, "src", "x.zip")], "among the app's sources"),
                          (["--archive", os.path.join(self.tmp, "nowhere", "x.zip")], "nowhere does not exist"),
                          (["--archive", ""], "--archive: empty file name"),
                          (["--compile=everything"], "everything"),
                          (["--ca-file", os.path.join(self.tmp, "no-such-ca.pem")], "no-such-ca.pem"),
                          (["--netrc-file", os.path.join(self.tmp, "no-such-netrc")], "no-such-netrc"),
                          (["--mirror", "no-equals-sign"], "no-equals-sign")]:
            proc = self.build(self.out, *args)
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertIn(why, proc.stderr)
            self.assertEqual(tree(self.out), before, args)
        proc = self.build(self.out, env={"SOURCE_DATE_EPOCH": "yesterday"})
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertEqual(tree(self.out), before)
        self.assertEqual([n for n in os.listdir(self.tmp) if n.startswith(".out.")], [])

    def test_stale_staging_of_a_dead_build_is_removed(self):
        stale = os.path.join(self.tmp, f".out.tmp-{dead_pid()}-0123456789ab")
        live = os.path.join(self.tmp, f".out.tmp-{os.getpid()}-0123456789ab")
        for d in (stale, live):
            os.makedirs(os.path.join(d, "python_modules"))
        self.assertEqual(self.build(self.out).returncode, 0)
        self.assertFalse(os.path.exists(stale))
        self.assertTrue(os.path.exists(live))

    def test_interrupted_build_removes_its_staging_and_its_node(self):
        # The entry never finishes importing: the build sits in the snapshot step until signalled.
        with open(os.path.join(self.project, "src", "app.py"), "a") as f:
            f.write("\nwhile True:\n    pass\n")
        for sig in (signal.SIGTERM, signal.SIGINT):
            proc = subprocess.Popen([support.PYBUNDLE, "build", self.project, "--out", self.out, "--mirror",
                                     f"{LOCK_BASE}={self.base}", "--no-smoke"], stderr=subprocess.PIPE, text=True,
                                    env=dict(os.environ, **self.env))
            for line in proc.stderr:
                if "making the snapshot" in line:
                    break
            staging = [n for n in os.listdir(self.tmp) if n.startswith(".out.tmp-")]
            self.assertEqual(len(staging), 1, staging)
            proc.send_signal(sig)
            proc.stderr.read()
            proc.stderr.close()
            self.assertEqual(proc.wait(), -sig)
            self.assertEqual([n for n in os.listdir(self.tmp) if n.startswith(".out.")], [])
            self.assertFalse(os.path.exists(self.out))
            # The host that was importing the app died with us.
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        cmdline = f.read()
                except OSError:
                    continue
                self.assertNotIn(staging[0].encode(), cmdline, pid)

    def test_interrupted_while_copying_leaves_nothing_and_says_nothing(self):
        # The app copy runs on the main thread while the signal's watcher removes the staging
        # directory: the copy must stop rather than recreate it, and the files vanishing under it
        # must not end the build with an I/O error (exit 3) instead of the signal.
        data = os.path.join(self.project, "src", "data")
        os.makedirs(data)
        for i in range(10000):
            with open(os.path.join(data, f"f{i}.txt"), "w") as f:
                f.write("x" * 64)
        for sig in (signal.SIGTERM, signal.SIGINT) * 4:
            proc = subprocess.Popen([support.PYBUNDLE, "build", self.project, "--out", self.out, "--mirror",
                                     f"{LOCK_BASE}={self.base}", "--no-snapshot", "--no-smoke"],
                                    stderr=subprocess.PIPE, text=True, env=dict(os.environ, **self.env))
            while proc.poll() is None:
                staging = [n for n in os.listdir(self.tmp) if n.startswith(".out.tmp-")]
                copied = os.path.join(self.tmp, staging[0], "app", "data") if staging else ""
                try:
                    if len(os.listdir(copied)) > 500:
                        break
                except OSError:
                    pass
            proc.send_signal(sig)
            stderr = proc.stderr.read()
            proc.stderr.close()
            self.assertEqual(proc.wait(), -sig, stderr)
            self.assertNotIn("error:", stderr)
            self.assertEqual([n for n in os.listdir(self.tmp) if n.startswith(".out")], [])
            self.assertFalse(os.path.exists(self.out))


PROBE = '''
from pyodide.code import run_js

# What the app's code reaches through the JS bridge (only strings cross back): a file, a process,
# a secret in the environment.
def probe():
    return run_js("""
      const tries = { read: () => process.getBuiltinModule("fs").readFileSync("/etc/passwd", "utf8").slice(0, 5),
                      spawn: () => process.getBuiltinModule("child_process").execSync("echo ran").toString().trim(),
                      env: () => process.env.PB_PROBE_SECRET ?? "unset" };
      Object.entries(tries).map(([name, f]) => {
        try { return `${name}=${f()}`; } catch (e) { return `${name}=${e.code === "ERR_ACCESS_DENIED" ? "denied" : e}`; }
      }).join(" ");
    """)


print("PROBE", probe())
_app_on_fetch = on_fetch


def on_fetch(request):  # check's request runs sandboxed too
    if "denied" in probe():
        raise PermissionError("the sandbox denied the probe")
    return _app_on_fetch(request)
'''


class SandboxTest(unittest.TestCase):
    """--sandbox: the project's code runs under Node's permission model during the build and check."""

    @classmethod
    def setUpClass(cls):
        cls._server = support.serve_directory(os.path.join(EXAMPLE, "index"))
        cls.base = cls._server.__enter__()
        cls.tmp = tempfile.mkdtemp(prefix="pb-sandbox-")
        cls.project = support.copy_project(EXAMPLE, cls.tmp)
        with open(os.path.join(cls.project, "src", "app.py"), "a") as f:
            f.write(PROBE)
        cls.env = {"PYBUNDLE_CACHE_DIR": os.path.join(support.CACHE_ROOT, "build-cache"), "PB_PROBE_SECRET": "s3"}

    @classmethod
    def tearDownClass(cls):
        cls._server.__exit__(None, None, None)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def build(self, *args):
        out = os.path.join(self.tmp, "out")
        proc = support.run("build", self.project, "--out", out, "--mirror", f"{LOCK_BASE}={self.base}", *args,
                           env=self.env)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return out, proc.stderr

    def test_the_apps_code_can_neither_read_the_machine_nor_start_processes(self):
        out, stderr = self.build("--sandbox")
        self.assertIn("PROBE read=denied spawn=denied env=unset", stderr)
        self.assertTrue(os.path.exists(os.path.join(out, "snapshot.bin.zst")))
        # check's request runs sandboxed: there the probe's handler fails.
        proc = support.run("check", "--bundle", out, "--sandbox", env=self.env)
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assertIn("the sandbox denied the probe", proc.stdout)
        proc = support.run("check", "--bundle", out, env=self.env)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        # The same build without it: the probe does reach the machine (the test can fail).
        _, stderr = self.build()
        self.assertIn("PROBE read=root: spawn=ran env=s3", stderr)

    def test_a_cache_reached_through_symbolic_links(self):
        # runtimes/ and heaps/ elsewhere, linked in: Node's permission model resolves the links, so
        # the host must be handed (and allowed) the real paths. The second build restores the base
        # snapshot the first one left in heaps/.
        shared = self.env["PYBUNDLE_CACHE_DIR"]
        self.build()  # the runtime installed in the shared cache
        cache = os.path.join(self.tmp, "linked-cache")
        os.makedirs(cache)
        heaps = os.path.join(self.tmp, "heaps-elsewhere")
        os.makedirs(heaps)
        os.symlink(os.path.join(shared, "runtimes"), os.path.join(cache, "runtimes"))
        os.symlink(heaps, os.path.join(cache, "heaps"))
        env = dict(self.env, PYBUNDLE_CACHE_DIR=cache)
        for _ in range(2):
            out = os.path.join(self.tmp, "out-linked")
            proc = support.run("build", self.project, "--out", out, "--mirror", f"{LOCK_BASE}={self.base}",
                               "--sandbox", env=env)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertIn("PROBE read=denied", proc.stderr)
        self.assertTrue(any(n.startswith("base-") for n in os.listdir(heaps)), os.listdir(heaps))


class PlantedCodeCacheTest(unittest.TestCase):
    """The cache's v8/ holds Pyodide's script as the host runs it and V8's code cache of it: a file
    there that someone else could have written is not run (as heaps/ is not restored)."""

    def test_a_cached_script_others_can_write_is_not_run(self):
        import bundles
        tmp = tempfile.mkdtemp(prefix="pb-v8-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        cache = os.path.join(tmp, "cache")
        os.makedirs(cache)
        os.symlink(os.path.join(bundles.RUNTIME_CACHE, "runtimes"), os.path.join(cache, "runtimes"))
        bundle = os.path.join(tmp, "bundle")
        bundles.make_bundle(bundle, {"app.py": "def on_fetch(request):\n    return 'ok'\n"})
        env = {"PYBUNDLE_CACHE_DIR": cache}
        support.run("run", bundle, "--no-snapshot", env=env, check=True)
        scripts = [os.path.join(cache, "v8", n) for n in os.listdir(os.path.join(cache, "v8")) if n.endswith(".js")]
        self.assertTrue(scripts)
        for path in scripts:
            with open(path) as f:
                text = f.read()
            with open(path, "w") as f:
                f.write('throw new Error("planted code ran");\n' + text)
            os.chmod(path, 0o666)
        proc = support.run("run", bundle, "--no-snapshot", env=env)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertNotIn("planted code ran", proc.stderr)
        for path in scripts:  # replaced by the host's own
            self.assertEqual(os.stat(path).st_mode & 0o022, 0)
            with open(path) as f:
                self.assertNotIn("planted code ran", f.read())


if __name__ == "__main__":
    unittest.main()
