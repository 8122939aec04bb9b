"""``SqliteTransactionStore``: the local backend, safe across threads and processes (WAL + conditional UPDATEs)."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import fields
from typing import Any

from shared import jsonutil
from shared.status import FINALIZABLE, Status, verdict

from ._sqlite import SqliteDatabase
from .errors import RecordExists
from .records import _JSON_COLUMNS, TransactionRecord

_COLUMNS = tuple(f.name for f in fields(TransactionRecord))
_JSON_INDEXES = tuple(i for i, name in enumerate(_COLUMNS) if name in _JSON_COLUMNS)
_STATUS_INDEX = _COLUMNS.index("status")
_INSERT_SQL = f"INSERT INTO transactions ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})"  # noqa: S608

_SCHEMA = """
CREATE TABLE IF NOT EXISTS transactions (
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
    product_code TEXT,
    face TEXT
);
CREATE INDEX IF NOT EXISTS transactions_by_user ON transactions (merchant_user_id, created_at);
CREATE INDEX IF NOT EXISTS transactions_by_status ON transactions (status, created_at)
"""

#: Columns added after the first release, with their declarations: a table created before them gets them when opened.
_ADDED_COLUMNS = (("product_code", "TEXT"), ("face", "TEXT"))

_FINALIZABLE = ", ".join(f"'{s.value}'" for s in FINALIZABLE)
_FINALIZE_SQL = (
    "UPDATE transactions SET status = ?, passed = ?, sub_code = ?, result_key = ?, identity_masked = ?, face = ?,"  # noqa: S608
    " result_version = ?, finalized_at = ?, updated_at = ?, next_check_at = NULL, error = NULL,"
    " notification_enqueued = 0"
    f" WHERE merchant_biz_id = ? AND status IN ({_FINALIZABLE})"
)


class SqliteTransactionStore:
    """Transactions in one SQLite file (``KYC_DATA_DIR/kyc.sqlite3``).

    Every state change is a single conditional ``UPDATE ... WHERE status IN (...)``: SQLite serialises writers,
    so among concurrent finalizers (threads or processes) exactly one sees ``rowcount == 1``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._db = SqliteDatabase(path, _SCHEMA)
        with self._db.transaction() as conn:  # BEGIN IMMEDIATE: processes opening the file at once add them once
            present = {row["name"] for row in conn.execute("PRAGMA table_info(transactions)")}
            for name, declaration in _ADDED_COLUMNS:
                if name not in present:
                    conn.execute(f"ALTER TABLE transactions ADD COLUMN {name} {declaration}")

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
        try:
            self._db.execute(_INSERT_SQL, tuple(values))
        except sqlite3.IntegrityError:
            raise RecordExists() from None

    def get(self, merchant_biz_id: str) -> TransactionRecord | None:
        row = self._db.execute("SELECT * FROM transactions WHERE merchant_biz_id = ?", (merchant_biz_id,)).fetchone()
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
            _FINALIZE_SQL,
            (status.value, passed, sub_code, result_key, identity, face_text, result_version, now, now,
             merchant_biz_id),
        )
        return cur.rowcount == 1

    def mark_abandoned(self, merchant_biz_id: str, now: float) -> bool:
        cur = self._db.execute(
            "UPDATE transactions SET status = ?, finalized_at = ?, updated_at = ?, next_check_at = NULL,"
            " notification_enqueued = 0 WHERE merchant_biz_id = ? AND status = ?",
            (Status.ABANDONED.value, now, now, merchant_biz_id, Status.PENDING.value),
        )
        return cur.rowcount == 1

    def record_check(
        self, merchant_biz_id: str, *, now: float, next_check_at: float | None, error: str | None = None
    ) -> None:
        self._db.execute(
            "UPDATE transactions SET check_count = check_count + 1, next_check_at = ?, error = ?, updated_at = ?"
            " WHERE merchant_biz_id = ? AND status = ?",
            (next_check_at, error, now, merchant_biz_id, Status.PENDING.value),
        )

    def mark_notification_enqueued(self, merchant_biz_id: str, status: str) -> None:
        self._db.execute(
            "UPDATE transactions SET notification_enqueued = 1 WHERE merchant_biz_id = ? AND status = ?",
            (merchant_biz_id, str(status)),
        )

    def mark_vendor_copy_deleted(self, merchant_biz_id: str) -> None:
        self._db.execute(
            "UPDATE transactions SET vendor_copy_deleted = 1 WHERE merchant_biz_id = ?", (merchant_biz_id,)
        )

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
        where: list[str] = []
        params: list[object] = []
        if cursor is not None:
            where.append("merchant_biz_id > ?")
            params.append(cursor)
        if status is not None:
            where.append("status = ?")
            params.append(str(status))  # a member or its plain string: the column holds the string
        if created_before is not None:
            where.append("created_at < ?")
            params.append(created_before)
        if created_after is not None:
            where.append("created_at >= ?")
            params.append(created_after)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self._db.execute(
            f"SELECT * FROM transactions{clause} ORDER BY merchant_biz_id LIMIT ?",  # noqa: S608 (fixed fragments)
            (*params, limit + 1),
        ).fetchall()
        records = [_record(r) for r in rows[:limit]]
        next_cursor = records[-1].merchant_biz_id if len(rows) > limit else None
        return records, next_cursor

    def find_by_user(self, merchant_user_id: str) -> list[TransactionRecord]:
        rows = self._db.execute(
            "SELECT * FROM transactions WHERE merchant_user_id = ? ORDER BY created_at, merchant_biz_id",
            (merchant_user_id,),
        ).fetchall()
        return [_record(r) for r in rows]

    def count_created_by_user_since(self, merchant_user_id: str, since: float) -> int:
        row = self._db.execute(
            "SELECT COUNT(*) FROM transactions WHERE merchant_user_id = ? AND created_at >= ?",
            (merchant_user_id, since),
        ).rows[0]  # COUNT(*) always answers one row
        return int(row[0])

    def delete(self, merchant_biz_id: str) -> None:
        self._db.execute("DELETE FROM transactions WHERE merchant_biz_id = ?", (merchant_biz_id,))


def _record(row: sqlite3.Row) -> TransactionRecord:
    return TransactionRecord.from_item({k: row[k] for k in row.keys()})  # noqa: SIM118 (sqlite3.Row)
