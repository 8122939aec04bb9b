"""The OSS double driven by the official ``alibabacloud_oss_v2`` client over HTTP: every operation, the refusals
(signature, unencrypted write, overwrite, digest, skew, keys), listing semantics and injected faults."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import time
from collections.abc import Iterator
from email.utils import formatdate
from typing import Any

import alibabacloud_oss_v2 as oss
import pytest

from tools.doubles.oss import OssDouble

AK, SK, TOKEN = "LTAI-double-oss", "double-oss-secret", "double-sts-token"
BUCKET, REGION = "kyc-bucket", "cn-hangzhou"


@pytest.fixture
def double() -> Iterator[OssDouble]:
    with OssDouble(access_key_id=AK, access_key_secret=SK, security_token=TOKEN, bucket=BUCKET, region=REGION) as d:
        yield d


def client(double: OssDouble, *, secret: str = SK, token: str | None = TOKEN, **config: Any) -> oss.Client:
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(AK, secret, token)
    cfg.region = config.pop("region", REGION)
    cfg.endpoint = double.endpoint
    cfg.retry_max_attempts = config.pop("retry_max_attempts", 1)
    cfg.readwrite_timeout = config.pop("readwrite_timeout", 5)
    for name, value in config.items():
        setattr(cfg, name, value)
    return oss.Client(cfg)


def put(c: oss.Client, key: str, body: bytes = b"data", **fields: Any) -> Any:
    fields.setdefault("server_side_encryption", "KMS")
    return c.put_object(oss.PutObjectRequest(bucket=fields.pop("bucket", BUCKET), key=key, body=body, **fields))


def service_error(call: Any) -> oss.exceptions.ServiceError:
    with pytest.raises(oss.exceptions.OperationError) as caught:
        call()
    cause = caught.value.unwrap()
    assert isinstance(cause, oss.exceptions.ServiceError), cause
    return cause


# --- operations ------------------------------------------------------------------------------------------


def test_put_stores_the_object_with_its_content_type_and_kms_encryption(double: OssDouble) -> None:
    result = put(client(double), "results/a.json", b'{"a":1}', content_type="application/json")
    stored = double.object("results/a.json")
    assert stored is not None
    assert (stored.data, stored.content_type, stored.encryption) == (b'{"a":1}', "application/json", "KMS")
    assert result.etag == '"' + hashlib.md5(b'{"a":1}').hexdigest().upper() + '"'
    assert result.headers["x-oss-server-side-encryption"] == "KMS"
    assert result.headers["x-oss-server-side-encryption-key-id"] == double.kms_key_id


def test_put_passes_the_sdks_crc64_check(double: OssDouble) -> None:
    result = put(client(double), "k", b"\x00\xff" * 1000)
    assert result.hash_crc64 == str(double.object("k").crc64)  # type: ignore[union-attr]


def test_put_with_a_kms_key_id_records_and_echoes_it(double: OssDouble) -> None:
    c = client(double)
    put(c, "k", server_side_encryption_key_id="cmk-123")
    head = c.head_object(oss.HeadObjectRequest(bucket=BUCKET, key="k"))
    assert (head.server_side_encryption, head.server_side_encryption_key_id) == ("KMS", "cmk-123")


def test_get_returns_the_bytes_and_echoes_the_encryption_headers(double: OssDouble) -> None:
    c = client(double)
    put(c, "img/face.jpg", b"\xff\xd8jpeg", content_type="image/jpeg", metadata={"origin": "double"})
    result = c.get_object(oss.GetObjectRequest(bucket=BUCKET, key="img/face.jpg"))
    assert result.body.read() == b"\xff\xd8jpeg"
    assert result.content_type == "image/jpeg"
    assert result.server_side_encryption == "KMS"
    assert result.server_side_encryption_key_id == double.kms_key_id
    assert result.metadata == {"origin": "double"}
    assert result.content_md5 == base64.b64encode(hashlib.md5(b"\xff\xd8jpeg").digest()).decode()


def test_head_answers_the_size_and_encryption_without_a_body(double: OssDouble) -> None:
    c = client(double)
    put(c, "k", b"12345")
    head = c.head_object(oss.HeadObjectRequest(bucket=BUCKET, key="k"))
    assert (head.content_length, head.server_side_encryption) == (5, "KMS")


def test_get_object_meta_answers_size_and_etag(double: OssDouble) -> None:
    c = client(double)
    put(c, "k", b"12345")
    meta = c.get_object_meta(oss.GetObjectMetaRequest(bucket=BUCKET, key="k"))
    assert (meta.content_length, meta.etag) == (5, double.object("k").etag)  # type: ignore[union-attr]


def test_delete_removes_the_object_and_a_missing_key_is_not_an_error(double: OssDouble) -> None:
    c = client(double)
    put(c, "k")
    assert c.delete_object(oss.DeleteObjectRequest(bucket=BUCKET, key="k")).status_code == 204
    assert c.delete_object(oss.DeleteObjectRequest(bucket=BUCKET, key="k")).status_code == 204
    assert double.keys() == []


@pytest.mark.parametrize("operation", ["get", "head", "meta"])
def test_a_missing_key_is_no_such_key_404(double: OssDouble, operation: str) -> None:
    c = client(double)
    calls = {
        "get": lambda: c.get_object(oss.GetObjectRequest(bucket=BUCKET, key="none")),
        "head": lambda: c.head_object(oss.HeadObjectRequest(bucket=BUCKET, key="none")),
        "meta": lambda: c.get_object_meta(oss.GetObjectMetaRequest(bucket=BUCKET, key="none")),
    }
    err = service_error(calls[operation])
    assert (err.status_code, err.code) == (404, "NoSuchKey")  # HEAD: read from the x-oss-err header
    assert err.request_id


def test_an_unknown_bucket_is_no_such_bucket(double: OssDouble) -> None:
    err = service_error(lambda: put(client(double), "k", bucket="other-bucket"))
    assert (err.status_code, err.code) == (404, "NoSuchBucket")


def test_keys_with_unicode_spaces_and_reserved_characters_round_trip(double: OssDouble) -> None:
    c = client(double)
    key = "results/证件 (1)/a+b=c&d%e~f!.json"
    put(c, key, b"x")
    assert double.keys() == [key]
    assert c.get_object(oss.GetObjectRequest(bucket=BUCKET, key=key)).body.read() == b"x"
    listed = c.list_objects_v2(oss.ListObjectsV2Request(bucket=BUCKET, prefix="results/证件"))
    assert [o.key for o in listed.contents] == [key]


# --- conditional reads ("GetObject"/"HeadObject" request headers, "Conditional download") ----------------------

READS = ["get", "head"]


def _read(c: oss.Client, operation: str, **conditions: Any) -> Any:
    """GetObject or HeadObject of ``k`` with the given ``if_*`` fields."""
    if operation == "get":
        return c.get_object(oss.GetObjectRequest(bucket=BUCKET, key="k", **conditions))
    return c.head_object(oss.HeadObjectRequest(bucket=BUCKET, key="k", **conditions))


def _stored(double: OssDouble, data: bytes = b"content") -> tuple[oss.Client, str, float]:
    """``k`` uploaded: the client, its ETag (quoted, as OSS answers it) and its Last-Modified second."""
    c = client(double)
    put(c, "k", data)
    stored = double.object("k")
    assert stored is not None
    return c, stored.etag, float(int(stored.last_modified))


def _http_date(epoch: float) -> str:
    return formatdate(epoch, usegmt=True)


@pytest.mark.parametrize("operation", READS)
@pytest.mark.parametrize("quoted", [True, False], ids=["quoted", "unquoted"])
def test_if_match_with_the_objects_etag_answers_the_object(double: OssDouble, operation: str, quoted: bool) -> None:
    """If-Match: "the object and 200 OK are returned" when the ETag matches. OSS answers the ETag quoted; the
    vendor's examples send it bare: both match (the bare form unverified)."""
    c, etag, _ = _stored(double)
    result = _read(c, operation, if_match=etag if quoted else etag.strip('"'))
    assert result.status_code == 200
    if operation == "get":
        assert result.body.read() == b"content"


@pytest.mark.parametrize("operation", READS)
def test_if_match_naming_another_etag_is_precondition_failed(double: OssDouble, operation: str) -> None:
    """If-Match: "Otherwise, 412 Precondition Failed is returned"; the code and message of "HTTP status code 412"
    (a HEAD answer carries them in ``x-oss-err``)."""
    c, _, _ = _stored(double)
    err = service_error(lambda: _read(c, operation, if_match='"' + "0" * 32 + '"'))
    assert (err.status_code, err.code, err.ec) == (412, "PreconditionFailed", "0017-00001001")
    assert err.message == "At least one of the pre-conditions you specified did not hold"


@pytest.mark.parametrize("operation", READS)
@pytest.mark.parametrize("quoted", [True, False], ids=["quoted", "unquoted"])
def test_if_none_match_with_the_objects_etag_is_not_modified(double: OssDouble, operation: str, quoted: bool) -> None:
    """If-None-Match: "Otherwise, 304 Not Modified is returned"; the 304 has no body but names the ETag and
    Last-Modified (RFC 7232 section 4.1; OSS's own 304 unverified)."""
    c, etag, last_modified = _stored(double)
    err = service_error(lambda: _read(c, operation, if_none_match=etag if quoted else etag.strip('"')))
    assert err.status_code == 304
    assert err.snapshot == b""
    assert (err.headers["ETag"], err.headers["Last-Modified"]) == (etag, _http_date(last_modified))


@pytest.mark.parametrize("operation", READS)
def test_if_none_match_naming_another_etag_answers_the_object(double: OssDouble, operation: str) -> None:
    c, _, _ = _stored(double)
    assert _read(c, operation, if_none_match='"' + "0" * 32 + '"').status_code == 200


@pytest.mark.parametrize("operation", READS)
@pytest.mark.parametrize(("offset", "status"), [(-1, 200), (0, 304), (60, 304)], ids=["before", "same", "after"])
def test_if_modified_since_answers_the_object_only_when_modified_after_it(
    double: OssDouble, operation: str, offset: int, status: int
) -> None:
    """If-Modified-Since: "If the time specified in this header is earlier than the object modified time ... the
    object and 200 OK are returned. Otherwise, 304 Not Modified is returned" — the same second is not earlier."""
    c, _, last_modified = _stored(double)
    since = _http_date(last_modified + offset)
    if status == 200:
        assert _read(c, operation, if_modified_since=since).status_code == 200
    else:
        assert service_error(lambda: _read(c, operation, if_modified_since=since)).status_code == 304


@pytest.mark.parametrize("operation", READS)
@pytest.mark.parametrize(("offset", "status"), [(-1, 412), (0, 200), (60, 200)], ids=["before", "same", "after"])
def test_if_unmodified_since_answers_the_object_only_when_not_modified_after_it(
    double: OssDouble, operation: str, offset: int, status: int
) -> None:
    """If-Unmodified-Since: "If the time specified in this header is the same as or later than the object modified
    time, the object and 200 OK are returned. Otherwise, 412 Precondition Failed is returned"."""
    c, _, last_modified = _stored(double)
    since = _http_date(last_modified + offset)
    if status == 200:
        assert _read(c, operation, if_unmodified_since=since).status_code == 200
    else:
        err = service_error(lambda: _read(c, operation, if_unmodified_since=since))
        assert (err.status_code, err.code) == (412, "PreconditionFailed")


@pytest.mark.parametrize("header", ["if_modified_since", "if_unmodified_since"])
def test_an_invalid_time_condition_is_ignored(double: OssDouble, header: str) -> None:
    """If-Modified-Since: 200 when the time "is invalid" ("GetObject", and the SDK's field doc); the same for
    If-Unmodified-Since is unverified."""
    c, _, _ = _stored(double)
    assert _read(c, "get", **{header: "yesterday"}).status_code == 200


@pytest.mark.parametrize("operation", READS)
@pytest.mark.parametrize(
    ("conditions", "status"),
    [
        ({"if_match": "ETAG", "if_unmodified_since": "BEFORE"}, 200),
        ({"if_match": "OTHER", "if_unmodified_since": "AFTER"}, 412),
        ({"if_none_match": "ETAG", "if_modified_since": "BEFORE"}, 304),
        ({"if_none_match": "OTHER", "if_modified_since": "AFTER"}, 200),
        ({"if_match": "OTHER", "if_none_match": "ETAG"}, 412),
        ({"if_unmodified_since": "BEFORE", "if_modified_since": "AFTER"}, 412),
        ({"if_match": "ETAG", "if_none_match": "ETAG"}, 304),
    ],
    ids=["match-wins-over-unmodified", "match-fails-alone", "none-match-wins-over-modified",
         "none-match-passes-over-modified", "match-before-none-match", "unmodified-before-modified",
         "both-etags-hold-then-not-modified"],
)
def test_several_conditions_are_weighed_in_rfc_7232_order(
    double: OssDouble, operation: str, conditions: dict[str, str], status: int
) -> None:
    """The pages only say the time pair and the ETag pair "can be combined"; which wins follows RFC 7232 section 6
    (unverified for OSS; Amazon S3 documents the same outcomes): If-Match, then If-Unmodified-Since when If-Match is
    absent, then If-None-Match, then If-Modified-Since when If-None-Match is absent."""
    c, etag, last_modified = _stored(double)
    values = {"ETAG": etag, "OTHER": '"' + "0" * 32 + '"',
              "BEFORE": _http_date(last_modified - 60), "AFTER": _http_date(last_modified + 60)}
    fields = {name: values[value] for name, value in conditions.items()}
    if status == 200:
        assert _read(c, operation, **fields).status_code == 200
    else:
        assert service_error(lambda: _read(c, operation, **fields)).status_code == status


def test_a_condition_on_a_missing_key_is_no_such_key(double: OssDouble) -> None:
    """The key is looked up before its conditions are weighed (unverified: RFC 7232 would answer If-Match 412)."""
    err = service_error(lambda: _read(client(double), "get", if_match='"' + "0" * 32 + '"'))
    assert (err.status_code, err.code) == (404, "NoSuchKey")


# --- listing ---------------------------------------------------------------------------------------------


def _seed(double: OssDouble, *keys: str) -> None:
    for key in keys:
        double.seed(key, b"x")


def test_list_returns_keys_under_the_prefix_in_order(double: OssDouble) -> None:
    _seed(double, "r/2/a", "r/1/b", "r/1/a", "r/10/a", "s/1")
    result = client(double).list_objects_v2(oss.ListObjectsV2Request(bucket=BUCKET, prefix="r/1"))
    assert [o.key for o in result.contents] == ["r/1/a", "r/1/b", "r/10/a"]
    assert (result.key_count, result.is_truncated, result.max_keys) == (3, False, 100)
    assert result.contents[0].size == 1 and result.contents[0].storage_class == "Standard"


def test_list_pages_with_continuation_tokens(double: OssDouble) -> None:
    keys = [f"k/{i:03d}" for i in range(7)]
    _seed(double, *keys)
    c = client(double)
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        result = c.list_objects_v2(
            oss.ListObjectsV2Request(bucket=BUCKET, prefix="k/", max_keys=3, continuation_token=token)
        )
        pages += 1
        seen.extend(o.key for o in result.contents)
        if not result.is_truncated:
            break
        token = result.next_continuation_token
    assert (seen, pages) == (keys, 3)


def test_the_sdk_paginator_lists_everything(double: OssDouble) -> None:
    _seed(double, *(f"p/{i}" for i in range(5)))
    paginator = client(double).list_objects_v2_paginator(limit=2)
    keys = [o.key for page in paginator.iter_page(oss.ListObjectsV2Request(bucket=BUCKET)) for o in page.contents]
    assert keys == [f"p/{i}" for i in range(5)]


def test_list_starts_after_a_key(double: OssDouble) -> None:
    _seed(double, "a", "b", "c")
    result = client(double).list_objects_v2(oss.ListObjectsV2Request(bucket=BUCKET, start_after="a"))
    assert ([o.key for o in result.contents], result.start_after) == (["b", "c"], "a")


def test_a_delimiter_rolls_keys_up_into_common_prefixes_across_pages(double: OssDouble) -> None:
    _seed(double, "r/1/a", "r/1/b", "r/2/a", "r/3", "r/4/x/y")
    c = client(double)
    first = c.list_objects_v2(oss.ListObjectsV2Request(bucket=BUCKET, prefix="r/", delimiter="/", max_keys=2))
    assert [p.prefix for p in first.common_prefixes] == ["r/1/", "r/2/"] and first.is_truncated
    second = c.list_objects_v2(
        oss.ListObjectsV2Request(
            bucket=BUCKET, prefix="r/", delimiter="/", max_keys=2, continuation_token=first.next_continuation_token
        )
    )
    assert [o.key for o in second.contents] == ["r/3"]
    assert [p.prefix for p in second.common_prefixes] == ["r/4/"]
    assert second.is_truncated is False


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_keys", 1001),
        ("max_keys", 0),
        ("continuation_token", "not-a-token"),
        ("continuation_token", base64.urlsafe_b64encode(b"z:k/001").decode()),
        ("encoding_type", "xml"),
    ],
    ids=["max-keys-1001", "max-keys-0", "token", "token-of-another-kind", "encoding-type"],
)
def test_bad_list_parameters_are_invalid_argument(double: OssDouble, field: str, value: Any) -> None:
    c = client(double)
    err = service_error(lambda: c.list_objects_v2(oss.ListObjectsV2Request(bucket=BUCKET, **{field: value})))
    assert (err.status_code, err.code) == (400, "InvalidArgument")


def test_key_count_counts_common_prefixes_too(double: OssDouble) -> None:
    """ "KeyCount: the number of keys returned in this request", CommonPrefixes included ("ListObjectsV2")."""
    _seed(double, "r/1/a", "r/2/a", "r/3")
    result = client(double).list_objects_v2(oss.ListObjectsV2Request(bucket=BUCKET, prefix="r/", delimiter="/"))
    assert ([o.key for o in result.contents], len(result.common_prefixes), result.key_count) == (["r/3"], 2, 3)


def test_listed_keys_are_url_encoded_as_the_sdk_asks(double: OssDouble) -> None:
    """The SDK asks for ``encoding-type=url`` and decodes the keys: a key holding ``%41`` must come back as is."""
    _seed(double, "a%41b", "c+d e")
    result = client(double).list_objects_v2(oss.ListObjectsV2Request(bucket=BUCKET))
    assert [o.key for o in result.contents] == ["a%41b", "c+d e"]


# --- versioning and bucket settings --------------------------------------------------------------------


@pytest.fixture
def versioned() -> Iterator[OssDouble]:
    with OssDouble(
        access_key_id=AK, access_key_secret=SK, security_token=TOKEN, bucket=BUCKET, region=REGION, versioning=True
    ) as d:
        yield d


def _versions(c: oss.Client, **fields: Any) -> Any:
    return c.list_object_versions(oss.ListObjectVersionsRequest(bucket=BUCKET, **fields))


def _history(c: oss.Client, **fields: Any) -> set[tuple[str, str, bool, bool]]:
    """(key, version id, is latest, is a delete marker) of one ListObjectVersions page (the SDK splits versions and
    markers into two lists, so the page's order is not kept here)."""
    page = _versions(c, **fields)
    return {(v.key, v.version_id, v.is_latest, False) for v in page.version or []} | {
        (m.key, m.version_id, m.is_latest, True) for m in page.delete_marker or []
    }


def _delete(c: oss.Client, key: str, version_id: str | None = None) -> Any:
    return c.delete_object(oss.DeleteObjectRequest(bucket=BUCKET, key=key, version_id=version_id))


def test_each_put_on_a_versioned_bucket_answers_a_new_version_id(versioned: OssDouble) -> None:
    """ "Versioning": every upload to a versioning-enabled bucket creates a version, named by x-oss-version-id."""
    c = client(versioned)
    first, second = put(c, "k", b"1").version_id, put(c, "k", b"2").version_id
    assert first and second and first != second
    assert _history(c) == {("k", second, True, False), ("k", first, False, False)}
    assert c.get_object(oss.GetObjectRequest(bucket=BUCKET, key="k")).body.read() == b"2"


def test_a_delete_without_version_id_adds_a_marker_and_keeps_every_version(versioned: OssDouble) -> None:
    """ "Delete marker": DeleteObject without a version ID inserts a delete marker as the current version; GetObject
    then returns 404 while the previous versions remain."""
    c = client(versioned)
    kept = put(c, "k", b"1").version_id
    deleted = _delete(c, "k")
    assert deleted.delete_marker is True and deleted.version_id
    err = service_error(lambda: c.get_object(oss.GetObjectRequest(bucket=BUCKET, key="k")))
    assert (err.status_code, err.code) == (404, "NoSuchKey")
    assert _history(c) == {("k", deleted.version_id, True, True), ("k", kept, False, False)}


def test_deleting_an_object_whose_current_version_is_a_marker_stacks_another_marker(versioned: OssDouble) -> None:
    """ "Delete marker": "OSS adds a new delete marker on top of the existing one, and each marker gets its own
    unique version ID"."""
    c = client(versioned)
    put(c, "k")
    first, second = _delete(c, "k").version_id, _delete(c, "k").version_id
    assert first != second
    assert {(v, latest, marker) for _, v, latest, marker in _history(c) if marker} == {
        (second, True, True),
        (first, False, True),
    }


def test_deleting_the_current_version_makes_the_one_before_it_current(versioned: OssDouble) -> None:
    """DeleteObject with versionId removes that version for good; the previous version is current again."""
    c = client(versioned)
    older = put(c, "k", b"older").version_id
    newer = put(c, "k", b"newer").version_id
    answer = _delete(c, "k", newer)
    assert (answer.version_id, answer.delete_marker) == (newer, None)
    assert c.get_object(oss.GetObjectRequest(bucket=BUCKET, key="k")).body.read() == b"older"
    assert _history(c) == {("k", older, True, False)}


def test_deleting_the_delete_marker_restores_the_object_and_says_it_was_a_marker(versioned: OssDouble) -> None:
    """ "DeleteObject": x-oss-delete-marker: true when the version deleted was a delete marker."""
    c = client(versioned)
    put(c, "k", b"content")
    marker = _delete(c, "k").version_id
    answer = _delete(c, "k", marker)
    assert (answer.version_id, answer.delete_marker) == (marker, True)
    assert c.get_object(oss.GetObjectRequest(bucket=BUCKET, key="k")).body.read() == b"content"


def test_list_versions_pages_by_key_and_version_id_markers(versioned: OssDouble) -> None:
    """ "ListObjectVersions": entries after (key-marker, version-id-marker), NextKeyMarker/NextVersionIdMarker on a
    truncated page; a key-marker alone skips every version of that key; the prefix holds on every page."""
    c = client(versioned)
    a1, a2 = put(c, "a", b"1").version_id, put(c, "a", b"2").version_id
    b1 = put(c, "b", b"1").version_id
    put(c, "other/x")
    first = _versions(c, prefix="a", max_keys=1)
    assert (first.is_truncated, first.next_key_marker, first.next_version_id_marker) == (True, "a", a2)
    assert _history(c, key_marker="a", version_id_marker=a2, max_keys=1) == {("a", a1, False, False)}
    assert _history(c, key_marker="a", max_keys=1) == {("b", b1, True, False)}
    assert {e[0] for e in _history(c, prefix="a")} == {"a"}
    assert _versions(c, prefix="a").is_truncated is False


def test_an_unversioned_bucket_lists_each_object_once_as_version_null(double: OssDouble) -> None:
    c = client(double)
    put(c, "k")
    assert _history(c) == {("k", "null", True, False)}


def test_deleting_a_version_that_does_not_exist_leaves_the_object(double: OssDouble, versioned: OssDouble) -> None:
    for d in (double, versioned):
        c = client(d)
        put(c, "k", b"content")
        _delete(c, "k", "CAEQ000000000099")
        assert d.object("k").data == b"content"  # type: ignore[union-attr]


def test_an_empty_version_id_is_invalid_argument(versioned: OssDouble) -> None:
    c = client(versioned)
    put(c, "k")
    err = service_error(lambda: _delete(c, "k", ""))
    assert (err.status_code, err.code) == (400, "InvalidArgument")
    assert versioned.object("k") is not None


def test_listing_versions_with_a_delimiter_is_refused_not_ignored(versioned: OssDouble) -> None:
    err = service_error(lambda: _versions(client(versioned), delimiter="/"))
    assert (err.status_code, err.code) == (501, "NotImplemented")


def test_bucket_versioning_is_enabled_only_on_a_versioned_bucket(double: OssDouble, versioned: OssDouble) -> None:
    """ "GetBucketVersioning": Status Enabled or Suspended; none for a bucket never versioned."""

    def status(d: OssDouble) -> Any:
        return client(d).get_bucket_versioning(oss.GetBucketVersioningRequest(bucket=BUCKET)).version_status

    assert (status(versioned), status(double)) == ("Enabled", None)


def test_bucket_encryption_reports_the_default_rule_and_a_customer_key(double: OssDouble) -> None:
    """ "GetBucketEncryption": SSEAlgorithm, and KMSMasterKeyID only when a customer key is configured; a bucket
    without a rule answers 404."""
    c = client(double)

    def rule() -> Any:
        answer = c.get_bucket_encryption(oss.GetBucketEncryptionRequest(bucket=BUCKET))
        return answer.server_side_encryption_rule.apply_server_side_encryption_by_default

    assert (rule().sse_algorithm, rule().kms_master_key_id) == ("KMS", None)
    double.set_bucket_encryption(BUCKET, "KMS", "cmk-1")
    assert (rule().sse_algorithm, rule().kms_master_key_id) == ("KMS", "cmk-1")
    double.set_bucket_encryption(BUCKET, None)
    err = service_error(rule)
    assert err.status_code == 404 and err.code != "NoSuchBucket"


# --- refusals --------------------------------------------------------------------------------------------


def test_a_wrong_secret_is_signature_does_not_match_and_nothing_is_stored(double: OssDouble) -> None:
    err = service_error(lambda: put(client(double, secret="wrong"), "k"))
    assert (err.status_code, err.code) == (403, "SignatureDoesNotMatch")
    assert "OSS4-HMAC-SHA256" in err.error_fileds["StringToSign"]
    assert double.keys() == []


def test_an_unencrypted_write_is_refused_as_the_bucket_policy_would(double: OssDouble) -> None:
    err = service_error(lambda: put(client(double), "k", server_side_encryption=None))
    assert (err.status_code, err.code) == (403, "AccessDenied")
    assert double.keys() == []


def test_an_aes256_write_is_refused_too_only_kms_is_allowed(double: OssDouble) -> None:
    err = service_error(lambda: put(client(double), "k", server_side_encryption="AES256"))
    assert (err.status_code, err.code) == (403, "AccessDenied")


def test_an_unknown_encryption_algorithm_is_invalid(double: OssDouble) -> None:
    err = service_error(lambda: put(client(double), "k", server_side_encryption="ROT13"))
    assert (err.status_code, err.code) == (400, "InvalidEncryptionAlgorithmError")


def test_unencrypted_writes_are_accepted_when_the_policy_is_off() -> None:
    with OssDouble(access_key_id=AK, access_key_secret=SK, require_kms=False) as double:
        put(client(double, token=None), "k", server_side_encryption=None)
        assert double.object("k").encryption is None  # type: ignore[union-attr]


def test_forbid_overwrite_refuses_an_existing_key_with_409(double: OssDouble) -> None:
    c = client(double)
    put(c, "k", b"first", forbid_overwrite=True)
    err = service_error(lambda: put(c, "k", b"second", forbid_overwrite=True))
    assert (err.status_code, err.code) == (409, "FileAlreadyExists")
    assert double.object("k").data == b"first"  # type: ignore[union-attr]
    put(c, "k", b"third")  # without the header, OSS overwrites
    assert double.object("k").data == b"third"  # type: ignore[union-attr]


def test_an_empty_kms_key_id_is_invalid_argument(double: OssDouble) -> None:
    """OSS error 0005-00000205: ``x-oss-server-side-encryption-key-id`` present but empty (code unverified)."""
    err = service_error(lambda: put(client(double), "k", server_side_encryption_key_id=""))
    assert (err.status_code, err.code) == (400, "InvalidArgument")
    assert double.keys() == []


def test_forbid_overwrite_other_than_true_or_false_is_invalid_argument(double: OssDouble) -> None:
    """OSS error 0017-00000279: ``x-oss-forbid-overwrite`` takes true or false."""
    err = service_error(lambda: put(client(double), "k", forbid_overwrite="maybe"))
    assert (err.status_code, err.code) == (400, "InvalidArgument")
    assert double.keys() == []


@pytest.mark.parametrize("operation", ["put-acl", "get-tagging", "delete-tagging"])
def test_object_sub_resources_are_not_taken_for_the_object(double: OssDouble, operation: str) -> None:
    """``?acl`` / ``?tagging`` name a sub-resource, not the content: the double answers 501 rather than writing,
    reading or deleting the object."""
    c = client(double)
    put(c, "k", b"content")
    calls = {
        "put-acl": lambda: c.put_object_acl(oss.PutObjectAclRequest(bucket=BUCKET, key="k", acl="private")),
        "get-tagging": lambda: c.get_object_tagging(oss.GetObjectTaggingRequest(bucket=BUCKET, key="k")),
        "delete-tagging": lambda: c.delete_object_tagging(oss.DeleteObjectTaggingRequest(bucket=BUCKET, key="k")),
    }
    err = service_error(calls[operation])
    assert (err.status_code, err.code) == (501, "NotImplemented")
    assert double.object("k").data == b"content"  # type: ignore[union-attr]


def test_a_content_md5_that_does_not_match_the_body_is_invalid_digest(double: OssDouble) -> None:
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    err = service_error(lambda: put(client(double), "k", b"body", content_md5=wrong))
    assert (err.status_code, err.code) == (400, "InvalidDigest")
    right = base64.b64encode(hashlib.md5(b"body").digest()).decode()
    put(client(double), "k", b"body", content_md5=right)


def test_an_sts_key_without_its_token_is_refused(double: OssDouble) -> None:
    err = service_error(lambda: put(client(double, token=None), "k"))
    assert (err.status_code, err.code) == (403, "InvalidAccessKeyId")


def test_an_unknown_access_key_is_invalid_access_key_id(double: OssDouble) -> None:
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider("LTAI-unknown", SK, TOKEN)
    cfg.region, cfg.endpoint, cfg.retry_max_attempts = REGION, double.endpoint, 1
    err = service_error(lambda: put(oss.Client(cfg), "k"))
    assert (err.status_code, err.code) == (403, "InvalidAccessKeyId")
    assert double.keys() == []


def _pinned_payload_hash(headers: dict[str, str]) -> Any:
    """Request headers whose ``x-oss-content-sha256`` the SDK's signer cannot overwrite (it always sets
    UNSIGNED-PAYLOAD); the signer then signs the hash given here."""
    from requests.structures import CaseInsensitiveDict

    class Pinned(CaseInsensitiveDict[str]):
        def __setitem__(self, key: str, value: str) -> None:
            if key.lower() != "x-oss-content-sha256" or key not in self:
                super().__setitem__(key, value)

    return Pinned(headers)


def _signed_raw(double: OssDouble, method: str, key: str, headers: dict[str, str]) -> dict[str, str]:
    from alibabacloud_oss_v2.signer.v4 import SignerV4
    from alibabacloud_oss_v2.types import HttpRequest, SigningContext

    request = HttpRequest(method, f"http://127.0.0.1:{double.port}/{BUCKET}/{key}")
    request.headers = _pinned_payload_hash(headers)
    SignerV4().sign(
        SigningContext(
            product="oss",
            region=REGION,
            bucket=BUCKET,
            key=key,
            request=request,
            credentials=oss.credentials.StaticCredentialsProvider(AK, SK, TOKEN).get_credentials(),
        )
    )
    return dict(request.headers)


def _send(double: OssDouble, method: str, key: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", double.port, timeout=5)
    try:
        conn.request(method, f"/{BUCKET}/{key}", body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_a_body_that_does_not_match_its_signed_payload_hash_is_refused(double: OssDouble) -> None:
    """``x-oss-content-sha256`` is UNSIGNED-PAYLOAD or the body's SHA-256 ("Signature Version 4"); a signed hash
    that is not the body's is refused (code unverified)."""
    encrypted = {"x-oss-server-side-encryption": "KMS"}
    right = _signed_raw(double, "PUT", "k", {**encrypted, "x-oss-content-sha256": hashlib.sha256(b"body").hexdigest()})
    assert _send(double, "PUT", "k", right, b"body")[0] == 200
    wrong = _signed_raw(double, "PUT", "k", {**encrypted, "x-oss-content-sha256": hashlib.sha256(b"else").hexdigest()})
    status, body = _send(double, "PUT", "k", wrong, b"body")
    assert (status, b"<Code>SignatureDoesNotMatch</Code>" in body) == (403, True)


@pytest.mark.parametrize("date", ["", "2024-01-01T00:00:00Z"], ids=["missing", "not-iso-basic"])
def test_a_missing_or_malformed_x_oss_date_is_access_denied(double: OssDouble, date: str) -> None:
    """ "Add signatures to headers": a missing or malformed request time → 403 AccessDenied."""
    headers = _signed_raw(double, "GET", "k", {})
    headers.pop("x-oss-date")
    if date:
        headers["x-oss-date"] = date
    status, body = _send(double, "GET", "k", headers)
    assert (status, b"<Code>AccessDenied</Code>" in body) == (403, True)


def test_a_request_signed_for_another_region_is_refused(double: OssDouble) -> None:
    err = service_error(lambda: put(client(double, region="ap-southeast-1"), "k"))
    assert (err.status_code, err.code) == (400, "InvalidArgument")


def test_a_client_clock_20_minutes_off_is_request_time_too_skewed() -> None:
    with OssDouble(access_key_id=AK, access_key_secret=SK, clock=lambda: time.time() + 1200) as double:
        err = service_error(lambda: put(client(double, token=None), "k"))
    assert (err.status_code, err.code) == (403, "RequestTimeTooSkewed")


def test_an_anonymous_request_is_access_denied(double: OssDouble) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", double.port, timeout=5)
    conn.request("GET", f"/{BUCKET}/k")
    response = conn.getresponse()
    body = response.read()
    conn.close()
    assert response.status == 403 and b"<Code>AccessDenied</Code>" in body
    assert response.getheader("x-oss-request-id")


def test_a_path_style_request_to_a_dns_host_names_the_bucket_in_the_path(double: OssDouble) -> None:
    """The Host's first label is a bucket only when it names one; otherwise the path does (path style)."""
    double.seed("p/k", b"path")
    headers = _signed_raw(double, "GET", "p/k", {})
    headers["Host"] = f"oss-{REGION}.aliyuncs.com"
    assert _send(double, "GET", "p/k", headers) == (200, b"path")


def test_virtual_hosted_addressing_names_the_bucket_in_the_host(double: OssDouble) -> None:
    """What the SDK sends for a DNS endpoint: ``Host: <bucket>.<endpoint>``, path ``/<key>``."""
    from alibabacloud_oss_v2.signer.v4 import SignerV4
    from alibabacloud_oss_v2.types import HttpRequest, SigningContext

    double.seed("v/k", b"virtual")
    host = f"{BUCKET}.oss-{REGION}.aliyuncs.com"
    request = HttpRequest("GET", f"http://{host}/v/k", headers={})
    SignerV4().sign(
        SigningContext(
            product="oss",
            region=REGION,
            bucket=BUCKET,
            key="v/k",
            request=request,
            credentials=oss.credentials.StaticCredentialsProvider(AK, SK, TOKEN).get_credentials(),
        )
    )
    conn = http.client.HTTPConnection("127.0.0.1", double.port, timeout=5)
    conn.request("GET", "/v/k", headers={**request.headers, "Host": host})
    response = conn.getresponse()
    assert (response.status, response.read()) == (200, b"virtual")
    conn.close()


# --- faults and the control API --------------------------------------------------------------------------


def test_an_injected_503_reaches_the_client_with_the_oss_code(double: OssDouble) -> None:
    double.set_faults({"operations": {"PutObject": {"sequence": ["ServiceUnavailable"]}}})
    err = service_error(lambda: put(client(double), "k"))
    assert (err.status_code, err.code) == (503, "ServiceUnavailable")
    assert double.keys() == []


def test_the_sdk_retries_an_injected_throttle_and_succeeds(double: OssDouble) -> None:
    double.set_faults({"operations": {"PutObject": {"sequence": ["TotalQpsLimitExceeded"]}}})
    put(client(double, retry_max_attempts=3), "k")
    assert double.keys() == ["k"]
    assert double.stats()["requests"]["PutObject"] == 2
    assert double.stats()["faults"] == {"error:TotalQpsLimitExceeded": 1}


def test_a_drop_after_processing_stores_the_object_the_client_never_hears_of(double: OssDouble) -> None:
    double.set_faults({"operations": {"PutObject": {"sequence": ["drop-after"]}}})
    with pytest.raises(oss.exceptions.OperationError):
        put(client(double), "k")
    assert double.keys() == ["k"]


def test_a_slow_answer_times_the_client_out(double: OssDouble) -> None:
    double.set_faults({"operations": {"GetObject": {"sequence": ["delay:1.5"]}}})
    double.seed("k", b"x")
    with pytest.raises(oss.exceptions.OperationError):
        client(double, readwrite_timeout=0.5).get_object(oss.GetObjectRequest(bucket=BUCKET, key="k"))


def test_a_plan_with_a_code_oss_does_not_have_is_refused(double: OssDouble) -> None:
    with pytest.raises(ValueError, match="unknown error code"):
        double.set_faults({"operations": {"PutObject": {"sequence": ["OTSServerBusy"]}}})


def test_the_control_api_lists_objects_with_their_encryption(double: OssDouble) -> None:
    put(client(double), "a/1", b"xy", content_type="text/plain")
    put(client(double), "b/1", b"outside the prefix")
    conn = http.client.HTTPConnection("127.0.0.1", double.port, timeout=5)
    conn.request("GET", "/_double/objects?prefix=a/")
    listing = json.loads(conn.getresponse().read())
    conn.close()
    [entry] = listing["objects"]
    assert entry == {
        "key": "a/1",
        "size": 2,
        "contentType": "text/plain",
        "encryption": "KMS",
        "encryptionKeyId": double.kms_key_id,
    }


def test_received_requests_carry_the_sts_token_header(double: OssDouble) -> None:
    put(client(double), "k")
    [received] = double.received("PutObject")
    assert received.request.header("x-oss-security-token") == TOKEN
    assert received.request.header("x-oss-server-side-encryption") == "KMS"
