"""Cell values and primary-key ordering, as the double stores them.

Values are Python ``str`` (STRING), ``int`` (INTEGER, int64), ``float`` (DOUBLE), ``bool`` (BOOLEAN) and ``bytes``
(BINARY). ``bool`` is a subclass of ``int`` in Python, so every type test goes through ``type_of``.

Primary keys are tuples of values in schema order; Python orders them the way Tablestore orders rows: column by
column, INTEGER as signed 64-bit, STRING and BINARY bytewise (for ``str``, code-point order is UTF-8 byte order).
Range bounds may hold ``LOW``/``HIGH`` (the wire's INF_MIN/INF_MAX), which sort below/above every value.
"""

from __future__ import annotations

from typing import Any

#: Tablestore type names, as ``DescribeTable`` and error messages spell them.
INTEGER = "INTEGER"
STRING = "STRING"
BINARY = "BINARY"
DOUBLE = "DOUBLE"
BOOLEAN = "BOOLEAN"

#: Primary-key column types the double supports (the service also has BOOLEAN keys; the SDK can't read them back
#: with its pure-Python decoder, so they are left out).
KEY_TYPES = (INTEGER, STRING, BINARY)
INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1


class _Infinity:
    """INF_MIN / INF_MAX in a range bound: compares below / above every value (and equal only to itself)."""

    __slots__ = ("_name", "_sign")

    def __init__(self, sign: int, name: str) -> None:
        self._sign = sign
        self._name = name

    def __repr__(self) -> str:
        return self._name

    def __eq__(self, other: object) -> bool:
        return other is self

    def __hash__(self) -> int:
        return hash(self._name)

    def __lt__(self, other: object) -> bool:
        return other is not self and self._sign < 0

    def __le__(self, other: object) -> bool:
        return other is self or self._sign < 0

    def __gt__(self, other: object) -> bool:
        return other is not self and self._sign > 0

    def __ge__(self, other: object) -> bool:
        return other is self or self._sign > 0


LOW = _Infinity(-1, "INF_MIN")
HIGH = _Infinity(1, "INF_MAX")

#: Stands for PK_AUTO_INCR in a decoded row (refused: the double has no auto-increment columns).
AUTO_INCREMENT = _Infinity(0, "PK_AUTO_INCR")


def type_of(value: Any) -> str:
    """The Tablestore type of a stored value."""
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        return INTEGER
    if isinstance(value, float):
        return DOUBLE
    if isinstance(value, str):
        return STRING
    if isinstance(value, bytes | bytearray):
        return BINARY
    raise TypeError(f"unsupported value type {type(value).__name__}")


def cell_size(name: str, value: Any) -> int:
    """Bytes a cell weighs for the GetRange size cap: its name plus its value (8 for numbers, 1 for booleans)."""
    kind = type_of(value)
    if kind == STRING:
        payload = len(value.encode("utf-8"))
    elif kind == BINARY:
        payload = len(value)
    elif kind == BOOLEAN:
        payload = 1
    else:
        payload = 8
    return len(name) + payload
