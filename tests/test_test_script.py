"""./scripts/test on a machine that cannot download the ROS CDK wheels: each step runs once, and the run fails
with a clear warning instead of passing without its oracle (found by review)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


_LOGGING_STUB = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "$CALLS"
case "$*" in
  "-c "*) echo 3.11 ;;
  "-m tools.ros_schema --have") exit 1 ;;
  "-m pip download"*) echo "ERROR: Could not find a version that satisfies the requirement (offline)" >&2; exit 1 ;;
  "-m pytest"*) exit 1 ;;
esac
exit 0
"""


def _offline_checkout(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A copy of scripts/test and what it reads, with a venv whose python, ruff and mypy only log their calls (pip
    download fails as offline; pytest fails as the ROS schema test would), and an ensure-chromium that logs too."""
    root = tmp_path / "checkout"
    (root / "scripts").mkdir(parents=True)
    for name in ("test", "_venv.sh"):
        shutil.copy2(ROOT / "scripts" / name, root / "scripts" / name)
    for name in ("requirements.txt", "requirements-dev.txt"):
        shutil.copy2(ROOT / name, root / name)
    (root / "tests" / "oracles").mkdir(parents=True)
    shutil.copy2(ROOT / "tests" / "oracles" / "ros-cdk.txt", root / "tests" / "oracles" / "ros-cdk.txt")
    stubs = [root / "scripts" / "ensure-chromium"] + [root / ".venv" / "bin" / n for n in ("python", "ruff", "mypy")]
    for stub in stubs:
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.write_text(_LOGGING_STUB)
        stub.chmod(0o755)
    requirements = (root / "requirements.txt").read_bytes() + (root / "requirements-dev.txt").read_bytes()
    stamp = root / ".venv" / f".kyc-requirements-stamp-{hashlib.sha256(str(root).encode()).hexdigest()[:8]}"
    stamp.write_text(f"{hashlib.sha256(requirements).hexdigest()[:16]}-3.11\n")
    env = {**os.environ, "PYTHON": str(root / ".venv" / "bin" / "python"), "CALLS": str(tmp_path / "calls")}
    return root, env


def test_scripts_test_offline_tries_the_download_once_and_installs_chromium_once(tmp_path: Path) -> None:
    """19ed31d left scripts/test with its chromium step twice and two download steps: on a fresh machine
    ensure-chromium (apt-get update and install) runs twice, and offline the wheels' download is tried twice (pip's
    retries and timeouts each time) and warns twice before the tests run. Each step belongs once: one
    ensure-chromium, one ``pip download``, one warning, and the run still fails (no silent pass)."""
    root, env = _offline_checkout(tmp_path)

    run = subprocess.run(["bash", str(root / "scripts" / "test")], env=env, capture_output=True, text=True,
                         timeout=60, check=False)

    calls = (tmp_path / "calls").read_text().splitlines()
    assert run.returncode != 0, run.stderr
    assert [c for c in calls if c.startswith("ensure-chromium")] == ["ensure-chromium "], calls
    assert len([c for c in calls if c.startswith("python -m pip download")]) == 1, calls
    assert run.stderr.count("warning: downloading the ROS CDK wheels failed") == 1, run.stderr
