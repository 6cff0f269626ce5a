#!/usr/bin/env python3
"""tree_rss.py CMD...: run CMD and print the peak of the summed RSS of it and all its descendants
(MiB), sampled every 5 ms from /proc. /usr/bin/time reports one process's peak; a build runs Node
children next to pybundle, and what matters is what they hold together."""
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


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
peak = 0
while proc.poll() is None:
    kids, total, todo = children(), 0, [proc.pid]
    while todo:
        pid = todo.pop()
        total += rss_kib(pid)
        todo.extend(kids.get(pid, []))
    peak = max(peak, total)
    time.sleep(0.005)
if proc.returncode:
    sys.exit(f"{sys.argv[1:]} exited with {proc.returncode}")
print(f"{peak / 1024:.0f}")
