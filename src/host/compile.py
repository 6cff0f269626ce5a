# compile mode: .pyc for the bundle, by the runtime's own Python (see tools.mjs).
import os, sys, py_compile, importlib.util

def compile_bundle(placement, python):
    have = "%d.%d.%d" % sys.version_info[:3]
    if python and python != have:
        raise ValueError("the runtime runs Python %s, the target says %s" % (have, python))
    compiled, failed = [], []
    for top, legacy, mode in (("python_modules", placement == "legacy", py_compile.PycInvalidationMode.UNCHECKED_HASH),
                              ("app", False, py_compile.PycInvalidationMode.CHECKED_HASH)):
        base = "/bundle/" + top
        for root, dirs, files in os.walk(base):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                if not name.endswith(".py"):
                    continue
                src = root + "/" + name
                cfile = src + "c" if legacy else importlib.util.cache_from_source(src)
                try:
                    py_compile.compile(src, cfile=cfile, dfile=src, doraise=True, invalidation_mode=mode)
                except py_compile.PyCompileError as e:
                    failed.append({"file": src[len("/bundle/"):], "error": str(e.exc_value).strip().splitlines()[-1]})
                    continue
                compiled.append({"file": src[len("/bundle/"):], "pyc": cfile[len("/bundle/"):]})
    return {"compiled": compiled, "failed": failed, "magic": importlib.util.MAGIC_NUMBER.hex(),
            "cache_tag": sys.implementation.cache_tag, "python": have}
