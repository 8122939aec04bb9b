"""One deadline for a whole HTTP exchange over ``http.client``: name lookup, connect, TLS handshake, sending, the
status line and headers, and the body.

Why a timeout per read is not a deadline: a socket timeout bounds *one* wait, and ``http.client`` reads an answer
in many waits (a line, a header, a buffer of body), each starting the timeout afresh. A peer that sends one byte
every (timeout − ε) seconds never trips it and holds the exchange for as long as it keeps dripping. Here every
blocking step re-arms the socket's timeout with what is left of one :class:`Deadline` (capped by the step's own
timeout when one is given), so the exchange ends by the deadline whatever the peer does. A passed deadline is a
``TimeoutError`` (an ``OSError``), raised before the step that would have waited.

Each step and its bound:

* name lookup: a helper thread when the host is a name (``getaddrinfo`` has no timeout of its own; a lookup that
  outlives the deadline ends its thread only when the system resolver gives up);
* connect: each address in turn, each with what is left;
* TLS handshake: one timeout for all its round trips (``ssl`` runs the handshake under its own deadline);
* send: ``sendall``'s timeout bounds the whole call (Python 3.5+);
* status line, headers, body: every read of the socket.

:class:`CallDeadline` carries one deadline from a call to the exchanges made during it, through the thread it runs
on, when an SDK stands in between (Tablestore, OSS).

Users: :mod:`shared.delivery` (one connection per webhook POST, pinned to a checked address),
:mod:`shared.http_pool` (a keep-alive pool: :meth:`DeadlineHTTPConnection.bind` puts a reused connection under
the current call's deadline; the vendor client and the Tablestore and OSS transports) and :mod:`shared.storage.mns`
(one connection per call). The default TLS context
(loading the CA bundle takes milliseconds) is built when an https connection first needs it, not at import.
"""

from __future__ import annotations

import http.client
import io
import math
import socket
import threading
import time
from collections.abc import Callable

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any

    AddrInfo = list[tuple[Any, Any, Any, Any, Any]]



class Deadline:
    """One clock for a whole exchange: each blocking step is given what is left of it as its timeout."""

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.expires_at = clock() + seconds

    def remaining(self) -> float:
        """Seconds left; raises ``TimeoutError`` once the deadline has passed."""
        left = self.expires_at - self._clock()
        if left <= 0:
            raise TimeoutError("deadline passed")
        return left


class CallDeadline:
    """One deadline per call, ``seconds`` long, handed from whoever opens the call (:meth:`running`) to the exchanges
    made during it (:meth:`current`) through the thread the call runs on.

    For calls made through an SDK that owns the path from the caller to the HTTP exchange (encoding, signing, its
    retry loop) and passes no context of ours through it, but runs the whole call on one thread (the Tablestore and
    OSS sync clients): :mod:`shared.storage.tablestore_transport`, :mod:`shared.storage.oss_transport`."""

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds) \
                or seconds <= 0:  # fmt: skip
            raise ValueError("a call deadline must be a positive number of seconds")
        self.seconds = float(seconds)
        self._clock = clock
        self._local = threading.local()

    def running(self) -> _Running:
        """A call on this thread, ``seconds`` from now. Inside a call already (a store method that reads an answer's
        body after the request that fetched it), the call's deadline stands: one deadline, not a fresh one."""
        return _Running(self)

    def current(self) -> Deadline:
        """The deadline of the call running on this thread; outside any (the SDK's client used on its own), a fresh
        one for this exchange alone: never no deadline."""
        deadline: Deadline | None = getattr(self._local, "deadline", None)
        return deadline if deadline is not None else Deadline(self.seconds, clock=self._clock)

    def time_left(self) -> float | None:
        """Seconds left of the call running on this thread (0 once it has passed), ``None`` outside a call."""
        deadline: Deadline | None = getattr(self._local, "deadline", None)
        if deadline is None:
            return None
        try:
            return deadline.remaining()
        except TimeoutError:
            return 0.0


class _Running:
    """What :meth:`CallDeadline.running` returns: enters the deadline of a call on this thread (the outer call's when
    one is running) and, when it opened it, ends it on exit (a plain class: no ``contextlib`` at start)."""

    __slots__ = ("_call", "_opened")

    def __init__(self, call: CallDeadline) -> None:
        self._call = call
        self._opened = False

    def __enter__(self) -> Deadline:
        call = self._call
        outer: Deadline | None = getattr(call._local, "deadline", None)
        if outer is not None:
            return outer
        deadline = Deadline(call.seconds, clock=call._clock)
        call._local.deadline = deadline
        self._opened = True
        return deadline

    def __exit__(self, *exc_info: object) -> None:
        if self._opened:
            self._call._local.deadline = None


def _getaddrinfo(host: str, port: int) -> AddrInfo:
    try:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError:  # a name the resolver cannot encode (empty or over-long label): an OSError, like a lookup
        raise socket.gaierror(socket.EAI_NONAME, "host name cannot be encoded") from None


def lookup(host: str, port: int, timeout: float | None = None) -> AddrInfo:
    """``getaddrinfo`` for a stream socket; with ``timeout``, a name still unresolved after that many seconds raises
    ``TimeoutError`` (an address literal is answered at once, without a thread)."""
    if timeout is None:
        return _getaddrinfo(host, port)
    try:  # an address literal needs no lookup (AI_NUMERICHOST fails at once for a name; no ipaddress import)
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError):  # a name (UnicodeError: one that cannot be encoded, refused below)
        pass
    outcome: list[AddrInfo | OSError] = []

    def resolve() -> None:
        try:
            outcome.append(_getaddrinfo(host, port))
        except OSError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=resolve, name="dns-lookup", daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        raise TimeoutError("name lookup timed out")
    if isinstance(outcome[0], OSError):
        raise outcome[0]
    return outcome[0]


_tls_context: Any = None
_tls_lock = threading.Lock()


def default_tls_context() -> Any:
    """The process's ``ssl.create_default_context()`` (certificate and host name checked), built on first use."""
    global _tls_context  # noqa: PLW0603 - one context per process: loading the CA bundle costs milliseconds
    with _tls_lock:
        if _tls_context is None:
            import ssl  # noqa: PLC0415 - http.client has loaded it already; here for the name

            _tls_context = ssl.create_default_context()
        return _tls_context


class _DeadlineReader(io.RawIOBase):
    def __init__(self, owner: DeadlineSocket) -> None:
        self._owner = owner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        sock = self._owner.sock
        sock.settimeout(self._owner.next_timeout())
        return sock.recv_into(buffer)

    def close(self) -> None:
        if not self.closed:
            super().close()
            self._owner.release_reader()


class DeadlineSocket:
    """The socket as ``http.client`` uses it (``sendall``, ``makefile``, ``close``; ``fileno`` for a pool's check
    of an idle connection), every wait armed with ``next_timeout()``: what is left of the deadline *now*, not a
    timeout that restarts with every byte that arrives.

    As with ``socket.makefile``, closing it while a reader it made is open (``http.client`` closes the connection
    of a ``Connection: close`` answer before its body is read) closes the socket only when that reader is closed.
    """

    def __init__(self, sock: socket.socket, next_timeout: Callable[[], float]) -> None:
        self.sock = sock
        self.next_timeout = next_timeout
        self._readers = 0
        self._closed = False

    def sendall(self, data: bytes) -> None:
        self.sock.settimeout(self.next_timeout())
        self.sock.sendall(data)

    def makefile(self, mode: str, *args: Any, **kwargs: Any) -> io.BufferedReader:
        self._readers += 1
        return io.BufferedReader(_DeadlineReader(self))

    def fileno(self) -> int:
        return self.sock.fileno()

    def release_reader(self) -> None:
        self._readers -= 1
        if self._closed and self._readers <= 0:
            self.sock.close()

    def close(self) -> None:
        self._closed = True
        if self._readers <= 0:
            self.sock.close()


def close_exchange(conn: http.client.HTTPConnection, response: http.client.HTTPResponse | None) -> None:
    """Close ``conn`` and the ``response`` being read from it. Both: once ``http.client`` has let go of the socket of a
    ``Connection: close`` answer, only the response's reader holds it open, and an error that keeps the response
    reachable (its traceback) would keep the peer's connection open with it."""
    if response is not None:
        response.close()
    conn.close()


def read_at_most(response: http.client.HTTPResponse, max_bytes: int) -> bytes:
    """The body of ``response``, up to ``max_bytes + 1`` bytes (one more than allowed tells the caller it is too
    large). A body cut off before its ``Content-Length`` (the peer closed mid-body: a load balancer's idle cut, a
    restart) raises ``http.client.IncompleteRead``, as a plain ``read()`` would: ``read(amt)`` returns it short, with
    no error, and the cut would pass for a whole (and then malformed) answer."""
    data = response.read(max_bytes + 1)
    if response.length and len(data) <= max_bytes:
        raise http.client.IncompleteRead(data, response.length)
    return data


class DeadlineHTTPConnection(http.client.HTTPConnection):
    """An ``http.client`` connection whose every blocking step waits at most for what is left of ``deadline``, and
    at most ``connect_timeout`` for the lookup, each connect and the TLS handshake, ``read_timeout`` for each send
    or read, when given. ``addresses`` (default: ``host``) are where it connects; the Host header keeps ``host``.

    Order of effects of :meth:`connect`: lookup of each of ``addresses``, a TCP connection to the first address
    that accepts (each attempt waits at most for its share of what is left, so one address that never answers
    cannot use up the time of those after it), (https) the TLS handshake checking ``host``'s certificate; a passed
    deadline raises ``TimeoutError`` before the next step. Nothing is retried here: the caller owns its retry
    policy."""

    def __init__(
        self,
        host: str,
        port: int | None,
        deadline: Deadline,
        *,
        addresses: tuple[str, ...] = (),
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
    ) -> None:
        super().__init__(host, port)
        self.deadline = deadline
        self.addresses = addresses or (self.host,)
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout

    def bind(self, deadline: Deadline) -> None:
        """Run what comes next (the next request on a kept-alive connection) against ``deadline``."""
        self.deadline = deadline

    def _step_timeout(self, cap: float | None) -> float:
        left = self.deadline.remaining()  # raises once the deadline has passed
        return left if cap is None else min(cap, left)

    def _read_timeout(self) -> float:
        return self._step_timeout(self.read_timeout)

    def _open(self) -> socket.socket:
        """A TCP connection to one of ``addresses``: the lookups, then each address in turn, within the deadline."""
        infos = [info for address in self.addresses
                 for info in lookup(address, self.port, self._step_timeout(self.connect_timeout))]  # fmt: skip
        error: OSError = OSError("no address")
        for index, (family, kind, proto, _, sockaddr) in enumerate(infos):
            timeout = self._step_timeout(self.connect_timeout)
            timeout = min(timeout, self.deadline.remaining() / (len(infos) - index))  # its share of what is left
            sock = None
            try:  # a family this machine cannot open (no IPv6) fails here too: the next address is tried
                sock = socket.socket(family, kind, proto)
                sock.settimeout(timeout)
                sock.connect(sockaddr)
            except OSError as exc:
                if sock is not None:
                    sock.close()
                error = exc
                continue
            try:  # noqa: SIM105 - as http.client does: no Nagle delay between headers and body (no contextlib)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            return sock
        raise error

    def connect(self) -> None:
        self.sock = DeadlineSocket(self._open(), self._read_timeout)


class DeadlineHTTPSConnection(DeadlineHTTPConnection):
    """:class:`DeadlineHTTPConnection` over TLS; ``tls_context`` defaults to :func:`default_tls_context`."""

    default_port = http.client.HTTPS_PORT

    def __init__(
        self,
        host: str,
        port: int | None,
        deadline: Deadline,
        *,
        addresses: tuple[str, ...] = (),
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        tls_context: Any = None,
    ) -> None:
        super().__init__(host, port, deadline, addresses=addresses, connect_timeout=connect_timeout,
                         read_timeout=read_timeout)  # fmt: skip
        self.tls_context = tls_context

    def connect(self) -> None:
        raw = self._open()
        try:
            raw.settimeout(self._step_timeout(self.connect_timeout))  # one timeout for the handshake's round trips
            context = self.tls_context if self.tls_context is not None else default_tls_context()
            tls = context.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise
        self.sock = DeadlineSocket(tls, self._read_timeout)
