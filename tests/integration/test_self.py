"""`pybundle --version` and `pybundle self check`: what the binary is and what it runs with."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import support

SUPPORTED = ["0.27.7", "0.29.3", "314.0.7"]  # tests/integration/bundles.py TARGETS


def meson_version():
    with open(os.path.join(support.REPO, "meson.build")) as f:
        return re.search(r"version : '([^']+)'", f.read()).group(1)


def fake_runtime(cache, version):
    """What find_runtime recognises as an installed release (no real Pyodide needed to list it)."""
    pkg = os.path.join(cache, "runtimes", f"pyodide-{version}", "node_modules", "pyodide")
    os.makedirs(pkg)
    for name in ("pyodide.mjs", "pyodide-lock.json", "pyodide.asm.wasm"):
        open(os.path.join(pkg, name), "w").close()
    with open(os.path.join(pkg, "package.json"), "w") as f:
        json.dump({"name": "pyodide", "version": version}, f)
    return pkg


class Version(unittest.TestCase):
    def test_version_commit_default_and_supported_targets(self):
        out = support.run("--version", check=True).stdout
        first, default, supported = out.splitlines()
        m = re.fullmatch(r"pybundle (\S+) \(commit (\S+)\)", first)
        self.assertTrue(m, first)
        self.assertEqual(m.group(1), meson_version())
        head = subprocess.run(["git", "-C", support.REPO, "rev-parse", "HEAD"], capture_output=True, text=True)
        if head.returncode == 0 and os.path.samefile(os.path.dirname(support.PYBUNDLE), os.path.join(support.REPO, "build")):
            # Built from this checkout: the commit is its HEAD (maybe with -dirty).
            self.assertTrue(head.stdout.startswith(m.group(2).removesuffix("-dirty")), (m.group(2), head.stdout))
        else:
            self.assertRegex(m.group(2), r"^([0-9a-f]{12}(-dirty)?|unknown)$")
        self.assertRegex(default, r"^default target: pyodide@\S+$")
        self.assertEqual(supported, "supported targets: " + " ".join("pyodide@" + v for v in SUPPORTED))
        self.assertIn(default.split(": ")[1], supported.split(": ")[1].split())


class SelfCheck(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pb-self-")
        self.addCleanup(shutil.rmtree, self.tmp)
        self.cache = os.path.join(self.tmp, "cache")
        self.installed = fake_runtime(self.cache, "0.29.3")
        self.env = {"PYBUNDLE_CACHE_DIR": self.cache, "PYBUNDLE_PYODIDE_DIR": "",
                    "SSL_CERT_FILE": "/some/ca.pem", "SSL_CERT_DIR": ""}

    def fake_node(self, version):
        node = os.path.join(self.tmp, "node")
        with open(node, "w") as f:
            f.write(f"#!/bin/sh\necho {version}\n")
        os.chmod(node, 0o755)
        return node

    def check(self, *args, **env):
        return support.run("self", "check", *args, env={**self.env, **env})

    def test_json_names_node_cache_releases_and_ca(self):
        proc = self.check("--format", "json", PYBUNDLE_NODE=self.fake_node("v20.1.0"))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        doc = json.loads(proc.stdout)
        self.assertEqual(doc["version"], meson_version())
        self.assertEqual(doc["node"], {"path": os.path.join(self.tmp, "node"), "version": "v20.1.0", "problem": ""})
        self.assertEqual(doc["runtime_cache"], os.path.join(self.cache, "runtimes"))
        self.assertEqual([(r["target"], r["installed"]) for r in doc["releases"]],
                         [("pyodide@" + v, v == "0.29.3") for v in SUPPORTED])
        self.assertEqual(next(r["dir"] for r in doc["releases"] if r["installed"]), self.installed)
        self.assertEqual(sum(r["default"] for r in doc["releases"]), 1)
        self.assertEqual((doc["ca_file"], doc["ca_dir"]), ("/some/ca.pem", ""))

    def test_human_lines(self):
        proc = self.check(PYBUNDLE_NODE=self.fake_node("v22.3.0"))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        lines = proc.stdout.splitlines()
        self.assertIn(f"node: v22.3.0 ({self.tmp}/node)", lines)
        self.assertIn(f"runtime cache: {self.cache}/runtimes", lines)
        self.assertIn(f"pyodide@0.29.3: installed in {self.installed}", lines)
        self.assertIn("pyodide@0.27.7: not installed (npm installs it on first use)", lines)
        self.assertIn("CA certificates: /some/ca.pem", lines)

    def test_pyodide_dir_counts_as_installed(self):
        other = fake_runtime(os.path.join(self.tmp, "elsewhere"), "314.0.7")
        proc = self.check("--format", "json", PYBUNDLE_NODE=self.fake_node("v20.1.0"), PYBUNDLE_PYODIDE_DIR=other)
        doc = json.loads(proc.stdout)
        self.assertEqual(next(r for r in doc["releases"] if r["target"] == "pyodide@314.0.7")["dir"], other)

    def test_old_or_missing_node_is_a_problem(self):
        proc = self.check(PYBUNDLE_NODE=self.fake_node("v16.20.0"))
        self.assertEqual(proc.returncode, 1)
        self.assertIn("is Node.js 'v16.20.0': pybundle needs Node.js 18 or newer", proc.stderr)
        self.assertIn("node: v16.20.0", proc.stdout)
        proc = self.check(PYBUNDLE_NODE="", PATH=self.tmp + "/empty")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("Node.js not found on PATH", proc.stderr)
        self.assertIn("node: not found", proc.stdout)
        self.assertIn("npm not found on PATH", proc.stderr)  # and two releases are not installed

    def test_needs_a_subcommand(self):
        self.assertEqual(support.run("self").returncode, 2)


class NpmInstall(unittest.TestCase):
    """A runtime npm cannot install is one line: a release npm does not have is a usage error."""

    def test_npm_failures_are_one_line(self):
        tmp = tempfile.mkdtemp(prefix="pb-npm-")
        self.addCleanup(shutil.rmtree, tmp)
        os.makedirs(os.path.join(tmp, "bin"))
        npm = os.path.join(tmp, "bin", "npm")
        example = os.path.join(support.REPO, "fixtures", "example")
        env = {"PYBUNDLE_CACHE_DIR": os.path.join(tmp, "cache"), "PYBUNDLE_PYODIDE_DIR": "",
               "PATH": os.path.join(tmp, "bin") + os.pathsep + os.environ["PATH"]}
        for said, code, exit_code, message in [
                ("npm error code ETARGET\nnpm error notarget No matching version found for pyodide@9.9.9.\n"
                 "npm error A complete log of this run can be found in: /x.log", 1, 2,
                 "pyodide@9.9.9: npm has no such release of the pyodide package"),
                ("npm error code ECONNREFUSED\nnpm error errno ECONNREFUSED\nnpm error A complete log", 7, 3,
                 "npm install pyodide@9.9.9 failed (exit 7): npm error code ECONNREFUSED | npm error errno")]:
            with open(npm, "w") as f:
                f.write(f"#!/bin/sh\nprintf '{said}\\n' >&2\nexit {code}\n")
            os.chmod(npm, 0o755)
            proc = support.run("plan", example, "--target", "pyodide@9.9.9", env=env)
            self.assertEqual(proc.returncode, exit_code, proc.stderr)
            self.assertEqual(proc.stderr.count("\n"), 1, proc.stderr)
            self.assertIn(message, proc.stderr)


if __name__ == "__main__":
    unittest.main()
