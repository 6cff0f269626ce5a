#!/usr/bin/env python3
"""Embed a text file into a C++ source as `extern const std::string_view NAME`."""
import sys

src, out, name = sys.argv[1:4]
data = open(src, encoding="utf-8").read()
delim = "PBEMBED"
assert f"){delim}\"" not in data
# Split into chunks: compilers cap the length of one string literal.
chunks = [data[i:i + 16000] for i in range(0, len(data), 16000)] or [""]
body = "\n".join(f'R"{delim}({c}){delim}"' for c in chunks)
with open(out, "w", encoding="utf-8") as f:
    f.write("#include <string_view>\nnamespace pb::embedded {\n")
    f.write(f"static const char {name}_data[] =\n{body};\n")
    f.write(f"extern const std::string_view {name}({name}_data, sizeof({name}_data) - 1);\n}}\n")
