"""shared.jsonutil reads JSON exactly as orjson does, whichever engine decodes, and writes JSON both read back.

The oracle is orjson itself (the library the standard-library fast path stands in for): over generated documents,
their encodings, arbitrary text and arbitrary bytes, ``jsonutil.loads`` returns what ``orjson.loads`` returns or
raises ``JSONDecodeError`` where orjson does.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import math
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import jsonutil

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)  # what orjson writes; beyond, JSONISH reads
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
DOCUMENTS = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5), max_leaves=30
)
JSONISH = st.sampled_from(
    ['"\\ud800"', '"\\ud83d\\ude00"', "NaN", "-Infinity", "1e400", "-1e400", "18446744073709551615",
     "18446744073709551616", "-9223372036854775808", "-9223372036854775809", "\ufeff{}", "[1,]", '"\t"', "{}",
     '{"a":1,"a":2}', "[" * 2000 + "]" * 2000, " 0 ", "-0", "1E5", "0.1e-400", '"\\u0000"', "01", "[1 2]", "",
     "1" * 4301, '{"a":' + "9" * 5000 + "}", "1" * 400 + ".5", '"\ud800"', '{"\udc00":1}', '"\ud83d\ude00"']
)


def outcome(loads: Any, data: Any) -> Any:
    try:
        value = loads(data)
    except jsonutil.JSONDecodeError:
        return "JSONDecodeError"
    return ("value", repr(value))  # repr: 0.0 vs -0.0 and 1 vs 1.0 differ


def same_as_orjson(data: Any) -> None:
    assert outcome(jsonutil.loads, data) == outcome(orjson.loads, data)


@given(DOCUMENTS)
@settings(max_examples=300)
def test_a_document_reads_back_as_orjson_reads_it(document: Any) -> None:
    same_as_orjson(jsonutil.dumps(document))
    same_as_orjson(orjson.dumps(document))


@given(st.text(max_size=200) | JSONISH)
@settings(max_examples=500)
def test_any_text_reads_as_orjson_reads_it(text: str) -> None:
    same_as_orjson(text)
    same_as_orjson(text.encode("utf-8", "surrogatepass"))


@given(st.binary(max_size=200))
def test_any_bytes_read_as_orjson_reads_them(data: bytes) -> None:
    same_as_orjson(data)
    same_as_orjson(bytearray(data))
    same_as_orjson(memoryview(data))
    same_as_orjson(memoryview(data)[::2])


@given(st.text(alphabet=st.characters(min_codepoint=0xD7F0, max_codepoint=0xE010), max_size=10))
def test_text_with_surrogate_code_points_reads_as_orjson_reads_it(inner: str) -> None:
    same_as_orjson(f'"{inner}"')
    same_as_orjson(f'{{"{inner}": 1}}')


@pytest.mark.parametrize("text", ["[" * 2000 + "]" * 2000, '"\\udc00"', "1e999", "NaN"])
def test_inputs_the_standard_library_reads_differently_are_decided_by_orjson(text: str) -> None:
    same_as_orjson(text)


def test_a_large_document_is_read_by_orjson_with_the_same_result() -> None:
    large = jsonutil.dumps({"image": "A" * jsonutil.LARGE, "n": [1, 2.5, None, "é"]})
    assert jsonutil.loads(large) == orjson.loads(large)


def test_output_is_compact_utf8() -> None:
    assert jsonutil.dumps({"a": ["é", 1, 2.5, None, True]}) == '{"a":["é",1,2.5,null,true]}'.encode()


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused(value: float) -> None:
    with pytest.raises(ValueError):
        jsonutil.dumps({"x": value})


def test_text_that_is_not_unicode_is_refused() -> None:
    with pytest.raises(ValueError):
        jsonutil.dumps({"x": "\ud800"})


def test_dataclasses_datetimes_and_enums_encode_as_orjson_encodes_them() -> None:
    class Colour(enum.Enum):
        RED = "red"

    @dataclasses.dataclass
    class Point:
        x: int
        when: datetime.datetime
        colour: Colour

    value = {"p": Point(1, datetime.datetime(2026, 11, 30, 12, 0, 1, 5, tzinfo=datetime.timezone.utc), Colour.RED),
             "d": datetime.date(2026, 11, 30), 3: "int key"}
    assert jsonutil.dumps(value) == orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def test_an_unknown_type_is_refused() -> None:
    with pytest.raises(TypeError):
        jsonutil.dumps({"x": object()})
