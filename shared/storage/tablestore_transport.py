"""``DeadlineTransport``: the Tablestore SDK's HTTP exchanges over :mod:`shared.http_pool`, every exchange of a store
call under that call's one deadline (:class:`~shared.storage.call_deadline.CallDeadline`).

Injection point: ``OTSClient`` sends every attempt of a call through its ``connection`` attribute,
``status, reason, headers, body = self.connection.send_receive(query, req_headers, req_body)``
(``OTSClient._request_helper`` in tablestore/client.py), and builds that attribute as
``tablestore.connection.ConnectionPool(self.host, self.path, ...)``, whose ``send_receive`` POSTs
``host + path + url`` with urllib3 and returns ``(response.status, response.reason, dict(response.headers),
response.data)`` (tablestore/connection.py). :class:`DeadlineTransport` is that object's stand-in, set on the client
right after it is built (``TablestoreTransactionStore._open``): encoding, signing, the answer's checks (Content-MD5,
the server's signature), decoding and the retry loop stay the SDK's own; only the bytes travel differently.

Why not urllib3 with shorter timeouts: its timeouts bound each wait (the connect, then every read of the socket),
and a read timeout restarts with every byte that arrives, so an answer dripped slower than the timeout never trips
it. Here (:mod:`shared.http_deadline`) every wait is what is left of the call's deadline, capped by the connect
timeout (lookup, connect, TLS handshake) or the read timeout (each send or read).

What differs from the SDK's urllib3 exchange: nothing in the request (method, target, every header and the body are
the same, byte for byte: urllib3 sends through ``http.client`` too; ``tests/storage/test_tablestore_transport.py``
compares them); an answer with a ``Content-Encoding`` is refused where urllib3 would decode it (neither asks for
one: ``Accept-Encoding: identity``); a certificate is checked against the system's CA store
(``ssl.create_default_context``, as the vendor client does), not certifi's bundle; a few idle connections are kept
(:class:`~shared.http_pool.ConnectionPool`, checked before reuse) instead of urllib3's pool of up to 500.
A failure is raised as it comes (``OSError``: ``TimeoutError`` for a passed deadline; ``http.client.HTTPException``):
the SDK does not retry those (only ``OTSServiceError``), and the store makes them a transient ``StorageError``.
The connection of an exchange that failed is closed, never reused.
"""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

from shared.http_deadline import CallDeadline, close_exchange
from shared.http_pool import ConnectionPool, joined_headers

MAX_IDLE_CONNECTIONS = 8


class DeadlineTransport:
    """Stands in for ``tablestore.connection.ConnectionPool``: ``host`` and ``path`` as the SDK gives them to it
    (``OTSClient.host``: ``scheme://netloc`` of the endpoint; ``OTSClient.path``: its path)."""

    def __init__(
        self,
        host: str,
        path: str,
        deadline: CallDeadline,
        *,
        connect_timeout: float,
        read_timeout: float,
        max_idle: int = MAX_IDLE_CONNECTIONS,
    ) -> None:
        parts = urlsplit(host)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("the Tablestore endpoint must be an http(s) URL with a host")
        self.path = path
        self.deadline = deadline
        self.pool = ConnectionPool(parts.scheme, parts.hostname, parts.port, connect_timeout=connect_timeout,
                                   read_timeout=read_timeout, max_idle=max_idle)  # fmt: skip

    def send_receive(
        self, url: str, request_headers: dict[str, str], request_body: bytes
    ) -> tuple[int, str, dict[str, str], bytes]:
        """One exchange, as ``tablestore.connection.ConnectionPool.send_receive``: POST ``path + url``; the whole
        answer read under the deadline of the call running on this thread. Order of effects: a pooled connection
        (bound to that deadline) or a new one, the request sent, status line, headers and body read; the
        connection back to the pool only when all of it arrived and the server keeps it open."""
        conn = self.pool.acquire(self.deadline.current())
        response: http.client.HTTPResponse | None = None
        try:
            self.pool.connect(conn)
            conn.request("POST", self.path + url, body=request_body, headers=request_headers)
            response = conn.getresponse()
            encoding = (response.getheader("Content-Encoding") or "identity").strip().lower()
            if encoding != "identity":  # urllib3 would decode it; we asked for identity (http.client's default)
                raise http.client.HTTPException("the answer has an unexpected Content-Encoding")
            body = response.read()
        except BaseException:
            close_exchange(conn, response)
            raise
        self.pool.finish(conn, response)
        return response.status, response.reason, joined_headers(response), body  # as urllib3's dict(headers)

    def close(self) -> None:
        self.pool.close()

