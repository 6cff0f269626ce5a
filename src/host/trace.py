# trace mode: the loaded modules that live in the bundle (see tools.mjs).
import sys

def bundle_modules():
    out = {}
    for name, m in list(sys.modules.items()):
        spec = getattr(m, "__spec__", None)
        files = [getattr(m, "__file__", None), getattr(spec, "origin", None), getattr(spec, "cached", None)]
        paths = list(getattr(m, "__path__", None) or [])
        hit = [f for f in files if isinstance(f, str) and f.startswith("/bundle/")]
        if hit or any(isinstance(p, str) and p.startswith("/bundle/") for p in paths):
            out[name] = sorted(set(hit))
    return out
