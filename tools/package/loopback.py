"""Loopback stand-ins for Tablestore, OSS and MNS, plus a webhook receiver, for tracing the packaged handlers.

Interim doubles: enough of each service's wire protocol that the real SDKs inside a packaged function run their
whole request path (build, sign, send, parse the answer, map errors) against them. Wire-level doubles checked
against the services' documentation are built elsewhere; these check only what the flows here need: requests carry
the SDK's signature header (the OTS one is verified), OSS puts ask for KMS, MNS bodies round-trip with their MD5.

Each server runs on ``127.0.0.1:<free port>`` on a daemon thread, keeps its state in memory, and answers the next
``fail_next(n, ...)`` requests with an error, for the error paths.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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
#
# Requests are protobuf messages (the SDK's own table_store_pb2 decodes them here) whose rows are PlainBuffer;
# answers are signed as the SDK checks them (tablestore/protocol.py: x-ots-contentmd5, x-ots-date, and an
# ``authorization: OTS <ak>:<HMAC-SHA1 of the x-ots-* headers and the URI>``).

_TAG_ROW_PK, _TAG_ROW_DATA, _TAG_CELL, _TAG_CELL_NAME, _TAG_CELL_VALUE = 1, 2, 3, 4, 5
_TAG_CELL_TYPE, _TAG_CELL_TIMESTAMP, _TAG_DELETE_ROW_MARKER, _TAG_ROW_CHECKSUM, _TAG_CELL_CHECKSUM = 6, 7, 8, 9, 10
_VT_INTEGER, _VT_DOUBLE, _VT_BOOLEAN, _VT_STRING, _VT_BLOB, _VT_INF_MIN, _VT_INF_MAX = 0, 1, 2, 3, 7, 9, 10
_DELETE_ALL_VERSIONS, _DELETE_ONE_VERSION = 1, 3
_INF_MIN, _INF_MAX = object(), object()
# HTTP statuses of OTS error codes. Unverified against the service's error table: the SDK maps errors by code
# (shared/storage/tablestore_store.py), so the status only has to be an error status.
_OTS_STATUS = {
    "OTSConditionCheckFail": 403, "OTSAuthFailed": 403, "OTSQuotaExhausted": 403, "OTSServerBusy": 503,
    "OTSParameterInvalid": 400,
}  # fmt: skip


def _value(data: bytes, pos: int) -> tuple[Any, int]:
    """One PlainBuffer variant value (type byte + payload) at ``pos``."""
    kind = data[pos]
    pos += 1
    if kind == _VT_INTEGER:
        return struct.unpack_from("<q", data, pos)[0], pos + 8
    if kind == _VT_DOUBLE:
        return struct.unpack_from("<d", data, pos)[0], pos + 8
    if kind == _VT_BOOLEAN:
        return data[pos] != 0, pos + 1
    if kind in (_VT_STRING, _VT_BLOB):
        size = struct.unpack_from("<i", data, pos)[0]
        raw = data[pos + 4 : pos + 4 + size]
        return (raw.decode() if kind == _VT_STRING else bytes(raw)), pos + 4 + size
    if kind == _VT_INF_MIN:
        return _INF_MIN, pos
    if kind == _VT_INF_MAX:
        return _INF_MAX, pos
    raise ValueError(f"unsupported PlainBuffer value type {kind}")


@dataclass
class _Row:
    pk: list[tuple[str, Any]] = field(default_factory=list)
    cells: list[tuple[str, Any, int | None]] = field(default_factory=list)  # (name, value, cell type)
    delete_marker: bool = False


def read_plain_buffer_rows(data: bytes) -> list[_Row]:
    """Rows of a PlainBuffer (header 0x75, then rows), update cells (cell types) included. Checksums are skipped."""
    if len(data) < 4 or struct.unpack_from("<i", data, 0)[0] != 0x75:
        raise ValueError("not a PlainBuffer")
    pos, rows = 4, []
    while pos < len(data):
        row, section = _Row(), None
        while pos < len(data):
            tag = data[pos]
            pos += 1
            if tag in (_TAG_ROW_PK, _TAG_ROW_DATA):
                section = tag
            elif tag == _TAG_CELL:
                name, value, cell_type = "", None, None
                while pos < len(data) and data[pos] in (_TAG_CELL_NAME, _TAG_CELL_VALUE, _TAG_CELL_TYPE,
                                                         _TAG_CELL_TIMESTAMP, _TAG_CELL_CHECKSUM):
                    inner = data[pos]
                    pos += 1
                    if inner == _TAG_CELL_NAME:
                        size = struct.unpack_from("<i", data, pos)[0]
                        name, pos = data[pos + 4 : pos + 4 + size].decode(), pos + 4 + size
                    elif inner == _TAG_CELL_VALUE:
                        value, pos = _value(data, pos + 4)  # skip the value's length prefix
                    elif inner == _TAG_CELL_TYPE:
                        cell_type, pos = data[pos], pos + 1
                    elif inner == _TAG_CELL_TIMESTAMP:
                        pos += 8
                    else:  # cell checksum: the cell ends here
                        pos += 1
                        break
                if section == _TAG_ROW_PK:
                    row.pk.append((name, value))
                else:
                    row.cells.append((name, value, cell_type))
            elif tag == _TAG_DELETE_ROW_MARKER:
                row.delete_marker = True
            elif tag == _TAG_ROW_CHECKSUM:
                pos += 1
                break
            else:
                raise ValueError(f"unexpected PlainBuffer tag {tag}")
        rows.append(row)
    return rows


_COMPARE: dict[int, Callable[[Any, Any], bool]] = {
    1: lambda a, b: a == b, 2: lambda a, b: a != b, 3: lambda a, b: a > b,
    4: lambda a, b: a >= b, 5: lambda a, b: a < b, 6: lambda a, b: a <= b,
}  # fmt: skip


def filter_passes(filter_bytes: bytes, attrs: dict[str, Any]) -> bool:
    """A serialized ``Filter`` (single or composite column condition) evaluated on a row's attributes."""
    import tablestore.protobuf.table_store_filter_pb2 as filter_pb2  # noqa: PLC0415 - the venv's SDK, not traced

    outer = filter_pb2.Filter()
    outer.ParseFromString(filter_bytes)
    if outer.type == filter_pb2.FT_SINGLE_COLUMN_VALUE:
        single = filter_pb2.SingleColumnValueFilter()
        single.ParseFromString(outer.filter)
        if single.column_name not in attrs:
            return not single.filter_if_missing
        expected, _ = _value(single.column_value, 0)
        return _COMPARE[single.comparator](attrs[single.column_name], expected)
    composite = filter_pb2.CompositeColumnValueFilter()
    composite.ParseFromString(outer.filter)
    results = [filter_passes(sub.SerializeToString(), attrs) for sub in composite.sub_filters]
    if composite.combinator == filter_pb2.LO_NOT:
        return not results[0]
    return all(results) if composite.combinator == filter_pb2.LO_AND else any(results)


def ots_error(code: str, message: str) -> tuple[int, bytes]:
    import tablestore.protobuf.table_store_pb2 as pb  # noqa: PLC0415 - the venv's SDK, not traced

    return _OTS_STATUS.get(code, 503), pb.Error(code=code, message=message).SerializeToString()


def ots_request_signature(uri: str, headers: dict[str, str], secret: str) -> str:
    """The OTS request signature (SignV2): HMAC-SHA1 over URI, method, query and the sorted x-ots-* headers."""
    signed = sorted(f"{k}:{v.strip()}" for k, v in headers.items() if k.startswith("x-ots-") and k != "x-ots-signature")
    text = f"{uri}\nPOST\n\n" + "\n".join(signed) + "\n"
    return base64.b64encode(hmac.new(secret.encode(), text.encode(), hashlib.sha1).digest()).decode()


class OtsServer(_Server):
    """One table with a single STRING primary key column; rows are ``{pk: {column: value}}``."""

    def __init__(self) -> None:
        self.rows: dict[Any, dict[str, Any]] = {}
        self.pk_name = "merchant_biz_id"
        super().__init__(_OtsHandler)

    def answer(self, api: str, body: bytes) -> tuple[int, bytes]:
        import tablestore.protobuf.table_store_pb2 as pb  # noqa: PLC0415 - the venv's SDK, not traced

        def consumed() -> Any:
            return pb.ConsumedCapacity(capacity_unit=pb.CapacityUnit(read=1, write=1))

        def condition_ok(condition: Any, key: Any) -> bool:
            current = self.rows.get(key)
            if condition.row_existence == pb.EXPECT_EXIST and current is None:
                return False
            if condition.row_existence == pb.EXPECT_NOT_EXIST and current is not None:
                return False
            if condition.HasField("column_condition") and condition.column_condition:
                return current is not None and filter_passes(condition.column_condition, current)
            return True

        with self._lock:
            if api == "PutRow":
                request = pb.PutRowRequest()
                request.ParseFromString(body)
                row = read_plain_buffer_rows(request.row)[0]
                key = row.pk[0][1]
                if not condition_ok(request.condition, key):
                    return ots_error("OTSConditionCheckFail", "Condition check failed.")
                self.rows[key] = {name: value for name, value, _ in row.cells}
                return 200, pb.PutRowResponse(consumed=consumed()).SerializeToString()
            if api == "UpdateRow":
                request = pb.UpdateRowRequest()
                request.ParseFromString(body)
                row = read_plain_buffer_rows(request.row_change)[0]
                key = row.pk[0][1]
                if not condition_ok(request.condition, key):
                    return ots_error("OTSConditionCheckFail", "Condition check failed.")
                columns = self.rows.setdefault(key, {})
                for name, value, cell_type in row.cells:
                    if cell_type in (_DELETE_ALL_VERSIONS, _DELETE_ONE_VERSION):
                        columns.pop(name, None)
                    else:
                        columns[name] = value
                return 200, pb.UpdateRowResponse(consumed=consumed()).SerializeToString()
            if api == "GetRow":
                request = pb.GetRowRequest()
                request.ParseFromString(body)
                key = read_plain_buffer_rows(request.primary_key)[0].pk[0][1]
                found = self.rows.get(key)
                encoded = self._encode_rows([(key, found)]) if found is not None else b""
                return 200, pb.GetRowResponse(consumed=consumed(), row=encoded).SerializeToString()
            if api == "DeleteRow":
                request = pb.DeleteRowRequest()
                request.ParseFromString(body)
                key = read_plain_buffer_rows(request.primary_key)[0].pk[0][1]
                if not condition_ok(request.condition, key):
                    return ots_error("OTSConditionCheckFail", "Condition check failed.")
                self.rows.pop(key, None)
                return 200, pb.DeleteRowResponse(consumed=consumed()).SerializeToString()
            if api == "GetRange":
                request = pb.GetRangeRequest()
                request.ParseFromString(body)
                start = read_plain_buffer_rows(request.inclusive_start_primary_key)[0].pk[0][1]
                end = read_plain_buffer_rows(request.exclusive_end_primary_key)[0].pk[0][1]
                keys = sorted(
                    k for k in self.rows if (start is _INF_MIN or k >= start) and (end is _INF_MAX or k < end)
                )
                limit = request.limit or 5000
                page = keys[:limit]
                matching = [(k, self.rows[k]) for k in page
                            if not request.filter or filter_passes(request.filter, self.rows[k])]
                answer = pb.GetRangeResponse(consumed=consumed(), rows=self._encode_rows(matching) if matching else b"")
                if len(keys) > limit:
                    answer.next_start_primary_key = self._encode_rows([(keys[limit], {})])
                return 200, answer.SerializeToString()
        return ots_error("OTSParameterInvalid", f"{api} is not served by this loopback")

    def _encode_rows(self, rows: Sequence[tuple[Any, dict[str, Any] | None]]) -> bytes:
        from tablestore.plainbuffer.plain_buffer_builder import PlainBufferBuilder  # noqa: PLC0415

        out = b""
        for index, (key, columns) in enumerate(rows):
            attributes = list((columns or {}).items())
            encoded = bytes(PlainBufferBuilder.serialize_for_put_row([(self.pk_name, key)], attributes))
            out += encoded if index == 0 else encoded[4:]  # one header for the whole buffer
        return out


class _OtsHandler(_Quiet):
    def do_POST(self) -> None:
        server: OtsServer = _owner(self)
        body = self._body()
        api = urlsplit(self.path).path.lstrip("/")
        headers = {k.lower(): v for k, v in self.headers.items()}
        failure = server.take_failure(api)
        expected = ots_request_signature(urlsplit(self.path).path, headers, ACCESS_KEY_SECRET)
        if headers.get("x-ots-signature") != expected:
            status, payload = ots_error("OTSAuthFailed", "signature mismatch")
        elif failure is not None:
            status, payload = ots_error(failure[1], "injected by the loopback")
        else:
            status, payload = server.answer(api, body)
        self._send(status, payload, self._signed_headers(urlsplit(self.path).path, payload, status))

    def _signed_headers(self, uri: str, payload: bytes, status: int) -> dict[str, str]:
        headers = {
            "x-ots-contentmd5": base64.b64encode(hashlib.md5(payload).digest()).decode(),  # noqa: S324 - the protocol's
            "x-ots-requestid": f"ots-{time.monotonic_ns()}",
            "x-ots-date": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "x-ots-contenttype": "protocol buffer",
        }
        if 200 <= status < 300:
            text = "\n".join(sorted(f"{k}:{v}" for k, v in headers.items())) + "\n" + uri
            digest = hmac.new(ACCESS_KEY_SECRET.encode(), text.encode(), hashlib.sha1).digest()
            headers["authorization"] = f"OTS {ACCESS_KEY_ID}:{base64.b64encode(digest).decode()}"
        return headers


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
