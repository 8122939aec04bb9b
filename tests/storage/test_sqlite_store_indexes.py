"""The SQLite backend reads what it answers, like Tablestore: every statement it runs is served by an index
(``EXPLAIN QUERY PLAN``), and a database from before dues existed is migrated once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from shared.storage import DueKind, SqliteTransactionStore
from shared.storage.sqlite_store import STATEMENTS

from .conftest import FIRST_RELEASE_TABLE, make_record

#: Statements without a WHERE to plan: inserts (an UPSERT's conflict is found by the primary key).
_NOTHING_TO_SEARCH = {"insert", "rate_increment", "claim_take"}


def _plan(path: Path, sql: str) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", (None,) * sql.count("?"))]


@pytest.mark.parametrize("name", sorted(set(STATEMENTS) - _NOTHING_TO_SEARCH))
def test_every_statement_searches_an_index_and_never_scans_a_table(tmp_path: Path, name: str) -> None:
    path = tmp_path / "kyc.sqlite3"
    SqliteTransactionStore(path).close()
    plan = _plan(path, STATEMENTS[name])
    assert plan, name
    assert all(step.startswith(("SEARCH", "LIST SUBQUERY", "USE TEMP B-TREE FOR GROUP BY")) for step in plan), plan
    assert any("USING INDEX" in step or "USING COVERING INDEX" in step for step in plan), plan


@pytest.mark.parametrize(
    ("name", "index"),
    [
        ("due", "transactions_due"),
        ("due_after", "transactions_due"),
        ("by_user", "transactions_user_time"),
        ("by_user_after", "transactions_user_time"),
        ("created", "transactions_time"),
        ("created_after", "transactions_time"),
        ("created_newest", "transactions_time"),
        ("created_newest_before", "transactions_time"),
        ("count_created", "transactions_time"),
        ("rate_expire", "rate_counters_expiry"),
    ],
)
def test_each_query_uses_the_index_made_for_it(tmp_path: Path, name: str, index: str) -> None:
    path = tmp_path / "kyc.sqlite3"
    SqliteTransactionStore(path).close()
    assert any(f"INDEX {index} " in step for step in _plan(path, STATEMENTS[name])), _plan(path, STATEMENTS[name])


def test_the_query_order_needs_no_sort(tmp_path: Path) -> None:
    path = tmp_path / "kyc.sqlite3"
    SqliteTransactionStore(path).close()
    for name in STATEMENTS:
        assert not any("ORDER BY" in step for step in _plan(path, STATEMENTS[name]) if "TEMP B-TREE" in step), name


def test_expired_rate_counters_are_deleted_at_most_limit_at_a_time(tmp_path: Path) -> None:
    store = SqliteTransactionStore(tmp_path / "kyc.sqlite3")
    for n in range(5):
        store.increment_rate_counter(f"old-{n}", 1, 100.0)
    store.increment_rate_counter("live", 1, 900.0)
    assert store.expire_rate_counters(500.0, 3) == 3
    assert store.expire_rate_counters(500.0, 3) == 2
    assert store.expire_rate_counters(500.0, 3) == 0
    assert store.increment_rate_counter("old-0", 1, 100.0) is True  # gone: counting starts again


_OLD_SCHEMA = FIRST_RELEASE_TABLE + """
CREATE INDEX transactions_by_user ON transactions (merchant_user_id, created_at);
CREATE INDEX transactions_by_status ON transactions (status, created_at);
"""


def test_a_database_from_before_dues_is_migrated_once(tmp_path: Path) -> None:
    path = tmp_path / "kyc.sqlite3"
    pending, unsent, done = make_record(created_at=10.0), make_record(created_at=20.0), make_record(created_at=30.0)
    with sqlite3.connect(path) as conn:
        conn.executescript(_OLD_SCHEMA)
        for record, status, enqueued in ((pending, "PENDING", 0), (unsent, "FAILED", 0), (done, "ABANDONED", 1)):
            conn.execute(
                "INSERT INTO transactions (merchant_biz_id, transaction_id, merchant_user_id, doc_type, status,"
                " created_at, updated_at, finalized_at, notification_enqueued) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (record.merchant_biz_id, record.transaction_id, record.merchant_user_id, record.doc_type, status,
                 record.created_at, record.created_at, 40.0 if status != "PENDING" else None, enqueued),
            )
        conn.execute(
            "INSERT INTO transactions (merchant_biz_id, transaction_id, merchant_user_id, doc_type, status,"
            " created_at, updated_at) VALUES ('rl0123', '', '', '', 'RATE_SLOT', 5, 5)"
        )
    store = SqliteTransactionStore(path)
    assert [r.merchant_biz_id for r in store.due(DueKind.NEW, 100.0)[0]] == [pending.merchant_biz_id]
    assert [r.merchant_biz_id for r in store.due(DueKind.OUTBOX, 100.0)[0]] == [unsent.merchant_biz_id]
    assert store.get("rl0123") is None
    store.close()
    SqliteTransactionStore(path).close()  # a second open finds it migrated
    with sqlite3.connect(path) as conn:
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"transactions_due", "transactions_user_time", "transactions_time"} <= names
    assert not names & {"transactions_by_user", "transactions_by_status"}
