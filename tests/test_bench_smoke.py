"""``./scripts/bench --smoke`` keeps working (it is the CI's guard against the benchmark rotting)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_smoke_bench_prints_the_table_and_writes_every_section(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    run = subprocess.run(
        [str(ROOT / "scripts" / "bench"), "--smoke", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=110, check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "| check | measured | target | ok |" in run.stdout
    results = json.loads(out.read_text())
    assert {"cold", "warm", "signing", "parsing", "checks"} <= set(results)
    assert results["cold"]["floor"]["x_floor"] == 1.0
    assert results["warm"]["deliveries"] > 0
