# make-snapshot: how long the body of each bundle module ran while the entry was imported, summed
# by top-level name (python_modules/jinja2/... -> "jinja2"). Self time: a nested bundle module's
# time goes to it, the stdlib modules a module imports count as its own. sys.monitoring events
# (PY_START/PY_RETURN are switched off for every other code object after its first call), so
# nothing of this stays in the snapshot's import machinery.
import sys, time

_BUNDLE = "/bundle/"


def _key(code):
    f = code.co_filename
    if code.co_name != "<module>" or not f.startswith(_BUNDLE):
        return None
    parts = f[len(_BUNDLE):].split("/")
    if len(parts) < 2 or parts[0] not in ("python_modules", "app"):
        return None
    top = parts[1][:-3] if parts[1].endswith(".py") else parts[1]
    return parts[0], top


class ImportClock:
    def __init__(self, now_ms=None):
        # The host hands in the real clock: while a snapshot is made, Python's clocks are fixed
        # (repro.mjs) and would count clock reads, not time.
        self.now = now_ms or (lambda: time.perf_counter() * 1000)
        self.stack = []   # [key, start, time of nested bundle modules]
        self.totals = {}
        self.tool = None

    def start(self):
        mon = getattr(sys, "monitoring", None)
        if mon is None:
            return
        for tool in range(6):
            if mon.get_tool(tool) is None:
                self.tool = tool
                break
        if self.tool is None:
            return
        E = mon.events
        mon.use_tool_id(self.tool, "pybundle-imports")
        mon.register_callback(self.tool, E.PY_START, self._start)
        mon.register_callback(self.tool, E.PY_RETURN, self._return)
        mon.register_callback(self.tool, E.PY_UNWIND, self._unwind)
        mon.set_events(self.tool, E.PY_START | E.PY_RETURN | E.PY_UNWIND)

    def stop(self):
        self.now = None  # a JS function: the snapshot cannot hold a reference to it
        if self.tool is None:
            return
        mon = sys.monitoring
        mon.set_events(self.tool, 0)
        for e in (mon.events.PY_START, mon.events.PY_RETURN, mon.events.PY_UNWIND):
            mon.register_callback(self.tool, e, None)
        mon.free_tool_id(self.tool)
        self.tool = None

    def _start(self, code, offset):
        key = _key(code)
        if key is None:
            return sys.monitoring.DISABLE
        self.stack.append([key, self.now(), 0.0])

    def _end(self, code):
        if not self.stack or _key(code) != self.stack[-1][0]:
            return
        key, t0, nested = self.stack.pop()
        spent = self.now() - t0
        self.totals[key] = self.totals.get(key, 0.0) + spent - nested
        if self.stack:
            self.stack[-1][2] += spent

    def _return(self, code, offset, value):
        if code.co_name != "<module>":
            return sys.monitoring.DISABLE
        self._end(code)

    def _unwind(self, code, offset, exc):  # cannot be disabled per code object
        if code.co_name == "<module>":
            self._end(code)

    def results(self):
        out = [{"where": where, "module": top, "ms": round(s, 1)} for (where, top), s in self.totals.items()]
        return sorted(out, key=lambda r: (-r["ms"], r["where"], r["module"]))
