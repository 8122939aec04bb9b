"""Fresh-process measurement: wall time and peak RSS of one child (``os.wait4``), and child environments."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
MIB = 1024 * 1024


def child_env(pycache: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every measured child: bytecode cached (as a deployed, compiled package would have it)
    in ``pycache`` for every command alike, and nothing from the caller's KYC_/cloud settings."""
    prefixes = ("KYC_", "ALIBABA_CLOUD_", "CLOUDAUTH_", "SANDBOX_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra or {})
    return env


# Why a launcher: Linux charges a child's peak RSS (ru_maxrss) with the memory of the process it was forked from
# (exec records the old address space's high-water mark), so children forked from this ~25 MiB benchmark process
# would all report >= 25 MiB. A minimal interpreter (-I -S, ~8 MiB) forks and times the measured command instead,
# and reports (wall seconds, ru_maxrss KiB, exit code) on its stdout; the child's own stdout goes to /dev/null.
LAUNCHER = """
import os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.execve(sys.argv[1], sys.argv[1:], os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
sys.stdout.write("%r %d %d" % (wall, usage.ru_maxrss, os.waitstatus_to_exitcode(status)))
"""


def measure_output(argv: Sequence[str], env: Mapping[str, str], timeout: float = 60.0) -> tuple[float, float, str]:
    """Run ``argv`` to completion; (wall seconds, peak RSS in MiB, its stderr) of that one process."""
    launcher = [PYTHON, "-I", "-S", "-c", LAUNCHER, *argv]
    try:
        done = subprocess.run(  # noqa: S603 - our own interpreter and code
            launcher, env=dict(env), cwd=ROOT, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{argv[-1][:60]!r} timed out") from None
    stderr = done.stderr.decode(errors="replace")
    try:
        wall_text, maxrss_kib, code = done.stdout.decode().split()
    except ValueError:
        raise RuntimeError(f"launcher failed: {stderr[-2000:]}") from None
    if int(code) != 0:
        raise RuntimeError(f"child failed ({code}): {stderr[-2000:]}")
    return float(wall_text), int(maxrss_kib) / 1024, stderr  # ru_maxrss is KiB on Linux


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]
