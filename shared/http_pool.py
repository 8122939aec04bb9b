"""A small pool of keep-alive ``http.client`` connections to one endpoint (usually exactly one connection), every
exchange under one deadline. Users: the vendor client (:mod:`shared.cloudauth.client`) and the Tablestore and OSS
transports (:mod:`shared.storage.tablestore_transport`, :mod:`shared.storage.oss_transport`).

* Every request runs against the **call's deadline** (:mod:`shared.http_deadline`): connect, TLS handshake,
  sending, the status line and headers and the whole body each wait at most for what is left of it, so an answer
  dripped one byte at a time ends at the deadline, not at a read timeout that restarts with every byte. Within it,
  the connect timeout caps the lookup, each connect and the handshake; the read timeout caps each send or read.
* A connection outlives the call that opened it: :meth:`ConnectionPool.acquire` binds it to the deadline of the
  call that takes it, never the one it was opened under. A connection whose exchange failed (a passed deadline
  included) is closed, never released: only a connection whose answer was read to the end returns
  (:meth:`ConnectionPool.finish`).
* An idle connection is checked before reuse: a socket that became readable while idle was closed (or reset) by the
  server, and one idle longer than ``idle_timeout`` may have been dropped silently by a NAT or load balancer. Both
  are replaced by a fresh connection *before* anything is written, so a stale connection never costs a request.
* The TLS context (``ssl.create_default_context()``) is built at the first https connection (cold start).
"""

from __future__ import annotations

import http.client
import select
import threading
import time
from collections.abc import Callable

from shared.http_deadline import Deadline, DeadlineHTTPConnection, DeadlineHTTPSConnection, close_exchange


def is_stale(conn: DeadlineHTTPConnection) -> bool:
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
        self._idle: list[tuple[DeadlineHTTPConnection, float]] = []
        self._lock = threading.Lock()
        self.connections_opened = 0  # for tests and diagnostics

    def acquire(self, deadline: Deadline) -> DeadlineHTTPConnection:
        """An idle, healthy connection, or a new unconnected one (call :meth:`connect`); either way bound to
        ``deadline``, the deadline of the call about to use it."""
        discard: list[DeadlineHTTPConnection] = []
        found: DeadlineHTTPConnection | None = None
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
            found.bind(deadline)
            return found
        connection_class = DeadlineHTTPSConnection if self.scheme == "https" else DeadlineHTTPConnection
        return connection_class(self.host, self.port, deadline, connect_timeout=self.connect_timeout,
                                read_timeout=self.read_timeout)  # fmt: skip

    def connect(self, conn: DeadlineHTTPConnection) -> None:
        """Open ``conn`` if it is not open. A passed deadline is a ``TimeoutError`` before anything is sent, also for
        a pooled connection."""
        conn.deadline.remaining()
        if conn.sock is None:
            conn.connect()
            with self._lock:
                self.connections_opened += 1

    def release(self, conn: DeadlineHTTPConnection) -> None:
        """Keep ``conn`` for the next call: only after its answer was read to the end and the server keeps it open."""
        with self._lock:
            if len(self._idle) < self.max_idle:
                self._idle.append((conn, self._clock()))
                return
        conn.close()

    def finish(self, conn: DeadlineHTTPConnection, response: http.client.HTTPResponse | None) -> None:
        """The end of an exchange on ``conn``: back to the pool when ``response`` was read to the end and the server
        keeps the connection open; otherwise (an answer cut off, unread, or ``Connection: close``) both are closed,
        so a connection that may still carry the rest of an answer is never reused."""
        if response is None or response.will_close or not response.isclosed():
            close_exchange(conn, response)
        else:
            self.release(conn)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.close()


def joined_headers(response: http.client.HTTPResponse) -> dict[str, str]:
    """The answer's headers as urllib3 hands them to requests and the SDKs (``HTTPHeaderDict``): names as sent
    (the first spelling of each), a repeated header's values joined with ``", "``."""
    headers: dict[str, str] = {}
    spelled: dict[str, str] = {}
    for name, value in response.getheaders():
        key = spelled.setdefault(name.lower(), name)
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers
