"""A scripted local cloudauth-intl endpoint for the client and CLI tests (and tests of the fake itself).

It verifies every request's signature with ``shared.signing`` (V3 headers or V1 query), records nonces,
counts TCP connections, and answers from a script of :class:`Reply` objects (default: success).
"""

from __future__ import annotations

import socket
import struct
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from shared import jsonutil
from shared.cloudauth import CloudAuthSettings
from shared.signing import Credentials, acs3_authorization, sha256_hex, v1_signature

AK = "test-access-key-id"
SECRET = "test-access-key-secret"


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list → JSON, bytes/str → sent as is, None → the action's success body
    # respond | reset (RST after reading the request) | hang | close_after (respond, then close) | connection_close
    # (respond with "Connection: close", then close) | drip (the whole answer, status line to last body byte, one
    # byte every ``interval`` seconds; the connection is kept alive after) | truncate (Content-Length of the whole
    # answer, half of its body, then a clean close: a load balancer's idle cut, a backend restarting)
    kind: str = "respond"
    content_type: str = "application/json;charset=utf-8"
    interval: float = 0.1


def error_body(code: str, message: str = "problem described by the vendor") -> dict[str, Any]:
    return {"RequestId": "REQ-ERR", "HostId": "cloudauth-intl.example", "Code": code, "Message": message}


def success_body(action: str) -> dict[str, Any]:
    if action in ("Initialize", "InitializeV2"):
        result = {
            "TransactionId": "08573be80f944d95ac812e019e3655a8",
            "TransactionUrl": "https://cloudauth.example/flow?t=08573be80f944d95ac812e019e3655a8",
            "Protocol": "hksb7ba1b28130d24e015d",
            "ClientCfg": "cfg",
        }
        return {"RequestId": "REQ-INIT", "Code": "Success", "Message": "success", "Result": result}
    if action == "DeleteVerifyResult":
        result = {"TransactionId": "08573be80f944d95ac812e019e3655a8", "DeleteResult": "Y"}
        return {"RequestId": "REQ-DEL", "Code": "200", "Message": "success", "Result": result}
    result = {"Passed": "Y", "SubCode": "200", "ExtIdInfo": "{}", "ExtFaceInfo": "{}", "ExtBasicInfo": "{}"}
    return {"RequestId": "REQ-CHECK", "Code": "Success", "Message": "success", "Result": result}


@dataclass
class Seen:
    action: str
    query: dict[str, str]
    form: dict[str, str]
    headers: dict[str, str]
    body: bytes
    connection: int
    signature_ok: bool
    nonce: str | None
    path: str = ""


@dataclass
class _State:
    replies: deque[Reply] = field(default_factory=deque)
    requests: list[Seen] = field(default_factory=list)
    connections: int = 0
    closed: int = 0
    dripped: list[tuple[int, int]] = field(default_factory=list)  # per drip reply: (bytes sent, bytes in the answer)
    lock: threading.Condition = field(default_factory=threading.Condition)
    release: threading.Event = field(default_factory=threading.Event)


def verify(method: str, path: str, headers: dict[str, str], body: bytes, secret: str = SECRET) -> tuple[bool, str]:
    """``(signature_ok, action)`` for a received request, V3 when it has an Authorization header, else V1."""
    query = dict(parse_qsl(urlsplit(path).query, keep_blank_values=True))
    auth = headers.get("authorization")
    if auth:
        fields = dict(part.split("=", 1) for part in auth.split(" ", 1)[1].split(","))
        signed_names = fields["SignedHeaders"].split(";")
        if not {"host", "x-acs-action", "x-acs-signature-nonce", "x-acs-date"} <= set(signed_names):
            return False, headers.get("x-acs-action", "")
        signed = {n: headers[n] for n in signed_names if n in headers}
        hashed = sha256_hex(body)
        ok = headers.get("x-acs-content-sha256") == hashed and len(signed) == len(signed_names)
        creds = Credentials(fields["Credential"], secret)
        expected = acs3_authorization(creds, method, "/", query, signed, hashed)
        return ok and expected == auth, headers.get("x-acs-action", "")
    form = dict(parse_qsl(body.decode(), keep_blank_values=True)) if body else {}
    given = query.get("Signature", "")
    return bool(given) and v1_signature(secret, method, {**query, **form}) == given, query.get("Action", "")


class _Handler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.state.lock:
            self.server.state.connections += 1
            self.conn_id = self.server.state.connections

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        ok, action = verify("POST", self.path, headers, body)
        query = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
        form = dict(parse_qsl(body.decode(), keep_blank_values=True)) if body else {}
        nonce = headers.get("x-acs-signature-nonce") or query.get("SignatureNonce")
        with state.lock:
            state.requests.append(Seen(action, query, form, headers, body, self.conn_id, ok, nonce, self.path))
            reply = state.replies.popleft() if state.replies else Reply()
            state.lock.notify_all()
        if reply.kind == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if reply.kind == "hang":
            state.release.wait(30)
            self.close_connection = True
            return
        if not ok and reply.body is None:
            reply = Reply(400, error_body("SignatureDoesNotMatch", "signature mismatch"))
        body_out = reply.body if reply.body is not None else success_body(action)
        data = body_out if isinstance(body_out, bytes) else body_out.encode() if isinstance(body_out, str) else (
            jsonutil.dumps(body_out)
        )
        if reply.kind == "truncate":
            head = (f"HTTP/1.1 {reply.status} {self.responses[reply.status][0]}\r\n"
                    f"Content-Type: {reply.content_type}\r\nContent-Length: {len(data)}\r\n\r\n")  # fmt: skip
            self.wfile.write(head.encode() + data[: len(data) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.close_connection = True
            return
        if reply.kind == "drip":
            head = (f"HTTP/1.1 {reply.status} {self.responses[reply.status][0]}\r\n"
                    f"Content-Type: {reply.content_type}\r\nContent-Length: {len(data)}\r\n\r\n")  # fmt: skip
            self._drip(head.encode() + data, reply.interval)
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(data)))
        if reply.kind == "connection_close":
            self.send_header("Connection", "close")  # http.client then closes its end before reading the body
        self.end_headers()
        self.wfile.write(data)
        if reply.kind in ("close_after", "connection_close"):
            self.close_connection = True

    def _drip(self, answer: bytes, interval: float) -> None:
        state = self.server.state
        with state.lock:
            index = len(state.dripped)
            state.dripped.append((0, len(answer)))
        for sent in range(len(answer)):
            if state.release.wait(interval):  # the fake is shutting down
                self.close_connection = True
                return
            try:
                self.wfile.write(answer[sent : sent + 1])
            except OSError:  # the client hung up
                self.close_connection = True
                return
            with state.lock:
                state.dripped[index] = (sent + 1, len(answer))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # resets and hangs are deliberate

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        with self.state.lock:
            self.state.closed += 1
            self.state.lock.notify_all()


class FakeCloudAuth:
    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = _State()
        self.state = self._server.state
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeCloudAuth:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.state.release.set()
        self._server.shutdown()
        self._server.server_close()

    def reply(self, *replies: Reply) -> None:
        with self.state.lock:
            self.state.replies.extend(replies)

    @property
    def requests(self) -> list[Seen]:
        with self.state.lock:
            return list(self.state.requests)

    @property
    def dripped(self) -> list[tuple[int, int]]:
        with self.state.lock:
            return list(self.state.dripped)

    @property
    def connections(self) -> int:
        with self.state.lock:
            return self.state.connections

    def wait_closed(self, count: int, timeout: float = 10.0) -> None:
        with self.state.lock:
            assert self.state.lock.wait_for(lambda: self.state.closed >= count, timeout), "server did not close"

    def settings(self, **overrides: Any) -> CloudAuthSettings:
        values: dict[str, Any] = {
            "endpoint": self.url,
            "access_key_id": AK,
            "access_key_secret": SECRET,
            "connect_timeout": 2.0,
            "read_timeout": 5.0,
            "backoff_base": 0.001,
            "backoff_cap": 0.004,
        }
        values.update(overrides)
        return CloudAuthSettings(**values)

    def env(self, **overrides: str) -> dict[str, str]:
        env = {
            "CLOUDAUTH_ENDPOINT": self.url,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": AK,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET,
            "CLOUDAUTH_BACKOFF_BASE": "0.001",
            "CLOUDAUTH_BACKOFF_CAP": "0.002",
        }
        env.update(overrides)
        return env


@pytest.fixture
def fake() -> Iterator[FakeCloudAuth]:
    with FakeCloudAuth() as server:
        yield server


# --- the fake's own checks (so a broken fake cannot make the client tests pass vacuously) --------------------


def test_fake_rejects_a_request_with_a_wrong_signature(fake: FakeCloudAuth) -> None:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", int(fake.url.rsplit(":", 1)[1]), timeout=5)
    bad = "ACS3-HMAC-SHA256 Credential=x,SignedHeaders=host;x-acs-action;x-acs-date;x-acs-signature-nonce,Signature=00"
    conn.request(
        "POST",
        "/?A=1",
        headers={"x-acs-action": "Initialize", "x-acs-date": "2024-01-01T00:00:00Z", "x-acs-signature-nonce": "n",
                 "authorization": bad},
    )
    response = conn.getresponse()
    assert response.status == 400
    assert jsonutil.loads(response.read())["Code"] == "SignatureDoesNotMatch"
    assert fake.requests[0].signature_ok is False
    conn.close()


def test_fake_rejects_a_v1_query_with_a_wrong_signature() -> None:
    ok, action = verify("POST", "/?Action=CheckResult&Signature=bm9wZQ%3D%3D&SignatureNonce=n", {}, b"")
    assert (ok, action) == (False, "CheckResult")
