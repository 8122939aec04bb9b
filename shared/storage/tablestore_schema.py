"""The Tablestore tables and secondary indexes of the ``aliyun`` backend, defined once; ``ensure_tables`` creates
or checks them.

Everything that creates or checks tables reads this module: the adapter (``tablestore_store``: table and index
names, column names), ``./scripts/kyc setup-tables``, the local stack and the tests against the Tablestore double,
and ``tests/test_deploy_config.py``, which checks that ``template.yml`` declares the same tables and indexes.

Tables (``table`` is ``KYC_TABLESTORE_TABLE``, default ``kyc_transactions``):

* ``<table>``: one row per verification, primary key ``merchant_biz_id``. Predefined columns are the ones an index
  uses; every other attribute column stays schema-free. Max versions 1 and TTL -1, because a table with secondary
  indexes must have max versions 1 and either TTL -1 or updates disallowed, and the state machine updates rows
  ("Don't support allow update operation on table with index and ttl", Tablestore FAQ; "Create a secondary
  index" prerequisites). Retention is therefore the sweeper's job (``KYC_RETENTION_DAYS``), through ``_by_time``.
* ``<table>_due`` (global index): ``(due_kind, due_ms, merchant_biz_id)``: what the sweeper must look at, and when.
  A *sparse* index ("二级索引" overview, feature table: 稀疏索引 / sparse indexes): a row without ``due_kind`` is not
  in it, so the index holds only rows with work left and a sweep reads what is due, never the table.
* ``<table>_by_user`` (global index): ``(merchant_user_id, created_ms, merchant_biz_id)``: one user's rows in time
  order (erasure).
* ``<table>_by_time`` (global index): ``(created_ms, merchant_biz_id)`` with ``status`` as an attribute column: rows
  created in a period in time order (``kyc list``, retention, the operator console's period views and counts).
* ``<table>_rate``: the per-user, per-window Initialize counters (``shared.ratelimit``) and the Idempotency-Keys'
  claims (``take_claim``), primary key ``rate_key``;
  no index, TTL one day so old windows expire without a sweep (a window is an hour; the TTL must be at least
  86 400 s when set, as the ``TimeToLive`` note in template.yml records; unverified here).

Index keys are INTEGER or STRING: an index key column cannot be DOUBLE ("Create a data table": predefined column
types; index key columns "must be INTEGER, STRING or BINARY"), which is why the times the indexes sort by are the
integer milliseconds ``created_ms`` / ``due_ms`` next to the records' float seconds.

A global index is updated asynchronously (IndexType: "IT_GLOBAL_INDEX ... asynchronous mode. The synchronization
latency is within a few milliseconds"); the adapter reads an index only to find keys and re-reads the data table,
which stays the truth (``tablestore_store``).

``ensure_tables(client, table)`` creates what is missing (tables with their indexes, with encryption at rest on
for new tables; indexes on an existing table with ``include_base_data``), and reports drift it cannot or should not
repair itself (a missing predefined column: the Python SDK has no AddDefinedColumn; a TTL that blocks indexes; an
index with other columns; an unencrypted table: encryption can only be chosen at creation). Order of effects:
``list_table`` once, then per table ``describe_table`` (or ``create_table``), then ``create_secondary_index`` per
missing index. Idempotent: a second run creates nothing.
"""

from __future__ import annotations

from shared.values import field, valueclass

from .tablestore_sdk import import_tablestore

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any

MERCHANT_BIZ_ID = "merchant_biz_id"
MERCHANT_USER_ID = "merchant_user_id"
STATUS = "status"
CREATED_MS = "created_ms"
DUE_KIND = "due_kind"
DUE_MS = "due_ms"
RATE_KEY = "rate_key"

RATE_TTL_SECONDS = 86_400  # a day: longer than the two windows a counter is ever read in


@valueclass
class IndexDef:
    name: str
    primary_key: tuple[str, ...]
    attributes: tuple[str, ...] = ()


@valueclass
class TableDef:
    name: str
    primary_key: tuple[tuple[str, str], ...]
    defined_columns: tuple[tuple[str, str], ...] = ()
    time_to_live: int = -1
    max_versions: int = 1
    indexes: tuple[IndexDef, ...] = ()
    encrypted: bool = True


@valueclass
class Schema:
    """The names the adapter uses, derived from the main table's name."""

    table: str

    @property
    def due_index(self) -> str:
        return f"{self.table}_due"

    @property
    def by_user_index(self) -> str:
        return f"{self.table}_by_user"

    @property
    def by_time_index(self) -> str:
        return f"{self.table}_by_time"

    @property
    def rate_table(self) -> str:
        return f"{self.table}_rate"

    def tables(self) -> tuple[TableDef, ...]:
        main = TableDef(
            name=self.table,
            primary_key=((MERCHANT_BIZ_ID, "STRING"),),
            defined_columns=(
                (MERCHANT_USER_ID, "STRING"),
                (STATUS, "STRING"),
                (CREATED_MS, "INTEGER"),
                (DUE_KIND, "STRING"),
                (DUE_MS, "INTEGER"),
            ),
            indexes=(
                IndexDef(self.due_index, (DUE_KIND, DUE_MS, MERCHANT_BIZ_ID)),
                IndexDef(self.by_user_index, (MERCHANT_USER_ID, CREATED_MS, MERCHANT_BIZ_ID)),
                IndexDef(self.by_time_index, (CREATED_MS, MERCHANT_BIZ_ID), (STATUS,)),
            ),
        )
        rate = TableDef(name=self.rate_table, primary_key=((RATE_KEY, "STRING"),), time_to_live=RATE_TTL_SECONDS)
        return (main, rate)


@valueclass(frozen=False)
class SchemaReport:
    """What ``ensure_tables`` did and found; ``drift`` lists what differs from the definitions (empty: all good),
    ``notes`` what is worth knowing but works (a table not encrypted at rest: ROS cannot ask for it)."""

    created: list[str] = field(default_factory=list)
    verified: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.drift

    def as_dict(self) -> dict[str, object]:
        return {
            "created": self.created, "verified": self.verified, "drift": self.drift, "notes": self.notes, "ok": self.ok
        }  # fmt: skip


def ensure_tables(client: Any, table: str, *, create: bool = True) -> SchemaReport:
    """Create the missing tables and indexes of ``Schema(table)`` (``create=False``: only check) and report drift.

    ``client`` is a ``tablestore.OTSClient``. Raises the SDK's errors (``OTSServiceError`` / ``OTSClientError``)."""
    ots = import_tablestore()
    report = SchemaReport()
    existing = set(client.list_table())
    for definition in Schema(table).tables():
        if definition.name not in existing:
            if create:
                _create_table(ots, client, definition)
                report.created.append(definition.name)
                report.created.extend(index.name for index in definition.indexes)
            else:
                report.drift.append(f"table {definition.name} is missing")
            continue
        _check_table(ots, client, definition, report, create=create)
    return report


def _create_table(ots: Any, client: Any, definition: TableDef) -> None:
    meta = ots.TableMeta(definition.name, list(definition.primary_key), list(definition.defined_columns))
    options = ots.TableOptions(time_to_live=definition.time_to_live, max_version=definition.max_versions)
    sse = ots.SSESpecification(enable=True, key_type=ots.SSEKeyType.SSE_KMS_SERVICE) if definition.encrypted else None
    client.create_table(
        meta,
        options,
        ots.ReservedThroughput(ots.CapacityUnit(0, 0)),
        secondary_indexes=[_index_meta(ots, index) for index in definition.indexes],
        sse_spec=sse,
    )


def _index_meta(ots: Any, index: IndexDef) -> Any:
    return ots.SecondaryIndexMeta(
        index.name, list(index.primary_key), list(index.attributes), index_type=ots.SecondaryIndexType.GLOBAL_INDEX
    )


def _check_table(ots: Any, client: Any, definition: TableDef, report: SchemaReport, *, create: bool) -> None:
    drift_before = len(report.drift)
    described = client.describe_table(definition.name)
    meta, options = described.table_meta, described.table_options
    name = definition.name
    if [tuple(c) for c in meta.schema_of_primary_key] != [tuple(c) for c in definition.primary_key]:
        report.drift.append(
            f"table {name}: primary key is {_names(meta.schema_of_primary_key)}, "
            f"expected {_names(definition.primary_key)} (create a new table; a key cannot change)"
        )
        return
    defined = {str(c[0]): str(c[1]) for c in meta.defined_columns}
    missing = [(n, t) for n, t in definition.defined_columns if defined.get(n) != t]
    for column, kind in missing:
        found = defined.get(column)
        report.drift.append(
            f"table {name}: predefined column {column} {kind} is "
            + (f"{found}" if found else "missing")
            + " (add it with the Tablestore console or CLI: the Python SDK has no AddDefinedColumn)"
        )
    if options.max_version != definition.max_versions:
        report.drift.append(f"table {name}: max versions {options.max_version}, expected {definition.max_versions}")
    if options.time_to_live != definition.time_to_live:
        why = " (a table with secondary indexes must keep rows forever while they can be updated)" if (
            definition.indexes
        ) else ""
        report.drift.append(
            f"table {name}: time to live {options.time_to_live}, expected {definition.time_to_live}{why}"
        )
    if definition.encrypted and not getattr(described.sse_details, "enable", False):
        report.notes.append(
            f"table {name}: not encrypted at rest (it can only be chosen at creation: KYC_CREATE_TABLES=false and "
            "setup-tables on a new table)"
        )
    present = {index.index_name: index for index in described.secondary_indexes}
    for index in definition.indexes:
        found_index = present.get(index.name)
        if found_index is None:
            blocked = bool(missing) or options.time_to_live != -1
            if create and not blocked:
                client.create_secondary_index(name, _index_meta(ots, index), include_base_data=True)
                report.created.append(index.name)
            else:
                report.drift.append(f"index {index.name} is missing" + (" (fix the table first)" if blocked else ""))
            continue
        key = list(found_index.primary_key_names)
        if key[: len(index.primary_key)] != list(index.primary_key) or list(
            found_index.defined_column_names
        ) != list(index.attributes):
            report.drift.append(
                f"index {index.name}: key {key} attributes {list(found_index.defined_column_names)}, expected key "
                f"{list(index.primary_key)} attributes {list(index.attributes)} (drop it; setup-tables recreates it)"
            )
            continue
        report.verified.append(index.name)
    if len(report.drift) == drift_before:
        report.verified.append(name)


def _names(columns: Any) -> list[str]:
    return [str(c[0]) for c in columns]
