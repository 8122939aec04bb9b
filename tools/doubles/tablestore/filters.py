"""Column conditions: the ``Filter`` protobuf (``table_store_filter.proto``) parsed into a tree and evaluated on a row.

The same tree serves as a write's column condition (``Condition.column_condition``) and as a read's filter
(``GetRow``/``GetRange``/``BatchGetRow`` ``filter``). Semantics, from the Tablestore "Conditional update" and
"Configure conditional update" pages and the SDK's integration tests (``filter_and_condition_update_unitttest.py``):

- a single-column condition compares one column (attribute or primary key) with a constant: =, !=, >, >=, <, <=
  (and the newer EXIST / NOT_EXIST); when the row lacks the column, ``pass_if_missing`` decides (the SDK sends
  ``filter_if_missing = not pass_if_missing``; the service's default is "passes");
- composite conditions combine sub-conditions with NOT, AND, OR; a conditional update holds at most 10 column
  conditions (the pages' limit; the double counts single-column conditions);
- ``latest_version_only`` changes nothing here: the double keeps one version per column.

Unverified (no page says): comparing values of different types (INTEGER with DOUBLE, STRING with BINARY, ...)
makes a single-column condition false whatever the operator; AND/OR need at least two sub-conditions and NOT
exactly one (the double is strict; the adapter never sends fewer); regex conditions (``value_trans_rule``) and
column pagination filters are refused with ``OTSParameterInvalid``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tools.doubles.tablestore._sdk import filter_pb2
from tools.doubles.tablestore.errors import invalid
from tools.doubles.tablestore.plainbuffer import decode_variant
from tools.doubles.tablestore.values import type_of

MAX_CONDITIONS = 10
EXIST = "EXIST"
NOT_EXIST = "NOT_EXIST"
_COMPARATORS: dict[int, str] = {
    filter_pb2.CT_EQUAL: "==",
    filter_pb2.CT_NOT_EQUAL: "!=",
    filter_pb2.CT_GREATER_THAN: ">",
    filter_pb2.CT_GREATER_EQUAL: ">=",
    filter_pb2.CT_LESS_THAN: "<",
    filter_pb2.CT_LESS_EQUAL: "<=",
    filter_pb2.CT_EXIST: EXIST,
    filter_pb2.CT_NOT_EXIST: NOT_EXIST,
}
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
NOT, AND, OR = "NOT", "AND", "OR"
_COMBINATORS = {filter_pb2.LO_NOT: NOT, filter_pb2.LO_AND: AND, filter_pb2.LO_OR: OR}


@dataclass(frozen=True)
class Single:
    column: str
    comparator: str
    value: Any
    pass_if_missing: bool

    def holds(self, columns: Mapping[str, Any]) -> bool:
        present = self.column in columns
        if self.comparator == EXIST:
            return present
        if self.comparator == NOT_EXIST:
            return not present
        if not present:
            return self.pass_if_missing
        actual = columns[self.column]
        if type_of(actual) != type_of(self.value):
            return False
        return _OPERATORS[self.comparator](actual, self.value)

    def count(self) -> int:
        return 1


@dataclass(frozen=True)
class Composite:
    combinator: str
    subs: tuple[Single | Composite, ...]

    def holds(self, columns: Mapping[str, Any]) -> bool:
        if self.combinator == NOT:
            return not self.subs[0].holds(columns)
        if self.combinator == AND:
            return all(sub.holds(columns) for sub in self.subs)
        return any(sub.holds(columns) for sub in self.subs)

    def count(self) -> int:
        return sum(sub.count() for sub in self.subs)


Condition = Single | Composite


def parse(data: bytes, *, limit: int | None = None) -> Condition:
    """A serialized ``Filter`` → its tree; ``OTSParameterInvalid`` when malformed, unsupported or over ``limit``
    single-column conditions."""
    try:
        tree = _parse_filter(bytes(data), depth=0)
    except ValueError:
        raise invalid("The filter is not valid.") from None
    if limit is not None and tree.count() > limit:
        raise invalid(f"The number of column conditions exceeds the limit: {limit}.")
    return tree


def _message(cls: Any, data: bytes) -> Any:
    message = cls()
    try:
        message.ParseFromString(data)
    except Exception:
        raise ValueError("malformed") from None
    if not message.IsInitialized():
        raise ValueError("required fields missing")
    return message


def _parse_filter(data: bytes, depth: int) -> Condition:
    if depth > 32:
        raise ValueError("too deep")
    proto = _message(filter_pb2.Filter, data)
    if proto.type == filter_pb2.FT_SINGLE_COLUMN_VALUE:
        single = _message(filter_pb2.SingleColumnValueFilter, proto.filter)
        if single.HasField("value_trans_rule"):
            raise invalid("Regex column conditions are not supported by the Tablestore double.")
        comparator = _COMPARATORS.get(single.comparator)
        if comparator is None or not single.column_name:
            raise ValueError("bad comparator or column")
        value = decode_variant(single.column_value) if comparator not in (EXIST, NOT_EXIST) else None
        return Single(single.column_name, comparator, value, pass_if_missing=not single.filter_if_missing)
    if proto.type == filter_pb2.FT_COMPOSITE_COLUMN_VALUE:
        composite = _message(filter_pb2.CompositeColumnValueFilter, proto.filter)
        combinator = _COMBINATORS.get(composite.combinator)
        if combinator is None:
            raise ValueError("bad combinator")
        subs = tuple(_parse_filter(sub.SerializeToString(), depth + 1) for sub in composite.sub_filters)
        if (combinator == NOT and len(subs) != 1) or (combinator != NOT and len(subs) < 2):
            raise invalid(f"A {combinator} condition needs {'one' if combinator == NOT else 'two or more'} "
                          "sub-conditions.")
        return Composite(combinator, subs)
    raise invalid("Column pagination filters are not supported by the Tablestore double.")
