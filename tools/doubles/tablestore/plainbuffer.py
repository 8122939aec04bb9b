"""PlainBuffer rows on the server side, with the SDK's own streams, CRC-8 and value readers/writers.

The SDK only ever *reads* response rows and *writes* request rows, so its reader lacks three things a server must
read: INF_MIN / INF_MAX / PK_AUTO_INCR key values (range bounds, auto-increment puts), the cell-type tag of an
update cell (delete one version, delete all versions, increment; the SDK's ``read_column`` even names an undefined
variable there), and the bare variant a column filter carries (``SingleColumnValueFilter.column_value``).
``_RequestReader`` subclasses the SDK's ``PlainBufferCodedInputStream`` for exactly those (and checks each value's
length prefix, which the SDK's reader skips) and reuses everything else; checksums are computed in the order the
SDK's writer computes them (name, value, timestamp, cell type). Answers are written with the SDK's
``PlainBufferCodedOutputStream``. ``tests/doubles/tablestore/test_codec.py`` checks both directions against the
SDK's builder and decoder on random rows.

Layout of a row (the SDK's ``plain_buffer_builder.py``): header (int32 0x75), TAG_ROW_PK, key cells,
[TAG_ROW_DATA, attribute cells], [TAG_DELETE_ROW_MARKER], TAG_ROW_CHECKSUM + crc8. A cell: TAG_CELL,
TAG_CELL_NAME + int32 length + name, [TAG_CELL_VALUE + int32 length + type + payload], [TAG_CELL_TYPE + op],
[TAG_CELL_TIMESTAMP + int64], TAG_CELL_CHECKSUM + crc8.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from tools.doubles.tablestore._sdk import (
    PlainBufferBuilder,
    PlainBufferCodedInputStream,
    PlainBufferCodedOutputStream,
    PlainBufferCrc8,
    PlainBufferInputStream,
    PlainBufferOutputStream,
    consts,
)
from tools.doubles.tablestore.errors import ServiceError, invalid
from tools.doubles.tablestore.values import AUTO_INCREMENT, BINARY, HIGH, LOW, type_of

PUT = "put"
DELETE_ONE = "delete"
DELETE_ALL = "delete_all"
INCREMENT = "increment"
_CELL_OPS = {consts.DELETE_ONE_VERSION: DELETE_ONE, consts.DELETE_ALL_VERSION: DELETE_ALL, consts.INCREMENT: INCREMENT}
_SPECIAL_KEYS = {consts.VT_INF_MIN: LOW, consts.VT_INF_MAX: HIGH, consts.VT_AUTO_INCREMENT: AUTO_INCREMENT}
_OUTPUT_CAPACITY = 1 << 40  # the SDK's output stream wants a capacity; answers are bounded elsewhere

Key = list[tuple[str, Any]]


@dataclass(frozen=True)
class Cell:
    """One attribute cell of a request row: ``op`` is ``put`` (with ``value``), ``delete`` (the version at
    ``timestamp``), ``delete_all`` or ``increment`` (with an INTEGER ``value``)."""

    name: str
    value: Any
    timestamp: int | None
    op: str = PUT


@dataclass(frozen=True)
class RowChange:
    primary_key: Key
    cells: list[Cell]
    delete_marker: bool = False


class _RequestReader(PlainBufferCodedInputStream):  # type: ignore[misc]  # the SDK is untyped
    """The SDK's reader plus what only a server reads (see the module docstring)."""

    def read_primary_key_value(self, cell_check_sum: int) -> tuple[Any, int]:
        stream = self.input_stream
        start = stream.cur_pos
        stream.read_raw_little_endian32()
        kind = ord(stream.read_raw_byte())
        if kind in _SPECIAL_KEYS:
            cell_check_sum = PlainBufferCrc8.crc_int8(cell_check_sum, kind)
            stream.read_tag()
            return _SPECIAL_KEYS[kind], cell_check_sum
        stream.cur_pos = start  # an ordinary value: the SDK reads it from its length prefix
        return self._length_checked(super().read_primary_key_value, cell_check_sum)

    def read_column_value(self, cell_check_sum: int) -> tuple[Any, int]:
        return self._length_checked(super().read_column_value, cell_check_sum)

    def _length_checked(self, read: Any, cell_check_sum: int) -> tuple[Any, int]:
        """The SDK's readers skip a value's length prefix; a server checks it against the bytes the value took."""
        stream = self.input_stream
        start = stream.cur_pos
        (declared,) = struct.unpack("<i", bytes(stream.buffer[start : start + 4]))
        value, cell_check_sum = read(cell_check_sum)
        tag_bytes = 0 if stream.last_tag == 0 else 1  # the reader went on to read the next tag (none at the end)
        if stream.cur_pos - start - 4 - tag_bytes != declared:
            raise ValueError("a value's length prefix does not match the value")
        return (bytes(value) if isinstance(value, bytearray) else value), cell_check_sum

    def read_cell(self, row_check_sum: int) -> tuple[Cell, int]:
        stream = self.input_stream
        stream.read_tag()
        if stream.last_tag != consts.TAG_CELL_NAME:
            raise ValueError("expected a cell name")
        cell_check_sum = 0
        name = stream.read_utf_string(stream.read_raw_little_endian32())
        cell_check_sum = PlainBufferCrc8.crc_string(cell_check_sum, name)
        stream.read_tag()
        value: Any = None
        if stream.last_tag == consts.TAG_CELL_VALUE:
            value, cell_check_sum = self.read_column_value(cell_check_sum)
        op = PUT
        op_byte: int | None = None
        if stream.last_tag == consts.TAG_CELL_TYPE:
            op_byte = ord(stream.read_raw_byte())
            if op_byte not in _CELL_OPS:
                raise ValueError("unknown cell type")
            op = _CELL_OPS[op_byte]
            stream.read_tag()
        timestamp: int | None = None
        if stream.last_tag == consts.TAG_CELL_TIMESTAMP:
            timestamp = stream.read_int64()
            cell_check_sum = PlainBufferCrc8.crc_int64(cell_check_sum, timestamp)
            stream.read_tag()
        if op_byte is not None:  # the SDK's writer folds the cell type in after the timestamp
            cell_check_sum = PlainBufferCrc8.crc_int8(cell_check_sum, op_byte)
        if stream.last_tag != consts.TAG_CELL_CHECKSUM:
            raise ValueError("expected a cell checksum")
        if ord(stream.read_raw_byte()) != cell_check_sum:
            raise ValueError("cell checksum mismatch")
        stream.read_tag()
        return Cell(name, value, timestamp, op), PlainBufferCrc8.crc_int8(row_check_sum, cell_check_sum)

    def read_row_change(self) -> RowChange:
        stream = self.input_stream
        if self.read_header() != consts.HEADER:
            raise ValueError("bad header")
        stream.read_tag()
        if stream.last_tag != consts.TAG_ROW_PK:
            raise ValueError("expected the primary key")
        stream.read_tag()
        row_check_sum = 0
        key: Key = []
        while stream.last_tag == consts.TAG_CELL:
            name, value, row_check_sum = self.read_primary_key_column(row_check_sum)
            key.append((name, value))
        cells: list[Cell] = []
        if stream.last_tag == consts.TAG_ROW_DATA:
            stream.read_tag()
            while stream.last_tag == consts.TAG_CELL:
                cell, row_check_sum = self.read_cell(row_check_sum)
                cells.append(cell)
        delete_marker = stream.last_tag == consts.TAG_DELETE_ROW_MARKER
        if delete_marker:
            stream.read_tag()
        row_check_sum = PlainBufferCrc8.crc_int8(row_check_sum, 1 if delete_marker else 0)
        if stream.last_tag != consts.TAG_ROW_CHECKSUM:
            raise ValueError("expected the row checksum")
        if ord(stream.read_raw_byte()) != row_check_sum:
            raise ValueError("row checksum mismatch")
        stream.read_tag()
        if stream.cur_pos != stream.len:
            raise ValueError("trailing bytes after the row")
        return RowChange(key, cells, delete_marker)


def _reader(data: bytes) -> _RequestReader:
    return _RequestReader(PlainBufferInputStream(bytes(data)))


def decode_row(data: bytes, what: str = "row") -> RowChange:
    """A request's PlainBuffer row (a key, a put row, an update row or a delete row); ``OTSParameterInvalid``
    when it does not parse or its checksums do not match."""
    try:
        return _reader(data).read_row_change()
    except ServiceError:
        raise
    except Exception:  # the SDK's streams raise OTSClientError; ours ValueError: both mean a malformed row
        raise invalid(f"The {what} is not a valid PlainBuffer row.") from None


def decode_key(data: bytes, what: str = "primary key") -> Key:
    change = decode_row(data, what)
    if change.cells:
        raise invalid(f"The {what} must not carry attribute columns.")
    return change.primary_key


def decode_variant(data: bytes) -> Any:
    """The bare value of a column filter (``PlainBufferBuilder.serialize_column_value``: type byte + payload).

    The SDK's ``read_column_value`` reads the same encoding behind a length prefix, so it gets one."""
    stream = PlainBufferInputStream(struct.pack("<i", len(data)) + bytes(data))
    stream.last_tag = consts.TAG_CELL_VALUE
    try:
        value, _ = PlainBufferCodedInputStream(stream).read_column_value(0)
    except Exception:
        raise invalid("The column value of a filter is not a valid PlainBuffer value.") from None
    if stream.cur_pos != stream.len:
        raise invalid("The column value of a filter has trailing bytes.")
    return bytes(value) if isinstance(value, bytearray) else value


def _wire(value: Any) -> Any:
    """A stored value as the SDK's writer wants it: BINARY as ``bytearray`` (``bytes`` would go out as STRING)."""
    if value is LOW:
        return _sdk_inf("INF_MIN")
    if value is HIGH:
        return _sdk_inf("INF_MAX")
    return bytearray(value) if type_of(value) == BINARY else value


def _sdk_inf(name: str) -> Any:
    from tools.doubles.tablestore._sdk import tablestore  # noqa: PLC0415 - tiny, already imported

    return getattr(tablestore, name)


def _write_row(coded: Any, key: Key, columns: list[tuple[str, Any, int | None]]) -> None:
    check_sum = coded.write_primary_key([(name, _wire(value)) for name, value in key], 0)
    check_sum = coded.write_columns([(name, _wire(value), ts) for name, value, ts in columns], check_sum)
    coded.write_row_checksum(PlainBufferCrc8.crc_int8(check_sum, 0))


def encode_rows(rows: list[tuple[Key, list[tuple[str, Any, int | None]]]]) -> bytes:
    """Rows for an answer (one header, then each row), as ``GetRange`` returns them; ``b""`` for none."""
    if not rows:
        return b""
    stream = PlainBufferOutputStream(_OUTPUT_CAPACITY)
    coded = PlainBufferCodedOutputStream(stream)
    coded.write_header()
    for key, columns in rows:
        _write_row(coded, key, columns)
    return bytes(stream.get_buffer())


def encode_row(key: Key, columns: list[tuple[str, Any, int | None]]) -> bytes:
    return encode_rows([(key, columns)])


def encode_key(key: Key) -> bytes:
    """A primary key alone (``next_start_primary_key``, ``RT_PK`` answers), with the SDK's own builder."""
    return bytes(PlainBufferBuilder.serialize_primary_key([(name, _wire(value)) for name, value in key]))
