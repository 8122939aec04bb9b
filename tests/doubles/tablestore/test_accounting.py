"""Rows the service would read, counted exactly for known scans (the scale benchmark's measure)."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from tools.doubles.tablestore import TablestoreDouble
from tools.doubles.tablestore._sdk import tablestore as ts

from .conftest import AK, INSTANCE, SK, create_table

IGNORE = ts.Condition(ts.RowExistenceExpectation.IGNORE)
ALL = ([("pk", ts.INF_MIN)], [("pk", ts.INF_MAX)])


def _hundred(ots: TablestoreDouble, client: Any) -> None:
    create_table(client, "t", [("pk", "STRING")], [("user", "STRING")],
                 [ts.SecondaryIndexMeta("t_by_user", ["user"], [], ts.SecondaryIndexType.GLOBAL_INDEX)])
    ots.load_rows("t", [([("pk", f"k{i:03d}")], {"user": f"u{i % 20}", "n": i}) for i in range(100)])
    ots.reset_stats()


def test_a_filtered_range_over_a_hundred_rows_reads_a_hundred_and_returns_k(ots: TablestoreDouble, client: Any) -> None:
    _hundred(ots, client)
    mine = ts.SingleColumnCondition("user", "u7", ts.ComparatorType.EQUAL, pass_if_missing=False)
    _, _, rows, _ = client.get_range("t", "FORWARD", *ALL, column_filter=mine)
    assert len(rows) == 5
    assert ots.rows("GetRange") == {
        "requests": 1, "errors": 0, "rowsScanned": 100, "rowsFilteredOut": 95, "rowsReturned": 5,
        "conditionReads": 0, "rowsWritten": 0, "indexRowsWritten": 0,
    }


def test_the_same_question_asked_of_an_index_reads_only_the_answer(ots: TablestoreDouble, client: Any) -> None:
    _hundred(ots, client)
    start, end = [("user", "u7"), ("pk", ts.INF_MIN)], [("user", "u7"), ("pk", ts.INF_MAX)]
    _, _, rows, _ = client.get_range("t_by_user", "FORWARD", start, end)
    assert len(rows) == 5
    assert ots.rows(table="t_by_user")["rowsScanned"] == 5
    assert ots.rows(table="t")["rowsScanned"] == 0


def test_paging_splits_the_scan_but_not_the_total() -> None:
    with TablestoreDouble(access_key_id=AK, access_key_secret=SK, instance=INSTANCE, range_row_cap=30) as ots:
        client = ots.client(retry_policy=ts.NoRetryPolicy())
        _hundred(ots, client)
        start: Any = ALL[0]
        calls = 0
        while start is not None:
            _, start, _, _ = client.get_range("t", "FORWARD", start, ALL[1], column_filter=ts.SingleColumnCondition(
                "user", "u7", ts.ComparatorType.EQUAL))
            calls += 1
        counted = ots.rows("GetRange")
        assert (calls, counted["requests"], counted["rowsScanned"], counted["rowsReturned"]) == (4, 4, 100, 5)


def test_a_limit_stops_the_scan_at_the_last_row_returned(ots: TablestoreDouble, client: Any) -> None:
    _hundred(ots, client)
    client.get_range("t", "FORWARD", *ALL, limit=10)
    assert (ots.rows("GetRange")["rowsScanned"], ots.rows("GetRange")["rowsReturned"]) == (10, 10)


def test_point_reads_count_the_rows_they_find(ots: TablestoreDouble, client: Any) -> None:
    _hundred(ots, client)
    client.get_row("t", [("pk", "k001")])
    client.get_row("t", [("pk", "absent")])
    request = ts.BatchGetRowRequest()
    request.add(ts.TableInBatchGetRowItem("t", [[("pk", "k002")], [("pk", "k003")], [("pk", "nope")]], max_version=1))
    client.batch_get_row(request)
    assert (ots.rows("GetRow")["rowsScanned"], ots.rows("GetRow")["rowsReturned"]) == (1, 1)
    assert (ots.rows("BatchGetRow")["rowsScanned"], ots.rows("BatchGetRow")["rowsReturned"]) == (2, 2)


def test_a_conditional_write_reads_the_row_it_checks(ots: TablestoreDouble, client: Any) -> None:
    _hundred(ots, client)
    client.put_row("t", ts.Row([("pk", "k001")], [("user", "x")]), IGNORE)
    client.update_row("t", ts.Row([("pk", "k002")], {"put": [("n", 0)]}),
                      ts.Condition(ts.RowExistenceExpectation.EXPECT_EXIST))
    client.put_row("t", ts.Row([("pk", "new")], [("user", "x")]),
                   ts.Condition(ts.RowExistenceExpectation.EXPECT_NOT_EXIST))
    assert ots.rows("PutRow")["conditionReads"] == 0  # IGNORE reads nothing; the new row did not exist
    assert ots.rows("UpdateRow")["conditionReads"] == 1
    assert ots.rows()["rowsWritten"] == 3


def test_a_column_condition_alone_reads_the_row_it_checks(ots: TablestoreDouble, client: Any) -> None:
    """IGNORE with a column condition still reads the current row to check it."""
    _hundred(ots, client)
    guard = ts.SingleColumnCondition("n", 1, ts.ComparatorType.EQUAL)
    client.update_row("t", ts.Row([("pk", "k001")], {"put": [("n", 2)]}),
                      ts.Condition(ts.RowExistenceExpectation.IGNORE, guard))
    assert ots.rows("UpdateRow")["conditionReads"] == 1


def test_every_row_a_condition_reads_is_a_row_scanned(ots: TablestoreDouble, client: Any) -> None:
    """``rowsScanned == rowsReturned + rowsFilteredOut + conditionReads`` (the accounting module's invariant)."""
    _hundred(ots, client)
    client.update_row("t", ts.Row([("pk", "k002")], {"put": [("n", 0)]}),
                      ts.Condition(ts.RowExistenceExpectation.EXPECT_EXIST))
    counted = ots.rows(table="t")
    assert (counted["rowsScanned"], counted["conditionReads"]) == (1, 1)


def test_a_point_read_whose_filter_drops_the_row_counts_it_filtered_out(ots: TablestoreDouble, client: Any) -> None:
    _hundred(ots, client)
    client.get_row("t", [("pk", "k001")], column_filter=ts.SingleColumnCondition("n", -1, ts.ComparatorType.EQUAL))
    counted = ots.rows("GetRow")
    assert (counted["rowsScanned"], counted["rowsFilteredOut"], counted["rowsReturned"]) == (1, 1, 0)


def test_a_request_answered_with_an_error_counts_as_one(ots: TablestoreDouble, client: Any) -> None:
    _hundred(ots, client)
    with pytest.raises(ts.OTSServiceError):
        client.get_row("missing", [("pk", "k001")])
    assert (ots.rows("GetRow")["requests"], ots.rows("GetRow")["errors"]) == (1, 1)


def test_index_maintenance_is_counted_as_index_rows_written(ots: TablestoreDouble, client: Any) -> None:
    _hundred(ots, client)
    client.update_row("t", ts.Row([("pk", "k001")], {"put": [("user", "moved")]}), IGNORE)  # delete + put
    client.update_row("t", ts.Row([("pk", "k002")], {"put": [("n", -1)]}), IGNORE)  # index row rewritten
    assert ots.rows(table="t_by_user")["indexRowsWritten"] == 3


def test_bulk_loads_are_not_counted_and_reset_zeroes_everything(ots: TablestoreDouble, client: Any) -> None:
    _hundred(ots, client)
    assert ots.rows() == dict.fromkeys(ots.rows(), 0)
    client.get_range("t", "FORWARD", *ALL)
    assert ots.rows()["rowsScanned"] == 100
    ots.reset_stats()
    assert ots.rows()["rowsScanned"] == 0 and ots.stats()["requests"] == {}
    assert ots.rows("GetRange")["rowsScanned"] == 0 and ots.rows(table="t")["rowsScanned"] == 0
    assert ots.engine.row_count("t") == 100  # the data stays


def test_the_shared_reset_drops_the_tables_and_zeroes_the_counters(ots: TablestoreDouble, client: Any) -> None:
    _hundred(ots, client)
    client.get_range("t", "FORWARD", *ALL, limit=7)
    request = urllib.request.Request(ots.base_url + "/_double/reset", b"{}", method="POST")
    with urllib.request.urlopen(request, timeout=5):
        pass
    assert ots.rows() == dict.fromkeys(ots.rows(), 0)
    assert client.list_table() == ()


def test_the_control_api_serves_the_same_counters(ots: TablestoreDouble, client: Any) -> None:
    _hundred(ots, client)
    client.get_range("t", "FORWARD", *ALL, limit=7)
    with urllib.request.urlopen(ots.base_url + "/_double/stats", timeout=5) as answer:
        stats = json.loads(answer.read())
    assert stats["rows"] == ots.stats()["rows"]
    assert stats["rows"]["operations"]["GetRange"]["rowsScanned"] == 7
    assert stats["requests"]["GetRange"] == 1
    request = urllib.request.Request(ots.base_url + "/_double/tablestore/stats/reset", b"{}", method="POST")
    with urllib.request.urlopen(request, timeout=5):
        pass
    assert ots.rows()["rowsScanned"] == 0
