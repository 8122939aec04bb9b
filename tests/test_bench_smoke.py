"""``./scripts/bench --smoke`` keeps working (it is the CI's guard against the benchmark rotting)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ("initializer", "result_fetcher", "notifier", "sweeper")


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_smoke_bench_prints_the_table_and_writes_every_section(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    run = subprocess.run(
        [str(ROOT / "scripts" / "bench"), "--smoke", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=110, check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "| check | measured | floor / reference (same run) | ratio | target | ok |" in run.stdout
    assert "Machine floor (this run)" in run.stdout
    results = json.loads(out.read_text())
    assert {"code", "cold", "warm", "signing", "parsing", "checks"} <= set(results)
    assert results["code"]["kind"] in {"package", "stand-in"}
    cold = results["cold"]
    assert cold["floor"]["x_floor"] == 1.0
    assert set(cold) == {"floor"} | {f"{f}/{b}" for f in FUNCTIONS for b in ("local", "aliyun")}
    for name, row in cold.items():
        if name != "floor":
            assert row["import_ms"] > 0 and row["initialize_ms"] >= 0
            assert row["importtime"]["owners"], name  # where the import time above the floor goes
            assert row["x_floor_with_logging"] > 0, name  # information: over the floor FC's runtime starts from
            assert 0 < row["wall_ms"] < row["to_exit_ms"], name  # judged to ready; to exit as information
    for key in ("initializer", "result_fetcher", "notifier_per_delivery"):
        assert results["warm"][key]["floor_ms"] > 0
    assert results["warm"]["deliveries"] > 0
    assert all(row["reference"] for row in results["checks"])  # every judged figure has its floor beside it
