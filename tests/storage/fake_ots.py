"""An in-memory stand-in for ``tablestore.OTSClient`` at the SDK boundary.

It records every call, evaluates the SDK's real ``Condition`` / ``SingleColumnCondition`` /
``CompositeColumnCondition`` objects the way the service does (including ``pass_if_missing``), raises the SDK's
real ``OTSServiceError`` (``OTSConditionCheckFail``) and runs rows through the SDK's PlainBuffer encoder so that
anything the real client could not send fails here too. ``page_size`` makes ``get_range`` page like the service.
"""

from __future__ import annotations

import threading
from typing import Any

import tablestore
from tablestore.plainbuffer.plain_buffer_builder import PlainBufferBuilder


def describe_condition(condition: Any) -> Any:
    """A comparable tree of a Condition / ColumnCondition built from the SDK's classes (type-checked)."""
    if condition is None:
        return None
    if isinstance(condition, tablestore.Condition):
        return ("Condition", condition.row_existence_expectation, describe_condition(condition.column_condition))
    if isinstance(condition, tablestore.SingleColumnCondition):
        return (
            "Single",
            condition.column_name,
            condition.column_value,
            condition.comparator,
            condition.pass_if_missing,
        )
    if isinstance(condition, tablestore.CompositeColumnCondition):
        return ("Composite", condition.combinator, [describe_condition(c) for c in condition.sub_conditions])
    raise AssertionError(f"not an SDK condition: {type(condition).__name__}")


_COMPARE = {
    tablestore.ComparatorType.EQUAL: lambda a, b: a == b,
    tablestore.ComparatorType.NOT_EQUAL: lambda a, b: a != b,
    tablestore.ComparatorType.GREATER_THAN: lambda a, b: a > b,
    tablestore.ComparatorType.GREATER_EQUAL: lambda a, b: a >= b,
    tablestore.ComparatorType.LESS_THAN: lambda a, b: a < b,
    tablestore.ComparatorType.LESS_EQUAL: lambda a, b: a <= b,
}


def column_condition_passes(condition: Any, attrs: dict[str, Any]) -> bool:
    if condition is None:
        return True
    if isinstance(condition, tablestore.SingleColumnCondition):
        if condition.column_name not in attrs:
            return bool(condition.pass_if_missing)
        return bool(_COMPARE[condition.comparator](attrs[condition.column_name], condition.column_value))
    if isinstance(condition, tablestore.CompositeColumnCondition):
        results = [column_condition_passes(c, attrs) for c in condition.sub_conditions]
        if condition.combinator == tablestore.LogicalOperator.AND:
            return all(results)
        if condition.combinator == tablestore.LogicalOperator.OR:
            return any(results)
        return not results[0]
    raise AssertionError("unknown column condition")


class FakeOTSClient:
    def __init__(self, page_size: int = 1000) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.fail_with: Exception | None = None
        self.page_size = page_size
        self._lock = threading.Lock()

    def _enter(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.calls.append((name, args, kwargs))
        if self.fail_with is not None:
            exc, self.fail_with = self.fail_with, None
            raise exc

    def calls_named(self, name: str) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
        return [(a, k) for n, a, k in self.calls if n == name]

    def _check(self, condition: Any, key: str) -> None:
        assert isinstance(condition, tablestore.Condition)
        exists = key in self.rows
        expectation = condition.row_existence_expectation
        ok = not (
            (expectation == tablestore.RowExistenceExpectation.EXPECT_EXIST and not exists)
            or (expectation == tablestore.RowExistenceExpectation.EXPECT_NOT_EXIST and exists)
        )
        if ok and condition.column_condition is not None:
            ok = column_condition_passes(condition.column_condition, self.rows.get(key, {}))
        if not ok:
            raise tablestore.OTSServiceError(403, "OTSConditionCheckFail", "Condition check failed.", "req-1")

    @staticmethod
    def _key(primary_key: list[tuple[str, Any]]) -> str:
        assert [name for name, _ in primary_key] == ["merchant_biz_id"]
        return str(primary_key[0][1])

    def put_row(self, table_name: str, row: Any, condition: Any = None, return_type: Any = None) -> Any:
        with self._lock:
            self._enter("put_row", (table_name, row, condition), {})
            PlainBufferBuilder.serialize_for_put_row(row.primary_key, row.attribute_columns)
            key = self._key(row.primary_key)
            self._check(condition, key)
            self.rows[key] = {name: value for name, value, *_ in row.attribute_columns}
            return None, None

    def update_row(self, table_name: str, row: Any, condition: Any, return_type: Any = None) -> Any:
        with self._lock:
            self._enter("update_row", (table_name, row, condition), {})
            PlainBufferBuilder.serialize_for_update_row(row.primary_key, row.attribute_columns)
            key = self._key(row.primary_key)
            self._check(condition, key)
            attrs = self.rows.setdefault(key, {})
            for op, columns in row.attribute_columns.items():
                if op.upper() == "PUT":
                    attrs.update({name: value for name, value, *_ in columns})
                elif op.upper() == "DELETE_ALL":
                    for name in columns:
                        attrs.pop(name, None)
                else:
                    raise AssertionError(f"unexpected update op {op}")
            return None, None

    def get_row(self, table_name: str, primary_key: Any, columns_to_get: Any = None, **kwargs: Any) -> Any:
        with self._lock:
            self._enter("get_row", (table_name, primary_key), {"columns_to_get": columns_to_get, **kwargs})
            key = self._key(primary_key)
            if key not in self.rows:
                return None, None, None
            return None, self._row(key), None

    def _row(self, key: str) -> Any:
        return tablestore.Row([("merchant_biz_id", key)], [(k, v, 1) for k, v in self.rows[key].items()])

    def get_range(
        self,
        table_name: str,
        direction: str,
        inclusive_start_primary_key: Any,
        exclusive_end_primary_key: Any,
        columns_to_get: Any = None,
        limit: int | None = None,
        column_filter: Any = None,
        max_version: int = 1,
        **kwargs: Any,
    ) -> Any:
        with self._lock:
            self._enter(
                "get_range",
                (table_name, direction, inclusive_start_primary_key, exclusive_end_primary_key),
                {"columns_to_get": columns_to_get, "limit": limit, "column_filter": column_filter},
            )
            assert direction == tablestore.Direction.FORWARD
            start = inclusive_start_primary_key[0][1]
            assert exclusive_end_primary_key[0][1] is tablestore.INF_MAX
            keys = sorted(k for k in self.rows if start is tablestore.INF_MIN or k >= start)
            window = keys[: self.page_size]
            rows: list[Any] = []
            next_start = keys[self.page_size] if len(keys) > self.page_size else None
            for key in window:
                if limit is not None and len(rows) >= limit:
                    next_start = key
                    break
                if column_condition_passes(column_filter, self.rows[key]):
                    rows.append(self._row(key))
            next_pk = [("merchant_biz_id", next_start)] if next_start is not None else None
            return None, next_pk, rows, None

    def delete_row(self, table_name: str, row: Any, condition: Any = None, **kwargs: Any) -> Any:
        with self._lock:
            self._enter("delete_row", (table_name, row, condition), {})
            key = self._key(row.primary_key)
            self._check(condition, key)
            self.rows.pop(key, None)
            return None, None
