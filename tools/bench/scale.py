"""6. Scale: complete flows per second through the local stack, and POST /verifications latency, at concurrency 1, 8
and 32.

The stack (``python -m tools.devstack.dev``: gateway + the four functions, queue worker, sandbox) runs in its own
process on free ports with the rate limit off (``KYC_RATE_LIMIT_PER_HOUR=0``), the sweeper off and logging at
CRITICAL. This process is the load generator and the webhook subscriber. One flow: ``POST /verifications`` (JWT) →
the sandbox's control API completes the transaction with ``pass`` → the sandbox calls back → result_fetcher runs
CheckResult and makes the row final → notify queue → notifier → signed webhook, which the subscriber receives with
status PASSED. At each concurrency ``c``, ``c`` threads run POST + complete for the level's flows; the level ends
when the subscriber has every flow's webhook. Flows per second = flows / (first POST → last webhook).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tools.bench.proc import PYTHON, ROOT, percentile
from tools.bench.stack import WEBHOOK_SECRET

JWT_SECRET = "bench-jwt-secret-0123456789abcdef0123456789"  # noqa: S105 - a benchmark fixture
LEVELS = (1, 8, 32)
BODY = json.dumps({"docType": "01000000", "metaInfo": '{"apdidToken":"x","appName":"web"}'}).encode()


class Subscriber(ThreadingHTTPServer):
    """The webhook subscriber: answers 204 and records when each merchantBizId was first delivered as PASSED."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self) -> None:
        self.delivered: dict[str, float] = {}
        self.cond = threading.Condition()
        subscriber = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                data = json.loads(body).get("data") or {}
                if data.get("status") == "PASSED":
                    with subscriber.cond:
                        subscriber.delivered.setdefault(data["merchantBizId"], time.perf_counter())
                        subscriber.cond.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"

    def wait_for(self, ids: set[str], timeout: float) -> dict[str, float]:
        with self.cond:
            if not self.cond.wait_for(lambda: ids <= self.delivered.keys(), timeout):
                missing = len(ids - self.delivered.keys())
                raise RuntimeError(f"{missing} of {len(ids)} flows were not delivered within {timeout:.0f} s")
            return {i: self.delivered[i] for i in ids}


@contextmanager
def stack(webhook_url: str) -> Iterator[tuple[str, str]]:
    """``python -m tools.devstack.dev`` on free ports in its own process; yields (API base URL, sandbox URL)."""
    with tempfile.TemporaryDirectory(prefix="kyc-bench-scale-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KYC_", "ALIBABA_CLOUD_", "CLOUDAUTH_"))}
        env.update({
            "PYTHONPATH": str(ROOT),
            "KYC_DATA_DIR": str(Path(tmp) / "data"),
            "KYC_JWT_SECRET": JWT_SECRET,
            "KYC_RATE_LIMIT_PER_HOUR": "0",
            "KYC_LOG_LEVEL": "CRITICAL",
            "KYC_WEBHOOKS": json.dumps([{"url": webhook_url, "secret": WEBHOOK_SECRET}]),
            "KYC_WEBHOOK_ALLOW_PRIVATE": "Y",
            "SANDBOX_QPS": "100000",
            "SANDBOX_ALLOW_HTTP_LOOPBACK_CALLBACKS": "Y",
        })
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and code
            [PYTHON, "-m", "tools.devstack.dev", "--port", "0", "--sandbox-port", "0", "--sweep-interval", "0"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            assert proc.stdout is not None
            banner = []
            for line in proc.stdout:
                banner.append(line)
                if "cloudauth endpoint" in line:
                    break
            text = "".join(banner)
            api = re.search(r"API\s+(http://\S+)/verifications", text)
            sandbox = re.search(r"cloudauth endpoint\s+(http://\S+)", text)
            assert proc.stderr is not None
            if not (api and sandbox):
                proc.kill()
                raise RuntimeError(f"dev stack did not start: {text[-1000:]}{proc.stderr.read()[-2000:]}")
            for stream in (proc.stdout, proc.stderr):  # drain, so a full pipe never blocks the stack
                threading.Thread(target=stream.read, daemon=True).start()
            yield api.group(1), sandbox.group(1)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


class _Client(threading.local):
    """One keep-alive connection per thread and host."""

    def __init__(self) -> None:
        self.conns: dict[str, http.client.HTTPConnection] = {}

    def request(self, base: str, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        for attempt in (1, 2):
            conn = self.conns.get(base)
            if conn is None:
                parts = urlsplit(base)
                conn = self.conns[base] = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
            try:
                conn.request(method, path, body, headers)
                response = conn.getresponse()
                return response.status, response.read()
            except (ConnectionError, http.client.HTTPException):
                conn.close()
                del self.conns[base]
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def _level(api: str, sandbox: str, subscriber: Subscriber, concurrency: int, flows: int, token: str,
           timeout: float) -> dict[str, Any]:
    client = _Client()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    complete_body = json.dumps({"outcome": "pass"}).encode()

    def flow(index: int) -> tuple[str, float, float]:
        start = time.perf_counter()
        status, body = client.request(api, "POST", "/verifications", BODY, headers)
        latency = time.perf_counter() - start
        if status != 201:
            raise RuntimeError(f"POST /verifications answered {status}")
        created = json.loads(body)
        status, _answer = client.request(sandbox, "POST", f"/_sandbox/transactions/{created['transactionId']}/complete",
                                   complete_body, {"Content-Type": "application/json"})
        if status != 200:
            raise RuntimeError(f"sandbox complete answered {status}")
        return created["merchantBizId"], start, latency

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(flow, range(flows)))
    delivered = subscriber.wait_for({mbid for mbid, _, _ in results}, timeout)
    wall = max(delivered.values()) - started
    posts = [latency for _, _, latency in results]
    e2e = [delivered[mbid] - start for mbid, start, _ in results]
    return {
        "concurrency": concurrency,
        "flows": flows,
        "wall_s": wall,
        "flows_per_s": flows / wall,
        "post_p50_ms": percentile(posts, 50) * 1000,
        "post_p99_ms": percentile(posts, 99) * 1000,
        "flow_p50_ms": percentile(e2e, 50) * 1000,
        "flow_p99_ms": percentile(e2e, 99) * 1000,
    }


def run(flows_per_level: dict[int, int], warmup: int = 3, timeout: float = 120.0) -> dict[str, Any]:
    from shared.auth import issue_token  # noqa: PLC0415 - the load generator's only project import

    token = issue_token("bench-scale-user", JWT_SECRET, ttl=3600)
    subscriber = Subscriber()
    try:
        with stack(subscriber.url) as (api, sandbox):
            _level(api, sandbox, subscriber, 1, warmup, token, timeout)  # first calls pay one-time costs
            levels = [_level(api, sandbox, subscriber, c, flows_per_level[c], token, timeout) for c in LEVELS]
    finally:
        subscriber.shutdown()
    return {"levels": levels, "max_flows_per_s": max(level["flows_per_s"] for level in levels)}
