"""A child process hosting exactly one handler: ``python -m tools.bench.host <function> <spec-json>``.

Prints one JSON line: the CPU time (``time.process_time``) of each handler call and the peak RSS. The sandbox,
the callback capture and the webhook receivers all live in other processes.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _load(function: str) -> Any:
    sys.path.insert(0, str(ROOT / "functions" / function))
    import index  # type: ignore[import-not-found]  # noqa: PLC0415

    index.initialize(None)
    return index


class _Context:
    request_id = "bench"


def initializer(spec: dict[str, Any]) -> dict[str, Any]:
    from shared.auth import issue_token  # noqa: PLC0415
    from tools.devstack.gateway import make_http_event  # noqa: PLC0415

    index = _load("initializer")
    token = issue_token("bench-user", spec["jwt_secret"], ttl=3600)
    body = json.dumps({"docType": "01000000", "metaInfo": '{"apdidToken":"x","appName":"web"}'}).encode()
    headers = [("Authorization", f"Bearer {token}"), ("Content-Type", "application/json")]
    cpu, created = [], []
    for _ in range(spec["count"]):
        event = make_http_event("POST", "/verifications", headers, body)
        start = time.process_time()
        response = index.handler(event, _Context())
        cpu.append(time.process_time() - start)
        if response["statusCode"] != 201:
            raise SystemExit(f"POST /verifications answered {response['statusCode']}")
        created.append(json.loads(response["body"])["transactionId"])
    return {"cpu": cpu, "transactions": created}


def result_fetcher(spec: dict[str, Any]) -> dict[str, Any]:
    from tools.devstack.gateway import make_http_event  # noqa: PLC0415

    index = _load("result_fetcher")
    cpu = []
    for target in spec["targets"]:
        event = make_http_event("GET", target, [], b"")
        start = time.process_time()
        response = index.handler(event, _Context())
        cpu.append(time.process_time() - start)
        if response["statusCode"] != 200:
            raise SystemExit(f"callback answered {response['statusCode']}")
    return {"cpu": cpu}


def notifier(spec: dict[str, Any]) -> dict[str, Any]:
    """Per message (``batch`` 0): every queued notify message as its own event. Otherwise the first message's
    body repeated ``batch`` times in one event, timed by wall clock (the deliveries run concurrently)."""
    from shared.storage import ReceivedMessage, StorageSettings, open_queue  # noqa: PLC0415
    from tools.devstack.worker import cloud_events  # noqa: PLC0415

    index = _load("notifier")
    queue: Any = open_queue(StorageSettings.from_env(), "notify")
    messages: list[Any] = []
    while batch := queue.receive(max_messages=16, visibility_timeout=3600):
        messages.extend(batch)
    out: dict[str, Any] = {"cpu": [], "wall": []}
    if spec.get("batch"):
        body = messages[0].body
        for size in spec["batch"]:
            batch = [ReceivedMessage(f"m{i}", body, f"r{i}", 1, time.time()) for i in range(size)]
            event = json.dumps(cloud_events("kyc-notify", batch)).encode()
            for _ in range(spec.get("repeat", 1)):
                wall, cpu = time.perf_counter(), time.process_time()
                index.handler(event, _Context())
                out["wall"].append([size, time.perf_counter() - wall])
                out["cpu"].append([size, time.process_time() - cpu])
        return out
    for message in messages:
        event = json.dumps(cloud_events("kyc-notify", [message])).encode()
        start = time.process_time()
        index.handler(event, _Context())
        out["cpu"].append(time.process_time() - start)
    return out


def peak_rss_mib() -> float:
    """This address space's own high-water mark (VmHWM). ru_maxrss would also count the benchmark process this
    one was forked from (see bench/proc.py)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    function, spec = sys.argv[1], json.loads(sys.argv[2])
    result = {"initializer": initializer, "result_fetcher": result_fetcher, "notifier": notifier}[function](spec)
    result["rss_mib"] = peak_rss_mib()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
