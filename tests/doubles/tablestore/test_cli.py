"""``python -m tools.doubles.tablestore``: keys from the environment, a JSON ready line, served until SIGTERM."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tools.doubles.tablestore._sdk import tablestore as ts

ROOT = Path(__file__).resolve().parents[3]


def test_the_cli_serves_the_sdk_with_the_environments_key() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KYC_", "ALIBABA_CLOUD_"))}
    env.update({"ALIBABA_CLOUD_ACCESS_KEY_ID": "cli-ak", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "cli-sk",
                "PYTHONPATH": str(ROOT)})
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.doubles.tablestore", "--port", "0", "--instance", "cliinst",
         "--index-lag", "manual"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        assert (ready["service"], ready["instance"]) == ("tablestore", "cliinst")
        client = ts.OTSClient(ready["endpoint"], "cli-ak", "cli-sk", "cliinst", retry_policy=ts.NoRetryPolicy())
        assert client.list_table() == ()
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert process.returncode == 0


def test_the_cli_refuses_to_start_without_keys() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KYC_", "ALIBABA_CLOUD_"))}
    env["PYTHONPATH"] = str(ROOT)
    run = subprocess.run(
        [sys.executable, "-m", "tools.doubles.tablestore", "--port", "0"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert run.returncode != 0
    assert "ALIBABA_CLOUD_ACCESS_KEY_ID" in run.stderr
