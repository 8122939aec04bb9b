"""``python -m tools.doubles.oss`` / ``python -m tools.doubles.mns``: keys from the environment, one JSON ready
line with the endpoint, a working service behind it, a clean stop on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from shared.signing import Credentials
from shared.storage import MnsQueue, OssObjectStore

ROOT = Path(__file__).resolve().parents[2]
ENV = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAI-cli",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "cli-secret",
    "ALIBABA_CLOUD_SECURITY_TOKEN": "cli-token",
}
CREDS = Credentials("LTAI-cli", "cli-secret", "cli-token")


@contextmanager
def running(module: str, *args: str) -> Iterator[dict[str, Any]]:
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **ENV}
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "--port", "0", *args],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(proc.communicate(timeout=10)[1])
        yield json.loads(line)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_the_oss_double_cli_serves_the_bucket_it_names() -> None:
    with running("tools.doubles.oss", "--bucket", "cli-bucket", "--region", "ap-southeast-1") as ready:
        assert (ready["service"], ready["buckets"], ready["region"]) == ("oss", ["cli-bucket"], "ap-southeast-1")
        assert ready["control"] == ready["endpoint"] + "/_double/"
        store = OssObjectStore(
            bucket="cli-bucket", region="ap-southeast-1", credentials=CREDS, endpoint=ready["endpoint"]
        )
        store.put("k", b"v", "text/plain")
        assert store.get("k") == b"v"


def test_the_mns_double_cli_creates_its_queues() -> None:
    with running("tools.doubles.mns", "--queue", "cli-queue", "--visibility-timeout", "45") as ready:
        assert (ready["service"], ready["queues"]) == ("mns", ["cli-queue"])
        queue = MnsQueue(ready["endpoint"], "cli-queue", CREDS, timeout=5)
        queue.send(b"x")
        assert [m.body for m in queue.receive()] == [b"x"]


def test_a_cli_without_keys_in_the_environment_refuses_to_start() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tools.doubles.oss", "--port", "0"],
        check=False,
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("ALIBABA_CLOUD_")} | {"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode != 0 and "ALIBABA_CLOUD_ACCESS_KEY_SECRET" in proc.stderr


@pytest.mark.parametrize("module", ["tools.doubles.oss", "tools.doubles.mns"])
def test_a_starting_fault_plan_is_applied_and_a_bad_one_refused(module: str) -> None:
    with running(module, "--faults", '{"seed": 1, "operations": {"*": {"delayRate": 0.1, "delaySeconds": 0.01}}}'):
        pass
    proc = subprocess.run(
        [sys.executable, "-m", module, "--port", "0", "--faults", '{"operations": {"*": {"sequence": ["Nope"]}}}'],
        check=False,
        cwd=ROOT,
        env={**os.environ, **ENV, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2 and "unknown error code" in proc.stderr
