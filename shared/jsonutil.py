"""JSON in one place: every module encodes and decodes the same way (compact UTF-8, no NaN, orjson's reading).

Two engines, one behaviour. Small documents — requests, queue messages, records, log lines, webhook bodies — go
through the standard library's C encoder and scanner; documents of ``LARGE`` or more (a CheckResult carrying
images, the Ext*Info strings inside it) go through orjson, imported on first use. Why (measured on Python 3.10,
docs/performance.md): importing orjson costs every cold start its own imports (``uuid`` → ``platform`` →
``subprocess``; ``dataclasses`` → ``inspect`` → ``ast``), while on a 2.6 MB CheckResult it decodes ~2.8× faster
than ``json``; on a few hundred bytes the difference is microseconds.

Decoding has orjson's semantics on both paths: any input the standard library would read differently is handed to
orjson, which decides — ``\\u`` escapes (lone surrogates), surrogate code points, invalid UTF-8, ``NaN``/
``Infinity``, numbers beyond a 64-bit integer or a finite double, nesting beyond the recursion limit, memoryviews.
``tests/test_jsonutil.py`` checks that the two agree over generated documents, arbitrary text and bytes.

Encoding raises where orjson would write something else or refuse: ``NaN`` and infinities (orjson wrote ``null``;
no setting can hold one, ``shared.config.env_float`` refuses them), text that is not Unicode (lone surrogates), keys
other than ``str``/``int``/``float``/``bool``/``None``. Dataclass and ``@valueclass`` instances, datetimes and enums
encode as orjson encodes them; integers beyond 64 bits encode (orjson refused them); floats are written as Python
writes them (``1e-07`` where orjson wrote ``1e-7``: the same number).
"""

from __future__ import annotations

import json
from datetime import date, datetime, time
from enum import Enum

from shared.values import asdict, is_value

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any

JSONDecodeError = json.JSONDecodeError  # orjson.JSONDecodeError is a subclass: one except clause catches both

LARGE = 64 * 1024
"""From this many bytes (or characters) on, orjson decodes."""

_INT_MIN, _INT_END = -(2**63), 2**64  # orjson's integers; beyond them it reads a float


class _Orjson(Exception):
    """The standard library would read this input differently from orjson: orjson decides."""


def _read_int(text: str) -> int:
    if len(text) > 21:  # beyond 64 bits whatever the digits; and int() refuses 4300+ digits (a ValueError)
        raise _Orjson
    value = int(text)
    if _INT_MIN <= value < _INT_END:
        return value
    raise _Orjson


def _read_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _Orjson
    return value


def _read_constant(text: str) -> Any:
    raise _Orjson


_decoder = json.JSONDecoder(parse_int=_read_int, parse_float=_read_float, parse_constant=_read_constant)


def _default(value: Any) -> Any:
    if is_value(value):
        return asdict(value)
    if hasattr(type(value), "__dataclass_fields__"):
        import dataclasses  # noqa: PLC0415 - the class's module imported it already

        return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_default)


def _orjson_loads(data: bytes | bytearray | memoryview | str) -> Any:
    import orjson  # noqa: PLC0415 - only large or unusual documents pay for its import

    return orjson.loads(data)


def dumps(obj: Any) -> bytes:
    """Serialise to compact UTF-8 JSON bytes (see the module docstring for what raises)."""
    return _encoder.encode(obj).encode("utf-8")


def dumps_str(obj: Any) -> str:
    return dumps(obj).decode("utf-8")


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Parse JSON as orjson does; raises :class:`JSONDecodeError` (a ``ValueError``) on malformed input."""
    if not isinstance(data, (str, bytes, bytearray)) or len(data) >= LARGE:  # memoryview: strided, any format
        return _orjson_loads(data)
    if isinstance(data, str):
        text = data
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:  # surrogate code points: not Unicode text, orjson refuses them
                return _orjson_loads(text)
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return _orjson_loads(data)
    if "\\u" in text:
        return _orjson_loads(text)
    try:
        return _decoder.decode(text)
    except (_Orjson, RecursionError):
        return _orjson_loads(text)
