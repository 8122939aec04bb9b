"""Helpers and fixtures for the sandbox tests: sandboxes, an HTTP receiver, signed raw requests, the official SDK."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from shared import jsonutil
from shared.signing import Credentials, sign_acs3_request, sign_v1_params
from tools.sandbox import SandboxConfig, SandboxServer

AK, SECRET = "sandbox", "sandbox-secret"
VERSION = "2022-08-09"


class FakeClock:
    """A clock tests move by hand (throttling window, pending seconds)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., SandboxServer]]:
    servers: list[SandboxServer] = []

    def make(**overrides: Any) -> SandboxServer:
        server = SandboxServer(SandboxConfig(port=0, **overrides))
        server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def sandbox(make_sandbox: Callable[..., SandboxServer]) -> SandboxServer:
    return make_sandbox()


@dataclass
class Received:
    path: str
    query: dict[str, str]


@dataclass
class Receiver:
    """A local HTTP server recording every GET (the callback target and the ReturnUrl)."""

    base_url: str
    requests: list[Received] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, path: str, count: int = 1, timeout: float = 10.0) -> list[Received]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.at(path)) >= count, timeout)
            return self.at(path)

    def at(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            rec = holder["r"]
            with rec.arrived:
                rec.requests.append(Received(parts.path, dict(parse_qsl(parts.query, keep_blank_values=True))))
                rec.arrived.notify_all()
            body = b"<!doctype html><title>merchant</title><h1 id=merchant-return>back at the merchant</h1>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["r"] = Receiver(f"http://127.0.0.1:{httpd.server_address[1]}")
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield holder["r"]
    httpd.shutdown()
    httpd.server_close()


# --- raw HTTP -----------------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


def raw(server: SandboxServer, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None,
        timeout: float = 10.0) -> Answer:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        parsed = jsonutil.loads(data) if data and "json" in (resp.getheader("Content-Type") or "") else {}
        return Answer(resp.status, parsed, {k.lower(): v for k, v in resp.getheaders()})
    finally:
        conn.close()


def control(server: SandboxServer, method: str, path: str, body: Any = None) -> Answer:
    data = b"" if body is None else jsonutil.dumps(body)
    return raw(server, method, f"/_sandbox/{path}", data, {"Content-Type": "application/json"})


def v3_request(server: SandboxServer, action: str, params: dict[str, str], *, secret: str = SECRET, ak: str = AK,
               token: str | None = None, form: dict[str, str] | None = None, nonce: str | None = None,
               date: str | None = None, mutate: Callable[[dict[str, str]], None] | None = None,
               timeout: float = 10.0) -> Answer:
    """Sign with the project's own V3 signer and send with http.client (``mutate`` tampers the headers)."""
    body = urlencode(form).encode() if form else b""
    headers = sign_acs3_request(
        credentials=Credentials(ak, secret, token), method="POST", host=f"127.0.0.1:{server.port}", action=action,
        version=VERSION, query=params, body=body,
        content_type="application/x-www-form-urlencoded" if form else None, nonce=nonce, date=date,
    )
    if mutate:
        mutate(headers)
    return raw(server, "POST", "/?" + urlencode(params), body, headers, timeout=timeout)


def v1_request(server: SandboxServer, action: str, params: dict[str, str], *, secret: str = SECRET, ak: str = AK,
               token: str | None = None, nonce: str | None = None, timestamp: str | None = None) -> Answer:
    signed = sign_v1_params(credentials=Credentials(ak, secret, token), action=action, version=VERSION,
                            params=params, nonce=nonce, timestamp=timestamp)
    return raw(server, "POST", "/?" + urlencode(signed))


def init_params(**overrides: str) -> dict[str, str]:
    params = {
        "ProductCode": "eKYC",
        "MerchantBizId": "biz0001",
        "MetaInfo": '{"bioMetaInfo":"sandbox"}',
        "MerchantUserId": "user-hash-1",
        "ReturnUrl": "https://merchant.example/return",
        "DocType": "01000000",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v != "<absent>"}


def initialize(server: SandboxServer, **overrides: str) -> str:
    answer = v3_request(server, "Initialize", init_params(**overrides))
    assert answer.status == 200, answer.body
    return str(answer.body["Result"]["TransactionId"])


def complete(server: SandboxServer, transaction_id: str, outcome: str = "pass", **extra: Any) -> Answer:
    answer = control(server, "POST", f"transactions/{transaction_id}/complete", {"outcome": outcome, **extra})
    assert answer.status == 200, answer.body
    return answer


def check(server: SandboxServer, transaction_id: str, merchant_biz_id: str = "biz0001", **extra: str) -> Answer:
    params = {"MerchantBizId": merchant_biz_id, "TransactionId": transaction_id, **extra}
    return v3_request(server, "CheckResult", params)


# --- the official SDK ----------------------------------------------------------------------------------------


def sdk_client(server: SandboxServer, *, secret: str = SECRET, algorithm: str | None = None,
               token: str | None = None) -> Any:
    """``alibabacloud_cloudauth_intl20220809.client.Client`` pointed at the sandbox over plain http."""
    from alibabacloud_cloudauth_intl20220809.client import Client
    from alibabacloud_tea_openapi.models import Config

    config = Config(
        access_key_id=AK, access_key_secret=secret, security_token=token,
        endpoint=f"127.0.0.1:{server.port}", protocol="http", signature_algorithm=algorithm,
        no_proxy="127.0.0.1", read_timeout=10_000, connect_timeout=5_000,
    )
    return Client(config)
