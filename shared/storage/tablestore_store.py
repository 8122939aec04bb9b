"""``TablestoreTransactionStore``: transactions in Alibaba Cloud Tablestore (OTS), via the ``tablestore`` SDK.

The SDK is imported in the constructor (:func:`~shared.storage.tablestore_sdk.import_tablestore`: without its
async client and time-series codecs), never at module import.

Table layout: one primary-key column ``merchant_biz_id`` (STRING); every other field is an attribute column
(``None`` fields are absent; ``identity_masked`` is JSON text). Create the table with encryption at rest on:
it can only be enabled at creation time.

Conditional writes carry the whole state machine:

* ``create``: ``put_row`` with ``Condition(EXPECT_NOT_EXIST)``.
* ``finalize``: ``update_row`` with ``Condition(EXPECT_EXIST, status == PENDING OR status == ABANDONED)``
  (``pass_if_missing=False``: the SDK's default of True would let a row without ``status`` pass).
* ``mark_abandoned``: ``Condition(EXPECT_EXIST, status == PENDING)``.
* ``record_check``: read, then ``Condition(EXPECT_EXIST, status == PENDING AND check_count == <read value>)``;
  retried on conflict (optimistic concurrency instead of the increment op, so the condition stays exact).
* flag updates use ``EXPECT_EXIST`` so they never create a phantom row.

``OTSConditionCheckFail`` turns into ``False`` / ``RecordExists`` / a no-op; every other failure is a
``StorageError`` with ``transient`` set for throttling, busy and 5xx answers and for transport errors.

Scans (``scan``, ``find_by_user``, ``count_created_by_user_since``) are ``get_range`` over the whole table with
a column filter: fine for the sweeper and operators at modest volume, but they read every row. The scalable
option is a secondary index (or a search index) on ``(merchant_user_id, created_at)`` and ``(status, created_at)``.
"""

from __future__ import annotations

from typing import Any

from shared import jsonutil
from shared.signing import Credentials
from shared.status import FINALIZABLE, Status, verdict

from .errors import RecordExists, StorageError
from .records import TransactionRecord
from .tablestore_sdk import import_tablestore

PK = "merchant_biz_id"
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
#: get_range calls per ``scan`` page; a page may hold fewer than ``limit`` rows while the cursor is not None.
MAX_RANGE_CALLS_PER_PAGE = 20
RECORD_CHECK_ATTEMPTS = 5
DEFAULT_TIMEOUT_SECONDS = 10.0


class TablestoreTransactionStore:
    def __init__(
        self,
        *,
        table: str,
        endpoint: str | None = None,
        instance: str | None = None,
        credentials: Credentials | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        client: Any = None,
    ) -> None:
        """Pass ``client`` (anything with the ``OTSClient`` methods) or ``endpoint``/``instance``/``credentials``."""
        tablestore = import_tablestore()  # only when this backend is used

        self._ots: Any = tablestore
        self._table = table
        if client is None:
            if not (endpoint and instance and credentials):
                raise ValueError("endpoint, instance and credentials are required without a client")
            client = tablestore.OTSClient(
                endpoint,
                credentials.access_key_id,
                credentials.access_key_secret,
                instance,
                sts_token=credentials.security_token,
                socket_timeout=timeout,
                logger_name="kyc.tablestore",
            )
        self._client: Any = client

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

    def _expect_exist(self, column_condition: Any = None) -> Any:
        ots = self._ots
        return ots.Condition(ots.RowExistenceExpectation.EXPECT_EXIST, column_condition)

    def _pk(self, merchant_biz_id: str) -> list[tuple[str, Any]]:
        return [(PK, merchant_biz_id)]

    # --- calls --------------------------------------------------------------------------------------------

    def _call(self, operation: str, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self._client, method)(*args, **kwargs)
        except self._ots.OTSServiceError as exc:
            if exc.code == CONDITION_CHECK_FAIL:
                raise _ConditionFailed() from None
            status = exc.http_status if isinstance(exc.http_status, int) else None
            transient = exc.code in TRANSIENT_CODES or (status is not None and (status >= 500 or status == 429))
            raise StorageError(
                f"tablestore {operation} failed: {exc.code}",
                transient=transient,
                code=str(exc.code),
                status=status,
                request_id=exc.request_id or None,
            ) from None
        except self._ots.OTSClientError:
            raise StorageError(f"tablestore {operation} rejected by the client", code="OTSClientError") from None
        except Exception as exc:  # transport: connection refused, timeouts (urllib3 / socket)
            raise StorageError(
                f"tablestore {operation} transport error: {type(exc).__name__}",
                transient=True,
                code="TransportError",
                maybe_sent=True,
            ) from None

    def _update(self, operation: str, merchant_biz_id: str, columns: dict[str, list[Any]], condition: Any) -> bool:
        row = self._ots.Row(self._pk(merchant_biz_id), columns)
        try:
            self._call(operation, "update_row", self._table, row, condition)
        except _ConditionFailed:
            return False
        return True

    # --- TransactionStore -------------------------------------------------------------------------------

    def create(self, record: TransactionRecord) -> None:
        ots = self._ots
        item = record.to_item()
        attributes = [(k, v) for k, v in item.items() if k != PK]
        row = ots.Row(self._pk(record.merchant_biz_id), attributes)
        condition = ots.Condition(ots.RowExistenceExpectation.EXPECT_NOT_EXIST)
        try:
            self._call("PutRow", "put_row", self._table, row, condition)
        except _ConditionFailed:
            raise RecordExists() from None

    def get(self, merchant_biz_id: str) -> TransactionRecord | None:
        _, row, _ = self._call("GetRow", "get_row", self._table, self._pk(merchant_biz_id), max_version=1)
        if row is None or not getattr(row, "primary_key", None):
            return None
        return _record(row)

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
            "next_check_at": None,
            "error": None,
        }
        condition = self._expect_exist(
            self._combine(self._ots.LogicalOperator.OR, [self._eq("status", s.value) for s in FINALIZABLE])
        )
        return self._update("UpdateRow", merchant_biz_id, _put_delete(values), condition)

    def mark_abandoned(self, merchant_biz_id: str, now: float) -> bool:
        values: dict[str, Any] = {
            "status": Status.ABANDONED.value,
            "finalized_at": float(now),
            "updated_at": float(now),
            "notification_enqueued": False,
            "next_check_at": None,
        }
        condition = self._expect_exist(self._eq("status", Status.PENDING.value))
        return self._update("UpdateRow", merchant_biz_id, _put_delete(values), condition)

    def record_check(
        self, merchant_biz_id: str, *, now: float, next_check_at: float | None, error: str | None = None
    ) -> None:
        for _ in range(RECORD_CHECK_ATTEMPTS):
            current = self.get(merchant_biz_id)
            if current is None or current.status is not Status.PENDING:
                return
            values: dict[str, Any] = {
                "check_count": current.check_count + 1,
                "next_check_at": None if next_check_at is None else float(next_check_at),
                "error": error,
                "updated_at": float(now),
            }
            condition = self._expect_exist(
                self._combine(
                    self._ots.LogicalOperator.AND,
                    [self._eq("status", Status.PENDING.value), self._eq("check_count", current.check_count)],
                )
            )
            if self._update("UpdateRow", merchant_biz_id, _put_delete(values), condition):
                return
        raise StorageError("tablestore record_check kept conflicting", transient=True, code="Conflict")

    def mark_notification_enqueued(self, merchant_biz_id: str, status: str) -> None:
        self._update(
            "UpdateRow",
            merchant_biz_id,
            {"put": [("notification_enqueued", True)]},
            self._expect_exist(self._eq("status", str(status))),
        )

    def mark_vendor_copy_deleted(self, merchant_biz_id: str) -> None:
        self._update("UpdateRow", merchant_biz_id, {"put": [("vendor_copy_deleted", True)]}, self._expect_exist())

    def _range(self, start: str | None, limit: int | None, column_filter: Any) -> tuple[list[Any], str | None]:
        ots = self._ots
        start_pk = [(PK, start if start is not None else ots.INF_MIN)]
        end_pk = [(PK, ots.INF_MAX)]
        _, next_start, rows, _ = self._call(
            "GetRange",
            "get_range",
            self._table,
            ots.Direction.FORWARD,
            start_pk,
            end_pk,
            columns_to_get=None,
            limit=limit,
            column_filter=column_filter,
            max_version=1,
        )
        next_key = next_start[0][1] if next_start else None
        return list(rows or []), next_key

    def _filter(
        self,
        *,
        status: str | None = None,
        merchant_user_id: str | None = None,
        created_before: float | None = None,
        created_after: float | None = None,
    ) -> Any:
        ots = self._ots
        conditions: list[Any] = []
        if status is not None:
            conditions.append(self._eq("status", str(status)))
        if merchant_user_id is not None:
            conditions.append(self._eq("merchant_user_id", merchant_user_id))
        if created_before is not None:
            conditions.append(
                ots.SingleColumnCondition(
                    "created_at", float(created_before), ots.ComparatorType.LESS_THAN, pass_if_missing=False
                )
            )
        if created_after is not None:
            conditions.append(
                ots.SingleColumnCondition(
                    "created_at", float(created_after), ots.ComparatorType.GREATER_EQUAL, pass_if_missing=False
                )
            )
        return self._combine(ots.LogicalOperator.AND, conditions) if conditions else None

    def scan(
        self,
        *,
        status: str | None = None,
        created_before: float | None = None,
        created_after: float | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> tuple[list[TransactionRecord], str | None]:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        column_filter = self._filter(status=status, created_before=created_before, created_after=created_after)
        records: list[TransactionRecord] = []
        start = cursor
        for _ in range(MAX_RANGE_CALLS_PER_PAGE):
            rows, start = self._range(start, limit - len(records), column_filter)
            records.extend(_record(r) for r in rows)
            if start is None or len(records) >= limit:
                break
        return records, start

    def _all(self, column_filter: Any) -> list[TransactionRecord]:
        records: list[TransactionRecord] = []
        start: str | None = None
        while True:
            rows, start = self._range(start, None, column_filter)
            records.extend(_record(r) for r in rows)
            if start is None:
                return records

    def find_by_user(self, merchant_user_id: str) -> list[TransactionRecord]:
        records = self._all(self._filter(merchant_user_id=merchant_user_id))
        return sorted(records, key=lambda r: (r.created_at, r.merchant_biz_id))

    def count_created_by_user_since(self, merchant_user_id: str, since: float) -> int:
        return len(self._all(self._filter(merchant_user_id=merchant_user_id, created_after=since)))

    def delete(self, merchant_biz_id: str) -> None:
        ots = self._ots
        row = ots.Row(self._pk(merchant_biz_id))
        self._call("DeleteRow", "delete_row", self._table, row, ots.Condition(ots.RowExistenceExpectation.IGNORE))


class _ConditionFailed(Exception):
    pass


def _put_delete(values: dict[str, Any]) -> dict[str, list[Any]]:
    """``update_row`` columns: ``put`` for values, ``delete_all`` for fields set to None."""
    columns: dict[str, list[Any]] = {"put": [(k, v) for k, v in values.items() if v is not None]}
    removed = [k for k, v in values.items() if v is None]
    if removed:
        columns["delete_all"] = removed
    return columns


def _record(row: Any) -> TransactionRecord:
    item: dict[str, Any] = {name: value for name, value, *_ in (row.primary_key or [])}
    for column in row.attribute_columns or []:
        item[column[0]] = column[1]
    return TransactionRecord.from_item(item)
