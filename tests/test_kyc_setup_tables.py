"""``./scripts/kyc setup-tables``: the Tablestore tables and indexes created or checked, old rows migrated, against
the Tablestore double through the CLI, as an operator runs it."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest

from shared import jsonutil
from shared.storage import DueKind, TransactionRecord
from tests.storage.conftest import make_record, wire_store
from tools.ops.kyc import main

TABLE = "kyc_transactions"


@pytest.fixture
def double() -> Iterator[Any]:
    from tools.doubles.tablestore import TablestoreDouble

    with TablestoreDouble(access_key_id="ak-contract", access_key_secret="sk-contract") as ots:
        yield ots


def _env(double: Any) -> dict[str, str]:
    return {
        "KYC_BACKEND": "aliyun",
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "ak-contract",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "sk-contract",
        "KYC_TABLESTORE_ENDPOINT": double.endpoint,
        "KYC_TABLESTORE_INSTANCE": double.instance,
        "KYC_TABLESTORE_TABLE": TABLE,  # nothing about the bucket or the queues: they may not exist yet
    }


def _run(double: Any, *args: str) -> tuple[int, dict[str, Any], str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["setup-tables", *args], env=_env(double), stdout=out, stderr=err)
    return code, jsonutil.loads(out.getvalue()) if out.getvalue() else {}, err.getvalue()


def test_it_creates_every_table_and_index_then_finds_them_in_place(double: Any) -> None:
    code, first, err = _run(double)
    assert code == 0, err
    assert first["ok"] and TABLE in first["created"] and f"{TABLE}_due" in first["created"]
    code, second, _ = _run(double)
    assert code == 0 and second["created"] == [] and len(second["verified"]) == 5


def test_check_reports_what_is_missing_and_creates_nothing(double: Any) -> None:
    code, report, err = _run(double, "--check")
    assert code == 1 and report["created"] == [] and f"table {TABLE} is missing" in report["drift"]
    assert "is missing" in err
    assert list(double.client().list_table()) == []


def test_backfill_gives_rows_from_before_the_indexes_their_columns(double: Any) -> None:
    _run(double)
    pending = make_record(merchant_user_id="carol", created_at=100.0)
    final = make_record(merchant_user_id="carol", created_at=200.0, status="PASSED", finalized_at=300.0,
                        notification_enqueued=True, vendor_copy_deleted=True)  # fmt: skip
    old_rows = [([("merchant_biz_id", r.merchant_biz_id)], _old_columns(r)) for r in (pending, final)]
    old_rows.append(([("merchant_biz_id", "rl" + "0" * 30)], {"status": "RATE_SLOT", "created_at": 5.0,
                                                             "updated_at": 5.0}))  # fmt: skip
    double.load_rows(TABLE, old_rows)
    store = wire_store(double)
    assert store.list_by_user("carol") == ([], None)  # invisible to the indexes before the migration
    code, report, err = _run(double, "--backfill")
    assert code == 0, err
    assert report["backfill"] == {"read": 3, "updated": 2, "deleted": 1, "skipped": 0}
    assert [r.merchant_biz_id for r in store.list_by_user("carol")[0]] == [pending.merchant_biz_id,
                                                                           final.merchant_biz_id]  # fmt: skip
    assert [r.merchant_biz_id for r in store.due(DueKind.NEW, 1000.0)[0]] == [pending.merchant_biz_id]
    assert store.get("rl" + "0" * 30) is None
    assert _run(double, "--backfill")[1]["backfill"]["updated"] == 0  # idempotent


def _old_columns(record: TransactionRecord) -> dict[str, Any]:
    """What the adapter wrote before the indexes: the record's columns, no created_ms, no due."""
    return {k: v for k, v in record.to_item().items() if k != "merchant_biz_id"}


def test_the_local_backend_has_nothing_to_set_up(tmp_path: Any) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(["setup-tables"], env={"KYC_DATA_DIR": str(tmp_path)}, stdout=out, stderr=err)
    assert code == 0 and jsonutil.loads(out.getvalue())["ok"] is True and "nothing to do" in err.getvalue()


def test_backfill_reads_the_whole_table_past_its_first_range_read() -> None:
    """review bi: a GetRange answers a few rows at a time (at most 5000, 4 MB); a backfill that stopped after the
    first would leave the later rows out of every index, never swept nor found by ``kyc erase``."""
    from tools.doubles.tablestore import TablestoreDouble

    with TablestoreDouble(access_key_id="ak-contract", access_key_secret="sk-contract", range_row_cap=2) as double:
        _run(double)
        old = [make_record(merchant_user_id="dave", created_at=100.0 + i) for i in range(5)]
        double.load_rows(TABLE, [([("merchant_biz_id", r.merchant_biz_id)], _old_columns(r)) for r in old])
        code, report, err = _run(double, "--backfill")
        assert code == 0, err
        assert report["backfill"] == {"read": 5, "updated": 5, "deleted": 0, "skipped": 0}
        store = wire_store(double)
        assert [r.merchant_biz_id for r in store.list_by_user("dave")[0]] == [r.merchant_biz_id for r in old]


def test_a_check_with_backfill_changes_no_row(double: Any) -> None:
    _run(double)
    code, report, err = _run(double, "--check", "--backfill")
    assert code == 0 and "backfill" not in report and "not backfilling" in err


def test_backfill_waits_until_the_drift_is_fixed(double: Any) -> None:
    from tools.doubles.tablestore._sdk import tablestore as ots

    double.client().create_table(ots.TableMeta(TABLE, [("merchantBizId", "STRING")]), ots.TableOptions(),
                                 ots.ReservedThroughput(ots.CapacityUnit(0, 0)))
    code, report, err = _run(double, "--backfill")
    assert code == 1 and "backfill" not in report and "not backfilling: fix the drift first" in err
