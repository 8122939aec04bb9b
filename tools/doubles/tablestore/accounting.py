"""What the service would read and write, counted per operation, per table and in total (for the scale benchmark).

Tablestore bills and spends time for every row a read touches, whether a filter drops it or not; these counters
say how many rows each call touched, so a benchmark can show that a design reads what it returns.

Counters (every one an integer):

- ``requests``: answered service requests (signature verified), ``errors``: those answered with an error;
- ``rowsScanned``: rows read from storage: every row a ``GetRange`` visits (returned, filtered out or dropped
  because it has none of ``columns_to_get``), every row a ``GetRow``/``BatchGetRow`` finds, and the current row a
  conditional write reads to check its condition (any expectation but IGNORE, or a column condition);
  ``rowsScanned == rowsReturned + rowsFilteredOut + conditionReads`` per table;
- ``rowsFilteredOut``: scanned rows a read did not return (its filter dropped them, or it kept no column);
- ``rowsReturned``: rows in answers;
- ``conditionReads``: the rows read by condition checks (counted in ``rowsScanned`` too);
- ``rowsWritten``: rows a write changed in a data table (put, update, delete), ``indexRowsWritten``: index rows the
  double wrote or deleted to keep indexes in step (applied when the index is, so lag shows here).

``snapshot()`` returns ``{"total": {...}, "operations": {"GetRange": {...}}, "tables": {"t": {...}}}``; a table
counter belongs to the table (or index table) the rows live in. Bulk loads through the Python API are not counted.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from typing import Any

COUNTERS = (
    "requests",
    "errors",
    "rowsScanned",
    "rowsFilteredOut",
    "rowsReturned",
    "conditionReads",
    "rowsWritten",
    "indexRowsWritten",
)


class Accounting:
    """Thread-safe counters; ``add`` attributes to one operation and one table at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total: Counter[str] = Counter()
        self._operations: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._tables: defaultdict[str, Counter[str]] = defaultdict(Counter)

    def add(self, operation: str | None, table: str | None, **counts: int) -> None:
        unknown = set(counts) - set(COUNTERS)
        if unknown:
            raise ValueError(f"unknown counters: {sorted(unknown)}")
        with self._lock:
            for name, value in counts.items():
                if not value:
                    continue
                self._total[name] += value
                if operation is not None:
                    self._operations[operation][name] += value
                if table is not None:
                    self._tables[table][name] += value

    def reset(self) -> None:
        with self._lock:
            self._total.clear()
            self._operations.clear()
            self._tables.clear()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": _full(self._total),
                "operations": {name: _full(c) for name, c in sorted(self._operations.items())},
                "tables": {name: _full(c) for name, c in sorted(self._tables.items())},
            }


def _full(counter: Counter[str]) -> dict[str, int]:
    return {name: int(counter.get(name, 0)) for name in COUNTERS}
