"""./scripts/loadtest: the small run holds every guarantee, and a run that cannot deliver says so and fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def _loadtest(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KYC_", "CLOUDAUTH_", "SANDBOX_"))}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "tools.loadtest", *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=timeout, check=False,
    )


@pytest.mark.parametrize("backend", [[], ["--aliyun-doubles"]], ids=["local", "aliyun"])
def test_smoke_run_holds_every_guarantee_and_prints_the_table(backend: list[str]) -> None:
    result = _loadtest("--smoke", *backend, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "loadtest: all guarantees held" in result.stdout
    assert ("aliyun (Tablestore, OSS, MNS doubles)" in result.stdout) is bool(backend)
    for metric in ("transactions by status", "duplicates received", "5xx seen by the frontend", "flows/s"):
        assert metric in result.stdout
    # the dripping and the Retry-After subscribers ran, and each subscriber retried on its own
    for guarantee in ("Retry-After honoured", "flaky ones not held by another's Retry-After",
                      "a drip holds back no other delivery"):  # fmt: skip
        (line,) = [line for line in result.stdout.splitlines() if guarantee in line]
        assert line.rstrip().endswith("| ok")


def test_a_run_whose_webhooks_all_fail_exits_non_zero_naming_the_guarantee() -> None:
    result = _loadtest("--flows", "3", "--concurrency", "3", "--webhook-fail-rate", "1", "--timeout", "2",
                       timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "every final one delivered to every subscriber" in result.stderr
