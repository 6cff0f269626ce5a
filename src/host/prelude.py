# The host's Python helpers, run as module _pybundle_host in every process (kept in the snapshot).
import sys, os, re, json, importlib, traceback, inspect, base64

BUNDLE = "/bundle"

def add_paths():
    sys.dont_write_bytecode = True  # never write __pycache__ into the mounted bundle
    paths = [BUNDLE + "/app", BUNDLE + "/python_modules"]
    for p in paths:
        while p in sys.path:
            sys.path.remove(p)
    sys.path[0:0] = paths
    if _WorkersModule not in sys.meta_path:
        sys.meta_path.insert(0, _WorkersModule)
    importlib.invalidate_caches()

WORKERS_SOURCE = ""  # workers.py, set by the host (runtime.mjs)

class _WorkersModule:
    """Finds and loads the host's `workers` module (Cloudflare's entry style), ahead of the bundle."""
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name != "workers":
            return None
        from importlib.machinery import ModuleSpec
        return ModuleSpec(name, _WorkersModule, origin="<pybundle workers>")
    @staticmethod
    def create_module(spec):
        return None
    @staticmethod
    def exec_module(module):
        exec(compile(WORKERS_SOURCE, "<pybundle workers>", "exec"), module.__dict__)

def reseed():
    # A restored heap carries the RNG state of the process that made it.
    import random
    random.seed()
    tf = sys.modules.get("tempfile")
    if tf is not None:
        tf._name_sequence = None
    os.urandom(16)

# --- tracebacks as the user's project has them ------------------------------------------
APP_SOURCE = None  # the project directory app/ was copied from ("src/", "" when flat); set by the host
_FRAME = re.compile(r'^(\s*)File "([^"]*)", line (\d+)')

def _machinery(filename):
    # The host's own code and the import machinery it goes through: not the user's frames.
    return (filename.startswith("<pybundle") or filename.startswith("<frozen importlib.")
            or filename.endswith("/importlib/__init__.py"))

def shown(filename):
    """A bundle path as the user knows it: app/ files by their path in the project."""
    if filename.startswith(BUNDLE + "/app/") and APP_SOURCE is not None:
        return APP_SOURCE + filename[len(BUNDLE) + 5:]
    return rel(filename)

def clean_traceback(text):
    out, skip = [], None
    for line in text.splitlines(True):
        m = _FRAME.match(line)
        if m:
            skip = len(m.group(1)) if _machinery(m.group(2)) else None
            if skip is None:
                line = line[:m.start(2)] + shown(m.group(2)) + line[m.end(2):]
        elif skip is not None and line.startswith(" " * (skip + 1)):
            continue  # the skipped frame's source and caret lines
        else:
            skip = None
        if skip is None:
            out.append(line)
    return "".join(out)

def _missing_name(exc):
    name = getattr(exc, "name", None)
    if not name:
        m = re.match(r"No module named '([^']+)'", str(exc))
        name = m.group(1) if m else None
    return name

def _recorded(candidates):
    """RECORD paths among `candidates` (relative to python_modules/) that some distribution
    shipped but the bundle lacks: what trimming or --minimize left out."""
    import glob, csv
    found = []
    for record in sorted(glob.glob(BUNDLE + "/python_modules/*.dist-info/RECORD")):
        try:
            with open(record, newline="", encoding="utf-8") as f:
                rows = [r[0] for r in csv.reader(f) if r]
        except OSError:
            continue
        for path in rows:
            if any(c(path) for c in candidates) and not os.path.exists(BUNDLE + "/python_modules/" + path):
                found.append(path)
    return found

def _left_out(name):
    """The hint for module `name` when trimming or --minimize dropped its files, else None."""
    base = name.replace(".", "/")
    dropped = _recorded([lambda p: p == base + ".py" or p.startswith(base + "/")
                         or (p.startswith(base + ".") and "/" not in p[len(base):])])
    if not dropped:
        return None
    return ("module '%s' was left out of the bundle by the build's trimming (or --minimize): "
            "python_modules/%s%s; rebuild with --keep '%s'"
            % (name, dropped[0], " and %d more" % (len(dropped) - 1) if len(dropped) > 1 else "",
               base + "/**" if dropped[0].startswith(base + "/") else dropped[0]))

def explain(exc):
    """Why an import failed, in the user's terms; None when there is nothing to add."""
    if isinstance(exc, ModuleNotFoundError):
        name = _missing_name(exc)
        if not name:
            return None
        hint = _left_out(name)
        if hint:
            return hint
        top = name.split(".")[0]
        try:
            from _pyodide import _importhook as hook
            package = hook.REPODATA_PACKAGES_IMPORT_TO_PACKAGE_NAME.get(top)
            unvendored = package in hook.UNVENDORED_STDLIBS_AND_TEST
        except Exception:
            package, unvendored = None, False
        if unvendored:
            return ("'%s' is a standard library module this Pyodide release ships separately: "
                    "build with --with-stdlib %s (or [tool.pybundle] stdlib = [\"%s\"])" % (top, package, package))
        if top in APP_LEFT_OUT:
            return ("module '%s' is in the project (%s) but not among the app's files: an include glob does not "
                    "match it, or it is in a directory never shipped (tests/, build/, ...); `pybundle plan` lists "
                    "the app's files" % (top, (APP_SOURCE or "") + APP_LEFT_OUT[top]))
        if top in sys.stdlib_module_names or top in sys.modules:
            return None  # a submodule that does not exist, or a stdlib module Pyodide lacks
        return ("no package in the bundle provides module '%s': it is not a dependency in pyproject.toml "
                "(add the distribution that provides it to [project] dependencies and run `uv lock`)" % top)
    # `from package import submodule` whose file was dropped: an ImportError, not ModuleNotFoundError.
    m = (re.match(r"cannot import name '([^']+)' from (?:partially initialized module )?'([^']+)'", str(exc))
         if isinstance(exc, ImportError) else None)
    if m:
        hint = _left_out(m.group(2) + "." + m.group(1))
        if hint:
            return hint
    if isinstance(exc, ImportError) and "relative import with no known parent package" in str(exc):
        return ("the modules at the root of app/ (%s, the entry's directory) are top-level modules, in no "
                "package: import their neighbours absolutely (`from config import X`, not `from .config import X`)"
                % (APP_SOURCE or "the entry's directory"))
    if (isinstance(exc, FileNotFoundError) and isinstance(exc.filename, str) and exc.filename
            and not os.path.isabs(exc.filename) and os.path.exists(os.path.join(BUNDLE, "app", exc.filename))):
        return ("'%s' is opened relative to the working directory (%s), not to the app's files (%s): build "
                "the path from the module's own, pathlib.Path(__file__).parent / ..."
                % (exc.filename, os.getcwd(), (APP_SOURCE or "") + exc.filename))
    if isinstance(exc, OSError) and isinstance(exc.filename, str) and exc.filename.startswith(BUNDLE + "/python_modules/"):
        path = exc.filename[len(BUNDLE) + 16:]
        if _recorded([lambda p: p == path]):
            return ("python_modules/%s was left out of the bundle by the build's trimming (or --minimize); "
                    "rebuild with --keep '%s'" % (path, path))
    return None

APP_LEFT_OUT = {}  # module name -> file or directory the project has beside the entry but app/ lacks (build only)

def set_app_source(source, left_out=""):
    global APP_SOURCE, APP_LEFT_OUT
    APP_SOURCE = None if not source else "" if source == "." else source.rstrip("/") + "/"
    APP_LEFT_OUT = {n[:-3] if n.endswith(".py") else n: n for n in left_out.split(",") if n}
    _show_warnings_as_tracebacks()

def _show_warnings_as_tracebacks():
    """Warnings name files as tracebacks do (python_modules/x.py, src/app.py), not /bundle/..."""
    import warnings, linecache
    if getattr(warnings.formatwarning, "_pybundle", False):
        return
    original = warnings.formatwarning
    def formatwarning(message, category, filename, lineno, line=None):
        if line is None:  # read under the real name: the shown one is not a path here
            line = linecache.getline(filename, lineno)
        return original(message, category, shown(filename), lineno, line)
    formatwarning._pybundle = True
    warnings.formatwarning = formatwarning

def place(exc):
    """Where the failure is in the bundle: (bundle path, line) of the innermost bundle frame."""
    if isinstance(exc, SyntaxError) and isinstance(exc.filename, str) and exc.filename.startswith(BUNDLE + "/"):
        return exc.filename, exc.lineno or 0
    inside = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(BUNDLE + "/")]
    return (inside[-1].filename, inside[-1].lineno or 0) if inside else (None, 0)

def one_line(message):
    """An exception's message on one line (Emscripten's loader puts its own error on a line of its own)."""
    return "; ".join(l.strip() for l in str(message).splitlines() if l.strip())

def summary(exc):
    """One line: the exception, where it happened in the project, and the hint."""
    message = one_line(exc)
    text = "%s: %s" % (type(exc).__name__, message) if message else type(exc).__name__
    where, line = place(exc)
    if where:
        text += " (%s:%d)" % (shown(where), line)
    hint = explain(exc)
    return text + ("; " + hint if hint else "")

def format_exc(exc):
    """The traceback without the host's frames, bundle paths shown as the project's, and what
    pybundle knows about the cause on a last line."""
    hint = explain(exc)
    notes = getattr(exc, "__notes__", None)
    if hint and notes:  # Pyodide's "await micropip.install(...)" advice does not apply to a bundle
        exc.__notes__ = [n for n in notes if "micropip" not in n]
    text = clean_traceback("".join(traceback.format_exception(exc)))
    return text + ("pybundle: %s\n" % hint if hint else "")

def import_modules(names):
    """Import each module; returns None, or the traceback text of the first failure."""
    for name in names:
        try:
            importlib.import_module(name)
        except BaseException as exc:
            text = format_exc(exc)
            sys.stderr.write(text)
            sys.stderr.flush()
            return {"module": name, "error": summary(exc), "traceback": text}
    return None

_LD_LIBRARY_PATH = None  # as the import left it, kept in the heap (see restore_environ)

def collect():
    # Before the heap is written: what the import left is never garbage the collector would free,
    # so it goes to the permanent generation, and no collection after a restore walks it again.
    global _LD_LIBRARY_PATH
    _LD_LIBRARY_PATH = os.environ.get("LD_LIBRARY_PATH")
    import gc
    gc.collect()
    gc.freeze()

def restore_environ():
    # Pyodide's bootstrap sets LD_LIBRARY_PATH to its default after a restore too, dropping what the
    # import added: an extension imported later would not find the libraries it names as needed.
    if _LD_LIBRARY_PATH is not None:
        os.environ["LD_LIBRARY_PATH"] = _LD_LIBRARY_PATH

def module_names():
    return sorted(sys.modules)

def rel(filename):
    if filename.startswith(BUNDLE + "/"):
        return filename[len(BUNDLE) + 1:]
    return filename

# --- entropy drawn while the snapshot is made -------------------------------------------
_STDLIB_SOURCES = ("random.py", "tempfile.py", "uuid.py", "secrets.py", "os.py")
_TEMPFILE = {"mkstemp", "mkdtemp", "mktemp", "NamedTemporaryFile", "TemporaryFile",
             "SpooledTemporaryFile", "TemporaryDirectory", "_get_candidate_names"}
_NOT_DRAWS = {"seed", "getstate", "setstate", "__init__", "__reduce__", "__getstate__", "__setstate__"}

def _describe(fn):
    rnd = sys.modules.get("random")
    if rnd is not None:
        owner = getattr(fn, "__self__", None)
        if isinstance(owner, rnd.Random):
            name = getattr(fn, "__name__", "?")
            if name in _NOT_DRAWS:
                return None
            if isinstance(owner, rnd.SystemRandom):
                return "SystemRandom().%s()" % name
            if owner is getattr(rnd, "_inst", None):
                return "random.%s()" % name
            return "Random.%s() of an instance" % name
        if isinstance(fn, type) and issubclass(fn, rnd.Random) and not issubclass(fn, rnd.SystemRandom):
            return "%s.%s()" % (fn.__module__, fn.__qualname__)
    clock = _clock(fn)
    if clock:
        return clock
    if fn is os.urandom or fn is getattr(os, "getrandom", None):
        return "os.%s()" % fn.__name__
    mod = getattr(fn, "__module__", None)
    name = getattr(fn, "__name__", None)
    if mod == "uuid" and name in ("uuid1", "uuid4"):
        return "uuid.%s()" % name
    if mod == "secrets" and name in ("token_bytes", "token_hex", "token_urlsafe", "randbelow", "randbits", "choice"):
        return "secrets.%s()" % name
    if mod == "tempfile" and name in _TEMPFILE:
        return "tempfile.%s()" % name
    return None

def _clock(fn):
    """'time.time()' when fn reads the wall clock, which reads 2020-01-01 while the snapshot is made."""
    tm = sys.modules.get("time")
    if tm is not None and (fn is tm.time or fn is tm.time_ns):
        return "time.%s()" % fn.__name__
    dt = sys.modules.get("datetime")
    owner = getattr(fn, "__self__", None)
    if dt is not None and (owner is dt.datetime or owner is dt.date) and getattr(fn, "__name__", "") in (
            "now", "utcnow", "today"):
        return "%s.%s()" % (owner.__name__, fn.__name__)
    return None

def _line_of(code, offset):
    for start, end, line in code.co_lines():
        if start <= offset < end:
            return line
    return code.co_firstlineno

def claim_monitoring(name, callbacks):
    """A free sys.monitoring tool id used as `name`, with `callbacks` ({"EVENT": fn}) registered
    and their events on; None before Python 3.12 or when every id is taken."""
    mon = getattr(sys, "monitoring", None)
    tool = next((t for t in range(6) if mon.get_tool(t) is None), None) if mon else None
    if tool is None:
        return None
    mon.use_tool_id(tool, name)
    events = 0
    for event, fn in callbacks.items():
        mon.register_callback(tool, getattr(mon.events, event), fn)
        events |= getattr(mon.events, event)
    mon.set_events(tool, events)
    return tool


def release_monitoring(tool, events):
    """Undo claim_monitoring (None: nothing was claimed)."""
    if tool is None:
        return
    mon = sys.monitoring
    mon.set_events(tool, 0)
    for event in events:
        mon.register_callback(tool, getattr(mon.events, event), None)
    mon.free_tool_id(tool)


class EntropyWatch:
    def __init__(self):
        self.found = []
        self.sites = set()
        self.tool = None

    def start(self):
        self.tool = claim_monitoring("pybundle", {"CALL": self._on_call})

    def stop(self):
        release_monitoring(self.tool, ("CALL",))
        self.tool = None

    def _on_call(self, code, offset, fn, arg0):
        try:
            what = _describe(fn)
            clock = what is not None and what == _clock(fn)
        except Exception:
            what = None
        filename = code.co_filename
        if what is None or filename.endswith(_STDLIB_SOURCES) or filename == "<pybundle>":
            return sys.monitoring.DISABLE
        if clock and not filename.startswith(BUNDLE + "/app/"):  # libraries time themselves: only the app's reads
            return sys.monitoring.DISABLE
        site = (filename, offset)
        if site not in self.sites:
            self.sites.add(site)
            entry = {"call": what, "file": shown(filename), "line": _line_of(code, offset),
                     "kind": "clock" if clock else "generator" if isinstance(fn, type) else "draw"}
            frame = sys._getframe(1)
            while frame is not None:
                f = frame.f_code.co_filename
                if f.startswith(BUNDLE + "/app/") and f != filename:
                    entry["imported_from"] = "%s:%d" % (shown(f), frame.f_lineno)
                    break
                frame = frame.f_back
            self.found.append(entry)
        return sys.monitoring.DISABLE

# --- compiled extensions ------------------------------------------------------------------
def loaded_extensions():
    found = []
    for name, m in list(sys.modules.items()):
        f = getattr(m, "__file__", None) or ""
        if f.endswith(".so"):
            found.append({"module": name, "file": f})
    return found

def js_holders(depth=3):
    """Where the imported modules hold JavaScript objects (JsProxy), within `depth` steps of a
    module's globals: [[module, path, proxy]], e.g. ["app", "app.CALLBACKS['ready']", <JsProxy>].
    For naming the object a snapshot cannot hold."""
    import types
    from pyodide.ffi import JsProxy
    found, seen = [], set()
    for name, mod in sorted((k, v) for k, v in list(sys.modules.items()) if type(v).__name__ == "module"):
        todo = [("%s.%s" % (name, k), v, 1) for k, v in list(vars(mod).items())]
        while todo:
            path, v, level = todo.pop()
            t = type(v)  # not isinstance: a proxy object (werkzeug's LocalProxy) can raise from __class__
            if issubclass(t, JsProxy):
                found.append([name, path, v])
                continue
            if id(v) in seen or level > depth or t is types.ModuleType:
                continue
            seen.add(id(v))
            try:
                kids = _children(path, v, t)
            except Exception:  # an attribute that computes itself and fails: not a held reference
                continue
            todo.extend((p, x, level + 1) for p, x in kids)
    return found

def _children(path, v, t):
    import types
    if issubclass(t, dict):
        return [("%s[%r]" % (path, k), x) for k, x in list(v.items())]
    if issubclass(t, (list, tuple, set, frozenset)):
        return [("%s[%d]" % (path, i), x) for i, x in enumerate(v)]
    if t is types.FunctionType:
        cells = zip(v.__code__.co_freevars, v.__closure__ or ())
        return [("%s.<closure %s>" % (path, n), c.cell_contents) for n, c in cells if _filled(c)] + \
               [("%s.<default>" % path, x) for x in (v.__defaults__ or ())]
    d = object.__getattribute__(v, "__dict__") if hasattr(t, "__dict__") else None
    return [("%s.%s" % (path, k), x) for k, x in list(d.items())] if isinstance(d, (dict, types.MappingProxyType)) else []

def _filled(cell):
    try:
        cell.cell_contents
        return True
    except ValueError:
        return False

# --- requests and responses ---------------------------------------------------------------
class Headers(dict):
    """Case-insensitive header mapping (keys stored lower-case)."""
    def __init__(self, pairs=()):
        super().__init__()
        for k, v in pairs:
            k = str(k).lower()
            super().__setitem__(k, v if k not in self else self[k] + ", " + v)
    def __getitem__(self, k):
        return super().__getitem__(k.lower())
    def __contains__(self, k):
        return super().__contains__(str(k).lower())
    def get(self, k, default=None):
        return super().get(str(k).lower(), default)

class Query(dict):
    """The query string: q[k] is the last value of k, q.getlist(k) every value in order."""
    def __init__(self, lists):
        super().__init__((k, v[-1]) for k, v in lists.items())
        self._lists = lists
    def getlist(self, k):
        return list(self._lists.get(k, []))
    def lists(self):
        return [(k, list(v)) for k, v in self._lists.items()]

class Request:
    def __init__(self, method, url, headers, body):
        self.method = method
        self.url = url
        self.headers = Headers(headers)
        self.body = b"" if body is None else bytes(body)
    @property
    def path(self):
        from urllib.parse import urlsplit
        return urlsplit(self.url).path
    @property
    def query(self):
        from urllib.parse import urlsplit, parse_qs
        return Query(parse_qs(urlsplit(self.url).query))
    def text(self):
        return self.body.decode("utf-8")
    def json(self):
        return json.loads(self.body or b"null")
    def __repr__(self):
        return "<Request %s %s>" % (self.method, self.url)

def _header_pairs(h):
    if h is None:
        return []
    if hasattr(h, "items"):
        items = h.items()
    else:
        items = h
    text = lambda x: x.decode("latin-1") if isinstance(x, (bytes, bytearray)) else str(x)
    return [[text(k), text(v)] for k, v in items]

def to_response(r):
    if r is None:
        return 204, [], b""
    if isinstance(r, str):
        return 200, [["content-type", "text/plain; charset=utf-8"]], r.encode("utf-8")
    if isinstance(r, (bytes, bytearray, memoryview)):
        return 200, [["content-type", "application/octet-stream"]], bytes(r)
    if isinstance(r, (dict, list)):
        return 200, [["content-type", "application/json"]], json.dumps(r).encode("utf-8")
    status = getattr(r, "status", None)
    if not isinstance(status, int):
        status = getattr(r, "status_code", None)
    if isinstance(status, int):
        headers = _header_pairs(getattr(r, "headers", None))
        if hasattr(r, "get_data"):
            body = r.get_data()
        else:
            body = getattr(r, "body", None)
            if body is None:
                body = getattr(r, "content", None)
            if body is None:
                body = getattr(r, "text", b"")
        if isinstance(body, str):
            body = body.encode("utf-8")
            if not any(k.lower() == "content-type" for k, _ in headers):
                headers.append(["content-type", "text/plain; charset=utf-8"])
        elif isinstance(body, (dict, list)):
            body = json.dumps(body).encode("utf-8")
            if not any(k.lower() == "content-type" for k, _ in headers):
                headers.append(["content-type", "application/json"])
        elif body is not None:
            try:  # bytes(5) would be five NUL bytes, bytes(10**10) all memory
                body = bytes(memoryview(body))
            except TypeError:
                raise TypeError("on_fetch's response body is %s; expected str, bytes, dict, list or None"
                                % type(body).__name__) from None
        return status, headers, body or b""
    for attr in ("status", "status_code"):
        if hasattr(r, attr):  # a response whose status is not a number: name it, not the whole shape
            raise TypeError("on_fetch returned %s whose %s is %r (%s); expected an int such as 200"
                            % (type(r).__name__, attr, getattr(r, attr), type(getattr(r, attr)).__name__))
    raise TypeError("on_fetch returned %s; expected str, bytes, dict, list or an object with "
                    "status and headers" % type(r).__name__)

async def warm_handler(request):
    return {"path": request.path, "query": request.query, "text": request.text()}

def find_handler(entry, env_json="{}"):
    """class Default(WorkerEntrypoint) when the entry defines one (as the platform does), else on_fetch."""
    mod = sys.modules.get(entry) or importlib.import_module(entry)
    workers = sys.modules.get("workers")
    if getattr(workers, "PYBUNDLE_HOST", False):
        fn = workers.entry_handler(mod, json.loads(env_json))
        if fn is not None:
            return fn
    fn = getattr(mod, "on_fetch", None)
    if not callable(fn):
        raise LookupError("entry module '%s' (%s) defines no on_fetch(request) and no class Default(WorkerEntrypoint)%s"
                          % (entry, rel(getattr(mod, "__file__", "?")), _framework_hint(mod)))
    return fn

_ASGI = {"fastapi", "starlette", "quart", "litestar", "sanic"}

def _framework_hint(mod):
    """A web framework's app object in the entry: the platform (and pybundle) call on_fetch, not it."""
    for name, v in list(vars(mod).items()):
        try:
            if name.startswith("_") or isinstance(v, type) or not callable(v):
                continue
            cls = type(v)
            what = "%s.%s" % (cls.__module__, cls.__qualname__)
            if hasattr(v, "asgi_app") or (cls.__module__.split(".")[0] in _ASGI and hasattr(v, "router")):
                return ("; its '%s' is an ASGI app (%s), which nothing calls by itself: define "
                        "async def on_fetch(request) that passes the request to it" % (name, what))
            if hasattr(v, "wsgi_app"):
                call = "%s.test_client()" % name if hasattr(v, "test_client") else "werkzeug.test.Client(%s)" % name
                return ("; its '%s' is a WSGI app (%s), which nothing calls by itself: add def on_fetch(request): "
                        "return %s.open(request.url, method=request.method, headers=list(request.headers.items()), "
                        "data=request.body)" % (name, what, call))
        except Exception:  # an object whose attributes cannot be read is no framework app
            continue
    return ""

def handler_style(fn):
    return getattr(fn, "pybundle_style", "on_fetch")

def call(fn, method, url, headers, body, flat=False):
    """Call the handler: [status, headers, body, traceback-or-None, summary line when it raised].
    A sync handler answers here, without a trip through the event loop; for an async one this
    returns the Task that finishes the call (the host awaits it, and cancels it once it gave up
    on it). `flat` (the JavaScript host): headers come and go as one string, names and values
    joined by NUL (one conversion across the FFI, not one per pair), and an empty body may be None."""
    try:
        if flat:
            parts = headers.split("\0") if headers else []
            headers = zip(parts[::2], parts[1::2])
        r = fn(Request(method, url, headers, body))
        if inspect.isawaitable(r):
            import asyncio  # Pyodide's event loop imported it already
            return asyncio.ensure_future(_finish(r, flat))
        return _answer(r, flat)
    except BaseException as exc:
        return _failed(exc, flat)

async def _finish(awaitable, flat):
    try:
        return _answer(await awaitable, flat)
    except BaseException as exc:
        return _failed(exc, flat)

def _headers_out(hdrs, flat):
    """For the JavaScript host (flat), one NUL-joined string; a NUL inside a header cannot go
    joined, so then the pairs go as they are, for the host to refuse by name."""
    if not flat:
        return hdrs
    joined = "\0".join(x for pair in hdrs for x in pair)
    return joined if not hdrs or joined.count("\0") == 2 * len(hdrs) - 1 else hdrs

def _answer(r, flat):
    status, hdrs, data = to_response(r)
    return [status, _headers_out(hdrs, flat), data, None]

def _failed(exc, flat):
    hdrs = _headers_out([["content-type", "text/plain; charset=utf-8"]], flat)
    return [500, hdrs, b"Internal Server Error\n", format_exc(exc), summary(exc)]
