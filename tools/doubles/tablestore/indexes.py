"""Keeping secondary indexes in step with their data table, at once or with a lag.

Each write to a data table yields, for each of its indexes, the index row before and after the write; the change
is "delete the old index row (if its key changed or it left the index), put the new one (if the row is indexed)".

What the service does (Tablestore "Secondary index" overview and "Global secondary index" pages):

- an index row's key is the index key columns followed by the data table's key columns the index lacks;
  its attributes are the index's attribute columns the data row has;
- sparse index: a data row lacking any index key column is not in the index (lacking an attribute column is fine);
- a **local** index is updated synchronously with the data row; a **global** index asynchronously ("synchronization
  latency within a few milliseconds"): a read of a global index may not see a write yet.

The double applies local index changes at once and global ones after ``IndexLag``: ``seconds = 0`` (default) is
synchronous; ``seconds > 0`` applies each change once it is that old (checked before every request); ``manual``
holds every change until ``flush``. Changes apply in write order (an item waits for the ones before it), so the
index always converges to the data table. A data row whose index key column holds a value of another type than
the predefined column's is left out of that index (the service's behaviour there is unverified).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

from tools.doubles.tablestore.schema import LOCAL, Index
from tools.doubles.tablestore.storage import Columns, KeyTuple
from tools.doubles.tablestore.values import type_of


@dataclass(frozen=True)
class IndexLag:
    seconds: float = 0.0
    manual: bool = False

    @property
    def synchronous(self) -> bool:
        return not self.manual and self.seconds <= 0


@dataclass(frozen=True)
class IndexChange:
    """One data-row write as seen by one index; ``operation`` is the request that caused it (for accounting)."""

    index: str
    old_key: KeyTuple | None
    new_key: KeyTuple | None
    new_columns: Columns | None
    operation: str | None
    due: float


def index_row(index: Index, key: dict[str, Any], columns: Columns | None) -> tuple[KeyTuple, Columns] | None:
    """The index row for a data row (``key`` by column name), or None when the row is absent or not indexed."""
    if columns is None:
        return None
    values = []
    for name, kind in zip(index.key_names, index.key_types, strict=True):
        if name in key:
            value = key[name]
        elif name in columns:
            value = columns[name][0]
        else:
            return None  # sparse: a missing index key column keeps the row out of the index
        if type_of(value) != kind:
            return None
        values.append(value)
    attributes = {name: columns[name] for name in index.meta.defined_columns if name in columns}
    return tuple(values), attributes


def change_for(
    index: Index,
    key: dict[str, Any],
    before: Columns | None,
    after: Columns | None,
    *,
    operation: str | None,
    now: float,
    lag: IndexLag,
) -> IndexChange | None:
    old = index_row(index, key, before)
    new = index_row(index, key, after)
    if old is None and new is None:
        return None
    due = now if index.meta.kind == LOCAL or lag.synchronous else math.inf if lag.manual else now + lag.seconds
    return IndexChange(
        index=index.name,
        old_key=old[0] if old else None,
        new_key=new[0] if new else None,
        new_columns=new[1] if new else None,
        operation=operation,
        due=due,
    )


class PendingChanges:
    """Index changes not applied yet, in write order."""

    def __init__(self) -> None:
        self._queue: deque[IndexChange] = deque()

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, change: IndexChange) -> None:
        self._queue.append(change)

    def take_due(self, now: float, *, everything: bool = False) -> list[IndexChange]:
        """The changes whose time has come, oldest first, stopping at the first that has to wait."""
        due: list[IndexChange] = []
        while self._queue and (everything or self._queue[0].due <= now):
            due.append(self._queue.popleft())
        return due

    def forget(self, index_names: set[str]) -> None:
        self._queue = deque(c for c in self._queue if c.index not in index_names)

    def clear(self) -> None:
        self._queue.clear()
