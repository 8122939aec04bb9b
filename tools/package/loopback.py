"""Loopback stand-ins for Tablestore, OSS and MNS, plus a webhook receiver, for tracing the packaged handlers.

Tablestore is the wire-level double of ``tools/doubles/tablestore`` (the aliyun backend reads its secondary
indexes). OSS and MNS are interim doubles: enough of each service's wire protocol that the real SDKs inside a
packaged function run their whole request path (build, sign, send, parse the answer, map errors) against them; they
check only what the flows here need: OSS puts ask for KMS, MNS bodies round-trip with their MD5.

Each server runs on ``127.0.0.1:<free port>`` on a daemon thread, keeps its state in memory, and answers the next
``fail_next(n, ...)`` requests with an error, for the error paths.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

ACCESS_KEY_ID = "package-trace-ak"
ACCESS_KEY_SECRET = "package-trace-secret"  # noqa: S105 - a loopback fixture


class _Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class _Server:
    """A ThreadingHTTPServer on a free loopback port, with a queue of injected failures."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._lock = threading.Lock()
        self._failures: list[tuple[int, str]] = []
        self.requests: list[str] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def fail_next(self, count: int, status: int, code: str) -> None:
        with self._lock:
            self._failures = [(status, code)] * count

    def take_failure(self, request: str) -> tuple[int, str] | None:
        with self._lock:
            self.requests.append(request)
            return self._failures.pop(0) if self._failures else None

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _owner(handler: BaseHTTPRequestHandler) -> Any:
    return handler.server.owner  # type: ignore[attr-defined]


# --- Tablestore (OTS) ---------------------------------------------------------------------------------------------
# The Tablestore double (tools/doubles/tablestore: the SDK's wire protocol, conditions, filters, paging, secondary
# indexes), with the deployment's tables and indexes (shared/storage/tablestore_schema.ensure_tables).


class TablestoreLoopback:
    """The Tablestore double on a free loopback port, instance ``kycinst``, table ``kyc_transactions``;
    ``fail_next(n, status, code)`` makes the next ``n`` calls of the adapter fail with ``code``, whatever their
    operation: each is one request and its retries (``tablestore_store.MAX_RETRIES``) answered with the error."""

    def __init__(self, table: str = "kyc_transactions") -> None:
        from shared.storage.tablestore_schema import ensure_tables  # noqa: PLC0415
        from tools.doubles.tablestore import TablestoreDouble  # noqa: PLC0415

        self.double = TablestoreDouble(access_key_id=ACCESS_KEY_ID, access_key_secret=ACCESS_KEY_SECRET)
        self.double.start()
        self.url = self.double.endpoint
        ensure_tables(self.double.client(), table)

    def fail_next(self, count: int, status: int, code: str) -> None:
        from shared.storage.tablestore_store import MAX_RETRIES  # noqa: PLC0415

        del status  # the double answers each error code with the service's status for it
        sequence = [code] * count * (1 + MAX_RETRIES)
        self.double.set_faults({"operations": {"*": {"sequence": sequence}}} if count else {})

    def close(self) -> None:
        self.double.stop()


# --- OSS ------------------------------------------------------------------------------------------------------------

_CRC64_TABLE: list[int] = []


def crc64_ecma(data: bytes) -> int:
    """CRC-64 as OSS reports it in ``x-oss-hash-crc64ecma`` (ECMA-182 polynomial, reflected, init and xor-out ~0)."""
    if not _CRC64_TABLE:
        for byte in range(256):
            crc = byte
            for _ in range(8):
                crc = (crc >> 1) ^ 0xC96C5795D7870F42 if crc & 1 else crc >> 1
            _CRC64_TABLE.append(crc)
    crc = 0xFFFFFFFFFFFFFFFF
    for byte in data:
        crc = _CRC64_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFFFFFFFFFF


class OssServer(_Server):
    """One bucket (path-style requests ``/<bucket>/<key>``): objects in memory, V2 listings paged by two."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket
        self.objects: dict[str, tuple[bytes, str]] = {}
        self.puts_without_kms = 0
        super().__init__(_OssHandler)


class _OssHandler(_Quiet):
    def _handle(self) -> None:
        server: OssServer = _owner(self)
        parts = urlsplit(self.path)
        body = self._body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        failure = server.take_failure(f"{self.command} {parts.path}")
        if not headers.get("authorization", "").startswith(f"OSS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/"):
            return self._error(403, "AccessDenied")
        if failure is not None:
            return self._error(*failure)
        path = unquote(parts.path)
        # Path style (/<bucket>/<key>) or virtual-hosted style (/<key>).
        key = path[len(server.bucket) + 2 :] if path.startswith(f"/{server.bucket}") else path[1:]
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        with server._lock:
            if self.command == "PUT":
                if headers.get("x-oss-server-side-encryption") != "KMS":
                    server.puts_without_kms += 1
                server.objects[key] = (body, headers.get("content-type", "application/octet-stream"))
                return self._send(200, b"", self._meta(body, {"ETag": f'"{hashlib.md5(body).hexdigest()}"'}))  # noqa: S324
            if self.command == "GET" and not key and query.get("list-type") == "2":
                return self._list(server, query)
            if self.command in ("GET", "HEAD"):
                if key not in server.objects:
                    return self._error(404, "NoSuchKey")
                data, content_type = server.objects[key]
                return self._send(200, data, self._meta(data, {"Content-Type": content_type}))
            if self.command == "DELETE":
                server.objects.pop(key, None)
                return self._send(204, b"", {"x-oss-request-id": "oss-req"})
        return self._error(405, "MethodNotAllowed")

    do_GET = do_PUT = do_DELETE = do_HEAD = _handle

    def _meta(self, data: bytes, extra: dict[str, str]) -> dict[str, str]:
        return {"x-oss-request-id": "oss-req", "x-oss-hash-crc64ecma": str(crc64_ecma(data)), **extra}

    def _error(self, status: int, code: str) -> None:
        body = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>m</Message></Error>"
        self._send(status, body.encode(), {"Content-Type": "application/xml", "x-oss-request-id": "oss-req"})

    def _list(self, server: OssServer, query: dict[str, str]) -> None:
        prefix = query.get("prefix", "")
        keys = sorted(k for k in server.objects if k.startswith(prefix))
        start = int(query.get("continuation-token") or 0)
        page = keys[start : start + 2]
        truncated = start + 2 < len(keys)
        contents = "".join(f"<Contents><Key>{quote(k, safe='')}</Key><Size>1</Size></Contents>" for k in page)
        token = f"<NextContinuationToken>{start + 2}</NextContinuationToken>" if truncated else ""
        xml = (
            f"<?xml version='1.0' encoding='UTF-8'?><ListBucketResult><Name>{server.bucket}</Name>"
            f"<Prefix>{quote(prefix, safe='')}</Prefix><MaxKeys>1000</MaxKeys><EncodingType>url</EncodingType>"
            f"<IsTruncated>{str(truncated).lower()}</IsTruncated><KeyCount>{len(page)}</KeyCount>{contents}{token}"
            f"</ListBucketResult>"
        )
        self._send(200, xml.encode(), {"Content-Type": "application/xml", "x-oss-request-id": "oss-req"})


# --- MNS ------------------------------------------------------------------------------------------------------------

_MNS_NS = "{http://mns.aliyuncs.com/doc/v1/}"


@dataclass(frozen=True)
class SentMessage:
    queue: str
    body: str  # as sent: base64 of the message bytes
    delay_seconds: int


class MnsServer(_Server):
    """SendMessage on any queue; the messages are kept in ``sent`` in order."""

    def __init__(self) -> None:
        self.sent: list[SentMessage] = []
        super().__init__(_MnsHandler)

    def bodies(self, queue: str) -> list[bytes]:
        with self._lock:
            return [base64.b64decode(m.body) for m in self.sent if m.queue == queue]


class _MnsHandler(_Quiet):
    def do_POST(self) -> None:
        server: MnsServer = _owner(self)
        body = self._body()
        path = urlsplit(self.path).path
        failure = server.take_failure(path)
        if not self.headers.get("Authorization", "").startswith(f"MNS {ACCESS_KEY_ID}:"):
            return self._error(403, "AccessDenied")
        if failure is not None:
            return self._error(*failure)
        segments = path.strip("/").split("/")
        if len(segments) != 3 or segments[0] != "queues" or segments[2] != "messages":
            return self._error(404, "QueueNotExist")
        root = ET.fromstring(body)  # noqa: S314 - our own client's XML on a loopback socket
        text = root.findtext(f"{_MNS_NS}MessageBody") or ""
        delay = int(root.findtext(f"{_MNS_NS}DelaySeconds") or 0)
        with server._lock:
            server.sent.append(SentMessage(unquote(segments[1]), text, delay))
            message_id = f"{len(server.sent):016X}-1-18F2D3C4B5A-2000000{len(server.sent):02d}"
        md5 = hashlib.md5(text.encode()).hexdigest().upper()  # noqa: S324 - the protocol's checksum
        xml = (
            f'<?xml version="1.0" encoding="UTF-8"?><Message xmlns="http://mns.aliyuncs.com/doc/v1/">'
            f"<MessageId>{message_id}</MessageId><MessageBodyMD5>{md5}</MessageBodyMD5></Message>"
        )
        self._send(201, xml.encode(), {"Content-Type": "text/xml", "x-mns-request-id": "mns-req"})

    def _error(self, status: int, code: str) -> None:
        xml = (
            f'<?xml version="1.0" encoding="UTF-8"?><Error xmlns="http://mns.aliyuncs.com/doc/v1/">'
            f"<Code>{code}</Code><Message>m</Message><RequestId>mns-req</RequestId></Error>"
        )
        self._send(status, xml.encode(), {"Content-Type": "text/xml", "x-mns-request-id": "mns-req"})


# --- webhook receiver -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes


class WebhookReceiver(_Server):
    """Accepts POSTs: ``/ok`` answers 204, ``/refuse`` answers 503 with ``Retry-After: 1``."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        super().__init__(_WebhookHandler)


class _WebhookHandler(_Quiet):
    def do_POST(self) -> None:
        server: WebhookReceiver = _owner(self)
        body = self._body()
        with server._lock:
            server.deliveries.append(Delivery(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        if self.path == "/ok":
            self._send(204, b"", {})
        else:
            self._send(503, b"busy", {"Retry-After": "1", "Content-Type": "text/plain"})
