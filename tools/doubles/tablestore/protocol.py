"""One service operation: the protobuf request (the SDK's ``table_store_pb2`` classes) → the engine → the answer.

``handle(operation, body)`` returns the serialized answer or raises ``ServiceError``. Field meanings follow
``table_store.proto`` (shipped with the SDK) and the Tablestore API reference pages of each operation.

Consumed capacity in answers is nominal (reads: 1 CU per row read, writes: 1 CU per row written): the SDK only
passes it through, and the double's ``Accounting`` is what measures reads. Refused as unsupported
(OTSParameterInvalid): ``time_range`` (the double keeps one version), ``transaction_id``, ``start_column`` /
``end_column`` / ``token`` (wide-row paging), ``RT_AFTER_MODIFY`` return content, ``partitions`` on CreateTable.
``columns_to_get`` holds at most 128 names (GetRange page).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tools.doubles.tablestore import filters
from tools.doubles.tablestore import plainbuffer as pbuf
from tools.doubles.tablestore._sdk import pb2
from tools.doubles.tablestore.engine import (
    EXPECT_EXIST,
    EXPECT_NOT_EXIST,
    IGNORE,
    BatchItem,
    Engine,
    OutRow,
    ReadSpec,
    RowWrite,
    WriteCondition,
)
from tools.doubles.tablestore.errors import ServiceError, invalid
from tools.doubles.tablestore.schema import GLOBAL, LOCAL, IndexMeta, Options, Table
from tools.doubles.tablestore.values import BINARY, BOOLEAN, DOUBLE, INTEGER, STRING

MAX_COLUMNS_TO_GET = 128
_KEY_TYPES = {pb2.INTEGER: INTEGER, pb2.STRING: STRING, pb2.BINARY: BINARY}
_KEY_TYPES_OUT = {v: k for k, v in _KEY_TYPES.items()}
_DEFINED_TYPES = {
    pb2.DCT_INTEGER: INTEGER,
    pb2.DCT_DOUBLE: DOUBLE,
    pb2.DCT_BOOLEAN: BOOLEAN,
    pb2.DCT_STRING: STRING,
    pb2.DCT_BLOB: BINARY,
}
_DEFINED_TYPES_OUT = {v: k for k, v in _DEFINED_TYPES.items()}
_EXISTENCE = {pb2.IGNORE: IGNORE, pb2.EXPECT_EXIST: EXPECT_EXIST, pb2.EXPECT_NOT_EXIST: EXPECT_NOT_EXIST}
_WRITE_KINDS = {pb2.PUT: "put", pb2.UPDATE: "update", pb2.DELETE: "delete"}


def _parse(cls: Any, body: bytes, operation: str) -> Any:
    message = cls()
    try:
        message.ParseFromString(body)
    except Exception:
        raise invalid(f"The request body is not a valid {operation} request.") from None
    if not message.IsInitialized():
        raise invalid(f"The request body is not a valid {operation} request.")
    return message


def _consumed(message: Any, *, read: int = 0, write: int = 0) -> None:
    message.capacity_unit.read = read
    message.capacity_unit.write = write


def _no_transaction(proto: Any) -> None:
    if proto.HasField("transaction_id"):
        raise invalid("Transactions are not supported by the Tablestore double.")


def _read_spec(proto: Any) -> ReadSpec:
    if proto.HasField("time_range"):
        raise invalid("time_range is not supported by the Tablestore double (it keeps one version).")
    if not proto.HasField("max_versions"):
        raise invalid("Neither max_versions nor time_range is specified.")
    if proto.max_versions < 1:
        raise invalid("max_versions must be greater than 0.")
    for name in ("start_column", "end_column", "token"):
        if _present(proto, name):
            raise invalid(f"{name} is not supported by the Tablestore double.")
    if len(proto.columns_to_get) > MAX_COLUMNS_TO_GET:
        raise invalid(f"The number of columns to get exceeds the limit: {MAX_COLUMNS_TO_GET}.")
    column_filter = filters.parse(proto.filter) if proto.HasField("filter") and proto.filter else None
    return ReadSpec(tuple(proto.columns_to_get), column_filter)


def _present(proto: Any, name: str) -> bool:
    field = proto.DESCRIPTOR.fields_by_name.get(name)
    if field is None:
        return False
    repeated = field.label == field.LABEL_REPEATED
    return bool(len(getattr(proto, name))) if repeated else bool(proto.HasField(name))


def _condition(proto: Any) -> WriteCondition:
    existence = _EXISTENCE.get(proto.row_existence)
    if existence is None:
        raise invalid("Unknown row existence expectation.")
    column = None
    if proto.HasField("column_condition") and proto.column_condition:
        column = filters.parse(proto.column_condition, limit=filters.MAX_CONDITIONS)
    return WriteCondition(existence, column)


def _return_key(proto: Any) -> bool:
    if not proto.HasField("return_content"):
        return False
    kind = proto.return_content.return_type
    if kind == pb2.RT_AFTER_MODIFY:
        raise invalid("RT_AFTER_MODIFY is not supported by the Tablestore double.")
    return bool(kind == pb2.RT_PK)


def _row_write(kind: str, data: bytes, condition: Any, return_key: bool) -> RowWrite:
    change = pbuf.decode_row(data)
    if kind == "delete":
        if change.cells or not change.delete_marker:
            raise invalid("A DeleteRow row must be a primary key with the delete marker.")
    elif change.delete_marker:
        raise invalid("Only DeleteRow rows carry the delete marker.")
    elif not change.cells:
        raise invalid("Attribute column is missing.")
    elif kind == "put" and any(cell.op != pbuf.PUT for cell in change.cells):
        raise invalid("PutRow cells cannot delete or increment.")
    return RowWrite(kind, change.primary_key, change.cells, _condition(condition), return_key)


def _encode(row: OutRow | None) -> bytes:
    return pbuf.encode_row(*row) if row is not None else b""


def _error(message: Any, exc: ServiceError) -> None:
    message.is_ok = False
    message.error.code = exc.code
    message.error.message = exc.message


class Protocol:
    """Maps each operation name to its handler; ``operations`` lists the ones the double answers."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._handlers: dict[str, Callable[[bytes], bytes]] = {
            "CreateTable": self.create_table,
            "DescribeTable": self.describe_table,
            "ListTable": self.list_table,
            "DeleteTable": self.delete_table,
            "UpdateTable": self.update_table,
            "CreateIndex": self.create_index,
            "DropIndex": self.drop_index,
            "PutRow": self.put_row,
            "UpdateRow": self.update_row,
            "DeleteRow": self.delete_row,
            "GetRow": self.get_row,
            "GetRange": self.get_range,
            "BatchGetRow": self.batch_get_row,
            "BatchWriteRow": self.batch_write_row,
        }

    @property
    def operations(self) -> frozenset[str]:
        return frozenset(self._handlers)

    def handle(self, operation: str, body: bytes) -> bytes:
        return self._handlers[operation](body)

    # --- tables -----------------------------------------------------------------------------------------

    def create_table(self, body: bytes) -> bytes:
        request = _parse(pb2.CreateTableRequest, body, "CreateTable")
        if len(request.partitions):
            raise invalid("Pre-split partitions are not supported by the Tablestore double.")
        meta = request.table_meta
        primary_key = []
        for column in meta.primary_key:
            if column.HasField("option"):
                raise invalid("Auto-increment primary key columns are not supported by the Tablestore double.")
            kind = _KEY_TYPES.get(column.type)
            if kind is None:
                raise invalid(f"{pb2.PrimaryKeyType.Name(column.type)} is an invalid type for the primary key.")
            primary_key.append((column.name, kind))
        defined = [(c.name, _DEFINED_TYPES[c.type]) for c in meta.defined_column]
        proto_options = request.table_options
        options = Options(
            time_to_live=proto_options.time_to_live if proto_options.HasField("time_to_live") else -1,
            max_versions=proto_options.max_versions if proto_options.HasField("max_versions") else 1,
            deviation_seconds=(
                proto_options.deviation_cell_version_in_sec
                if proto_options.HasField("deviation_cell_version_in_sec")
                else 86400
            ),
            allow_update=proto_options.allow_update if proto_options.HasField("allow_update") else True,
        )
        indexes = [_index_meta(m) for m in request.index_metas]
        sse = request.HasField("sse_spec") and request.sse_spec.enable
        key_type = request.sse_spec.key_type if sse and request.sse_spec.HasField("key_type") else None
        self.engine.create_table(
            meta.table_name, primary_key, defined, options, indexes, sse_enabled=bool(sse), sse_key_type=key_type
        )
        return bytes(pb2.CreateTableResponse().SerializeToString())

    def describe_table(self, body: bytes) -> bytes:
        request = _parse(pb2.DescribeTableRequest, body, "DescribeTable")
        table: Table = self.engine.describe(request.table_name)
        answer = pb2.DescribeTableResponse()
        answer.table_meta.table_name = table.name
        for name, kind in zip(table.key_names, table.key_types, strict=True):
            answer.table_meta.primary_key.add(name=name, type=_KEY_TYPES_OUT[kind])
        for name, kind in table.defined.items():
            answer.table_meta.defined_column.add(name=name, type=_DEFINED_TYPES_OUT[kind])
        _throughput(answer.reserved_throughput_details, table)
        _options(answer.table_options, table)
        answer.sse_details.enable = table.sse_enabled
        if table.sse_key_type is not None:
            answer.sse_details.key_type = table.sse_key_type
        for index in table.indexes.values():
            meta = answer.index_metas.add()
            meta.name = index.name
            meta.primary_key.extend(index.meta.primary_key)
            meta.defined_column.extend(index.meta.defined_columns)
            local = index.meta.kind == LOCAL
            meta.index_type = pb2.IT_LOCAL_INDEX if local else pb2.IT_GLOBAL_INDEX
            meta.index_update_mode = pb2.IUM_SYNC_INDEX if local else pb2.IUM_ASYNC_INDEX
        return bytes(answer.SerializeToString())

    def update_table(self, body: bytes) -> bytes:
        """Table options only; reserved throughput is accepted and reported as 0 (the double has no capacity)."""
        request = _parse(pb2.UpdateTableRequest, body, "UpdateTable")
        changes: dict[str, Any] = {}
        if request.HasField("table_options"):
            given = request.table_options
            for proto_name, name in (("time_to_live", "time_to_live"), ("max_versions", "max_versions"),
                                     ("deviation_cell_version_in_sec", "deviation_seconds"),
                                     ("allow_update", "allow_update")):
                if given.HasField(proto_name):
                    changes[name] = getattr(given, proto_name)
        table = self.engine.update_options(request.table_name, changes)
        answer = pb2.UpdateTableResponse()
        _throughput(answer.reserved_throughput_details, table)
        _options(answer.table_options, table)
        return bytes(answer.SerializeToString())

    def list_table(self, body: bytes) -> bytes:
        _parse(pb2.ListTableRequest, body, "ListTable")
        return bytes(pb2.ListTableResponse(table_names=self.engine.list_tables()).SerializeToString())

    def delete_table(self, body: bytes) -> bytes:
        request = _parse(pb2.DeleteTableRequest, body, "DeleteTable")
        self.engine.delete_table(request.table_name)
        return bytes(pb2.DeleteTableResponse().SerializeToString())

    def create_index(self, body: bytes) -> bytes:
        request = _parse(pb2.CreateIndexRequest, body, "CreateIndex")
        self.engine.create_index(
            request.main_table_name, _index_meta(request.index_meta), include_base_data=request.include_base_data
        )
        return bytes(pb2.CreateIndexResponse().SerializeToString())

    def drop_index(self, body: bytes) -> bytes:
        request = _parse(pb2.DropIndexRequest, body, "DropIndex")
        self.engine.drop_index(request.main_table_name, request.index_name)
        return bytes(pb2.DropIndexResponse().SerializeToString())

    # --- single-row writes ------------------------------------------------------------------------------

    def _single_write(self, operation: str, table: str, change: RowWrite) -> bytes:
        key = self.engine.write(operation, table, change)
        answer = {"PutRow": pb2.PutRowResponse, "UpdateRow": pb2.UpdateRowResponse,
                  "DeleteRow": pb2.DeleteRowResponse}[operation]()  # fmt: skip
        _consumed(answer.consumed, read=int(change.condition.row_existence != IGNORE), write=1)
        if key is not None:
            answer.row = pbuf.encode_key(key)
        return bytes(answer.SerializeToString())

    def put_row(self, body: bytes) -> bytes:
        request = _parse(pb2.PutRowRequest, body, "PutRow")
        _no_transaction(request)
        change = _row_write("put", request.row, request.condition, _return_key(request))
        return self._single_write("PutRow", request.table_name, change)

    def update_row(self, body: bytes) -> bytes:
        request = _parse(pb2.UpdateRowRequest, body, "UpdateRow")
        _no_transaction(request)
        change = _row_write("update", request.row_change, request.condition, _return_key(request))
        return self._single_write("UpdateRow", request.table_name, change)

    def delete_row(self, body: bytes) -> bytes:
        request = _parse(pb2.DeleteRowRequest, body, "DeleteRow")
        _no_transaction(request)
        change = _row_write("delete", request.primary_key, request.condition, _return_key(request))
        return self._single_write("DeleteRow", request.table_name, change)

    # --- reads ------------------------------------------------------------------------------------------

    def get_row(self, body: bytes) -> bytes:
        request = _parse(pb2.GetRowRequest, body, "GetRow")
        _no_transaction(request)
        spec = _read_spec(request)
        row = self.engine.get_row("GetRow", request.table_name, pbuf.decode_key(request.primary_key), spec)
        answer = pb2.GetRowResponse(row=_encode(row))
        _consumed(answer.consumed, read=1)
        return bytes(answer.SerializeToString())

    def get_range(self, body: bytes) -> bytes:
        request = _parse(pb2.GetRangeRequest, body, "GetRange")
        _no_transaction(request)
        spec = _read_spec(request)
        result = self.engine.get_range(
            "GetRange",
            request.table_name,
            forward=request.direction == pb2.FORWARD,
            start=pbuf.decode_key(request.inclusive_start_primary_key, "inclusive_start_primary_key"),
            end=pbuf.decode_key(request.exclusive_end_primary_key, "exclusive_end_primary_key"),
            limit=request.limit if request.HasField("limit") else None,
            spec=spec,
        )
        answer = pb2.GetRangeResponse(rows=pbuf.encode_rows(result.rows))
        _consumed(answer.consumed, read=max(1, len(result.rows)))
        if result.next_start is not None:
            answer.next_start_primary_key = pbuf.encode_key(result.next_start)
        return bytes(answer.SerializeToString())

    def batch_get_row(self, body: bytes) -> bytes:
        request = _parse(pb2.BatchGetRowRequest, body, "BatchGetRow")
        tables = []
        for table in request.tables:
            tables.append((table.table_name, [pbuf.decode_key(k) for k in table.primary_key], _read_spec(table)))
        results = self.engine.batch_get("BatchGetRow", tables)
        answer = pb2.BatchGetRowResponse()
        for (name, _, _), items in zip(tables, results, strict=True):
            table_answer = answer.tables.add(table_name=name)
            for item in items:
                row = table_answer.rows.add()
                _batch_item(row, item, read=1)
                if item.ok:
                    row.row = _encode(item.row)
        return bytes(answer.SerializeToString())

    def batch_write_row(self, body: bytes) -> bytes:
        request = _parse(pb2.BatchWriteRowRequest, body, "BatchWriteRow")
        _no_transaction(request)
        # A row that does not decode (or has no attribute column) fails the whole request, as the SDK's
        # integration tests saw for "Attribute column is missing."; key and condition failures fail one row.
        tables = [
            (
                table.table_name,
                [_row_write(_WRITE_KINDS[r.type], r.row_change, r.condition, _return_key(r)) for r in table.rows],
            )
            for table in request.tables
        ]
        results = self.engine.batch_write("BatchWriteRow", tables)
        answer = pb2.BatchWriteRowResponse()
        for (name, _), items in zip(tables, results, strict=True):
            table_answer = answer.tables.add(table_name=name)
            for item in items:
                row = table_answer.rows.add()
                _batch_item(row, item, write=1)
                if item.ok and item.key is not None:
                    row.row = pbuf.encode_key(item.key)
        return bytes(answer.SerializeToString())


def _throughput(details: Any, table: Table) -> None:
    details.capacity_unit.read = 0
    details.capacity_unit.write = 0
    details.last_increase_time = int(table.created_at)


def _options(message: Any, table: Table) -> None:
    message.time_to_live = table.options.time_to_live
    message.max_versions = table.options.max_versions
    message.deviation_cell_version_in_sec = table.options.deviation_seconds
    message.allow_update = table.options.allow_update


def _batch_item(message: Any, item: BatchItem, *, read: int = 0, write: int = 0) -> None:
    if item.ok:
        message.is_ok = True
        _consumed(message.consumed, read=read, write=write)
    else:
        assert item.error is not None
        _error(message, item.error)


def _index_meta(proto: Any) -> IndexMeta:
    return IndexMeta(
        name=proto.name,
        primary_key=tuple(proto.primary_key),
        defined_columns=tuple(proto.defined_column),
        kind=LOCAL if proto.index_type == pb2.IT_LOCAL_INDEX else GLOBAL,
    )
