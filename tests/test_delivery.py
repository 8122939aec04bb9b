"""post_webhook against local HTTP servers, and the SSRF guard."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shared.delivery import TargetPolicy, is_public_address, parse_retry_after, post_webhook, resolve_target

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
    result = post_webhook(
        server.url("/hook"), b"{}", {}, timeout=5, policy=TargetPolicy(allow_private=True, require_https=True)
    )
    assert not result.ok and result.permanent and result.error == "https_required"
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


@pytest.mark.parametrize("address", ["8.8.8.8", "47.88.1.1", "1.1.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert is_public_address(address) is True


def test_hostname_resolving_to_loopback_is_refused() -> None:
    with pytest.raises(PermissionError):
        resolve_target("localhost", 443, TargetPolicy(allow_private=False))


def test_hostname_resolving_to_loopback_is_allowed_when_private_targets_are() -> None:
    assert resolve_target("localhost", 443, TargetPolicy(allow_private=True)) in {"127.0.0.1", "::1"}


def test_retry_after_with_non_ascii_digits_is_ignored_not_a_crash() -> None:
    from shared.delivery import parse_retry_after

    assert parse_retry_after("\u00b2") is None
