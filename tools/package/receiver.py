"""The webhook subscriber of the package scenarios: records every POST; ``/ok`` answers 204, any other path 503.

Kept apart from the service doubles (``tools.doubles``): a subscriber is the merchant's server, not an Alibaba Cloud
service. The notifier's signatures are checked by the scenario with the Standard Webhooks reference library.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes


class WebhookReceiver:
    """On ``127.0.0.1:<free port>`` from construction until ``close()``: ``/ok`` answers 204; every other path
    answers 503 with ``Retry-After: 1`` (a subscriber that refuses, for the retry path)."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.deliveries.append(
                        Delivery(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                if self.path == "/ok":
                    self._answer(204, b"", {})
                else:
                    self._answer(503, b"busy", {"Retry-After": "1", "Content-Type": "text/plain"})

            def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)
