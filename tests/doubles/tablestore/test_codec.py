"""The double's PlainBuffer and filter codecs against the SDK's own encoder and decoder (the oracle), on random rows.

Requests are built with the SDK's ``PlainBufferBuilder`` / ``OTSProtoBufferEncoder`` and read by the double;
answers are written by the double and read with the SDK's ``PlainBufferCodedInputStream``.
"""

from __future__ import annotations

import random
import string
from typing import Any

import pytest

from tools.doubles.tablestore import filters
from tools.doubles.tablestore import plainbuffer as pbuf
from tools.doubles.tablestore._sdk import (
    PlainBufferBuilder,
    PlainBufferCodedInputStream,
    PlainBufferInputStream,
    filter_pb2,
)
from tools.doubles.tablestore._sdk import tablestore as ts
from tools.doubles.tablestore.errors import ServiceError
from tools.doubles.tablestore.values import HIGH, LOW

CASES = 300
NAME_CHARS = string.ascii_letters + string.digits + "_"


def _name(rng: random.Random) -> str:
    return rng.choice(string.ascii_letters) + "".join(rng.choice(NAME_CHARS) for _ in range(rng.randint(0, 12)))


def _key_value(rng: random.Random) -> Any:
    kind = rng.choice(["int", "str", "bin"])
    if kind == "int":
        return rng.randint(-(1 << 63), (1 << 63) - 1)
    if kind == "str":
        return "".join(rng.choice(string.printable + "证件ü") for _ in range(rng.randint(0, 30)))
    return bytearray(rng.randbytes(rng.randint(0, 30)))


def _value(rng: random.Random) -> Any:
    kind = rng.choice(["key", "float", "bool"])
    if kind == "float":
        return rng.uniform(-1e12, 1e12)
    if kind == "bool":
        return rng.random() < 0.5
    return _key_value(rng)


def _plain(value: Any) -> Any:
    """The SDK's value as the double keeps it: BINARY as ``bytes``."""
    return bytes(value) if isinstance(value, bytearray) else value


def _key(rng: random.Random) -> list[tuple[str, Any]]:
    return [(_name(rng), _key_value(rng)) for _ in range(rng.randint(1, 4))]


def test_put_rows_built_by_the_sdk_decode_to_the_same_key_cells_and_timestamps() -> None:
    rng = random.Random(11)
    for _ in range(CASES):
        key = _key(rng)
        columns = []
        for _ in range(rng.randint(1, 6)):
            column: tuple[Any, ...] = (_name(rng), _value(rng))
            if rng.random() < 0.3:
                column = (*column, rng.randint(0, 1 << 45))
            columns.append(column)
        change = pbuf.decode_row(bytes(PlainBufferBuilder.serialize_for_put_row(key, columns)))
        assert change.primary_key == [(n, _plain(v)) for n, v in key]
        assert [(c.name, c.value, c.timestamp, c.op) for c in change.cells] == [
            (c[0], _plain(c[1]), c[2] if len(c) == 3 else None, "put") for c in columns
        ]
        assert change.delete_marker is False


def test_update_rows_built_by_the_sdk_decode_every_cell_type() -> None:
    rng = random.Random(12)
    for _ in range(CASES):
        key = _key(rng)
        puts = [(_name(rng), _value(rng)) for _ in range(rng.randint(0, 3))]
        deletes = [(_name(rng), None, rng.randint(1, 1 << 45)) for _ in range(rng.randint(0, 2))]
        delete_all = [_name(rng) for _ in range(rng.randint(0, 2))]
        increments = [(_name(rng), rng.randint(-1000, 1000)) for _ in range(rng.randint(0, 2))]
        update = {"put": puts, "delete": deletes, "delete_all": delete_all, "increment": increments}
        change = pbuf.decode_row(bytes(PlainBufferBuilder.serialize_for_update_row(key, update)))
        expected = (
            [(n, _plain(v), None, "put") for n, v in puts]
            + [(n, None, t, "delete") for n, _, t in deletes]
            + [(n, None, None, "delete_all") for n in delete_all]
            + [(n, v, None, "increment") for n, v in increments]
        )
        assert [(c.name, c.value, c.timestamp, c.op) for c in change.cells] == expected


def test_delete_rows_and_range_bounds_decode_with_marker_and_infinities() -> None:
    change = pbuf.decode_row(bytes(PlainBufferBuilder.serialize_for_delete_row([("a", "x"), ("b", 7)])))
    assert (change.primary_key, change.delete_marker) == ([("a", "x"), ("b", 7)], True)
    bound = bytes(PlainBufferBuilder.serialize_primary_key([("a", ts.INF_MIN), ("b", ts.INF_MAX)]))
    assert pbuf.decode_key(bound) == [("a", LOW), ("b", HIGH)]


def test_a_flipped_byte_is_refused_as_a_parameter_error() -> None:
    rng = random.Random(13)
    refused = 0
    for _ in range(100):
        data = bytearray(PlainBufferBuilder.serialize_for_put_row(_key(rng), [(_name(rng), _value(rng))]))
        data[rng.randrange(4, len(data))] ^= 1 << rng.randrange(8)
        try:
            pbuf.decode_row(bytes(data))
        except ServiceError as exc:
            assert exc.code == "OTSParameterInvalid"
            refused += 1
    assert refused >= 95  # a flip inside a length field can still parse by chance; the checksums catch the rest


def _put_row() -> bytearray:
    return bytearray(PlainBufferBuilder.serialize_for_put_row([("k", "v")], [("c", 7)]))


def _refused(data: bytes | bytearray) -> bool:
    try:
        pbuf.decode_row(bytes(data))
    except ServiceError as exc:
        return exc.code == "OTSParameterInvalid"
    return False


def test_a_changed_cell_checksum_is_refused() -> None:
    """The last cell's checksum is the byte before the row checksum's tag and byte."""
    data = _put_row()
    assert not _refused(data)
    data[-3] ^= 0x01
    assert _refused(data)


def test_a_changed_row_checksum_is_refused() -> None:
    data = _put_row()
    data[-1] ^= 0x01
    assert _refused(data)


def test_bytes_after_the_row_are_refused() -> None:
    # Two bytes: a single stray byte is read as the next tag by the SDK's stream and still goes unnoticed (a gap).
    assert _refused(_put_row() + b"\x00\x00")


def test_a_primary_key_carrying_attribute_columns_is_refused() -> None:
    with pytest.raises(ServiceError) as refused:
        pbuf.decode_key(bytes(_put_row()))
    assert refused.value.code == "OTSParameterInvalid"


def test_a_filter_value_with_trailing_bytes_is_refused() -> None:
    value = bytes(PlainBufferBuilder.serialize_column_value(7))
    assert pbuf.decode_variant(value) == 7
    with pytest.raises(ServiceError) as refused:
        pbuf.decode_variant(value + b"\x00\x00")
    assert refused.value.code == "OTSParameterInvalid"


def test_rows_the_double_writes_read_back_with_the_sdk_decoder() -> None:
    rng = random.Random(14)
    for _ in range(CASES // 3):
        rows = []
        for _ in range(rng.randint(1, 5)):
            key = [(n, _plain(v)) for n, v in _key(rng)]
            columns = [(_name(rng), _plain(_value(rng)), rng.randint(0, 1 << 45)) for _ in range(rng.randint(0, 5))]
            rows.append((key, columns))
        decoded = PlainBufferCodedInputStream(PlainBufferInputStream(pbuf.encode_rows(rows))).read_rows()
        assert len(decoded) == len(rows)
        for row, (key, columns) in zip(decoded, rows, strict=True):
            assert [(n, _plain(v)) for n, v in row.primary_key] == key
            assert [(n, _plain(v), t) for n, v, t in row.attribute_columns] == columns


def test_a_key_the_double_writes_is_the_sdk_builders_key() -> None:
    key = [("a", "x"), ("b", 7), ("c", b"\x00\xff")]
    sdk = PlainBufferBuilder.serialize_primary_key([("a", "x"), ("b", 7), ("c", bytearray(b"\x00\xff"))])
    assert pbuf.encode_key(key) == bytes(sdk)


def _encoded_condition(condition: Any) -> bytes:
    encoder = ts.encoder.OTSProtoBufferEncoder("utf8")
    proto = ts.protobuf.table_store_filter_pb2.Filter()
    encoder._make_column_condition(proto, condition)
    return bytes(proto.SerializeToString())


COMPARATORS = [
    (ts.ComparatorType.EQUAL, lambda a, b: a == b),
    (ts.ComparatorType.NOT_EQUAL, lambda a, b: a != b),
    (ts.ComparatorType.GREATER_THAN, lambda a, b: a > b),
    (ts.ComparatorType.GREATER_EQUAL, lambda a, b: a >= b),
    (ts.ComparatorType.LESS_THAN, lambda a, b: a < b),
    (ts.ComparatorType.LESS_EQUAL, lambda a, b: a <= b),
]


@pytest.mark.parametrize(("comparator", "python"), COMPARATORS)
def test_single_conditions_from_the_sdk_compare_like_the_operator(comparator: str, python: Any) -> None:
    rng = random.Random(comparator)
    for _ in range(50):
        constant, actual = rng.randint(-5, 5), rng.randint(-5, 5)
        tree = filters.parse(_encoded_condition(ts.SingleColumnCondition("c", constant, comparator)))
        assert tree.holds({"c": actual}) is python(actual, constant)


def test_values_of_every_type_survive_the_filter_encoding() -> None:
    for value in ("text", "证件", 42, -(1 << 63), 2.5, True, False, bytearray(b"\x00\x01")):
        tree = filters.parse(_encoded_condition(ts.SingleColumnCondition("c", value, ts.ComparatorType.EQUAL)))
        assert isinstance(tree, filters.Single) and tree.value == _plain(value)
        assert type(tree.value) is type(_plain(value))


def test_pass_if_missing_decides_for_a_row_without_the_column() -> None:
    passes = ts.SingleColumnCondition("c", 1, ts.ComparatorType.EQUAL, pass_if_missing=True)
    fails = ts.SingleColumnCondition("c", 1, ts.ComparatorType.EQUAL, pass_if_missing=False)
    assert filters.parse(_encoded_condition(passes)).holds({"other": 1}) is True
    assert filters.parse(_encoded_condition(fails)).holds({"other": 1}) is False


def test_composite_conditions_combine_like_not_and_or() -> None:
    eq_a = ts.SingleColumnCondition("a", 1, ts.ComparatorType.EQUAL)
    eq_b = ts.SingleColumnCondition("b", "x", ts.ComparatorType.EQUAL)
    both = ts.CompositeColumnCondition(ts.LogicalOperator.AND)
    either = ts.CompositeColumnCondition(ts.LogicalOperator.OR)
    for composite in (both, either):
        composite.add_sub_condition(eq_a)
        composite.add_sub_condition(eq_b)
    negated = ts.CompositeColumnCondition(ts.LogicalOperator.NOT)
    negated.add_sub_condition(both)
    for a in (0, 1):
        for b in ("x", "y"):
            row = {"a": a, "b": b}
            assert filters.parse(_encoded_condition(both)).holds(row) is (a == 1 and b == "x")
            assert filters.parse(_encoded_condition(either)).holds(row) is (a == 1 or b == "x")
            assert filters.parse(_encoded_condition(negated)).holds(row) is not (a == 1 and b == "x")


def _exist_filter(comparator: int) -> bytes:
    """EXIST / NOT_EXIST, which the SDK's ``SingleColumnCondition`` does not send, built with its protobuf classes."""
    single = filter_pb2.SingleColumnValueFilter(
        comparator=comparator, column_name="c", column_value=b"", filter_if_missing=False, latest_version_only=True
    )
    return bytes(
        filter_pb2.Filter(type=filter_pb2.FT_SINGLE_COLUMN_VALUE, filter=single.SerializeToString()).SerializeToString()
    )


def test_exist_and_not_exist_test_only_whether_the_column_is_there() -> None:
    exist, not_exist = (
        filters.parse(_exist_filter(filter_pb2.CT_EXIST)),
        filters.parse(_exist_filter(filter_pb2.CT_NOT_EXIST)),
    )
    assert (exist.holds({"c": 0}), exist.holds({"d": 0})) == (True, False)
    assert (not_exist.holds({"c": 0}), not_exist.holds({"d": 0})) == (False, True)


def test_values_of_another_type_never_match() -> None:
    tree = filters.parse(_encoded_condition(ts.SingleColumnCondition("c", 1, ts.ComparatorType.NOT_EQUAL)))
    assert tree.holds({"c": 1.0}) is False
    assert tree.holds({"c": "1"}) is False


def test_more_than_ten_single_conditions_are_refused_for_a_write() -> None:
    composite = ts.CompositeColumnCondition(ts.LogicalOperator.AND)
    for i in range(11):
        composite.add_sub_condition(ts.SingleColumnCondition(f"c{i}", i, ts.ComparatorType.EQUAL))
    with pytest.raises(ServiceError) as refused:
        filters.parse(_encoded_condition(composite), limit=filters.MAX_CONDITIONS)
    assert refused.value.code == "OTSParameterInvalid"
