"""``DeadlineHttpClient``: the ``alibabacloud_oss_v2`` SDK's HTTP client over :mod:`shared.http_pool`, every exchange
of a store call under that call's one deadline (:class:`~shared.storage.call_deadline.CallDeadline`), and
``DeadlineRetryer``: the SDK's standard retries, cut to that deadline.

Imported by ``OssObjectStore`` when it builds its client (it subclasses the SDK's interfaces, so it imports the SDK):
never at a function's cold start.

Injection point: ``Config.http_client`` (alibabacloud_oss_v2/config.py: "The HTTP client to invoke API calls with");
``_SyncClientImpl._resolve_httpclient`` (alibabacloud_oss_v2/_client.py) keeps a client given there instead of
building its ``transport.RequestsHttpClient``, and ``_sent_http_request_once`` calls
``http_client.send(request, stream=..., readwrite_timeout=...)`` once per attempt, inside the retry loop of
``_sent_http_request`` (which asks ``Config.retryer``: ``DeadlineRetryer``).

Why not ``RequestsHttpClient`` with shorter timeouts: requests (urllib3) bounds each wait — the connect, then every
read of the socket, restarting with every byte that arrives — so an answer dripped slower than the read timeout
holds the call for as long as it drips. Here (:mod:`shared.http_deadline`) every wait is what is left of the call's
deadline, capped by the connect timeout (lookup, connect, TLS handshake) or the read/write timeout (each send or
read).

Kept from ``RequestsHttpClient`` (transport/requests_client.py), and checked against it on the same requests in
``tests/storage/test_oss_transport.py``:

* errors: a failure before the request is out (lookup, connect, TLS, sending) is ``exceptions.RequestError``, one
  after it (status line, headers, body; a passed deadline included) ``exceptions.ResponseError``: both are client
  errors the SDK's ``StandardRetryer`` retries (retry/error_retryable.py, ``ClientErrorRetryable``), as it retries
  requests' ``ConnectionError`` (→ ``RequestError``) and ``ReadTimeout`` (→ ``ResponseError``);
* ``stream=False``: the whole body is read in ``send``; ``stream=True`` (GetObject): ``read``/``iter_bytes`` read it
  later, on the connection still bound to the call's deadline;
* the answer's headers case-insensitive (the SDK's ``CaseInsensitiveDict``, requests' own), a repeated header's
  values joined with ``", "`` as urllib3 joins them; ``content`` before the body is read raises
  ``exceptions.ResponseNotReadError``; no redirect is followed (the SDK's default: ``enabled_redirect`` off);
* the body: bytes, text, a file object or an iterable of bytes (the SDK's CRC-64 ``TeeIterator``) with a
  ``Content-Length`` from ``len()`` or the file's size when it has one (requests' ``super_len``), else chunked; no
  body: ``Content-Length: 0`` except on GET and HEAD (requests' ``prepare_content_length``).

Different, at the transport level only (the method, target, the SDK's headers, signed or not, and the body are
the same, byte for byte): requests' session adds ``Accept: */*`` and ``Connection: keep-alive`` (HTTP/1.1 keeps the
connection open without it), which are not sent here; a certificate is checked against the system's CA store
(``ssl.create_default_context``, as the vendor client does), not certifi's bundle. Not supported, and never
configured by ``OssObjectStore``: proxies (``proxy_host``, and the ``HTTP(S)_PROXY`` variables requests reads),
``insecure_skip_verify``, ``enabled_redirect``.

A connection goes back to its pool only once its answer was read to the end (:meth:`ConnectionPool.finish`): one
cut off (the deadline, a reset) or closed before its end is closed, never reused.
"""

from __future__ import annotations

import http.client
import io
import os
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

from alibabacloud_oss_v2 import defaults, exceptions
from alibabacloud_oss_v2.retry import StandardRetryer
from alibabacloud_oss_v2.types import CaseInsensitiveDict, HttpClient, HttpRequest, HttpResponse, Retryer

from shared.http_deadline import CallDeadline, DeadlineHTTPConnection, close_exchange
from shared.http_pool import ConnectionPool, joined_headers

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any

MAX_IDLE_CONNECTIONS = 8
_SEND_ERRORS = (OSError, http.client.HTTPException)


class DeadlineRetryer(Retryer):  # type: ignore[misc]  # the SDK is untyped
    """The SDK's ``StandardRetryer`` (which errors are retried, the backoff between attempts) under the call's
    deadline: no retry once it has passed, and no backoff beyond it (an attempt started at the deadline fails at
    once, before connecting)."""

    def __init__(self, deadline: CallDeadline, max_attempts: int) -> None:
        self._deadline = deadline
        self._standard = StandardRetryer(max_attempts=max_attempts)

    def is_error_retryable(self, error: Exception) -> bool:
        left = self._deadline.time_left()
        return (left is None or left > 0) and bool(self._standard.is_error_retryable(error))

    def max_attempts(self) -> int:
        return int(self._standard.max_attempts())

    def retry_delay(self, attempt: int, error: Exception) -> float:
        delay = float(self._standard.retry_delay(attempt, error))
        left = self._deadline.time_left()
        return delay if left is None else min(delay, left)


class DeadlineHttpClient(HttpClient):  # type: ignore[misc]  # the SDK is untyped
    """``HttpClient`` over keep-alive pools (one per scheme, host and port), each exchange under the deadline of the
    call running on this thread. ``connect_timeout`` and ``read_timeout`` cap single steps within it (the SDK's
    ``readwrite_timeout`` send argument, when given, replaces ``read_timeout``)."""

    def __init__(
        self,
        deadline: CallDeadline,
        *,
        connect_timeout: float,
        read_timeout: float,
        max_idle: int = MAX_IDLE_CONNECTIONS,
        block_size: int = defaults.DEFAULT_BLOCK_SIZE,
    ) -> None:
        self.deadline = deadline
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_idle = max_idle
        self.block_size = block_size
        self._pools: dict[tuple[str, str, int | None], ConnectionPool] = {}
        self._lock = threading.Lock()

    def open(self) -> None:
        """Nothing to open: a pool is made at its endpoint's first request."""

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()

    def _route(self, url: str) -> tuple[ConnectionPool, str]:
        """The pool of ``url``'s endpoint, and the request target (path and query, as the SDK encoded them)."""
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise exceptions.RequestError(error=ValueError("the request URL is not an http(s) URL with a host"))
        key = (parts.scheme, parts.hostname, parts.port)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                pool = self._pools[key] = ConnectionPool(
                    parts.scheme, parts.hostname, parts.port, connect_timeout=self.connect_timeout,
                    read_timeout=self.read_timeout, max_idle=self.max_idle,
                )  # fmt: skip
        return pool, (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    def send(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        """One exchange. Order of effects: a pooled connection (bound to the call's deadline) or a new one, the
        request sent, the status line and headers read; with ``stream=False`` the whole body too (the connection
        then back to its pool, when the server keeps it open). A non-2xx status is an answer, not an error."""
        pool, target = self._route(request.url)
        conn = pool.acquire(self.deadline.current())
        if kwargs.get("connect_timeout"):
            conn.connect_timeout = float(kwargs["connect_timeout"])
        if kwargs.get("readwrite_timeout"):
            conn.read_timeout = float(kwargs["readwrite_timeout"])
        headers = {name: value for name, value in request.headers.items() if value is not None}
        body, length = _body(request.body)
        if body is None and request.method.upper() not in {"GET", "HEAD"}:
            length = 0
        if length is not None and not any(name.lower() == "content-length" for name in headers):
            headers["Content-Length"] = str(length)
        try:
            pool.connect(conn)
            conn.request(request.method, target, body=body, headers=headers)
        except _SEND_ERRORS as exc:
            conn.close()
            raise exceptions.RequestError(error=exc) from None
        except BaseException:  # the body's own reader failed: the request is half out, the connection unusable
            conn.close()
            raise
        try:
            response = conn.getresponse()
        except _SEND_ERRORS as exc:
            conn.close()
            raise exceptions.ResponseError(error=exc) from None
        answer = DeadlineHttpResponse(request, pool, conn, response, self.block_size)
        if not kwargs.get("stream", False):
            answer.read()
        return answer


class DeadlineHttpResponse(HttpResponse):  # type: ignore[misc]  # the SDK is untyped
    """The SDK's ``HttpResponse`` over an ``http.client`` answer whose connection is still bound to the call's
    deadline; :meth:`close` (also after the body was read) gives the connection back or closes it."""

    def __init__(
        self,
        request: HttpRequest,
        pool: ConnectionPool,
        conn: DeadlineHTTPConnection,
        response: http.client.HTTPResponse,
        block_size: int,
    ) -> None:
        self._request = request
        self._pool = pool
        self._conn = conn
        self._response = response
        self._block_size = block_size
        self._content: bytes | None = None
        self._is_closed = False
        self._is_stream_consumed = False
        self._headers = CaseInsensitiveDict(joined_headers(response))

    @property
    def request(self) -> HttpRequest:
        return self._request

    @property
    def status_code(self) -> int:
        return int(self._response.status)

    @property
    def headers(self) -> Any:
        return self._headers

    @property
    def reason(self) -> str:
        return str(self._response.reason)

    @property
    def is_closed(self) -> bool:
        return self._is_closed

    @property
    def is_stream_consumed(self) -> bool:
        return self._is_stream_consumed

    @property
    def content(self) -> bytes:
        if self._content is None:
            raise exceptions.ResponseNotReadError()
        return self._content

    def __enter__(self) -> DeadlineHttpResponse:
        return self

    def __exit__(self, *args: Any) -> None:
        self.close()

    def _failed(self, exc: BaseException) -> exceptions.ResponseError:
        """The body could not be read to the end: the connection may still carry the rest of it, so it is closed."""
        self._is_closed = True
        close_exchange(self._conn, self._response)
        return exceptions.ResponseError(error=exc)

    def read(self) -> bytes:
        if self._content is None:
            try:
                self._content = self._response.read()
            except _SEND_ERRORS as exc:
                raise self._failed(exc) from None
        self._is_stream_consumed = True
        self.close()
        return self._content

    def iter_bytes(self, **kwargs: Any) -> Iterator[bytes]:
        block_size = int(kwargs.get("block_size", self._block_size))
        if self._content is not None:
            for start in range(0, len(self._content), block_size):
                yield self._content[start : start + block_size]
            return
        while True:
            try:
                chunk = self._response.read(block_size)
            except _SEND_ERRORS as exc:
                raise self._failed(exc) from None
            if not chunk:
                if self._response.length:  # read(amt) ends a body cut off before its Content-Length silently
                    raise self._failed(http.client.IncompleteRead(b"", self._response.length))
                break
            yield chunk
        self._is_stream_consumed = True
        self.close()

    def close(self) -> None:
        if not self._is_closed:
            self._is_closed = True
            self._pool.finish(self._conn, self._response)


def _body(body: Any) -> tuple[Any, int | None]:
    """What to hand ``http.client`` for the SDK's request body, and its length when it can be known without reading
    it (as requests' ``super_len``: ``len()``, else a seekable file's remaining size); ``None`` length: chunked, or
    http.client's own rule (bytes and text: their length)."""
    if body is None or (isinstance(body, bytes | bytearray | str) and len(body) == 0):
        return None, None
    if isinstance(body, bytes | bytearray | memoryview | str):
        return body, None  # http.client measures them (text: encoded as ISO-8859-1, as requests sends it too)
    if hasattr(body, "__len__"):
        return body, len(body)
    if hasattr(body, "read") and hasattr(body, "seek") and hasattr(body, "tell"):
        try:
            here = body.tell()
            end = body.seek(0, os.SEEK_END)
            body.seek(here)
            return body, int(end) - int(here)
        except (OSError, ValueError, io.UnsupportedOperation):
            return body, None
    return body, None
