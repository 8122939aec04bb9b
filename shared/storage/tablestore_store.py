"""``TablestoreTransactionStore``: transactions in Alibaba Cloud Tablestore (OTS), via the ``tablestore`` SDK.

The SDK is imported, and its ``OTSClient`` built, by the store's first call that needs them
(:func:`~shared.storage.tablestore_sdk.import_tablestore`: without its async client and time-series codecs), never
at module import nor in the constructor, which only checks its arguments: a function's ``initialize`` builds the
store without paying for the SDK. The tables and indexes are those of
:mod:`~shared.storage.tablestore_schema` (created by the deployment or ``./scripts/kyc setup-tables``).

Row layout: primary key ``merchant_biz_id`` (STRING); every other field is an attribute column (``None`` fields
are absent; ``identity_masked`` is JSON text), plus three the indexes sort by: ``created_ms`` (written once) and
the due, ``due_kind`` + ``due_ms`` (:mod:`~shared.storage.due`; absent when nothing is due, which keeps the row out
of the sparse ``_due`` index).

Conditional writes carry the state machine, each with the row's due in the same write:

* ``create``: ``put_row`` with ``Condition(EXPECT_NOT_EXIST)``.
* ``finalize``: ``update_row`` with ``Condition(EXPECT_EXIST, status == PENDING OR status == ABANDONED)``
  (``pass_if_missing=False``: the SDK's default of True would let a row without ``status`` pass).
* ``mark_abandoned``: ``Condition(EXPECT_EXIST, status == PENDING)``.
* ``record_check``: read, then ``Condition(EXPECT_EXIST, status == PENDING AND check_count == <read value>)``;
  retried on conflict (optimistic concurrency instead of the increment op, so the condition stays exact). With a
  ``recheck_attempt``, the row read must hold a lower one (the count pins it: only this write changes either).
* ``mark_notification_enqueued``: ``status == <status>``; the due ends in the same write unless the caller says a
  vendor-copy deletion is still to come. ``mark_vendor_copy_deleted``: first the write that also ends the due,
  under the condition that the notification is confirmed (the fetch's order: notify, then delete); when that
  fails, the flag alone (the sweeper settles the row later). ``set_outbox_due``: ``status == <status>``.
* flag updates use ``EXPECT_EXIST`` so they never create a phantom row.
* rate counters (the ``_rate`` table): read, then ``count == <read value> AND writes == <read value>``
  (``EXPECT_NOT_EXIST`` the first time); each write adds its random mark to ``writes`` (``RATE_WRITES``), so a
  round that reads its own mark back knows it was applied, and a re-sent copy never applies twice.
  A claim (``take_claim``) is a counter at 1 with its ``holder``: read, then, when free, ``count == <read value>``
  and ``expires_at == <read value>`` (which one taker of an expired claim changes); ``give_back_claim``:
  ``holder == <holder> AND count == 1``, no read.

Queries read a global index for the keys (``get_range`` over exactly the answer's range: a sweep reads the due
rows, a user's listing that user's rows), then the rows themselves with ``batch_get_row`` (at most 100 a call):
the data table is the truth and a global index lags it by milliseconds. A key whose row is gone or no longer
matches (a stale index entry) is skipped; a row written a moment ago may be missing from a page (the next sweep,
or the next run of ``kyc erase``, sees it). The rate limit never reads an index: its counter is addressed by key.

``OTSConditionCheckFail`` turns into ``False`` / ``RecordExists`` / a no-op; every other failure is a
``StorageError`` with ``transient`` set for throttling, busy and 5xx answers and for transport errors, and
``maybe_sent`` (a write may have been applied) for 5xx answers, answers the SDK could not take and transport errors.

Deadlines: one per call to the service (one SDK call: its attempts, the SDK's retries and their backoffs),
``call_deadline`` seconds (default ``retry_window`` + connect timeout + read timeout: 3 + 3 + 5 = 11 s, the bound
the retry window and the timeouts were meant to give). Every wait of every attempt (lookup, connect, TLS, send,
status line, headers, each read of the body) is what is left of it, capped by the connect timeout (3 s) or the read
timeout (``timeout``, 5 s): the SDK's urllib3 transport is replaced by
:class:`~shared.storage.tablestore_transport.DeadlineTransport` (see there why, and what it keeps), so an endpoint
dripping its answer cannot hold a call past its deadline. A call cut off by it is a transient ``StorageError``
(``TransportError``, ``maybe_sent``: a write may have been applied; every write here is conditional, so the
caller's retry is safe) and its connection is closed, never reused. The SDK's own retries of throttling and busy
answers follow ``BoundedRetry`` (at most ``max_retries``; none whose backoff would end past the call's deadline or
start later than ``retry_window`` seconds into the call) instead of the SDK default (20 retries with up to 3 s
between them, which made a sweep against a failing instance hang for over a minute). A method that makes several
calls (``record_check``: up to 5 reads and writes; a page: up to ``MAX_RANGE_CALLS_PER_PAGE`` range reads and its
``BatchGetRow`` calls) gives each call its own deadline. The schema calls (``ensure_tables``) run one deadline per
request too.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from urllib.parse import urlsplit

from shared import jsonutil
from shared.http_deadline import CallDeadline, Deadline
from shared.lazy import Lazy
from shared.signing import Credentials
from shared.status import ERASABLE_IN_PLACE, TERMINAL, VERDICTS, Status, verdict

from .due import DueKind, due_on_create, to_ms
from .errors import ClientUnavailable, OutOfTime, RecordExists, StorageError
from .records import TransactionRecord, finalized_at_over_abandoned
from .tablestore_schema import (
    CREATED_MS,
    DUE_KIND,
    DUE_MS,
    MERCHANT_BIZ_ID,
    MERCHANT_USER_ID,
    RATE_KEY,
    STATUS,
    Schema,
    SchemaReport,
    ensure_tables,
)
from .tablestore_sdk import import_tablestore

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any

    from .protocols import Page

PK = MERCHANT_BIZ_ID
CONDITION_CHECK_FAIL = "OTSConditionCheckFail"
TRANSIENT_CODES = frozenset(
    {
        "OTSServerBusy",
        "OTSTimeout",
        "OTSInternalServerError",
        "OTSServerUnavailable",
        "OTSRowOperationConflict",
        "OTSNotEnoughCapacityUnit",
        "OTSPartitionUnavailable",
        "OTSOperationThrottled",
        "OTSQuotaExhausted",
        "OTSTableNotReady",
        "OTSTooFrequentReservedThroughputAdjustment",
    }
)
#: The message Tablestore gives, under ``OTSAuthFailed``, to a request from a network its instance's network ACL does
#: not allow (e.g. the Internet): "[ErrorCode]:OTSAuthFailed, [Message]:Request denied by instance ACL policies."
#: ("Troubleshoot the 'Request denied by instance ACL policies' error", Tablestore, Jun 2026, which adds "By default,
#: Internet access is disabled for an instance"). The functions reach the instance over the Internet (no VPC).
INSTANCE_ACL_DENIED_MESSAGE = "Request denied by instance ACL policies"
#: This adapter's code for that answer: the same vendor code also means wrong keys, a skewed clock or a bad token,
#: whose fix differs (the logs' ``errorCode``, ``kyc doctor``).
INSTANCE_ACL_DENIED = "OTSAuthFailed.InstanceACL"
#: get_range calls per page: a page may hold fewer than ``limit`` rows while its cursor is not None.
MAX_RANGE_CALLS_PER_PAGE = 20
BATCH_GET_MAX_ROWS = 100  # BatchGetRow reads at most 100 rows a request ("Read data": BatchGetRow)
#: A conflict means another fetch or the sweeper wrote the row meanwhile; each round is a read, a write and the
#: read-back of its mark. Three rounds: a re-check's longest path must fit the five minutes a queue trigger waits
#: (tests/test_deploy_config.py, "time budgets"), and a record that still conflicts is only bookkeeping (the fetcher
#: logs it; its re-check message is out already).
RECORD_CHECK_ATTEMPTS = 3
RATE_ATTEMPTS = 8  # a conflict means another request changed the counter: bounded, then refused as busy
DEFAULT_TIMEOUT_SECONDS = 5.0  # at most one wait of an attempt (sending, or each read of the answer)
CONNECT_TIMEOUT_SECONDS = 3.0  # at most the lookup, the connect and the TLS handshake of an attempt, each
MAX_RETRIES = 3  # of one call, for throttling and busy answers (BoundedRetry)
RETRY_WINDOW_SECONDS = 3.0  # no retry starts later into a call (BoundedRetry)
RATE_COUNT = "count"
RATE_EXPIRES_AT = "expires_at"
RATE_HOLDER = "holder"
#: The random marks of a counter's last ``RATE_WRITES_KEPT`` writes, space-separated. Each write is conditional on
#: the marks it read as well as the count (a copy the SDK re-sends after a busy answer never applies twice, even when
#: another write brought the count back: review ee), so after a write that failed its condition, the mark that
#: follows the last one it read says whose write won: this call's (the SDK re-sent it and the copy lost its
#: condition to it: reviews cc, ee), another's, or, pushed out by later writes, unknown (review ff).
RATE_WRITES = "writes"
RATE_WRITES_KEPT = 32
#: A random mark each final write (``finalize``, ``mark_abandoned``) puts on the row: after such a write failed its
#: condition, a row holding its mark is this call's write, applied and re-sent by the SDK (review kk); a rival's
#: carries another. Not a record field (``TransactionRecord.from_item`` ignores it).
FINAL_WRITE = "final_write"
#: The same for ``record_check``'s writes (review xx: the SDK's re-sent copy of an applied check failed its condition
#: against it, was taken for a rival's write, and the check was written again: counted twice, the backoff doubled).
CHECK_WRITE = "check_write"
#: The SDK's own logger, silenced (``quiet_sdk_logger``): it logs every failed request at ERROR as plain text with
#: the service's message (a failed row condition is normal flow here: a lost race, a duplicate callback), outside
#: the JSON logger and its scrubbing, and whole requests at DEBUG: the rows, and the headers with the STS token.
#: Its errors reach the caller as ``StorageError`` (code, status, request id), which the services log in context.
SDK_LOGGER = "kyc.tablestore.sdk"


def quiet_sdk_logger() -> str:
    """Silence ``SDK_LOGGER`` (idempotent) and return its name, for ``OTSClient(logger_name=...)``."""
    logger = logging.getLogger(SDK_LOGGER)
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    logger.propagate = False
    # above CRITICAL: the SDK's ``logger.level <= DEBUG`` test is then false, so it does not even format its dumps
    logger.setLevel(logging.CRITICAL + 1)
    return SDK_LOGGER


class BoundedRetry:
    """The SDK's retry decisions, bounded: which errors and operations are retried is the SDK's own rule
    (``tablestore.retry.RetryUtil``, as its ``DefaultRetryPolicy`` applies it: throttling and busy answers for every
    operation, 5xx only for reads); how often and how long is ours: at most ``max_retries`` retries, with full-jitter
    backoff from ``base_delay`` doubling up to ``max_delay``, none that would start more than ``retry_window``
    seconds after the call began, and none whose longest backoff would end past the call's deadline. Implements the
    SDK's ``RetryPolicy`` interface (``should_retry``, ``get_retry_delay``; ``OTSClient._request_helper`` asks it
    after every ``OTSServiceError``); ``begin(deadline)`` marks the start of a call (per thread)."""

    def __init__(
        self,
        *,
        max_retries: int = MAX_RETRIES,
        base_delay: float = 0.05,
        max_delay: float = 0.5,
        retry_window: float = RETRY_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._rules: Any = None  # tablestore.retry.RetryUtil, looked up at the first decision (the SDK is loaded)
        self.max_retries = max_retries
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.retry_window = retry_window
        self.clock = clock
        self.jitter = jitter
        self._local = threading.local()

    def begin(self, deadline: Deadline | None = None) -> None:
        self._local.started = self.clock()
        self._local.deadline = deadline

    def _delay_limit(self, retry_times: int) -> float:
        return float(min(self.max_delay, self.base_delay * 2**retry_times))

    def should_retry(self, retry_times: int, exception: Any, api_name: str) -> bool:
        if retry_times >= self.max_retries:
            return False
        rules = self._rules
        if rules is None:
            rules = self._rules = import_tablestore().retry.RetryUtil
        retryable = rules.should_retry_no_matter_which_api(exception) or (
            rules.is_repeatable_api(api_name)
            and rules.should_retry_when_api_repeatable(retry_times, exception, api_name)
        )
        if not retryable:
            return False
        deadline: Deadline | None = getattr(self._local, "deadline", None)
        if deadline is not None:
            try:
                if deadline.remaining() <= self._delay_limit(retry_times):
                    return False  # the retry could not even start before the call's deadline
            except TimeoutError:
                return False
        started = getattr(self._local, "started", None)
        elapsed = 0.0 if started is None else self.clock() - started
        return elapsed + self._delay_limit(retry_times) <= self.retry_window

    def get_retry_delay(self, retry_times: int, exception: Any, api_name: str) -> float:
        return self._delay_limit(retry_times) * self.jitter()


class TablestoreTransactionStore:
    def __init__(
        self,
        *,
        table: str,
        endpoint: str | None = None,
        instance: str | None = None,
        credentials: Credentials | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        retry: BoundedRetry | None = None,
        client: Any = None,
        call_deadline: float | None = None,
    ) -> None:
        """Pass ``client`` (anything with the ``OTSClient`` methods) or ``endpoint``/``instance``/``credentials``;
        ``timeout`` bounds each wait of an attempt (its connect steps take at most ``CONNECT_TIMEOUT_SECONDS``),
        ``retry`` the SDK's retries (default: ``BoundedRetry()``), ``call_deadline`` each call, retries included
        (default: the retry window + connect timeout + ``timeout``; see the module docstring).

        Order of effects: the arguments are checked here (``ValueError``: no client and a missing part, an
        endpoint that is not an http(s) URL with a host, which ``OTSClient`` itself would refuse, or a call deadline
        that is not a positive number of seconds); the SDK is
        imported and the ``OTSClient`` built by the first call that needs them (:class:`~shared.lazy.Lazy`: once,
        also when several threads call at once), never here."""
        if client is None:
            if not (endpoint and instance and credentials):
                raise ValueError("endpoint, instance and credentials are required without a client")
            parts = urlsplit(endpoint)
            if parts.scheme not in {"http", "https"} or not parts.netloc:
                raise ValueError("the Tablestore endpoint must be an http(s) URL with a host")
        self._schema = Schema(table)
        self._table = table
        self.table = table
        self._retry: BoundedRetry | None = (retry or BoundedRetry()) if client is None else None
        connect_timeout = min(CONNECT_TIMEOUT_SECONDS, timeout)
        if call_deadline is None:
            window = self._retry.retry_window if self._retry is not None else RETRY_WINDOW_SECONDS
            call_deadline = window + connect_timeout + timeout
        self._deadline = CallDeadline(call_deadline)
        self.call_deadline = self._deadline.seconds  # the longest one call to the service may take
        self._sdk: Lazy[tuple[Any, Any]] = Lazy(
            lambda: self._open(client, endpoint, instance, credentials, timeout),
            failed=lambda exc: ClientUnavailable("tablestore", exc),
        )

    def _open(
        self, client: Any, endpoint: str | None, instance: str | None, credentials: Credentials | None, timeout: float
    ) -> tuple[Any, Any]:
        """The SDK module and the client (the one given, or a new ``OTSClient`` whose exchanges run under each
        call's deadline): imports the SDK."""
        tablestore = import_tablestore()
        if client is None:
            assert endpoint and instance and credentials  # checked by the constructor
            from .tablestore_transport import DeadlineTransport  # noqa: PLC0415 - http.client; with the SDK

            client = tablestore.OTSClient(
                endpoint,
                credentials.access_key_id,
                credentials.access_key_secret,
                instance,
                sts_token=credentials.security_token,
                retry_policy=self._retry,
                logger_name=quiet_sdk_logger(),
            )
            # The SDK sends every attempt with ``self.connection.send_receive(...)`` (tablestore/client.py,
            # OTSClient._request_helper); its urllib3 pool is built in the constructor but opens no connection
            # until used, and is never used once replaced here.
            client.connection = DeadlineTransport(
                client.host, client.path, self._deadline,
                connect_timeout=min(CONNECT_TIMEOUT_SECONDS, timeout), read_timeout=timeout,
            )  # fmt: skip
        return tablestore, client

    @property
    def _ots(self) -> Any:
        """The ``tablestore`` package (imported on first use)."""
        return self._sdk.get()[0]

    @property
    def _client(self) -> Any:
        """The ``OTSClient`` (built on first use)."""
        return self._sdk.get()[1]

    # --- conditions -------------------------------------------------------------------------------------

    def _eq(self, column: str, value: object) -> Any:
        ots = self._ots
        return ots.SingleColumnCondition(column, value, ots.ComparatorType.EQUAL, pass_if_missing=False)

    def _combine(self, operator: int, conditions: list[Any]) -> Any:
        if len(conditions) == 1:
            return conditions[0]
        composite = self._ots.CompositeColumnCondition(operator)
        for condition in conditions:
            composite.add_sub_condition(condition)
        return composite

    def _any_status(self, statuses: Any) -> Any:
        return self._combine(self._ots.LogicalOperator.OR, [self._eq(STATUS, s.value) for s in statuses])

    def _all(self, *conditions: Any) -> Any:
        return self._combine(self._ots.LogicalOperator.AND, list(conditions))

    def _expect_exist(self, column_condition: Any = None) -> Any:
        ots = self._ots
        return ots.Condition(ots.RowExistenceExpectation.EXPECT_EXIST, column_condition)

    def _pk(self, merchant_biz_id: str) -> list[tuple[str, Any]]:
        return [(PK, merchant_biz_id)]

    # --- calls --------------------------------------------------------------------------------------------

    def _call(self, operation: str, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._guarded(operation, lambda: getattr(self._client, method)(*args, **kwargs))

    @contextmanager
    def _one_call(self) -> Iterator[None]:
        """One call to the service on this thread: its deadline, and its retries timed from now."""
        with self._deadline.running() as deadline:
            if self._retry is not None:
                self._retry.begin(deadline)
            yield

    def _guarded(self, operation: str, call: Callable[[], Any], *, one_call: bool = True) -> Any:
        """``call()`` as one call (``one_call``: under one deadline, its retries timed from now), the SDK's errors
        turned into ``StorageError`` (``_ConditionFailed`` for a failed condition)."""
        ots = self._ots  # the first use imports the SDK and builds the client (ClientUnavailable if it cannot)
        try:
            with self._one_call() if one_call else _no_call():
                return call()
        except ots.OTSServiceError as exc:
            if exc.code == CONDITION_CHECK_FAIL:
                raise _ConditionFailed() from None
            status = exc.http_status if isinstance(exc.http_status, int) else None
            transient = exc.code in TRANSIENT_CODES or (status is not None and (status >= 500 or status == 429))
            code = str(exc.code)
            if code == "OTSAuthFailed" and INSTANCE_ACL_DENIED_MESSAGE.lower() in str(exc.message).lower():
                code = INSTANCE_ACL_DENIED
            raise StorageError(
                f"tablestore {operation} failed: {code}",
                transient=transient,
                code=code,
                status=status,
                request_id=exc.request_id or None,
                # A 5xx came after the request reached the service: a write may have been applied all the same
                # (OTSTimeout, which the SDK does not re-send; a busy answer to its last re-send). Tablestore's pages
                # do not say it was not (reviews z, bb).
                maybe_sent=status is not None and status >= 500,
            ) from None
        except ots.OTSClientError as exc:
            # Raised before sending (an argument the SDK refuses: no status), or for an answer the SDK cannot take
            # (its status set): a gateway's 5xx page with no protobuf error, a missing header or signature. The
            # latter reached something and may have been applied; a 5xx or 429 is transient like the service's own.
            answered = exc.http_status if isinstance(exc.http_status, int) else None
            raise StorageError(
                f"tablestore {operation} rejected by the client"
                if answered is None
                else f"tablestore {operation}: an answer the SDK could not take (HTTP {answered})",
                transient=answered is not None and (answered >= 500 or answered == 429),
                code="OTSClientError",
                status=answered,
                maybe_sent=answered is not None,
            ) from None
        except Exception as exc:  # transport: connection refused, reset, a timeout or the call's passed deadline
            raise StorageError(
                f"tablestore {operation} transport error: {type(exc).__name__}",
                transient=True,
                code="TransportError",
                maybe_sent=True,
            ) from None

    def _update(
        self, merchant_biz_id: str, columns: dict[str, list[Any]], condition: Any, *, table: str | None = None,
        key: list[tuple[str, Any]] | None = None,
    ) -> bool:
        row = self._ots.Row(key or self._pk(merchant_biz_id), columns)
        try:
            self._call("UpdateRow", "update_row", table or self._table, row, condition)
        except _ConditionFailed:
            return False
        return True

    # --- TransactionStore: writes ---------------------------------------------------------------------------

    def create(self, record: TransactionRecord) -> None:
        ots = self._ots
        key, attributes = table_row(record)
        row = ots.Row(key, list(attributes.items()))
        condition = ots.Condition(ots.RowExistenceExpectation.EXPECT_NOT_EXIST)
        try:
            self._call("PutRow", "put_row", self._table, row, condition)
        except _ConditionFailed:
            raise RecordExists() from None

    def get(self, merchant_biz_id: str) -> TransactionRecord | None:
        row = self._get_row(merchant_biz_id)
        return None if row is None else _record(row)

    def _get_row(self, merchant_biz_id: str) -> Any:
        _, row, _ = self._call("GetRow", "get_row", self._table, self._pk(merchant_biz_id), max_version=1)
        return row if row is not None and getattr(row, "primary_key", None) else None

    def _marked_write_landed(
        self, merchant_biz_id: str, values: Mapping[str, Any], mark: str = FINAL_WRITE
    ) -> tuple[bool, Any]:
        """After a marked write (``finalize``, ``mark_abandoned``: ``FINAL_WRITE``; ``record_check``:
        ``CHECK_WRITE``) failed its condition: whether the row holds that very write (its mark), and the row read.
        The SDK re-sends a write answered busy (OTSServerBusy...), and the copy of an applied conditional write fails
        its condition against the write it repeats; a rival's write carries its own mark."""
        row = self._get_row(merchant_biz_id)
        return row is not None and _columns(row).get(mark) == values[mark], row

    def finalize(
        self,
        merchant_biz_id: str,
        *,
        status: str,
        passed: str | None,
        sub_code: str | None,
        result_key: str | None,
        identity_masked: dict[str, Any] | None,
        result_version: int,
        now: float,
        face: dict[str, Any] | None = None,
    ) -> bool:
        status = verdict(status)
        values: dict[str, Any] = {
            "status": status.value,
            "passed": passed,
            "sub_code": sub_code,
            "result_key": result_key,
            "identity_masked": jsonutil.dumps_str(identity_masked) if identity_masked is not None else None,
            "face": jsonutil.dumps_str(face) if face is not None else None,
            "result_version": int(result_version),
            "finalized_at": float(now),
            "updated_at": float(now),
            "notification_enqueued": False,
            "notified_at": None,  # a late verdict's own notification is yet to come, not the abandonment's
            "next_check_at": None,
            "error": None,
            DUE_KIND: DueKind.OUTBOX.value,
            DUE_MS: to_ms(now),
            FINAL_WRITE: secrets.token_hex(8),
        }
        # The usual case, one write: the row is PENDING. Else, if it is ABANDONED, a second write (an ABANDONED row
        # never changes its finalized_at) stamps the verdict after the abandonment it replaces.
        pending = self._expect_exist(self._eq(STATUS, Status.PENDING.value))
        if self._update(merchant_biz_id, _put_delete(values), pending):
            return True
        landed, row = self._marked_write_landed(merchant_biz_id, values)
        current = None if row is None else _record(row)
        if landed or current is None or current.status is not Status.ABANDONED:
            return landed
        values["finalized_at"] = finalized_at_over_abandoned(current.finalized_at, now)
        condition = self._expect_exist(self._eq(STATUS, Status.ABANDONED.value))
        return self._update(merchant_biz_id, _put_delete(values), condition) or (
            self._marked_write_landed(merchant_biz_id, values)[0]
        )

    def mark_abandoned(self, merchant_biz_id: str, now: float) -> bool:
        values: dict[str, Any] = {
            "status": Status.ABANDONED.value,
            "finalized_at": float(now),
            "updated_at": float(now),
            "notification_enqueued": False,
            "next_check_at": None,
            DUE_KIND: DueKind.OUTBOX.value,
            DUE_MS: to_ms(now),
            FINAL_WRITE: secrets.token_hex(8),
        }
        condition = self._expect_exist(self._eq(STATUS, Status.PENDING.value))
        return self._update(merchant_biz_id, _put_delete(values), condition) or (
            self._marked_write_landed(merchant_biz_id, values)[0]
        )

    def mark_erased(self, merchant_biz_id: str, now: float) -> bool:
        # Idempotent (an ERASED row passes the condition), so a write the SDK re-sends needs no mark.
        values: dict[str, Any] = {
            "status": Status.ERASED.value,
            "updated_at": float(now),
            "transaction_url": None,
            "request_fingerprint": None,
            "doc_type": "",  # an eKYC_PRO code names the issuing country: the person's, likely (review bc)
            "next_check_at": None,
            "error": None,
            "notification_enqueued": True,
            DUE_KIND: DueKind.ERASURE.value,
            DUE_MS: to_ms(now),
        }
        condition = self._expect_exist(self._any_status(ERASABLE_IN_PLACE))
        return self._update(merchant_biz_id, _put_delete(values), condition)

    def set_erasure_due(self, merchant_biz_id: str, at: float) -> bool:
        columns = {"put": [(DUE_KIND, DueKind.ERASURE.value), (DUE_MS, to_ms(at))]}
        return self._update(merchant_biz_id, columns, self._expect_exist(self._eq(STATUS, Status.ERASED.value)))

    def record_check(
        self,
        merchant_biz_id: str,
        *,
        now: float,
        next_check_at: float | None,
        error: str | None = None,
        recheck_attempt: int | None = None,
    ) -> bool:
        for _ in range(RECORD_CHECK_ATTEMPTS):
            current = self.get(merchant_biz_id)
            if current is None or current.status is not Status.PENDING:
                return False
            if recheck_attempt is not None and current.recheck_attempt >= recheck_attempt:
                return False  # that re-check, or a later one, is recorded already: it never goes back
            kind, at = (DueKind.NEW, current.created_at) if next_check_at is None else (DueKind.CHECK, next_check_at)
            values: dict[str, Any] = {
                "check_count": current.check_count + 1,
                "next_check_at": None if next_check_at is None else float(next_check_at),
                "error": error,
                "updated_at": float(now),
                DUE_KIND: kind.value,
                DUE_MS: to_ms(at),
                CHECK_WRITE: secrets.token_hex(8),
            }
            if recheck_attempt is not None:
                values["recheck_attempt"] = int(recheck_attempt)
            # Every write of ``recheck_attempt`` is one of these, which all bump ``check_count``: the count read
            # pins the attempt read too, so the test above holds when the write lands.
            condition = self._expect_exist(
                self._all(self._eq(STATUS, Status.PENDING.value), self._eq("check_count", current.check_count))
            )
            if self._update(merchant_biz_id, _put_delete(values), condition) or (
                self._marked_write_landed(merchant_biz_id, values, CHECK_WRITE)[0]
            ):
                return True
        raise StorageError("tablestore record_check kept conflicting", transient=True, code="Conflict")

    def mark_notification_enqueued(
        self, merchant_biz_id: str, status: str, *, vendor_copy_pending: bool = True, now: float | None = None
    ) -> None:
        status = Status(status)
        flag: dict[str, list[Any]] = {"put": [("notification_enqueued", True)]}
        if now is not None:
            flag["put"].append(("notified_at", float(now)))
        if status in TERMINAL and not (vendor_copy_pending and status.is_verdict):
            flag["delete_all"] = [DUE_KIND, DUE_MS]  # nothing else is owed: the row stops being due
        self._update(merchant_biz_id, flag, self._expect_exist(self._eq(STATUS, status.value)))

    def mark_vendor_copy_deleted(self, merchant_biz_id: str) -> None:
        flag: dict[str, list[Any]] = {"put": [("vendor_copy_deleted", True)]}
        settled = self._all(self._eq("notification_enqueued", True), self._any_status(VERDICTS))
        if self._update(merchant_biz_id, {**flag, "delete_all": [DUE_KIND, DUE_MS]}, self._expect_exist(settled)):
            return
        self._update(merchant_biz_id, flag, self._expect_exist())

    def set_outbox_due(self, merchant_biz_id: str, status: str, at: float | None) -> bool:
        status = Status(status)
        if status not in TERMINAL:
            raise ValueError("only an announced-final row has an outbox")
        columns = (
            {"delete_all": [DUE_KIND, DUE_MS]}
            if at is None
            else {"put": [(DUE_KIND, DueKind.OUTBOX.value), (DUE_MS, to_ms(at))]}
        )
        return self._update(merchant_biz_id, columns, self._expect_exist(self._eq(STATUS, status.value)))

    def delete(self, merchant_biz_id: str) -> None:
        ots = self._ots
        row = ots.Row(self._pk(merchant_biz_id))
        self._call("DeleteRow", "delete_row", self._table, row, ots.Condition(ots.RowExistenceExpectation.IGNORE))

    def delete_unchanged(self, merchant_biz_id: str, *, status: str, updated_at: float) -> bool:
        row = self._ots.Row(self._pk(merchant_biz_id))
        unchanged = self._all(
            self._eq(STATUS, Status(status).value),
            self._eq("updated_at", float(updated_at)),
            self._eq("notification_enqueued", True),
        )
        try:
            self._call("DeleteRow", "delete_row", self._table, row, self._expect_exist(unchanged))
        except _ConditionFailed:
            return False
        return True

    # --- TransactionStore: queries --------------------------------------------------------------------------

    def _index_keys(
        self, index: str, start: list[tuple[str, Any]], end: list[tuple[str, Any]], *, limit: int,
        backward: bool = False, column_filter: Any = None, columns: list[str] | None = None,
    ) -> Iterator[tuple[list[tuple[str, Any]] | None, dict[str, Any], list[tuple[str, Any]] | None]]:
        """Index rows of ``[start, end)`` in key order, at most ``MAX_RANGE_CALLS_PER_PAGE`` calls: yields
        ``(index key, attributes, the key the range would continue at)``; the last one's continuation is None when
        the range is exhausted. A call that found no row but did not reach the end (a ``column_filter`` left out
        every row it scanned: a GetRange reads at most 5000 rows, "GetRange") yields ``(None, {}, where it would
        continue)``: the caller's place moves past the rows it scanned even when none of them matched."""
        ots = self._ots
        direction = ots.Direction.BACKWARD if backward else ots.Direction.FORWARD
        for _ in range(MAX_RANGE_CALLS_PER_PAGE):
            _, next_start, rows, _ = self._call(
                "GetRange",
                "get_range",
                index,
                direction,
                start,
                end,
                columns_to_get=columns,
                limit=limit,
                column_filter=column_filter,
                max_version=1,
            )
            rows = list(rows or [])
            for position, row in enumerate(rows):
                key = list(row.primary_key)
                attributes = {c[0]: c[1] for c in row.attribute_columns or []}
                following = list(rows[position + 1].primary_key) if position + 1 < len(rows) else next_start
                yield key, attributes, (list(following) if following else None)
            if not rows and next_start:
                yield None, {}, list(next_start)
            if not next_start:
                return
            start = list(next_start)
        return

    def _rows(self, keys: list[str]) -> dict[str, Any]:
        """The data-table rows of ``keys`` that exist now, by key (BatchGetRow, 100 keys a call)."""
        ots = self._ots
        found: dict[str, Any] = {}
        for first in range(0, len(keys), BATCH_GET_MAX_ROWS):
            request = ots.BatchGetRowRequest()
            request.add(
                ots.TableInBatchGetRowItem(
                    self._table, [self._pk(k) for k in keys[first : first + BATCH_GET_MAX_ROWS]], max_version=1
                )
            )
            answer = self._call("BatchGetRow", "batch_get_row", request)
            for item in answer.get_result_by_table(self._table) or []:
                if not item.is_ok:
                    raise StorageError(
                        f"tablestore BatchGetRow failed: {item.error_code}", transient=True, code=str(item.error_code)
                    )
                if item.row is not None and item.row.primary_key:
                    found[str(item.row.primary_key[0][1])] = item.row
        return found

    def _page(
        self, index: str, start: list[tuple[str, Any]], end: list[tuple[str, Any]], limit: int,
        still_matches: Callable[[Any], bool], *, backward: bool = False, column_filter: Any = None,
        columns: list[str] | None = None,
    ) -> Page:
        """Up to ``limit`` rows whose index keys lie in ``[start, end)``, re-read from the data table; keys whose
        row is gone or ``still_matches`` rejects (the index lagging the table) are skipped."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        keys: list[str] = []
        cursor: list[tuple[str, Any]] | None = None
        for key, _, following in self._index_keys(
            index, start, end, limit=limit, backward=backward, column_filter=column_filter, columns=columns
        ):
            cursor = following
            if key is None:
                continue
            keys.append(str(dict(key)[PK]))
            if len(keys) >= limit:
                break
        rows = self._rows(keys)
        records = [_record(rows[k]) for k in keys if k in rows and still_matches(rows[k])]
        return records, (_encode_cursor(cursor) if cursor else None)

    def _start(self, cursor: str | None, default: list[tuple[str, Any]], names: tuple[str, ...]) -> list[Any]:
        if cursor is None:
            return default
        values = _decode_cursor(cursor)
        if len(values) != len(names):
            raise ValueError("cursor is not one this store returned")
        return list(zip(names, values, strict=True))

    def due(self, kind: DueKind, before: float, *, limit: int = 100, cursor: str | None = None) -> Page:
        ots = self._ots
        kind = DueKind(kind)
        names = (DUE_KIND, DUE_MS, PK)
        start = self._start(cursor, [(DUE_KIND, kind.value), (DUE_MS, ots.INF_MIN), (PK, ots.INF_MIN)], names)
        cutoff = to_ms(before)
        end = [(DUE_KIND, kind.value), (DUE_MS, cutoff + 1), (PK, ots.INF_MIN)]  # due_ms <= cutoff

        def still_due(row: Any) -> bool:
            columns = _columns(row)
            return columns.get(DUE_KIND) == kind.value and int(columns.get(DUE_MS, cutoff + 1)) <= cutoff

        return self._page(self._schema.due_index, start, end, limit, still_due)

    def list_by_user(self, merchant_user_id: str, *, limit: int = 100, cursor: str | None = None) -> Page:
        ots = self._ots
        names = (MERCHANT_USER_ID, CREATED_MS, PK)
        start = self._start(
            cursor, [(MERCHANT_USER_ID, merchant_user_id), (CREATED_MS, ots.INF_MIN), (PK, ots.INF_MIN)], names
        )
        end = [(MERCHANT_USER_ID, merchant_user_id), (CREATED_MS, ots.INF_MAX), (PK, ots.INF_MAX)]

        def still_theirs(row: Any) -> bool:
            return _columns(row).get(MERCHANT_USER_ID) == merchant_user_id

        return self._page(self._schema.by_user_index, start, end, limit, still_theirs)

    def _time_range(
        self, since: float | None, until: float | None, backward: bool
    ) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
        ots = self._ots
        low = [(CREATED_MS, ots.INF_MIN if since is None else to_ms(since)), (PK, ots.INF_MIN)]
        high = [(CREATED_MS, ots.INF_MAX if until is None else to_ms(until)), (PK, ots.INF_MIN)]
        return (high, low) if backward else (low, high)

    def list_created(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        status: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
        newest_first: bool = False,
    ) -> Page:
        wanted = None if status is None else Status(status).value
        start, end = self._time_range(since, until, newest_first)
        start = self._start(cursor, start, (CREATED_MS, PK))
        # The index carries ``status``: a filter on it keeps other statuses out of the page (their index rows are
        # still read, and billed: "Filter" — filters do not reduce the rows a range reads).
        column_filter = None if wanted is None else self._eq(STATUS, wanted)

        def still_matches(row: Any) -> bool:
            return wanted is None or _columns(row).get(STATUS) == wanted

        return self._page(
            self._schema.by_time_index, start, end, limit, still_matches, backward=newest_first,
            column_filter=column_filter, columns=[STATUS],
        )

    def count_created(self, *, since: float | None = None, until: float | None = None) -> dict[str, int]:
        start, end = self._time_range(since, until, False)
        counts: dict[str, int] = {}
        while True:
            last: list[tuple[str, Any]] | None = None
            for key, attributes, following in self._index_keys(
                self._schema.by_time_index, start, end, limit=5000, columns=[STATUS]
            ):
                last = following
                if key is not None:
                    status = str(attributes.get(STATUS, ""))
                    counts[status] = counts.get(status, 0) + 1
            if last is None:
                return counts
            start = last

    # --- migration ------------------------------------------------------------------------------------------

    def ensure_tables(self, *, create: bool = True) -> SchemaReport:
        """``tablestore_schema.ensure_tables`` with this store's client and table (``./scripts/kyc setup-tables``);
        the SDK's errors become ``StorageError``."""
        report: SchemaReport = self._guarded(
            "CreateTable" if create else "DescribeTable",
            lambda: ensure_tables(_EachCall(self._client, self._one_call), self._table, create=create),
            one_call=False,
        )
        return report

    def check_schema(self) -> SchemaReport:
        """The deployed tables and indexes against their one definition (``ensure_tables(create=False)``:
        ListTable and DescribeTable only, nothing created or changed); ``StorageError`` with the service's code.
        Used by ``kyc doctor``; the functions never call it."""
        return self.ensure_tables(create=False)

    def backfill_index_columns(self) -> dict[str, int]:
        """Give rows written before the indexes existed their index columns (``created_ms``, and the due of
        ``due_on_create`` where they have none), and delete the old rate-limit slot rows (status ``RATE_SLOT``).

        The one whole-table pass in this module: an operator's one-time migration (``./scripts/kyc setup-tables
        --backfill``), never a request or a timer. Each row is written under the condition that ``updated_at`` still
        holds what was read (a row changed meanwhile is skipped: a later run picks it up). Idempotent."""
        ots = self._ots
        counts = {"read": 0, "updated": 0, "deleted": 0, "skipped": 0}
        start: list[tuple[str, Any]] = [(PK, ots.INF_MIN)]
        while True:
            _, next_start, rows, _ = self._call(
                "GetRange", "get_range", self._table, ots.Direction.FORWARD, start, [(PK, ots.INF_MAX)],
                max_version=1,
            )
            for row in rows or []:
                counts["read"] += 1
                columns = _columns(row)
                mbid = str(row.primary_key[0][1])
                if columns.get(STATUS) == Status.RATE_SLOT.value:
                    self.delete(mbid)
                    counts["deleted"] += 1
                    continue
                if CREATED_MS in columns or "updated_at" not in columns:
                    continue  # written (or backfilled) since the indexes exist: its columns are kept by its writes
                record = _record(row)
                _, wanted = table_row(record)
                put = [(CREATED_MS, wanted[CREATED_MS])]
                if DUE_KIND not in columns and DUE_KIND in wanted:
                    put += [(DUE_KIND, wanted[DUE_KIND]), (DUE_MS, wanted[DUE_MS])]
                unchanged = self._expect_exist(self._eq("updated_at", columns["updated_at"]))
                counts["updated" if self._update(mbid, {"put": put}, unchanged) else "skipped"] += 1
            if not next_start:
                return counts
            start = list(next_start)

    # --- rate-limit counters ---------------------------------------------------------------------------------

    def _rate_key(self, key: str) -> list[tuple[str, Any]]:
        return [(RATE_KEY, key)]

    def increment_rate_counter(
        self, key: str, limit: int, expires_at: float, *, another_round: Callable[[], bool] | None = None
    ) -> bool:
        """Read the counter, then write it back one higher under the condition that it still holds what was read
        (its count and its writes' marks; created with ``EXPECT_NOT_EXIST`` the first time): exact, like a
        compare-and-swap, at 1 read + 1 write. A lost race is retried (``RATE_ATTEMPTS`` rounds at most) while
        ``another_round`` allows; then :class:`OutOfTime` (all rounds used: a transient ``StorageError``
        ``Conflict``). Whenever a write failed and may have been applied all the same (it lost its condition to the
        SDK's re-sent copy of itself, or no answer or a 5xx came), a read first says whether it was
        (:func:`_own_write`): yes is done, unknown is a transient ``StorageError`` (``Conflict``), never a second
        count. The table's TTL forgets old windows (``tablestore_schema.RATE_TTL_SECONDS``)."""
        if limit < 1:
            return False
        ots = self._ots
        table = self._schema.rate_table
        mark = secrets.token_hex(8)
        attempted: tuple[str, ...] | None = None  # the marks this call's last failed write was conditioned on
        for attempt in range(RATE_ATTEMPTS):
            if attempt and another_round is not None and not another_round():
                # Not another round, but its read: whether the last write was applied (a count must not stand
                # behind a refusal that says nothing was counted; found by review gg).
                if attempted is not None and _own_write(self._read_counter(key), attempted, mark):
                    return True
                raise OutOfTime("tablestore rate counter: no time for another round")
            counter = self._read_counter(key)
            if attempted is not None and _own_write(counter, attempted, mark):
                return True
            count = None if counter is None else counter[0]
            if count is not None and count >= limit:
                return False
            attempted = () if counter is None else counter[1]
            try:
                if counter is None:
                    values = [(RATE_COUNT, 1), (RATE_EXPIRES_AT, float(expires_at)), (RATE_WRITES, mark)]
                    condition = ots.Condition(ots.RowExistenceExpectation.EXPECT_NOT_EXIST)
                    try:
                        self._call("PutRow", "put_row", table, ots.Row(self._rate_key(key), values), condition)
                        return True
                    except _ConditionFailed:
                        continue
                if self._write_counter(key, counter, counter[0] + 1, mark, [(RATE_EXPIRES_AT, float(expires_at))]):
                    return True
            except StorageError as exc:
                # A write that may have been applied (no answer, a 5xx): a count must not stand behind the error
                # unseen; the read says whether it does (found by review ii).
                if exc.maybe_sent and _own_write(self._read_counter(key), attempted, mark):
                    return True
                raise
        if attempted is not None and _own_write(self._read_counter(key), attempted, mark):  # as above (review hh)
            return True
        raise StorageError("tablestore rate counter kept conflicting", transient=True, code="Conflict")

    def decrement_rate_counter(self, key: str, *, another_round: Callable[[], bool] | None = None) -> None:
        """As :meth:`increment_rate_counter`, one lower, never below zero."""
        mark = secrets.token_hex(8)
        attempted: tuple[str, ...] | None = None
        for attempt in range(RATE_ATTEMPTS):
            if attempt and another_round is not None and not another_round():
                raise OutOfTime("tablestore rate counter: no time for another round")
            counter = self._read_counter(key)
            if attempted is not None and _own_write(counter, attempted, mark):
                return
            if counter is None or counter[0] <= 0:
                return
            if self._write_counter(key, counter, counter[0] - 1, mark, []):
                return
            attempted = counter[1]
        raise StorageError("tablestore rate counter kept conflicting", transient=True, code="Conflict")

    def _read_counter(self, key: str) -> tuple[int, tuple[str, ...], str | None] | None:
        """The counter ``key``: its count, its last writes' marks and the column holding them as read (None: a row
        written before marks); None when there is no row."""
        _, row, _ = self._call("GetRow", "get_row", self._schema.rate_table, self._rate_key(key), max_version=1)
        if row is None or not row.primary_key:
            return None
        columns = _columns(row)
        marks = columns.get(RATE_WRITES)
        return int(columns.get(RATE_COUNT, 0)), tuple(marks.split()) if marks else (), marks

    def _write_counter(
        self, key: str, counter: tuple[int, tuple[str, ...], str | None], count: int, mark: str,
        more: list[tuple[str, Any]],
    ) -> bool:
        """Write ``count`` (and ``more``) over ``counter`` as read, with ``mark`` added to its marks, under the
        condition that the row still holds that count and those marks; False when it does not."""
        read_count, marks, column = counter
        ots = self._ots
        unchanged = [self._eq(RATE_COUNT, read_count)]
        if column is None:  # a row written before marks: the condition that it still has none
            unchanged.append(ots.SingleColumnCondition(RATE_WRITES, "", ots.ComparatorType.EQUAL, pass_if_missing=True))
        else:
            unchanged.append(self._eq(RATE_WRITES, column))
        written = " ".join((*marks, mark)[-RATE_WRITES_KEPT:])
        return self._update(
            key, {"put": [(RATE_COUNT, count), *more, (RATE_WRITES, written)]},
            self._expect_exist(self._all(*unchanged)), table=self._schema.rate_table, key=self._rate_key(key),
        )

    def take_claim(
        self, key: str, holder: str, expires_at: float, now: float, *, another_round: Callable[[], bool] | None = None
    ) -> bool:
        """Read the claim; when it is free (missing, given back, expired), write ``holder`` into it under the
        condition that it still holds what was read (``EXPECT_NOT_EXIST`` when missing): 1 read + 1 write. A lost
        race is read again (``RATE_ATTEMPTS`` rounds at most) while ``another_round`` allows; then
        :class:`OutOfTime`. A claim read back as ``holder``'s is taken: the SDK re-sends a write answered busy,
        and the copy loses its condition to the write it repeats."""
        ots = self._ots
        table = self._schema.rate_table
        values = [(RATE_COUNT, 1), (RATE_EXPIRES_AT, float(expires_at)), (RATE_HOLDER, holder)]
        for attempt in range(RATE_ATTEMPTS):
            if attempt and another_round is not None and not another_round():
                raise OutOfTime("tablestore claim: no time for another round")
            _, row, _ = self._call("GetRow", "get_row", table, self._rate_key(key), max_version=1)
            if row is None or not row.primary_key:
                try:
                    self._call("PutRow", "put_row", table, ots.Row(self._rate_key(key), values),
                               ots.Condition(ots.RowExistenceExpectation.EXPECT_NOT_EXIST))  # fmt: skip
                    return True
                except _ConditionFailed:
                    continue
            columns = _columns(row)
            count, held_until = int(columns.get(RATE_COUNT, 0)), columns.get(RATE_EXPIRES_AT)
            if count >= 1 and columns.get(RATE_HOLDER) == holder:
                # This call's own write, applied although its answer was not: the SDK re-sent it after a busy
                # answer and the copy failed its condition (found by review z). A holder is this start's alone.
                return True
            if count >= 1 and held_until is not None and float(held_until) > now:
                return False
            unchanged = [self._eq(RATE_COUNT, count)]
            if held_until is not None:
                unchanged.append(self._eq(RATE_EXPIRES_AT, held_until))
            if self._update(key, {"put": values}, self._expect_exist(self._all(*unchanged)), table=table,
                            key=self._rate_key(key)):
                return True
        raise StorageError("tablestore claim kept conflicting", transient=True, code="Conflict")

    def give_back_claim(self, key: str, holder: str) -> bool:
        held = self._all(self._eq(RATE_HOLDER, holder), self._eq(RATE_COUNT, 1))
        try:
            self._call("DeleteRow", "delete_row", self._schema.rate_table, self._ots.Row(self._rate_key(key)),
                       self._expect_exist(held))
        except _ConditionFailed:
            return False
        return True

    def expire_rate_counters(self, now: float, limit: int) -> int:
        """Nothing to do: the rate table's TTL expires old counters (no scan)."""
        del now, limit
        return 0


def _own_write(counter: tuple[int, tuple[str, ...], str | None] | None, attempted: tuple[str, ...], mark: str) -> bool:
    """Whether this call's write (``mark``), which failed its condition over the marks ``attempted``, was applied
    all the same (the SDK re-sent it after a busy answer). Only one write can succeed over those marks, and it
    appends its mark right after them: when the last of them, or (none) a list never cut, is still in the counter's
    marks, that write's mark is there too. Raises a transient ``StorageError`` when later writes pushed it out."""
    marks = () if counter is None else counter[1]
    if mark in marks:
        return True
    if (attempted[-1] in marks) if attempted else (counter is not None and len(marks) < RATE_WRITES_KEPT):
        return False
    raise StorageError("tablestore rate counter: whether this call's write was applied is unknown", transient=True,
                       code="Conflict")


class _ConditionFailed(Exception):
    pass


@contextmanager
def _no_call() -> Iterator[None]:
    yield


class _EachCall:
    """``client`` whose every method call runs as one call of its own (``one_call()``): each request of a sequence
    of schema calls gets its own deadline, not one for all of them."""

    def __init__(self, client: Any, one_call: Callable[[], AbstractContextManager[None]]) -> None:
        self._client = client
        self._one_call = one_call

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._one_call():
                return method(*args, **kwargs)

        return call


def table_row(record: TransactionRecord) -> tuple[list[tuple[str, Any]], dict[str, Any]]:
    """The primary key and attribute columns ``create`` writes for ``record`` (also what a bulk load must write):
    the record's columns, ``created_ms`` and the due of a new row."""
    attributes: dict[str, Any] = {k: v for k, v in record.to_item().items() if k != PK}
    attributes[CREATED_MS] = to_ms(record.created_at)
    due = due_on_create(record)
    if due is not None:
        attributes[DUE_KIND], attributes[DUE_MS] = due[0].value, to_ms(due[1])
    return [(PK, record.merchant_biz_id)], attributes


def _put_delete(values: dict[str, Any]) -> dict[str, list[Any]]:
    """``update_row`` columns: ``put`` for values, ``delete_all`` for fields set to None."""
    columns: dict[str, list[Any]] = {"put": [(k, v) for k, v in values.items() if v is not None]}
    removed = [k for k, v in values.items() if v is None]
    if removed:
        columns["delete_all"] = removed
    return columns


def _columns(row: Any) -> dict[str, Any]:
    return {column[0]: column[1] for column in (row.attribute_columns or [])}


def _record(row: Any) -> TransactionRecord:
    item: dict[str, Any] = {name: value for name, value, *_ in (row.primary_key or [])}
    item.update(_columns(row))
    return TransactionRecord.from_item(item)


def _encode_cursor(key: list[tuple[str, Any]]) -> str:
    """An index position as text: the values of its key columns (int or str; never INF_MIN/INF_MAX)."""
    return jsonutil.dumps_str([value for _, value in key])


def _decode_cursor(cursor: str) -> list[Any]:
    try:
        values = jsonutil.loads(cursor)
    except jsonutil.JSONDecodeError:
        raise ValueError("cursor is not one this store returned") from None
    if not isinstance(values, list) or not all(isinstance(v, int | str) and not isinstance(v, bool) for v in values):
        raise ValueError("cursor is not one this store returned")
    return values
