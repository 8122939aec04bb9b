"""Rows of one table (data or index) in primary-key order: a dict for point reads, a sorted key list for ranges.

A row is ``{column: (value, timestamp_ms)}`` under its key tuple (see ``values`` for the ordering); the double
keeps one version per column (the latest), which is what a table with ``max_versions = 1`` (required by
secondary indexes) holds. Not thread-safe on its own: the engine serialises every call.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from typing import Any

Columns = dict[str, tuple[Any, int]]
KeyTuple = tuple[Any, ...]


class RowStore:
    def __init__(self) -> None:
        self._rows: dict[KeyTuple, Columns] = {}
        self._keys: list[KeyTuple] = []

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, key: KeyTuple) -> Columns | None:
        return self._rows.get(key)

    def put(self, key: KeyTuple, columns: Columns) -> None:
        if key not in self._rows:
            bisect.insort(self._keys, key)
        self._rows[key] = columns

    def delete(self, key: KeyTuple) -> bool:
        if self._rows.pop(key, None) is None:
            return False
        del self._keys[bisect.bisect_left(self._keys, key)]
        return True

    def put_many(self, rows: Iterable[tuple[KeyTuple, Columns]]) -> None:
        """Bulk load: one sort instead of one insertion per row."""
        self._rows.update(rows)
        self._keys = sorted(self._rows)

    def clear(self) -> None:
        self._rows.clear()
        self._keys.clear()

    def scan(self, start: KeyTuple, end: KeyTuple, forward: bool) -> Iterator[KeyTuple]:
        """Keys from ``start`` (inclusive) towards ``end`` (exclusive), ascending when ``forward``.

        The caller must not change the store while iterating (the engine holds its lock for a whole read)."""
        keys = self._keys
        if forward:
            i = bisect.bisect_left(keys, start)
            while i < len(keys) and keys[i] < end:
                yield keys[i]
                i += 1
        else:
            i = bisect.bisect_right(keys, start) - 1
            while i >= 0 and keys[i] > end:
                yield keys[i]
                i -= 1
