"""``./scripts/bench <part> --json --smoke`` as CI runs it: the benchmarks' smoke tests."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def smoke_figures(part: str) -> tuple[dict[str, Any], str]:
    """The part's figures (the last stdout line, its JSON) and its stderr; the run must succeed within 110 s."""
    run = subprocess.run(
        [str(ROOT / "scripts" / "bench"), part, "--json", "--smoke"],
        cwd=ROOT, capture_output=True, text=True, timeout=110, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    figures: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return figures, run.stderr
