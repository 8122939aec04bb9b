"""Shared SQLite plumbing: a bounded pool of connections, WAL, busy timeout, autocommit + explicit transactions,
and a schema set up once per database file, not at every open.

What a connection costs (measured on FC's Python 3.10, a current database): the busy timeout is set by
``sqlite3.connect(timeout=...)`` itself; ``journal_mode = WAL`` is a property of the file (persistent once set), so
only the schema setup sets it; ``synchronous = NORMAL`` is per connection and is set on each. An open at instance
start on a current database is one connection and two statements (``synchronous``, ``user_version``); the schema's
DDL runs only when ``PRAGMA user_version`` is not the schema's version.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable

from shared.values import valueclass

from .errors import StorageError

BUSY_TIMEOUT_MS = 10_000
#: Idle connections kept per database; more may be open while more threads use it at once, and those are closed
#: when they come back. Each open connection holds three descriptors (database, WAL, shared memory) and its cache.
MAX_IDLE_CONNECTIONS = 4


@valueclass
class Result:
    """The rows and row count of one statement, read in full before its connection went back to the pool."""

    rows: list[sqlite3.Row]
    rowcount: int

    def fetchone(self) -> sqlite3.Row | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[sqlite3.Row]:
        return self.rows


def schema_version(*ddl: str) -> int:
    """The version a database file gets once it holds the schema ``ddl`` describes (its ``PRAGMA user_version``):
    a fingerprint of the DDL's text (31 bits of its SHA-256, never 0 — 0 is a new file's or one set up before
    versions). Any change to the DDL changes it, so a database set up by another release is set up again
    (idempotently) at its first open by this one; nothing to remember to bump. (``hashlib``: loaded at every start
    anyway, unlike ``zlib``.)"""
    digest = hashlib.sha256("\n".join(ddl).encode()).digest()
    return (int.from_bytes(digest[:4], "big") & 0x7FFF_FFFF) or 1


#: Brings a database from any earlier state (new, set up before versions, another release's) to the schema: run
#: inside ``BEGIN IMMEDIATE``, so it must be idempotent and must not change the journal mode.
SchemaSetup = Callable[[sqlite3.Connection], None]


def _create_private(path: str) -> None:
    """Make ``path`` readable by its owner only (0600) before SQLite opens it: created so, whatever the umask, or,
    when an earlier release left it open to others, narrowed with what SQLite made beside it (``-wal``, ``-shm``:
    SQLite gives those the database file's mode, os_unix.c ``findCreateFileMode``; the tests check both). The rows
    hold masked identities and user-id hashes, the queues their messages. A file of another user's, or one that
    cannot be narrowed, is opened as it is."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        return
    except FileExistsError:
        pass
    except OSError as exc:  # a folder that cannot be written: reported as the open's StorageError
        raise StorageError(f"sqlite open failed: {type(exc).__name__}", transient=False, code="SqliteError") from None
    for name in (path, f"{path}-wal", f"{path}-shm"):
        try:
            status = os.stat(name)
            if status.st_uid == os.getuid() and status.st_mode & 0o077:
                os.chmod(name, 0o600)
        except OSError:
            continue


class SqliteDatabase:
    """Thread-safe access to one database file shared by several threads and processes.

    Connections are pooled, not tied to threads: a statement or a transaction borrows one and gives it back, so
    the number open follows how many threads use the database *at once*, never how many threads ever did (a
    server with a thread per request used to leave one open connection, three descriptors, per request). A
    connection is used by one thread at a time. Single statements run in autocommit mode (atomic on their own);
    multi-statement work uses ``BEGIN IMMEDIATE`` so two writers serialise on the database lock instead of
    failing to upgrade a read lock.

    Opening one (order of effects): the folder is created; one connection is opened (``StorageError`` if the file
    cannot be opened or read: a bad ``KYC_DATA_DIR`` fails the instance's start) and kept in the pool for the first
    request; ``PRAGMA user_version`` is read, and only when it is not ``version`` is the file switched to WAL and
    ``setup`` run in a ``BEGIN IMMEDIATE`` transaction that reads the version again first and sets it last: of
    processes opening a new or older file at once, the first sets it up and the others find it done.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        version: int,
        setup: SchemaSetup,
        *,
        max_idle: int = MAX_IDLE_CONNECTIONS,
    ) -> None:
        if not 0 < version <= 0x7FFF_FFFF:
            raise ValueError("a schema version is a positive 31-bit integer")
        self.path = os.fspath(path)
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), mode=0o700, exist_ok=True)
        _create_private(self.path)
        self.max_idle = max_idle
        self._lock = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._open = 0
        self._closed = False
        with self.connection() as conn:
            try:
                current = _user_version(conn) == version
                if not current:
                    _into_wal(conn)  # outside a transaction: the journal mode cannot change inside one
            except sqlite3.Error as exc:
                raise _wrap(exc, "open") from None
        if not current:
            try:
                with self.transaction() as conn:  # the same pooled connection
                    if _user_version(conn) != version:  # another process may have set it up while this one waited
                        setup(conn)
                        conn.execute(f"PRAGMA user_version = {int(version)}")
            except sqlite3.Error as exc:  # a full disk, a read-only file: the caller's StorageError, as any call's
                raise _wrap(exc, "setup") from None

    @property
    def open_connections(self) -> int:
        """Connections open now, idle or borrowed (tests, diagnostics)."""
        with self._lock:
            return self._open

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise _wrap(exc, "open") from None
        try:  # the busy timeout is connect()'s own; WAL is the file's (set once, by the schema setup)
            conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as exc:
            conn.close()
            raise _wrap(exc, "open") from None
        conn.row_factory = sqlite3.Row
        return conn

    def _borrow(self) -> sqlite3.Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            self._open += 1
        try:
            return self._connect()
        except BaseException:
            with self._lock:
                self._open -= 1
            raise

    def _give_back(self, conn: sqlite3.Connection) -> None:
        if conn.in_transaction:  # never hand the next borrower a half-done transaction
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                self._discard(conn)
                return
        with self._lock:
            if not self._closed and len(self._idle) < self.max_idle:
                self._idle.append(conn)
                return
        self._discard(conn)

    def _discard(self, conn: sqlite3.Connection) -> None:
        conn.close()
        with self._lock:
            self._open -= 1

    def connection(self) -> _Borrowed:
        """A connection for this thread's exclusive use until the block ends."""
        return _Borrowed(self)

    def transaction(self) -> _Transaction:
        """A connection inside ``BEGIN IMMEDIATE`` for the block: committed when it ends, rolled back when it raises."""
        return _Transaction(self)

    def execute(self, sql: str, params: tuple[object, ...] = ()) -> Result:
        """Run one statement in autocommit mode; its rows are read in full (every query here is bounded)."""
        with self.connection() as conn:
            try:
                cursor = conn.execute(sql, params)
                return Result(cursor.fetchall(), cursor.rowcount)
            except sqlite3.IntegrityError:
                raise
            except sqlite3.Error as exc:
                raise _wrap(exc, "execute") from None

    def close(self) -> None:
        """Close the idle connections now and each borrowed one when it comes back (owner's shutdown)."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            self._open -= len(idle)
        for conn in idle:
            conn.close()


class _Borrowed:
    """What :meth:`SqliteDatabase.connection` returns (a plain context manager: no ``contextlib`` at start)."""

    __slots__ = ("_conn", "_db")

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    def __enter__(self) -> sqlite3.Connection:
        self._conn = self._db._borrow()
        return self._conn

    def __exit__(self, *exc_info: object) -> None:
        self._db._give_back(self._conn)


class _Transaction:
    """What :meth:`SqliteDatabase.transaction` returns: ``BEGIN IMMEDIATE`` on enter; on exit ``COMMIT`` (rolled
    back and raised as a ``StorageError`` when it fails), or ``ROLLBACK`` when the block raised; the connection is
    given back either way."""

    __slots__ = ("_conn", "_db")

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    def __enter__(self) -> sqlite3.Connection:
        conn = self._db._borrow()
        try:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise _wrap(exc, "begin") from None
        except BaseException:
            self._db._give_back(conn)
            raise
        self._conn = conn
        return conn

    def __exit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        conn = self._conn
        try:
            if exc_type is not None:
                _roll_back(conn)
                return
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                _roll_back(conn)
                raise _wrap(exc, "commit") from None
        finally:
            self._db._give_back(conn)


def _roll_back(conn: sqlite3.Connection) -> None:
    """ROLLBACK of a transaction SQLite has not ended itself: after an I/O error, a full disk or no memory it rolls
    back on its own, and a ROLLBACK then would raise "no transaction is active" over the error that matters (review
    an). A connection whose rollback fails is discarded by ``_give_back`` (it is still in a transaction)."""
    if conn.in_transaction:
        try:  # noqa: SIM105 - no contextlib at start (docs/performance.md)
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass


def _user_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def _into_wal(conn: sqlite3.Connection) -> None:
    """``PRAGMA journal_mode = WAL``, waiting out another connection's lock: switching a new file's journal mode
    does not go through the busy handler, so processes or threads opening one file at once could see "database is
    locked" at once. Retried for at most ``BUSY_TIMEOUT_MS``, like every other statement."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc).lower() or time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


def _wrap(exc: sqlite3.Error, operation: str) -> StorageError:
    busy = isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc).lower()
    return StorageError(f"sqlite {operation} failed: {type(exc).__name__}", transient=busy, code="SqliteError")
