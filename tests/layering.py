#!/usr/bin/env python3
"""Fails when a stage includes a stage its library does not use (src/meson.build's `stages`).

Usage: layering.py SRC_DIR STAGE=USED,USED ...   (src/cli, the top, may include every stage)"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z0-9_]+)/', re.M)


def main():
    src, specs = sys.argv[1], sys.argv[2:]
    allowed = {}
    for spec in specs:
        stage, _, used = spec.partition("=")
        allowed[stage] = {stage, *filter(None, used.split(","))}
    problems = []
    for stage, ok in sorted(allowed.items()):
        folder = os.path.join(src, stage)
        for name in sorted(os.listdir(folder)):
            if not name.endswith((".cpp", ".hpp")):
                continue
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                text = f.read()
            for match in INCLUDE.finditer(text):
                included = match.group(1)
                if included in allowed and included not in ok or included == "cli":
                    line = text.count("\n", 0, match.start()) + 1
                    problems.append(f"src/{stage}/{name}:{line}: includes {included}/, "
                                    f"which stage '{stage}' does not use (src/meson.build)")
    for p in problems:
        print(p)
    print(f"layering: {len(allowed)} stages, {len(problems)} upward or undeclared includes")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
