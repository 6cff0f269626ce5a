# smoke mode: import each module on its own and report where and why it failed (see tools.mjs).
import sys, importlib, traceback, json, time
_B = "/bundle/"
_host = sys.modules["_pybundle_host"]  # the prelude: tracebacks as the project has them

def _rel(f):
    return f[len(_B):] if isinstance(f, str) and f.startswith(_B) else (f or "")

def _place(exc):
    if isinstance(exc, SyntaxError) and exc.filename:
        return _rel(exc.filename), exc.lineno or 0
    frames = traceback.extract_tb(exc.__traceback__)
    inside = [f for f in frames if f.filename.startswith(_B)]
    # Else the innermost frame that is not the import machinery or this code.
    other = [f for f in frames if not f.filename.startswith("<") and "/importlib/" not in f.filename]
    f = (inside or other or [None])[-1]
    return (_rel(f.filename), f.lineno or 0) if f else ("", 0)

def smoke(names):
    out = []
    for name in names:
        t = time.perf_counter()
        r = {"module": name, "ok": True}
        try:
            importlib.import_module(name)
        except BaseException as exc:
            file, line = _place(exc)
            r = {"module": name, "ok": False, "error": type(exc).__name__, "message": _host.one_line(exc),
                 "file": file, "line": line, "traceback": _host.format_exc(exc)}
            hint = _host.explain(exc)
            if hint:
                r["hint"] = hint
            if isinstance(exc, ImportError) and exc.name:
                # "from pkg import tests" (3.12+ name_from): what may be the missing submodule.
                sub = getattr(exc, "name_from", None)
                r["missing_module"] = exc.name + "." + sub if sub else exc.name
            if isinstance(exc, OSError) and isinstance(exc.filename, str):
                r["missing_file"] = _rel(exc.filename)
        r["ms"] = round((time.perf_counter() - t) * 1000, 1)
        out.append(r)
    return json.dumps(out)
