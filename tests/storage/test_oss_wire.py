"""OssObjectStore: the real ``alibabacloud_oss_v2`` client against a local OSS imitation.

The server verifies each request's OSS V4 signature with an independent implementation (below) and answers
403 when it does not match, checks KMS server-side encryption on every PUT, and keeps objects in memory.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import pytest

from shared.signing import Credentials
from shared.storage import InvalidKey, ObjectNotFound, ObjectStore, OssObjectStore, StorageError

BUCKET = "kyc-bucket"
REGION = "cn-hangzhou"
CREDS = Credentials("LTAI-oss-id", "oss-secret", "oss-sts-token")
AUTH_RE = re.compile(
    r"^OSS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/oss/aliyun_v4_request"
    r"(?:,AdditionalHeaders=([^,]*))?,Signature=([0-9a-f]{64})$"
)


def v4_signature(method: str, raw_path: str, raw_query: str, headers: dict[str, str], secret: str) -> str:
    """OSS V4 (OSS4-HMAC-SHA256), written from the documented algorithm, not from the SDK."""
    canonical_uri = quote(unquote(raw_path), safe="/")
    pairs = sorted(tuple(p.split("=", 1)) if "=" in p else (p, "") for p in raw_query.split("&") if p)
    canonical_query = "&".join(f"{k}={v}" if v else k for k, v in pairs)
    signed = {k: v for k, v in headers.items() if k.startswith("x-oss-") or k in {"content-type", "content-md5"}}
    canonical_headers = "".join(f"{k}:{signed[k].strip()}\n" for k in sorted(signed))
    canonical = "\n".join(
        [method, canonical_uri, canonical_query, canonical_headers, "", headers.get("x-oss-content-sha256", "")]
    )
    timestamp = headers["x-oss-date"]
    scope = f"{timestamp[:8]}/{REGION}/oss/aliyun_v4_request"
    to_sign = f"OSS4-HMAC-SHA256\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = ("aliyun_v4" + secret).encode()
    for part in (timestamp[:8], REGION, "oss", "aliyun_v4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


class OssServer:
    def __init__(self, page_size: int = 2) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}
        self.requests: list[dict[str, Any]] = []
        self.fail_status: int | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("x-oss-request-id", "oss-req-1")
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _error(self, status: int, code: str) -> None:
                body = f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>m</Message></Error>"
                self._reply(status, body.encode(), {"Content-Type": "application/xml"})

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                length = int(headers.get("content-length", "0") or 0)
                body = self.rfile.read(length) if length else b""
                record = {"method": self.command, "path": parts.path, "query": parts.query, "headers": headers}
                outer.requests.append(record)
                match = AUTH_RE.match(headers.get("authorization", ""))
                expected = v4_signature(self.command, parts.path, parts.query, headers, CREDS.access_key_secret)
                if not match or match.group(1) != CREDS.access_key_id or match.group(5) != expected:
                    return self._error(403, "SignatureDoesNotMatch")
                if outer.fail_status is not None:
                    return self._error(outer.fail_status, "InternalError")
                path = unquote(parts.path)
                assert path.startswith(f"/{BUCKET}/")
                key = path[len(BUCKET) + 2 :]
                query = dict(parse_qsl(parts.query, keep_blank_values=True))
                if self.command == "PUT":
                    if headers.get("x-oss-server-side-encryption") != "KMS":
                        return self._error(400, "MissingEncryption")
                    outer.objects[key] = (body, headers.get("content-type", ""))
                    return self._reply(200, b"", {"ETag": '"e"'})
                if self.command == "GET" and key == "" and query.get("list-type") == "2":
                    return self._list(query)
                if self.command in {"GET", "HEAD"}:
                    if key not in outer.objects:
                        return self._error(404, "NoSuchKey")
                    data, ctype = outer.objects[key]
                    return self._reply(200, data, {"Content-Type": ctype or "application/octet-stream"})
                if self.command == "DELETE":
                    outer.objects.pop(key, None)
                    return self._reply(204)
                return self._error(405, "MethodNotAllowed")

            def _list(self, query: dict[str, str]) -> None:
                prefix = query.get("prefix", "")
                keys = sorted(k for k in outer.objects if k.startswith(prefix))
                start = int(query.get("continuation-token", "0") or 0)
                page = keys[start : start + page_size]
                truncated = start + page_size < len(keys)
                contents = "".join(f"<Contents><Key>{quote(k, safe='')}</Key><Size>1</Size></Contents>" for k in page)
                token = f"<NextContinuationToken>{start + page_size}</NextContinuationToken>" if truncated else ""
                xml = (
                    f"<?xml version='1.0'?><ListBucketResult><Name>{BUCKET}</Name><Prefix>{quote(prefix, safe='')}"
                    f"</Prefix><MaxKeys>1000</MaxKeys><EncodingType>url</EncodingType>"
                    f"<IsTruncated>{str(truncated).lower()}</IsTruncated><KeyCount>{len(page)}</KeyCount>"
                    f"{contents}{token}</ListBucketResult>"
                )
                self._reply(200, xml.encode(), {"Content-Type": "application/xml"})

            do_GET = do_PUT = do_DELETE = do_HEAD = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[OssServer]:
    s = OssServer()
    yield s
    s.close()


def _store(server: OssServer, prefix: str = "", creds: Credentials = CREDS) -> OssObjectStore:
    return OssObjectStore(
        bucket=BUCKET, region=REGION, credentials=creds, endpoint=server.endpoint, prefix=prefix, retry_max_attempts=1
    )


def test_store_satisfies_protocol(server: OssServer) -> None:
    assert isinstance(_store(server), ObjectStore)


def test_put_sends_kms_encryption_content_type_and_signed_sts_request(server: OssServer) -> None:
    _store(server).put("results/abc/result.json", b'{"a":1}', "application/json")
    put = server.requests[0]
    assert put["method"] == "PUT" and put["path"] == f"/{BUCKET}/results/abc/result.json"
    assert put["headers"]["x-oss-server-side-encryption"] == "KMS"
    assert put["headers"]["content-type"] == "application/json"
    assert put["headers"]["x-oss-security-token"] == "oss-sts-token"
    assert server.objects["results/abc/result.json"] == (b'{"a":1}', "application/json")


def test_get_returns_the_stored_bytes(server: OssServer) -> None:
    store = _store(server)
    store.put("results/abc/face.jpg", b"\xff\xd8jpeg", "image/jpeg")
    assert store.get("results/abc/face.jpg") == b"\xff\xd8jpeg"
    assert server.requests[-1]["method"] == "GET"


def test_get_missing_raises_object_not_found(server: OssServer) -> None:
    with pytest.raises(ObjectNotFound):
        _store(server).get("results/none")


def test_exists_reflects_presence(server: OssServer) -> None:
    store = _store(server)
    store.put("a/b", b"x", "text/plain")
    assert (store.exists("a/b"), store.exists("a/c")) == (True, False)


def test_list_pages_and_strips_configured_prefix(server: OssServer) -> None:
    store = _store(server, prefix="tenant1")
    for name in ("r/1/a", "r/1/b", "r/1/c", "r/2/a"):
        store.put(name, b"x", "text/plain")
    assert set(server.objects) == {"tenant1/r/1/a", "tenant1/r/1/b", "tenant1/r/1/c", "tenant1/r/2/a"}
    assert store.list("r/1/") == ["r/1/a", "r/1/b", "r/1/c"]
    assert any(r["query"] and "continuation-token" in r["query"] for r in server.requests)


def test_delete_prefix_deletes_each_key_and_counts(server: OssServer) -> None:
    store = _store(server)
    for name in ("r/1/a", "r/1/b", "r/2/a"):
        store.put(name, b"x", "text/plain")
    assert store.delete_prefix("r/1/") == 2
    assert set(server.objects) == {"r/2/a"}
    assert [r["method"] for r in server.requests].count("DELETE") == 2


def test_delete_missing_key_is_not_an_error(server: OssServer) -> None:
    _store(server).delete("nothing/here")


def test_wrong_secret_fails_the_independent_signature_check(server: OssServer) -> None:
    with pytest.raises(StorageError) as info:
        _store(server, creds=Credentials("LTAI-oss-id", "bad", None)).put("k", b"x", "text/plain")
    assert info.value.code == "SignatureDoesNotMatch" and info.value.transient is False


def test_server_error_is_transient(server: OssServer) -> None:
    server.fail_status = 503
    with pytest.raises(StorageError) as info:
        _store(server).put("k", b"x", "text/plain")
    assert info.value.transient is True and info.value.status == 503


def test_invalid_key_is_refused_before_any_request(server: OssServer) -> None:
    with pytest.raises(InvalidKey):
        _store(server).put("../escape", b"x", "text/plain")
    assert server.requests == []


def test_client_has_configured_timeouts(server: OssServer) -> None:
    store = OssObjectStore(
        bucket=BUCKET, region=REGION, credentials=CREDS, endpoint=server.endpoint, connect_timeout=2, read_timeout=7
    )
    cfg = store._client._client._config
    assert (cfg.connect_timeout, cfg.readwrite_timeout) == (2, 7)
