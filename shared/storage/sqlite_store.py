"""``SqliteTransactionStore``: the local backend, safe across threads and processes (WAL + conditional UPDATEs).

Every statement it runs is in ``STATEMENTS`` and every one that reads rows is served by an index (the primary key,
``transactions_due`` — partial: only rows with a due —, ``transactions_user_time``, ``transactions_time``,
``rate_counters_expiry``); ``tests/storage/test_sqlite_query_plans.py`` checks each with ``EXPLAIN QUERY PLAN``.
Rate-limit counters and claims (a counter at 1 with its holder) live in their own table, ``rate_counters``, and the
sweeper deletes expired ones.

Opening a database that is not at ``SCHEMA_VERSION`` (new, from before versions, another release's) sets it up in
one transaction (``_set_up``, idempotent): the tables, the columns added since the first release, the indexes. One
written before dues and counters existed is migrated then: the due columns are added and filled by
``due_on_create`` (the rule every write keeps), the old rate-limit slot rows (status ``RATE_SLOT``) are deleted and
the old indexes replaced. Opening one at ``SCHEMA_VERSION`` runs no DDL (``shared.storage._sqlite``).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable

from shared import jsonutil
from shared.status import ERASABLE_IN_PLACE, FINALIZABLE, TERMINAL, VERDICTS, Status, verdict
from shared.values import fields

from ._sqlite import SqliteDatabase, schema_version
from .due import DueKind, due_on_create
from .errors import RecordExists
from .records import _JSON_COLUMNS, FINALIZED_AFTER_ABANDONED, TransactionRecord

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any, Final

    from .protocols import Page

_COLUMNS = tuple(f.name for f in fields(TransactionRecord))
_JSON_INDEXES = tuple(i for i, name in enumerate(_COLUMNS) if name in _JSON_COLUMNS)
_STATUS_INDEX = _COLUMNS.index("status")
_INSERT_COLUMNS = (*_COLUMNS, "due_kind", "due_at")

_TABLES = (
    """CREATE TABLE IF NOT EXISTS transactions (
    merchant_biz_id TEXT PRIMARY KEY,
    transaction_id TEXT NOT NULL,
    merchant_user_id TEXT NOT NULL,
    doc_type TEXT NOT NULL,
    scene_code TEXT,
    status TEXT NOT NULL,
    passed TEXT,
    sub_code TEXT,
    callback_token_hash TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    finalized_at REAL,
    check_count INTEGER NOT NULL DEFAULT 0,
    next_check_at REAL,
    result_key TEXT,
    identity_masked TEXT,
    notification_enqueued INTEGER NOT NULL DEFAULT 0,
    result_version INTEGER NOT NULL DEFAULT 0,
    vendor_copy_deleted INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    due_kind TEXT,
    due_at REAL,
    product_code TEXT,
    face TEXT,
    recheck_attempt INTEGER NOT NULL DEFAULT 0,
    transaction_url TEXT,
    request_fingerprint TEXT
)""",
    """CREATE TABLE IF NOT EXISTS rate_counters (
    rate_key TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    expires_at REAL NOT NULL,
    holder TEXT
)""",
)
_INDEXES = (
    "DROP INDEX IF EXISTS transactions_by_user",  # replaced: the listing order breaks ties by merchant_biz_id
    "DROP INDEX IF EXISTS transactions_by_status",  # replaced by transactions_due
    "CREATE INDEX IF NOT EXISTS transactions_due ON transactions (due_kind, due_at, merchant_biz_id)"
    " WHERE due_kind IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS transactions_user_time ON transactions (merchant_user_id, created_at, merchant_biz_id)",
    "CREATE INDEX IF NOT EXISTS transactions_time ON transactions (created_at, merchant_biz_id)",
    "CREATE INDEX IF NOT EXISTS rate_counters_expiry ON rate_counters (expires_at)",
)

#: Columns added after the first release, with their tables and declarations: a table created before them gets them
#: when opened.
_ADDED_COLUMNS = (("transactions", "product_code", "TEXT"), ("transactions", "face", "TEXT"),
                  ("transactions", "recheck_attempt", "INTEGER NOT NULL DEFAULT 0"),
                  ("transactions", "transaction_url", "TEXT"), ("transactions", "request_fingerprint", "TEXT"),
                  ("rate_counters", "holder", "TEXT"), ("transactions", "notified_at", "REAL"))
#: The ``PRAGMA user_version`` of a database that holds this schema: an open of one skips ``_set_up``.
SCHEMA_VERSION = schema_version(*_TABLES, *(" ".join(added) for added in _ADDED_COLUMNS), *_INDEXES)

_FINALIZABLE = ", ".join(f"'{s.value}'" for s in FINALIZABLE)
_ERASABLE_IN_PLACE = ", ".join(f"'{s.value}'" for s in ERASABLE_IN_PLACE)
_TERMINAL = ", ".join(f"'{s.value}'" for s in TERMINAL)
_VERDICTS = ", ".join(f"'{s.value}'" for s in VERDICTS)
_OUTBOX = f"'{DueKind.OUTBOX.value}'"
# Nothing left for the outbox once the notification is confirmed, unless the caller says a vendor-copy deletion is
# still to come (``?`` is vendor_copy_pending; an ABANDONED row has no copy to delete).
_SETTLED = f"(? = 0 OR status NOT IN ({_VERDICTS}))"

#: Every statement the store runs, by name (the query-plan test walks them all).
STATEMENTS: Final[dict[str, str]] = {
    "insert": f"INSERT INTO transactions ({', '.join(_INSERT_COLUMNS)})"  # noqa: S608 (fixed fragments)
    f" VALUES ({', '.join('?' for _ in _INSERT_COLUMNS)})",
    "get": "SELECT * FROM transactions WHERE merchant_biz_id = ?",
    "finalize": "UPDATE transactions SET status = ?, passed = ?, sub_code = ?, result_key = ?,"  # noqa: S608
    " identity_masked = ?, face = ?, result_version = ?,"
    # records.finalized_at_over_abandoned, in SQL: a late verdict is stamped after the abandonment it replaces.
    f" finalized_at = CASE WHEN status = '{Status.ABANDONED.value}'"
    f" THEN MAX(?, COALESCE(finalized_at, 0) + {FINALIZED_AFTER_ABANDONED}) ELSE ? END,"
    " updated_at = ?, next_check_at = NULL,"
    f" error = NULL, notification_enqueued = 0, notified_at = NULL, due_kind = {_OUTBOX}, due_at = ?"
    f" WHERE merchant_biz_id = ? AND status IN ({_FINALIZABLE})",
    "mark_abandoned": "UPDATE transactions SET status = ?, finalized_at = ?, updated_at = ?,"  # noqa: S608
    " next_check_at = NULL,"
    f" notification_enqueued = 0, due_kind = {_OUTBOX}, due_at = ? WHERE merchant_biz_id = ? AND status = ?",
    "mark_erased": f"UPDATE transactions SET status = '{Status.ERASED.value}', updated_at = ?,"  # noqa: S608
    " transaction_url = NULL, request_fingerprint = NULL, next_check_at = NULL, error = NULL, doc_type = '',"
    f" notification_enqueued = 1, due_kind = '{DueKind.ERASURE.value}', due_at = ?"
    f" WHERE merchant_biz_id = ? AND status IN ({_ERASABLE_IN_PLACE})",
    "set_erasure_due": f"UPDATE transactions SET due_kind = '{DueKind.ERASURE.value}', due_at = ?"  # noqa: S608
    f" WHERE merchant_biz_id = ? AND status = '{Status.ERASED.value}'",
    # ``recheck_attempt`` only grows: a NULL leaves it (and the condition) alone.
    "record_check": "UPDATE transactions SET check_count = check_count + 1, next_check_at = ?, error = ?,"
    " updated_at = ?, due_kind = ?, due_at = COALESCE(?, created_at), recheck_attempt = COALESCE(?, recheck_attempt)"
    " WHERE merchant_biz_id = ? AND status = ? AND (? IS NULL OR recheck_attempt < ?)",
    "mark_notification_enqueued": "UPDATE transactions SET notification_enqueued = 1,"  # noqa: S608
    " notified_at = COALESCE(?, notified_at),"
    f" due_kind = CASE WHEN status IN ({_TERMINAL}) AND {_SETTLED} THEN NULL ELSE due_kind END,"
    f" due_at = CASE WHEN status IN ({_TERMINAL}) AND {_SETTLED} THEN NULL ELSE due_at END"
    " WHERE merchant_biz_id = ? AND status = ?",
    "mark_vendor_copy_deleted": "UPDATE transactions SET vendor_copy_deleted = 1,"  # noqa: S608
    f" due_kind = CASE WHEN notification_enqueued = 1 AND status IN ({_VERDICTS}) THEN NULL ELSE due_kind END,"
    f" due_at = CASE WHEN notification_enqueued = 1 AND status IN ({_VERDICTS}) THEN NULL ELSE due_at END"
    " WHERE merchant_biz_id = ?",
    "set_outbox_due": "UPDATE transactions SET due_kind = ?, due_at = ? WHERE merchant_biz_id = ? AND status = ?",
    "due": "SELECT * FROM transactions WHERE due_kind = ? AND due_at <= ?"
    " ORDER BY due_at, merchant_biz_id LIMIT ?",
    "due_after": "SELECT * FROM transactions WHERE due_kind = ? AND due_at <= ? AND (due_at, merchant_biz_id) > (?, ?)"
    " ORDER BY due_at, merchant_biz_id LIMIT ?",
    "by_user": "SELECT * FROM transactions WHERE merchant_user_id = ?"
    " ORDER BY created_at, merchant_biz_id LIMIT ?",
    "by_user_after": "SELECT * FROM transactions WHERE merchant_user_id = ? AND (created_at, merchant_biz_id) > (?, ?)"
    " ORDER BY created_at, merchant_biz_id LIMIT ?",
    "created": "SELECT * FROM transactions WHERE created_at >= ? AND created_at < ? AND (? IS NULL OR status = ?)"
    " ORDER BY created_at, merchant_biz_id LIMIT ?",
    # A later page starts its range at the cursor (``created_at >= <cursor's>``), not at ``since``.
    "created_after": "SELECT * FROM transactions WHERE created_at >= ? AND created_at < ?"
    " AND (? IS NULL OR status = ?) AND (created_at, merchant_biz_id) > (?, ?)"
    " ORDER BY created_at, merchant_biz_id LIMIT ?",
    "created_newest": "SELECT * FROM transactions WHERE created_at >= ? AND created_at < ?"
    " AND (? IS NULL OR status = ?) ORDER BY created_at DESC, merchant_biz_id DESC LIMIT ?",
    "created_newest_before": "SELECT * FROM transactions WHERE created_at >= ? AND created_at <= ?"
    " AND (? IS NULL OR status = ?) AND (created_at, merchant_biz_id) < (?, ?)"
    " ORDER BY created_at DESC, merchant_biz_id DESC LIMIT ?",
    "count_created": "SELECT status, COUNT(*) FROM transactions WHERE created_at >= ? AND created_at < ?"
    " GROUP BY status",
    "delete": "DELETE FROM transactions WHERE merchant_biz_id = ?",
    "delete_unchanged": "DELETE FROM transactions WHERE merchant_biz_id = ? AND status = ? AND updated_at = ?"
    " AND notification_enqueued = 1",
    "rate_increment": "INSERT INTO rate_counters (rate_key, count, expires_at) VALUES (?, 1, ?)"
    " ON CONFLICT (rate_key) DO UPDATE SET count = count + 1, expires_at = max(expires_at, excluded.expires_at)"
    " WHERE count < ?",
    "rate_decrement": "UPDATE rate_counters SET count = count - 1 WHERE rate_key = ? AND count > 0",
    # A claim is a counter at 1 with its holder: taken when missing, given back (0) or past its expiry, and held
    # already by this holder (as Tablestore's take reads its own holder back).
    "claim_take": "INSERT INTO rate_counters (rate_key, count, expires_at, holder) VALUES (?, 1, ?, ?)"
    " ON CONFLICT (rate_key) DO UPDATE SET count = 1, expires_at = excluded.expires_at, holder = excluded.holder"
    " WHERE count < 1 OR expires_at <= ? OR holder = excluded.holder",
    "claim_give_back": "DELETE FROM rate_counters WHERE rate_key = ? AND holder = ? AND count > 0",
    "rate_expire": "DELETE FROM rate_counters WHERE rate_key IN"
    " (SELECT rate_key FROM rate_counters WHERE expires_at < ? LIMIT ?)",
}
_INF = float("inf")


class SqliteTransactionStore:
    """Transactions in one SQLite file (``KYC_DATA_DIR/kyc.sqlite3``).

    Every state change is a single conditional ``UPDATE ... WHERE status IN (...)``: SQLite serialises writers,
    so among concurrent finalizers (threads or processes) exactly one sees ``rowcount == 1``. A statement that
    changes what is due sets the due columns in the same ``UPDATE`` (:mod:`shared.storage.due`).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._db = SqliteDatabase(path, SCHEMA_VERSION, _set_up)

    def close(self) -> None:
        self._db.close()

    def create(self, record: TransactionRecord) -> None:
        # Every column, in one constant statement (prepared once, then served by sqlite3's statement cache): a
        # ``None`` binds NULL, which is what leaving the column out gave (only nullable columns can be None).
        values = [getattr(record, name) for name in _COLUMNS]
        for index in _JSON_INDEXES:
            if values[index] is not None:
                values[index] = jsonutil.dumps_str(values[index])
        values[_STATUS_INDEX] = record.status.value
        due = due_on_create(record)
        values += [due[0].value, due[1]] if due is not None else [None, None]
        try:
            self._db.execute(STATEMENTS["insert"], tuple(values))
        except sqlite3.IntegrityError:
            raise RecordExists() from None

    def get(self, merchant_biz_id: str) -> TransactionRecord | None:
        row = self._db.execute(STATEMENTS["get"], (merchant_biz_id,)).fetchone()
        return _record(row) if row is not None else None

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
        identity = jsonutil.dumps_str(identity_masked) if identity_masked is not None else None
        face_text = jsonutil.dumps_str(face) if face is not None else None
        cur = self._db.execute(
            STATEMENTS["finalize"],
            (status.value, passed, sub_code, result_key, identity, face_text, result_version, now, now, now, now,
             merchant_biz_id),
        )
        return cur.rowcount == 1

    def mark_abandoned(self, merchant_biz_id: str, now: float) -> bool:
        cur = self._db.execute(
            STATEMENTS["mark_abandoned"],
            (Status.ABANDONED.value, now, now, now, merchant_biz_id, Status.PENDING.value),
        )
        return cur.rowcount == 1

    def mark_erased(self, merchant_biz_id: str, now: float) -> bool:
        return self._db.execute(STATEMENTS["mark_erased"], (now, now, merchant_biz_id)).rowcount == 1

    def set_erasure_due(self, merchant_biz_id: str, at: float) -> bool:
        return self._db.execute(STATEMENTS["set_erasure_due"], (at, merchant_biz_id)).rowcount == 1

    def record_check(
        self,
        merchant_biz_id: str,
        *,
        now: float,
        next_check_at: float | None,
        error: str | None = None,
        recheck_attempt: int | None = None,
    ) -> bool:
        kind = DueKind.NEW if next_check_at is None else DueKind.CHECK
        attempt = None if recheck_attempt is None else int(recheck_attempt)
        cur = self._db.execute(
            STATEMENTS["record_check"],
            (next_check_at, error, now, kind.value, next_check_at, attempt, merchant_biz_id, Status.PENDING.value,
             attempt, attempt),
        )
        return cur.rowcount == 1

    def mark_notification_enqueued(
        self, merchant_biz_id: str, status: str, *, vendor_copy_pending: bool = True, now: float | None = None
    ) -> None:
        pending = int(vendor_copy_pending)
        self._db.execute(STATEMENTS["mark_notification_enqueued"],
                         (now, pending, pending, merchant_biz_id, str(status)))

    def mark_vendor_copy_deleted(self, merchant_biz_id: str) -> None:
        self._db.execute(STATEMENTS["mark_vendor_copy_deleted"], (merchant_biz_id,))

    def set_outbox_due(self, merchant_biz_id: str, status: str, at: float | None) -> bool:
        if Status(status) not in TERMINAL:
            raise ValueError("only an announced-final row has an outbox")
        kind = None if at is None else DueKind.OUTBOX.value
        cur = self._db.execute(STATEMENTS["set_outbox_due"], (kind, at, merchant_biz_id, str(status)))
        return cur.rowcount == 1

    # --- queries -------------------------------------------------------------------------------------------

    def _page(self, name: str, params: tuple[object, ...], limit: int, order: str) -> Page:
        """Run query ``name`` for ``limit + 1`` rows; the cursor is the last row's position in ``order``."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        rows = self._db.execute(STATEMENTS[name], (*params, limit + 1)).fetchall()
        records = [_record(r) for r in rows[:limit]]
        if len(rows) <= limit:
            return records, None
        last = rows[limit - 1]
        return records, f"{last[order]!r}|{last['merchant_biz_id']}"

    def due(self, kind: DueKind, before: float, *, limit: int = 100, cursor: str | None = None) -> Page:
        kind = DueKind(kind)
        if cursor is None:
            return self._page("due", (kind.value, before), limit, "due_at")
        at, mbid = _position(cursor)
        return self._page("due_after", (kind.value, before, at, mbid), limit, "due_at")

    def list_by_user(self, merchant_user_id: str, *, limit: int = 100, cursor: str | None = None) -> Page:
        if cursor is None:
            return self._page("by_user", (merchant_user_id,), limit, "created_at")
        at, mbid = _position(cursor)
        return self._page("by_user_after", (merchant_user_id, at, mbid), limit, "created_at")

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
        window = (-_INF if since is None else since, _INF if until is None else until, wanted, wanted)
        if cursor is None:
            return self._page("created_newest" if newest_first else "created", window, limit, "created_at")
        at, mbid = _position(cursor)
        if newest_first:  # the range ends at the cursor (inclusive: ties are cut by merchant_biz_id)
            window = (window[0], min(at, window[1]), wanted, wanted)
            return self._page("created_newest_before", (*window, at, mbid), limit, "created_at")
        window = (max(at, window[0]), window[1], wanted, wanted)
        return self._page("created_after", (*window, at, mbid), limit, "created_at")

    def count_created(self, *, since: float | None = None, until: float | None = None) -> dict[str, int]:
        window = (-_INF if since is None else since, _INF if until is None else until)
        return {str(status): int(n) for status, n in self._db.execute(STATEMENTS["count_created"], window).rows}

    # --- rate-limit counters ---------------------------------------------------------------------------------

    def increment_rate_counter(
        self, key: str, limit: int, expires_at: float, *, another_round: Callable[[], bool] | None = None
    ) -> bool:
        del another_round  # one conditional statement: never a second round
        if limit < 1:
            return False
        return self._db.execute(STATEMENTS["rate_increment"], (key, expires_at, limit)).rowcount == 1

    def decrement_rate_counter(self, key: str, *, another_round: Callable[[], bool] | None = None) -> None:
        del another_round  # one conditional statement: never a second round
        self._db.execute(STATEMENTS["rate_decrement"], (key,))

    def take_claim(
        self, key: str, holder: str, expires_at: float, now: float, *, another_round: Callable[[], bool] | None = None
    ) -> bool:
        del another_round  # one conditional statement: never a second round
        return self._db.execute(STATEMENTS["claim_take"], (key, expires_at, holder, now)).rowcount == 1

    def give_back_claim(self, key: str, holder: str) -> bool:
        return self._db.execute(STATEMENTS["claim_give_back"], (key, holder)).rowcount == 1

    def expire_rate_counters(self, now: float, limit: int) -> int:
        return self._db.execute(STATEMENTS["rate_expire"], (now, limit)).rowcount

    def delete(self, merchant_biz_id: str) -> None:
        self._db.execute(STATEMENTS["delete"], (merchant_biz_id,))

    def delete_unchanged(self, merchant_biz_id: str, *, status: str, updated_at: float) -> bool:
        cur = self._db.execute(
            STATEMENTS["delete_unchanged"], (merchant_biz_id, Status(status).value, float(updated_at))
        )
        return cur.rowcount == 1


def _set_up(conn: sqlite3.Connection) -> None:
    """The tables, then what an older file lacks, then the indexes: inside ``SqliteDatabase``'s ``BEGIN IMMEDIATE``
    (processes opening the file at once set it up once), only when its version is not ``SCHEMA_VERSION``."""
    for statement in _TABLES:
        conn.execute(statement)
    columns = {row["name"] for row in conn.execute("PRAGMA table_info(transactions)")}
    for table, name, declaration in _ADDED_COLUMNS:
        if name not in {row["name"] for row in conn.execute(f"PRAGMA table_info({table})")}:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {declaration}")
    if "due_kind" not in columns:  # a database from before dues: one-time, whole-table migration
        conn.execute("ALTER TABLE transactions ADD COLUMN due_kind TEXT")
        conn.execute("ALTER TABLE transactions ADD COLUMN due_at REAL")
        conn.execute("DELETE FROM transactions WHERE status = 'RATE_SLOT'")  # now in rate_counters
        for row in conn.execute("SELECT * FROM transactions").fetchall():
            due = due_on_create(_record(row))
            if due is not None:
                conn.execute(
                    "UPDATE transactions SET due_kind = ?, due_at = ? WHERE merchant_biz_id = ?",
                    (due[0].value, due[1], row["merchant_biz_id"]),
                )
    for statement in _INDEXES:
        conn.execute(statement)


def _position(cursor: str) -> tuple[float, str]:
    try:
        at, mbid = cursor.split("|", 1)
        return float(at), mbid
    except ValueError:
        raise ValueError("cursor is not one this store returned") from None


def _record(row: sqlite3.Row) -> TransactionRecord:
    return TransactionRecord.from_item({k: row[k] for k in row.keys()})  # noqa: SIM118 (sqlite3.Row)
