"""A small pool of keep-alive ``http.client`` connections to one endpoint (usually exactly one connection).

* Connect timeout and read timeout are applied separately: the socket gets the connect timeout while connecting
  (and the TLS handshake), then the read timeout for sending and waiting for the answer; both are cut to what is
  left of the caller's deadline (``budget``).
* An idle connection is checked before reuse: a socket that became readable while idle was closed (or reset) by the
  server, and one idle longer than ``idle_timeout`` may have been dropped silently by a NAT or load balancer. Both
  are replaced by a fresh connection *before* anything is written, so a stale connection never costs a request.
* ``ssl`` is imported only for https endpoints (cold start).
"""

from __future__ import annotations

import http.client
import select
import threading
import time
from collections.abc import Callable
from typing import Any

_ssl_context: Any = None
_ssl_lock = threading.Lock()


def _default_ssl_context() -> Any:
    global _ssl_context  # noqa: PLW0603 - one context per process: loading the CA bundle is expensive
    with _ssl_lock:
        if _ssl_context is None:
            import ssl  # noqa: PLC0415 - only https endpoints pay for it

            _ssl_context = ssl.create_default_context()
        return _ssl_context


def is_stale(conn: http.client.HTTPConnection) -> bool:
    """True when an idle connection cannot be reused: closed, or readable (EOF, reset or unexpected bytes)."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN | select.POLLPRI)
            return bool(poller.poll(0))
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable)
    except (OSError, ValueError):
        return True


class ConnectionPool:
    """Thread-safe: each request takes a connection out of the pool and gives it back when the answer was read."""

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int | None,
        *,
        connect_timeout: float,
        read_timeout: float,
        max_idle: int = 4,
        idle_timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.scheme = scheme
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_idle = max_idle
        self.idle_timeout = idle_timeout
        self._clock = clock
        self._idle: list[tuple[http.client.HTTPConnection, float]] = []
        self._lock = threading.Lock()
        self.connections_opened = 0  # for tests and diagnostics

    def acquire(self) -> http.client.HTTPConnection:
        """An idle, healthy connection, or a new unconnected one (call :meth:`connect`)."""
        discard: list[http.client.HTTPConnection] = []
        found: http.client.HTTPConnection | None = None
        with self._lock:
            while self._idle:
                conn, since = self._idle.pop()
                if self._clock() - since > self.idle_timeout or is_stale(conn):
                    discard.append(conn)
                    continue
                found = conn
                break
        for conn in discard:
            conn.close()
        if found is not None:
            return found
        if self.scheme == "https":
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=self.connect_timeout, context=_default_ssl_context()
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=self.connect_timeout)

    def connect(self, conn: http.client.HTTPConnection, *, budget: float | None = None) -> None:
        """Open ``conn`` if needed; afterwards its socket uses the read timeout. ``budget`` (seconds left of the
        caller's deadline) caps both timeouts; none left is a ``TimeoutError`` before anything is sent."""
        if budget is not None and budget <= 0:
            raise TimeoutError("the call's deadline has passed")
        cap = self.read_timeout if budget is None else budget
        if conn.sock is None:
            conn.timeout = min(self.connect_timeout, cap)
            conn.connect()
            with self._lock:
                self.connections_opened += 1
        assert conn.sock is not None
        conn.sock.settimeout(min(self.read_timeout, cap))

    def release(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self.max_idle:
                self._idle.append((conn, self._clock()))
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.close()
