"""tools/release: the relocatable binary needs only glibc, builds and runs the example from a directory
outside any build tree, and ships as an npm tarball and a Debian package.
tools/test runs tools/release before the suite (build-release/ persists), so here it only repackages.
PYBUNDLE_TEST_RELEASE=0 skips this module (tools/test does in its sanitizer pass)."""
import gzip
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import unittest

import bundles
import support

DIST = os.path.join(support.REPO, "build-release", "dist")
EXAMPLE = os.path.join(support.REPO, "fixtures", "example")
# glibc's own libraries: libc, the loader, the kernel's vDSO, and libm (libstdc++'s math is linked
# statically but calls libm's functions; glibc does not support linking libm statically into a
# dynamically linked program).
GLIBC = {"linux-vdso.so.1", "libc.so.6", "ld-linux-x86-64.so.2", "libm.so.6"}


def run(args, **kw):
    proc = subprocess.run(args, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


@unittest.skipIf(os.environ.get("PYBUNDLE_TEST_RELEASE") == "0", "PYBUNDLE_TEST_RELEASE=0")
class Release(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        run([os.path.join(support.REPO, "tools", "release")], cwd=support.REPO)
        with open(os.path.join(support.REPO, "meson.build")) as f:
            version = cls.version = re.search(r"version : '([^']+)'", f.read()).group(1)
        cls.tgz = os.path.join(DIST, f"pybundle-{version}.tgz")
        cls.deb = os.path.join(DIST, f"pybundle_{version}_amd64.deb")
        cls.tmp = tempfile.mkdtemp(prefix="pb-release-")
        # The binary alone in a directory of its own, far from build trees and -dev libraries.
        cls.bindir = os.path.join(cls.tmp, "bin")
        os.makedirs(cls.bindir)
        cls.binary = shutil.copy(os.path.join(DIST, "pybundle"), cls.bindir)
        node_dirs = {os.path.dirname(shutil.which(p)) for p in ("node", "npm", "npx")}
        cls.env = {"PATH": os.pathsep.join([cls.bindir, *sorted(node_dirs), "/bin"]), "HOME": os.environ["HOME"],
                   "PYBUNDLE_CACHE_DIR": bundles.RUNTIME_CACHE, "LANG": "C.UTF-8"}
        cls._server = support.serve_directory(os.path.join(EXAMPLE, "index"))
        base = cls._server.__enter__()
        # The example's uv.lock names http://127.0.0.1:8766; the index is served on a free port.
        cls.mirror = ["--mirror", f"http://127.0.0.1:8766={base}"]

    @classmethod
    def tearDownClass(cls):
        cls._server.__exit__(None, None, None)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def pybundle(self, *args, cwd=None, extra_env=None, binary=None):
        return subprocess.run([binary or self.binary, *args], capture_output=True, text=True,
                              env={**self.env, **(extra_env or {})}, cwd=cwd or self.tmp)

    def test_ldd_lists_only_glibc(self):
        names = set()
        for line in run(["ldd", self.binary]).splitlines():
            first = line.split()[0]
            names.add(os.path.basename(first))
        self.assertTrue(names <= GLIBC, names - GLIBC)
        self.assertIn("libc.so.6", names)
        dynamic = run(["readelf", "-d", self.binary])
        self.assertNotIn("RPATH", dynamic)
        self.assertNotIn("RUNPATH", dynamic)
        self.assertTrue(set(re.findall(r"\(NEEDED\).*\[(.+)\]", dynamic)) <= GLIBC)

    def test_oldest_glibc_is_printed_and_documented(self):
        versions = set(re.findall(r"GLIBC_(\d+(?:\.\d+)+)", run(["objdump", "-T", self.binary])))
        newest = max(versions, key=lambda v: tuple(map(int, v.split("."))))
        with open(os.path.join(DIST, "glibc-version")) as f:
            self.assertEqual(f.read().strip(), newest)
        with open(os.path.join(support.REPO, "README.md")) as f:
            self.assertIn(f"glibc {newest} or newer", f.read())
        self.assertIn(f"libc6 (>= {newest})", run(["dpkg-deb", "-f", self.deb, "Depends"]))

    def test_version_names_the_commit(self):
        out = self.pybundle("--version").stdout
        head = run(["git", "-C", support.REPO, "rev-parse", "HEAD"]).strip()
        commit = re.match(r"pybundle \S+ \(commit ([0-9a-f]+)", out).group(1)
        self.assertTrue(head.startswith(commit), (out, head))

    def test_builds_and_runs_the_example(self):
        project = support.copy_project(EXAMPLE, self.tmp)
        # Which shared objects the loader brings in while the binary downloads (libcurl, OpenSSL),
        # unpacks (libarchive, zlib) and writes the bundle (zstd) without starting Node.js.
        out = os.path.join(self.tmp, "plain")
        proc = self.pybundle("build", project, "--out", out, "--no-snapshot", "--no-smoke", *self.mirror,
                             extra_env={"LD_DEBUG": "libs"})
        self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
        loaded = {os.path.basename(m) for m in re.findall(r"calling init: (\S+)", proc.stderr)}
        self.assertTrue(loaded and loaded <= GLIBC, loaded)
        self.assertTrue(os.path.exists(os.path.join(out, "python_modules", "minirouter")))

        out = os.path.join(self.tmp, "bundle")
        proc = self.pybundle("build", project, "--out", out, "--no-smoke", *self.mirror)
        self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
        self.assertTrue(os.path.exists(os.path.join(out, "snapshot.bin.zst")))
        proc = self.pybundle("run", out, "--format", "json")
        self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
        self.assertIn("hello from pybundle", proc.stdout)

    def test_npm_tarball_installs_offline_and_runs(self):
        project = os.path.join(self.tmp, "npm-project")
        os.makedirs(project)
        with open(os.path.join(project, "package.json"), "w") as f:
            json.dump({"name": "npm-project", "private": True}, f)
        with open(os.path.join(project, ".npmrc"), "w") as f:
            f.write("omit-lockfile-registry-resolved=true\n")
        run(["npm", "install", "--offline", "--no-audit", "--no-fund", self.tgz], cwd=project, env=self.env)
        npx = ["npx", "--offline", "pybundle"]
        proc = subprocess.run([*npx, "plan", EXAMPLE, "--format", "json"], capture_output=True, text=True,
                              cwd=project, env=self.env)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("minirouter", [p["name"] for p in json.loads(proc.stdout)["packages"]])
        out = os.path.join(project, "bundle")
        proc = subprocess.run([*npx, "build", support.copy_project(EXAMPLE, project), "--out", out, "--no-snapshot",
                               "--no-smoke", *self.mirror], capture_output=True, text=True, cwd=project, env=self.env)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertTrue(os.path.exists(os.path.join(out, "bundle.json")))
        with open(os.path.join(project, "node_modules", "pybundle", "package.json")) as f:
            self.assertEqual(json.load(f)["bin"], {"pybundle": "bin/pybundle"})

    def test_tarball_holds_binary_man_page_and_completions(self):
        rel = f"pybundle-{self.version}-linux-x86_64"
        with tarfile.open(os.path.join(DIST, rel + ".tar.gz")) as t:
            names = set(t.getnames())
            self.assertTrue({f"{rel}/pybundle", f"{rel}/pybundle.1", f"{rel}/completions/pybundle.bash",
                             f"{rel}/completions/_pybundle", f"{rel}/completions/pybundle.fish"} <= names, names)
            with open(os.path.join(DIST, "pybundle"), "rb") as f:
                self.assertEqual(t.extractfile(f"{rel}/pybundle").read(), f.read())

    def test_deb_holds_binary_man_page_and_completions(self):
        listed = {line.split()[-1] for line in run(["dpkg-deb", "-c", self.deb]).splitlines()}
        files = {"./usr/bin/pybundle": "binary", "./usr/share/man/man1/pybundle.1.gz": "man page",
                 "./usr/share/bash-completion/completions/pybundle": "bash",
                 "./usr/share/zsh/vendor-completions/_pybundle": "zsh",
                 "./usr/share/fish/vendor_completions.d/pybundle.fish": "fish"}
        for path in files:
            self.assertIn(path, listed)
        self.assertRegex(run(["dpkg-deb", "-f", self.deb, "Depends"]), r"(^|, )nodejs( \(>= 18\))?(,|$)")
        root = os.path.join(self.tmp, "deb")
        run(["dpkg-deb", "-x", self.deb, root])
        binary = os.path.join(root, "usr", "bin", "pybundle")
        for shell, name in (("bash", "bash-completion/completions/pybundle"), ("zsh", "zsh/vendor-completions/_pybundle"),
                            ("fish", "fish/vendor_completions.d/pybundle.fish")):
            with open(os.path.join(root, "usr", "share", name)) as f:
                self.assertEqual(f.read(), self.pybundle("completions", shell, binary=binary).stdout)
        with gzip.open(os.path.join(root, "usr", "share", "man", "man1", "pybundle.1.gz"), "rt") as f, \
                open(os.path.join(support.REPO, "man", "pybundle.1")) as want:
            self.assertEqual(f.read(), want.read())


if __name__ == "__main__":
    unittest.main()
