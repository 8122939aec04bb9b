"""The HTTP server: vendor surface (``/``), verification page (``/verify/<token>``), control API (``/_sandbox/``)."""

from __future__ import annotations

import collections
import contextlib
import socket
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from shared import jsonutil
from tools.faultplan import FOREIGN_CONTENT_TYPE, FOREIGN_HEADERS, OK, Decision, FaultPlanError, foreign_page
from tools.sandbox import control, pages, state, vendor
from tools.sandbox.auth import Authenticator, NonceCache, requested_action
from tools.sandbox.config import SandboxConfig
from tools.sandbox.errors import VendorError
from tools.sandbox.errors import body as error_body
from tools.sandbox.faults import FaultInjector
from tools.serving import (
    LocalHTTPServer,
    answers_host,
    cross_site,
    drip_answer,
    host_of,
    local_url,
    own_origins,
    serve_in_background,
    stop_serving,
    through_tunnel,
)

MAX_BODY = 32 * 1024 * 1024
DEFAULT_HOST_ID = "cloudauth-intl.sandbox.local"


class Throttle:
    """Per-operation sliding one-second window; rejected calls do not count."""

    def __init__(self, config: SandboxConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._calls: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)

    def allow(self, operation: str) -> bool:
        now = self._config.clock()
        with self._lock:
            calls = self._calls[operation]
            while calls and calls[0] <= now - 1.0:
                calls.popleft()
            if len(calls) >= self._config.qps_for(operation):
                return False
            calls.append(now)
            return True

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()


class SandboxApp:
    """All state of one sandbox instance; the request handler calls into it."""

    def __init__(self, config: SandboxConfig, *, verbose: bool = False) -> None:
        self.config = config
        self.verbose = verbose
        self.store = state.Store()
        self.faults = FaultInjector(config.seed)
        self.nonces = NonceCache(config.nonce_ttl, config.clock)
        self.auth = Authenticator(config, self.nonces, vendor.ACTIONS)
        self.throttle = Throttle(config)
        self.callbacks = state.CallbackSender(config, self.faults, config.clock)
        self.stopping = threading.Event()
        self.base_url = ""

    def reset(self) -> None:
        self.store.clear()
        self.callbacks.clear()
        self.faults.reset()
        self.nonces.clear()
        self.throttle.clear()

    def run_operation(self, action: str, params: dict[str, str], public_base: str) -> dict[str, Any]:
        now = self.config.clock()
        vendor.check_names(action, params)
        if action in vendor.START_ACTIONS:
            return vendor.initialize(params, self.config, self.store, public_base, now, action)
        if action == "CheckResult":
            return vendor.check_result(params, self.config, self.store, now)
        return vendor.delete_verify_result(params, self.store)

    def complete(self, tx: state.Transaction, outcome: state.Outcome) -> bool:
        """Finish the flow like the person on the page would; False when it was already over (or too late to finish:
        :meth:`~tools.sandbox.state.Transaction.too_late_to_finish`)."""
        with self.store.lock:
            if tx.status not in ("INITIALIZED", "VISITED") or self.store.get(tx.transaction_id) is None:
                return False
            if tx.too_late_to_finish(self.config.clock()):
                return False
            state.finish(tx, outcome, self.config.clock(), self.faults.pending_checks)
        if tx.status == "FINISHED":
            self.callbacks.send(tx)
        return True


class _Server(LocalHTTPServer):
    def __init__(self, address: tuple[str, int], app: SandboxApp) -> None:
        self.app = app
        super().__init__(address, Handler)


class Handler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall
    protocol_version = "HTTP/1.1"
    server_version = "cloudauth-intl-sandbox"
    sys_version = ""
    server: _Server

    # --- plumbing ----------------------------------------------------------------------------------------

    @property
    def app(self) -> SandboxApp:
        return self.server.app

    def log_message(self, format: str, *args: Any) -> None:
        if self.app.verbose:  # the path only: query strings carry identifiers
            sys.stderr.write(f"sandbox: {self.command} {urlsplit(self.path).path} {args[1] if len(args) > 1 else ''}\n")

    def _headers(self) -> dict[str, str]:
        grouped: dict[str, list[str]] = {}
        for name, value in self.headers.items():
            grouped.setdefault(name.lower(), []).append(value.strip())
        return {name: ",".join(sorted(values)) for name, values in grouped.items()}

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY:
            raise VendorError("InvalidParameter", "The request body is too large.")
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any, extra: dict[str, str] | None = None) -> None:
        self._send(status, jsonutil.dumps(obj), "application/json;charset=utf-8", extra)

    def _error(self, status: int, code: str, message: str) -> None:
        """An answer of the sandbox's own (not the vendor's API): the project's error shape, a machine-readable
        ``code`` and a human ``message`` (docs/architecture.md)."""
        self._json(status, {"error": {"code": code, "message": message}})

    def _html(self, status: int, text: str, extra: dict[str, str] | None = None) -> None:
        self._send(status, text.encode(), "text/html; charset=utf-8", extra)

    def _drop(self) -> None:
        """Close the connection without an answer."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def _own_names(self) -> tuple[str, int, list[str]]:
        """The bound address, its port, and the public base URL's ``host[:port]`` (a tunnel in front), if any."""
        bound, port = self.server.server_address[:2]
        public = host_of(self.app.config.public_base_url)
        return str(bound), int(port), [public] if public else []

    def _route(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        bound, port, also = self._own_names()
        if not answers_host(self.headers.get("Host"), bound, port, also=also):
            # DNS rebinding: another site's page under its own name at 127.0.0.1 must not read this server.
            self._read_body()
            self._error(421, "MisdirectedRequest", f"this sandbox answers only at {local_url(bound, port)}")
            return
        if path == "/favicon.ico":  # a browser asks on every page: no icon, and no 404 in its console
            self._read_body()
            self._send(204, b"", "image/x-icon")
        elif path.startswith("/verify/"):
            self._verify(path.removeprefix("/verify/"))
        elif through_tunnel(self.headers, bound, port, also=also):
            # SANDBOX_PUBLIC_URL is for the verification pages a phone opens, and anyone on the internet reaches it:
            # the control API completes flows, plans faults and shows callback tokens (review bb); the vendor API,
            # signed with the sandbox's well-known key, would call back any address the caller names (review bc).
            self._read_body()
            self._error(404, "NotFound", "only the verification pages are served through SANDBOX_PUBLIC_URL")
        elif path == "/":
            self._vendor(parts.query)
        elif path == "/_sandbox" or path.startswith("/_sandbox/"):
            self._control(path.removeprefix("/_sandbox").strip("/"))
        else:
            self._read_body()
            self._error(404, "NotFound", "not found")

    # --- vendor surface ----------------------------------------------------------------------------------

    def _vendor(self, raw_query: str) -> None:
        query = dict(parse_qsl(raw_query, keep_blank_values=True))
        headers = self._headers()
        host = headers.get("host") or DEFAULT_HOST_ID
        request_id = str(uuid.uuid4()).upper()
        action = requested_action(query, headers)
        decision: Decision = self.app.faults.decide(action) if action in vendor.ACTIONS else OK
        if decision.drop == "before":
            self._drop()
            return
        if decision.foreign:
            # The plan's foreign:<status> (tools/faultplan.py): what a proxy in front of the gateway answers, an HTML
            # page without the vendor's headers or body; the request never reaches the vendor (review bo: the plan
            # was accepted and ignored, the request answered as if no fault was planned).
            self._read_body()
            self._send(decision.foreign, foreign_page(decision.foreign), FOREIGN_CONTENT_TYPE, FOREIGN_HEADERS)
            return
        status: int
        payload: dict[str, Any]
        try:
            if self.command not in {"POST", "GET"}:
                raise VendorError("InvalidAction.NotFound")
            body = self._read_body()
            form: dict[str, str] = {}
            if body and "application/x-www-form-urlencoded" in headers.get("content-type", ""):
                form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            authed = self.app.auth.authenticate(self.command, "/", query, headers, body, form)
            if not self.app.throttle.allow(authed.action):
                raise VendorError("Throttling.Api")
            if decision.error:
                raise VendorError(decision.error)
            public_base = self.app.config.public_base_url or f"http://{host}"
            result = self.app.run_operation(authed.action, authed.params, public_base)
            code = self.app.config.delete_success_code if authed.action == "DeleteVerifyResult" else "Success"
            status, payload = 200, {"RequestId": request_id, "Code": code, "Message": "success", "Result": result}
        except VendorError as err:
            status, payload = err.http_status, error_body(err.code, err.text, request_id, host)
        if decision.drop == "after":
            self._drop()
            return
        if decision.delay > 0:
            self.app.stopping.wait(decision.delay)
        if decision.drip > 0:
            drip_answer(self, lambda: self._json(status, payload, {"x-acs-request-id": request_id}), decision.drip,
                        self.app.stopping)  # fmt: skip
            return
        self._json(status, payload, {"x-acs-request-id": request_id})

    # --- verification page -------------------------------------------------------------------------------

    def _verify(self, rest: str) -> None:
        token, _, action = rest.partition("/")
        tx = self.app.store.by_token(unquote(token))
        if self.command == "GET" and not action:
            if tx is None:
                self._html(404, pages.not_found_page())
                return
            with self.app.store.lock:
                fresh = tx.status == "INITIALIZED" and not tx.too_late_to_finish(self.app.config.clock())
                if fresh:
                    tx.status = "VISITED"
                    tx.page_session = state.new_page_token()
                session = tx.page_session
            if not fresh or session is None:
                self._html(200, pages.expired_page(tx.return_url))
                return
            self._html(200, pages.verify_page(tx, session), {"Cache-Control": "no-store"})
            return
        if self.command == "POST" and action == "finish":
            form = parse_qsl(self._read_body().decode("utf-8", "replace"), keep_blank_values=True)
            if tx is None:
                self._html(404, pages.not_found_page())
                return
            fields = dict(form)
            if tx.status != "VISITED" or fields.get("session") != tx.page_session:
                self._html(200, pages.expired_page(tx.return_url))
                return
            try:
                outcome = state.Outcome.from_json(_form_outcome(fields, [v for k, v in form if k == "spoofType"]))
                _check_outcome_fits(tx, outcome)
            except (state.OutcomeError, ValueError) as exc:
                self._html(400, pages._page("Invalid choice", f"<p>{exc}</p>", "invalid"))
                return
            if not self.app.complete(tx, outcome):
                self._html(200, pages.expired_page(tx.return_url))
            elif outcome.kind == "abandon":
                self._html(200, pages.abandoned_page(tx.return_url))
            else:
                self._html(302, pages.done_page(tx.return_url), {"Location": tx.return_url})
            return
        self._read_body()
        self._html(404, pages.not_found_page())

    # --- control API -------------------------------------------------------------------------------------

    def _control(self, route: str) -> None:
        raw = self._read_body()
        bound, port, also = self._own_names()
        own = own_origins(port, also=also) | {local_url(bound, port)}
        if self.command != "GET" and cross_site(self._headers(), own):
            # Another site's page can POST here without a preflight (a text/plain body is still parsed as JSON):
            # it must not reset the sandbox or plan its faults. Tools that are not browsers send no Origin.
            self._error(403, "CrossSiteRequest", "the control API takes no requests from another site's page")
            return
        try:
            data: Any = jsonutil.loads(raw) if raw.strip() else {}
        except ValueError:
            self._error(400, "InvalidJson", "the body must be JSON")
            return
        app = self.app
        segments = route.split("/")
        get, post = self.command == "GET", self.command == "POST"
        if get and route == "":
            if "text/html" in (self.headers.get("Accept") or ""):
                self._html(200, control.index_html(app.config.access_key_id, app.base_url))
            else:
                self._json(200, control.index(app.config.access_key_id, app.base_url))
        elif get and route == "health":
            self._json(200, {"ok": True, "accessKeyId": app.config.access_key_id, "baseUrl": app.base_url,
                             "region": app.config.region})
        elif get and route == "transactions":
            self._json(200, {"transactions": [tx.summary() for tx in app.store.all()]})
        elif get and len(segments) == 2 and segments[0] == "transactions":
            tx = app.store.get(segments[1])
            if tx is None:
                self._error(404, "UnknownTransaction", "unknown transaction")
            else:
                with app.store.lock:
                    self._json(200, tx.detail())
        elif post and len(segments) == 3 and segments[0] == "transactions" and segments[2] == "complete":
            tx = app.store.get(segments[1])
            if tx is None:
                self._error(404, "UnknownTransaction", "unknown transaction")
                return
            try:
                outcome = state.Outcome.from_json(data)
                _check_outcome_fits(tx, outcome)
            except state.OutcomeError as exc:
                self._error(400, "InvalidOutcome", str(exc))
                return
            if not app.complete(tx, outcome):
                self._error(409, "TransactionClosed",
                            "the transaction is already finished or abandoned, or too late to finish")
                return
            with app.store.lock:
                self._json(200, tx.detail())
        elif post and route == "reset":
            app.reset()
            self._json(200, {"ok": True})
        elif route == "faults" and (get or post):
            if post:
                try:
                    app.faults.configure(data)
                except FaultPlanError as exc:
                    self._error(400, "InvalidFaultPlan", str(exc))
                    return
            self._json(200, {"faults": app.faults.snapshot()})
        elif get and route == "callbacks":
            self._json(200, {"callbacks": app.callbacks.log()})
        else:
            self._error(404, "NotFound", "not found: GET /_sandbox/ lists the control API")


def _check_outcome_fits(tx: state.Transaction, outcome: state.Outcome) -> None:
    if outcome.kind not in tx.outcomes:
        raise state.OutcomeError(f"outcome {outcome.kind} is not an outcome of {tx.product_code} (no document)")
    if outcome.identity and not tx.has_document:
        raise state.OutcomeError(f"identity is not part of a {tx.product_code} result (no document)")


def _form_outcome(fields: dict[str, str], spoof_types: list[str]) -> dict[str, Any]:
    """Translate the page's form into the control API's completion document."""
    kind = fields.get("outcome", "")
    out: dict[str, Any] = {"outcome": kind}
    if kind == "fail" and fields.get("subCode"):
        out["subCode"] = fields["subCode"].strip()
    if kind == "spoof":
        out["spoofTypes"] = spoof_types
    if kind == "pending":
        out["pendingChecks"] = int(fields.get("pendingChecks") or 0)
        out["pendingSeconds"] = float(fields.get("pendingSeconds") or 0)
    return out


class SandboxServer:
    """One sandbox on ``config.host:config.port`` (port 0: any free port).

    ``start()`` serves on a daemon thread and returns the base URL; ``stop()`` shuts it down.
    """

    def __init__(self, config: SandboxConfig | None = None, *, verbose: bool = False) -> None:
        self.config = config or SandboxConfig()
        self.app = SandboxApp(self.config, verbose=verbose)
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    def _bind(self) -> _Server:
        httpd = _Server((self.config.host, self.config.port), self.app)
        self.app.base_url = local_url(self.config.host, httpd.server_address[1])
        self._httpd = httpd
        return httpd

    @property
    def base_url(self) -> str:
        return self.app.base_url

    @property
    def port(self) -> int:
        assert self._httpd is not None, "not started"
        return int(self._httpd.server_address[1])

    def start(self) -> str:
        self._thread = serve_in_background(self._bind(), "sandbox-http")
        return self.base_url

    def stop(self) -> None:
        """No new requests, then no more callbacks: the server stops and closes, then the callback threads."""
        self.app.stopping.set()
        if self._httpd is not None:
            stop_serving(self._httpd, self._thread)
        self._thread = None
        self.app.callbacks.stop()

    def __enter__(self) -> SandboxServer:
        if self._httpd is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
