#!/usr/bin/env python3
"""Regenerate the reader seed corpora (tests/fuzz/corpus/{uvlock,pyodidelock}) from real inputs,
trimmed so the committed corpora stay small. Usage: make_reader_seeds.py REAL_LOCKS PYODIDE_DIR..."""
import hashlib
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
LIMIT = 12 * 1024


def put(kind, data):
    os.makedirs(os.path.join(CORPUS, kind), exist_ok=True)
    name = hashlib.sha256(data).hexdigest()[:16]
    with open(os.path.join(CORPUS, kind, name), "wb") as f:
        f.write(data)


def trim_uv(text):
    """The header and the first whole [[package]] tables that fit in LIMIT (a valid uv.lock)."""
    parts = text.split("\n[[package]]\n")
    out = parts[0]
    for p in parts[1:]:
        piece = "\n[[package]]\n" + p
        if len(out) + len(piece) > LIMIT:
            if out == parts[0]:  # keep at least one package, cut at a line
                out += piece[:LIMIT].rsplit("\n", 1)[0] + "\n"
            break
        out += piece
    return out


def neutral_hosts(text):
    """Every URL's host replaced by a placeholder: no index or registry host goes into the repo."""
    return re.sub(r"(https?://)[^/\"'\s]+", r"\1files.example", text)


def trim_pyodide(doc, keep=12):
    names = sorted(doc.get("packages", {}))
    # A spread of package kinds: the first few, plus shared libraries and unvendored stdlib.
    chosen = names[:keep] + [n for n in names if doc["packages"][n].get("package_type") != "package"][:4]
    doc = dict(doc, packages={n: doc["packages"][n] for n in chosen})
    return json.dumps(doc, indent=1).encode()


def main():
    real, pyodides = sys.argv[1], sys.argv[2:]
    for d in sorted(os.listdir(real)):
        f = os.path.join(real, d, "uv.lock")
        if os.path.exists(f):
            put("uvlock", neutral_hosts(trim_uv(open(f).read())).encode())
    for d in pyodides:
        put("pyodidelock", trim_pyodide(json.load(open(os.path.join(d, "pyodide-lock.json")))))


if __name__ == "__main__":
    main()
