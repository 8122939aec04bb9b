"""Table and secondary-index definitions, and the checks every key and column goes through.

Rules and their sources:

- names of tables, indexes and columns: a letter or underscore, then letters, digits, underscores; 1–255
  characters (the "Naming conventions" of the Tablestore data model; the SDK tests' ``restriction.py`` has the 255);
- 1–4 primary-key columns, INTEGER / STRING / BINARY (``restriction.py`` ``MaxPKColumnNum = 4``); STRING and BINARY
  key values at most 1 024 bytes (``MaxPKStringValueLength``);
- a key that does not match the schema → 400 OTSInvalidPK "Validate PK size fail. Input: n, Meta: m." or "Validate
  PK name fail. Input: a, Meta: b." (messages asserted by the SDK's integration tests, ``row_op_test.py``); a type
  mismatch → OTSInvalidPK "Validate PK type fail. Input: <type>, Meta: <type>." (message unverified);
- secondary indexes (Tablestore "Secondary index" overview and "Global secondary index" pages, doc 91947/91972):
  the data table must have ``max_versions = 1`` and either ``time_to_live = -1`` or updates disallowed; an index's
  key columns are primary-key or predefined columns of the data table (INTEGER, STRING or BINARY); its attribute
  ("defined") columns are predefined columns; the data table's key columns the index key lacks are appended to it
  ("autocomplete"); a local index's first key column is the data table's first key column. Limits from "Limits on
  secondary indexes" (help/en/tablestore/secondary-index-limits; doc-detail/189566): at most 5 indexes per table,
  4 index key columns (as listed, before the autocompleted ones) and 32 attribute columns; they are settings of the
  double (``IndexLimits``), the service's by default. Violations → OTSParameterInvalid (messages unverified);
- an attribute column named like a primary-key column is refused (OTSParameterInvalid; unverified).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tools.doubles.tablestore.errors import invalid, invalid_pk
from tools.doubles.tablestore.storage import KeyTuple, RowStore
from tools.doubles.tablestore.values import AUTO_INCREMENT, BINARY, HIGH, KEY_TYPES, LOW, STRING, type_of

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
MAX_KEY_COLUMNS = 4
MAX_KEY_VALUE_BYTES = 1024
GLOBAL = "GLOBAL_INDEX"
LOCAL = "LOCAL_INDEX"
_WIRE_TYPE = {"INTEGER": "VT_INTEGER", "STRING": "VT_STRING", "BINARY": "VT_BLOB", "DOUBLE": "VT_DOUBLE",
              "BOOLEAN": "VT_BOOLEAN"}


@dataclass(frozen=True)
class IndexLimits:
    """"Limits on secondary indexes" (help/en/tablestore/secondary-index-limits): "Number of secondary indexes: 5";
    "up to four columns are index columns"; "A secondary index can contain up to 32 attribute columns"."""

    indexes_per_table: int = 5
    key_columns: int = 4
    attribute_columns: int = 32


@dataclass(frozen=True)
class Options:
    time_to_live: int = -1
    max_versions: int = 1
    deviation_seconds: int = 86400
    allow_update: bool = True


@dataclass(frozen=True)
class IndexMeta:
    name: str
    primary_key: tuple[str, ...]
    defined_columns: tuple[str, ...]
    kind: str = GLOBAL


@dataclass
class KeyedStore:
    """Anything readable by key: a data table or an index table."""

    name: str
    key_names: tuple[str, ...]
    key_types: tuple[str, ...]
    rows: RowStore = field(default_factory=RowStore)


@dataclass
class Index(KeyedStore):
    meta: IndexMeta = field(default_factory=lambda: IndexMeta("", (), ()))
    table: str = ""


@dataclass
class Table(KeyedStore):
    defined: dict[str, str] = field(default_factory=dict)  # predefined column → type
    options: Options = field(default_factory=Options)
    sse_enabled: bool = False
    sse_key_type: int | None = None
    created_at: float = 0.0
    indexes: dict[str, Index] = field(default_factory=dict)


def check_name(name: str, what: str) -> None:
    if not NAME.fullmatch(name or ""):
        raise invalid(f"Invalid {what} name: '{name}'.")


def _sized(value: Any, name: str) -> None:
    kind = type_of(value)
    size = len(value.encode("utf-8")) if kind == STRING else len(value) if kind == BINARY else 0
    if size > MAX_KEY_VALUE_BYTES:
        raise invalid(f"The length of primary key column: '{name}' exceeds the limit: {MAX_KEY_VALUE_BYTES}.")


def key_tuple(store: KeyedStore, key: list[tuple[str, Any]], *, bounds: bool = False) -> KeyTuple:
    """A request's key checked against ``store``'s schema → the tuple rows are stored under.

    ``bounds``: a range bound, where INF_MIN / INF_MAX may stand for any value."""
    if len(key) != len(store.key_names):
        raise invalid_pk(f"Validate PK size fail. Input: {len(key)}, Meta: {len(store.key_names)}.")
    values = []
    for (name, value), want_name, want_type in zip(key, store.key_names, store.key_types, strict=True):
        if name != want_name:
            raise invalid_pk(f"Validate PK name fail. Input: {name}, Meta: {want_name}.")
        if value is AUTO_INCREMENT:
            raise invalid("Auto-increment primary key columns are not supported by the Tablestore double.")
        if value is LOW or value is HIGH:
            if not bounds:
                raise invalid_pk(f"INF_MIN and INF_MAX are only allowed in range bounds: '{name}'.")
            values.append(value)
            continue
        kind = type_of(value)
        if kind != want_type:
            raise invalid_pk(f"Validate PK type fail. Input: {_WIRE_TYPE[kind]}, Meta: {_WIRE_TYPE[want_type]}.")
        _sized(value, name)
        values.append(value)
    return tuple(values)


def key_list(store: KeyedStore, key: KeyTuple) -> list[tuple[str, Any]]:
    return list(zip(store.key_names, key, strict=True))


def new_table(
    name: str,
    primary_key: list[tuple[str, str]],
    defined: list[tuple[str, str]],
    options: Options,
    *,
    sse_enabled: bool,
    sse_key_type: int | None = None,
    created_at: float,
) -> Table:
    check_name(name, "table")
    if not 1 <= len(primary_key) <= MAX_KEY_COLUMNS:
        raise invalid(f"The number of primary key columns must be in range: [1, {MAX_KEY_COLUMNS}].")
    seen: set[str] = set()
    for column, _ in [*primary_key, *defined]:
        check_name(column, "column")
        if column in seen:
            raise invalid(f"Duplicated column name: '{column}'.")
        seen.add(column)
    for _, kind in primary_key:
        if kind not in KEY_TYPES:
            raise invalid(f"{kind} is an invalid type for the primary key.")
    if options.max_versions < 1:
        raise invalid("max_versions must be greater than 0.")
    return Table(
        name=name,
        key_names=tuple(c for c, _ in primary_key),
        key_types=tuple(t for _, t in primary_key),
        defined=dict(defined),
        options=options,
        sse_enabled=sse_enabled,
        sse_key_type=sse_key_type,
        created_at=created_at,
    )


def new_index(table: Table, meta: IndexMeta, limits: IndexLimits) -> Index:
    """Checks ``meta`` against ``table`` (see the module docstring) and builds the empty index table."""
    check_name(meta.name, "index")
    options = table.options
    if options.max_versions != 1 or (options.time_to_live != -1 and options.allow_update):
        raise invalid("A secondary index needs a data table with max_versions 1 and time_to_live -1 "
                      "(or updates disallowed).")
    if len(table.indexes) >= limits.indexes_per_table:
        raise invalid(f"The number of indexes of a table exceeds the limit: {limits.indexes_per_table}.")
    if not meta.primary_key:
        raise invalid("An index needs at least one primary key column.")
    if len(meta.primary_key) > limits.key_columns:
        raise invalid(f"The number of index primary key columns exceeds the limit: {limits.key_columns}.")
    if len(meta.defined_columns) > limits.attribute_columns:
        raise invalid(f"The number of index attribute columns exceeds the limit: {limits.attribute_columns}.")
    if len(set(meta.primary_key)) != len(meta.primary_key) or len(set(meta.defined_columns)) != len(
        meta.defined_columns
    ):
        raise invalid("Duplicated column name in the index meta.")
    types = dict(zip(table.key_names, table.key_types, strict=True))
    for column in meta.primary_key:
        kind = types.get(column, table.defined.get(column))
        if kind is None:
            raise invalid(f"Index primary key column '{column}' is neither a primary key nor a predefined column.")
        if kind not in KEY_TYPES:
            raise invalid(f"Index primary key column '{column}' must be INTEGER, STRING or BINARY.")
    for column in meta.defined_columns:
        if column not in table.defined:
            raise invalid(f"Index attribute column '{column}' is not a predefined column.")
        if column in meta.primary_key:
            raise invalid(f"Column '{column}' is both an index key and an index attribute.")
    if meta.kind == LOCAL and meta.primary_key[0] != table.key_names[0]:
        raise invalid("The first primary key column of a local index must be the table's first primary key column.")
    key_names = (*meta.primary_key, *(c for c in table.key_names if c not in meta.primary_key))
    key_types = tuple(types.get(c) or table.defined[c] for c in key_names)
    return Index(name=meta.name, key_names=key_names, key_types=key_types, meta=meta, table=table.name)


def check_attribute_name(table: KeyedStore, name: str) -> None:
    check_name(name, "column")
    if name in table.key_names:
        raise invalid(f"Attribute column '{name}' has the name of a primary key column.")
