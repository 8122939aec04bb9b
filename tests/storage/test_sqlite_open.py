"""Opening a SQLite database sets its schema up once per file, not at every open: a new file gets the schema, WAL and
its version (``PRAGMA user_version``); a file already at the version is opened with one connection and two
statements, no DDL; a file at any other version (before versions, another release's) is set up as it always was;
processes opening a new file at once set it up once. Durability stays: every connection syncs ``NORMAL`` on WAL."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.storage import SqliteQueue, SqliteTransactionStore, StorageSettings, open_stores, sqlite_queue, sqlite_store
from shared.storage._sqlite import schema_version
from tests.sqlite_trace import SqliteTrace, tracing_sqlite

from .conftest import make_record

_SYNC_NORMAL = 1
_STORE_INDEXES = {"transactions_due", "transactions_user_time", "transactions_time", "rate_counters_expiry"}


@pytest.fixture
def trace(monkeypatch: pytest.MonkeyPatch) -> Iterator[SqliteTrace]:
    with tracing_sqlite(monkeypatch) as seen:
        yield seen


def _user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def _indexes(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    finally:
        conn.close()


def test_a_new_file_gets_the_tables_the_indexes_wal_and_the_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "kyc.sqlite3"
    store = SqliteTransactionStore(path)
    store.create(make_record())
    store.close()
    assert _indexes(path) >= _STORE_INDEXES
    assert _user_version(path) == sqlite_store.SCHEMA_VERSION
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_a_new_queue_file_gets_the_table_and_the_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "queues.sqlite3"
    queue = SqliteQueue(path, "q")
    queue.send(b"x")
    assert queue.size() == 1
    queue.close()
    assert "messages_visible" in _indexes(path)
    assert _user_version(path) == sqlite_queue.SCHEMA_VERSION


def test_opening_a_current_file_runs_no_ddl_on_one_connection(tmp_path: Path, trace: SqliteTrace) -> None:
    path = tmp_path / "kyc.sqlite3"
    SqliteTransactionStore(path).close()
    SqliteQueue(tmp_path / "queues.sqlite3", "q").close()
    trace.reset()
    store = SqliteTransactionStore(path)
    queue = SqliteQueue(tmp_path / "queues.sqlite3", "q")
    assert trace.ddl() == []
    assert trace.statements == ["PRAGMA synchronous = NORMAL", "PRAGMA user_version"] * 2
    assert trace.connections == 2
    store.close()
    queue.close()


def test_the_first_statement_after_opening_reuses_the_opening_connection(tmp_path: Path, trace: SqliteTrace) -> None:
    path = tmp_path / "kyc.sqlite3"
    SqliteTransactionStore(path).close()
    trace.reset()
    store = SqliteTransactionStore(path)
    store.get("absent")
    assert trace.connections == 1
    store.close()


def test_a_file_of_another_schema_version_is_set_up_again(tmp_path: Path) -> None:
    path = tmp_path / "kyc.sqlite3"
    store = SqliteTransactionStore(path)
    record = make_record()
    store.create(record)
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("DROP INDEX transactions_time")  # what another release's schema might lack
    conn.execute("PRAGMA user_version = 12345")
    conn.commit()
    conn.close()
    store = SqliteTransactionStore(path)
    assert store.get(record.merchant_biz_id) == record
    store.close()
    assert _indexes(path) >= _STORE_INDEXES
    assert _user_version(path) == sqlite_store.SCHEMA_VERSION


def test_a_file_at_the_current_version_is_trusted_and_not_set_up_again(tmp_path: Path) -> None:
    path = tmp_path / "kyc.sqlite3"
    SqliteTransactionStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("DROP INDEX transactions_time")
    conn.commit()
    conn.close()
    SqliteTransactionStore(path).close()
    assert "transactions_time" not in _indexes(path)  # the version says it is set up: nothing is checked


def test_a_file_from_before_schema_versions_is_set_up_and_then_marked(tmp_path: Path, trace: SqliteTrace) -> None:
    path = tmp_path / "kyc.sqlite3"
    store = SqliteTransactionStore(path)
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 0")  # what every release before versions left
    conn.commit()
    conn.close()
    trace.reset()
    SqliteTransactionStore(path).close()
    assert trace.ddl() != []
    assert _user_version(path) == sqlite_store.SCHEMA_VERSION
    trace.reset()
    SqliteTransactionStore(path).close()
    assert trace.ddl() == []


def test_every_connection_syncs_normal_on_wal(tmp_path: Path) -> None:
    path = tmp_path / "kyc.sqlite3"
    SqliteTransactionStore(path).close()
    store = SqliteTransactionStore(path)  # a current file: WAL is the file's, synchronous each connection's
    with store._db.connection() as conn:  # white box: the pooled connection statements run on
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == _SYNC_NORMAL
    store.close()


def test_a_schema_version_follows_the_ddl_text_and_is_never_zero() -> None:
    assert schema_version("CREATE TABLE t (a)") == schema_version("CREATE TABLE t (a)")
    assert schema_version("CREATE TABLE t (a)") != schema_version("CREATE TABLE t (a, b)")
    assert 0 < sqlite_store.SCHEMA_VERSION <= 0x7FFF_FFFF and 0 < sqlite_queue.SCHEMA_VERSION <= 0x7FFF_FFFF


def test_the_queues_of_one_stores_share_one_file_open(tmp_path: Path, trace: SqliteTrace) -> None:
    stores = open_stores(StorageSettings(backend="local", data_dir=tmp_path))
    notify, deadletter = stores.queue("notify"), stores.queue("deadletter")
    assert isinstance(notify, SqliteQueue) and isinstance(deadletter, SqliteQueue)
    assert trace.connections == 1
    notify.send(b"n")
    deadletter.send(b"d")
    assert trace.connections == 1
    assert [m.body for m in notify.receive()] == [b"n"] and [m.body for m in deadletter.receive()] == [b"d"]


def _open_new(path: str, kind: str, start: Any) -> None:
    start.wait()
    if kind == "store":
        SqliteTransactionStore(path).close()
    else:
        SqliteQueue(path, "q").close()


@pytest.mark.parametrize(("kind", "version"), [("store", sqlite_store.SCHEMA_VERSION),
                                               ("queue", sqlite_queue.SCHEMA_VERSION)])
def test_processes_opening_a_new_file_at_once_all_open_it_and_it_is_set_up(
    tmp_path: Path, kind: str, version: int
) -> None:
    path = str(tmp_path / "new.sqlite3")
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_open_new, args=(path, kind, start)) for _ in range(4)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert _user_version(Path(path)) == version
    if kind == "store":
        assert _indexes(Path(path)) >= _STORE_INDEXES
        SqliteTransactionStore(path).create(make_record())
    else:
        queue = SqliteQueue(path, "q")
        queue.send(b"x")
        assert queue.size() == 1


OPENERS = pytest.mark.parametrize("opener", [SqliteTransactionStore, lambda path: SqliteQueue(path, "notify")],
                                  ids=["rows", "queues"])


def _modes_after_a_write(path: Path, opener: Any) -> dict[str, str]:
    """Open ``path`` with ``opener``, write once (a row, a message), then the modes of the file, -wal and -shm."""
    opened = opener(path)
    try:
        if isinstance(opened, SqliteQueue):
            opened.send(b"{}")
        else:
            opened.create(make_record())
        return {file.name: oct(file.stat().st_mode & 0o777)
                for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))}
    finally:
        opened.close()


@OPENERS
def test_a_new_file_and_its_wal_are_readable_by_their_owner_only(tmp_path: Path, opener: Any) -> None:
    """They hold masked identities, user-id hashes and messages: 0600 whatever the umask, as the objects are."""
    modes = _modes_after_a_write(tmp_path / "data.sqlite3", opener)
    assert set(modes.values()) == {oct(0o600)}, modes


def _left_by_an_earlier_release(path: Path) -> None:
    """A database as a release before the files were made private left it: created by SQLite itself (0644 under
    umask 022), in WAL mode."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    path.chmod(0o644)


@OPENERS
def test_a_database_an_earlier_release_left_open_to_others_is_narrowed_when_opened(
    tmp_path: Path, opener: Any
) -> None:
    """Found by review q: an upgraded data directory kept its 0644 files, and SQLite gave each new -wal and -shm
    that mode too."""
    path = tmp_path / "data.sqlite3"
    _left_by_an_earlier_release(path)
    modes = _modes_after_a_write(path, opener)
    assert set(modes.values()) == {oct(0o600)}, modes



@OPENERS
def test_a_database_an_earlier_release_left_readable_by_its_group_is_narrowed_with_its_wal_and_shm(
    tmp_path: Path, opener: Any
) -> None:
    """Any bit for the group or others is too much (a umask of 027 gave 0640), and the -wal and -shm an open
    connection keeps (another process of the earlier release, still running) are narrowed too: SQLite reuses them."""
    path = tmp_path / "data.sqlite3"
    earlier = sqlite3.connect(path)
    try:
        earlier.execute("PRAGMA journal_mode = WAL")
        earlier.execute("CREATE TABLE IF NOT EXISTS earlier (v)")
        earlier.execute("INSERT INTO earlier VALUES (1)")
        earlier.commit()
        files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
        for file in files:
            file.chmod(0o640)
        opened = opener(path)
        try:
            assert {file.name: oct(file.stat().st_mode & 0o777) for file in files} == dict.fromkeys(
                (file.name for file in files), oct(0o600))
        finally:
            opened.close()
    finally:
        earlier.close()


def test_a_new_file_another_connection_is_writing_to_is_opened_once_that_one_commits(tmp_path: Path) -> None:
    """Switching a file to WAL does not wait on SQLite's busy handler: the open waits out the lock itself."""
    path = tmp_path / "kyc.sqlite3"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("CREATE TABLE earlier (v)")
    timer = threading.Timer(0.3, writer.execute, ("COMMIT",))
    timer.start()
    try:
        store = SqliteTransactionStore(path)
        store.create(make_record())
        store.close()
    finally:
        timer.join()
        writer.close()
