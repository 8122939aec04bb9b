"""A child process hosting exactly one handler: ``python -m tools.bench.host <function> <spec-json>``.

Prints one JSON line: the CPU time (``time.process_time``) of each handler call, the CPU time of that call's
floor (``floors.py``: its unavoidable work on the same data, timed right after the call) and the peak RSS. The
sandbox, the callback capture and the webhook receivers all live in other processes.

The data a floor needs is captured on its way through: the CheckResult answer's body at
``CloudAuthClient._send``, each webhook's body, id and timestamp at ``shared.webhooks.signature_headers`` (wrapped
before the handler is imported). The wrappers add a list append to the handler's time.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

from tools.bench import floors

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
    vendor = floors.HttpExchange(os.environ["CLOUDAUTH_ENDPOINT"].rstrip("/") + "/_sandbox/health")
    cpu, floor, created = [], [], []
    for _ in range(spec["count"]):
        event = make_http_event("POST", "/verifications", headers, body)
        start = time.process_time()
        response = index.handler(event, _Context())
        cpu.append(time.process_time() - start)
        if response["statusCode"] != 201:
            raise SystemExit(f"POST /verifications answered {response['statusCode']}")
        floor.append(floors.cpu_per_call(floors.initializer(token, spec["jwt_secret"], body, response["body"])))
        created.append(json.loads(response["body"])["transactionId"])
    http_ms = floors.cpu_per_call(vendor) * 1000
    vendor.close()
    return {"cpu": cpu, "floor": floor, "http_exchange_ms": http_ms, "transactions": created}


def result_fetcher(spec: dict[str, Any]) -> dict[str, Any]:
    from shared.cloudauth.client import CloudAuthClient  # noqa: PLC0415
    from tools.devstack.gateway import make_http_event  # noqa: PLC0415

    answers: list[bytes] = []
    send = CloudAuthClient._send

    def capture(self: Any, action: str, query: Any, form: Any, **options: Any) -> tuple[int, bytes]:
        status, data = send(self, action, query, form, **options)
        if action == "CheckResult":
            answers.append(data)
        return status, data

    CloudAuthClient._send = capture  # type: ignore[method-assign]
    index = _load("result_fetcher")
    cpu, floor = [], []
    for target in spec["targets"]:
        event = make_http_event("GET", target, [], b"")
        answers.clear()
        start = time.process_time()
        response = index.handler(event, _Context())
        cpu.append(time.process_time() - start)
        if response["statusCode"] != 200:
            raise SystemExit(f"callback answered {response['statusCode']}")
        if len(answers) != 1:
            raise SystemExit(f"the callback made {len(answers)} CheckResult calls, not 1")
        floor.append(floors.cpu_per_call(floors.result_fetcher(answers[0])))
    return {"cpu": cpu, "floor": floor, "check_result_bytes": len(answers[0]) if answers else 0}


def notifier(spec: dict[str, Any]) -> dict[str, Any]:
    """Per message (``batch`` 0): every queued notify message as its own event. Otherwise the first message's
    body repeated ``batch`` times in one event, timed by wall clock (the deliveries run concurrently)."""
    import shared.webhooks  # noqa: PLC0415
    from shared.storage import ReceivedMessage, StorageSettings, open_queue  # noqa: PLC0415
    from tools.devstack.worker import cloud_events  # noqa: PLC0415

    signed: list[tuple[bytes, str, int, bytes]] = []
    sign = shared.webhooks.signature_headers

    def capture(secret_or_secrets: Any, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
        first = secret_or_secrets[0] if isinstance(secret_or_secrets, list) else secret_or_secrets
        if not isinstance(first, shared.webhooks.WebhookSecret):
            first = shared.webhooks.WebhookSecret.parse(first)
        signed.append((first.key, msg_id, timestamp, body))
        return sign(secret_or_secrets, msg_id, timestamp, body)

    shared.webhooks.signature_headers = capture  # before the notifier imports the name
    index = _load("notifier")
    queue: Any = open_queue(StorageSettings.from_env(), "notify")
    messages: list[Any] = []
    while batch := queue.receive(max_messages=16, visibility_timeout=3600):
        messages.extend(batch)
    out: dict[str, Any] = {"cpu": [], "wall": [], "floor_per_delivery": [], "deliveries": []}
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
        signed.clear()
        start = time.process_time()
        index.handler(event, _Context())
        out["cpu"].append(time.process_time() - start)
        if not signed:
            raise SystemExit("the notifier signed no delivery")
        per_delivery = [floors.cpu_per_call(floors.notifier_delivery(*delivery)) for delivery in signed]
        out["floor_per_delivery"].append(sum(per_delivery) / len(per_delivery))
        out["deliveries"].append(len(signed))
    subscriber = floors.HttpExchange(json.loads(os.environ["KYC_WEBHOOKS"])[0]["url"], signed[-1][3])
    out["http_exchange_ms"] = floors.cpu_per_call(subscriber) * 1000
    subscriber.close()
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
