"""Real concurrency on the SQLite backends: threads and processes race on the same rows and messages."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from shared.storage import SqliteQueue, SqliteTransactionStore, StorageError, _sqlite

from .conftest import make_record

BIZ_ID = "race0000000000000000000000000001"


def _finalize_many(db: str, threads: int, start: Any) -> list[bool]:
    store = SqliteTransactionStore(db)
    barrier = threading.Barrier(threads)

    def one(i: int) -> bool:
        barrier.wait()
        return store.finalize(
            BIZ_ID,
            status="PASSED" if i % 2 else "FAILED",
            passed="Y" if i % 2 else "N",
            sub_code=str(i),
            result_key=None,
            identity_masked=None,
            result_version=i,
            now=float(i),
        )

    if start is not None:
        start.wait()
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(threads)))


def _process_finalize(db: str, threads: int, start: Any, out: Any) -> None:
    out.put(_finalize_many(db, threads, start))


def _receive_all(db: str, start: Any, out: Any) -> None:
    queue = SqliteQueue(db, "q")
    start.wait()
    seen: list[str] = []
    while batch := queue.receive(max_messages=3, visibility_timeout=3600):
        seen.extend(m.message_id for m in batch)
    out.put(seen)


def test_eight_threads_finalizing_one_row_exactly_one_wins(tmp_path: Path) -> None:
    db = str(tmp_path / "kyc.sqlite3")
    SqliteTransactionStore(db).create(make_record(merchant_biz_id=BIZ_ID))
    results = _finalize_many(db, 8, None)
    assert results.count(True) == 1


def test_two_processes_finalizing_one_row_exactly_one_wins(tmp_path: Path) -> None:
    db = str(tmp_path / "kyc.sqlite3")
    SqliteTransactionStore(db).create(make_record(merchant_biz_id=BIZ_ID))
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_process_finalize, args=(db, 4, start, out)) for _ in range(2)]
    for p in procs:
        p.start()
    start.set()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    flat = [r for batch in results for r in batch]
    assert len(flat) == 8 and flat.count(True) == 1
    got = SqliteTransactionStore(db).get(BIZ_ID)
    assert got is not None and got.status in {"PASSED", "FAILED"}


def test_two_processes_receiving_never_get_the_same_message(tmp_path: Path) -> None:
    db = str(tmp_path / "queues.sqlite3")
    producer = SqliteQueue(db, "q")
    sent = {producer.send(f"m{i}".encode()) for i in range(40)}
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_receive_all, args=(db, start, out)) for _ in range(2)]
    for p in procs:
        p.start()
    start.set()
    received = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    flat = [m for batch in received for m in batch]
    assert len(flat) == len(set(flat)) and set(flat) == sent


def test_threads_sending_concurrently_lose_no_message(tmp_path: Path) -> None:
    queue = SqliteQueue(tmp_path / "queues.sqlite3", "q")
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda i: queue.send(str(i).encode()), range(64)))
    assert len(set(ids)) == 64 and queue.size() == 64


def test_a_database_locked_longer_than_the_busy_timeout_is_a_transient_storage_error_and_a_broken_one_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Transient: the caller answers so that the work comes again (a callback 503, a message redelivered); a
    database that is broken would fail every time."""
    monkeypatch.setattr(_sqlite, "BUSY_TIMEOUT_MS", 50)
    path = tmp_path / "kyc.sqlite3"
    store = SqliteTransactionStore(path)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StorageError) as locked:
            store.create(make_record())
    finally:
        other.execute("ROLLBACK")
    assert locked.value.transient is True
    other.execute("DROP TABLE transactions")
    other.close()
    with pytest.raises(StorageError) as broken:
        store.get(BIZ_ID)
    assert broken.value.transient is False
    store.close()
