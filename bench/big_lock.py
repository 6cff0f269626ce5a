#!/usr/bin/env python3
"""big_lock.py SRC_PROJECT DEST_DIR MEGABYTES: a project whose uv.lock is SRC's, grown to about
MEGABYTES by appending copies of its packages under new names ("<name>-copyN", their dependency
references renamed alike, so each copy is a graph of its own). pyproject.toml is SRC's."""
import os
import re
import shutil
import sys

src, dest, megabytes = sys.argv[1], sys.argv[2], float(sys.argv[3])
text = open(os.path.join(src, "uv.lock"), encoding="utf-8").read()
head, *blocks = text.split("\n[[package]]\n")
# Workspace members and the root stay single: copies are the locked distributions.
copied = [b for b in blocks if re.search(r"^source = \{ (registry|url) ", b, re.M)]
names = {re.search(r'^name = "([^"]+)"', b, re.M).group(1) for b in copied}
ref = re.compile(r'(name = ")([^"]+)(")')
os.makedirs(dest, exist_ok=True)
shutil.copy(os.path.join(src, "pyproject.toml"), dest)
target = int(megabytes * 1024 * 1024)
with open(os.path.join(dest, "uv.lock"), "w", encoding="utf-8") as out:
    out.write(text)
    size, n = len(text.encode()), 0
    while size < target:
        n += 1
        for b in copied:
            chunk = "\n[[package]]\n" + ref.sub(lambda m: m.group(1) + m.group(2) + (f"-copy{n}" if m.group(2) in names else "") + m.group(3), b)
            out.write(chunk)
            size += len(chunk.encode())
            if size >= target:
                break
print(f"{size / 1048576:.1f} MB, {n} copies of {len(copied)} packages")
