"""``./scripts/bench store-scale --json --smoke``: CI's run of the store-scale benchmark at small sizes. Every
operation reads as many rows at the larger size as at the smaller one (flat), and the last stdout line is the JSON
object the issue specifies."""

from __future__ import annotations

import pytest

from tests.bench_runs import smoke_figures

OPERATIONS = ["initialize", "callback", "sweep", "listByUser", "eraseUser"]


@pytest.mark.timeout(120)
def test_every_operation_reads_as_many_rows_at_ten_times_the_table_size() -> None:
    figures, stderr = smoke_figures("store-scale")
    assert set(figures) == {"sizes", "rowsRead"} and list(figures["rowsRead"]) == OPERATIONS
    small, large = figures["sizes"]
    assert large >= 10 * small
    for operation, (at_small, at_large) in figures["rowsRead"].items():
        assert at_small == at_large, f"{operation} reads {at_small} rows at {small} and {at_large} at {large}"
        assert at_large < small, f"{operation} reads about the whole table"
    assert "rows read by one operation" in stderr and "flat from" in stderr
