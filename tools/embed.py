#!/usr/bin/env python3
"""Embed text files into a C++ source: embed.py OUT NAME FILE... defines
`extern const std::span<const pb::embedded::File> NAME`, one {base name, text} per FILE."""
import os
import sys

out, name, *files = sys.argv[1:]
delim = "PBEMBED"


def literal(data):
    assert f"){delim}\"" not in data
    # Split into chunks: compilers cap the length of one string literal.
    chunks = [data[i:i + 16000] for i in range(0, len(data), 16000)] or [""]
    return "\n".join(f'R"{delim}({c}){delim}"' for c in chunks)


with open(out, "w", encoding="utf-8") as f:
    f.write('#include "util/embedded.hpp"\nnamespace pb::embedded {\n')
    for i, src in enumerate(files):
        f.write(f"static const char {name}_{i}[] =\n{literal(open(src, encoding='utf-8').read())};\n")
    items = ",\n".join(f'  {{"{os.path.basename(src)}", {{{name}_{i}, sizeof({name}_{i}) - 1}}}}'
                       for i, src in enumerate(files))
    f.write(f"static const File {name}_files[] = {{\n{items}}};\n")
    f.write(f"extern const std::span<const File> {name}({name}_files);\n}}\n")
