"""Soak: thousands of requests through the local gateway leave the dev stack's open file descriptors, threads
and resident memory where they were after warming up.

The stack runs as ``./scripts/dev`` does (``python -m tools.devstack.dev``), in a child process measured from
outside through ``/proc/<pid>``: the test process's own logging capture would otherwise grow with every request.
Issue 14 measured ~2 700 descriptors and ~200 MB after a 300-flow load test: an SQLite connection per thread,
never closed, and a thread per request. ``KYC_SOAK_REQUESTS`` changes the count (default 3 000)."""

from __future__ import annotations

import http.client
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shared import jsonutil

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads /proc (Linux)"),
]

ROOT = Path(__file__).resolve().parents[1]
REQUESTS = int(os.environ.get("KYC_SOAK_REQUESTS") or 3000)
WARM_UP = 1000  # enough for the thread pools, which grow on demand up to their bound, to reach it
CLIENTS = 16  # more than the gateway's worker threads: the bound is exercised, not just the leak
MIB = 1024 * 1024
#: Slack over the warmed-up level. Descriptors: a pool may still open a connection for a burst it had not seen.
#: Memory: allocator noise and the sandbox's in-memory transactions (one per POST, well under a KiB each); a leaked
#: SQLite connection per request would be hundreds of KiB each.
FD_SLACK = 12
THREAD_SLACK = 4
RSS_SLACK = 16 * MIB


@dataclass(frozen=True)
class Usage:
    fds: int
    threads: int
    rss: int

    def __str__(self) -> str:
        return f"{self.fds} fds, {self.threads} threads, {self.rss / MIB:.1f} MiB"


def _usage(pid: int) -> Usage:
    status = Path(f"/proc/{pid}/status").read_text()

    def field(name: str) -> int:
        match = re.search(rf"^{name}:\s+(\d+)", status, re.MULTILINE)
        assert match, name
        return int(match.group(1))

    return Usage(len(os.listdir(f"/proc/{pid}/fd")), field("Threads"), field("VmRSS") * 1024)


@dataclass
class DevProcess:
    process: subprocess.Popen[str]
    port: int
    token: str


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[DevProcess]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KYC_", "CLOUDAUTH_", "SANDBOX_", "ALIBABA_"))}
    env.update(KYC_DATA_DIR=str(tmp_path / "data"), KYC_RATE_LIMIT_PER_HOUR="0", PYTHONPATH=str(ROOT),
               KYC_LOG_LEVEL="WARNING", SANDBOX_QPS="100000")  # fmt: skip (the vendor's throttling is not under test)
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.devstack.dev", "--port", "0", "--sandbox-port", "0", "--sweep-interval", "0"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        banner: list[str] = []
        for line in process.stdout:  # the banner ends with the demo JWT
            banner.append(line)
            if line.strip().startswith("ey"):
                break
        assert banner and banner[-1].strip().startswith("ey"), f"dev stack exited: {process.poll()}"
        threading.Thread(target=process.stdout.read, daemon=True).start()  # never let a full pipe block it
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)/", "".join(banner)).group(1))  # type: ignore[union-attr]
        token = banner[-1].strip()
        yield DevProcess(process, port, token)
    finally:
        process.terminate()
        process.wait(30)


def _request(port: int, method: str, target: str, token: str | None, body: Any = None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        payload = None if body is None else jsonutil.dumps(body)
        if payload is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, target, body=payload, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _settled_usage(pid: int, seconds: float = 2.0) -> Usage:
    """The process's usage once the last connections have closed: descriptors and threads at their lowest over
    ``seconds`` (a connection or handler thread still finishing is not a leak), memory as last seen."""
    samples = [_usage(pid)]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.1)
        samples.append(_usage(pid))
    return Usage(min(u.fds for u in samples), min(u.threads for u in samples), samples[-1].rss)


def _load(dev: DevProcess, count: int) -> None:
    start = {"docType": "01000000", "metaInfo": '{"deviceType":"web","ua":"soak"}',
             "returnUrl": f"http://127.0.0.1:{dev.port}/"}  # fmt: skip
    mix: list[tuple[str, str, str | None, Any, int]] = [
        ("POST", "/verifications", dev.token, start, 201),  # JWT, the vendor (sandbox) over HTTP, a table write
        ("GET", "/verifications/tx000000000000000000000000000001", dev.token, None, 404),  # JWT, a table read
        ("GET", "/callback?merchantBizId=tx000000000000000000000000000001&callbackToken=x", None, None, 404),
        ("GET", "/verifications/tx000000000000000000000000000001", None, None, 401),
        ("GET", "/", None, None, 200),  # the demo page
    ] + [("GET", "/verifications/tx000000000000000000000000000001", dev.token, None, 404)] * 5

    def one(i: int) -> None:
        method, target, token, body, expected = mix[i % len(mix)]
        assert _request(dev.port, method, target, token, body) == expected, (method, target.split("?")[0])

    with ThreadPoolExecutor(CLIENTS) as clients:
        list(clients.map(one, range(count)))


def test_thousands_of_requests_leave_descriptors_threads_and_memory_bounded(dev: DevProcess) -> None:
    pid = dev.process.pid
    _load(dev, WARM_UP)
    warm = _settled_usage(pid)
    _load(dev, REQUESTS)
    after = _settled_usage(pid)
    print(f"soak: {REQUESTS} requests: {warm} -> {after}")
    assert after.fds <= warm.fds + FD_SLACK, (str(warm), str(after))
    assert after.threads <= warm.threads + THREAD_SLACK, (str(warm), str(after))
    assert after.rss <= warm.rss + RSS_SLACK, (str(warm), str(after))
