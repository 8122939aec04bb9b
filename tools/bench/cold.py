"""1. Cold start: a fresh process imports a handler module and runs its ``initialize`` (no network)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from tools.bench.proc import PYTHON, child_env, measure, median

FUNCTIONS = ("initializer", "result_fetcher", "notifier", "sweeper")

FLOOR = "import json, hmac, hashlib, http.client"
NAIVE = (
    "from alibabacloud_cloudauth_intl20220809.client import Client\n"
    "import tablestore\n"
    "import alibabacloud_oss_v2\n"
    "from mns.account import Account\n"
)

# The handler's cold start. Connecting anywhere during import/initialize is a failure, not a slow start.
HANDLER = """\
import socket, sys
def _no_network(*args, **kwargs):
    raise SystemExit("initialize tried to open a network connection")
socket.socket.connect = _no_network
socket.create_connection = _no_network
sys.path[:0] = [{fn_dir!r}]
import index
index.initialize(None)
"""

SECRET = "bench-jwt-secret-0123456789abcdef0123456789"  # noqa: S105 - a benchmark fixture


def backend_env(backend: str, data_dir: Path) -> dict[str, str]:
    common = {
        "KYC_JWT_SECRET": SECRET,
        "KYC_USER_ID_PEPPER": "bench-pepper-0123456789",
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "bench-ak",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "bench-secret",
        "KYC_WEBHOOKS": '[{"url": "https://hooks.example.com/kyc", '
        '"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}]',
    }
    if backend == "local":
        return {
            **common,
            "KYC_BACKEND": "local",
            "KYC_DATA_DIR": str(data_dir),
            "KYC_PUBLIC_URL": "http://127.0.0.1:9000",
            "KYC_RETURN_URL_ALLOWLIST": "http://127.0.0.1:9000/",
            "CLOUDAUTH_ENDPOINT": "http://127.0.0.1:9100",
        }
    # Endpoints that do not exist: initialize must not connect (the child refuses any connection).
    return {
        **common,
        "KYC_BACKEND": "aliyun",
        "KYC_PUBLIC_URL": "https://kyc.example.com",
        "KYC_RETURN_URL_ALLOWLIST": "https://shop.example.com/",
        "KYC_TABLESTORE_ENDPOINT": "https://bench.cn-hongkong.ots.aliyuncs.com",
        "KYC_TABLESTORE_INSTANCE": "bench",
        "KYC_OSS_REGION": "cn-hongkong",
        "KYC_OSS_BUCKET": "bench-bucket",
        "KYC_MNS_ENDPOINT": "https://123.mns.cn-hongkong.aliyuncs.com",
    }


def run(iterations: int, pycache: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="kyc-bench-cold-") as tmp:
        commands: dict[str, tuple[list[str], dict[str, str]]] = {
            "floor": ([PYTHON, "-c", FLOOR], child_env(pycache)),
            "naive": ([PYTHON, "-c", NAIVE], child_env(pycache)),
        }
        for backend in ("local", "aliyun"):
            env = child_env(pycache, backend_env(backend, Path(tmp) / "data"))
            for fn in FUNCTIONS:
                code = HANDLER.format(fn_dir=str(Path(__file__).resolve().parents[2] / "functions" / fn))
                commands[f"{fn}/{backend}"] = ([PYTHON, "-c", code], env)
        for argv, env in commands.values():  # compile and cache bytecode once; not measured
            measure(argv, env)
        walls: dict[str, list[float]] = {name: [] for name in commands}
        rss: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(iterations):  # interleaved, so drift in machine load hits every command alike
            for name, (argv, env) in commands.items():
                wall, peak = measure(argv, env)
                walls[name].append(wall)
                rss[name].append(peak)
    out: dict[str, Any] = {}
    for name in commands:
        out[name] = {"wall_ms": median(walls[name]) * 1000, "rss_mib": median(rss[name]), "runs": len(walls[name])}
    floor, naive = out["floor"]["wall_ms"], out["naive"]["wall_ms"]
    for row in out.values():
        row["x_floor"] = row["wall_ms"] / floor
        row["x_naive"] = row["wall_ms"] / naive
    return out
