"""Shared SQLite plumbing: one connection per thread, WAL, busy timeout, autocommit + explicit transactions."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import StorageError

BUSY_TIMEOUT_MS = 10_000


class SqliteDatabase:
    """Thread-safe access to one database file shared by several threads and processes.

    Each thread gets its own connection (sqlite3 connections must not be shared across threads); single
    statements run in autocommit mode (atomic on their own); multi-statement work uses ``BEGIN IMMEDIATE``
    so two writers serialise on the database lock instead of failing to upgrade a read lock.
    """

    def __init__(self, path: str | os.PathLike[str], schema: str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._schema = schema
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        with self.transaction() as conn:
            for statement in filter(None, (s.strip() for s in schema.split(";"))):
                conn.execute(statement)

    def connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
                )
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
            except sqlite3.Error as exc:
                raise _wrap(exc, "open") from None
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self.connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _wrap(exc, "begin") from None
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                conn.execute("ROLLBACK")
                raise _wrap(exc, "commit") from None

    def execute(self, sql: str, params: tuple[object, ...] = ()) -> sqlite3.Cursor:
        try:
            return self.connection().execute(sql, params)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            raise _wrap(exc, "execute") from None

    def close(self) -> None:
        """Close every connection this object opened (call from the owning process at shutdown)."""
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()


def _wrap(exc: sqlite3.Error, operation: str) -> StorageError:
    busy = isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc).lower()
    return StorageError(f"sqlite {operation} failed: {type(exc).__name__}", transient=busy, code="SqliteError")
