"""Secondary indexes: readable by name, keyed by index columns + the table's key, kept in step with every write,
sparse, and (global ones) eventually consistent with a configurable lag."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tools.doubles.tablestore import TablestoreDouble
from tools.doubles.tablestore._sdk import pb2
from tools.doubles.tablestore._sdk import tablestore as ts
from tools.doubles.tablestore.indexes import IndexLag
from tools.doubles.tablestore.schema import IndexLimits

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


def test_create_index_without_base_data_leaves_existing_rows_out(client: Any) -> None:
    """``include_base_data=False`` indexes only the rows written after the index exists (CreateIndex)."""
    _table(client)
    _put(client, "old", user="u", created=1)
    client.create_secondary_index("tx", _by_user(), False)
    _put(client, "new", user="u", created=2)
    assert _index_keys(client) == [("u", 2, "new")]


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
        (ts.SecondaryIndexMeta("i", [], ["user"], GLOBAL), ts.TableOptions()),
        (ts.SecondaryIndexMeta("i", ["user", "created", "status", "note", "id"], [], GLOBAL), ts.TableOptions()),
        (ts.SecondaryIndexMeta("i", ["user", "user"], [], GLOBAL), ts.TableOptions()),
        (ts.SecondaryIndexMeta("i", ["score"], [], GLOBAL), ts.TableOptions()),
        (ts.SecondaryIndexMeta("1i", ["user"], [], GLOBAL), ts.TableOptions()),
    ],
    ids=["key-not-predefined", "attribute-not-predefined", "local-first-key", "versions", "ttl", "no-key",
         "five-index-columns", "duplicate-key-column", "double-key-column", "bad-name"],
)
def test_invalid_index_definitions_are_parameter_errors(client: Any, meta: Any, table_options: Any) -> None:
    """"Limits on secondary indexes": 1 to 4 index columns, of the data table's primary key and predefined columns,
    STRING, INTEGER or BINARY; the index naming rules; no index on a table with several versions, nor with a TTL
    unless updates are disallowed."""
    table_meta = ts.TableMeta("tx", [("id", "STRING")], [*DEFINED, ("score", "DOUBLE")])
    client.create_table(table_meta, table_options, ts.ReservedThroughput(ts.CapacityUnit(0, 0)))
    with pytest.raises(ts.OTSServiceError) as refused:
        client.create_secondary_index("tx", meta, False)
    assert (refused.value.http_status, refused.value.code) == (400, "OTSParameterInvalid")
    assert client.describe_table("tx").secondary_indexes == []


def test_a_table_holds_at_most_five_indexes(client: Any) -> None:
    """"Number of secondary indexes: 5" ("Limits on secondary indexes")."""
    _table(client, *[ts.SecondaryIndexMeta(f"i{n}", ["user"], [], GLOBAL) for n in range(5)])
    with pytest.raises(ts.OTSServiceError) as refused:
        client.create_secondary_index("tx", ts.SecondaryIndexMeta("i5", ["user"], [], GLOBAL), False)
    assert (refused.value.http_status, refused.value.code) == (400, "OTSParameterInvalid")


def test_an_index_over_the_configured_attribute_limit_is_refused() -> None:
    """The attribute-column limit is a setting of the double (``IndexLimits``)."""
    limits = IndexLimits(attribute_columns=2)
    with TablestoreDouble(access_key_id=AK, access_key_secret=SK, instance=INSTANCE, index_limits=limits) as ots:
        client = ots.client(retry_policy=ts.NoRetryPolicy())
        _table(client, ts.SecondaryIndexMeta("ok", ["user"], ["status", "note"], GLOBAL))
        with pytest.raises(ts.OTSServiceError) as refused:
            client.create_secondary_index(
                "tx", ts.SecondaryIndexMeta("i", ["user"], ["status", "note", "created"], GLOBAL), False)
        assert (refused.value.http_status, refused.value.code) == (400, "OTSParameterInvalid")


def _wide_table(client: Any, attributes: int) -> None:
    """A table keyed (id, user) with ``attributes`` predefined STRING columns a0, a1, ..."""
    defined = [(f"a{n}", "STRING") for n in range(attributes)]
    create_table(client, "wide", [("id", "STRING"), ("user", "STRING")], defined)


def test_an_index_may_hold_32_attribute_columns(client: Any) -> None:
    """"A secondary index can contain up to 32 attribute columns, which are the predefined columns of the data
    table" ("Limits on secondary indexes", help/en/tablestore/secondary-index-limits; zh doc 189566: "属性列个数
    32"); the data table holds up to 32 predefined columns ("Limits on the Wide Column model")."""
    _wide_table(client, 32)
    client.create_secondary_index("wide", ts.SecondaryIndexMeta("wide_by_user", ["user"],
                                                                [f"a{n}" for n in range(32)], GLOBAL), False)
    assert len(client.describe_table("wide").secondary_indexes[0].defined_column_names) == 32


def test_an_index_of_33_attribute_columns_is_refused(client: Any) -> None:
    """One over the 32 of "Limits on secondary indexes" (the double does not cap the data table's predefined
    columns, so the index's own limit is what refuses it)."""
    _wide_table(client, 33)
    with pytest.raises(ts.OTSServiceError) as refused:
        client.create_secondary_index("wide", ts.SecondaryIndexMeta("wide_by_user", ["user"],
                                                                    [f"a{n}" for n in range(33)], GLOBAL), False)
    assert (refused.value.http_status, refused.value.code) == (400, "OTSParameterInvalid")
    assert client.describe_table("wide").secondary_indexes == []


def test_a_table_with_a_ttl_may_have_an_index_once_updates_are_disallowed(client: Any) -> None:
    """"Data lifecycle (TTL): supported; disable updates on the data table so the index's TTL matches"
    ("Limits on secondary indexes")."""
    client.create_table(ts.TableMeta("tx", [("id", "STRING")], DEFINED),
                        ts.TableOptions(time_to_live=86400, allow_update=False),
                        ts.ReservedThroughput(ts.CapacityUnit(0, 0)))
    client.create_secondary_index("tx", _by_user(), False)
    assert [i.index_name for i in client.describe_table("tx").secondary_indexes] == ["tx_by_user"]


def test_describe_tells_a_local_index_from_a_global_one(ots: TablestoreDouble, client: Any) -> None:
    """A local index is synchronous, a global one asynchronous (``index_update_mode`` IUM_SYNC_INDEX /
    IUM_ASYNC_INDEX in table_store.proto; the SDK reads only the type)."""
    _table(client, _by_user(GLOBAL), ts.SecondaryIndexMeta("tx_local", ["id", "user"], [], LOCAL))
    described = {i.index_name: i.index_type for i in client.describe_table("tx").secondary_indexes}
    assert described == {"tx_by_user": GLOBAL, "tx_local": LOCAL}
    answer = pb2.DescribeTableResponse()
    answer.ParseFromString(ots.protocol.handle("DescribeTable", pb2.DescribeTableRequest(
        table_name="tx").SerializeToString()))
    assert {m.name: m.index_update_mode for m in answer.index_metas} == {
        "tx_by_user": pb2.IUM_ASYNC_INDEX, "tx_local": pb2.IUM_SYNC_INDEX}


def test_an_index_name_already_in_use_is_a_conflict(client: Any) -> None:
    _table(client, _by_user())
    with pytest.raises(ts.OTSServiceError) as refused:
        client.create_secondary_index("tx", _by_user(), False)
    assert (refused.value.http_status, refused.value.code) == (409, "OTSObjectAlreadyExist")


def test_an_index_cannot_take_the_name_of_a_table(client: Any) -> None:
    """"Name of a secondary index: Unique within an instance" ("Limits on secondary indexes"), with CreateIndex as
    with the indexes CreateTable creates."""
    create_table(client, "other")
    _table(client)
    with pytest.raises(ts.OTSServiceError) as refused:
        client.create_secondary_index("tx", ts.SecondaryIndexMeta("other", ["user"], [], GLOBAL), False)
    assert (refused.value.http_status, refused.value.code) == (409, "OTSObjectAlreadyExist")
    with pytest.raises(ts.OTSServiceError) as refused:
        create_table(client, "tx2", [("id", "STRING")], DEFINED, [ts.SecondaryIndexMeta("tx", ["user"], [], GLOBAL)])
    assert (refused.value.http_status, refused.value.code) == (409, "OTSObjectAlreadyExist")
    assert client.list_table() == ("other", "tx")


def test_dropping_an_index_the_table_lacks_is_an_error(client: Any) -> None:
    """(Which error the service answers is unverified; that it is one is what matters.)"""
    _table(client)
    with pytest.raises(ts.OTSServiceError):
        client.delete_secondary_index("tx", "tx_by_user")


def test_deleting_a_table_deletes_its_indexes(client: Any) -> None:
    _table(client, _by_user())
    client.delete_table("tx")
    with pytest.raises(ts.OTSServiceError) as missing:
        _index_rows(client)
    assert (missing.value.http_status, missing.value.code) == (404, "OTSObjectNotExist")


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


@pytest.mark.parametrize("drop", ["index", "table"])
def test_changes_held_for_a_dropped_index_never_reach_its_successor(
    lagging: tuple[TablestoreDouble, Any, Clock], drop: str
) -> None:
    """An index (or table) recreated under the same name starts empty: the old one's pending changes went with it."""
    ots, client, _ = lagging
    _table(client, _by_user())
    ots.set_index_lag(manual=True)
    _put(client, "t1", user="u1", created=1)
    if drop == "index":
        client.delete_secondary_index("tx", "tx_by_user")
        client.create_secondary_index("tx", _by_user(), False)
    else:
        client.delete_table("tx")
        _table(client, _by_user())
    assert ots.flush_indexes() == 0
    assert _index_keys(client) == []


def test_a_write_to_a_row_outside_every_index_holds_no_change(lagging: tuple[TablestoreDouble, Any, Clock]) -> None:
    ots, client, _ = lagging
    _table(client, _by_user())
    ots.set_index_lag(manual=True)
    _put(client, "t1", note="no user, no created")
    assert ots.stats()["indexes"]["pendingChanges"] == 0


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


@pytest.mark.parametrize("body", [{"seconds": -1}, {"seconds": 3601}, {"seconds": True}, {"second": 1},
                                  {"manual": "yes"}, [1]])
def test_the_control_api_refuses_a_lag_it_cannot_apply(ots: TablestoreDouble, body: Any) -> None:
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(ots.base_url + "/_double/tablestore/indexes/lag", json.dumps(body).encode(),
                                     method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 400
    assert ots.engine.index_lag == IndexLag()


def test_a_negative_lag_is_refused_by_the_python_api(ots: TablestoreDouble) -> None:
    with pytest.raises(ValueError, match="negative"):
        ots.set_index_lag(-1.0)


def test_the_control_api_lists_tables_and_indexes_with_their_row_counts(ots: TablestoreDouble, client: Any) -> None:
    import json
    import urllib.request

    _table(client, _by_user())
    _put(client, "t1", user="u1", created=1)
    _put(client, "t2", note="not indexed")
    with urllib.request.urlopen(ots.base_url + "/_double/tablestore/tables", timeout=5) as answer:
        assert json.loads(answer.read()) == {"tables": {"tx": {"rows": 2, "indexes": {"tx_by_user": 1}}}}
