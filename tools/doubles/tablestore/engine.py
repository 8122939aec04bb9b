"""The storage engine: tables, rows, conditions, reads with filters and paging, and index maintenance.

Every public method is one service operation's effect on the state, atomic under one lock (the service is atomic
per row; one lock for everything is stricter and keeps the double simple). Methods take decoded requests
(``plainbuffer``/``filters`` types) and raise ``ServiceError`` with the service's code; ``protocol`` turns them into
protobuf answers.

Writes (PutRow, UpdateRow, DeleteRow, and each row of BatchWriteRow), in order:
1. the table must be a data table (index tables are read-only: OTSParameterInvalid); the key must match its schema;
   a column incremented (atomic counter) must not be otherwise updated in the same row (``_check_counters``);
2. the condition: row existence first (IGNORE, EXPECT_EXIST, EXPECT_NOT_EXIST), then the column condition over the
   row's key and attribute columns (``filters``); a failure → 403 OTSConditionCheckFail, nothing written
   ("Conditional update": the row existence condition is checked first; the SDK's integration tests assert 403);
3. the new row replaces the old (PutRow replaces every column; UpdateRow puts, deletes one version, deletes all
   versions or increments per cell); a row left without attribute columns does not exist (the SDK's integration
   test ``test_all_delete_in_update`` reads ``None`` after deleting every column); PutRow and UpdateRow without
   any attribute cell are refused before this (``protocol``: OTSParameterInvalid "Attribute column is missing.",
   asserted for PutRow by the same tests; for UpdateRow unverified);
4. every index of the table gets its change (``indexes``): at once, or queued for a global index with a lag.

Reads (GetRow, BatchGetRow, GetRange) see the data table or an index table by name, keep ``columns_to_get`` (the
key is always returned; a row with none of the requested columns is not returned, as the GetRange page says), and
run the filter on what was read: the key columns and the attribute columns kept ("Configure a filter",
doc-detail/148289: "The reference columns used by a filter must be included in the read data. If the specified
columns from which data is read do not include reference columns, the filter cannot query the values of reference
columns" — a filter on a column left out of ``columns_to_get`` sees it missing, so ``pass_if_missing`` decides).
GetRange stops after ``limit`` rows, or once it scanned ``range_row_cap`` rows (5 000) or ``range_byte_cap`` bytes
(4 MB) — the GetRange page and "GetRange范围查询详解" (developer.aliyun.com/article/742095) — and answers the next row's
key as ``next_start_primary_key`` when rows remain in the range. Range errors, from the SDK's integration tests: a
start key not before the end key (after, for BACKWARD) → 400 OTSParameterInvalid "Begin key must less than end key
in FORWARD" / "Begin key must more than end key in BACKWARD"; ``limit <= 0`` → "The limit must be greater than 0.".
BatchGetRow holds at most 100 rows and BatchWriteRow 200 (``restriction.py``); an empty batch → "No row specified in
the request of BatchGetRow." / "No row is specified in BatchWriteRow." / "No operation is specified for table:
'<t>'." (asserted by the SDK's tests); a per-row failure (condition, key) is that row's error, the other rows still
apply.

Not modelled: multiple versions (one kept per column), time-to-live expiry, reserved throughput, auto-increment keys,
transactions, search indexes, streams.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from tools.doubles.tablestore import plainbuffer as pbuf
from tools.doubles.tablestore.accounting import Accounting
from tools.doubles.tablestore.errors import ServiceError, condition_failed, invalid, table_missing
from tools.doubles.tablestore.filters import MAX_CONDITIONS, Condition
from tools.doubles.tablestore.indexes import IndexChange, IndexLag, PendingChanges, change_for, index_row
from tools.doubles.tablestore.schema import (
    Index,
    IndexLimits,
    IndexMeta,
    KeyedStore,
    Options,
    Table,
    check_attribute_name,
    key_list,
    key_tuple,
    new_index,
    new_table,
)
from tools.doubles.tablestore.storage import Columns, KeyTuple
from tools.doubles.tablestore.values import HIGH, INT64_MAX, INT64_MIN, INTEGER, LOW, cell_size, type_of

IGNORE = "IGNORE"
EXPECT_EXIST = "EXPECT_EXIST"
EXPECT_NOT_EXIST = "EXPECT_NOT_EXIST"
RANGE_ROW_CAP = 5000
RANGE_BYTE_CAP = 4 * 1024 * 1024
BATCH_GET_MAX_ROWS = 100
BATCH_WRITE_MAX_ROWS = 200

Key = list[tuple[str, Any]]
OutRow = tuple[Key, list[tuple[str, Any, int | None]]]


@dataclass(frozen=True)
class WriteCondition:
    row_existence: str = IGNORE
    column_condition: Condition | None = None


@dataclass(frozen=True)
class ReadSpec:
    columns_to_get: tuple[str, ...] = ()
    column_filter: Condition | None = None


@dataclass(frozen=True)
class RangeResult:
    rows: list[OutRow]
    next_start: Key | None


@dataclass(frozen=True)
class RowWrite:
    """One row of a write: ``kind`` is ``put``/``update``/``delete``."""

    kind: str
    key: Key
    cells: list[pbuf.Cell] = field(default_factory=list)
    condition: WriteCondition = WriteCondition()
    return_key: bool = False


@dataclass(frozen=True)
class BatchItem:
    ok: bool
    key: Key | None = None
    row: OutRow | None = None
    error: ServiceError | None = None


@dataclass
class EngineConfig:
    range_row_cap: int = RANGE_ROW_CAP
    range_byte_cap: int = RANGE_BYTE_CAP
    index_limits: IndexLimits = field(default_factory=IndexLimits)


class Engine:
    def __init__(
        self,
        *,
        accounting: Accounting | None = None,
        config: EngineConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.accounting = accounting or Accounting()
        self.config = config or EngineConfig()
        self.clock = clock
        self._lock = threading.RLock()
        self._tables: dict[str, Table] = {}
        self._indexes: dict[str, Index] = {}
        self._pending = PendingChanges()
        self._lag = IndexLag()

    # --- tables -----------------------------------------------------------------------------------------

    def create_table(
        self,
        name: str,
        primary_key: list[tuple[str, str]],
        defined: list[tuple[str, str]],
        options: Options,
        indexes: Iterable[IndexMeta] = (),
        *,
        sse_enabled: bool = False,
        sse_key_type: int | None = None,
    ) -> None:
        with self._lock:
            table = new_table(
                name, primary_key, defined, options,
                sse_enabled=sse_enabled, sse_key_type=sse_key_type, created_at=self.clock(),
            )
            if name in self._tables or name in self._indexes:
                raise ServiceError("OTSObjectAlreadyExist")
            built: list[Index] = []
            for meta in indexes:
                index = new_index(table, meta, self.config.index_limits)
                if index.name in self._tables or index.name in self._indexes or index.name == name or any(
                    b.name == index.name for b in built
                ):
                    raise ServiceError("OTSObjectAlreadyExist")
                table.indexes[index.name] = index
                built.append(index)
            self._tables[name] = table
            self._indexes.update({i.name: i for i in built})

    def delete_table(self, name: str) -> None:
        with self._lock:
            table = self._data_table(name)
            del self._tables[name]
            for index_name in table.indexes:
                self._indexes.pop(index_name, None)
            self._pending.forget(set(table.indexes))

    def list_tables(self) -> list[str]:
        with self._lock:
            return sorted(self._tables)

    def describe(self, name: str) -> Table:
        with self._lock:
            return self._data_table(name)

    def update_options(self, name: str, changes: dict[str, Any]) -> Table:
        """UpdateTable's table options (the fields given); a table with indexes keeps what indexes require."""
        with self._lock:
            table = self._data_table(name)
            options = replace(table.options, **changes)
            if options.max_versions < 1:
                raise invalid("max_versions must be greater than 0.")
            if table.indexes and (options.max_versions != 1 or (options.time_to_live != -1 and options.allow_update)):
                raise invalid("A table with secondary indexes needs max_versions 1 and time_to_live -1 "
                              "(or updates disallowed).")
            table.options = options
            return table

    def create_index(self, table_name: str, meta: IndexMeta, *, include_base_data: bool) -> None:
        with self._lock:
            table = self._data_table(table_name)
            index = new_index(table, meta, self.config.index_limits)
            if index.name in self._tables or index.name in self._indexes:
                raise ServiceError("OTSObjectAlreadyExist")
            table.indexes[index.name] = index
            self._indexes[index.name] = index
            if include_base_data:
                now = self.clock()
                for key in list(table.rows.scan(_low(table), _high(table), True)):
                    change = change_for(
                        index, dict(zip(table.key_names, key, strict=True)), None, table.rows.get(key),
                        operation="CreateIndex", now=now, lag=self._lag,
                    )
                    if change is not None:
                        self._dispatch(change)

    def drop_index(self, table_name: str, index_name: str) -> None:
        with self._lock:
            table = self._data_table(table_name)
            if index_name not in table.indexes:
                raise ServiceError("OTSObjectNotExist", "Requested index does not exist.")
            del table.indexes[index_name]
            self._indexes.pop(index_name, None)
            self._pending.forget({index_name})

    def reset(self) -> None:
        with self._lock:
            self._tables.clear()
            self._indexes.clear()
            self._pending.clear()
            self._lag = IndexLag()

    # --- index lag ----------------------------------------------------------------------------------------

    @property
    def index_lag(self) -> IndexLag:
        return self._lag

    def set_index_lag(self, lag: IndexLag) -> None:
        """Applies every pending change first, so changes never overtake each other across settings."""
        with self._lock:
            self.flush_indexes()
            self._lag = lag

    def flush_indexes(self) -> int:
        """Applies every pending global-index change now; returns how many."""
        with self._lock:
            changes = self._pending.take_due(self.clock(), everything=True)
            for change in changes:
                self._apply(change)
            return len(changes)

    def apply_due(self) -> None:
        """Applies the pending changes whose lag has passed (the server calls this before every request)."""
        with self._lock:
            for change in self._pending.take_due(self.clock()):
                self._apply(change)

    def pending_index_changes(self) -> int:
        with self._lock:
            return len(self._pending)

    def _dispatch(self, change: IndexChange) -> None:
        # A synchronous change never finds older changes of its index queued: local indexes are always
        # synchronous, and set_index_lag flushes the queue before global ones become synchronous.
        if change.due <= self.clock():
            self._apply(change)
        else:
            self._pending.add(change)

    def _apply(self, change: IndexChange) -> None:
        index = self._indexes.get(change.index)
        if index is None:
            return
        written = 0
        if change.old_key is not None and change.old_key != change.new_key:
            written += int(index.rows.delete(change.old_key))
        if change.new_key is not None and change.new_columns is not None:
            index.rows.put(change.new_key, dict(change.new_columns))
            written += 1
        self.accounting.add(change.operation, index.name, indexRowsWritten=written)

    # --- lookups ------------------------------------------------------------------------------------------

    def _data_table(self, name: str) -> Table:
        table = self._tables.get(name)
        if table is None:
            raise table_missing()
        return table

    def _readable(self, name: str) -> KeyedStore:
        store: KeyedStore | None = self._tables.get(name) or self._indexes.get(name)
        if store is None:
            raise table_missing()
        return store

    # --- writes -------------------------------------------------------------------------------------------

    def write(self, operation: str, table_name: str, change: RowWrite) -> Key | None:
        """One PutRow / UpdateRow / DeleteRow; returns the key when ``change.return_key`` (ReturnType RT_PK)."""
        with self._lock:
            table = self._writable(table_name)
            return self._write_row(operation, table, change)

    def batch_write(self, operation: str, tables: list[tuple[str, list[RowWrite]]]) -> list[list[BatchItem]]:
        """Each row alone: a key or condition failure is that row's error, the other rows still apply."""
        with self._lock:
            if not tables:
                raise invalid("No row is specified in BatchWriteRow.")
            count = 0
            for name, rows in tables:
                if not rows:
                    raise invalid(f"No operation is specified for table: '{name}'.")
                count += len(rows)
            if count > BATCH_WRITE_MAX_ROWS:
                raise invalid(f"Rows count exceeds the upper limit: {BATCH_WRITE_MAX_ROWS}.")
            answers: list[list[BatchItem]] = []
            for name, rows in tables:
                items: list[BatchItem] = []
                for row in rows:
                    try:
                        table = self._writable(name)
                        key = self._write_row(operation, table, row)
                        items.append(BatchItem(True, key=key))
                    except ServiceError as exc:
                        items.append(BatchItem(False, error=exc))
                answers.append(items)
            return answers

    def _writable(self, name: str) -> Table:
        table = self._tables.get(name)
        if table is None:
            if name in self._indexes:
                raise invalid(f"Index table '{name}' is read-only.")
            raise table_missing()
        return table

    def _write_row(self, operation: str, table: Table, change: RowWrite) -> Key | None:
        key = key_tuple(table, change.key)
        for cell in change.cells:
            check_attribute_name(table, cell.name)
        _check_counters(change.cells)
        if change.condition.column_condition is not None and change.condition.column_condition.count() > (
            MAX_CONDITIONS
        ):
            raise invalid(f"The number of column conditions exceeds the limit: {MAX_CONDITIONS}.")
        before = table.rows.get(key)
        self._check(operation, table, key, before, change.condition)
        now_ms = int(self.clock() * 1000)
        if change.kind == "put":
            after: Columns | None = _put_columns(change.cells, now_ms)
        elif change.kind == "update":
            after = _updated_columns(before, change.cells, now_ms)
        else:
            after = None
        if after:
            table.rows.put(key, after)
        else:
            after = None
            table.rows.delete(key)
        self.accounting.add(operation, table.name, rowsWritten=1)
        key_by_name = dict(zip(table.key_names, key, strict=True))
        now = self.clock()
        for index in table.indexes.values():
            index_change = change_for(index, key_by_name, before, after, operation=operation, now=now, lag=self._lag)
            if index_change is not None:
                self._dispatch(index_change)
        return key_list(table, key) if change.return_key else None

    def _check(
        self, operation: str, table: Table, key: KeyTuple, current: Columns | None, condition: WriteCondition
    ) -> None:
        reads_row = condition.row_existence != IGNORE or condition.column_condition is not None
        if reads_row and current is not None:
            self.accounting.add(operation, table.name, rowsScanned=1, conditionReads=1)
        if condition.row_existence == EXPECT_EXIST and current is None:
            raise condition_failed()
        if condition.row_existence == EXPECT_NOT_EXIST and current is not None:
            raise condition_failed()
        if condition.column_condition is not None and not condition.column_condition.holds(
            _visible(table, key, current)
        ):
            raise condition_failed()

    # --- reads --------------------------------------------------------------------------------------------

    def get_row(self, operation: str, table_name: str, key: Key, spec: ReadSpec) -> OutRow | None:
        with self._lock:
            store = self._readable(table_name)
            return self._get_one(operation, store, key_tuple(store, key), spec)

    def batch_get(
        self, operation: str, tables: list[tuple[str, list[Key], ReadSpec]]
    ) -> list[list[BatchItem]]:
        with self._lock:
            count = sum(len(keys) for _, keys, _ in tables)
            if count == 0:
                raise invalid("No row specified in the request of BatchGetRow.")
            if count > BATCH_GET_MAX_ROWS:
                raise invalid(f"Rows count exceeds the upper limit: {BATCH_GET_MAX_ROWS}.")
            answers: list[list[BatchItem]] = []
            for name, keys, spec in tables:
                items: list[BatchItem] = []
                for key in keys:
                    try:
                        store = self._readable(name)
                        items.append(BatchItem(True, row=self._get_one(operation, store, key_tuple(store, key), spec)))
                    except ServiceError as exc:
                        items.append(BatchItem(False, error=exc))
                answers.append(items)
            return answers

    def _get_one(self, operation: str, store: KeyedStore, key: KeyTuple, spec: ReadSpec) -> OutRow | None:
        columns = store.rows.get(key)
        if columns is None:
            return None
        row = _select(store, key, columns, spec)
        self.accounting.add(
            operation, store.name, rowsScanned=1, rowsReturned=int(row is not None), rowsFilteredOut=int(row is None)
        )
        return row

    def get_range(
        self,
        operation: str,
        table_name: str,
        *,
        forward: bool,
        start: Key,
        end: Key,
        limit: int | None,
        spec: ReadSpec,
    ) -> RangeResult:
        with self._lock:
            store = self._readable(table_name)
            low = key_tuple(store, start, bounds=True)
            high = key_tuple(store, end, bounds=True)
            if forward and not low < high:
                raise invalid("Begin key must less than end key in FORWARD")
            if not forward and not low > high:
                raise invalid("Begin key must more than end key in BACKWARD")
            if limit is not None and limit <= 0:
                raise invalid("The limit must be greater than 0.")
            rows: list[OutRow] = []
            scanned = filtered = size = 0
            next_start: Key | None = None
            keys = store.rows.scan(low, high, forward)
            for key in keys:
                if (limit is not None and len(rows) >= limit) or scanned >= self.config.range_row_cap or (
                    size >= self.config.range_byte_cap
                ):
                    next_start = key_list(store, key)
                    break
                columns = store.rows.get(key)
                assert columns is not None
                scanned += 1
                size += sum(cell_size(n, v) for n, v in zip(store.key_names, key, strict=True))
                size += sum(cell_size(n, v) for n, (v, _) in columns.items())
                row = _select(store, key, columns, spec)
                if row is None:
                    filtered += 1
                else:
                    rows.append(row)
            self.accounting.add(
                operation, store.name, rowsScanned=scanned, rowsFilteredOut=filtered, rowsReturned=len(rows)
            )
            return RangeResult(rows, next_start)

    # --- bulk load (Python API; not counted) ------------------------------------------------------------

    def load(self, table_name: str, rows: Iterable[tuple[Key, dict[str, Any]]]) -> int:
        """Puts rows straight into a data table (no conditions, no accounting) and into its indexes at once."""
        with self._lock:
            table = self._writable(table_name)
            now_ms = int(self.clock() * 1000)
            loaded: list[tuple[KeyTuple, Columns]] = []
            checked: set[str] = set()
            for key, attributes in rows:
                if not attributes:
                    raise invalid("Attribute column is missing.")
                for name, value in attributes.items():
                    if name not in checked:
                        check_attribute_name(table, name)
                        checked.add(name)
                    type_of(value)  # refuses a value of no Tablestore type
                loaded.append((key_tuple(table, key), {n: (v, now_ms) for n, v in attributes.items()}))
            table.rows.put_many(loaded)
            for index in table.indexes.values():
                index_rows = []
                for key_values, columns in loaded:
                    indexed = index_row(index, dict(zip(table.key_names, key_values, strict=True)), columns)
                    if indexed is not None:
                        index_rows.append(indexed)
                index.rows.put_many(index_rows)
            return len(loaded)

    def row_count(self, name: str) -> int:
        with self._lock:
            return len(self._readable(name).rows)


def _low(store: KeyedStore) -> KeyTuple:
    return tuple(LOW for _ in store.key_names)


def _high(store: KeyedStore) -> KeyTuple:
    return tuple(HIGH for _ in store.key_names)


def _visible(store: KeyedStore, key: KeyTuple, columns: Columns | None) -> dict[str, Any]:
    """What a condition or filter sees: the key columns and the attribute values."""
    visible = {name: value for name, (value, _) in (columns or {}).items()}
    visible.update(zip(store.key_names, key, strict=True))
    return visible


def _select(store: KeyedStore, key: KeyTuple, columns: Columns, spec: ReadSpec) -> OutRow | None:
    wanted = set(spec.columns_to_get)
    names = sorted(columns) if not wanted else sorted(n for n in columns if n in wanted)
    if wanted and not names and not wanted.intersection(store.key_names):
        return None
    read = {n: columns[n] for n in names}
    # "Configure a filter" (doc-detail/148289): the filter sees only the data read — the key and the columns kept.
    if spec.column_filter is not None and not spec.column_filter.holds(_visible(store, key, read)):
        return None
    return key_list(store, key), [(n, value, stamp) for n, (value, stamp) in read.items()]


def _check_counters(cells: list[pbuf.Cell]) -> None:
    """"Use the atomic counter feature" (Tablestore SDK pages, e.g. help/en/tablestore/developer-reference/
    configure-atomic-counter-by-using-python-sdk): "You cannot specify a column as an atomic counter and update the
    column in a single update request ... you cannot perform other operations such as overwrite and delete
    operations on the column at the same time". The page names no error: OTSParameterInvalid, as for the page's
    other counter misuses (unverified); two increments of one column are refused alike (unverified)."""
    counters = {cell.name for cell in cells if cell.op == pbuf.INCREMENT}
    for name in sorted(counters):
        if sum(cell.name == name for cell in cells) > 1:
            raise invalid(f"Column '{name}' is an atomic counter and cannot be otherwise updated in the same request.")


def _put_columns(cells: list[pbuf.Cell], now_ms: int) -> Columns:
    columns: Columns = {}
    for cell in cells:
        if cell.op != pbuf.PUT or cell.value is None:
            raise invalid("PutRow cells must carry values.")
        columns[cell.name] = (cell.value, cell.timestamp if cell.timestamp is not None else now_ms)
    return columns


def _updated_columns(before: Columns | None, cells: list[pbuf.Cell], now_ms: int) -> Columns:
    columns: Columns = dict(before or {})
    for cell in cells:
        if cell.op == pbuf.PUT:
            if cell.value is None:
                raise invalid(f"Column '{cell.name}' of a put must carry a value.")
            columns[cell.name] = (cell.value, cell.timestamp if cell.timestamp is not None else now_ms)
        elif cell.op == pbuf.DELETE_ALL:
            columns.pop(cell.name, None)
        elif cell.op == pbuf.DELETE_ONE:
            if cell.timestamp is None:
                raise invalid(f"Deleting one version of column '{cell.name}' needs its timestamp.")
            if cell.name in columns and columns[cell.name][1] == cell.timestamp:
                del columns[cell.name]
        else:  # increment
            if type_of(cell.value) != INTEGER:  # a bool is BOOLEAN here, not INTEGER
                raise invalid(f"The increment of column '{cell.name}' must be an INTEGER.")
            current = columns.get(cell.name, (0, 0))[0]
            if type_of(current) != INTEGER:
                raise invalid(f"Column '{cell.name}' is not an INTEGER and cannot be incremented.")
            total = current + cell.value
            if not INT64_MIN <= total <= INT64_MAX:
                raise invalid(f"The increment of column '{cell.name}' overflows.")
            columns[cell.name] = (total, now_ms)
    return columns
