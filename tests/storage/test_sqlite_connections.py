"""SQLite connections are pooled: how many are open follows how many threads use a database at once, never how
many threads ever did (a thread per request used to leave three open descriptors behind per request)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from shared.storage import RecordExists, SqliteQueue, SqliteTransactionStore
from shared.storage._sqlite import MAX_IDLE_CONNECTIONS

from .conftest import make_record

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts /proc/self/fd (Linux)")


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _in_threads(count: int, work: object) -> None:
    for _ in range(count):
        thread = threading.Thread(target=work)  # type: ignore[arg-type]
        thread.start()
        thread.join()


def test_threads_that_come_and_go_leave_no_connection_behind(tmp_path: Path) -> None:
    store = SqliteTransactionStore(tmp_path / "kyc.sqlite3")
    store.create(make_record())
    store.get("absent")
    before = _open_fds()
    _in_threads(200, lambda: store.get("absent"))
    assert _open_fds() <= before + 3  # one connection (database, WAL, shared memory) at the most
    store.close()


def test_queue_receives_from_many_threads_reuse_pooled_connections(tmp_path: Path) -> None:
    queue = SqliteQueue(tmp_path / "queues.sqlite3", "q")
    queue.send(b"x")
    before = _open_fds()
    _in_threads(200, lambda: queue.receive(max_messages=1, visibility_timeout=1))
    assert _open_fds() <= before + 3
    queue.close()


def test_connections_open_follow_concurrent_use_and_idle_ones_are_capped(tmp_path: Path) -> None:
    store = SqliteTransactionStore(tmp_path / "kyc.sqlite3")
    db = store._db  # white box: the pool's own count
    barrier = threading.Barrier(MAX_IDLE_CONNECTIONS + 3)
    inside = threading.Event()

    def hold() -> None:
        with db.connection():
            barrier.wait(5)
            inside.wait(5)

    threads = [threading.Thread(target=hold) for _ in range(MAX_IDLE_CONNECTIONS + 3)]
    for t in threads:
        t.start()
    while db.open_connections < len(threads):
        pass
    assert db.open_connections == len(threads)  # all in use at once: one each
    inside.set()
    for t in threads:
        t.join()
    assert db.open_connections == MAX_IDLE_CONNECTIONS  # given back: the surplus is closed
    store.close()
    assert db.open_connections == 0


def test_a_failed_statement_gives_its_connection_back(tmp_path: Path) -> None:
    store = SqliteTransactionStore(tmp_path / "kyc.sqlite3")
    record = make_record()
    store.create(record)
    for _ in range(20):
        with pytest.raises(RecordExists):
            store.create(record)
    assert store._db.open_connections == 1
    store.close()


def test_a_transaction_left_by_an_exception_is_rolled_back_before_reuse(tmp_path: Path) -> None:
    queue = SqliteQueue(tmp_path / "queues.sqlite3", "q")
    with pytest.raises(RuntimeError), queue._db.transaction() as conn:
        conn.execute("INSERT INTO messages (queue, message_id, body, enqueued_at, visible_at) VALUES"
                     " ('q', 'm1', x'00', 0, 0)")  # fmt: skip
        raise RuntimeError("boom")
    assert queue.size() == 0
    queue.send(b"after")  # the same pooled connection, in autocommit again
    assert queue.size() == 1
    queue.close()


def test_close_closes_every_idle_connection(tmp_path: Path) -> None:
    before = _open_fds()
    store = SqliteTransactionStore(tmp_path / "kyc.sqlite3")
    store.get("absent")
    store.close()
    assert _open_fds() == before


def test_a_connection_given_back_after_close_is_closed_not_kept(tmp_path: Path) -> None:
    store = SqliteTransactionStore(tmp_path / "kyc.sqlite3")
    db = store._db
    with db.connection():
        store.close()  # the owner shuts down while a statement is under way
    assert db.open_connections == 0


def test_a_connection_given_back_inside_a_transaction_is_rolled_back_before_reuse(tmp_path: Path) -> None:
    queue = SqliteQueue(tmp_path / "queues.sqlite3", "q")
    with queue._db.connection() as conn:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO messages (queue, message_id, body, enqueued_at, visible_at) VALUES"
                     " ('q', 'm1', x'00', 0, 0)")  # fmt: skip
    assert queue.size() == 0
    queue.send(b"after")
    assert queue.size() == 1
    queue.close()
