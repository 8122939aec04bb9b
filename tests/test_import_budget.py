"""Import budget (modules, not milliseconds): a cold start loads only what its path needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cold import backend_env

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ("initializer", "result_fetcher", "notifier", "sweeper")
# Never on the local path. cryptography: PyJWT only probes for it, and shared.auth hides it (HS256 needs hmac).
HEAVY = ("tablestore", "alibabacloud_oss_v2", "oss2", "mns", "aiohttp", "requests", "numpy", "Tea", "cryptography")
# With the aliyun backend, each function may load only the SDKs its path needs.
ALIYUN_ALLOWED = {
    "initializer": {"tablestore", "aiohttp", "numpy"},
    "result_fetcher": {"tablestore", "aiohttp", "numpy", "alibabacloud_oss_v2", "requests"},
    "notifier": {"tablestore", "aiohttp", "numpy", "alibabacloud_oss_v2", "requests"},
    "sweeper": {"tablestore", "aiohttp", "numpy", "alibabacloud_oss_v2", "requests"},
}

PROBE = """\
import json, sys
sys.path[:0] = [{fn_dir!r}]
import index
index.initialize(None)
print(json.dumps([m for m in {heavy!r} if m in sys.modules]))
"""


def loaded_after_initialize(function: str, backend: str, tmp_path: Path) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KYC_", "ALIBABA_CLOUD_", "CLOUDAUTH_"))}
    env.update(backend_env(backend, tmp_path / "data"))
    env["PYTHONPATH"] = str(ROOT)
    code = PROBE.format(fn_dir=str(ROOT / "functions" / function), heavy=HEAVY)
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    return set(json.loads(run.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_local_backend_cold_start_loads_no_vendor_sdk_nor_heavy_library(function: str, tmp_path: Path) -> None:
    assert loaded_after_initialize(function, "local", tmp_path) == set()


@pytest.mark.parametrize("function", FUNCTIONS)
def test_aliyun_backend_cold_start_loads_only_the_sdks_of_its_path(function: str, tmp_path: Path) -> None:
    loaded = loaded_after_initialize(function, "aliyun", tmp_path)
    assert loaded <= ALIYUN_ALLOWED[function]
    assert "tablestore" in loaded  # every function keeps transactions in Tablestore
