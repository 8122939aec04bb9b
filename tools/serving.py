"""What the tools' local HTTP servers share (the sandbox, the wire-level doubles, the operator console): a threaded
server that takes bursts of clients and shrugs off clients that hang up, and serving until Ctrl-C or SIGTERM."""

from __future__ import annotations

import contextlib
import io
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

#: What a client that hung up (its timeout, an injected drop, a closed browser tab) raises in its thread.
CLIENT_GONE = (BrokenPipeError, ConnectionResetError, TimeoutError)


class LocalHTTPServer(ThreadingHTTPServer):
    """A thread per connection, daemon threads (they never hold the process up), a restart may bind the port again
    at once, and a listen backlog of 128 (the default, 5, resets concurrent clients at accept)."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], CLIENT_GONE):  # normal here; anything else is still reported
            return
        super().handle_error(request, client_address)


def interruptible() -> None:
    """Make SIGINT raise ``KeyboardInterrupt`` again in a process that inherited it ignored; call it first thing in
    the ``__main__`` of a tool that runs until stopped (``./scripts/kyc``, whose ``console`` serves until Ctrl-C).

    A shell without job control (a script) starts its background jobs with SIGINT ignored, so that a Ctrl-C typed
    at the terminal, which reaches the whole foreground process group, interrupts the script's foreground command
    only. Python then installs no handler of its own, and ``./scripts/kyc console &`` in a script, stopped with
    ``kill -INT`` as our tests and scripts do, would run on. Decision: our servers stop on SIGINT whatever they
    inherited (as :func:`stop_requested` does for the dev stack, the sandbox and the doubles): it is their
    documented way to stop ("Ctrl-C stops it"), and a Ctrl-C that ends the script that started one should not leave
    it holding its port. The cost: a SIGINT ignored on purpose (``trap '' INT``) cannot be told from the shell's
    and is overridden too; a tool meant to outlive Ctrl-C is started in a session of its own (``setsid``). SIGTERM
    stops them either way. Only the main thread may set handlers: elsewhere this does nothing."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def stop_requested() -> threading.Event:
    """An event set on SIGINT or SIGTERM. The handlers are installed by this call: make it before announcing that
    the server is ready, since a launcher may stop it as soon as it reads that. They replace a SIGINT inherited as
    ignored, on purpose (see :func:`interruptible`)."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop


def local_url(host: str, port: int) -> str:
    """The base URL a client on this machine uses for a server bound to ``host:port``: a wildcard address is reached
    on loopback, an IPv6 address goes in brackets."""
    shown = host if host not in ("", "0.0.0.0", "::") else "127.0.0.1"  # noqa: S104 - naming, not binding
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


_LOOPBACK_BINDS = frozenset({"127.0.0.1", "localhost", "::1", ""})


def answers_host(host_header: str | None, bound_host: str, port: int, *, also: Iterable[str] = ()) -> bool:
    """Whether a server bound to ``bound_host:port`` should answer a request whose ``Host`` is ``host_header``. On
    loopback (the tools' default) only its own names do — ``127.0.0.1``, ``localhost``, ``[::1]`` with the port —
    and ``also`` (``host[:port]`` of a public URL in front of it: a tunnel): a web page the developer visits can
    point a name of its own at 127.0.0.1 (DNS rebinding) and read the answers under that name, never under these.
    A server bound elsewhere was exposed on purpose and answers any name."""
    if bound_host not in _LOOPBACK_BINDS and not bound_host.startswith("127."):
        return True
    host = (host_header or "").strip().lower()
    return host in _own_names(bound_host, port) or _is_one_of(host, also)


#: Headers a reverse proxy or tunnel adds (RFC 9110's ``Via``, RFC 7239's ``Forwarded``, the de-facto
#: ``X-Forwarded-*``, ``X-Real-IP``): a request that carries one came through a proxy, whatever its ``Host`` says (a
#: tunnel may rewrite it to the local address: ngrok's ``--host-header=rewrite``, cloudflared's ``httpHostHeader``). A
#: browser or curl on this machine sends none of them. A front that rewrites ``Host`` and adds none of them either
#: (nginx's bare ``proxy_pass``) is not told apart from this machine (README, "Against the real vendor").
PROXY_HEADERS = ("via", "forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip")


def through_tunnel(headers: Message, bound_host: str, port: int, *, also: Iterable[str] = ()) -> bool:
    """Whether a request came through a proxy in front of the server (a tunnel: ``also`` names its public host), not
    from this machine under one of the server's own loopback names. Through a tunnel a local server serves only what
    that URL is for (the vendor's callbacks, the sandbox's verification pages): anyone on the internet may reach it.
    ``headers``: the request's (``http.server``'s, any name case)."""
    if any(headers.get(name) is not None for name in PROXY_HEADERS):
        return True
    host = (headers.get("host") or "").strip().lower()
    return host not in _own_names(bound_host, port) and _is_one_of(host, also)


def _own_names(bound_host: str, port: int) -> set[str]:
    names = {"127.0.0.1", "localhost", "[::1]", bound_host}
    return {f"{name}:{port}" for name in names} | (names if port == 80 else set())  # clients leave out port 80


def _is_one_of(host: str, public: Iterable[str]) -> bool:
    return without_default_port(host) in {without_default_port(name.lower()) for name in public}


def without_default_port(host: str) -> str:
    """``host[:port]`` without a port that is its scheme's default (80, 443): clients leave it out of ``Host`` and
    ``Origin``, so ``abc.example:443`` and ``abc.example`` name the same tunnel."""
    for default in (":80", ":443"):
        if host.endswith(default):
            return host[: -len(default)]
    return host


def own_origins(port: int, *, also: Iterable[str] = ()) -> set[str]:
    """The origins of a page served by a local server on ``port`` (by its loopback names, and through ``also``: a
    tunnel's ``host[:port]``, either scheme), with and without a default port, as browsers write them."""
    origins = {f"http://127.0.0.1:{port}", f"http://localhost:{port}", f"http://[::1]:{port}"}
    if port == 80:
        origins |= {"http://127.0.0.1", "http://localhost", "http://[::1]"}
    for name in also:
        bare = without_default_port(name.lower())
        origins |= {f"http://{bare}", f"https://{bare}", f"http://{name.lower()}", f"https://{name.lower()}"}
    return origins


def cross_site(headers: Mapping[str, str], origins: Iterable[str]) -> bool:
    """Whether a browser sent this request from another site's page: an ``Origin`` not among ``origins`` (the
    server's own: :func:`own_origins`), or a ``Sec-Fetch-Site`` other than ``same-origin``/``none``. Tools that are
    not browsers send neither."""
    origin = headers.get("origin")
    if origin is not None and origin not in set(origins):
        return True
    site = headers.get("sec-fetch-site")
    return site is not None and site not in ("same-origin", "none")


def host_of(url: str | None) -> str | None:
    """``host[:port]`` of ``url`` as a client sends it in ``Host`` (None for no URL)."""
    if not url:
        return None
    return urlsplit(url).netloc.rpartition("@")[2].lower() or None


def serve_in_background(httpd: LocalHTTPServer, name: str) -> threading.Thread:
    """Serve ``httpd`` on a new daemon thread (polling for shutdown every 50 ms) until :func:`stop_serving`."""
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True)
    thread.start()
    return thread


def stop_serving(httpd: LocalHTTPServer, thread: threading.Thread | None, timeout: float = 5.0) -> None:
    """Stop serving (``thread`` ``None``: it never served, and ``shutdown`` would wait for ever), close the socket,
    then wait up to ``timeout`` seconds for the thread."""
    if thread is not None:
        httpd.shutdown()
    httpd.server_close()
    if thread is not None:
        thread.join(timeout)


def drip_answer(
    handler: BaseHTTPRequestHandler, write: Callable[[], None], interval: float, stop: threading.Event
) -> bool:
    """A fault plan's ``drip``: ``write()`` writes a whole answer (status line, headers, body) through ``handler``;
    it goes to a buffer, then to the client one byte every ``interval`` seconds until it is all out, the client
    hangs up, or ``stop`` is set. The connection is closed afterwards. True when the whole answer went out."""
    real = handler.wfile
    buffer = io.BytesIO()
    handler.wfile = buffer
    try:
        write()
        handler.wfile.flush()
    finally:
        handler.wfile = real
    handler.close_connection = True
    data = buffer.getvalue()
    for index in range(len(data)):
        if stop.wait(interval):
            return False
        try:
            real.write(data[index : index + 1])
            real.flush()
        except OSError:  # the client hung up: its deadline, most likely
            return False
    with contextlib.suppress(OSError):
        real.flush()
    return True
