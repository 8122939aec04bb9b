"""The floor of each handler's unavoidable work, for its warm-CPU ratio (measured in the handler's own process).

A warm invocation cannot cost less than the work its answer is made of; each floor is that work done with the
standard library on the same data the handler just handled (captured in ``host.py``), timed right after the
handler call in the same process, so both see the same machine at the same moment. The ratio handler ÷ floor is
what is judged; the milliseconds are shown only.

* **result_fetcher** (per callback): ``json.loads`` of the CheckResult answer's body as received, ``json.loads`` of
  every JSON document the vendor nests in it as a string (``ExtIdInfo``, ``ExtFaceInfo``, ``ocrIdInfo``...), and
  ``base64.b64decode(..., validate=True)`` of every image in it (the keys of ``shared.results.images.IMAGE_KEYS``).
* **initializer** (per ``POST /verifications``): one HMAC-SHA256 over the bearer token's signing input (the JWT
  check every request needs), ``json.loads`` of the request body and ``json.dumps`` of the answer's document.
* **notifier** (per delivery): one Standard Webhooks signature (HMAC-SHA256 of ``msg_id.timestamp.body``, then
  base64) and ``json.dumps`` of the delivered document (the body the notifier signed, decoded beforehand).

Not in these floors, though unavoidable too: the network round trips (vendor API, webhook POST) and the storage
writes; they are part of what the ratio measures. As information only, ``http_exchange`` measures one keep-alive
HTTP/1.1 exchange over loopback with ``http.client`` (client side: request out, answer read), which the bench adds
to the initializer's floor (one vendor call) and to each delivery's floor, to show how much of the ratio is I/O.

A floor of a few microseconds is below the clock's useful resolution for one call: ``cpu_per_call`` repeats it
until at least ``MIN_CPU_SECONDS`` of CPU time has passed and divides.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from shared.results.images import IMAGE_KEYS

MIN_CPU_SECONDS = 0.002


def cpu_per_call(fn: Callable[[], object], min_seconds: float = MIN_CPU_SECONDS) -> float:
    """CPU seconds (``time.process_time``) per call of ``fn``, repeated until ``min_seconds`` have passed."""
    calls, start = 0, time.process_time()
    while True:
        fn()
        calls += 1
        elapsed = time.process_time() - start
        if elapsed >= min_seconds:
            return elapsed / calls


def _decode_nested(value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str):
                if key in IMAGE_KEYS:
                    base64.b64decode(item, validate=True)
                elif item[:1] in ("{", "["):
                    try:
                        nested = json.loads(item)
                    except ValueError:
                        continue
                    _decode_nested(nested)
            else:
                _decode_nested(item)
    elif isinstance(value, list):
        for item in value:
            _decode_nested(item)


def result_fetcher(check_result_body: bytes) -> Callable[[], object]:
    """The decoding floor of one CheckResult answer (see the module docstring)."""
    return lambda: _decode_nested(json.loads(check_result_body))


def initializer(token: str, secret: str, request_body: bytes, answer_body: str) -> Callable[[], object]:
    signing_input = token.rpartition(".")[0].encode()
    key = secret.encode()
    answer = json.loads(answer_body)

    def floor() -> object:
        hmac.new(key, signing_input, hashlib.sha256).digest()
        json.loads(request_body)
        return json.dumps(answer)

    return floor


def notifier_delivery(key: bytes, msg_id: str, timestamp: int, body: bytes) -> Callable[[], object]:
    document = json.loads(body)
    prefix = f"{msg_id}.{timestamp}.".encode()

    def floor() -> object:
        json.dumps(document)
        return base64.b64encode(hmac.new(key, prefix + body, hashlib.sha256).digest())

    return floor


class HttpExchange:
    """One kept-alive connection to ``url``; calling it does one request (``body`` POSTed, or a GET without one)
    and reads the whole answer."""

    def __init__(self, url: str, body: bytes | None = None) -> None:
        parts = urlsplit(url)
        self._target = parts.path or "/"
        self._body = body
        self._conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=10)

    def __call__(self) -> object:
        method = "GET" if self._body is None else "POST"
        headers = {"Content-Type": "application/json"} if self._body is not None else {}
        self._conn.request(method, self._target, body=self._body, headers=headers)
        return self._conn.getresponse().read()

    def close(self) -> None:
        self._conn.close()
