# make-snapshot: how long the body of each bundle module ran while the entry was imported, summed
# by top-level name (python_modules/jinja2/... -> "jinja2"). Self time: a nested bundle module's
# time goes to it, the stdlib modules a module imports count as its own. sys.monitoring events
# (PY_START/PY_RETURN are switched off for every other code object after its first call), so
# nothing of this stays in the snapshot's import machinery.
import sys

from _pybundle_host import claim_monitoring, release_monitoring

_BUNDLE = "/bundle/"
_EVENTS = ("PY_START", "PY_RETURN", "PY_UNWIND")


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
        self.tool = claim_monitoring("pybundle-imports",
                                     {"PY_START": self._start, "PY_RETURN": self._return, "PY_UNWIND": self._unwind})

    def stop(self):
        self.enter = self.leave = None  # JS functions: the snapshot cannot hold a reference to them
        release_monitoring(self.tool, _EVENTS)
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
