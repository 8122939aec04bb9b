"""post_webhook against local HTTP servers, and the SSRF guard."""

from __future__ import annotations

import http.client
import io
import socket
import threading
import time
from collections.abc import Callable, Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from shared.delivery import TargetPolicy, is_public_address, parse_retry_after, post_webhook, resolve_target
from shared.http_deadline import lookup, read_at_most
from tests.loopback import DrippingServer, localhost_certificate

LOCAL = TargetPolicy(allow_private=True, require_https=False)
Reply = Callable[[BaseHTTPRequestHandler], None]


class _Server:
    def __init__(self) -> None:
        self.replies: dict[str, Reply] = {}
        self.hits: list[str] = []
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                server.hits.append(self.path)
                server.bodies.append(self.rfile.read(int(self.headers.get("content-length") or 0)))
                server.headers.append({k.lower(): v for k, v in self.headers.items()})
                reply = server.replies.get(self.path)
                if reply is None:
                    self.send_response(200)
                    self.send_header("content-length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                else:
                    reply(self)

            do_GET = do_POST

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[_Server]:
    s = _Server()
    yield s
    s.close()


def _status(code: int, headers: dict[str, str] | None = None) -> Reply:
    def reply(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(code)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("content-length", "0")
        handler.end_headers()

    return reply


def _post(url: str, policy: TargetPolicy = LOCAL, timeout: float = 5.0) -> object:
    return post_webhook(url, b'{"x":1}', {"webhook-id": "msg_1"}, timeout=timeout, policy=policy)


def test_2xx_is_delivered(server: _Server) -> None:
    server.replies["/hook"] = _status(204)
    result = post_webhook(server.url("/hook"), b'{"x":1}', {"webhook-id": "msg_1"}, timeout=5, policy=LOCAL)
    assert result.ok and result.status == 204
    assert server.bodies == [b'{"x":1}']
    assert server.headers[0]["webhook-id"] == "msg_1"
    assert server.headers[0]["content-type"] == "application/json"


def test_query_string_is_kept(server: _Server) -> None:
    post_webhook(server.url("/hook?tenant=7"), b"{}", {}, timeout=5, policy=LOCAL)
    assert server.hits == ["/hook?tenant=7"]


def test_410_is_a_permanent_failure(server: _Server) -> None:
    server.replies["/hook"] = _status(410)
    result = post_webhook(server.url("/hook"), b"{}", {}, timeout=5, policy=LOCAL)
    assert not result.ok and result.permanent and result.error == "gone" and result.status == 410


@pytest.mark.parametrize("code", [429, 503])
def test_retry_after_seconds_are_reported(server: _Server, code: int) -> None:
    server.replies["/hook"] = _status(code, {"Retry-After": "120"})
    result = post_webhook(server.url("/hook"), b"{}", {}, timeout=5, policy=LOCAL)
    assert not result.ok and not result.permanent
    assert result.status == code and result.error == f"http_{code}" and result.retry_after == 120.0


def test_retry_after_http_date_is_turned_into_seconds(server: _Server) -> None:
    server.replies["/hook"] = _status(503, {"Retry-After": formatdate(time.time() + 600, usegmt=True)})
    result = post_webhook(server.url("/hook"), b"{}", {}, timeout=5, policy=LOCAL)
    assert result.retry_after is not None and 500 < result.retry_after <= 600


def test_parse_retry_after_handles_dates_garbage_and_caps() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after(formatdate(now + 30, usegmt=True), now=now) == 30.0
    assert parse_retry_after(formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("99999999") == 86400.0


def test_redirect_is_a_failure_and_is_not_followed(server: _Server) -> None:
    server.replies["/hook"] = _status(302, {"Location": server.url("/target")})
    result = post_webhook(server.url("/hook"), b"{}", {}, timeout=5, policy=LOCAL)
    assert not result.ok and result.status == 302 and result.error == "http_302" and not result.permanent
    assert server.hits == ["/hook"]  # /target never requested


def test_slow_subscriber_times_out(server: _Server) -> None:
    def hang(handler: BaseHTTPRequestHandler) -> None:
        server.release.wait(10)

    server.replies["/hook"] = hang
    result = post_webhook(server.url("/hook"), b"{}", {}, timeout=0.2, policy=LOCAL)
    assert not result.ok and result.error == "timeout" and not result.permanent


def test_connection_refused_is_a_retryable_failure() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = post_webhook(f"http://127.0.0.1:{port}/hook", b"{}", {}, timeout=2, policy=LOCAL)
    assert not result.ok and result.error == "connection_error" and not result.permanent


def test_plain_http_is_refused_when_https_is_required(server: _Server) -> None:
    url = server.url("/hook").replace("127.0.0.1", "localhost")  # a name: DNS decides where it goes
    result = post_webhook(url, b"{}", {}, timeout=5, policy=TargetPolicy(allow_private=True, require_https=True))
    assert not result.ok and result.permanent and result.error == "https_required"
    assert server.hits == []


def test_plain_http_to_a_loopback_address_is_delivered_when_https_is_required(server: _Server) -> None:
    # a stack on one machine (./scripts/dev --aliyun-doubles): the request never leaves the machine
    result = post_webhook(
        server.url("/hook"), b"{}", {}, timeout=5, policy=TargetPolicy(allow_private=True, require_https=True)
    )
    assert result.ok and server.hits == ["/hook"]


def test_plain_http_to_a_loopback_address_is_still_a_private_target(server: _Server) -> None:
    result = post_webhook(
        server.url("/hook"), b"{}", {}, timeout=5, policy=TargetPolicy(allow_private=False, require_https=True)
    )
    assert not result.ok and result.error == "target_not_allowed"
    assert server.hits == []


def test_private_target_is_refused_by_default(server: _Server) -> None:
    result = post_webhook(
        server.url("/hook"), b"{}", {}, timeout=5, policy=TargetPolicy(allow_private=False, require_https=False)
    )
    assert not result.ok and result.permanent and result.error == "target_not_allowed"
    assert server.hits == []


@pytest.mark.parametrize("url", ["ftp://a.example/x", "https:///nohost", "not a url"])
def test_invalid_url_is_a_permanent_failure(url: str) -> None:
    result = post_webhook(url, b"{}", {}, timeout=1, policy=LOCAL)
    assert result.error == "invalid_url" and result.permanent


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.100.100.200",  # Alibaba Cloud metadata (shared address space)
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "::",
        "fe80::1",
        "fe80::1%eth0",
        "fc00::1",
        "fd12:3456::1",
        "fec0::1",  # site-local (deprecated; ipaddress counts it neither private nor link-local)
        "feff:ffff::1",  # the top of fec0::/10
        "::ffff:127.0.0.1",
        "::ffff:10.1.2.3",
        "::ffff:169.254.169.254",
        "2002:7f00:1::",  # 6to4 wrapping 127.0.0.1
        "2002:a9fe:a9fe::",  # 6to4 wrapping 169.254.169.254
        "64:ff9b::a00:1",  # NAT64 wrapping 10.0.0.1
        "64:ff9b::6464:64c8",  # NAT64 wrapping 100.100.100.200
        "ff02::1",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert is_public_address(address) is False


@pytest.mark.parametrize("address", ["8.8.8.8", "47.88.1.1", "1.1.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8",
                                     "64:ff9b::808:808"])  # NAT64 wrapping 8.8.8.8: judged by that address
def test_public_addresses_are_allowed(address: str) -> None:
    assert is_public_address(address) is True


def test_hostname_resolving_to_loopback_is_refused() -> None:
    with pytest.raises(PermissionError):
        resolve_target("localhost", 443, TargetPolicy(allow_private=False))


def test_hostname_resolving_to_loopback_is_allowed_when_private_targets_are() -> None:
    assert set(resolve_target("localhost", 443, TargetPolicy(allow_private=True))) <= {"127.0.0.1", "::1"}


@pytest.mark.parametrize("answers", [("8.8.8.8", "10.0.0.1"), ("127.0.0.1", "8.8.8.8"), ("1.1.1.1", "169.254.169.254")])
def test_a_name_with_one_private_answer_among_public_ones_is_refused_before_any_request(
    monkeypatch: pytest.MonkeyPatch, answers: tuple[str, ...]
) -> None:
    """One private answer refuses the host, whatever else it resolves to: a name that can point inside (DNS
    rebinding, a round-robin record naming the metadata service) is never trusted (review bf: a guard that
    refused only hosts whose answers were all private passed every test, each name resolving to one address)."""
    import socket

    import shared.delivery

    def resolver(host: str, port: int, timeout: float | None = None) -> list[tuple[object, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in answers]

    monkeypatch.setattr(shared.delivery, "lookup", resolver)
    connections: list[object] = []
    monkeypatch.setattr(shared.delivery, "DeadlineHTTPSConnection", lambda *a, **k: connections.append(a))
    with pytest.raises(PermissionError):
        resolve_target("hooks.example.com", 443, TargetPolicy(allow_private=False))
    result = post_webhook("https://hooks.example.com/kyc", b"{}", {}, timeout=5, policy=TargetPolicy())
    assert (result.ok, result.error, result.permanent) == (False, "target_not_allowed", True)
    assert connections == []  # refused before connecting to any of its addresses


def test_retry_after_with_non_ascii_digits_is_ignored_not_a_crash() -> None:
    from shared.delivery import parse_retry_after

    assert parse_retry_after("\u00b2") is None


# --- URL hygiene -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["/ho\r\nok", "/ho\tok", "/hook\n", "/ho ok", "/hook\\x"])
def test_a_url_with_control_or_whitespace_characters_is_refused_before_any_request(
    server: _Server, suffix: str
) -> None:
    # urlsplit would silently drop TAB/CR/LF and POST to /hook: a different URL from the one configured.
    result = _post(server.url(suffix))
    assert not result.ok and result.permanent and result.error == "invalid_url"  # type: ignore[attr-defined]
    assert server.hits == []


# --- one deadline per delivery -------------------------------------------------------------------------------------


@pytest.fixture
def dripping() -> Iterator[Callable[[bytes, float], DrippingServer]]:
    servers: list[DrippingServer] = []

    def make(response: bytes, interval: float) -> DrippingServer:
        servers.append(DrippingServer(response, interval))
        return servers[-1]

    yield make
    for s in servers:
        s.stop()


OK_RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-padding: " + b"p" * 40 + b"\r\n\r\nok"


def test_a_subscriber_dripping_its_headers_is_cut_off_at_the_delivery_deadline(
    dripping: Callable[[bytes, float], DrippingServer],
) -> None:
    # Each byte comes well within the timeout, so a per-read timeout would wait for all of them (~6 s) and
    # call it delivered; the deadline covers the whole exchange.
    server = dripping(OK_RESPONSE, 0.1)
    result = post_webhook(server.url, b"{}", {}, timeout=0.5, policy=LOCAL)
    assert not result.ok and result.error == "timeout" and not result.permanent
    assert server.sent[0] < len(OK_RESPONSE)


def test_a_2xx_whose_body_drips_counts_as_delivered_and_ends_at_the_deadline(
    dripping: Callable[[bytes, float], DrippingServer],
) -> None:
    # The verdict is the status line; the body is drained only as a courtesy, and only until the deadline.
    body_dripper = b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n" + b"x" * 1000
    server = dripping(body_dripper, 0.01)  # ~10 s for all of it
    result = post_webhook(server.url, b"{}", {}, timeout=1, policy=LOCAL)
    assert result.ok and result.status == 200
    assert server.sent[0] < len(body_dripper) // 2


def test_connect_send_and_response_share_one_deadline() -> None:
    from shared.http_deadline import Deadline

    clock = [100.0]
    deadline = Deadline(2.0, clock=lambda: clock[0])
    assert deadline.remaining() == 2.0
    clock[0] += 1.5
    assert deadline.remaining() == 0.5
    clock[0] += 0.5
    with pytest.raises(TimeoutError):
        deadline.remaining()


# --- https: the pinned TLS connection under the same deadline ----------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return localhost_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def localhost_v4(monkeypatch: pytest.MonkeyPatch) -> None:
    """``localhost`` is 127.0.0.1, where the test servers listen (some machines answer ::1 first)."""
    import shared.http_deadline

    real = shared.http_deadline._getaddrinfo
    monkeypatch.setattr(shared.http_deadline, "_getaddrinfo",
                        lambda host, port: real("127.0.0.1" if host == "localhost" else host, port))  # fmt: skip


@pytest.fixture
def trust_local_cert(tls_files: tuple[str, str], monkeypatch: pytest.MonkeyPatch, localhost_v4: None) -> None:
    import ssl

    import shared.http_deadline

    context = ssl.create_default_context(cafile=tls_files[0])
    monkeypatch.setattr(shared.http_deadline, "_tls_context", context)


def test_https_delivery_verifies_the_certificate_of_the_url_host_on_the_pinned_address(
    server: _Server, tls_files: tuple[str, str], trust_local_cert: None
) -> None:
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_files)
    server.httpd.socket = context.wrap_socket(server.httpd.socket, server_side=True)
    port = server.httpd.server_address[1]
    result = post_webhook(f"https://localhost:{port}/hook", b"{}", {}, timeout=5,
                          policy=TargetPolicy(allow_private=True, require_https=True))  # fmt: skip
    assert result.ok and server.hits == ["/hook"]
    assert server.headers[0]["host"] == f"localhost:{port}"


def test_https_with_an_untrusted_certificate_is_a_connection_error(
    server: _Server, tls_files: tuple[str, str], localhost_v4: None
) -> None:
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_files)
    server.httpd.socket = context.wrap_socket(server.httpd.socket, server_side=True)
    result = post_webhook(f"https://localhost:{server.httpd.server_address[1]}/hook", b"{}", {}, timeout=5,
                          policy=TargetPolicy(allow_private=True, require_https=True))  # fmt: skip
    assert not result.ok and result.error == "connection_error" and server.hits == []


def test_a_tls_handshake_that_never_completes_ends_at_the_deadline(trust_local_cert: None) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts (backlog) and never speaks TLS
        port = silent.getsockname()[1]
        result = post_webhook(f"https://localhost:{port}/hook", b"{}", {}, timeout=0.5,
                              policy=TargetPolicy(allow_private=True, require_https=True))  # fmt: skip
    assert not result.ok and result.error == "timeout"


@pytest.mark.parametrize("url", ["https://a..b.example/hook", f"https://{'a' * 64}.example.com/hook"])
def test_a_host_name_with_an_empty_or_over_long_label_is_a_permanent_invalid_url(url: str) -> None:
    result = post_webhook(url, b"{}", {}, timeout=2, policy=TargetPolicy())
    assert (result.ok, result.error, result.permanent) == (False, "invalid_url", True)


def test_a_name_the_resolver_cannot_encode_is_a_lookup_error_not_a_crash() -> None:
    with pytest.raises(OSError):
        lookup("a" * 64 + ".example.com", 443, timeout=2)


#: An HTTP date whose year no datetime holds: ``parsedate_to_datetime`` raises OverflowError for it.
HUGE_YEAR_DATE = "Mon, 01 Jan 99999999999999999999 00:00:00 GMT"


def test_a_retry_after_date_past_any_datetime_is_ignored_not_a_crash() -> None:
    assert parse_retry_after(HUGE_YEAR_DATE) is None


def test_a_2xx_is_delivered_whatever_its_retry_after_says(server: _Server) -> None:
    """A delivery that raised here was counted ``sender_error`` by the notifier: the event was sent again on every
    attempt of the schedule, then dead-lettered, although the receiver had accepted it."""
    server.replies["/hook"] = _status(200, {"Retry-After": HUGE_YEAR_DATE})
    result = post_webhook(server.url("/hook"), b"{}", {}, timeout=5, policy=LOCAL)
    assert (result.ok, result.status, result.retry_after) == (True, 200, None)


def test_a_host_whose_first_address_refuses_is_reached_on_its_next_address(
    server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two addresses (two A records, or AAAA and A on a dual-stack host); the first refuses (a node out of its
    pool, an IPv6 path that is down). Both passed the guard, so the next one is tried, as every HTTP client does."""
    import shared.http_deadline

    port = server.httpd.server_address[1]
    answers = [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.2", port)),  # nothing listens there: refused
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),  # the receiver
    ]
    real = shared.http_deadline._getaddrinfo
    monkeypatch.setattr(shared.http_deadline, "_getaddrinfo",
                        lambda host, p: answers if host == "hooks.merchant.example" else real(host, p))  # fmt: skip
    result = post_webhook(f"http://hooks.merchant.example:{port}/hook", b"{}", {}, timeout=5, policy=LOCAL)
    assert (result.ok, result.error) == (True, None)
    assert server.hits == ["/hook"]


def test_an_address_that_never_answers_leaves_the_next_one_its_share_of_the_deadline(
    server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first address swallows the connection attempt (a blackholed node: no refusal, no answer); it may wait
    only its share of the deadline, and the receiver behind the second is still reached in time."""
    import shared.http_deadline

    port = server.httpd.server_address[1]
    blackholed = ("192.0.2.1", port)  # TEST-NET-1
    answers = [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", blackholed),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
    ]
    real = shared.http_deadline._getaddrinfo
    monkeypatch.setattr(shared.http_deadline, "_getaddrinfo",
                        lambda host, p: answers if host == "hooks.merchant.example" else real(host, p))  # fmt: skip

    class Socket(socket.socket):
        def connect(self, address: Any) -> None:
            if address == blackholed:  # waits as long as it is allowed to, then gives up
                time.sleep(self.gettimeout() or 0)
                raise TimeoutError("timed out")
            super().connect(address)

    monkeypatch.setattr(shared.http_deadline.socket, "socket", Socket)
    result = post_webhook(f"http://hooks.merchant.example:{port}/hook", b"{}", {}, timeout=2, policy=LOCAL)
    assert (result.ok, result.error) == (True, None)


def test_an_address_whose_family_this_machine_cannot_open_does_not_stop_the_next_address(
    server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dual-stack receiver seen from a machine without IPv6 (``socket(AF_INET6)`` fails with EAFNOSUPPORT): the
    IPv4 address that passed the guard is still tried."""
    import shared.http_deadline

    port = server.httpd.server_address[1]
    answers = [
        (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2001:db8::1", port, 0, 0)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
    ]
    real = shared.http_deadline._getaddrinfo
    monkeypatch.setattr(shared.http_deadline, "_getaddrinfo",
                        lambda host, p: answers if host == "hooks.merchant.example" else real(host, p))  # fmt: skip

    class NoIpv6Socket(socket.socket):
        def __init__(self, family: Any = -1, *args: Any, **kwargs: Any) -> None:
            if family == socket.AF_INET6:
                raise OSError(97, "Address family not supported by protocol")
            super().__init__(family, *args, **kwargs)

    monkeypatch.setattr(shared.http_deadline.socket, "socket", NoIpv6Socket)
    result = post_webhook(f"http://hooks.merchant.example:{port}/hook", b"{}", {}, timeout=5, policy=LOCAL)
    assert (result.ok, result.error) == (True, None)


# -- found by mutating shared.delivery (review bp) -----------------------------------------------------------------


@pytest.mark.parametrize(("failure", "error"),
                         [(TimeoutError("lookup"), "timeout"), (OSError("NXDOMAIN"), "dns_error")])
def test_a_name_that_does_not_resolve_now_is_a_failure_worth_retrying(
    monkeypatch: pytest.MonkeyPatch, failure: Exception, error: str
) -> None:
    """DNS recovers (a resolver outage, a record being published): the notifier's schedule retries, no dead letter
    at once."""
    import shared.delivery

    def resolver(host: str, port: int, timeout: float | None = None) -> list[tuple[object, ...]]:
        raise failure

    monkeypatch.setattr(shared.delivery, "lookup", resolver)
    result = post_webhook("https://hooks.example.com/kyc", b"{}", {}, timeout=5, policy=TargetPolicy())
    assert (result.ok, result.error, result.permanent) == (False, error, False)


def test_the_name_lookup_waits_at_most_what_is_left_of_the_delivery_s_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """getaddrinfo has no timeout of its own: the lookup is given the deadline's remainder."""
    import shared.delivery

    waits: list[float | None] = []

    def resolver(host: str, port: int, timeout: float | None = None) -> list[tuple[object, ...]]:
        waits.append(timeout)
        raise TimeoutError("lookup")

    monkeypatch.setattr(shared.delivery, "lookup", resolver)
    post_webhook("https://hooks.example.com/kyc", b"{}", {}, timeout=2.0, policy=TargetPolicy())
    assert len(waits) == 1 and waits[0] is not None and 0 < waits[0] <= 2.0


def test_a_404_is_retried_not_dead_lettered_at_once(server: _Server) -> None:
    """Only 410 Gone says the subscriber is gone for good; a 404 may be a deployment of the receiver in progress."""
    server.replies["/hook"] = _status(404)
    result = post_webhook(server.url("/hook"), b"{}", {}, timeout=5, policy=LOCAL)
    assert (result.ok, result.status, result.error, result.permanent) == (False, 404, "http_404", False)


def test_an_address_a_name_resolves_to_twice_is_tried_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    import shared.delivery

    def resolver(host: str, port: int, timeout: float | None = None) -> list[tuple[object, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", port))] * 2

    monkeypatch.setattr(shared.delivery, "lookup", resolver)
    assert resolve_target("hooks.example.com", 443, TargetPolicy()) == ("8.8.8.8",)


# --- review bs: each blocking step of the socket is armed with what is left ------------------------------------


def test_every_send_and_every_read_is_armed_with_what_is_left_of_the_deadline_at_that_moment() -> None:
    """A send after a read (the next request on a kept-alive connection) must not inherit the read's timeout, nor a
    read the send's: each is given what is left *now*."""
    from shared.http_deadline import DeadlineSocket

    steps: list[tuple[str, float | None]] = []

    class Sock:
        timeout: float | None = None

        def settimeout(self, value: float | None) -> None:
            self.timeout = value

        def sendall(self, data: bytes) -> None:
            steps.append(("send", self.timeout))

        def recv_into(self, buffer: Any) -> int:
            steps.append(("read", self.timeout))
            buffer[:1] = b"x"
            return 1

        def close(self) -> None:
            pass

    left = iter([3.0, 2.0, 1.0])
    wrapped = DeadlineSocket(Sock(), lambda: next(left))  # type: ignore[arg-type]
    wrapped.sendall(b"request")
    reader = wrapped.makefile("rb")
    assert reader.read1(1) == b"x"
    wrapped.sendall(b"request")
    assert steps == [("send", 3.0), ("read", 2.0), ("send", 1.0)]


def test_a_name_lookup_that_hangs_is_cut_at_its_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """``getaddrinfo`` has no timeout of its own: the lookup runs on a helper thread, waited for ``timeout`` only."""
    import shared.http_deadline

    release = threading.Event()

    def hanging(host: str, port: int) -> list[Any]:
        release.wait(3.0)
        return []

    monkeypatch.setattr(shared.http_deadline, "_getaddrinfo", hanging)
    started = time.monotonic()
    try:
        with pytest.raises(TimeoutError):
            lookup("hangs.example", 443, 0.2)
        assert time.monotonic() - started < 1.5
    finally:
        release.set()


def test_an_https_connection_reads_through_the_deadline_socket_after_its_handshake(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every read of a TLS answer is armed with what is left, as over plain TCP: the wrapped socket is never bare."""
    from shared.http_deadline import Deadline, DeadlineHTTPSConnection, DeadlineSocket

    ours, theirs = socket.socketpair()

    class Context:
        def wrap_socket(self, raw: socket.socket, server_hostname: str) -> socket.socket:
            return raw

    conn = DeadlineHTTPSConnection("hooks.example", 443, Deadline(5.0), tls_context=Context())
    monkeypatch.setattr(conn, "_open", lambda: ours)
    try:
        conn.connect()
        assert isinstance(conn.sock, DeadlineSocket) and conn.sock.sock is ours
    finally:
        ours.close()
        theirs.close()


def test_a_call_s_time_left_is_zero_once_its_deadline_has_passed() -> None:
    from shared.http_deadline import CallDeadline

    now = [100.0]
    call = CallDeadline(2.0, clock=lambda: now[0])
    assert call.time_left() is None
    with call.running():
        now[0] += 1.5
        assert call.time_left() == 0.5
        now[0] += 1.0
        assert call.time_left() == 0.0


# --- a body is read no further than one byte past what the caller allows -----------------------------------------


class _BufferedSocket:
    """What ``http.client.HTTPResponse`` reads an answer from: ``makefile`` over fixed bytes."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def makefile(self, mode: str) -> Any:
        return io.BufferedReader(io.BytesIO(self._data))  # type: ignore[arg-type]


def _answer(body: bytes, *, length: int | None = None, chunked: bool = False) -> Any:
    if chunked:
        head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        raw = head + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    else:
        raw = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (len(body) if length is None else length) + body
    response = http.client.HTTPResponse(_BufferedSocket(raw))  # type: ignore[arg-type]
    response.begin()
    return response


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_larger_than_allowed_is_read_to_one_byte_past_the_limit_only(chunked: bool) -> None:
    assert read_at_most(_answer(b"x" * 1_000_000, chunked=chunked), 100) == b"x" * 101


def test_a_body_within_the_limit_is_read_whole() -> None:
    assert read_at_most(_answer(b"{}"), 100) == b"{}"


def test_a_body_cut_before_its_content_length_is_an_incomplete_read() -> None:
    with pytest.raises(http.client.IncompleteRead):
        read_at_most(_answer(b"{}", length=10), 100)
