# make-snapshot: how long the body of each bundle module ran while the entry was imported, summed
# by top-level name (python_modules/jinja2/... -> "jinja2"). Self time: a nested bundle module's
# time goes to it, the stdlib modules a module imports count as its own. sys.monitoring events
# (PY_START/PY_RETURN are switched off for every other code object after its first call), so
# nothing of this stays in the snapshot's import machinery.
import sys

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
    def __init__(self, enter, leave):
        # enter() and leave(where, module) are the host's (snapshot.mjs importClock): it reads the real time and keeps the
        # sums, so no time value is ever a Python object in the snapshot's heap (they would differ
        # between two builds of the same inputs). While a snapshot is made Python's own clocks are
        # fixed (repro.mjs) and would count clock reads, not time.
        self.enter, self.leave = enter, leave
        self.stack = []   # the keys of the bundle modules being imported, innermost last
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
        self.enter = self.leave = None  # JS functions: the snapshot cannot hold a reference to them
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
        self.stack.append(key)
        self.enter()

    def _end(self, code):
        if not self.stack or _key(code) != self.stack[-1]:
            return
        where, top = self.stack.pop()
        self.leave(where, top)

    def _return(self, code, offset, value):
        if code.co_name != "<module>":
            return sys.monitoring.DISABLE
        self._end(code)

    def _unwind(self, code, offset, exc):  # cannot be disabled per code object
        if code.co_name == "<module>":
            self._end(code)
