"""The Tablestore double's HTTP surface: ``POST /<Operation>`` with a protobuf body, on the shared double server.

Order of effects for one request (after the shared server's fault decision and body read):
1. not POST → 405 OTSMethodNotAllowed; an operation the double does not answer → 400 OTSParameterInvalid
   "Unsupported operation: <name>." (the "Error codes" page's HTTP-message errors);
2. the signature and headers (``signature.Verifier``) → 400/403 answers without ``Authorization`` (the SDK does not
   check the signature of OTSAuthFailed answers);
3. pending global-index changes whose lag has passed are applied (``Engine.apply_due``);
4. the operation (``protocol.Protocol``) → 200 with the answer, or the service error's status and ``Error`` body;
5. every answer after step 2 carries ``x-ots-contentmd5``, ``x-ots-requestid``, ``x-ots-date``,
   ``x-ots-contenttype`` and is signed back (``Authorization: OTS <AccessKeyId>:<signature>``), which the SDK
   requires of 2xx answers (``tablestore/protocol.py`` ``_check_headers``/``_check_authorization``).

Injected faults (``set_faults``) answer with the error's status and ``Error`` body, signed when the request's
signature verifies; ``drop-before``/``drop-after`` close the connection (the SDK's transport then raises: urllib3's
error, or an ``OSError`` through the store's); ``drip:<s>`` sends the answer one byte every ``<s>`` seconds.

Control API, besides the shared ``/_double/faults``, ``/_double/stats``, ``/_double/reset``:

- ``POST /_double/tablestore/indexes/flush``  apply every pending global-index change → ``{"applied": n}``;
- ``GET|POST /_double/tablestore/indexes/lag`` ``{"seconds": 0.5}`` or ``{"manual": true}`` (``{"seconds": 0}``:
  synchronous) → the lag in force and the pending count;
- ``POST /_double/tablestore/stats/reset``   zero the counters, keep tables and rows;
- ``GET  /_double/tablestore/tables``        table and index names with row counts.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any

from tools.credentials import AccessKey
from tools.doubles._server import DoubleServer, Request, Response
from tools.doubles.tablestore.accounting import Accounting
from tools.doubles.tablestore.engine import Engine, EngineConfig
from tools.doubles.tablestore.errors import ERRORS, ServiceError, error_body, invalid
from tools.doubles.tablestore.indexes import IndexLag
from tools.doubles.tablestore.protocol import Protocol
from tools.doubles.tablestore.schema import IndexLimits
from tools.doubles.tablestore.signature import (
    Caller,
    Verifier,
    content_md5,
    format_date,
    response_authorization,
)

DEFAULT_INSTANCE = "kycinst"
CONTENT_TYPE = "protocol buffer"  # x-ots-contenttype of the service's answers (the SDK checks its presence)
_CONTROL = "tablestore/"
CONTROL_ENDPOINTS = [
    "POST /_double/tablestore/indexes/flush",
    "GET /_double/tablestore/indexes/lag",
    "POST /_double/tablestore/indexes/lag",
    "POST /_double/tablestore/stats/reset",
    "GET /_double/tablestore/tables",
]


class TablestoreDouble(DoubleServer):
    """A Tablestore instance on loopback. ``endpoint`` is what ``tablestore.OTSClient`` is given."""

    service = "tablestore"
    server_header = "tablestore-double"
    internal_error_code = "OTSInternalServerError"
    bad_request_code = "OTSParameterInvalid"
    error_codes = tuple(ERRORS)

    def __init__(
        self,
        *,
        access_key_id: str,
        access_key_secret: str,
        security_token: str | None = None,
        instance: str = DEFAULT_INSTANCE,
        region: str | None = None,
        extra_credentials: Iterable[AccessKey] = (),
        index_lag: IndexLag | None = None,
        range_row_cap: int = EngineConfig.range_row_cap,
        range_byte_cap: int = EngineConfig.range_byte_cap,
        index_limits: IndexLimits | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int | None = None,
        verbose: bool = False,
        clock: Callable[[], float] | None = None,
        internet_access: bool = True,
    ) -> None:
        if clock is None:
            super().__init__(host=host, port=port, seed=seed, verbose=verbose)
        else:
            super().__init__(host=host, port=port, seed=seed, verbose=verbose, clock=clock)
        self.instance = instance
        self.region = region
        #: Whether the instance's network ACL lets requests from the Internet in (every request here comes from
        #: it). Tablestore: "By default, Internet access is disabled for an instance"; a request it refuses is 403
        #: "[ErrorCode]:OTSAuthFailed, [Message]:Request denied by instance ACL policies." ("Troubleshoot the
        #: 'Request denied by instance ACL policies' error", Jun 2026). Whether that answer is signed: unverified.
        self.internet_access = internet_access
        self.access_key_id = access_key_id
        self._secret = access_key_secret
        self._token = security_token
        self.accounting = Accounting()
        self.engine = Engine(
            accounting=self.accounting,
            config=EngineConfig(range_row_cap, range_byte_cap, index_limits or IndexLimits()),
            clock=self.clock,
        )
        if index_lag is not None:
            self.engine.set_index_lag(index_lag)
        self.protocol = Protocol(self.engine)
        self.verifier = Verifier(
            instance=instance,
            credentials=[AccessKey(access_key_id, access_key_secret, security_token), *extra_credentials],
            region=region,
            clock=self.clock,
        )

    # --- Python API ---------------------------------------------------------------------------------------

    def client(self, **kwargs: Any) -> Any:
        """An ``OTSClient`` for this double with its own key (keyword arguments go to ``OTSClient``)."""
        from tools.doubles.tablestore._sdk import tablestore  # noqa: PLC0415

        kwargs.setdefault("sts_token", self._token)
        if self.region is not None:
            kwargs.setdefault("region", self.region)
        return tablestore.OTSClient(self.endpoint, self.access_key_id, self._secret, self.instance, **kwargs)

    def reset_stats(self) -> None:
        """Zero every counter (rows and requests), keep tables, rows, faults and pending index changes."""
        self.accounting.reset()
        with self._stats_lock:  # the shared server's request and fault counters
            self._requests.clear()
            self._faults.clear()

    def rows(self, operation: str | None = None, table: str | None = None) -> dict[str, int]:
        """The row counters in total, or of one operation, or of one table (``accounting`` lists them)."""
        snapshot = self.accounting.snapshot()
        if operation is not None:
            return dict(snapshot["operations"].get(operation, {k: 0 for k in snapshot["total"]}))
        if table is not None:
            return dict(snapshot["tables"].get(table, {k: 0 for k in snapshot["total"]}))
        return dict(snapshot["total"])

    def flush_indexes(self) -> int:
        return self.engine.flush_indexes()

    def set_index_lag(self, seconds: float = 0.0, *, manual: bool = False) -> None:
        """Global-index changes apply after ``seconds`` (0: at once), or only on ``flush_indexes`` (``manual``)."""
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        self.engine.set_index_lag(IndexLag(seconds=float(seconds), manual=manual))

    def load_rows(self, table: str, rows: Iterable[tuple[list[tuple[str, Any]], dict[str, Any]]]) -> int:
        """Bulk-load ``(primary_key, attributes)`` rows into a data table and its indexes, uncounted."""
        return self.engine.load(table, rows)

    # --- DoubleServer hooks -------------------------------------------------------------------------------

    def operation_of(self, request: Request) -> str | None:
        name = request.path.lstrip("/")
        return name if name in self.protocol.operations else None

    def handle(self, request: Request) -> Response:
        if request.method != "POST":
            return self._answer(request, ServiceError("OTSMethodNotAllowed"), None)
        operation = request.path.lstrip("/")
        if operation not in self.protocol.operations:
            return self._answer(request, invalid(f"Unsupported operation: {operation}."), None)
        if not self.internet_access:
            denied = ServiceError("OTSAuthFailed", "Request denied by instance ACL policies.")
            return self._answer(request, denied, None)
        try:
            caller = self.verifier.verify(request.path, request.query, request.headers, request.body)
        except ServiceError as exc:
            return self._answer(request, exc, None)
        self.engine.apply_due()
        self.accounting.add(operation, None, requests=1)
        try:
            body = self.protocol.handle(operation, request.body)
        except ServiceError as exc:
            self.accounting.add(operation, None, errors=1)
            return self._answer(request, exc, caller)
        return self._finish(request, 200, body, caller)

    def render_error(self, code: str, request: Request, message: str | None = None) -> Response:
        try:
            caller: Caller | None = self.verifier.verify(request.path, request.query, request.headers, request.body)
        except ServiceError:
            caller = None
        return self._answer(request, ServiceError(code, message), caller)

    def stats_detail(self) -> dict[str, Any]:
        lag = self.engine.index_lag
        return {
            "rows": self.accounting.snapshot(),
            "indexes": {
                "lagSeconds": lag.seconds,
                "manual": lag.manual,
                "pendingChanges": self.engine.pending_index_changes(),
            },
        }

    def reset_state(self) -> None:
        self.engine.reset()
        self.accounting.reset()

    def control_endpoints(self) -> list[str]:
        return list(CONTROL_ENDPOINTS)

    def control(self, method: str, route: str, query: dict[str, str], data: Any) -> tuple[int, Any] | None:
        if not route.startswith(_CONTROL):
            return None
        route = route.removeprefix(_CONTROL)
        if route == "indexes/flush" and method == "POST":
            return 200, {"applied": self.flush_indexes()}
        if route == "indexes/lag" and method in ("GET", "POST"):
            if method == "POST":
                if not isinstance(data, dict) or set(data) - {"seconds", "manual"}:
                    return 400, {"error": 'expected {"seconds": <number>} or {"manual": true}'}
                seconds, manual = data.get("seconds", 0.0), data.get("manual", False)
                if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds <= 3600:
                    return 400, {"error": "seconds must be a number between 0 and 3600"}
                if not isinstance(manual, bool):
                    return 400, {"error": "manual must be true or false"}
                self.set_index_lag(float(seconds), manual=manual)
            return 200, self.stats_detail()["indexes"]
        if route == "stats/reset" and method == "POST":
            self.reset_stats()
            return 200, {"ok": True}
        if route == "tables" and method == "GET":
            tables = {}
            for name in self.engine.list_tables():
                table = self.engine.describe(name)
                tables[name] = {
                    "rows": self.engine.row_count(name),
                    "indexes": {i: self.engine.row_count(i) for i in table.indexes},
                }
            return 200, {"tables": tables}
        return None

    # --- answers ------------------------------------------------------------------------------------------

    def _answer(self, request: Request, error: ServiceError, caller: Caller | None) -> Response:
        return self._finish(request, error.status, error_body(error.code, error.message), caller)

    def _finish(self, request: Request, status: int, body: bytes, caller: Caller | None) -> Response:
        headers = {
            "x-ots-contentmd5": content_md5(body),
            "x-ots-requestid": str(uuid.uuid4()),
            "x-ots-date": format_date(self.clock()),
            "x-ots-contenttype": CONTENT_TYPE,
        }
        if caller is not None:
            headers["Authorization"] = response_authorization(caller, request.path, headers)
        headers["Content-Type"] = "application/x-protobuf"
        return Response(status, body, headers)
