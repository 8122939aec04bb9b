"""``./scripts/bench side-by-side --json --smoke``: CI's run of the side-by-side benchmark, short. Both ways keep the
result and delete its objects (the benchmark raises otherwise), one call at a time and several at once as the double
saw them; the last stdout line is its JSON."""

from __future__ import annotations

import pytest

from tests.bench_runs import smoke_figures


@pytest.mark.timeout(120)
def test_the_side_by_side_benchmark_reports_both_ways_of_each_batch_of_calls() -> None:
    figures, stderr = smoke_figures("side-by-side")
    assert set(figures) == {"fetch", "deletePrefix"}
    for batch in figures.values():
        assert set(batch) == {"oneAtATime", "sideBySide", "ratio", "mostAtOnce"}
        assert batch["oneAtATime"] > 0 and batch["sideBySide"] > 0
        # what the double saw: the limits took effect both ways (review ax: the timings alone could not tell)
        assert batch["mostAtOnce"]["oneAtATime"] == 1 and batch["mostAtOnce"]["sideBySide"] > 1
    assert "one at a time" in stderr and "side by side" in stderr
