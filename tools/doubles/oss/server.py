"""``OssDouble``: the OSS object API the project uses, over HTTP, as ``alibabacloud_oss_v2`` speaks it.

Operations: PutObject, GetObject, HeadObject, GetObjectMeta (``HEAD ?objectMeta``, what ``OssObjectStore.exists``
sends), DeleteObject (with or without ``versionId``), ListObjectsV2, ListObjectVersions (``GET /?versions``), and
what ``kyc doctor`` asks: GetBucketVersioning (``GET /?versioning``) and GetBucketEncryption (``GET /?encryption``:
the bucket's default server-side encryption, SSE-KMS unless set otherwise). Anything else answers 501
``NotImplemented`` (DeleteMultipleObjects is not used by ``OssObjectStore``: it deletes each key on its own).
``versioning=True`` makes the buckets versioned (``store``'s docstring: versions, delete markers); reads always serve
the current version. GetObject and HeadObject honour the conditional headers (``_precondition``). Not modelled:
ranges, reads of an older version, ACLs, multipart uploads, callbacks, tagging, storage classes other than
Standard.

Addressing: the SDK uses path style (``/<bucket>/<key>``) when the endpoint is an IP address
(``alibabacloud_oss_v2._client._resolve_address_style``) and virtual-hosted style (``Host: <bucket>.<endpoint>``)
otherwise; the double accepts both: when the Host's first label names one of its buckets it is virtual-hosted.

Each request, in order: resolve bucket and key (``NoSuchBucket``) → verify the V4 signature (``auth.verify``) →
the operation. PutObject then checks, in order: Content-MD5 when sent (``InvalidDigest``, "PutObject"), the
encryption headers (an unknown algorithm, an empty KMS key id), the bucket policy "deny unencrypted uploads"
(``require_kms``: no ``x-oss-server-side-encryption: KMS`` → 403 ``AccessDenied``), ``x-oss-forbid-overwrite``
(``true`` on an existing key → 409 ``FileAlreadyExists``; a value other than true/false → 400). Reads and heads
echo the object's ``x-oss-server-side-encryption`` (and ``-key-id`` for KMS), its ETag, Content-MD5 and
``x-oss-hash-crc64ecma`` (the SDK checks the CRC on upload and download when the header is present).
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Iterable
from datetime import timezone
from email.utils import formatdate, parsedate_to_datetime
from typing import Any
from urllib.parse import quote, unquote

from tools.credentials import AccessKey
from tools.doubles._server import DoubleServer, Request, Response
from tools.doubles.oss import auth
from tools.doubles.oss.errors import ERRORS, OssError, error_xml, head_error_header
from tools.doubles.oss.store import Bucket, InvalidToken, StoredObject, Version

DEFAULT_REGION = "cn-hangzhou"
DEFAULT_KMS_KEY_ID = "double-oss-managed-kms-key"
ENCRYPTION_ALGORITHMS = ("AES256", "KMS", "SM4")
DEFAULT_MAX_KEYS = 100  # "ListObjectsV2 (GetBucketV2)": 100 objects per page unless max-keys says otherwise
MAX_MAX_KEYS = 1000
MAX_OBJECT_BYTES = 5 * 1024**3  # "PutObject": a single upload is at most 5 GB


def _request_id() -> str:
    return secrets.token_hex(12).upper()


def _iso(epoch: float) -> str:
    from datetime import datetime, timezone  # noqa: PLC0415 - only listings format ISO times

    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class OssDouble(DoubleServer):
    """An OSS endpoint for one region with the given buckets.

    ``access_key_id``/``access_key_secret`` (and ``security_token``: an STS key) sign requests; more keys with
    ``add_key``. ``require_kms``: refuse writes without SSE-KMS as a bucket policy would (on by default).
    ``page_limit`` (tests): answer at most that many entries per ListObjectsV2 page whatever ``max-keys`` asks —
    legal for the service (a truncated page with a token), and it makes clients page through small listings.
    ``default_encryption``: every bucket's default server-side encryption (``KMS``, ``AES256``, ``SM4`` or ``None``
    for no rule), as template.yml configures it; change one bucket's with ``set_bucket_encryption``.
    ``versioning``: the buckets keep every version (template.yml's ``EnableVersioning``); ``versions`` shows them.
    """

    service = "oss"
    server_header = "AliyunOSS"
    error_codes = tuple(ERRORS)
    internal_error_code = "InternalError"
    bad_request_code = "InvalidArgument"

    def __init__(
        self,
        *,
        access_key_id: str,
        access_key_secret: str,
        bucket: str | Iterable[str] = "kyc-bucket",
        region: str = DEFAULT_REGION,
        security_token: str | None = None,
        require_kms: bool = True,
        kms_key_id: str = DEFAULT_KMS_KEY_ID,
        page_limit: int | None = None,
        default_encryption: str | None = "KMS",
        versioning: bool = False,
        **server: Any,
    ) -> None:
        super().__init__(**server)
        self.region = region
        self.page_limit = page_limit
        self.require_kms = require_kms
        self.kms_key_id = kms_key_id
        self._keys: dict[str, AccessKey] = {}
        self.add_key(access_key_id, access_key_secret, security_token)
        names = [bucket] if isinstance(bucket, str) else list(bucket)
        if not names:
            raise ValueError("the OSS double needs at least one bucket")
        self.buckets: dict[str, Bucket] = {name: Bucket(name, versioned=versioning) for name in names}
        self.bucket_encryption: dict[str, tuple[str, str | None] | None] = {}
        #: GetBucketVersioning's Status where set (``Suspended``); else ``Enabled`` for a versioned bucket, or none
        self.versioning_status: dict[str, str] = {}
        for name in names:
            self.set_bucket_encryption(name, default_encryption)

    # --- Python API --------------------------------------------------------------------------------------

    @property
    def bucket(self) -> str:
        """The first (default) bucket's name."""
        return next(iter(self.buckets))

    def add_key(self, access_key_id: str, access_key_secret: str, security_token: str | None = None) -> None:
        self._keys[access_key_id] = AccessKey(access_key_id, access_key_secret, security_token)

    def set_bucket_encryption(self, bucket: str, algorithm: str | None, kms_master_key_id: str | None = None) -> None:
        """The bucket's default encryption rule (PutBucketEncryption's effect); ``None`` removes it."""
        if algorithm is not None and algorithm not in ENCRYPTION_ALGORITHMS:
            raise ValueError(f"algorithm must be one of {', '.join(ENCRYPTION_ALGORITHMS)} or None")
        self.bucket_encryption[bucket] = None if algorithm is None else (algorithm, kms_master_key_id)

    def objects(self, bucket: str | None = None) -> dict[str, StoredObject]:
        """Every object of ``bucket`` (default: the first) by key."""
        return self.buckets[bucket or self.bucket].snapshot()

    def keys(self, bucket: str | None = None) -> list[str]:
        return sorted(self.objects(bucket))

    def versions(self, bucket: str | None = None) -> dict[str, list[Version]]:
        """Every version and delete marker of ``bucket`` (default: the first) by key, oldest first."""
        return self.buckets[bucket or self.bucket].versions()

    def object(self, key: str, bucket: str | None = None) -> StoredObject | None:
        return self.buckets[bucket or self.bucket].get(key)

    def seed(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream", bucket: str | None = None
    ) -> None:
        """Store an object directly (no request), encrypted with KMS like every upload the project makes."""
        obj = StoredObject(data, content_type, self.clock(), "KMS", self.kms_key_id)
        self.buckets[bucket or self.bucket].put(key, obj)

    def reset_state(self) -> None:
        for b in self.buckets.values():
            b.clear()

    def stats_detail(self) -> dict[str, Any]:
        detail: dict[str, Any] = {}
        for name, b in self.buckets.items():
            count, size = b.size()
            detail[name] = {"objects": count, "bytes": size}
        return {"buckets": detail}

    def control(self, method: str, route: str, query: dict[str, str], data: Any) -> tuple[int, Any] | None:
        if method == "GET" and route == "objects":
            name = query.get("bucket") or self.bucket
            if name not in self.buckets:
                return 404, {"error": "no such bucket"}
            listing = [
                {
                    "key": key,
                    "size": len(obj.data),
                    "contentType": obj.content_type,
                    "encryption": obj.encryption,
                    "encryptionKeyId": obj.encryption_key_id,
                }
                for key, obj in sorted(self.objects(name).items())
                if key.startswith(query.get("prefix", ""))
            ]
            return 200, {"bucket": name, "objects": listing}
        return None

    def control_endpoints(self) -> list[str]:
        return ["GET /_double/objects?bucket=&prefix="]

    # --- addressing and dispatch -------------------------------------------------------------------------

    def _address(self, request: Request) -> tuple[str | None, str | None]:
        """(bucket, key) from the Host header and the path; ``None`` for what the request does not name."""
        host = request.header("host").rsplit(":", 1)[0] if "]" not in request.header("host") else ""
        label = host.split(".", 1)[0]
        path = unquote(request.path)
        if "." in host and label in self.buckets and not _is_ip(host):
            key = path[1:]
            return label, (key or None)
        rest = path[1:]
        if not rest:
            return None, None
        bucket, slash, key = rest.partition("/")
        return bucket, (key if slash and key else None)

    def operation_of(self, request: Request) -> str | None:
        bucket, key = self._address(request)
        query = request.query_dict()
        method = request.method
        if bucket is None:
            return None
        if key is None:
            if method == "GET" and query.get("list-type") == "2":
                return "ListObjectsV2"
            if method == "GET" and "encryption" in query:
                return "GetBucketEncryption"
            if method == "GET" and "versions" in query:
                return "ListObjectVersions"
            if method == "GET" and "versioning" in query:
                return "GetBucketVersioning"
            return None
        if method == "PUT" and not query:
            return "PutObject"
        if method == "GET" and not _subresources(query):
            return "GetObject"
        if method == "HEAD":
            return "GetObjectMeta" if "objectMeta" in query else "HeadObject"
        if method == "DELETE" and set(query) <= {"versionId"}:
            return "DeleteObject"
        return None

    def render_error(self, code: str, request: Request, message: str | None = None) -> Response:
        return self._error(OssError(code, message), request)

    def _error(self, err: OssError, request: Request) -> Response:
        request_id = _request_id()
        body = error_xml(err, request_id, request.header("host") or "oss.double.local")
        headers = {"x-oss-request-id": request_id, "Content-Type": "application/xml"}
        if request.method == "HEAD":
            headers["x-oss-err"] = head_error_header(body)
            return Response(err.status, b"", headers, content_length=0)
        return Response(err.status, body, headers)

    def handle(self, request: Request) -> Response:
        try:
            return self._handle(request)
        except OssError as err:
            return self._error(err, request)

    def _handle(self, request: Request) -> Response:
        bucket_name, key = self._address(request)
        if bucket_name is None:
            raise OssError("NotImplemented", "Service-level operations are not implemented by the OSS double.")
        bucket = self.buckets.get(bucket_name)
        if bucket is None:
            raise OssError("NoSuchBucket")
        auth.verify(
            method=request.method,
            bucket=bucket_name,
            key=key,
            raw_query=request.query,
            headers=request.headers,
            body=request.body,
            keys=self._keys,
            region=self.region,
            now=self.clock(),
        )
        operation = self.operation_of(request)
        if operation == "PutObject" and key is not None:
            return self._put(bucket, key, request)
        if operation in ("GetObject", "HeadObject", "GetObjectMeta") and key is not None:
            return self._get(bucket, key, request, operation)
        if operation == "DeleteObject" and key is not None:
            return self._delete(bucket, key, request)
        if operation == "ListObjectsV2":
            return self._list(bucket, request)
        if operation == "ListObjectVersions":
            return self._list_versions(bucket, request)
        if operation == "GetBucketEncryption":
            return self._encryption(bucket)
        if operation == "GetBucketVersioning":  # "GetBucketVersioning": no Status for a bucket never versioned
            state = self.versioning_status.get(bucket.name, "Enabled" if bucket.versioned else None)
            status = f"<Status>{state}</Status>" if state else ""
            xml = f'<?xml version="1.0" encoding="UTF-8"?>\n<VersioningConfiguration>{status}</VersioningConfiguration>'
            return Response(200, xml.encode(), {"x-oss-request-id": _request_id(), "Content-Type": "application/xml"})
        if request.method not in ("GET", "PUT", "HEAD", "DELETE", "POST"):
            raise OssError("MethodNotAllowed")
        raise OssError("NotImplemented")

    # --- operations --------------------------------------------------------------------------------------

    def _put(self, bucket: Bucket, key: str, request: Request) -> Response:
        body = request.body
        if len(body) > MAX_OBJECT_BYTES:
            raise OssError("EntityTooLarge")
        md5 = request.header("content-md5")
        candidate = StoredObject(body, request.header("content-type") or "application/octet-stream", self.clock())
        if md5 and md5 != candidate.content_md5:
            raise OssError("InvalidDigest")
        encryption = request.header("x-oss-server-side-encryption") or None
        if encryption is not None and encryption not in ENCRYPTION_ALGORITHMS:
            raise OssError("InvalidEncryptionAlgorithmError")
        key_id: str | None = None
        if encryption == "KMS":
            if "x-oss-server-side-encryption-key-id" in request.headers:
                key_id = request.header("x-oss-server-side-encryption-key-id")
                if not key_id:
                    raise OssError("InvalidArgument", "x-oss-server-side-encryption-key-id must not be empty.")
            else:
                key_id = self.kms_key_id
        if self.require_kms and encryption != "KMS":
            raise OssError("AccessDenied", "Access denied by bucket policy: uploads must use SSE-KMS.")
        forbid = request.header("x-oss-forbid-overwrite").lower()
        if forbid not in ("", "true", "false"):
            raise OssError("InvalidArgument", "x-oss-forbid-overwrite must be true or false.")
        metadata = {name: value for name, value in request.headers.items() if name.startswith("x-oss-meta-")}
        stored = StoredObject(
            body,
            candidate.content_type,
            candidate.last_modified,
            encryption,
            key_id,
            request.header("x-oss-server-side-data-encryption") or None,
            metadata,
        )
        if not bucket.put(key, stored, forbid_overwrite=forbid == "true"):
            raise OssError("FileAlreadyExists")
        headers = {"x-oss-request-id": _request_id(), "ETag": stored.etag, "Content-MD5": stored.content_md5}
        headers["x-oss-hash-crc64ecma"] = str(stored.crc64)
        headers.update(_encryption_headers(stored))
        version_id = bucket.current_version_id(key)
        if version_id:
            headers["x-oss-version-id"] = version_id
        return Response(200, b"", headers)

    def _delete(self, bucket: Bucket, key: str, request: Request) -> Response:
        """"DeleteObject": 204 whether or not there was anything to delete. With ``versionId`` that version goes
        for good (``x-oss-version-id`` names it, ``x-oss-delete-marker: true`` if it was a marker); without it, on a
        versioned bucket, a delete marker is added (named the same way)."""
        headers = {"x-oss-request-id": _request_id()}
        version_id = request.query_dict().get("versionId")
        if version_id is not None:
            if not version_id:
                raise OssError("InvalidArgument", "versionId must not be empty.")
            removed = bucket.delete_version(key, version_id)
            headers["x-oss-version-id"] = version_id
            if removed is not None and removed.obj is None:
                headers["x-oss-delete-marker"] = "true"
            return Response(204, b"", headers)
        bucket.delete(key, self.clock())
        marker = bucket.current_version_id(key)
        if marker:
            headers.update({"x-oss-version-id": marker, "x-oss-delete-marker": "true"})
        return Response(204, b"", headers)

    def _get(self, bucket: Bucket, key: str, request: Request, operation: str) -> Response:
        obj = bucket.get(key)
        if obj is None:
            raise OssError("NoSuchKey")
        headers = {
            "x-oss-request-id": _request_id(),
            "ETag": obj.etag,
            "Last-Modified": formatdate(obj.last_modified, usegmt=True),
            "x-oss-hash-crc64ecma": str(obj.crc64),
        }
        if operation == "GetObjectMeta":  # "GetObjectMeta": size, ETag, Last-Modified only
            return Response(200, b"", headers, content_length=len(obj.data))
        if _precondition(obj, request) == "NotModified":
            return Response(304, b"", headers, content_length=0)
        headers.update(
            {
                "Content-Type": obj.content_type,
                "Content-MD5": obj.content_md5,
                "x-oss-object-type": "Normal",
                "x-oss-storage-class": "Standard",
                **obj.metadata,
                **_encryption_headers(obj),
            }
        )
        if operation == "HeadObject":
            return Response(200, b"", headers, content_length=len(obj.data))
        return Response(200, obj.data, headers)

    def _encryption(self, bucket: Bucket) -> Response:
        """"GetBucketEncryption": ``<ServerSideEncryptionRule><ApplyServerSideEncryptionByDefault>`` with
        ``SSEAlgorithm`` and, only when a customer key is configured, ``KMSMasterKeyID``."""
        rule = self.bucket_encryption.get(bucket.name)
        if rule is None:
            raise OssError("NoSuchServerSideEncryptionRule")
        algorithm, key_id = rule
        inner = f"<SSEAlgorithm>{algorithm}</SSEAlgorithm>"
        if algorithm == "KMS" and key_id:
            inner += f"<KMSMasterKeyID>{_xml_text(key_id)}</KMSMasterKeyID>"
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<ServerSideEncryptionRule>'
            f"<ApplyServerSideEncryptionByDefault>{inner}</ApplyServerSideEncryptionByDefault>"
            "</ServerSideEncryptionRule>"
        )
        return Response(200, xml.encode(), {"x-oss-request-id": _request_id(), "Content-Type": "application/xml"})

    def _list(self, bucket: Bucket, request: Request) -> Response:
        query = request.query_dict()
        raw_max, encoding = _listing_arguments(query)
        prefix, delimiter = query.get("prefix", ""), query.get("delimiter", "")
        start_after, token = query.get("start-after", ""), query.get("continuation-token")
        try:
            page = bucket.list_page(
                prefix=prefix,
                delimiter=delimiter,
                start_after=start_after,
                token=token,
                max_keys=min(int(raw_max), self.page_limit or MAX_MAX_KEYS),
            )
        except InvalidToken:
            raise OssError("InvalidArgument", "The continuation token is not valid.") from None

        def text(value: str) -> str:
            return quote(value, safe="") if encoding == "url" else _xml_text(value)

        parts = [f"<Name>{bucket.name}</Name>", f"<Prefix>{text(prefix)}</Prefix>"]
        if start_after:
            parts.append(f"<StartAfter>{text(start_after)}</StartAfter>")
        if token is not None:
            parts.append(f"<ContinuationToken>{_xml_text(token)}</ContinuationToken>")
        parts.append(f"<MaxKeys>{raw_max}</MaxKeys>")
        if delimiter:
            parts.append(f"<Delimiter>{text(delimiter)}</Delimiter>")
        if encoding:
            parts.append(f"<EncodingType>{encoding}</EncodingType>")
        parts.append(f"<IsTruncated>{'true' if page.next_token else 'false'}</IsTruncated>")
        if page.next_token:
            parts.append(f"<NextContinuationToken>{page.next_token}</NextContinuationToken>")
        parts.append(f"<KeyCount>{len(page.keys) + len(page.common_prefixes)}</KeyCount>")
        for key, obj in page.keys:
            parts.append(
                f"<Contents><Key>{text(key)}</Key><LastModified>{_iso(obj.last_modified)}</LastModified>"
                f"<ETag>{_xml_text(obj.etag)}</ETag><Type>Normal</Type><Size>{len(obj.data)}</Size>"
                "<StorageClass>Standard</StorageClass></Contents>"
            )
        parts.extend(f"<CommonPrefixes><Prefix>{text(p)}</Prefix></CommonPrefixes>" for p in page.common_prefixes)
        xml = '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult>' + "".join(parts) + "</ListBucketResult>"
        return Response(200, xml.encode(), {"x-oss-request-id": _request_id(), "Content-Type": "application/xml"})


    def _list_versions(self, bucket: Bucket, request: Request) -> Response:
        """"ListObjectVersions (GetBucketVersions)": ``<ListVersionsResult>`` with ``<Version>`` and
        ``<DeleteMarker>`` entries (``Key``, ``VersionId``, ``IsLatest``, ``LastModified``, ``Owner``; a version also
        ``ETag``, ``Type``, ``Size``, ``StorageClass``), ``IsTruncated`` and ``NextKeyMarker``/``NextVersionIdMarker``.
        Keys are URL-encoded with ``encoding-type=url`` (the SDK always asks for it)."""
        query = request.query_dict()
        raw_max, encoding = _listing_arguments(query)
        if query.get("delimiter"):
            raise OssError("NotImplemented", "The OSS double lists versions without a delimiter only.")
        prefix, key_marker = query.get("prefix", ""), query.get("key-marker", "")
        version_id_marker = query.get("version-id-marker", "")
        page = bucket.list_versions(prefix=prefix, key_marker=key_marker, version_id_marker=version_id_marker,
                                    max_keys=min(int(raw_max), self.page_limit or MAX_MAX_KEYS))

        def text(value: str) -> str:
            return quote(value, safe="") if encoding == "url" else _xml_text(value)

        owner = "<Owner><ID>1234567890123456</ID><DisplayName>1234567890123456</DisplayName></Owner>"
        parts = [f"<Name>{bucket.name}</Name>", f"<Prefix>{text(prefix)}</Prefix>",
                 f"<KeyMarker>{text(key_marker)}</KeyMarker>",
                 f"<VersionIdMarker>{_xml_text(version_id_marker)}</VersionIdMarker>", f"<MaxKeys>{raw_max}</MaxKeys>"]
        if encoding:
            parts.append(f"<EncodingType>{encoding}</EncodingType>")
        parts.append(f"<IsTruncated>{'true' if page.next_marker else 'false'}</IsTruncated>")
        if page.next_marker:
            next_key, next_version = page.next_marker
            parts.append(f"<NextKeyMarker>{text(next_key)}</NextKeyMarker>")
            parts.append(f"<NextVersionIdMarker>{_xml_text(next_version)}</NextVersionIdMarker>")
        for entry in page.entries:
            version, latest = entry.version, "true" if entry.is_latest else "false"
            common = (f"<Key>{text(entry.key)}</Key><VersionId>{_xml_text(version.version_id)}</VersionId>"
                      f"<IsLatest>{latest}</IsLatest><LastModified>{_iso(version.last_modified)}</LastModified>")
            if version.obj is None:
                parts.append(f"<DeleteMarker>{common}{owner}</DeleteMarker>")
            else:
                parts.append(
                    f"<Version>{common}<ETag>{_xml_text(version.obj.etag)}</ETag><Type>Normal</Type>"
                    f"<Size>{len(version.obj.data)}</Size><StorageClass>Standard</StorageClass>{owner}</Version>"
                )
        xml = '<?xml version="1.0" encoding="UTF-8"?>\n<ListVersionsResult>' + "".join(parts) + "</ListVersionsResult>"
        return Response(200, xml.encode(), {"x-oss-request-id": _request_id(), "Content-Type": "application/xml"})


def _precondition(obj: StoredObject, request: Request) -> str | None:
    """GetObject's and HeadObject's conditional headers: None to answer the object, ``NotModified`` for a 304, or
    raises 412 ``PreconditionFailed``.

    Each header ("GetObject" and "HeadObject" request headers, doc-detail/31980 and 31984; "Conditional download",
    help/en/oss/user-guide/conditional-download): If-Modified-Since — 200 when the time is earlier than the object's
    last modified time "or the value is invalid", else 304; If-Unmodified-Since — 200 when the time is the same as or
    later than it, else 412; If-Match — 200 when the ETag matches the object's, else 412; If-None-Match — 200 when it
    does not match, else 304. A 412 is ``PreconditionFailed`` "At least one of the pre-conditions you specified did
    not hold" ("HTTP status code 412"), EC 0017-00001001 ("0017-00001001": a condition header not met). Times are
    compared with the Last-Modified the object answers (whole seconds).

    Unverified (the pages only say the time pair and the ETag pair "can be combined"): when several are sent, RFC
    7232 section 6's order — If-Match, then If-Unmodified-Since only without If-Match, then If-None-Match, then
    If-Modified-Since only without If-None-Match (Amazon S3 documents the same: If-Match true with
    If-Unmodified-Since false answers 200; If-None-Match false with If-Modified-Since true answers 304). Also
    unverified: an invalid If-Unmodified-Since is ignored like an invalid If-Modified-Since; an ETag matches with or
    without its double quotes (the vendor's Android example, doc-detail/106960, sends it bare) and otherwise
    exactly (case included); a list of ETags or ``*`` is not modelled (the value is one ETag); a 304 carries no
    error body (ETag and Last-Modified only, RFC 7232 section 4.1); GetObjectMeta ignores the headers."""
    last_modified = int(obj.last_modified)
    if_match = request.headers.get("if-match")
    if if_match is not None:
        if not _same_etag(if_match, obj.etag):
            raise _precondition_failed()
    else:
        unmodified_since = _http_time(request.header("if-unmodified-since"))
        if unmodified_since is not None and unmodified_since < last_modified:
            raise _precondition_failed()
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        return "NotModified" if _same_etag(if_none_match, obj.etag) else None
    modified_since = _http_time(request.header("if-modified-since"))
    if modified_since is not None and modified_since >= last_modified:
        return "NotModified"
    return None


def _precondition_failed() -> OssError:
    return OssError("PreconditionFailed", extra={"EC": "0017-00001001"})


def _same_etag(given: str, etag: str) -> bool:
    return given.strip('"') == etag.strip('"')  # header values arrive stripped of surrounding spaces


def _http_time(value: str) -> int | None:
    """An HTTP date (``Fri, 13 Nov 2015 14:47:53 GMT``) as epoch seconds; None when absent or invalid."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp())


def _listing_arguments(query: dict[str, str]) -> tuple[str, str]:
    """A listing's ``max-keys`` (1-1000, default 100) and ``encoding-type`` (``url`` or none), checked."""
    raw_max = query.get("max-keys", str(DEFAULT_MAX_KEYS))
    if not raw_max.isdigit() or not 1 <= int(raw_max) <= MAX_MAX_KEYS:
        raise OssError("InvalidArgument", f"max-keys must be between 1 and {MAX_MAX_KEYS}.")
    encoding = query.get("encoding-type", "")
    if encoding not in ("", "url"):
        raise OssError("InvalidArgument", "encoding-type must be url.")
    return raw_max, encoding


def _encryption_headers(obj: StoredObject) -> dict[str, str]:
    headers: dict[str, str] = {}
    if obj.encryption:
        headers["x-oss-server-side-encryption"] = obj.encryption
    if obj.encryption == "KMS" and obj.encryption_key_id:
        headers["x-oss-server-side-encryption-key-id"] = obj.encryption_key_id
    if obj.data_encryption:
        headers["x-oss-server-side-data-encryption"] = obj.data_encryption
    return headers


def _subresources(query: dict[str, str]) -> bool:
    """Whether a GET on an object names a sub-resource (``?acl``, ``?tagging``, ...) rather than the content."""
    return any(not name.startswith("response-") and name != "x-oss-process" for name in query)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
