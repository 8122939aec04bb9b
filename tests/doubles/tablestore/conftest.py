"""A Tablestore double per test, an ``OTSClient`` for it (no retries, so each error surfaces once), helpers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tools.doubles.tablestore import TablestoreDouble
from tools.doubles.tablestore._sdk import tablestore as ts

AK, SK, INSTANCE = "test-ak", "test-sk-0123456789", "kycinst"


@pytest.fixture
def ots() -> Iterator[TablestoreDouble]:
    with TablestoreDouble(access_key_id=AK, access_key_secret=SK, instance=INSTANCE) as double:
        yield double


@pytest.fixture
def client(ots: TablestoreDouble) -> Any:
    return ots.client(retry_policy=ts.NoRetryPolicy(), socket_timeout=10)


def create_table(
    client: Any,
    name: str = "t",
    primary_key: list[tuple[str, str]] | None = None,
    defined: list[tuple[str, str]] | None = None,
    indexes: list[Any] | None = None,
) -> None:
    meta = ts.TableMeta(name, primary_key or [("pk", "STRING")], defined or [])
    client.create_table(meta, ts.TableOptions(), ts.ReservedThroughput(ts.CapacityUnit(0, 0)), indexes or [])


def attrs(row: Any) -> dict[str, Any]:
    """A returned row's attribute columns by name (timestamps dropped)."""
    return {name: value for name, value, *_ in (row.attribute_columns or [])}


def keys(rows: list[Any]) -> list[list[tuple[str, Any]]]:
    return [row.primary_key for row in rows]
