"""A webhook subscriber for the load test: verifies Standard Webhooks signatures, fails a share of requests with
503 at random, and records every ``webhook-id`` it saw, accepted or not."""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from shared import jsonutil
from shared.webhooks import WebhookVerificationError, generate_secret, verify


@dataclass
class Inbox:
    attempts: Counter[str] = field(default_factory=Counter)  # webhook-id -> requests (any answer)
    accepted: Counter[str] = field(default_factory=Counter)  # webhook-id -> 2xx answers
    refused: int = 0  # 503s we chose to answer
    bad_signatures: int = 0
    events: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (merchantBizId, status) -> ids
    lock: threading.Lock = field(default_factory=threading.Lock)

    def delivered(self, merchant_biz_id: str, status: str) -> bool:
        with self.lock:
            ids = self.events.get((merchant_biz_id, status), set())
            return any(self.accepted[i] > 0 for i in ids)


class WebhookReceiver:
    """``POST /hook`` on 127.0.0.1 (port 0). ``fail_rate`` of the requests get 503 (seeded, no Retry-After)."""

    def __init__(self, name: str, *, fail_rate: float, seed: int) -> None:
        self.name = name
        self.secret = generate_secret()
        self.fail_rate = fail_rate
        self.inbox = Inbox()
        self._rng = random.Random(seed)  # noqa: S311 - reproducible failures, not security
        self._rng_lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def subscriber(self) -> dict[str, Any]:
        return {"url": self.url, "secret": self.secret, "includePii": False}

    def start(self) -> WebhookReceiver:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"hook-{self.name}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
            self._thread = None
        self._server.server_close()

    def _fail_this_one(self) -> bool:
        with self._rng_lock:
            return self._rng.random() < self.fail_rate

    def handle(self, headers: dict[str, str], body: bytes) -> int:
        inbox = self.inbox
        msg_id = headers.get("webhook-id", "")
        try:
            verify([self.secret], headers, body)
        except WebhookVerificationError:
            with inbox.lock:
                inbox.bad_signatures += 1
            return 401
        try:
            event = jsonutil.loads(body)
            data = event["data"]
            key = (str(data["merchantBizId"]), str(data["status"]))
        except (jsonutil.JSONDecodeError, KeyError, TypeError):
            return 400
        fail = self._fail_this_one()
        with inbox.lock:
            inbox.attempts[msg_id] += 1
            inbox.events.setdefault(key, set()).add(msg_id)
            if fail:
                inbox.refused += 1
            else:
                inbox.accepted[msg_id] += 1
        return 503 if fail else 204

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length > 0 else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = receiver.handle(headers, body)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
