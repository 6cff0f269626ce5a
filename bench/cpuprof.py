#!/usr/bin/env python3
"""cpuprof.py DIR: medians over the .cpuprofile files in DIR (node --cpu-prof) of a restored start:
self time by category, inclusive time of Pyodide's start-up functions, the top functions, and the
native calls (read, instantiate, Script, ...) by their nearest caller with a source. bench/profile.sh
makes the profiles."""
import json, sys, glob, statistics, collections
files = sorted(glob.glob(sys.argv[1] + "/*.cpuprofile"))
per = []
for f in files:
    p = json.load(open(f))
    nodes = {n["id"]: n for n in p["nodes"]}
    parent = {}
    for n in p["nodes"]:
        for c in n.get("children", []): parent[c] = n["id"]
    self_ms = collections.Counter(); incl = collections.Counter(); cat = collections.Counter()
    total = 0
    for sid, dt in zip(p["samples"], p["timeDeltas"]):
        ms = dt / 1000; total += ms
        n = nodes[sid]; cf = n["callFrame"]; name = cf["functionName"] or "(anon)"; url = cf["url"]
        if name in ("(idle)",): c = "idle"
        elif name in ("(garbage collector)",): c = "gc"
        elif name == "(program)": c = "program (V8 compile, native)"
        elif url.startswith("wasm://") or url == "" and "wasm" in name: c = "wasm (CPython)"
        elif "pyodide.asm" in url: c = "pyodide.asm.mjs JS"
        elif "pyodide.mjs" in url: c = "pyodide.mjs JS"
        elif "/host/" in url: c = "host JS"
        elif url.startswith("node:") or url == "": c = "node internals"
        else: c = "other JS"
        cat[c] += ms; self_ms[name] += ms
        seen = set(); cur = sid
        while cur is not None:
            nm = nodes[cur]["callFrame"]["functionName"]
            if nm not in seen: incl[nm] += ms; seen.add(nm)
            cur = parent.get(cur)
    per.append((total, cat, self_ms, incl))
med = lambda xs: statistics.median(xs)
print("profiles", len(per), "total sampled ms", [round(t) for t, *_ in per])
print("\n| category (self time) | ms (median) |")
for c in sorted({c for _, cat, _, _ in per for c in cat}, key=lambda c: -med([x[1][c] for x in per])):
    print(f"| {c} | {med([x[1][c] for x in per]):.0f} |")
print("\n| function (inclusive) | ms (median) |")
for fn in ["loadPyodide","createWasm","receiveInstance","updateGOT","loadDylibs","reportUndefinedSymbols","finalizeBootstrap","restoreSnapshot","fillHeap","instantiate","syncUpSnapshotLoad1","syncUpSnapshotLoad2","callMain","run","initRuntime","__wasm_call_ctors","main"]:
    v = [x[3][fn] for x in per]
    if any(v): print(f"| {fn} | {med(v):.0f} |")
print("\ntop self")
agg = collections.Counter()
for x in per:
    for k, v in x[2].items(): agg[k] += v / len(per)
for k, v in agg.most_common(25): print(f"{v:7.1f} {k}")
print("\nnative self time by nearest caller with a source")
agg = collections.Counter()
for f in files:
    p = json.load(open(f)); nodes = {n["id"]: n for n in p["nodes"]}; parent = {}
    for n in p["nodes"]:
        for c in n.get("children", []): parent[c] = n["id"]
    for sid, dt in zip(p["samples"], p["timeDeltas"]):
        cf = nodes[sid]["callFrame"]
        if cf["functionName"] in ("read","instantiate","Script","Module","compile","writeUtf8String","(garbage collector)"):
            cur = parent.get(sid); chain=[]
            while cur is not None and len(chain) < 3:
                c2 = nodes[cur]["callFrame"]
                if c2["url"] and not c2["url"].startswith("node:"): chain.append(f'{c2["functionName"] or "anon"}@{c2["url"].rsplit("/",1)[-1]}:{c2["lineNumber"]}')
                cur = parent.get(cur)
            agg[(cf["functionName"], " < ".join(chain))] += dt/1000/len(files)
for (k, ch), v in agg.most_common(14): print(f"{v:6.1f} {k:20s} {ch[:150]}")
