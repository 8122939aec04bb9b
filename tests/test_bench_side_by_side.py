"""``./scripts/bench side-by-side --json --smoke``: CI's run of the side-by-side benchmark, short. Both ways keep the
result and delete its objects (the benchmark raises otherwise), one call at a time and several at once as the double
saw them; the last stdout line is its JSON."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(120)
def test_the_side_by_side_benchmark_reports_both_ways_of_each_batch_of_calls() -> None:
    run = subprocess.run(
        [str(ROOT / "scripts" / "bench"), "side-by-side", "--json", "--smoke"],
        cwd=ROOT, capture_output=True, text=True, timeout=110, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    assert set(figures) == {"fetch", "deletePrefix"}
    for batch in figures.values():
        assert set(batch) == {"oneAtATime", "sideBySide", "ratio", "mostAtOnce"}
        assert batch["oneAtATime"] > 0 and batch["sideBySide"] > 0
        # what the double saw: the limits took effect both ways (review ax: the timings alone could not tell)
        assert batch["mostAtOnce"]["oneAtATime"] == 1 and batch["mostAtOnce"]["sideBySide"] > 1
    assert "one at a time" in run.stderr and "side by side" in run.stderr
