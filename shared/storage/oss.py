"""``OssObjectStore``: objects in an OSS bucket through ``alibabacloud_oss_v2``, imported (and its client built) by the
store's first call that needs it, never by the constructor.

Every put asks for server-side encryption with KMS (``x-oss-server-side-encryption: KMS``): the results hold
identity documents. With a customer key (``kms_key_id``, ``KYC_OSS_KMS_KEY_ID``: template.yml's ``KmsKeyId``) the put
names it (``x-oss-server-side-encryption-key-id``): OSS "Server-side encryption" says the encryption a request asks
for takes precedence over the bucket's default, so a put that asked for KMS without naming the key would be
encrypted with the OSS-managed key, not the merchant's, whatever the bucket's default says. ``prefix``
(``KYC_OSS_PREFIX``) is prepended to every key and stripped from listings.
``delete_prefix`` deletes each object with its own DeleteObject, up to ``MAX_PARALLEL_DELETES`` at once
(:mod:`shared.parallel`): a verification has a handful of objects, so a prefix's deletes take one call's time, and
single deletes keep the request simple (no ``DeleteMultipleObjects`` Content-MD5 body, no per-key errors inside a
200 answer).

Importing the SDK (``import_oss``): ``alibabacloud_oss_v2/__init__.py`` imports its client-side encryption
(``crypto``, ``EncryptionClient``) inside ``try: ... except ImportError: pass`` — the SDK's own way of running
without it. We never use client-side encryption (objects are encrypted server-side with KMS), so when the SDK is
not imported yet, ``import_oss`` makes ``alibabacloud_oss_v2.crypto`` unimportable for the duration of the import
(``sys.modules[name] = None``, removed afterwards): ~15 % of the SDK's import, measured with ``-X importtime``,
off result_fetcher's cold start. The rest (every model, ``requests``) is what ``oss.Client`` itself imports.
No function builds this client at ``initialize``: the first call that reads or writes an object does; see
docs/performance.md.

Deadlines: one per call to the service (one SDK operation: its attempts, the SDK's retries and their backoffs; for
GetObject, reading the body too), ``call_deadline`` seconds (default: connect timeout + read timeout, 5 + 20 = 25 s,
what a single wait of an attempt could take at most until now). Every wait of every attempt (lookup, connect, TLS,
send, status line, headers, each read of the body) is what is left of it, capped by the connect timeout or the read
timeout: the SDK's requests transport is replaced by :class:`~shared.storage.oss_transport.DeadlineHttpClient`
(``Config.http_client``; see there why, and what it keeps), and its retries by ``DeadlineRetryer`` (the SDK's
``StandardRetryer``, at most ``retry_max_attempts`` attempts, no retry once the deadline has passed and no backoff
beyond it). So an endpoint dripping its answer cannot hold a call past its deadline. A call cut off by it is a
transient ``StorageError`` (``TransportError``, ``maybe_sent``: a PUT or DELETE may have been applied; both are
idempotent per key, and a retried PUT writes the same verification's result again, so the caller's retry is safe)
and its connection is closed, never reused. ``list`` (a page per call) and ``delete_prefix`` (a list, then a delete
per object, side by side) give each call its own deadline.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from functools import partial

from shared.http_deadline import CallDeadline
from shared.lazy import Lazy
from shared.parallel import MAX_CONCURRENT_CALLERS, ThreadPool, run_all
from shared.signing import Credentials

from .errors import ClientUnavailable, ObjectNotFound, StorageError
from .objects import validate_key, validate_prefix

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 20.0
SERVER_SIDE_ENCRYPTION = "KMS"
_NOT_FOUND_CODES = frozenset({"NoSuchKey"})
#: Rounds of list-then-delete ``delete_prefix`` makes on a versioned bucket: 1000 entries each.
MAX_VERSION_ROUNDS = 100
#: DeleteObject calls ``delete_prefix`` runs at once: more than a verification's objects (its images, result.json).
MAX_PARALLEL_DELETES = 16


_IMPORT_LOCK = threading.Lock()
_ENCRYPTION_MODULE = "alibabacloud_oss_v2.crypto"


def import_oss() -> Any:
    """The ``alibabacloud_oss_v2`` package, imported without its client-side encryption when it is not imported
    yet (see the module docstring)."""
    with _IMPORT_LOCK:
        blocked = "alibabacloud_oss_v2" not in sys.modules and _ENCRYPTION_MODULE not in sys.modules
        if blocked:
            sys.modules[_ENCRYPTION_MODULE] = None  # type: ignore[assignment]  # None: "cannot be imported"
        try:
            import alibabacloud_oss_v2  # noqa: PLC0415
        finally:
            if blocked and _ENCRYPTION_MODULE in sys.modules and sys.modules[_ENCRYPTION_MODULE] is None:
                del sys.modules[_ENCRYPTION_MODULE]
    return alibabacloud_oss_v2


class OssObjectStore:
    def __init__(
        self,
        *,
        bucket: str,
        region: str,
        credentials: Credentials,
        endpoint: str | None = None,
        prefix: str = "",
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        retry_max_attempts: int = 2,
        call_deadline: float | None = None,
        versioned: bool = False,
        kms_key_id: str | None = None,
    ) -> None:
        """``endpoint`` overrides the regional one (an internal endpoint, or ``http://127.0.0.1:port`` in tests);
        ``call_deadline`` bounds each call, its attempts included (default ``connect_timeout`` + ``read_timeout``;
        see the module docstring); ``versioned``: the bucket keeps old versions (``KYC_BUCKET_VERSIONING``), so
        :meth:`delete_prefix` deletes every version.

        Order of effects: ``prefix`` is checked here (``InvalidKey``), and ``call_deadline`` (``ValueError`` unless
        a positive number of seconds); the SDK is imported and its client built by the first call that needs them
        (:class:`~shared.lazy.Lazy`: once, also when several threads call at once), never here."""
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        if prefix:
            validate_prefix(prefix)
        self._bucket = bucket
        self._prefix = prefix
        self.versioned = versioned
        self.kms_key_id = kms_key_id or None  # None: the OSS-managed key
        deadline = self._deadline = CallDeadline(
            connect_timeout + read_timeout if call_deadline is None else call_deadline
        )
        self.call_deadline = deadline.seconds  # the longest one call to the service may take

        def build() -> tuple[Any, Any]:
            oss = import_oss()
            from .oss_transport import DeadlineHttpClient, DeadlineRetryer  # noqa: PLC0415 - imports the SDK

            cfg = oss.config.load_default()
            cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
                credentials.access_key_id, credentials.access_key_secret, credentials.security_token
            )
            cfg.region = region
            if endpoint:
                cfg.endpoint = endpoint
            cfg.connect_timeout = connect_timeout
            cfg.readwrite_timeout = read_timeout
            cfg.retry_max_attempts = retry_max_attempts
            # Config.http_client / Config.retryer: the SDK's own seams (config.py; _client.py keeps them instead of
            # building RequestsHttpClient and StandardRetryer).
            cfg.http_client = DeadlineHttpClient(deadline, connect_timeout=connect_timeout, read_timeout=read_timeout)
            cfg.retryer = DeadlineRetryer(deadline, retry_max_attempts)
            return oss, oss.Client(cfg)

        self._sdk: Lazy[tuple[Any, Any]] = Lazy(build, failed=lambda exc: ClientUnavailable("oss", exc))
        self._delete_pool = ThreadPool(MAX_PARALLEL_DELETES * MAX_CONCURRENT_CALLERS, "oss-delete")

    @property
    def _oss(self) -> Any:
        """The ``alibabacloud_oss_v2`` package (imported on first use)."""
        return self._sdk.get()[0]

    @property
    def _client(self) -> Any:
        """The SDK's ``Client`` (built on first use)."""
        return self._sdk.get()[1]

    def _key(self, key: str) -> str:
        return self._prefix + validate_key(key)

    def _call(self, operation: str, method: str, request: Any) -> Any:
        """One call under its deadline (or the enclosing call's: ``get`` reads the body under the same one).

        Only OSS's own answers are taken: one without ``x-oss-request-id`` (a common response header of every OSS
        answer: OSS "Common HTTP headers") or one the SDK cannot read comes from something in front of OSS, a proxy
        or gateway page; it is a transient ``StorageError`` (``NotOssAnswer``, ``maybe_sent``), never an empty
        listing that would make ``delete_prefix`` report nothing left to delete, nor an SDK parsing exception, nor
        (an error status too: review xx) ``ObjectNotFound`` for an object that is there."""
        oss = self._oss
        try:
            with self._deadline.running():
                result = getattr(self._client, method)(request)
        except oss.exceptions.OperationError as exc:
            cause = exc.unwrap()
            if isinstance(cause, oss.exceptions.ServiceError):
                if not cause.request_id:  # an error page from in front of OSS: its 404 says nothing of our object
                    raise _not_oss_answer(operation, f"HTTP {cause.status_code} without x-oss-request-id") from None
                status = int(cause.status_code or 0)
                if cause.code in _NOT_FOUND_CODES or (
                    status == 404 and operation in {"GetObject", "HeadObject"} and cause.code != "NoSuchBucket"
                ):  # a HEAD answer has no body: its 404 may come without a code (then: the object)
                    raise ObjectNotFound() from None
                raise StorageError(
                    f"oss {operation} failed: {cause.code} ({status})",
                    transient=status >= 500 or status == 429,
                    code=cause.code,
                    status=status,
                    request_id=cause.request_id,
                ) from None
            raise StorageError(
                f"oss {operation} transport error: {type(cause).__name__}",
                transient=True,
                code="TransportError",
                maybe_sent=True,
            ) from None
        except Exception as exc:  # the SDK's reading of a 2xx answer: XML it cannot parse
            raise _not_oss_answer(operation, type(exc).__name__) from None
        if not getattr(result, "request_id", ""):
            _close_body(result)  # a streamed GetObject's: its connection is closed, not left to the collector
            raise _not_oss_answer(operation, "no x-oss-request-id")
        return result

    def put(self, key: str, data: bytes, content_type: str) -> None:
        request = self._oss.PutObjectRequest(
            bucket=self._bucket,
            key=self._key(key),
            body=data,
            content_type=content_type,
            server_side_encryption=SERVER_SIDE_ENCRYPTION,
            server_side_encryption_key_id=self.kms_key_id,
        )
        self._call("PutObject", "put_object", request)

    def get(self, key: str) -> bytes:
        """GetObject, its answer's body included, under one deadline."""
        request = self._oss.GetObjectRequest(bucket=self._bucket, key=self._key(key))
        with self._deadline.running():
            result = self._call("GetObject", "get_object", request)
            try:
                return bytes(result.body.read())
            except Exception as exc:
                raise StorageError(
                    f"oss GetObject body read failed: {type(exc).__name__}", transient=True, code="TransportError"
                ) from None
            finally:
                result.body.close()

    def exists(self, key: str) -> bool:
        try:
            request = self._oss.GetObjectMetaRequest(bucket=self._bucket, key=self._key(key))
            self._call("HeadObject", "get_object_meta", request)
        except ObjectNotFound:
            return False
        return True

    def list(self, prefix: str) -> list[str]:
        validate_prefix(prefix)
        keys: list[str] = []
        token: str | None = None
        while True:
            request = self._oss.ListObjectsV2Request(
                bucket=self._bucket, prefix=self._prefix + prefix, max_keys=1000, continuation_token=token
            )
            result = self._call("ListObjectsV2", "list_objects_v2", request)
            keys.extend(obj.key[len(self._prefix) :] for obj in result.contents or [])
            token = result.next_continuation_token
            if not result.is_truncated or not token:
                return sorted(keys)

    def delete(self, key: str) -> None:
        request = self._oss.DeleteObjectRequest(bucket=self._bucket, key=self._key(key))
        self._call("DeleteObject", "delete_object", request)

    def bucket_encryption(self) -> tuple[str, str | None] | None:
        """GetBucketEncryption (read-only): the bucket's default server-side encryption as ``(algorithm,
        KMS key id or None)`` (``("KMS", None)``: SSE-KMS with the OSS-managed key), ``None`` when the bucket has no
        rule (404 other than ``NoSuchBucket``; OSS's error page "0005-00000004": "the bucket does not have a
        server-side encryption configuration", help.aliyun.com/en/oss/user-guide/0005-00000004). ``StorageError``
        otherwise, ``code`` kept (``NoSuchBucket``, ``AccessDenied``: the caller lacks ``oss:GetBucketEncryption``).
        Used by ``kyc doctor``;
        the functions never call it: every PutObject asks for SSE-KMS itself."""
        oss = self._oss
        request = oss.GetBucketEncryptionRequest(bucket=self._bucket)
        try:
            result = self._call("GetBucketEncryption", "get_bucket_encryption", request)
        except StorageError as exc:
            if exc.status == 404 and exc.code != "NoSuchBucket":
                return None
            raise
        rule = getattr(result.server_side_encryption_rule, "apply_server_side_encryption_by_default", None)
        algorithm = getattr(rule, "sse_algorithm", None)
        if not algorithm:
            return None
        return str(algorithm), (getattr(rule, "kms_master_key_id", None) or None)

    def bucket_versioning(self) -> str | None:
        """GetBucketVersioning (read-only): ``Enabled``, ``Suspended`` (old versions kept from when it was
        enabled), or None for a bucket never versioned. Used by ``kyc doctor`` (``oss:GetBucketVersioning``)."""
        request = self._oss.GetBucketVersioningRequest(bucket=self._bucket)
        status = self._call("GetBucketVersioning", "get_bucket_versioning", request).version_status
        return str(status) if status else None

    def keeps_old_versions(self) -> bool:
        """Whether the first page of ListObjectVersions under the store's prefix holds a version or delete marker
        written while versioning was enabled (a version ID other than ``null``): a bucket whose versioning is
        ``Suspended`` from its creation (template.yml's unversioned stack) holds none. Used by ``kyc doctor``."""
        request = self._oss.ListObjectVersionsRequest(bucket=self._bucket, prefix=self._prefix, max_keys=100)
        result = self._call("ListObjectVersions", "list_object_versions", request)
        entries = [*(result.version or []), *(result.delete_marker or [])]
        return any(entry.version_id not in (None, "null") for entry in entries)

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix``; how many there were (current objects). On a versioned bucket a
        DeleteObject without a version ID only puts a delete marker in front ("Delete marker": "all previous versions
        remain intact"), so there every version and marker under ``prefix`` is deleted by its ``versionId``
        (ListObjectVersions), the data's earlier versions included."""
        if self.versioned:
            return self._delete_versions(prefix)
        keys = self.list(prefix)
        run_all(self._delete_pool, [partial(self.delete, key) for key in keys], MAX_PARALLEL_DELETES)
        return len(keys)

    def _delete_versions(self, prefix: str) -> int:
        """Each round lists the first page of what is left under ``prefix`` (versions and delete markers, newest
        first) and deletes all of it by ``versionId``, until a round finds nothing: no listing resumes after a
        marker that names a version deleted meanwhile (OSS's docs do not say where such a listing resumes).
        ``MAX_VERSION_ROUNDS`` bounds the rounds (a prefix written to faster than it is deleted). In a round the
        versions go first, side by side, and only once every one of them is gone the delete markers: a marker
        deleted while the version behind it stayed (its delete failed) would make that version the key's current
        object again, readable until the deletion is retried (found by review ax). On a page that does not end the
        listing, the markers of its last key wait for a later round: older versions of that key may be on the next
        page (found by review az)."""
        validate_prefix(prefix)
        oss = self._oss
        objects: set[str] = set()  # keys whose newest entry was an object: the ones ``list`` showed
        keys: set[str] = set()
        for _ in range(MAX_VERSION_ROUNDS):
            request = oss.ListObjectVersionsRequest(bucket=self._bucket, prefix=self._prefix + prefix, max_keys=1000)
            result = self._call("ListObjectVersions", "list_object_versions", request)
            entries = [*(result.version or []), *(result.delete_marker or [])]
            if not entries:
                return len(objects)
            for entry in result.version or []:
                if entry.is_latest and entry.key not in keys:  # its first entry listed is its newest
                    objects.add(entry.key)
            keys.update(entry.key for entry in entries)
            markers = result.delete_marker or []
            if result.is_truncated:  # the page's last key may have older versions on the next page: its markers wait
                last = max(entry.key for entry in entries)
                waiting = [marker for marker in markers if marker.key == last]
                if len(waiting) < len(entries):
                    markers = [marker for marker in markers if marker.key != last]
                else:  # a page of that key's markers alone: all but one go (progress); the next page is older than it
                    markers = waiting[1:]
            for batch in (result.version or [], markers):  # versions, then markers
                deletes = [partial(self._call, "DeleteObject", "delete_object",
                                   oss.DeleteObjectRequest(bucket=self._bucket, key=e.key, version_id=e.version_id))
                           for e in batch]  # fmt: skip
                run_all(self._delete_pool, deletes, MAX_PARALLEL_DELETES)
        raise StorageError(f"oss: versions under {prefix!r} kept appearing while they were deleted",
                           transient=True, code="VersionsKeptAppearing")


def _not_oss_answer(operation: str, why: str) -> StorageError:
    return StorageError(
        f"oss {operation}: an answer that is not OSS's ({why}): a proxy or gateway in front of the endpoint?",
        transient=True,
        code="NotOssAnswer",
        maybe_sent=True,
    )


def _close_body(result: Any) -> None:
    body = getattr(result, "body", None)
    if body is not None:
        with contextlib.suppress(Exception):  # the answer is refused already; a failed close changes nothing
            body.close()
