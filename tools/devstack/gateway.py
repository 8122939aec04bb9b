"""Local FC 3.0 gateway (dev only, never deployed): HTTP on 127.0.0.1 -> FC HTTP trigger events -> handlers.

Each function's handler module is loaded by file path (``functions/<name>/index.py``) under a unique module name
(``fc_<name>``), its ``initialize(context)`` runs once (retried on the next invocation if it fails, as FC does),
and every request becomes an FC 3.0 HTTP trigger event (JSON bytes) passed to ``handler(event, context)``. The
returned FC response dict becomes the HTTP response. A crashing handler, a failed initializer or an invalid
return value gives a 502 JSON error, and the gateway keeps serving. Connections are served on a bounded pool of
threads (``max_threads``), each with a ``request_timeout``; beyond the bound they wait in the listen backlog.

Bodies are read only when they may be used. FC reads a request before the function runs; this gateway reads
the socket itself, so it does better: a declared ``Content-Length`` over ``max_body_bytes`` is refused at once
(413), and a route may have a **body gate** — the function's own checks on the headers alone (the initializer's:
the declared length against ``KYC_MAX_BODY_BYTES`` and the bearer token, :func:`frontend_body_gate`). A request
its gate refuses reaches the function with its body unread (empty) and the connection is closed after the answer,
so the refusal (401, 413, with the function's CORS headers) is the function's own, and an unauthenticated client
cannot make the gateway read, hold or parse a large body.

Routing is longest-prefix: a prefix matches itself and everything below it (``/verifications`` matches
``/verifications/abc``; ``/`` matches everything, so it is the fallback). Targets are either functions
(:class:`Route`) or ``extra_handlers``: plain callables with the FC handler contract
``(event: bytes, context: FcContext) -> FC response dict``, so the demo page and the webhook receiver can be
written with :mod:`shared.fc` exactly like the real functions.

Assumptions where FC's behaviour is not documented (the adapters in :mod:`shared.fc` cope with either choice):
header names are sent in canonical MIME case (``Content-Type``; FC's casing is not documented), repeated header
and query values are comma-joined (documented), ``queryParameters`` is omitted when there is no query, and a body
is base64-encoded unless its content type is textual (``text/*``, JSON, XML, form) and it is valid UTF-8.

Run: ``python -m tools.devstack.gateway --port 9000`` from the project root.
"""

from __future__ import annotations

import base64
import binascii
import importlib.util
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from shared import jsonutil
from shared.callback import split_glued
from shared.config import ConfigError
from shared.fc import Headers, is_text_media_type
from tools import fc3
from tools.devstack import invoke_api as fc2_api
from tools.devstack.runtime import FcContext, FunctionMeta, ServiceMeta, new_request_id
from tools.serving import answers_host, host_of, through_tunnel

log = logging.getLogger("tools.devstack.gateway")

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FUNCTIONS_DIR = PROJECT_ROOT / "functions"
MAX_BODY_BYTES = 32 * 1024 * 1024  # FC's limit for synchronous invocations
MAX_REQUEST_THREADS = 32  # connections served at once; the rest wait in the listen backlog
REQUEST_TIMEOUT = 30.0  # seconds a connection may sit idle while its request is read or its answer written
_HOP_BY_HOP = frozenset({"connection", "content-length", "transfer-encoding", "keep-alive", "date", "server"})


#: ``gate(headers, declared_length)``: whether a request's body may be read (the request is not refused by
#: what its headers alone already say).
BodyGate = Callable[[Headers, int], bool]


def frontend_body_gate() -> BodyGate:
    """The initializer's checks before a body is read, from its settings in the environment: the declared length
    within ``KYC_MAX_BODY_BYTES`` and a valid bearer token (:func:`shared.handlers.initializer.authenticate`)."""
    from shared.fc import HttpError  # noqa: PLC0415 - the gateway's users that never route /verifications skip it
    from shared.handlers.initializer import authenticate  # noqa: PLC0415
    from shared.verifications import FrontendSettings  # noqa: PLC0415

    settings = FrontendSettings.from_env()

    def gate(headers: Headers, declared_length: int) -> bool:
        if declared_length > settings.max_body_bytes:
            return False
        try:
            authenticate(headers, settings)
        except HttpError:
            return False
        return True

    return gate


@dataclass(frozen=True)
class Route:
    """Requests whose path is ``prefix`` or below it go to ``functions/<function_name>/index.py``. ``body_gate``
    builds the route's :data:`BodyGate`, once, at the first request with a body (after the stack has set the
    environment); a gate that cannot be built (the function's configuration is broken) admits every body."""

    prefix: str
    function_name: str
    body_gate: Callable[[], BodyGate] | None = None


DEFAULT_ROUTES: tuple[Route, ...] = (
    Route("/verifications", "initializer", body_gate=frontend_body_gate),
    Route("/callback", "result_fetcher"),
)


ExtraHandler = Callable[[bytes, FcContext], Any]


class FunctionLoadError(Exception):
    """A function's module could not be imported or its ``initialize`` failed (names the function only)."""


def _canonical(name: str) -> str:
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def make_http_event(
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    *,
    source_ip: str = "127.0.0.1",
    protocol: str = "HTTP/1.1",
    request_id: str | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """The FC 3.0 HTTP trigger event for one request (``target`` is the request-target: path + query)."""
    split = urlsplit(target)
    raw_path = split.path or "/"
    joined: dict[str, str] = {}
    for name, value in headers:
        key = _canonical(name)
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    query: dict[str, str] = {}
    for key, value in parse_qsl(split.query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value
    content_type = next((v for k, v in joined.items() if k == "Content-Type"), None)
    text: str | None = None
    if body and is_text_media_type(content_type):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    is_b64 = bool(body) and text is None
    stamp = time.time() if now is None else now
    event: dict[str, Any] = {
        "version": "v1",
        "rawPath": raw_path,
        "body": base64.b64encode(body).decode("ascii") if is_b64 else (text or ""),
        "isBase64Encoded": is_b64,
        "headers": joined,
        "requestContext": {
            "accountId": "1234567890123456",
            "domainName": joined.get("Host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method.upper(),
                "path": unquote(raw_path),
                "protocol": protocol,
                "sourceIp": source_ip,
                "userAgent": joined.get("User-Agent", ""),
            },
            "requestId": request_id or new_request_id(stamp),
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp)),
            "timeEpoch": str(int(stamp * 1000)),
        },
    }
    if query:
        event["queryParameters"] = query
    return event


class _InvalidResponse(Exception):
    pass


def _response_parts(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers, body) of an FC response dict; :class:`_InvalidResponse` when it is not one."""
    if not isinstance(result, Mapping):
        raise _InvalidResponse("handler returned no response object")
    status = result.get("statusCode")
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise _InvalidResponse("statusCode must be an integer HTTP status")
    raw_headers = result.get("headers") or {}
    if not isinstance(raw_headers, Mapping):
        raise _InvalidResponse("headers must be an object")
    headers: list[tuple[str, str]] = []
    for name, value in raw_headers.items():
        values = value if isinstance(value, list) else [value]
        if not isinstance(name, str) or not all(isinstance(v, str) for v in values):
            raise _InvalidResponse("header names and values must be strings")
        if any(c in "\r\n" for v in values for c in v) or any(c in "\r\n:" for c in name):
            raise _InvalidResponse("header contains a line break")
        headers.extend((name, v) for v in values if name.lower() not in _HOP_BY_HOP)
    body = result.get("body")
    if body is None:
        data = b""
    elif not isinstance(body, str):
        raise _InvalidResponse("body must be a string")
    elif result.get("isBase64Encoded") is True:
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise _InvalidResponse("body is not valid base64") from None
    else:
        data = body.encode("utf-8", "surrogatepass")
    return status, headers, data


def _error(status: int, code: str, message: str) -> tuple[int, list[tuple[str, str]], bytes]:
    body = jsonutil.dumps({"error": {"code": code, "message": message}})
    return status, [("content-type", "application/json"), ("x-fc-error-type", code)], body


class _Function:
    def __init__(self, meta: FunctionMeta, path: Path, module_name: str) -> None:
        self.meta = meta
        self.path = path
        self.module_name = module_name
        self.module: ModuleType | None = None
        self.initialized = False
        self.lock = threading.Lock()


class _Server(HTTPServer):
    """Serves each connection on a bounded pool of threads. When every thread is busy the accept loop waits, and
    new connections wait in the kernel's listen backlog, holding neither a thread nor a descriptor of ours (a
    thread per connection let idle or slow clients start threads without limit)."""

    # http.server's default listen backlog is 5: a burst of concurrent clients got connection resets at accept.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], max_threads: int) -> None:
        # Before binding: a bind that fails (port in use, out of range) calls server_close, which uses them.
        self._pool = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="fc-gateway-request")
        self._slots = threading.BoundedSemaphore(max_threads)
        self.closing = threading.Event()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        while not self._slots.acquire(timeout=0.1):
            if self.closing.is_set():
                self.shutdown_request(request)
                return
        try:
            self._pool.submit(self._serve, request, client_address)
        except RuntimeError:  # the pool is shut down: the server is closing
            self._slots.release()
            self.shutdown_request(request)

    def _serve(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            self._slots.release()

    def server_close(self) -> None:
        self.closing.set()
        super().server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)


class Gateway:
    """The local gateway. ``start()`` serves in a background thread (tests), ``serve_forever()`` in the
    current one (CLI). Use as a context manager to stop it."""

    def __init__(
        self,
        functions_dir: str | Path = DEFAULT_FUNCTIONS_DIR,
        routes: Sequence[Route] = DEFAULT_ROUTES,
        extra_handlers: Mapping[str, ExtraHandler] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        region: str = "cn-hongkong",
        service: ServiceMeta | None = None,
        memory: int = 512,
        module_prefix: str = "fc_",
        max_body_bytes: int = MAX_BODY_BYTES,
        max_threads: int = MAX_REQUEST_THREADS,
        request_timeout: float = REQUEST_TIMEOUT,
        public_url: str | None = None,
    ) -> None:
        """``public_url``: a URL in front of the gateway (a tunnel for the vendor's callbacks), whose host it answers
        to besides its own loopback names (:func:`tools.serving.answers_host`), for the functions' routes only
        (:meth:`serves_publicly`)."""
        self.functions_dir = Path(functions_dir)
        public = host_of(public_url)
        self.also_hosts: tuple[str, ...] = (public,) if public else ()
        self.region = region
        self.service = service or ServiceMeta()
        self.memory = memory
        self.module_prefix = module_prefix
        self.max_body_bytes = max_body_bytes
        self.request_timeout = request_timeout
        self._functions: dict[str, _Function] = {}
        self._functions_lock = threading.Lock()
        self._timeouts: dict[str, int] | None = None  # s.yaml's, read at the first context (_meta)
        self._gate_factories = {r.prefix: r.body_gate for r in routes if r.body_gate is not None}
        self._gates: dict[str, BodyGate | None] = {}
        self._gates_lock = threading.Lock()
        targets: list[tuple[str, str | ExtraHandler]] = [(r.prefix, r.function_name) for r in routes]
        targets.extend((prefix, fn) for prefix, fn in (extra_handlers or {}).items())
        for prefix, _ in targets:
            if not prefix.startswith("/"):
                raise ValueError(f"route prefix must start with '/': {prefix!r}")
        self._targets = sorted(targets, key=lambda t: len(t[0].rstrip("/")), reverse=True)
        # Imported here, not at the top: make_http_event's users (the benchmark host) need none of it (PyYAML).
        from tools.devstack.fc3_api import Fc3InvokeApi  # noqa: PLC0415
        from tools.devstack.invoke_api import InvokeApi  # noqa: PLC0415

        #: FC's InvokeFunction API (``POST /2016-08-15/services/{s}/functions/{f}/invocations``), for ``fc2``.
        self.invoke_api = InvokeApi(self)
        #: FC 3.0's InvokeFunction (``POST /2023-03-30/functions/{name}/invocations``) under the s.yaml names.
        self.fc3_api = Fc3InvokeApi(self)
        self._server = _Server((host, port), self._request_handler_class(), max_threads)
        self._thread: threading.Thread | None = None

    # -- addresses
    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def bound_host(self) -> str:
        host = self._server.server_address[0]
        return host.decode() if isinstance(host, bytes) else str(host)

    @property
    def url(self) -> str:
        return f"http://{self.bound_host}:{self.port}"

    # -- lifecycle
    def start(self) -> Gateway:
        self.preload()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fc-gateway", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.preload()
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.closing.set()  # an accept loop waiting for a free thread gives up
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def preload(self) -> None:
        """Load and initialize every routed function now; failures are logged and retried per request."""
        for _, target in self._targets:
            if isinstance(target, str):
                try:
                    self.function(target)
                except FunctionLoadError as exc:
                    log.debug("preload: %s", exc)  # the traceback was logged by function()

    # -- functions
    def function_names(self) -> list[str]:
        """Every function of the functions directory (``<name>/index.py``), routed or not."""
        return sorted(path.parent.name for path in self.functions_dir.glob("*/index.py"))

    def initialize_all(self) -> dict[str, str]:
        """Load and initialize every function now, as FC does when an instance starts; the failures by function,
        none logged: a configuration error's own one-line message (it names the variable), else what failed."""
        failures: dict[str, str] = {}
        for name in self.function_names():
            try:
                self.function(name, log_failure=False)
            except FunctionLoadError as exc:
                cause = exc.__cause__
                failures[name] = str(cause) if isinstance(cause, ConfigError) else str(exc)
        return failures

    def function(self, name: str, *, log_failure: bool = True) -> ModuleType:
        """The loaded, initialized module of function ``name``; :class:`FunctionLoadError` on failure. A failed
        ``initialize`` is retried at the next call (as FC does) and logged once per failure: one line for a
        configuration error (its message names the variable), a traceback for anything else."""
        with self._functions_lock:
            fn = self._functions.get(name)
            if fn is None:
                meta = self._meta(name)
                fn = _Function(meta, self.functions_dir / name / "index.py", f"{self.module_prefix}{name}")
                self._functions[name] = fn
        with fn.lock:
            if fn.module is None:
                fn.module = self._load(fn)
            if not fn.initialized:
                init = getattr(fn.module, "initialize", None)
                if callable(init):
                    try:
                        init(self.context(name, new_request_id()))
                    except Exception as exc:
                        if not log_failure:
                            pass
                        elif isinstance(exc, ConfigError):
                            log.error("function %s: initialize failed: %s", name, exc)
                        else:
                            log.exception("function %s: initialize failed", name)
                        raise FunctionLoadError(f"function {name}: initialize failed ({type(exc).__name__})") from exc
                fn.initialized = True
            return fn.module

    def _load(self, fn: _Function) -> ModuleType:
        if not fn.path.is_file():
            raise FunctionLoadError(f"function {fn.meta.name}: {fn.path} not found")
        spec = importlib.util.spec_from_file_location(fn.module_name, fn.path)
        if spec is None or spec.loader is None:
            raise FunctionLoadError(f"function {fn.meta.name}: cannot load {fn.path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[fn.module_name] = module  # dataclasses and pickling look modules up by name
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(fn.module_name, None)
            log.exception("function %s: import failed", fn.meta.name)
            raise FunctionLoadError(f"function {fn.meta.name}: import failed ({type(exc).__name__})") from exc
        if not callable(getattr(module, "handler", None)):
            raise FunctionLoadError(f"function {fn.meta.name}: module has no handler(event, context)")
        return module

    def _meta(self, name: str) -> FunctionMeta:
        """The function's metadata as FC gives it, with its s.yaml timeout (the functions' time budgets read it:
        shared/fc/budget.py); FunctionMeta's default for a function s.yaml does not deploy."""
        if self._timeouts is None:
            from tools.deployment import DeploymentError, function_timeouts  # noqa: PLC0415 (dev: s.yaml read once)

            try:
                self._timeouts = function_timeouts()
            except (DeploymentError, OSError):
                self._timeouts = {}
        timeout = self._timeouts.get(name)
        if timeout is None:
            return FunctionMeta(name=name, memory=self.memory)
        return FunctionMeta(name=name, memory=self.memory, timeout=timeout)

    def context(self, function_name: str, request_id: str | None = None) -> FcContext:
        return FcContext(
            request_id=request_id or new_request_id(),
            region=self.region,
            function=self._meta(function_name),
            service=self.service,
        )

    def invoke(self, function_name: str, event: bytes | str | Mapping[str, Any] | Sequence[Any]) -> Any:
        """Invoke a function with a non-HTTP event (queue, timer) and return what its handler returns.

        Exceptions from the handler propagate (the caller decides about retries); :class:`FunctionLoadError`
        when the function cannot be loaded or initialized. A dict/list event is sent as JSON bytes."""
        if isinstance(event, str):
            payload = event.encode()
        elif isinstance(event, bytes):
            payload = event
        else:
            payload = jsonutil.dumps(event)
        module = self.function(function_name)
        return module.handler(payload, self.context(function_name))

    # -- HTTP
    def _prefix_for(self, path: str) -> str | None:
        for prefix, _ in self._targets:
            base = prefix.rstrip("/")
            if path in (prefix, base) or path.startswith(base + "/"):
                return prefix
        return None

    def target_for(self, path: str) -> str | ExtraHandler | None:
        prefix = self._prefix_for(path)
        return None if prefix is None else dict(self._targets)[prefix]

    def serves_publicly(self, target: str) -> bool:
        """Whether ``target`` is served through ``public_url`` (a tunnel): a function's route (what a deployment's
        HTTP triggers serve), never an extra handler (the demo app) or the FC APIs."""
        path = urlsplit(target).path or "/"
        if path.startswith((fc2_api.API_PREFIX, fc3.PATH_PREFIX)):
            return False
        return isinstance(self.target_for(path), str)

    def admits_body(self, target: str, headers: Iterable[tuple[str, str]], declared_length: int) -> bool:
        """Whether the body of a request to ``target`` may be read (its route's :data:`BodyGate`)."""
        prefix = self._prefix_for(urlsplit(target).path or "/")
        factory = self._gate_factories.get(prefix or "")
        if factory is None or prefix is None:
            return True
        with self._gates_lock:
            if prefix not in self._gates:
                try:
                    self._gates[prefix] = factory()
                except ConfigError:
                    log.warning("route %s: no body gate (the function's configuration is invalid)", prefix)
                    self._gates[prefix] = None
            gate = self._gates[prefix]
        return gate is None or gate(Headers(list(headers)), declared_length)

    def handle(
        self, method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes, source_ip: str, protocol: str
    ) -> tuple[int, list[tuple[str, str]], bytes, str]:
        """One HTTP request -> (status, headers, body, request id). Never raises."""
        path = urlsplit(target).path or "/"
        if path.startswith(fc2_api.API_PREFIX):  # FC API (InvokeFunction), before any route: "/" is a catch-all
            return self.invoke_api.handle(method, target, headers, body)
        if path.startswith(fc3.PATH_PREFIX):  # FC 3.0 API (InvokeFunction), likewise
            return self.fc3_api.handle(method, target, headers, body)
        request_id = new_request_id()
        if path == "/favicon.ico":  # a browser asks on every page: no icon, and no 404 in its console
            return 204, [], b"", request_id
        dest = self.target_for(path)
        if dest is None:
            return (*_error(404, "NotFound", "no function is routed to this path"), request_id)
        name = dest if isinstance(dest, str) else getattr(dest, "__name__", "extra_handler")
        event = make_http_event(method, target, headers, body, source_ip=source_ip, protocol=protocol,
                                request_id=request_id)
        payload = jsonutil.dumps(event)
        try:
            if isinstance(dest, str):
                result = self.function(dest).handler(payload, self.context(dest, request_id))
            else:
                result = dest(payload, self.context(name, request_id))
        except FunctionLoadError:
            return (*_error(502, "InitializationError", f"function {name} failed to initialize"), request_id)
        except Exception:
            log.exception("function %s raised (request %s)", name, request_id)
            return (*_error(502, "FunctionError", f"function {name} raised an exception"), request_id)
        try:
            return (*_response_parts(result), request_id)
        except _InvalidResponse as exc:
            log.error("function %s returned an invalid response: %s", name, exc)
            return (*_error(502, "InvalidFunctionResponse", f"function {name} returned an invalid response"),
                    request_id)

    def _request_handler_class(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall
            timeout = gateway.request_timeout  # a client that sends nothing gives its thread back at the latest then
            server_version = "fc-gateway-dev"
            sys_version = ""

            def _serve(self) -> None:
                try:
                    result = self._handle()
                except Exception:  # a gateway bug must not kill the server
                    log.exception("gateway error")
                    result = (*_error(500, "GatewayError", "gateway error"), "")
                status, headers, body, request_id = result
                try:
                    self.send_response(status)
                    for name, value in headers:
                        self.send_header(name, value)
                    if request_id:
                        self.send_header("x-fc-request-id", request_id)
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    if self.command != "HEAD" and status not in (204, 304):
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _handle(self) -> tuple[int, list[tuple[str, str]], bytes, str]:
                bound = gateway.bound_host
                if not answers_host(self.headers.get("host"), bound, gateway.port, also=gateway.also_hosts):
                    # DNS rebinding: another site's page under its own name at 127.0.0.1 (it would mint demo tokens
                    # and call the functions); its body is never read.
                    self.close_connection = True
                    return (*_error(421, "MisdirectedRequest", f"this gateway answers only at {gateway.url}"), "")
                if through_tunnel(self.headers, bound, gateway.port, also=gateway.also_hosts) and (
                    not gateway.serves_publicly(self.path)
                ):
                    # Anyone on the internet reaches the tunnel: the demo app (it mints tokens for any user and lists
                    # the webhooks it received) and the FC APIs stay on loopback (review bb).
                    self.close_connection = True
                    return (*_error(404, "NotFound", "only the functions' routes are served through KYC_PUBLIC_URL"),
                            "")
                if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
                    self.close_connection = True
                    return (*_error(411, "LengthRequired", "chunked request bodies are not supported"), "")
                try:
                    length = int(self.headers.get("content-length") or 0)
                except ValueError:
                    length = -1
                if length < 0:
                    self.close_connection = True
                    return (*_error(400, "BadRequest", "invalid content-length"), "")
                if length > gateway.max_body_bytes:
                    self.close_connection = True
                    return (*_error(413, "PayloadTooLarge", "request body too large"), "")
                body = b""
                if length and gateway.admits_body(self.path, self.headers.items(), length):
                    body = self.rfile.read(length)
                elif length:  # the function answers from the headers; the body is never read
                    self.close_connection = True
                return gateway.handle(
                    self.command, self.path, self.headers.items(), body, self.client_address[0], self.request_version
                )

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve
            def __getattr__(self, name: str) -> Any:
                # Any other method (TRACE, QUERY, ...) reaches the function too, whose router answers 405 JSON,
                # instead of http.server's 501 HTML page.
                if name.startswith("do_"):
                    return self._serve
                raise AttributeError(name)

            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                # path only, up to a glued "&" or "?": query strings carry callback tokens, and so does a path the
                # vendor glued its parameters onto (shared.callback.callback_parameters reads both)
                path, _ = split_glued(unquote(urlsplit(self.path).path))
                log.info("%s %s %s", self.command, path, code)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug(format, *args)

        return Handler


def main(argv: Sequence[str] | None = None) -> int:
    import argparse  # noqa: PLC0415 - CLI only

    parser = argparse.ArgumentParser(description="Local FC 3.0 gateway (dev only)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--functions-dir", default=str(DEFAULT_FUNCTIONS_DIR))
    parser.add_argument("--region", default="cn-hongkong")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    gateway = Gateway(args.functions_dir, host=args.host, port=args.port, region=args.region)
    try:  # from the announcement on, a Ctrl-C is the normal way to stop
        log.info("FC gateway on %s", gateway.url)
        gateway.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        gateway.stop()
    return 0


if __name__ == "__main__":
    from tools.serving import interruptible

    interruptible()  # serves until Ctrl-C (KeyboardInterrupt), also as a script's background job
    raise SystemExit(main())
