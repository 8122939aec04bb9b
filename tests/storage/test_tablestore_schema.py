"""``ensure_tables``: the tables and indexes of ``tablestore_schema`` created, checked and reported, against the
Tablestore double over the SDK."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shared.storage.tablestore_schema import RATE_TTL_SECONDS, Schema, ensure_tables

TABLE = "kyc_tx"


@pytest.fixture
def double() -> Iterator[Any]:
    from tools.doubles.tablestore import TablestoreDouble

    with TablestoreDouble(access_key_id="ak-schema", access_key_secret="sk-schema") as ots:
        yield ots


def _ots() -> Any:
    from tools.doubles.tablestore._sdk import tablestore

    return tablestore


def test_a_fresh_instance_gets_every_table_and_index(double: Any) -> None:
    schema = Schema(TABLE)
    report = ensure_tables(double.client(), TABLE)
    assert report.ok
    assert set(report.created) == {
        TABLE, schema.due_index, schema.by_user_index, schema.by_time_index, schema.rate_table
    }
    described = double.client().describe_table(TABLE)
    indexes = {i.index_name: (i.primary_key_names, i.defined_column_names) for i in described.secondary_indexes}
    assert indexes == {
        schema.due_index: (["due_kind", "due_ms", "merchant_biz_id"], []),
        schema.by_user_index: (["merchant_user_id", "created_ms", "merchant_biz_id"], []),
        schema.by_time_index: (["created_ms", "merchant_biz_id"], ["status"]),
    }
    assert (described.table_options.time_to_live, described.table_options.max_version) == (-1, 1)
    assert described.sse_details.enable is True
    rate = double.client().describe_table(schema.rate_table)
    assert rate.table_options.time_to_live == RATE_TTL_SECONDS and rate.secondary_indexes == []


def test_a_second_run_creates_nothing_and_verifies_everything(double: Any) -> None:
    ensure_tables(double.client(), TABLE)
    report = ensure_tables(double.client(), TABLE)
    assert report.ok and report.created == []
    assert len(report.verified) == 5


def test_check_only_reports_missing_tables_and_creates_nothing(double: Any) -> None:
    report = ensure_tables(double.client(), TABLE, create=False)
    assert not report.ok and report.created == []
    assert list(double.client().list_table()) == []
    assert f"table {TABLE} is missing" in report.drift


def test_a_missing_index_is_created_over_the_rows_already_there(double: Any) -> None:
    ots = _ots()
    client = double.client()
    schema = Schema(TABLE)
    main = schema.tables()[0]
    client.create_table(
        ots.TableMeta(TABLE, list(main.primary_key), list(main.defined_columns)),
        ots.TableOptions(),
        ots.ReservedThroughput(ots.CapacityUnit(0, 0)),
        sse_spec=ots.SSESpecification(enable=True, key_type=ots.SSEKeyType.SSE_KMS_SERVICE),
    )
    double.load_rows(TABLE, [([("merchant_biz_id", "a1")], {"merchant_user_id": "u", "created_ms": 5})])
    report = ensure_tables(client, TABLE)
    assert report.ok
    assert {schema.due_index, schema.by_user_index, schema.by_time_index} <= set(report.created)
    double.flush_indexes()
    _, _, rows, _ = client.get_range(
        schema.by_user_index,
        ots.Direction.FORWARD,
        [("merchant_user_id", "u"), ("created_ms", ots.INF_MIN), ("merchant_biz_id", ots.INF_MIN)],
        [("merchant_user_id", "u"), ("created_ms", ots.INF_MAX), ("merchant_biz_id", ots.INF_MAX)],
    )
    assert [r.primary_key[-1][1] for r in rows] == ["a1"]


def test_a_table_made_before_the_indexes_is_reported_not_changed(double: Any) -> None:
    ots = _ots()
    client = double.client()
    client.create_table(
        ots.TableMeta(TABLE, [("merchant_biz_id", "STRING")]),
        ots.TableOptions(time_to_live=90 * 86400),
        ots.ReservedThroughput(ots.CapacityUnit(0, 0)),
    )
    report = ensure_tables(client, TABLE)
    assert report.created == [Schema(TABLE).rate_table]
    assert any("predefined column created_ms INTEGER is missing" in d for d in report.drift)
    assert any("time to live 7776000, expected -1" in d for d in report.drift)
    assert any("not encrypted" in n for n in report.notes)
    assert f"index {Schema(TABLE).due_index} is missing (fix the table first)" in report.drift
    assert client.describe_table(TABLE).secondary_indexes == []
