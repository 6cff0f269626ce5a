# The `workers` module the host gives the app: the part of Cloudflare's Python Workers API a
# worker needs to run under pybundle unchanged (WorkerEntrypoint, Request, Response, env).
# Written from the platform's public documentation; bodies are bytes, not JS streams.
import json

__all__ = ["Context", "Headers", "Request", "Response", "WorkerEntrypoint"]

PYBUNDLE_HOST = True  # the host's stand-in, not the platform's SDK


class Headers:
    """Header pairs in order; lookups ignore case, repeated names join with ", "."""

    def __init__(self, init=None):
        self._pairs = []
        if init is None:
            return
        items = init.items() if hasattr(init, "items") else init
        for k, v in items:
            self.append(k, v)

    def append(self, name, value):
        self._pairs.append((str(name).lower(), str(value)))

    def set(self, name, value):
        self.delete(name)
        self.append(name, value)

    def delete(self, name):
        name = str(name).lower()
        self._pairs = [(k, v) for k, v in self._pairs if k != name]

    def get(self, name, default=None):
        name = str(name).lower()
        found = [v for k, v in self._pairs if k == name]
        return ", ".join(found) if found else default

    def get_all(self, name):
        name = str(name).lower()
        return [v for k, v in self._pairs if k == name]

    def __getitem__(self, name):
        v = self.get(name)
        if v is None:
            raise KeyError(name)
        return v

    def __setitem__(self, name, value):
        self.set(name, value)

    def __contains__(self, name):
        return self.get(name) is not None

    def keys(self):
        return list(dict.fromkeys(k for k, _ in self._pairs))

    def items(self):
        return list(self._pairs)

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return len(self.keys())

    def __repr__(self):
        return "Headers(%r)" % self._pairs


def _status(status, default):
    if status is None:
        return default
    return int(getattr(status, "value", status))


def _utf8(data):
    # The fetch API's "UTF-8 decode", as the platform's text()/json() read a body: a leading BOM
    # dropped, invalid bytes as U+FFFD (a strict decode made a latin-1 form post a 500).
    return data.decode("utf-8-sig", "replace")


class Request:
    """The incoming request: method, url, headers, body (bytes); text() and json() are awaitable,
    as on the platform."""

    def __init__(self, url, method="GET", headers=None, body=b""):
        self.url = str(url)
        self.method = str(method).upper()
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.body = bytes(body or b"")

    @property
    def body_used(self):
        return False

    async def bytes(self):
        return self.body

    async def text(self):
        return _utf8(self.body)

    async def json(self, **kwargs):
        return json.loads(_utf8(self.body), **kwargs)

    def clone(self):
        return Request(self.url, self.method, Headers(self.headers.items()), self.body)

    def __repr__(self):
        return "Request(method=%r, url=%r)" % (self.method, self.url)


class _JsonMethod:
    """Response.json(data, ...) builds a JSON response; response.json() reads one (awaitable)."""

    def __get__(self, obj, cls):
        if obj is None:
            return cls.from_json
        async def read(**kwargs):
            return json.loads(_utf8(obj.body), **kwargs)
        return read


class Response:
    def __init__(self, body=None, status=None, status_text="", headers=None):
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        if body is None:
            data = b""
        elif isinstance(body, str):
            data = body.encode("utf-8")
            if "content-type" not in self.headers:
                self.headers.set("content-type", "text/plain;charset=UTF-8")
        elif isinstance(body, (bytes, bytearray, memoryview)):
            data = bytes(body)
        else:
            raise TypeError("Unsupported type in Response: %s" % type(body).__name__)
        self.body = data
        self.status = _status(status, 200)
        self.status_text = status_text
        if not 200 <= self.status <= 599:
            raise ValueError("Response status %d is not in the range 200-599" % self.status)

    json = _JsonMethod()

    @staticmethod
    def from_json(data, status=200, status_text="", headers=None):
        h = headers if isinstance(headers, Headers) else Headers(headers)
        if "content-type" not in h:
            h.set("content-type", "application/json")
        return Response(json.dumps(data), status, status_text, h)

    @staticmethod
    def redirect(url, status=302):
        return Response(None, status, headers={"location": str(url)})

    @property
    def ok(self):
        return 200 <= self.status < 300

    async def bytes(self):
        return self.body

    async def text(self):
        return _utf8(self.body)

    def __repr__(self):
        return "Response(status=%d)" % self.status


class Env:
    """self.env: the worker's vars as attributes ([tool.pybundle] vars, --var K=V)."""

    def __init__(self, values):
        self.__dict__.update(values)

    def __getattr__(self, name):
        raise AttributeError("env has no binding or var %r (set it in [tool.pybundle] vars or with --var %s=VALUE)"
                             % (name, name))

    def __contains__(self, name):
        return name in self.__dict__

    def get(self, name, default=None):
        return self.__dict__.get(name, default)


class Context:
    """self.ctx: waitUntil(awaitable) runs the work after the response is made."""

    def __init__(self):
        self._pending = []

    def waitUntil(self, awaitable):
        import asyncio
        self._pending.append(asyncio.ensure_future(awaitable))

    wait_until = waitUntil

    def passThroughOnException(self):
        pass


class WorkerEntrypoint:
    def __init__(self, ctx, env):
        self.ctx = ctx
        self.env = env


# ---- for the host ------------------------------------------------------------------------
def entrypoint_class(module):
    """The module's `Default` WorkerEntrypoint subclass, or None."""
    cls = getattr(module, "Default", None)
    if isinstance(cls, type) and issubclass(cls, WorkerEntrypoint) and callable(getattr(cls, "fetch", None)):
        return cls
    return None


def entry_handler(module, values):
    """A handler(request) for the host that calls Default(ctx, env).fetch with a workers.Request."""
    cls = entrypoint_class(module)
    if cls is None:
        return None
    env = Env(values)

    def handler(request):
        # Sync where the worker is (the host calls a sync handler directly); else the coroutine.
        ctx = Context()
        worker = cls(ctx, env)
        r = worker.fetch(Request(request.url, request.method, Headers(request.headers.items()), request.body))
        if hasattr(r, "__await__") or ctx._pending:
            return finish(ctx, r)
        return checked(r)

    async def finish(ctx, r):
        if hasattr(r, "__await__"):
            r = await r
        if ctx._pending:
            import asyncio
            await asyncio.gather(*ctx._pending)
        return checked(r)

    def checked(r):
        if not isinstance(r, Response):
            raise TypeError("%s.fetch returned %s; a worker must return a workers.Response"
                            % (cls.__qualname__, type(r).__name__))
        return r

    handler.pybundle_style = "workers"
    return handler
