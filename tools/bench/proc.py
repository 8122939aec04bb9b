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
# and reports (wall seconds, ru_maxrss KiB, exit code, its perf_counter at the fork) on its stdout; the child's own
# stdout goes to /dev/null. perf_counter is CLOCK_MONOTONIC on Linux, one clock for every process: a time the child
# reads from it is comparable with the launcher's start.
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
sys.stdout.write("%r %d %d %r" % (wall, usage.ru_maxrss, os.waitstatus_to_exitcode(status), start))
"""


def measure_output(argv: Sequence[str], env: Mapping[str, str], timeout: float = 60.0) -> tuple[float, float, str]:
    """Run ``argv`` to completion; (wall seconds, peak RSS in MiB, its stderr) of that one process."""
    wall, peak, stderr, _ = _launch(argv, env, timeout)
    return wall, peak, stderr


#: What a measured child writes to stderr when it is ready (its ``time.perf_counter()`` after it), for
#: :func:`measure_ready`: ``READY_LINE`` is the Python statement that writes it.
READY_MARK = "kyc-bench-ready"
READY_LINE = f'import sys, time; sys.stderr.write("{READY_MARK} %r\\n" % time.perf_counter())'


def measure_ready(
    argv: Sequence[str], env: Mapping[str, str], timeout: float = 60.0
) -> tuple[float, float, float, str]:
    """Run ``argv`` to completion; (seconds from the fork to the child's ``READY_MARK`` line, seconds to its exit,
    peak RSS in MiB, its stderr). The child must write the line (``READY_LINE``) once it is ready."""
    wall, peak, stderr, start = _launch(argv, env, timeout)
    for line in reversed(stderr.splitlines()):
        if line.startswith(READY_MARK):
            return float(line.split()[1]) - start, wall, peak, stderr
    raise RuntimeError(f"the child did not say when it was ready: {stderr[-1000:]}")


def _launch(argv: Sequence[str], env: Mapping[str, str], timeout: float) -> tuple[float, float, str, float]:
    launcher = [PYTHON, "-I", "-S", "-c", LAUNCHER, *argv]
    try:
        done = subprocess.run(  # noqa: S603 - our own interpreter and code
            launcher, env=dict(env), cwd=ROOT, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{argv[-1][:60]!r} timed out") from None
    stderr = done.stderr.decode(errors="replace")
    try:
        wall_text, maxrss_kib, code, start = done.stdout.decode().split()
    except ValueError:
        raise RuntimeError(f"launcher failed: {stderr[-2000:]}") from None
    if int(code) != 0:
        raise RuntimeError(f"child failed ({code}): {stderr[-2000:]}")
    return float(wall_text), int(maxrss_kib) / 1024, stderr, float(start)  # ru_maxrss is KiB on Linux


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]
