"""Snapshots of apps that load compiled extensions (fixtures/extension, real wasm32 side modules),
on every supported Pyodide release: static state, function pointers, a library another one needs
(loaded first by the package through ctypes, or named as needed in the dylink section: DT_NEEDED),
an extension imported after the restore, many restores and a long-running server."""
import json
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import unittest
import urllib.request

import bundles
import support

APP = '''
import ctypes
import extfix
from extfix import _state, _linked, _needs

def on_fetch(request):
    out = {"peek": _state.peek(), "bump": _state.bump(), "square": _state.square(9), "apply": _state.apply(5),
           "scale": _linked.scale(4), "calls": _linked.calls(), "add": _linked.add(1),
           "ctypes": extfix.core.core_calls(), "needs": _needs.add(1), "offset": _needs.offset(2)}
    from extfix import _lazy  # a new library after the restore, next to the five in the snapshot
    out["lazy"] = _lazy.calc(3)
    # CPython's addresses as each extension took them through the GOT: at import and after the restore.
    from_long = ctypes.cast(ctypes.pythonapi.PyLong_FromLong, ctypes.c_void_p).value
    out["got"] = [m.none_at() == id(None) and m.from_long_at() == from_long for m in (_state, _lazy)]
    return out
'''

# What the first request sees in a fresh process: the counter import left (100), bumped once; a table
# filled at import; callbacks stored at import (3x+1, libcore's x+10); libcore's state set by _linked;
# libbase's total (5, plus 10 by _needs at import) and its function pointer _needs stored (x+1000).
FIRST = {"peek": 100, "bump": 101, "square": 81, "apply": 16, "scale": 40, "calls": 1, "add": 11,
         "ctypes": 1, "needs": 16, "offset": 1002, "lazy": 1006, "got": [True, True]}


def snapshot_meta(bundle):
    """The metadata in snapshot.bin.zst's header (PBSNAP, u32 version, u32 length, JSON)."""
    with open(os.path.join(bundle, "snapshot.bin.zst"), "rb") as f:
        head = f.read(16)
        (length,) = struct.unpack("<I", head[12:16])
        return json.loads(f.read(length))


class ExtensionSnapshotCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="pb-ext-")
        whl = bundles.extfix_wheel(cls.tmp)
        cls.bundles = {}
        for target in bundles.TARGETS:
            b = os.path.join(cls.tmp, target)
            bundles.make_bundle(b, {"app.py": APP}, [whl], target=target)
            seed = ["--hash-seed", "7"] if target == "0.27.7" else []  # the others: from python_modules/
            proc = support.run("snapshot", b, "--level", "1", *seed, env=bundles.env())
            if proc.returncode != 0:
                raise AssertionError(f"pybundle snapshot ({target}) failed:\n{proc.stderr}")
            cls.bundles[target] = b

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_the_snapshot_records_each_library_in_load_order(self):
        for target, b in self.bundles.items():
            with self.subTest(target=target):
                libs = snapshot_meta(b)["libraries"]
                # libbase.so before _needs.so, which names it as needed (the loader loads it first)
                self.assertEqual([l["path"] for l in libs], ["python_modules/extfix/libcore.so",
                                                             "python_modules/extfix/_state.so",
                                                             "python_modules/extfix/_linked.so",
                                                             "python_modules/extfix/libbase.so",
                                                             "python_modules/extfix/_needs.so"])
                for lib in libs:
                    self.assertEqual(lib["sha256"], support.file_sha256(os.path.join(b, lib["path"])))
                    self.assertGreater(lib["memory_base"], 0)
                    self.assertGreater(lib["table_length"], 0)
                self.assertTrue(libs[0]["global"])  # RTLD_GLOBAL through ctypes
                self.assertEqual(len(libs[0]["handles"]), 1)  # ctypes keeps its dlopen handle
                manifest = bundles.load_json(os.path.join(b, "bundle.json"))
                self.assertEqual(manifest["snapshot"]["libraries"], 5)
                seed = 7 if target == "0.27.7" else bundles.default_hash_seed(manifest)
                self.assertEqual((manifest["snapshot"]["hash_seed"], snapshot_meta(b)["hash_seed"]), (seed, seed))

    def test_ten_restores_each_start_from_what_the_import_left(self):
        for target, b in self.bundles.items():
            for i in range(10):
                with self.subTest(target=target, restore=i):
                    proc, answer = bundles.run_json(b)
                    self.assertEqual(proc.returncode, 0, proc.stderr)
                    self.assertTrue(answer["restored"], answer)
                    self.assertEqual(json.loads(answer["response"]["body"]), FIRST)

    def test_a_server_keeps_the_state_across_100_requests(self):
        for target, b in self.bundles.items():
            with self.subTest(target=target):
                env = dict(os.environ, **bundles.env())
                # One worker: the state one process accumulates (serve defaults to one per core).
                proc = subprocess.Popen([support.PYBUNDLE, "serve", b, "--port", "0", "--format", "json", "--workers", "1"],
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
                try:
                    startup = json.loads(proc.stdout.readline())
                    self.assertTrue(startup["restored"])
                    for i in range(100):
                        with urllib.request.urlopen(startup["listening"]) as r:
                            got = json.loads(r.read())
                        self.assertEqual(got, dict(FIRST, peek=100 + i, bump=101 + i, calls=i + 1, ctypes=i + 1,
                                                   needs=16 + i))
                finally:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait()

    def test_a_changed_library_is_refused(self):
        src = self.bundles["0.29.3"]
        b = os.path.join(self.tmp, "changed")
        shutil.copytree(src, b)
        lib = os.path.join(b, "python_modules", "extfix", "libcore.so")
        with open(lib, "r+b") as f:  # same size, other bytes
            f.seek(-1, os.SEEK_END)
            last = f.read(1)
            f.seek(-1, os.SEEK_END)
            f.write(bytes([last[0] ^ 1]))
        proc = support.run("run", b, env=bundles.env())
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("the shared library python_modules/extfix/libcore.so changed since the snapshot was made",
                      proc.stderr)
        proc = support.run("check", "--bundle", b, env=bundles.env())
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("python_modules/extfix/libcore.so: changed since the build", proc.stdout)
        shutil.rmtree(b)

    def test_two_wheels_shipping_one_library_name_each_keep_their_own_after_a_restore(self):
        # twoa and twob each ship libbase.so and a _needs.so that names it as needed: each extension
        # is linked to its own wheel's copy (its own state), restored or imported.
        def pkg(name):
            init = ("import os\nhere = os.path.dirname(__file__)\n"
                    "os.environ['LD_LIBRARY_PATH'] = here + ':' + os.environ.get('LD_LIBRARY_PATH', '')\n"
                    "from . import _needs\n").encode()
            return bundles.wheel(self.tmp, name, {f"{name}/__init__.py": init,
                                                  f"{name}/libbase.so": bundles.fixture_so("libbase.so"),
                                                  f"{name}/_needs.so": bundles.fixture_so("_needs.so")})
        wheels = [pkg("twoa"), pkg("twob")]
        app = ("import twoa, twob\n"
               "def on_fetch(request):\n"
               "    return {'a': twoa._needs.add(1), 'b': twob._needs.add(100), 'a2': twoa._needs.add(0)}\n")
        for target in bundles.TARGETS:
            with self.subTest(target=target):
                b = os.path.join(self.tmp, "twolib-" + target)
                bundles.make_bundle(b, {"app.py": app}, wheels, target=target)
                seed = ["--hash-seed", "7"] if target == "0.27.7" else []
                proc = support.run("snapshot", b, *seed, env=bundles.env())
                self.assertEqual(proc.returncode, 0, proc.stderr)
                # libbase: 5, plus 10 by each _needs at import; each wheel's copy counts on its own.
                for args in ((), ("--no-snapshot",)):
                    proc, answer = bundles.run_json(b, *args)
                    self.assertEqual(proc.returncode, 0, proc.stderr)
                    self.assertEqual(answer["restored"], not args)
                    self.assertEqual(json.loads(answer["response"]["body"]), {"a": 16, "b": 115, "a2": 16}, args)
                # What each needed name found, so a restore links the same files.
                needed = {l["path"]: l["needed"] for l in snapshot_meta(b)["libraries"]}
                self.assertEqual(needed["python_modules/twob/_needs.so"], {"libbase.so": "python_modules/twob/libbase.so"})

    def test_an_extension_imported_after_the_restore_finds_its_needed_library_through_ld_library_path(self):
        # lzn puts its directory on LD_LIBRARY_PATH at import; lzn/sub/_needs.so, first imported by a
        # request, needs libbase.so from there. (0.27.7's loader does not search LD_LIBRARY_PATH.)
        init = (b"import os\nhere = os.path.dirname(__file__)\n"
                b"os.environ['LD_LIBRARY_PATH'] = here + ':' + os.environ.get('LD_LIBRARY_PATH', '')\n"
                b"from . import _needs\n")
        whl = bundles.wheel(self.tmp, "lzn", {"lzn/__init__.py": init, "lzn/libbase.so": bundles.fixture_so("libbase.so"),
                                              "lzn/_needs.so": bundles.fixture_so("_needs.so"), "lzn/sub/__init__.py": b"",
                                              "lzn/sub/_needs.so": bundles.fixture_so("_needs.so")})
        app = ("import os, lzn\n"
               "def on_fetch(request):\n"
               "    from lzn.sub import _needs as late\n"
               "    return {'path': os.environ['LD_LIBRARY_PATH'].split(':')[0], 'late': late.add(100),\n"
               "            'first': lzn._needs.add(0)}\n")
        for target in ("0.29.3", "314.0.7"):
            with self.subTest(target=target):
                b = os.path.join(self.tmp, "lazyneeds-" + target)
                bundles.make_bundle(b, {"app.py": app}, [whl], target=target)
                proc = support.run("snapshot", b, env=bundles.env())
                self.assertEqual(proc.returncode, 0, proc.stderr)
                # One libbase: 5, 10 by each _needs at import, then 100.
                for args in ((), ("--no-snapshot",)):
                    proc, answer = bundles.run_json(b, *args)
                    self.assertEqual(proc.returncode, 0, proc.stderr)
                    self.assertEqual(answer["restored"], not args)
                    self.assertEqual(json.loads(answer["response"]["body"]),
                                     {"path": "/bundle/python_modules/lzn", "late": 125, "first": 125}, args)

    def test_a_library_from_outside_the_bundle_is_named(self):
        b = os.path.join(self.tmp, "outside")
        app = ("import os, shutil, sys, tempfile\n"
               "d = tempfile.mkdtemp()\n"
               "shutil.copy(os.path.join(os.path.dirname(__file__), '_speed.so'), d)\n"
               "sys.path.insert(0, d)\n"
               "import _speed\n"
               "def on_fetch(request):\n    return str(_speed.answer())\n")
        bundles.make_bundle(b, {"app.py": app})
        with open(os.path.join(b, "app", "_speed.so"), "wb") as f:
            f.write(bundles.fixture_so("_speed.so"))
        bundles.write_manifest(b)
        proc = support.run("snapshot", b, env=bundles.env())
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertRegex(proc.stderr, r"module '_speed' loaded the shared library /tmp/[^ ]+/_speed.so from outside "
                                      r"the bundle")
        self.assertFalse(os.path.exists(os.path.join(b, "snapshot.bin.zst")))

    def test_a_javascript_object_held_at_import_is_named(self):
        b = os.path.join(self.tmp, "jsobject")
        app = ("import js\n"
               "SETTINGS = {'options': js.Map.new()}  # a JS object, which a snapshot cannot hold\n"
               "def on_fetch(request):\n    return 'x'\n")
        bundles.make_bundle(b, {"app.py": app}, target="314.0.7")
        proc = support.run("snapshot", b, env=bundles.env())
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("module 'app' holds a JavaScript Map as app.SETTINGS['options'] when the snapshot is made",
                      proc.stderr)
        self.assertFalse(os.path.exists(os.path.join(b, "snapshot.bin.zst")))


if __name__ == "__main__":
    unittest.main()
