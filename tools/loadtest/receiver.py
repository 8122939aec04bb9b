"""A webhook subscriber for the load test: verifies Standard Webhooks signatures, misbehaves as told (seeded), and
records every request it saw, when, and what it answered.

Ways to misbehave (:class:`Behaviour`, each a share of the requests, drawn at random):

* ``fail_rate``: 503 without ``Retry-After`` (a healthy-but-flaky receiver);
* ``retry_after_rate``: 429 with ``Retry-After: <retry_after>`` (a receiver asking for a pause);
* ``drip_rate``: the status line one byte every ``drip_interval`` seconds, until the sender gives up (a receiver
  holding its delivery; the notifier's delivery deadline cuts it off and the attempt counts as failed).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from shared import jsonutil
from shared.webhooks import WebhookVerificationError, generate_secret, verify

MAX_DRIP_SECONDS = 30.0  # a drip ends by then even if the sender never gives up


@dataclass(frozen=True)
class Behaviour:
    fail_rate: float = 0.0
    retry_after_rate: float = 0.0
    retry_after: int = 8
    drip_rate: float = 0.0
    drip_interval: float = 0.5

    def describe(self) -> str:
        parts = []
        if self.fail_rate:
            parts.append(f"503 to {self.fail_rate:.0%}")
        if self.retry_after_rate:
            parts.append(f"429 Retry-After {self.retry_after}s to {self.retry_after_rate:.0%}")
        if self.drip_rate:
            parts.append(f"drips {self.drip_rate:.0%} (1 byte/{self.drip_interval}s)")
        return ", ".join(parts) or "healthy"


@dataclass(frozen=True)
class Attempt:
    at: float  # time.monotonic() when the request arrived
    answer: str  # "accepted", "refused" (503), "retry_after" (429), "dripped"
    retry_after: int | None = None


@dataclass
class Inbox:
    attempts: Counter[str] = field(default_factory=Counter)  # webhook-id -> requests (any answer)
    accepted: Counter[str] = field(default_factory=Counter)  # webhook-id -> 2xx answers
    refused: int = 0  # requests we chose not to accept (503, 429 or dripped)
    bad_signatures: int = 0
    events: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (merchantBizId, status) -> ids
    log: dict[str, list[Attempt]] = field(default_factory=dict)  # webhook-id -> attempts, in arrival order
    lock: threading.Lock = field(default_factory=threading.Lock)

    def delivered(self, merchant_biz_id: str, status: str) -> bool:
        with self.lock:
            ids = self.events.get((merchant_biz_id, status), set())
            return any(self.accepted[i] > 0 for i in ids)

    def history(self) -> dict[str, list[Attempt]]:
        with self.lock:
            return {msg_id: list(attempts) for msg_id, attempts in self.log.items()}


class WebhookReceiver:
    """``POST /hook`` on 127.0.0.1 (port 0), misbehaving as ``behaviour`` says (seeded)."""

    def __init__(self, name: str, *, behaviour: Behaviour, seed: int) -> None:
        self.name = name
        self.secret = generate_secret()
        self.behaviour = behaviour
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

    def _choose(self) -> str:
        b = self.behaviour
        with self._rng_lock:
            draw = self._rng.random()
        for answer, share in (("refused", b.fail_rate), ("retry_after", b.retry_after_rate), ("dripped", b.drip_rate)):
            if draw < share:
                return answer
            draw -= share
        return "accepted"

    def handle(self, headers: dict[str, str], body: bytes) -> Attempt | int:
        """The attempt recorded for a signed event, or the status of a request that is none (401, 400)."""
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
        answer = self._choose()
        attempt = Attempt(time.monotonic(), answer, self.behaviour.retry_after if answer == "retry_after" else None)
        with inbox.lock:
            inbox.attempts[msg_id] += 1
            inbox.events.setdefault(key, set()).add(msg_id)
            inbox.log.setdefault(msg_id, []).append(attempt)
            if answer == "accepted":
                inbox.accepted[msg_id] += 1
            else:
                inbox.refused += 1
        return attempt

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length > 0 else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                outcome = receiver.handle(headers, body)
                if isinstance(outcome, int):
                    self._answer(outcome)
                elif outcome.answer == "dripped":
                    self._drip()
                elif outcome.answer == "retry_after":
                    self._answer(429, {"retry-after": str(outcome.retry_after)})
                else:
                    self._answer(503 if outcome.answer == "refused" else 204)

            def _answer(self, status: int, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("content-length", "0")
                self.end_headers()

            def _drip(self) -> None:
                self.close_connection = True
                ends = time.monotonic() + MAX_DRIP_SECONDS
                try:
                    for byte in b"HTTP/1.1 204 No Content\r\n":
                        if time.monotonic() > ends:
                            return
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(receiver.behaviour.drip_interval)
                except OSError:  # the sender gave up: what the drip was for
                    return

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
