"""A SQLite table written by an earlier release keeps working: the columns added since are added when it is opened."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from shared.storage import SqliteTransactionStore
from shared.storage.sqlite_store import _ADDED_COLUMNS

from .conftest import FIRST_RELEASE_TABLE, make_record

FIRST_RELEASE_SCHEMA = FIRST_RELEASE_TABLE + """
INSERT INTO transactions (merchant_biz_id, transaction_id, merchant_user_id, doc_type, status, created_at, updated_at)
VALUES ('old0000000000000000000000000001', 'hksbold', 'u-hash', '01000000', 'PENDING', 1.0, 1.0);
"""


def _first_release_file(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.executescript(FIRST_RELEASE_SCHEMA)
    conn.close()
    return path


def test_an_old_table_gets_the_new_columns_and_its_rows_read_without_a_product(tmp_path: Path) -> None:
    store = SqliteTransactionStore(_first_release_file(tmp_path / "kyc.sqlite3"))
    old = store.get("old0000000000000000000000000001")
    assert old is not None and (old.doc_type, old.product_code, old.face) == ("01000000", None, None)
    record = make_record(doc_type="", product_code="FACE_LIVENESS_PRO")
    store.create(record)
    assert store.finalize(record.merchant_biz_id, status="PASSED", passed="Y", sub_code="200", result_key=None,
                          identity_masked=None, result_version=1, now=2.0, face={"facePassed": True})
    got = store.get(record.merchant_biz_id)
    assert got is not None and (got.product_code, got.face) == ("FACE_LIVENESS_PRO", {"facePassed": True})
    store.close()


def test_stores_opening_an_old_file_at_once_add_each_column_once(tmp_path: Path) -> None:
    path = _first_release_file(tmp_path / "kyc.sqlite3")
    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: SqliteTransactionStore(path), range(4)))
    with sqlite3.connect(path) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(transactions)")]
    conn.close()
    assert all(columns.count(name) == 1 for table, name, _ in _ADDED_COLUMNS if table == "transactions")
    assert len(_ADDED_COLUMNS) >= 6
    for store in stores:
        store.close()


def test_an_old_row_has_no_re_check_scheduled_and_records_its_first(tmp_path: Path) -> None:
    store = SqliteTransactionStore(_first_release_file(tmp_path / "kyc.sqlite3"))
    mbid = "old0000000000000000000000000001"
    old = store.get(mbid)
    assert old is not None and old.recheck_attempt == 0
    assert store.record_check(mbid, now=2.0, next_check_at=12.0, recheck_attempt=1) is True
    got = store.get(mbid)
    assert got is not None and got.recheck_attempt == 1
    store.close()


def test_an_old_table_gets_the_columns_a_keyed_start_keeps(tmp_path: Path) -> None:
    store = SqliteTransactionStore(_first_release_file(tmp_path / "kyc.sqlite3"))
    record = make_record(transaction_url="https://vendor.example/verify/1", request_fingerprint="f" * 64)
    store.create(record)
    assert store.get(record.merchant_biz_id) == record
    store.close()
