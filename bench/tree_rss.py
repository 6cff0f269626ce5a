#!/usr/bin/env python3
"""tree_rss.py CMD...: run CMD and print the peak of the summed RSS of it and all its descendants
(MiB), sampled every 5 ms from /proc. /usr/bin/time reports one process's peak; a build runs Node
children next to pybundle, and what matters is what they hold together.With -v, also print
to stderr what each process held at the peak (command name, MiB)."""
import os, subprocess, sys, time


def children():
    kids = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(pid))
    return kids


def name(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
        return " ".join(a.decode(errors="replace") for a in argv[:3])[:120]
    except OSError:
        return "?"


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


verbose = sys.argv[1:2] == ["-v"]
cmd = sys.argv[2:] if verbose else sys.argv[1:]
proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
peak, at_peak = 0, []
while proc.poll() is None:
    kids, total, todo, each = children(), 0, [proc.pid], []
    while todo:
        pid = todo.pop()
        rss = rss_kib(pid)
        total += rss
        if verbose:
            each.append((rss, name(pid)))
        todo.extend(kids.get(pid, []))
    if total > peak:
        peak, at_peak = total, each
    time.sleep(0.005)
if proc.returncode:
    sys.exit(f"{cmd} exited with {proc.returncode}")
for rss, what in sorted(at_peak, reverse=True):
    print(f"{rss / 1024:7.0f} MiB  {what}", file=sys.stderr)
print(f"{peak / 1024:.0f}")
