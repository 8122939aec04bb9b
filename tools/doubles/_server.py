"""The HTTP server every double builds on: loopback, threaded, fault injection, control API under ``/_double/``.

A double subclasses ``DoubleServer`` and provides:

- ``operation_of(request)``: the service operation a request is (from its method, path, query and headers; the
  body is not read yet), or ``None`` when it is none the double knows (no faults apply; ``handle`` answers it);
- ``handle(request)``: the answer, with the service's own status codes and error bodies;
- ``render_error(code, request)``: the service's answer for an error code a fault plan injects, and
  ``error_codes``: the codes it can render (a plan naming another code is refused when it is set);
- optionally ``stats_detail()``, ``reset_state()``, ``control(...)`` (extra ``/_double/`` routes), ``stopped()``.

Every service request is also kept (the last ``RECORD_LIMIT``) for assertions: ``double.received()``.

Order of effects for one service request: decide the fault (one ``FaultPlan.decide`` per request) → drop before
reading the body, or read it → answer the injected error or foreign page without processing, or ``handle`` it →
drop after processing (its effects happened), or wait the delay → send the answer, or drip it one byte at a time
(the connection closed after it; counted as ``drip-cut-off`` when the client hung up first). A bug in a double (an
exception out of ``handle``) is answered with the subclass's ``internal_error_code`` and its traceback goes to
stderr.

Control API (JSON, unsigned, loopback only; never part of any service's surface):

- ``GET  /_double/``        the control endpoints and the service name;
- ``GET  /_double/faults``  the current plan; ``POST`` replaces it (400 with ``{"error": ...}`` when malformed);
- ``GET  /_double/stats``   request counters per operation, faults injected, plus the double's own counters;
- ``POST /_double/reset``   clears the double's state, its counters and the fault plan.
"""

from __future__ import annotations

import collections
import contextlib
import json
import socket
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

from tools.faultplan import FOREIGN_CONTENT_TYPE, FOREIGN_HEADERS, OK, Decision, FaultPlan, FaultPlanError, foreign_page
from tools.serving import LocalHTTPServer, drip_answer, local_url, serve_in_background, stop_serving

CONTROL_PREFIX = "/_double/"
DEFAULT_MAX_BODY = 64 * 1024 * 1024
RECORD_LIMIT = 2000
_Double = TypeVar("_Double", bound="DoubleServer")
BASE_CONTROL_ENDPOINTS = (
    "GET /_double/",
    "GET /_double/faults",
    "POST /_double/faults",
    "GET /_double/stats",
    "POST /_double/reset",
)


class BadFraming(Exception):
    """The request's body framing is unusable (bad Content-Length, broken chunking, too large)."""


@dataclass
class Request:
    """One service request. ``path`` and ``query`` are raw (still percent-encoded), as signers canonicalise them;
    ``headers`` have lower-case names (repeated headers joined with ``,``)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes = b""

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    def query_pairs(self) -> list[tuple[str, str]]:
        """Decoded ``(name, value)`` pairs, blank values kept (``?uploads`` → ``("uploads", "")``)."""
        return parse_qsl(self.query, keep_blank_values=True)

    def query_dict(self) -> dict[str, str]:
        return dict(self.query_pairs())


@dataclass(frozen=True)
class Received:
    """One service request as the double saw it (``operation`` is ``None`` for requests it did not recognise)."""

    operation: str | None
    request: Request


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # HEAD answers carry the entity's Content-Length without its body: set ``content_length`` for them
    content_length: int | None = None


def foreign_answer(status: int) -> Response:
    """What a load balancer or proxy in front of a service answers (the fault plan's ``foreign:<status>``): an HTML
    page, none of the service's headers (request id, signature, checksum) or error body."""
    return Response(status, foreign_page(status), {"Content-Type": FOREIGN_CONTENT_TYPE, **FOREIGN_HEADERS})


class _HttpServer(LocalHTTPServer):
    def __init__(self, address: tuple[str, int], double: DoubleServer) -> None:
        self.double = double
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True  # TCP_NODELAY: headers and body go out as two writes, no delayed-ACK stall
    protocol_version = "HTTP/1.1"
    sys_version = ""
    server: _HttpServer

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.double.verbose:  # the path only: queries may carry receipts and keys
            status = args[1] if len(args) > 1 else ""
            sys.stderr.write(f"{self.server.double.service}: {self.command} {urlsplit(self.path).path} {status}\n")

    def version_string(self) -> str:
        return self.server.double.server_header

    def do_GET(self) -> None:
        self.server.double._serve(self)

    do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_GET


def _read_chunked(rfile: Any, limit: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        line = rfile.readline(1024)
        try:
            size = int(line.split(b";", 1)[0].strip() or b"x", 16)
        except ValueError:
            raise BadFraming("malformed chunk size") from None
        if size == 0:
            while rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        total += size
        if total > limit:
            raise BadFraming("the request body is too large")
        chunks.append(rfile.read(size))
        rfile.readline(8)


class DoubleServer:
    """Base of every double. ``start()`` serves on a daemon thread; ``stop()`` shuts down (also a context manager).

    ``clock`` (default ``time.time``) is what the double calls "now" for request-date checks.
    """

    service = "double"
    server_header = "double"
    internal_error_code = "InternalError"
    bad_request_code = "InvalidArgument"
    error_codes: Collection[str] = ()
    max_body = DEFAULT_MAX_BODY

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int | None = None,
        verbose: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.host = host
        self.verbose = verbose
        self.clock = clock
        self.stopping = threading.Event()
        self._seed = seed
        self._requested_port = port
        self._plan = FaultPlan(seed=seed)
        self._stats_lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()
        self._received: collections.deque[Received] = collections.deque(maxlen=RECORD_LIMIT)
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    # --- subclass hooks ----------------------------------------------------------------------------------

    def operation_of(self, request: Request) -> str | None:
        raise NotImplementedError

    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    def render_error(self, code: str, request: Request, message: str | None = None) -> Response:
        raise NotImplementedError

    def stats_detail(self) -> dict[str, Any]:
        return {}

    def reset_state(self) -> None:
        """Forget every stored object/message/row (``POST /_double/reset``)."""

    def control(self, method: str, route: str, query: dict[str, str], data: Any) -> tuple[int, Any] | None:
        """Extra ``/_double/<route>`` endpoints: ``(status, JSON)``, or ``None`` when the route is not one."""
        return None

    def control_endpoints(self) -> list[str]:
        return []

    def stopped(self) -> None:
        """Called once the server stops (wake long-polling handlers here)."""

    # --- lifecycle ---------------------------------------------------------------------------------------

    def _bind(self) -> _HttpServer:
        if self._httpd is None:
            self._httpd = _HttpServer((self.host, self._requested_port), self)
        return self._httpd

    @property
    def port(self) -> int:
        return int(self._bind().server_address[1])

    @property
    def base_url(self) -> str:
        return local_url(self.host, self.port)

    @property
    def endpoint(self) -> str:
        """What a client is configured with (the base URL unless the service says otherwise)."""
        return self.base_url

    def start(self) -> str:
        """Serve on a daemon thread; the base URL."""
        self._thread = serve_in_background(self._bind(), f"{self.service}-double")
        return self.base_url

    def stop(self) -> None:
        self.stopping.set()
        self.stopped()
        if self._httpd is not None:
            stop_serving(self._httpd, self._thread)
        self._thread = None

    def __enter__(self: _Double) -> _Double:
        if self._thread is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- Python API (the control API's equivalents) ------------------------------------------------------

    def set_faults(self, plan: Any) -> None:
        """Replace the fault plan (``FaultPlanError`` when malformed or naming an error this double lacks)."""
        self._plan = FaultPlan.parse(plan, error_codes=self.error_codes, default_seed=self._seed)

    @property
    def faults(self) -> dict[str, Any]:
        return self._plan.source

    def stats(self) -> dict[str, Any]:
        with self._stats_lock:
            counters: dict[str, Any] = {"requests": dict(self._requests), "faults": dict(self._faults)}
        counters.update(self.stats_detail())
        return counters

    def received(self, operation: str | None = None) -> list[Received]:
        """The service requests received so far (oldest first), optionally only those of one operation."""
        with self._stats_lock:
            return [r for r in self._received if operation is None or r.operation == operation]

    def reset(self) -> None:
        self.reset_state()
        self._plan = FaultPlan(seed=self._seed)
        with self._stats_lock:
            self._requests.clear()
            self._faults.clear()
            self._received.clear()

    # --- request plumbing --------------------------------------------------------------------------------

    def _serve(self, handler: _Handler) -> None:
        parts = urlsplit(handler.path)
        headers: dict[str, str] = {}
        for name, value in handler.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]},{value.strip()}" if key in headers else value.strip()
        request = Request(handler.command, parts.path, parts.query, headers)
        if parts.path == CONTROL_PREFIX.rstrip("/") or parts.path.startswith(CONTROL_PREFIX):
            self._serve_control(handler, request, parts.path.removeprefix(CONTROL_PREFIX).strip("/"))
            return
        operation = self.operation_of(request)
        decision: Decision = self._plan.decide(operation) if operation else OK
        self._count(operation or "(unknown)", decision)
        if decision.drop == "before":
            _drop(handler)
            return
        try:
            request.body = self._read_body(handler)
        except BadFraming as exc:
            handler.close_connection = True
            self._write_response(handler, self.render_error(self.bad_request_code, request, str(exc)))
            return
        with self._stats_lock:
            self._received.append(Received(operation, request))
        if decision.error:
            response = self.render_error(decision.error, request)
        elif decision.foreign:
            response = foreign_answer(decision.foreign)
        else:
            try:
                response = self.handle(request)
            except Exception:
                traceback.print_exc(file=sys.stderr)
                response = self.render_error(self.internal_error_code, request)
        if decision.drop == "after":
            _drop(handler)
            return
        if decision.delay > 0:
            self.stopping.wait(decision.delay)
        if decision.drip > 0:
            whole = drip_answer(handler, lambda: self._write_response(handler, response), decision.drip,
                                self.stopping)  # fmt: skip
            if not whole:
                with self._stats_lock:
                    self._faults["drip-cut-off"] += 1
            return
        self._write_response(handler, response)

    def _count(self, operation: str, decision: Decision) -> None:
        with self._stats_lock:
            self._requests[operation] += 1
            if decision.error:
                self._faults[f"error:{decision.error}"] += 1
            if decision.drop:
                self._faults[f"drop-{decision.drop}"] += 1
            if decision.delay:
                self._faults["delay"] += 1
            if decision.drip:
                self._faults["drip"] += 1
            if decision.foreign:
                self._faults[f"foreign:{decision.foreign}"] += 1

    def _read_body(self, handler: _Handler) -> bytes:
        if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
            return _read_chunked(handler.rfile, self.max_body)
        raw = handler.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw)
        except ValueError:
            raise BadFraming("Content-Length is not a number") from None
        if length < 0:
            raise BadFraming("Content-Length is negative")
        if length > self.max_body:
            raise BadFraming("the request body is too large")
        return handler.rfile.read(length) if length else b""

    def _write_response(self, handler: _Handler, response: Response) -> None:
        handler.send_response(response.status)
        names = {name.lower() for name in response.headers}
        for name, value in response.headers.items():
            handler.send_header(name, value)
        if "content-length" not in names:
            length = response.content_length if response.content_length is not None else len(response.body)
            handler.send_header("Content-Length", str(length))
        handler.end_headers()
        if handler.command != "HEAD" and response.body:
            handler.wfile.write(response.body)

    def _serve_control(self, handler: _Handler, request: Request, route: str) -> None:
        try:
            raw = self._read_body(handler)
            data: Any = json.loads(raw) if raw.strip() else {}
        except (BadFraming, ValueError):
            self._write_json(handler, 400, {"error": "the body must be JSON"})
            return
        method = request.method
        if method == "GET" and route == "":
            self._write_json(
                handler,
                200,
                {"service": self.service, "endpoints": [*BASE_CONTROL_ENDPOINTS, *self.control_endpoints()]},
            )
        elif route == "faults" and method in ("GET", "POST"):
            if method == "POST":
                try:
                    self.set_faults(data)
                except FaultPlanError as exc:
                    self._write_json(handler, 400, {"error": str(exc)})
                    return
            self._write_json(handler, 200, {"faults": self.faults})
        elif route == "stats" and method == "GET":
            self._write_json(handler, 200, self.stats())
        elif route == "reset" and method == "POST":
            self.reset()
            self._write_json(handler, 200, {"ok": True})
        else:
            answer = self.control(method, route, request.query_dict(), data)
            if answer is None:
                self._write_json(handler, 404, {"error": "no such control endpoint", "endpoints": "GET /_double/"})
            else:
                self._write_json(handler, *answer)

    def _write_json(self, handler: _Handler, status: int, obj: Any) -> None:
        body = json.dumps(obj, sort_keys=True).encode()
        self._write_response(handler, Response(status, body, {"Content-Type": "application/json"}))


def _drop(handler: _Handler) -> None:
    """Close the connection without an answer."""
    handler.close_connection = True
    with contextlib.suppress(OSError):
        handler.connection.shutdown(socket.SHUT_RDWR)
