#!/usr/bin/env python3
"""Build the example project's wheels deterministically and write its uv.lock and its
PEP 503 index (fixtures/example/index: serve that directory at BASE_URL).

Usage: make-example-wheels.py [BASE_URL]   (default http://127.0.0.1:8766)
The wheels are byte-identical on every run (sorted entries, fixed dates and modes), so the
committed uv.lock hashes stay valid."""
import base64, hashlib, html, os, sys, zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "fixtures", "example")
BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8766"
EPOCH = (1980, 1, 1, 0, 0, 0)

# name, version, wheel tag, requires-dist, source package dir (None: a generated module)
DISTS = [
    ("slugkit", "0.3.1", "py3-none-any", [], "slugkit"),
    ("minirouter", "1.0.0", "py3-none-any", ["slugkit>=0.3"], "minirouter"),
    # Only ever needed on Windows: the planner must drop it for Pyodide.
    ("winonly", "1.0", "cp313-cp313-win_amd64", [], None),
]


def record_hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build(name, version, tag, requires, pkg):
    files = {}
    if pkg:
        src = os.path.join(EXAMPLE, "packages", pkg)
        for root, dirs, names in os.walk(src):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for n in sorted(names):
                path = os.path.join(root, n)
                files[os.path.relpath(path, src).replace(os.sep, "/")] = open(path, "rb").read()
    else:
        files[f"{name}.py"] = b"WINDOWS_ONLY = True\n"
    info = f"{name}-{version}.dist-info"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires)
    files[f"{info}/METADATA"] = meta.encode()
    files[f"{info}/WHEEL"] = (f"Wheel-Version: 1.0\nGenerator: make-example-wheels\n"
                              f"Root-Is-Purelib: {'true' if tag.endswith('any') else 'false'}\nTag: {tag}\n").encode()
    record = "".join(f"{p},{record_hash(d)},{len(d)}\n" for p, d in files.items()) + f"{info}/RECORD,,\n"
    files[f"{info}/RECORD"] = record.encode()
    out = os.path.join(EXAMPLE, "index", "wheels", f"{name}-{version}-{tag}.whl")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for p, d in files.items():
            zi = zipfile.ZipInfo(p, EPOCH)
            zi.external_attr = 0o644 << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, d)
    data = open(out, "rb").read()
    return os.path.basename(out), hashlib.sha256(data).hexdigest(), len(data)


def main():
    os.makedirs(os.path.join(EXAMPLE, "index", "wheels"), exist_ok=True)
    built = {d[0]: (d, build(*d)) for d in DISTS}
    lock = ['version = 1', 'revision = 3', 'requires-python = ">=3.12"', '']
    lock += ['[[package]]', 'name = "example-worker"', 'version = "0.1.0"', 'source = { virtual = "." }',
             'dependencies = [', '    { name = "minirouter" },',
             '    { name = "winonly", marker = "sys_platform == \'win32\'" },', ']', '',
             '[package.metadata]', 'requires-dist = [', '    { name = "minirouter", specifier = ">=1.0" },',
             '    { name = "winonly", marker = "sys_platform == \'win32\'" },', ']', '']
    for name, ((_, version, _, requires, _), (fn, sha, size)) in sorted(built.items()):
        lock += ['[[package]]', f'name = "{name}"', f'version = "{version}"',
                 f'source = {{ registry = "{BASE}/simple" }}']
        if requires:
            lock += ['dependencies = ['] + [f'    {{ name = "{r.split(">")[0]}" }},' for r in requires] + [']']
        lock += ['wheels = [', f'    {{ url = "{BASE}/wheels/{fn}", hash = "sha256:{sha}", size = {size} }},', ']', '']
        index = os.path.join(EXAMPLE, "index", "simple", name)
        os.makedirs(index, exist_ok=True)
        with open(os.path.join(index, "index.html"), "w") as f:
            f.write(f'<!DOCTYPE html><html><body><a href="../../{html.escape(fn)}#sha256={sha}">{html.escape(fn)}</a></body></html>\n')
    with open(os.path.join(EXAMPLE, "uv.lock"), "w") as f:
        f.write("\n".join(lock).rstrip("\n") + "\n")


if __name__ == "__main__":
    main()
