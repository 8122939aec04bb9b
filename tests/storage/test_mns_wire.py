"""MnsQueue against a local HTTP server that re-signs each request with the official ``mns`` SDK's signer."""

from __future__ import annotations

import base64
import hashlib
import socket
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from mns.auth import Credentials as MnsCredentials
from mns.mns_client import MNSClient

from shared.signing import Credentials
from shared.storage import MAX_RAW_MESSAGE_BYTES, MessageTooLarge, MnsError, MnsQueue, StorageError, decode_message_body

NS = "{http://mns.aliyuncs.com/doc/v1/}"
CREDS = Credentials("LTAI-test-id", "test-secret", "sts-token-xyz")


class MnsServer:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.reply: tuple[int, bytes] | None = None
        self.bad_md5 = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                oracle = MNSClient("http://127.0.0.1", CREDS.access_key_id, CREDS.access_key_secret)
                expected = oracle.get_signature(
                    "POST",
                    headers,
                    self.path,
                    MnsCredentials(CREDS.access_key_id, CREDS.access_key_secret, CREDS.security_token),
                )
                outer.requests.append({"path": self.path, "headers": headers, "body": body, "expected": expected})
                if outer.reply is not None:
                    status, payload = outer.reply
                elif headers.get("authorization") != expected:
                    status, payload = 403, b"<Error><Code>SignatureDoesNotMatch</Code></Error>"
                else:
                    text = ET.fromstring(body).findtext(f"{NS}MessageBody") or ""
                    md5 = "0" * 32 if outer.bad_md5 else hashlib.md5(text.encode()).hexdigest().upper()
                    status = 201
                    payload = (
                        f'<?xml version="1.0" encoding="UTF-8"?><Message xmlns="http://mns.aliyuncs.com/doc/v1/">'
                        f"<MessageId>5F290C926D472878-2-14D9529A8FA-200000001</MessageId>"
                        f"<MessageBodyMD5>{md5}</MessageBodyMD5></Message>"
                    ).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("x-mns-request-id", "req-123")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[MnsServer]:
    s = MnsServer()
    yield s
    s.close()


def _queue(server: MnsServer, creds: Credentials = CREDS) -> MnsQueue:
    return MnsQueue(server.endpoint, "kyc-recheck", creds, timeout=5, clock=lambda: 1_700_000_000.0)


def test_send_signature_matches_official_sdk_signer(server: MnsServer) -> None:
    assert _queue(server).send(b"hello") == "5F290C926D472878-2-14D9529A8FA-200000001"
    request = server.requests[0]
    assert request["headers"]["authorization"] == request["expected"]
    assert request["headers"]["authorization"].startswith("MNS LTAI-test-id:")


def test_send_posts_to_queue_messages_with_required_headers(server: MnsServer) -> None:
    _queue(server).send(b"hello")
    request = server.requests[0]
    assert request["path"] == "/queues/kyc-recheck/messages"
    headers = request["headers"]
    assert headers["content-type"] == "text/xml;charset=UTF-8"
    assert headers["x-mns-version"] == "2015-06-06"
    assert headers["security-token"] == "sts-token-xyz"
    assert parsedate_to_datetime(headers["date"]).timestamp() == 1_700_000_000.0


def test_send_body_is_base64_xml_with_delay(server: MnsServer) -> None:
    payload = b'{"merchantBizId":"x"}<&>\x00\xff'
    _queue(server).send(payload, delay_seconds=300)
    root = ET.fromstring(server.requests[0]["body"])
    assert root.tag == f"{NS}Message"
    assert decode_message_body(root.find(f"{NS}MessageBody").text or "") == payload  # type: ignore[union-attr]
    assert root.find(f"{NS}DelaySeconds").text == "300"  # type: ignore[union-attr]


def test_send_without_sts_token_sends_no_security_token_header(server: MnsServer) -> None:
    _queue(server, Credentials("LTAI-test-id", "test-secret")).send(b"x")
    assert "security-token" not in server.requests[0]["headers"]


def test_wrong_secret_is_rejected_by_the_oracle(server: MnsServer) -> None:
    with pytest.raises(MnsError) as info:
        _queue(server, Credentials("LTAI-test-id", "wrong-secret", "sts-token-xyz")).send(b"x")
    assert info.value.code == "SignatureDoesNotMatch" and info.value.status == 403


def test_error_body_code_is_parsed_and_not_transient(server: MnsServer) -> None:
    server.reply = (
        404,
        b'<?xml version="1.0"?><Error xmlns="http://mns.aliyuncs.com/doc/v1/"><Code>QueueNotExist</Code>'
        b"<Message>The queue name you provided is not exist.</Message><RequestId>r1</RequestId></Error>",
    )
    with pytest.raises(MnsError) as info:
        _queue(server).send(b"x")
    assert (info.value.code, info.value.status, info.value.transient) == ("QueueNotExist", 404, False)
    assert info.value.request_id == "req-123"
    assert "not exist" not in str(info.value)


def test_server_error_is_transient(server: MnsServer) -> None:
    server.reply = (503, b"<Error><Code>ServiceUnavailable</Code></Error>")
    with pytest.raises(MnsError) as info:
        _queue(server).send(b"x")
    assert info.value.transient is True


def test_md5_mismatch_in_answer_is_reported(server: MnsServer) -> None:
    server.bad_md5 = True
    with pytest.raises(MnsError) as info:
        _queue(server).send(b"x")
    assert info.value.code == "BodyMD5Mismatch"


def test_oversized_body_is_refused_before_any_request(server: MnsServer) -> None:
    with pytest.raises(MessageTooLarge):
        _queue(server).send(b"x" * (MAX_RAW_MESSAGE_BYTES + 1))
    assert server.requests == []


def test_connection_refused_is_transient_transport_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    queue = MnsQueue(f"http://127.0.0.1:{port}", "q", CREDS, timeout=5)
    with pytest.raises(StorageError) as info:
        queue.send(b"x")
    assert info.value.transient is True and info.value.code == "TransportError"


def test_encode_is_standard_base64() -> None:
    from shared.storage import encode_message_body

    assert encode_message_body(b"\xff\x00") == base64.b64encode(b"\xff\x00").decode()
    with pytest.raises(ValueError):
        decode_message_body("not base64!")
