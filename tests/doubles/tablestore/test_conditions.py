"""Conditional writes: each documented outcome, as the SDK sees it (403 ``OTSConditionCheckFail`` or success)."""

from __future__ import annotations

from typing import Any

import pytest

from tools.doubles.tablestore._sdk import tablestore as ts

from .conftest import attrs, create_table

EXIST, NOT_EXIST, IGNORE = (
    ts.RowExistenceExpectation.EXPECT_EXIST,
    ts.RowExistenceExpectation.EXPECT_NOT_EXIST,
    ts.RowExistenceExpectation.IGNORE,
)
KEY = [("pk", "a")]


def _writes(condition: Any) -> dict[str, Any]:
    return {
        "put": lambda c: c.put_row("t", ts.Row(KEY, [("status", "NEW")]), condition),
        "update": lambda c: c.update_row("t", ts.Row(KEY, {"put": [("status", "NEW")]}), condition),
        "delete": lambda c: c.delete_row("t", ts.Row(KEY), condition),
    }


def _outcome(client: Any, write: Any) -> str:
    try:
        write(client)
    except ts.OTSServiceError as exc:
        assert (exc.http_status, exc.message) == (403, "Condition check failed.")
        return exc.code
    return "ok"


def _existing(client: Any, **columns: Any) -> None:
    create_table(client)
    client.put_row("t", ts.Row(KEY, list(columns.items()) or [("status", "PENDING")]), ts.Condition(IGNORE))


def _state(client: Any) -> dict[str, Any] | None:
    _, row, _ = client.get_row("t", KEY)
    return attrs(row) if row is not None else None


@pytest.mark.parametrize("kind", ["put", "update", "delete"])
@pytest.mark.parametrize(
    ("expectation", "row_exists", "expected"),
    [
        (IGNORE, True, "ok"),
        (IGNORE, False, "ok"),
        (EXIST, True, "ok"),
        (EXIST, False, "OTSConditionCheckFail"),
        (NOT_EXIST, True, "OTSConditionCheckFail"),
        (NOT_EXIST, False, "ok"),
    ],
)
def test_row_existence_expectations(client: Any, kind: str, expectation: str, row_exists: bool, expected: str) -> None:
    if row_exists:
        _existing(client)
    else:
        create_table(client)
    before = _state(client)
    assert _outcome(client, _writes(ts.Condition(expectation))[kind]) == expected
    if expected != "ok":
        assert _state(client) == before  # a failed condition writes nothing


def _single(value: Any, comparator: str = ts.ComparatorType.EQUAL, *, pass_if_missing: bool = True) -> Any:
    return ts.SingleColumnCondition("status", value, comparator, pass_if_missing=pass_if_missing)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (_single("PENDING"), "ok"),
        (_single("DONE"), "OTSConditionCheckFail"),
        (_single("DONE", ts.ComparatorType.NOT_EQUAL), "ok"),
        (_single("A", ts.ComparatorType.GREATER_THAN), "ok"),
        (_single("Z", ts.ComparatorType.GREATER_EQUAL), "OTSConditionCheckFail"),
        (_single("PENDING", ts.ComparatorType.LESS_EQUAL), "ok"),
        (_single("PENDING", ts.ComparatorType.LESS_THAN), "OTSConditionCheckFail"),
        (_single(1), "OTSConditionCheckFail"),  # another type never matches
    ],
    ids=["eq", "eq-fails", "ne", "gt", "ge-fails", "le", "lt-fails", "other-type"],
)
def test_single_column_conditions_on_an_existing_row(client: Any, condition: Any, expected: str) -> None:
    _existing(client, status="PENDING")
    for kind, write in _writes(ts.Condition(EXIST, condition)).items():
        if kind == "delete":
            continue
        assert _outcome(client, write) == expected
        client.put_row("t", ts.Row(KEY, [("status", "PENDING")]), ts.Condition(IGNORE))


@pytest.mark.parametrize(("pass_if_missing", "expected"), [(True, "ok"), (False, "OTSConditionCheckFail")])
def test_pass_if_missing_decides_when_the_column_is_absent(client: Any, pass_if_missing: bool, expected: str) -> None:
    _existing(client, other=1)
    condition = ts.Condition(EXIST, _single("PENDING", pass_if_missing=pass_if_missing))
    assert _outcome(client, _writes(condition)["update"]) == expected


def test_pass_if_missing_defaults_to_passing_as_the_service_does(client: Any) -> None:
    _existing(client, other=1)
    condition = ts.Condition(EXIST, ts.SingleColumnCondition("status", "PENDING", ts.ComparatorType.EQUAL))
    assert _outcome(client, _writes(condition)["update"]) == "ok"


def test_a_column_condition_on_a_missing_row_sees_no_columns(client: Any) -> None:
    create_table(client)
    strict = ts.Condition(IGNORE, _single("PENDING", pass_if_missing=False))
    lenient = ts.Condition(IGNORE, _single("PENDING", pass_if_missing=True))
    assert _outcome(client, _writes(strict)["put"]) == "OTSConditionCheckFail"
    assert _state(client) is None
    assert _outcome(client, _writes(lenient)["put"]) == "ok"


def _composite(operator: str, *subs: Any) -> Any:
    composite = ts.CompositeColumnCondition(operator)
    for sub in subs:
        composite.add_sub_condition(sub)
    return composite


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (_composite(ts.LogicalOperator.OR, _single("PENDING"), _single("ABANDONED")), "ok"),
        (_composite(ts.LogicalOperator.OR, _single("PASSED"), _single("ABANDONED")), "OTSConditionCheckFail"),
        (_composite(ts.LogicalOperator.AND, _single("PENDING"), ts.SingleColumnCondition(
            "count", 2, ts.ComparatorType.EQUAL, pass_if_missing=False)), "ok"),
        (_composite(ts.LogicalOperator.AND, _single("PENDING"), ts.SingleColumnCondition(
            "count", 3, ts.ComparatorType.EQUAL, pass_if_missing=False)), "OTSConditionCheckFail"),
        (_composite(ts.LogicalOperator.NOT, _single("PENDING")), "OTSConditionCheckFail"),
        (_composite(ts.LogicalOperator.NOT, _composite(
            ts.LogicalOperator.AND, _single("DONE"), _single("PENDING"))), "ok"),
    ],
    ids=["or", "or-fails", "and", "and-fails", "not-fails", "not-of-and"],
)
def test_composite_conditions(client: Any, condition: Any, expected: str) -> None:
    _existing(client, status="PENDING", count=2)
    assert _outcome(client, _writes(ts.Condition(EXIST, condition))["update"]) == expected


def test_a_condition_may_test_a_primary_key_column(client: Any) -> None:
    _existing(client)
    on_key = ts.SingleColumnCondition("pk", "a", ts.ComparatorType.EQUAL, pass_if_missing=False)
    assert _outcome(client, _writes(ts.Condition(EXIST, on_key))["update"]) == "ok"


def test_latest_version_only_is_accepted_either_way(client: Any) -> None:
    _existing(client, status="PENDING")
    for latest in (True, False):
        condition = ts.SingleColumnCondition("status", "PENDING", ts.ComparatorType.EQUAL, False, latest)
        assert _outcome(client, _writes(ts.Condition(EXIST, condition))["update"]) == "ok"
        client.put_row("t", ts.Row(KEY, [("status", "PENDING")]), ts.Condition(IGNORE))


def test_optimistic_concurrency_lets_exactly_one_of_two_racing_updates_win(client: Any) -> None:
    _existing(client, status="PENDING", count=0)
    guard = ts.Condition(EXIST, _composite(
        ts.LogicalOperator.AND, _single("PENDING"),
        ts.SingleColumnCondition("count", 0, ts.ComparatorType.EQUAL, pass_if_missing=False)))
    first = _outcome(client, lambda c: c.update_row("t", ts.Row(KEY, {"put": [("count", 1)]}), guard))
    second = _outcome(client, lambda c: c.update_row("t", ts.Row(KEY, {"put": [("count", 1)]}), guard))
    assert (first, second) == ("ok", "OTSConditionCheckFail")


def test_more_than_ten_column_conditions_are_a_parameter_error(client: Any) -> None:
    _existing(client)
    many = _composite(ts.LogicalOperator.OR, *[_single(f"s{i}") for i in range(11)])
    with pytest.raises(ts.OTSServiceError) as refused:
        client.update_row("t", ts.Row(KEY, {"put": [("x", 1)]}), ts.Condition(EXIST, many))
    assert (refused.value.http_status, refused.value.code) == (400, "OTSParameterInvalid")


def test_the_ten_condition_limit_counts_the_single_conditions_of_nested_composites(client: Any) -> None:
    """"You can specify a maximum of 10 conditions" ("Configure a filter"; the conditional-update limit): the
    single-column conditions count, however they are nested."""
    _existing(client)
    nested = _composite(ts.LogicalOperator.OR, *[
        _composite(ts.LogicalOperator.AND, *[_single(f"s{i}{j}") for j in range(4)]) for i in range(3)])
    with pytest.raises(ts.OTSServiceError) as refused:
        client.update_row("t", ts.Row(KEY, {"put": [("x", 1)]}), ts.Condition(EXIST, nested))
    assert (refused.value.http_status, refused.value.code) == (400, "OTSParameterInvalid")


def test_concurrent_creates_of_one_row_leave_exactly_one_winner(ots: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    clients = [ots.client(retry_policy=ts.NoRetryPolicy()) for _ in range(8)]
    create_table(clients[0])

    def create(i: int) -> str:
        write = lambda c: c.put_row("t", ts.Row(KEY, [("writer", i)]), ts.Condition(NOT_EXIST))  # noqa: E731
        return _outcome(clients[i], write)

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(create, range(8)))
    assert sorted(outcomes) == ["OTSConditionCheckFail"] * 7 + ["ok"]
    assert _state(clients[0]) == {"writer": outcomes.index("ok")}
