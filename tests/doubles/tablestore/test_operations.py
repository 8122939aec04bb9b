"""Every operation the double answers, driven by the official ``tablestore.OTSClient`` over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from tools.doubles.tablestore import TablestoreDouble
from tools.doubles.tablestore._sdk import PlainBufferBuilder, pb2
from tools.doubles.tablestore._sdk import tablestore as ts
from tools.doubles.tablestore.errors import ServiceError

from .conftest import AK, INSTANCE, SK, attrs, create_table, keys

COMPOSITE = [("s", "STRING"), ("i", "INTEGER"), ("b", "BINARY")]
EVERYTHING = ts.Condition(ts.RowExistenceExpectation.IGNORE)


def _error(call: Any, *args: Any, **kwargs: Any) -> ts.OTSServiceError:
    with pytest.raises(ts.OTSServiceError) as raised:
        call(*args, **kwargs)
    return raised.value


def _put(client: Any, table: str, key: list[tuple[str, Any]], columns: list[tuple[str, Any]]) -> None:
    client.put_row(table, ts.Row(key, columns), EVERYTHING)


# --- tables -------------------------------------------------------------------------------------------------


def test_create_describe_list_and_delete_a_table(client: Any) -> None:
    meta = ts.TableMeta("t1", COMPOSITE, [("u", "STRING"), ("n", "INTEGER")])
    index = ts.SecondaryIndexMeta("t1_by_u", ["u"], ["n"], ts.SecondaryIndexType.GLOBAL_INDEX)
    sse = ts.SSESpecification(True, ts.SSEKeyType.SSE_KMS_SERVICE)
    client.create_table(meta, ts.TableOptions(), ts.ReservedThroughput(ts.CapacityUnit(0, 0)), [index], sse)
    create_table(client, "t0")
    assert client.list_table() == ("t0", "t1")
    described = client.describe_table("t1")
    assert described.table_meta.schema_of_primary_key == COMPOSITE
    assert described.table_meta.defined_columns == [("u", "STRING"), ("n", "INTEGER")]
    assert (described.table_options.max_version, described.table_options.time_to_live) == (1, -1)
    assert (described.sse_details.enable, described.sse_details.key_type) == (True, ts.SSEKeyType.SSE_KMS_SERVICE)
    [described_index] = described.secondary_indexes
    assert (described_index.index_name, described_index.primary_key_names, described_index.defined_column_names) == (
        "t1_by_u", ["u"], ["n"]
    )
    assert described_index.index_type == ts.SecondaryIndexType.GLOBAL_INDEX
    client.delete_table("t1")
    assert client.list_table() == ("t0",)


def test_update_table_changes_the_options_it_is_given(client: Any) -> None:
    create_table(client)
    answer = client.update_table("t", ts.TableOptions(time_to_live=86400, max_version=None, max_time_deviation=None))
    assert (answer.table_options.time_to_live, answer.table_options.max_version) == (86400, 1)
    assert client.describe_table("t").table_options.time_to_live == 86400


def test_update_table_keeps_what_an_index_requires(client: Any) -> None:
    create_table(client, "t", [("pk", "STRING")], [("u", "STRING")],
                 [ts.SecondaryIndexMeta("t_by_u", ["u"], [], ts.SecondaryIndexType.GLOBAL_INDEX)])
    error = _error(client.update_table, "t", ts.TableOptions(max_version=2))
    assert (error.http_status, error.code) == (400, "OTSParameterInvalid")


def test_creating_an_existing_table_is_a_conflict(client: Any) -> None:
    create_table(client)
    error = _error(create_table, client)
    assert (error.http_status, error.code) == (409, "OTSObjectAlreadyExist")
    assert error.message == "Requested table already exists."


def test_a_table_cannot_take_the_name_of_a_secondary_index(client: Any) -> None:
    """Table and index names are unique within an instance ("Limits on secondary indexes": "Name of a secondary
    index: Unique within an instance")."""
    create_table(client, "t", [("pk", "STRING")], [("u", "STRING")],
                 [ts.SecondaryIndexMeta("t_by_u", ["u"], [], ts.SecondaryIndexType.GLOBAL_INDEX)])
    error = _error(create_table, client, "t_by_u")
    assert (error.http_status, error.code) == (409, "OTSObjectAlreadyExist")


@pytest.mark.parametrize(
    ("name", "primary_key", "defined"),
    [
        ("1table", [("pk", "STRING")], []),
        ("my-table", [("pk", "STRING")], []),
        ("t" * 256, [("pk", "STRING")], []),
        ("t", [("1pk", "STRING")], []),
        ("t", [("pk", "STRING")], [("col-umn", "STRING")]),
        ("t", [(f"k{i}", "INTEGER") for i in range(5)], []),
        ("t", [("pk", "STRING")], [("pk", "STRING")]),
    ],
    ids=["digit-first", "hyphen", "256-chars", "key-name", "defined-name", "five-keys", "duplicate-column"],
)
def test_invalid_table_definitions_are_parameter_errors(
    client: Any, name: str, primary_key: list[tuple[str, str]], defined: list[tuple[str, str]]
) -> None:
    """Names: 1-255 bytes of letters, digits and underscores, not starting with a digit; 1-4 primary key columns;
    column names unique within a table ("Limits on the Wide Column model")."""
    error = _error(create_table, client, name, primary_key, defined)
    assert (error.http_status, error.code) == (400, "OTSParameterInvalid")
    assert client.list_table() == ()


def test_the_longest_names_and_four_key_columns_are_accepted(client: Any) -> None:
    """The same limits, at their edges: a 255-character name, names starting with an underscore, four keys."""
    create_table(client, "_" + "t" * 254, [(f"_k{i}", "INTEGER") for i in range(4)], [("c" * 255, "STRING")])
    assert client.list_table() == ("_" + "t" * 254,)


@pytest.mark.parametrize("create", [True, False], ids=["create", "update"])
def test_max_versions_below_one_is_a_parameter_error(client: Any, create: bool) -> None:
    if create:
        call = lambda: client.create_table(  # noqa: E731
            ts.TableMeta("t", [("pk", "STRING")]), ts.TableOptions(max_version=0),
            ts.ReservedThroughput(ts.CapacityUnit(0, 0)))
    else:
        create_table(client)
        call = lambda: client.update_table("t", ts.TableOptions(max_version=0))  # noqa: E731
    error = _error(call)
    assert (error.http_status, error.code) == (400, "OTSParameterInvalid")


def test_describe_reports_whether_updates_are_allowed(client: Any) -> None:
    client.create_table(ts.TableMeta("t", [("pk", "STRING")]), ts.TableOptions(allow_update=False),
                        ts.ReservedThroughput(ts.CapacityUnit(0, 0)))
    assert client.describe_table("t").table_options.allow_update is False


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.describe_table("nope"),
        lambda c: c.delete_table("nope"),
        lambda c: c.get_row("nope", [("pk", "a")]),
        lambda c: c.put_row("nope", ts.Row([("pk", "a")], [("c", 1)]), EVERYTHING),
        lambda c: c.update_row("nope", ts.Row([("pk", "a")], {"put": [("c", 1)]}), EVERYTHING),
        lambda c: c.delete_row("nope", ts.Row([("pk", "a")]), EVERYTHING),
        lambda c: c.get_range("nope", "FORWARD", [("pk", ts.INF_MIN)], [("pk", ts.INF_MAX)]),
    ],
    ids=["describe", "delete", "get", "put", "update", "delete_row", "range"],
)
def test_a_missing_table_is_object_not_exist(client: Any, call: Any) -> None:
    error = _error(call, client)
    assert (error.http_status, error.code) == (404, "OTSObjectNotExist")
    assert error.message == "Requested table does not exist."


# --- single rows ----------------------------------------------------------------------------------------------


def test_put_then_get_round_trips_every_value_type_under_a_composite_key(client: Any) -> None:
    create_table(client, "t", COMPOSITE)
    key = [("s", "证件-1"), ("i", -(1 << 63)), ("b", bytearray(b"\x00\xff"))]
    values = {"text": "héllo", "int": (1 << 63) - 1, "float": -2.5, "yes": True, "no": False}
    values["blob"] = bytearray(b"\x01")
    _put(client, "t", key, list(values.items()))
    _, row, _ = client.get_row("t", key)
    assert row.primary_key == key
    assert attrs(row) == values


def test_get_of_a_missing_row_returns_none(client: Any) -> None:
    create_table(client)
    _, row, _ = client.get_row("t", [("pk", "missing")])
    assert row is None


def test_get_returns_only_columns_to_get_and_nothing_when_none_exist(client: Any) -> None:
    create_table(client)
    _put(client, "t", [("pk", "a")], [("x", 1), ("y", 2), ("z", 3)])
    _, row, _ = client.get_row("t", [("pk", "a")], columns_to_get=["x", "z", "absent"])
    assert (row.primary_key, attrs(row)) == ([("pk", "a")], {"x": 1, "z": 3})
    _, row, _ = client.get_row("t", [("pk", "a")], columns_to_get=["absent"])
    assert row is None


def test_get_with_a_filter_that_drops_the_row_returns_none(client: Any) -> None:
    create_table(client)
    _put(client, "t", [("pk", "a")], [("x", 1)])
    keep = ts.SingleColumnCondition("x", 1, ts.ComparatorType.EQUAL)
    drop = ts.SingleColumnCondition("x", 2, ts.ComparatorType.EQUAL)
    assert client.get_row("t", [("pk", "a")], column_filter=keep)[1] is not None
    assert client.get_row("t", [("pk", "a")], column_filter=drop)[1] is None


def test_put_replaces_every_column_of_an_existing_row(client: Any) -> None:
    create_table(client)
    _put(client, "t", [("pk", "a")], [("x", 1), ("y", 2)])
    _put(client, "t", [("pk", "a")], [("z", 3)])
    assert attrs(client.get_row("t", [("pk", "a")])[1]) == {"z": 3}


def test_update_puts_deletes_and_increments_cells(client: Any) -> None:
    create_table(client)
    _put(client, "t", [("pk", "a")], [("keep", "k"), ("gone", 1), ("versioned", 7), ("count", 40)])
    _, row, _ = client.get_row("t", [("pk", "a")])
    versioned_ts = {name: stamp for name, _, stamp in row.attribute_columns}["versioned"]
    change = {
        "put": [("new", "n"), ("keep", "K")],
        "delete_all": ["gone", "never_existed"],
        "delete": [("versioned", None, versioned_ts)],
        "increment": [("count", 2), ("fresh", 5)],
    }
    client.update_row("t", ts.Row([("pk", "a")], change), EVERYTHING)
    assert attrs(client.get_row("t", [("pk", "a")])[1]) == {"keep": "K", "new": "n", "count": 42, "fresh": 5}


def test_update_of_a_missing_row_creates_it(client: Any) -> None:
    create_table(client)
    client.update_row("t", ts.Row([("pk", "a")], {"put": [("x", 1)]}), EVERYTHING)
    assert attrs(client.get_row("t", [("pk", "a")])[1]) == {"x": 1}


def test_a_row_whose_last_column_is_deleted_no_longer_exists(client: Any) -> None:
    create_table(client)
    _put(client, "t", [("pk", "a")], [("x", 1)])
    client.update_row("t", ts.Row([("pk", "a")], {"delete_all": ["x"]}), EVERYTHING)
    assert client.get_row("t", [("pk", "a")])[1] is None
    client.update_row("t", ts.Row([("pk", "b")], {"delete_all": ["x"]}), EVERYTHING)
    assert client.get_row("t", [("pk", "b")])[1] is None


def test_incrementing_a_non_integer_is_a_parameter_error(client: Any) -> None:
    create_table(client)
    _put(client, "t", [("pk", "a")], [("x", "text")])
    error = _error(client.update_row, "t", ts.Row([("pk", "a")], {"increment": [("x", 1)]}), EVERYTHING)
    assert (error.http_status, error.code) == (400, "OTSParameterInvalid")


@pytest.mark.parametrize(("start", "step"), [((1 << 63) - 1, 1), (-(1 << 63), -1)], ids=["up", "down"])
def test_an_increment_that_overflows_int64_is_a_parameter_error(client: Any, start: int, step: int) -> None:
    """"Use the atomic counter feature" (Tablestore, Python SDK page): "you must avoid an integer overflow. If an
    integer overflow occurs, an OTSParameterInvalid error is returned"."""
    create_table(client)
    _put(client, "t", [("pk", "a")], [("n", start)])
    error = _error(client.update_row, "t", ts.Row([("pk", "a")], {"increment": [("n", step)]}), EVERYTHING)
    assert (error.http_status, error.code) == (400, "OTSParameterInvalid")
    assert attrs(client.get_row("t", [("pk", "a")])[1]) == {"n": start}


@pytest.mark.parametrize("change", [
    {"increment": [("n", 2)], "put": [("n", 5)]},
    {"increment": [("n", 2)], "delete_all": ["n"]},
    {"increment": [("n", 2)], "delete": [("n", None, 1000)]},
    {"increment": [("n", 2), ("n", 3)]},
], ids=["put", "delete_all", "delete_one_version", "increment_twice"])
def test_a_column_cannot_be_incremented_and_otherwise_updated_in_one_request(client: Any, change: Any) -> None:
    """"You cannot specify a column as an atomic counter and update the column in a single update request. For
    example, if you set Column A to an atomic counter, you cannot perform other operations such as overwrite and
    delete operations on the column at the same time" ("Use the atomic counter feature", Tablestore). The page names
    no error code, and a second increment of the counter is refused alike (both unverified). Nothing is written."""
    create_table(client)
    _put(client, "t", [("pk", "a")], [("n", 1)])
    error = _error(client.update_row, "t", ts.Row([("pk", "a")], change), EVERYTHING)
    assert (error.http_status, error.code) == (400, "OTSParameterInvalid")
    assert attrs(client.get_row("t", [("pk", "a")])[1]) == {"n": 1}


def test_a_counter_may_be_incremented_beside_updates_of_other_columns(client: Any) -> None:
    """The atomic-counter rule is per column: other columns of the row may be put or deleted in the same request."""
    create_table(client)
    _put(client, "t", [("pk", "a")], [("n", 1), ("gone", "x")])
    change = {"increment": [("n", 2)], "put": [("note", "y")], "delete_all": ["gone"]}
    client.update_row("t", ts.Row([("pk", "a")], change), EVERYTHING)
    assert attrs(client.get_row("t", [("pk", "a")])[1]) == {"n": 3, "note": "y"}


def test_delete_removes_the_row_and_deleting_again_is_fine(client: Any) -> None:
    create_table(client)
    _put(client, "t", [("pk", "a")], [("x", 1)])
    client.delete_row("t", ts.Row([("pk", "a")]), EVERYTHING)
    client.delete_row("t", ts.Row([("pk", "a")]), EVERYTHING)
    assert client.get_row("t", [("pk", "a")])[1] is None


def test_put_returns_the_primary_key_when_asked(client: Any) -> None:
    create_table(client, "t", COMPOSITE)
    key = [("s", "a"), ("i", 1), ("b", bytearray(b"k"))]
    _, returned = client.put_row("t", ts.Row(key, [("x", 1)]), EVERYTHING, ts.ReturnType.RT_PK)
    assert returned.primary_key == key


def test_a_write_returns_no_primary_key_unless_asked(client: Any) -> None:
    """ReturnType RT_NONE (the default) answers without a row (PutRow/UpdateRow/DeleteRow API pages)."""
    create_table(client)
    assert client.put_row("t", ts.Row([("pk", "a")], [("x", 1)]), EVERYTHING)[1] is None
    assert client.update_row("t", ts.Row([("pk", "a")], {"put": [("x", 2)]}), EVERYTHING)[1] is None
    assert client.delete_row("t", ts.Row([("pk", "a")]), EVERYTHING)[1] is None


def test_an_explicit_rt_none_answers_no_row(ots: TablestoreDouble, client: Any) -> None:
    """The SDK leaves ``return_content`` out for RT_NONE; another client may send it (the SDK's protobuf classes
    make the body)."""
    create_table(client)
    row = bytes(PlainBufferBuilder.serialize_for_put_row([("pk", "a")], [("x", 1)]))
    request = _put_request(row, return_content=pb2.ReturnContent(return_type=pb2.RT_NONE))
    answer = pb2.PutRowResponse()
    answer.ParseFromString(ots.protocol.handle("PutRow", request.SerializeToString()))
    assert answer.row == b""


def test_put_keeps_the_timestamp_each_cell_is_given(client: Any) -> None:
    """An attribute cell's timestamp is the version the caller gives, or the server's time when absent
    (PutRow / UpdateRow: "timestamp ... If you do not specify this parameter, the current system time is used")."""
    create_table(client)
    client.put_row("t", ts.Row([("pk", "a")], [("x", 1, 1_000), ("y", 2)]), EVERYTHING)
    stamps = {name: stamp for name, _, stamp in client.get_row("t", [("pk", "a")])[1].attribute_columns}
    assert stamps["x"] == 1_000 and stamps["y"] > 1_000_000_000_000
    client.update_row("t", ts.Row([("pk", "a")], {"put": [("y", 3, 2_000)]}), EVERYTHING)
    stamps = {name: stamp for name, _, stamp in client.get_row("t", [("pk", "a")])[1].attribute_columns}
    assert stamps == {"x": 1_000, "y": 2_000}


def test_deleting_one_version_leaves_a_column_of_another_timestamp(client: Any) -> None:
    """A "delete" cell removes the version at its timestamp only (UpdateRow: DELETE_ONE_VERSION)."""
    create_table(client)
    client.put_row("t", ts.Row([("pk", "a")], [("x", 1, 1_000), ("y", 2)]), EVERYTHING)
    client.update_row("t", ts.Row([("pk", "a")], {"delete": [("x", None, 999)]}), EVERYTHING)
    assert attrs(client.get_row("t", [("pk", "a")])[1]) == {"x": 1, "y": 2}
    client.update_row("t", ts.Row([("pk", "a")], {"delete": [("x", None, 1_000)]}), EVERYTHING)
    assert attrs(client.get_row("t", [("pk", "a")])[1]) == {"y": 2}


@pytest.mark.parametrize("name", ["1x", "a-b", "x" * 256])
def test_an_attribute_column_with_an_invalid_name_is_refused(client: Any, name: str) -> None:
    """Column names follow the table naming rules ("Limits on the Wide Column model")."""
    create_table(client)
    for call in (
        lambda: client.put_row("t", ts.Row([("pk", "a")], [(name, 1)]), EVERYTHING),
        lambda: client.update_row("t", ts.Row([("pk", "a")], {"put": [(name, 1)]}), EVERYTHING),
    ):
        error = _error(call)
        assert (error.http_status, error.code) == (400, "OTSParameterInvalid")
    assert client.get_row("t", [("pk", "a")])[1] is None


def test_an_attribute_column_named_like_a_primary_key_column_is_refused(client: Any) -> None:
    """The service answers PutRow "OTSParameterInvalid Duplicated attribute column name with primary key column:
    'LockID'" (seen against the live service: aliyun/terraform-provider-alicloud issue #1541)."""
    create_table(client)
    error = _error(client.put_row, "t", ts.Row([("pk", "a")], [("pk", "b")]), EVERYTHING)
    assert (error.http_status, error.code) == (400, "OTSParameterInvalid")
    assert client.get_row("t", [("pk", "a")])[1] is None


@pytest.mark.parametrize(("size", "accepted"), [(1024, True), (1025, False)])
def test_a_string_or_binary_key_value_holds_at_most_one_kilobyte(client: Any, size: int, accepted: bool) -> None:
    """"String: a UTF-8-encoded string that does not exceed 1 KB" for primary key columns, and the same for Binary
    ("Limits on the Wide Column model"); the size is counted in UTF-8 bytes."""
    create_table(client, "t", [("s", "STRING"), ("b", "BINARY")])
    text = "é" * (size // 2) + "x" * (size % 2)  # two bytes a character
    for key in ([("s", text), ("b", bytearray(b"k"))], [("s", "k"), ("b", bytearray(b"\x01" * size))]):
        if accepted:
            _put(client, "t", key, [("x", 1)])
            assert client.get_row("t", key)[1] is not None
        else:
            error = _error(_put, client, "t", key, [("x", 1)])
            assert (error.http_status, error.code) == (400, "OTSParameterInvalid")


def test_infinities_are_only_allowed_in_range_bounds(client: Any) -> None:
    create_table(client)
    for call in (
        lambda: client.get_row("t", [("pk", ts.INF_MIN)]),
        lambda: client.put_row("t", ts.Row([("pk", ts.INF_MAX)], [("x", 1)]), EVERYTHING),
    ):
        assert _error(call).http_status == 400


def test_columns_to_get_may_name_only_primary_key_columns(client: Any) -> None:
    """columns_to_get "can be primary key or attribute columns"; a row is returned when it holds one of them
    ("Read a single row", Node.js SDK page: "If the row contains none of the specified columns, null is returned")."""
    create_table(client)
    _put(client, "t", [("pk", "a")], [("x", 1)])
    _, row, _ = client.get_row("t", [("pk", "a")], columns_to_get=["pk"])
    assert (row.primary_key, attrs(row)) == ([("pk", "a")], {})


def test_more_than_128_columns_to_get_are_a_parameter_error(client: Any) -> None:
    """"columns_to_get ... can contain up to 128 strings" (GetRow API page)."""
    create_table(client)
    _put(client, "t", [("pk", "a")], [("x", 1)])
    assert client.get_row("t", [("pk", "a")], columns_to_get=[f"c{i}" for i in range(127)] + ["x"])[1] is not None
    error = _error(client.get_row, "t", [("pk", "a")], columns_to_get=[f"c{i}" for i in range(129)])
    assert (error.http_status, error.code) == (400, "OTSParameterInvalid")


@pytest.mark.parametrize(("max_version", "message"), [
    (None, "Neither max_versions nor time_range is specified."),
    (0, "max_versions must be greater than 0."),
])
def test_a_read_needs_max_versions_of_at_least_one(client: Any, max_version: Any, message: str) -> None:
    """"You must specify at least one of time_range and max_versions" (GetRow API page); the message is the one the
    SDK's integration tests assert."""
    create_table(client)
    error = _error(client.get_row, "t", [("pk", "a")], max_version=max_version)
    assert (error.http_status, error.code, error.message) == (400, "OTSParameterInvalid", message)


def test_a_read_filter_may_test_a_primary_key_column(client: Any) -> None:
    """Primary key columns are always part of the row read, so a filter sees them."""
    _fill(client, 4)
    on_key = ts.SingleColumnCondition("g", "a", ts.ComparatorType.EQUAL, pass_if_missing=False)
    _, _, rows, _ = _range(client, LOWEST, HIGHEST, column_filter=on_key)
    assert [dict(k)["n"] for k in keys(rows)] == [1, 3]
    assert client.get_row("r", [("g", "b"), ("n", 0)], column_filter=on_key)[1] is None


def test_a_read_filter_sees_only_the_columns_to_get(client: Any) -> None:
    """"The reference columns used by a filter must be included in the read data. If the specified columns from
    which data is read do not include reference columns, the filter cannot query the values of reference columns"
    (Tablestore "Configure a filter", doc-detail/148289); the Node.js "Read a single row" page: "When both
    columnsToGet and columnFilter are set, columns are selected first, then filtered". A filter on a column left
    out of columns_to_get therefore sees it missing: with pass_if_missing=False the row is dropped."""
    create_table(client)
    _put(client, "t", [("pk", "a")], [("status", "PENDING"), ("x", 1)])
    pending = ts.SingleColumnCondition("status", "PENDING", ts.ComparatorType.EQUAL, pass_if_missing=False)
    assert client.get_row("t", [("pk", "a")], columns_to_get=["x"], column_filter=pending)[1] is None


def test_a_read_filter_on_a_column_not_read_passes_when_missing_may_pass(client: Any) -> None:
    """The other side of the rule above: the column left out is missing to the filter, so ``pass_if_missing=True``
    keeps the row, whatever its stored value (only the columns asked for come back)."""
    create_table(client)
    _put(client, "t", [("pk", "a")], [("status", "PASSED"), ("x", 1)])
    pending = ts.SingleColumnCondition("status", "PENDING", ts.ComparatorType.EQUAL, pass_if_missing=True)
    assert attrs(client.get_row("t", [("pk", "a")], columns_to_get=["x"], column_filter=pending)[1]) == {"x": 1}


def test_a_range_filter_sees_only_the_columns_to_get(client: Any) -> None:
    """"Configure a filter" (doc-detail/148289) holds for GetRange too: a filter on ``odd`` keeps the odd rows when
    ``odd`` is read, and none when only ``v`` is."""
    _fill(client, 4)
    odd = ts.SingleColumnCondition("odd", True, ts.ComparatorType.EQUAL, pass_if_missing=False)
    _, _, rows, _ = _range(client, LOWEST, HIGHEST, columns_to_get=["v", "odd"], column_filter=odd)
    assert [attrs(r) for r in rows] == [{"v": 1, "odd": True}, {"v": 3, "odd": True}]
    _, _, rows, _ = _range(client, LOWEST, HIGHEST, columns_to_get=["v"], column_filter=odd)
    assert rows == []


def test_a_put_without_attribute_columns_is_refused(client: Any) -> None:
    create_table(client)
    error = _error(client.put_row, "t", ts.Row([("pk", "a")], []), EVERYTHING)
    assert (error.http_status, error.code) == (400, "OTSParameterInvalid")
    assert error.message == "Attribute column is missing."


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ([("s", "a")], "Validate PK size fail. Input: 1, Meta: 2."),
        ([("s", "a"), ("i", 1), ("x", 1)], "Validate PK size fail. Input: 3, Meta: 2."),
        ([("s", "a"), ("j", 1)], "Validate PK name fail. Input: j, Meta: i."),
        ([("s", "a"), ("i", "1")], "Validate PK type fail. Input: VT_STRING, Meta: VT_INTEGER."),
    ],
    ids=["short", "long", "name", "type"],
)
def test_a_key_that_does_not_match_the_schema_is_invalid_pk(client: Any, key: Any, message: str) -> None:
    create_table(client, "t", [("s", "STRING"), ("i", "INTEGER")])
    for call in (
        lambda: client.get_row("t", key),
        lambda: client.put_row("t", ts.Row(key, [("c", 1)]), EVERYTHING),
        lambda: client.update_row("t", ts.Row(key, {"put": [("c", 1)]}), EVERYTHING),
        lambda: client.delete_row("t", ts.Row(key), EVERYTHING),
    ):
        error = _error(call)
        assert (error.http_status, error.code, error.message) == (400, "OTSInvalidPK", message)


# --- what the double does not model ---------------------------------------------------------------------------


def _regex_filter() -> Any:
    return ts.SingleColumnRegexCondition("x", ts.ComparatorType.EQUAL, "1",
                                         ts.RegexRule("([0-9]+)", ts.CastType.VT_STRING))


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.create_table(ts.TableMeta("auto", [("pk", "INTEGER", ts.PK_AUTO_INCR)]), ts.TableOptions(),
                                 ts.ReservedThroughput(ts.CapacityUnit(0, 0))),
        lambda c: c.get_row("t", [("pk", "a")], column_filter=_regex_filter()),
        lambda c: c.get_row("t", [("pk", "a")], max_version=None, time_range=(0, 1 << 40)),
    ],
    ids=["auto-increment", "regex-filter", "time-range"],
)
def test_features_the_double_does_not_model_are_refused_not_ignored(client: Any, call: Any) -> None:
    """A request the double cannot answer faithfully fails loudly (OTSParameterInvalid), so no test passes on a
    feature silently dropped."""
    create_table(client)
    _put(client, "t", [("pk", "a")], [("x", "1")])
    error = _error(call, client)
    assert (error.http_status, error.code) == (400, "OTSParameterInvalid")


def _put_request(row: bytes, **fields: Any) -> Any:
    return pb2.PutRowRequest(table_name="t", row=row,
                             condition=pb2.Condition(row_existence=pb2.IGNORE), **fields)


def test_requests_the_sdk_cannot_send_but_the_double_does_not_model_are_refused(ots: TablestoreDouble,
                                                                             client: Any) -> None:
    """RT_AFTER_MODIFY answers, pre-split partitions and a PutRow carrying update cells (the SDK's own protobuf
    classes and PlainBuffer builder make the bodies)."""
    create_table(client)
    row = bytes(PlainBufferBuilder.serialize_for_put_row([("pk", "a")], [("x", 1)]))
    update = bytes(PlainBufferBuilder.serialize_for_update_row([("pk", "a")], {"increment": [("x", 1)]}))
    after_modify = _put_request(row, return_content=pb2.ReturnContent(return_type=pb2.RT_AFTER_MODIFY))
    partitioned = pb2.CreateTableRequest(table_meta=pb2.TableMeta(
        table_name="p", primary_key=[pb2.PrimaryKeySchema(name="pk", type=pb2.STRING)]))
    partitioned.reserved_throughput.capacity_unit.read = 0
    partitioned.reserved_throughput.capacity_unit.write = 0
    partitioned.partitions.add(begin=b"", end=b"")
    for operation, request in (("PutRow", after_modify), ("PutRow", _put_request(update)),
                               ("CreateTable", partitioned)):
        with pytest.raises(ServiceError) as refused:
            ots.protocol.handle(operation, request.SerializeToString())
        assert refused.value.code == "OTSParameterInvalid"
    assert client.get_row("t", [("pk", "a")])[1] is None and client.list_table() == ("t",)


# --- ranges ---------------------------------------------------------------------------------------------------


def _fill(client: Any, count: int) -> None:
    create_table(client, "r", [("g", "STRING"), ("n", "INTEGER")])
    for i in range(count):
        _put(client, "r", [("g", "a" if i % 2 else "b"), ("n", i)], [("v", i), ("odd", i % 2 == 1)])


def _range(client: Any, start: Any, end: Any, direction: str = "FORWARD", **kwargs: Any) -> Any:
    return client.get_range("r", direction, start, end, **kwargs)


LOWEST = [("g", ts.INF_MIN), ("n", ts.INF_MIN)]
HIGHEST = [("g", ts.INF_MAX), ("n", ts.INF_MAX)]


def test_forward_range_returns_rows_in_key_order(client: Any) -> None:
    _fill(client, 6)
    _, next_start, rows, _ = _range(client, LOWEST, HIGHEST)
    assert next_start is None
    assert keys(rows) == [[("g", g), ("n", n)] for g, n in [("a", 1), ("a", 3), ("a", 5), ("b", 0), ("b", 2), ("b", 4)]]


def test_backward_range_returns_rows_in_reverse_order(client: Any) -> None:
    _fill(client, 6)
    _, _, rows, _ = _range(client, HIGHEST, LOWEST, "BACKWARD")
    assert [dict(k)["n"] for k in keys(rows)] == [4, 2, 0, 5, 3, 1]


def test_a_backward_range_excludes_its_end_key(client: Any) -> None:
    """BACKWARD reads from ``inclusive_start_primary_key`` down to ``exclusive_end_primary_key`` (GetRange)."""
    _fill(client, 6)
    _, _, rows, _ = _range(client, [("g", "b"), ("n", 4)], [("g", "a"), ("n", 3)], "BACKWARD")
    assert [dict(k)["n"] for k in keys(rows)] == [4, 2, 0, 5]


def test_a_range_on_a_key_prefix_uses_infinities_for_the_rest(client: Any) -> None:
    _fill(client, 6)
    _, _, rows, _ = _range(client, [("g", "a"), ("n", ts.INF_MIN)], [("g", "a"), ("n", ts.INF_MAX)])
    assert [dict(k)["n"] for k in keys(rows)] == [1, 3, 5]
    _, _, rows, _ = _range(client, [("g", "a"), ("n", 3)], [("g", "b"), ("n", 2)])
    assert [dict(k)["n"] for k in keys(rows)] == [3, 5, 0]


def test_paging_with_limit_visits_every_row_once(client: Any) -> None:
    _fill(client, 7)
    seen: list[int] = []
    start: Any = LOWEST
    for _ in range(10):
        _, start, rows, _ = _range(client, start, HIGHEST, limit=2)
        assert len(rows) <= 2
        seen.extend(dict(k)["n"] for k in keys(rows))
        if start is None:
            break
    assert sorted(seen) == list(range(7)) and len(seen) == 7


def test_paging_backward_with_limit(client: Any) -> None:
    _fill(client, 5)
    _, start, rows, _ = _range(client, HIGHEST, LOWEST, "BACKWARD", limit=3)
    assert [dict(k)["n"] for k in keys(rows)] == [4, 2, 0]
    _, start, rows, _ = _range(client, start, LOWEST, "BACKWARD", limit=3)
    assert ([dict(k)["n"] for k in keys(rows)], start) == ([3, 1], None)


def test_a_scan_stops_at_the_service_row_cap_and_says_where_to_resume() -> None:
    with TablestoreDouble(access_key_id=AK, access_key_secret=SK, instance=INSTANCE, range_row_cap=3) as ots:
        client = ots.client(retry_policy=ts.NoRetryPolicy())
        _fill(client, 10)  # a: 1 3 5 7 9, b: 0 2 4 6 8
        only_odd = ts.SingleColumnCondition("odd", True, ts.ComparatorType.EQUAL)
        pages = []
        start: Any = LOWEST
        while start is not None:
            _, start, rows, _ = _range(client, start, HIGHEST, column_filter=only_odd)
            pages.append(([dict(k)["n"] for k in keys(rows)], start))
        assert pages == [
            ([1, 3, 5], [("g", "a"), ("n", 7)]),  # three rows scanned: the cap, not the answer, ends the page
            ([7, 9], [("g", "b"), ("n", 2)]),
            ([], [("g", "b"), ("n", 8)]),  # a page may be empty while the range goes on
            ([], None),
        ]


def test_a_scan_stops_once_it_read_the_byte_cap_and_says_where_to_resume() -> None:
    """GetRange returns "up to 5,000 rows or 4 MB of data" a call, cut at a row boundary with the next row's key
    ("Configure a filter" page; the limits table: "超出上限的数据将会按行级别被截掉并返回下一行数据主键信息").
    A row weighs its key and attribute cells (name + value); here 2 + 3 bytes of key and 1 + 8 of ``v``: 14 bytes,
    so a 28-byte cap lets two rows through."""
    with TablestoreDouble(access_key_id=AK, access_key_secret=SK, instance=INSTANCE, range_byte_cap=28) as ots:
        client = ots.client(retry_policy=ts.NoRetryPolicy())
        create_table(client)
        for i in range(5):
            _put(client, "t", [("pk", f"k{i:02d}")], [("v", i)])
        _, next_start, rows, _ = client.get_range("t", "FORWARD", [("pk", ts.INF_MIN)], [("pk", ts.INF_MAX)])
        assert ([attrs(r)["v"] for r in rows], next_start) == ([0, 1], [("pk", "k02")])


def test_range_returns_only_columns_to_get_and_drops_rows_without_them(client: Any) -> None:
    _fill(client, 2)
    _put(client, "r", [("g", "c"), ("n", 0)], [("other", 1)])
    _, _, rows, _ = _range(client, LOWEST, HIGHEST, columns_to_get=["v"])
    assert [attrs(r) for r in rows] == [{"v": 1}, {"v": 0}]


def test_range_filter_keeps_matching_rows(client: Any) -> None:
    _fill(client, 6)
    big = ts.SingleColumnCondition("v", 3, ts.ComparatorType.GREATER_EQUAL)
    _, _, rows, _ = _range(client, LOWEST, HIGHEST, column_filter=big)
    assert sorted(attrs(r)["v"] for r in rows) == [3, 4, 5]


@pytest.mark.parametrize(
    ("start", "end", "direction", "message"),
    [
        (HIGHEST, LOWEST, "FORWARD", "Begin key must less than end key in FORWARD"),
        (LOWEST, HIGHEST, "BACKWARD", "Begin key must more than end key in BACKWARD"),
        ([("g", "a"), ("n", 1)], [("g", "a"), ("n", 1)], "FORWARD", "Begin key must less than end key in FORWARD"),
        ([("g", "a"), ("n", 1)], [("g", "a"), ("n", 1)], "BACKWARD", "Begin key must more than end key in BACKWARD"),
    ],
)
def test_a_range_in_the_wrong_direction_is_a_parameter_error(
    client: Any, start: Any, end: Any, direction: str, message: str
) -> None:
    _fill(client, 1)
    error = _error(_range, client, start, end, direction)
    assert (error.http_status, error.code, error.message) == (400, "OTSParameterInvalid", message)


def test_a_limit_below_one_is_a_parameter_error(client: Any) -> None:
    _fill(client, 1)
    error = _error(_range, client, LOWEST, HIGHEST, limit=0)
    assert (error.http_status, error.message) == (400, "The limit must be greater than 0.")


# --- batches --------------------------------------------------------------------------------------------------


def test_batch_get_reads_rows_of_several_tables_and_reports_bad_keys_per_row(client: Any) -> None:
    create_table(client, "t1")
    create_table(client, "t2", [("id", "INTEGER")])
    _put(client, "t1", [("pk", "a")], [("x", 1)])
    _put(client, "t2", [("id", 7)], [("y", 2)])
    request = ts.BatchGetRowRequest()
    request.add(ts.TableInBatchGetRowItem("t1", [[("pk", "a")], [("pk", "missing")], [("wrong", "a")]], max_version=1))
    request.add(ts.TableInBatchGetRowItem("t2", [[("id", 7)]], max_version=1))
    result = client.batch_get_row(request)
    first, missing, wrong = result.get_result_by_table("t1")
    assert first.is_ok and attrs(first.row) == {"x": 1}
    assert missing.is_ok and missing.row is None
    assert (wrong.is_ok, wrong.error_code) == (False, "OTSInvalidPK")
    [seven] = result.get_result_by_table("t2")
    assert attrs(seven.row) == {"y": 2}


def test_batch_write_applies_each_row_alone(client: Any) -> None:
    create_table(client)
    _put(client, "t", [("pk", "old")], [("x", 1)])
    _put(client, "t", [("pk", "gone")], [("x", 1)])
    items = [
        ts.PutRowItem(ts.Row([("pk", "new")], [("x", 2)]), ts.Condition(ts.RowExistenceExpectation.EXPECT_NOT_EXIST)),
        ts.PutRowItem(ts.Row([("pk", "old")], [("x", 3)]), ts.Condition(ts.RowExistenceExpectation.EXPECT_NOT_EXIST)),
        ts.UpdateRowItem(ts.Row([("pk", "old")], {"put": [("y", 4)]}), EVERYTHING),
        ts.DeleteRowItem(ts.Row([("pk", "gone")]), EVERYTHING),
    ]
    request = ts.BatchWriteRowRequest()
    request.add(ts.TableInBatchWriteRowItem("t", items))
    result = client.batch_write_row(request)
    puts_ok, puts_failed = result.get_put()
    assert len(puts_ok) == 1
    [failed] = puts_failed
    assert (failed.error_code, failed.error_message) == ("OTSConditionCheckFail", "Condition check failed.")
    assert result.get_update()[1] == [] and result.get_delete()[1] == []
    assert attrs(client.get_row("t", [("pk", "new")])[1]) == {"x": 2}
    assert attrs(client.get_row("t", [("pk", "old")])[1]) == {"x": 1, "y": 4}
    assert client.get_row("t", [("pk", "gone")])[1] is None


def test_empty_batches_are_parameter_errors(client: Any) -> None:
    create_table(client)
    error = _error(client.batch_write_row, ts.BatchWriteRowRequest())
    assert (error.http_status, error.message) == (400, "No row is specified in BatchWriteRow.")
    request = ts.BatchWriteRowRequest()
    request.add(ts.TableInBatchWriteRowItem("t", []))
    assert _error(client.batch_write_row, request).message == "No operation is specified for table: 't'."
    assert _error(client.batch_get_row, ts.BatchGetRowRequest()).message == (
        "No row specified in the request of BatchGetRow."
    )


def test_batches_over_the_row_limits_are_refused(client: Any) -> None:
    create_table(client)
    request = ts.BatchGetRowRequest()
    request.add(ts.TableInBatchGetRowItem("t", [[("pk", str(i))] for i in range(101)], max_version=1))
    assert _error(client.batch_get_row, request).code == "OTSParameterInvalid"
    write = ts.BatchWriteRowRequest()
    write.add(ts.TableInBatchWriteRowItem("t", [ts.PutRowItem(ts.Row([("pk", str(i))], [("x", 1)]), EVERYTHING)
                                                for i in range(201)]))
    assert _error(client.batch_write_row, write).code == "OTSParameterInvalid"


def test_batches_at_the_row_limits_are_accepted(client: Any) -> None:
    """"BatchGetRow ... 不超过 100", "BatchWriteRow ... 不超过 200" rows (Tablestore limits table): the limits
    themselves are allowed."""
    create_table(client)
    write = ts.BatchWriteRowRequest()
    write.add(ts.TableInBatchWriteRowItem("t", [ts.PutRowItem(ts.Row([("pk", f"{i:03d}")], [("x", i)]), EVERYTHING)
                                                for i in range(200)]))
    assert client.batch_write_row(write).is_all_succeed()
    request = ts.BatchGetRowRequest()
    request.add(ts.TableInBatchGetRowItem("t", [[("pk", f"{i:03d}")] for i in range(100)], max_version=1))
    assert [attrs(r.row)["x"] for r in client.batch_get_row(request).get_result_by_table("t")] == list(range(100))


def test_batch_get_applies_each_tables_columns_to_get_and_filter(client: Any) -> None:
    create_table(client)
    _put(client, "t", [("pk", "a")], [("x", 1), ("y", 2)])
    _put(client, "t", [("pk", "b")], [("x", 9), ("y", 2)])
    request = ts.BatchGetRowRequest()
    request.add(ts.TableInBatchGetRowItem(
        "t", [[("pk", "a")], [("pk", "b")]], columns_to_get=["x"],
        column_filter=ts.SingleColumnCondition("x", 1, ts.ComparatorType.EQUAL), max_version=1))
    a, b = client.batch_get_row(request).get_result_by_table("t")
    assert (attrs(a.row), b.is_ok, b.row) == ({"x": 1}, True, None)


def test_batch_write_returns_each_rows_primary_key_when_asked(client: Any) -> None:
    """ReturnType RT_PK on a batch row answers that row's key (BatchWriteRow: ``return_content`` per row)."""
    create_table(client)
    request = ts.BatchWriteRowRequest()
    request.add(ts.TableInBatchWriteRowItem("t", [
        ts.PutRowItem(ts.Row([("pk", "a")], [("x", 1)]), EVERYTHING, ts.ReturnType.RT_PK),
        ts.PutRowItem(ts.Row([("pk", "b")], [("x", 1)]), EVERYTHING),
    ]))
    first, second = client.batch_write_row(request).get_put()[0]
    assert (first.row.primary_key, second.row.primary_key) == ([("pk", "a")], None)


def test_a_batch_row_without_attribute_columns_fails_the_whole_batch(client: Any) -> None:
    create_table(client)
    request = ts.BatchWriteRowRequest()
    request.add(ts.TableInBatchWriteRowItem("t", [
        ts.PutRowItem(ts.Row([("pk", "a")], [("x", 1)]), EVERYTHING),
        ts.PutRowItem(ts.Row([("pk", "b")], []), EVERYTHING),
    ]))
    error = _error(client.batch_write_row, request)
    assert (error.http_status, error.code) == (400, "OTSParameterInvalid")
    assert error.message == "Attribute column is missing."
    assert client.get_row("t", [("pk", "a")])[1] is None
