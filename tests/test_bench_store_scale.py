"""``./scripts/bench store-scale --json --smoke``: CI's run of the store-scale benchmark at small sizes. Every
operation reads as many rows at the larger size as at the smaller one (flat), and the last stdout line is the JSON
object the issue specifies."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OPERATIONS = ["initialize", "callback", "sweep", "listByUser", "eraseUser"]


@pytest.mark.timeout(120)
def test_every_operation_reads_as_many_rows_at_ten_times_the_table_size() -> None:
    run = subprocess.run(
        [str(ROOT / "scripts" / "bench"), "store-scale", "--json", "--smoke"],
        cwd=ROOT, capture_output=True, text=True, timeout=110, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    assert set(figures) == {"sizes", "rowsRead"} and list(figures["rowsRead"]) == OPERATIONS
    small, large = figures["sizes"]
    assert large >= 10 * small
    for operation, (at_small, at_large) in figures["rowsRead"].items():
        assert at_small == at_large, f"{operation} reads {at_small} rows at {small} and {at_large} at {large}"
        assert at_large < small, f"{operation} reads about the whole table"
    assert "rows read by one operation" in run.stderr and "flat from" in run.stderr
