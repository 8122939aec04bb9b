"""Secondary indexes: readable by name, keyed by index columns + the table's key, kept in step with every write,
sparse, and (global ones) eventually consistent with a configurable lag."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tools.doubles.tablestore import TablestoreDouble
from tools.doubles.tablestore._sdk import tablestore as ts

from .conftest import AK, INSTANCE, SK, attrs, create_table, keys

IGNORE = ts.Condition(ts.RowExistenceExpectation.IGNORE)
GLOBAL, LOCAL = ts.SecondaryIndexType.GLOBAL_INDEX, ts.SecondaryIndexType.LOCAL_INDEX
DEFINED = [("user", "STRING"), ("created", "INTEGER"), ("status", "STRING"), ("note", "STRING")]


def _table(client: Any, *indexes: Any) -> None:
    create_table(client, "tx", [("id", "STRING")], DEFINED, list(indexes))


def _by_user(kind: str = GLOBAL) -> Any:
    return ts.SecondaryIndexMeta("tx_by_user", ["user", "created"], ["status"], kind)


def _put(client: Any, row_id: str, **columns: Any) -> None:
    client.put_row("tx", ts.Row([("id", row_id)], list(columns.items())), IGNORE)


def _index_rows(client: Any, index: str = "tx_by_user") -> list[Any]:
    start = [("user", ts.INF_MIN), ("created", ts.INF_MIN), ("id", ts.INF_MIN)]
    end = [("user", ts.INF_MAX), ("created", ts.INF_MAX), ("id", ts.INF_MAX)]
    _, _, rows, _ = client.get_range(index, "FORWARD", start, end)
    return rows


def _index_keys(client: Any) -> list[tuple[Any, ...]]:
    return [tuple(v for _, v in key) for key in keys(_index_rows(client))]


def test_index_key_is_the_index_columns_then_the_table_key(client: Any) -> None:
    _table(client, _by_user())
    _put(client, "t2", user="u1", created=20, status="PENDING", note="n")
    _put(client, "t1", user="u1", created=10, status="PASSED")
    _put(client, "t3", user="u0", created=30, status="PENDING")
    rows = _index_rows(client)
    assert keys(rows)[0] == [("user", "u0"), ("created", 30), ("id", "t3")]
    assert _index_keys(client) == [("u0", 30, "t3"), ("u1", 10, "t1"), ("u1", 20, "t2")]
    assert [attrs(r) for r in rows] == [{"status": "PENDING"}, {"status": "PASSED"}, {"status": "PENDING"}]


def test_an_index_reads_one_users_rows_in_time_order(client: Any) -> None:
    _table(client, _by_user())
    for i in range(6):
        _put(client, f"t{i}", user=f"u{i % 2}", created=100 - i, status="PENDING")
    start = [("user", "u1"), ("created", ts.INF_MIN), ("id", ts.INF_MIN)]
    end = [("user", "u1"), ("created", ts.INF_MAX), ("id", ts.INF_MAX)]
    _, _, rows, _ = client.get_range("tx_by_user", "FORWARD", start, end)
    assert [dict(k)["id"] for k in keys(rows)] == ["t5", "t3", "t1"]


def test_get_row_reads_an_index_row_by_its_full_key(client: Any) -> None:
    _table(client, _by_user())
    _put(client, "t1", user="u1", created=10, status="PENDING")
    _, row, _ = client.get_row("tx_by_user", [("user", "u1"), ("created", 10), ("id", "t1")])
    assert attrs(row) == {"status": "PENDING"}


def test_a_row_lacking_an_index_column_is_not_indexed_until_it_has_it(client: Any) -> None:
    _table(client, _by_user())
    _put(client, "t1", user="u1", status="PENDING")  # no "created"
    assert _index_keys(client) == []
    client.update_row("tx", ts.Row([("id", "t1")], {"put": [("created", 5)]}), IGNORE)
    assert _index_keys(client) == [("u1", 5, "t1")]
    client.update_row("tx", ts.Row([("id", "t1")], {"delete_all": ["user"]}), IGNORE)
    assert _index_keys(client) == []


def test_a_row_lacking_only_an_attribute_column_is_indexed_without_it(client: Any) -> None:
    _table(client, _by_user())
    _put(client, "t1", user="u1", created=1)
    [row] = _index_rows(client)
    assert attrs(row) == {}


def test_changing_an_index_column_moves_the_index_row(client: Any) -> None:
    _table(client, _by_user())
    _put(client, "t1", user="u1", created=1, status="PENDING")
    client.update_row("tx", ts.Row([("id", "t1")], {"put": [("created", 2), ("status", "PASSED")]}), IGNORE)
    [row] = _index_rows(client)
    assert (tuple(v for _, v in row.primary_key), attrs(row)) == (("u1", 2, "t1"), {"status": "PASSED"})


def test_changing_an_attribute_column_updates_the_index_row_in_place(client: Any) -> None:
    _table(client, _by_user())
    _put(client, "t1", user="u1", created=1, status="PENDING")
    client.update_row("tx", ts.Row([("id", "t1")], {"put": [("status", "FAILED"), ("note", "x")]}), IGNORE)
    assert [attrs(r) for r in _index_rows(client)] == [{"status": "FAILED"}]


def test_deleting_the_row_deletes_its_index_row(client: Any) -> None:
    _table(client, _by_user())
    _put(client, "t1", user="u1", created=1)
    _put(client, "t2", user="u1", created=2)
    client.delete_row("tx", ts.Row([("id", "t1")]), IGNORE)
    assert _index_keys(client) == [("u1", 2, "t2")]


def test_batch_writes_maintain_the_index(client: Any) -> None:
    _table(client, _by_user())
    request = ts.BatchWriteRowRequest()
    request.add(ts.TableInBatchWriteRowItem("tx", [
        ts.PutRowItem(ts.Row([("id", "a")], [("user", "u"), ("created", 1)]), IGNORE),
        ts.PutRowItem(ts.Row([("id", "b")], [("user", "u"), ("created", 2)]), IGNORE),
    ]))
    client.batch_write_row(request)
    assert _index_keys(client) == [("u", 1, "a"), ("u", 2, "b")]


def test_a_failed_condition_leaves_the_index_alone(client: Any) -> None:
    _table(client, _by_user())
    _put(client, "t1", user="u1", created=1)
    with pytest.raises(ts.OTSServiceError):
        client.put_row("tx", ts.Row([("id", "t1")], [("user", "u2"), ("created", 1)]),
                       ts.Condition(ts.RowExistenceExpectation.EXPECT_NOT_EXIST))
    assert _index_keys(client) == [("u1", 1, "t1")]


def test_create_index_with_base_data_indexes_existing_rows_and_without_only_new_ones(client: Any) -> None:
    _table(client)
    _put(client, "old", user="u", created=1)
    client.create_secondary_index("tx", _by_user(), True)
    client.create_secondary_index("tx", ts.SecondaryIndexMeta("tx_by_status", ["status"], [], GLOBAL), False)
    _put(client, "new", user="u", created=2, status="PENDING")
    assert _index_keys(client) == [("u", 1, "old"), ("u", 2, "new")]
    _, _, rows, _ = client.get_range("tx_by_status", "FORWARD", [("status", ts.INF_MIN), ("id", ts.INF_MIN)],
                                     [("status", ts.INF_MAX), ("id", ts.INF_MAX)])
    assert [dict(k)["id"] for k in keys(rows)] == ["new"]
    assert [i.index_name for i in client.describe_table("tx").secondary_indexes] == ["tx_by_user", "tx_by_status"]


def test_a_dropped_index_can_no_longer_be_read(client: Any) -> None:
    _table(client, _by_user())
    client.delete_secondary_index("tx", "tx_by_user")
    with pytest.raises(ts.OTSServiceError) as missing:
        _index_rows(client)
    assert (missing.value.http_status, missing.value.code) == (404, "OTSObjectNotExist")
    assert client.describe_table("tx").secondary_indexes == []


def test_an_index_is_read_only(client: Any) -> None:
    _table(client, _by_user())
    with pytest.raises(ts.OTSServiceError) as refused:
        client.put_row("tx_by_user", ts.Row([("user", "u"), ("created", 1), ("id", "x")], [("status", "S")]), IGNORE)
    assert (refused.value.http_status, refused.value.code) == (400, "OTSParameterInvalid")


@pytest.mark.parametrize(
    ("meta", "table_options"),
    [
        (ts.SecondaryIndexMeta("i", ["undefined"], [], GLOBAL), ts.TableOptions()),
        (ts.SecondaryIndexMeta("i", ["user"], ["undefined"], GLOBAL), ts.TableOptions()),
        (ts.SecondaryIndexMeta("i", ["user"], [], LOCAL), ts.TableOptions()),  # local: first key must be "id"
        (ts.SecondaryIndexMeta("i", ["user"], [], GLOBAL), ts.TableOptions(max_version=2)),
        (ts.SecondaryIndexMeta("i", ["user"], [], GLOBAL), ts.TableOptions(time_to_live=86400)),
    ],
    ids=["key-not-predefined", "attribute-not-predefined", "local-first-key", "versions", "ttl"],
)
def test_invalid_index_definitions_are_parameter_errors(client: Any, meta: Any, table_options: Any) -> None:
    table_meta = ts.TableMeta("tx", [("id", "STRING")], DEFINED)
    client.create_table(table_meta, table_options, ts.ReservedThroughput(ts.CapacityUnit(0, 0)))
    with pytest.raises(ts.OTSServiceError) as refused:
        client.create_secondary_index("tx", meta, False)
    assert (refused.value.http_status, refused.value.code) == (400, "OTSParameterInvalid")


def test_an_index_name_already_in_use_is_a_conflict(client: Any) -> None:
    _table(client, _by_user())
    with pytest.raises(ts.OTSServiceError) as refused:
        client.create_secondary_index("tx", _by_user(), False)
    assert (refused.value.http_status, refused.value.code) == (409, "OTSObjectAlreadyExist")


# --- eventual consistency -------------------------------------------------------------------------------------


class Clock:
    """Real time plus an offset the test advances (signatures still see a current date)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def lagging() -> Iterator[tuple[TablestoreDouble, Any, Clock]]:
    clock = Clock()
    with TablestoreDouble(access_key_id=AK, access_key_secret=SK, instance=INSTANCE, clock=clock) as double:
        yield double, double.client(retry_policy=ts.NoRetryPolicy()), clock


def test_a_global_index_lags_by_the_configured_time(lagging: tuple[TablestoreDouble, Any, Clock]) -> None:
    ots, client, clock = lagging
    _table(client, _by_user())
    ots.set_index_lag(5.0)
    _put(client, "t1", user="u1", created=1)
    assert _index_keys(client) == []  # not there yet: the main row is
    assert client.get_row("tx", [("id", "t1")])[1] is not None
    clock.offset += 4.9
    assert _index_keys(client) == []
    clock.offset += 0.2
    assert _index_keys(client) == [("u1", 1, "t1")]


def test_held_index_changes_apply_in_write_order_on_flush(lagging: tuple[TablestoreDouble, Any, Clock]) -> None:
    ots, client, _ = lagging
    _table(client, _by_user())
    _put(client, "t1", user="u1", created=1, status="PENDING")
    ots.set_index_lag(manual=True)
    client.update_row("tx", ts.Row([("id", "t1")], {"put": [("created", 2)]}), IGNORE)
    client.update_row("tx", ts.Row([("id", "t1")], {"put": [("status", "PASSED")]}), IGNORE)
    _put(client, "t2", user="u2", created=1)
    client.delete_row("tx", ts.Row([("id", "t2")]), IGNORE)
    assert _index_keys(client) == [("u1", 1, "t1")]  # stale: the old key, the old status
    assert [attrs(r) for r in _index_rows(client)] == [{"status": "PENDING"}]
    assert ots.stats()["indexes"]["pendingChanges"] == 4
    assert ots.flush_indexes() == 4
    assert _index_keys(client) == [("u1", 2, "t1")]
    assert [attrs(r) for r in _index_rows(client)] == [{"status": "PASSED"}]


def test_a_local_index_is_synchronous_whatever_the_lag(lagging: tuple[TablestoreDouble, Any, Clock]) -> None:
    ots, client, _ = lagging
    _table(client, ts.SecondaryIndexMeta("tx_local", ["id", "user"], ["status"], LOCAL))
    ots.set_index_lag(manual=True)
    _put(client, "t1", user="u1", status="PENDING")
    _, _, rows, _ = client.get_range("tx_local", "FORWARD", [("id", ts.INF_MIN), ("user", ts.INF_MIN)],
                                     [("id", ts.INF_MAX), ("user", ts.INF_MAX)])
    assert [tuple(v for _, v in k) for k in keys(rows)] == [("t1", "u1")]


def test_the_lag_is_set_and_flushed_over_the_control_api(lagging: tuple[TablestoreDouble, Any, Clock]) -> None:
    import json
    import urllib.request

    ots, client, _ = lagging
    _table(client, _by_user())

    def post(route: str, data: Any) -> Any:
        request = urllib.request.Request(ots.base_url + "/_double/tablestore/" + route, json.dumps(data).encode(),
                                         method="POST")
        with urllib.request.urlopen(request, timeout=5) as answer:
            return json.loads(answer.read())

    assert post("indexes/lag", {"manual": True})["manual"] is True
    _put(client, "t1", user="u1", created=1)
    assert _index_keys(client) == []
    assert post("indexes/flush", {}) == {"applied": 1}
    assert _index_keys(client) == [("u1", 1, "t1")]
    assert post("indexes/lag", {"seconds": 0}) == {"lagSeconds": 0.0, "manual": False, "pendingChanges": 0}
