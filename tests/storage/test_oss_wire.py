"""OssObjectStore: the real ``alibabacloud_oss_v2`` client against the OSS double (``tools.doubles.oss``).

The double verifies each request's OSS V4 signature with an independent implementation (checked against the SDK's
signer in tests/doubles/test_oss_signature.py) and answers 403 when it does not match, refuses a PUT without
SSE-KMS as the bucket policy would, and keeps objects in memory. What the adapter sends is read back from the
double's request log. The backend-independent contract is in test_objects.py.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from shared.signing import Credentials
from shared.storage import InvalidKey, ObjectNotFound, ObjectStore, OssObjectStore, StorageError
from tests.loopback import DrippingServer
from tools.doubles.oss import OssDouble

from .conftest import BUCKET, CREDS, REGION


def _store(server: OssDouble, prefix: str = "", creds: Credentials = CREDS) -> OssObjectStore:
    return OssObjectStore(
        bucket=BUCKET, region=REGION, credentials=creds, endpoint=server.endpoint, prefix=prefix, retry_max_attempts=1
    )


def test_store_satisfies_protocol(server: OssDouble) -> None:
    assert isinstance(_store(server), ObjectStore)


def test_put_sends_kms_encryption_content_type_and_signed_sts_request(server: OssDouble) -> None:
    _store(server).put("results/abc/result.json", b'{"a":1}', "application/json")
    [put] = server.received("PutObject")
    assert put.request.method == "PUT" and put.request.path == f"/{BUCKET}/results/abc/result.json"
    assert put.request.header("x-oss-server-side-encryption") == "KMS"
    assert put.request.header("content-type") == "application/json"
    assert put.request.header("x-oss-security-token") == "oss-sts-token"
    assert put.request.header("authorization").startswith("OSS4-HMAC-SHA256 Credential=LTAI-oss-id/")
    stored = server.object("results/abc/result.json")
    assert stored is not None
    assert (stored.data, stored.content_type, stored.encryption) == (b'{"a":1}', "application/json", "KMS")


def test_a_put_names_the_customer_key_it_is_given(server: OssDouble) -> None:
    """A put that asks for KMS without naming a key gets the OSS-managed key, whatever the bucket's default: with
    a customer key (KYC_OSS_KMS_KEY_ID) every put names it."""
    store = OssObjectStore(bucket=BUCKET, region=REGION, credentials=CREDS, endpoint=server.endpoint,
                           retry_max_attempts=1, kms_key_id="cmk-merchant-1234")  # fmt: skip
    store.put("results/abc/result.json", b"{}", "application/json")
    [put] = server.received("PutObject")
    assert put.request.header("x-oss-server-side-encryption-key-id") == "cmk-merchant-1234"
    stored = server.object("results/abc/result.json")
    assert stored is not None and stored.encryption_key_id == "cmk-merchant-1234"


def test_without_a_customer_key_a_put_names_none(server: OssDouble) -> None:
    _store(server).put("results/abc/result.json", b"{}", "application/json")
    [put] = server.received("PutObject")
    assert "x-oss-server-side-encryption-key-id" not in put.request.headers


def test_get_returns_the_stored_bytes(server: OssDouble) -> None:
    store = _store(server)
    store.put("results/abc/face.jpg", b"\xff\xd8jpeg", "image/jpeg")
    assert store.get("results/abc/face.jpg") == b"\xff\xd8jpeg"
    assert server.received()[-1].operation == "GetObject"


def test_get_missing_raises_object_not_found(server: OssDouble) -> None:
    with pytest.raises(ObjectNotFound):
        _store(server).get("results/none")


@pytest.mark.parametrize("read", ["get", "exists"])
def test_a_bucket_that_does_not_exist_is_a_storage_error_not_a_missing_object(server: OssDouble, read: str) -> None:
    """A wrong KYC_OSS_BUCKET must not read as 'no such result' (a verification's images would look erased)."""
    store = OssObjectStore(bucket="no-such-bucket", region=REGION, credentials=CREDS, endpoint=server.endpoint,
                           retry_max_attempts=1)  # fmt: skip
    with pytest.raises(StorageError) as info:
        getattr(store, read)("results/abc/face.jpg")
    assert not isinstance(info.value, ObjectNotFound)
    assert (info.value.code, info.value.status) == ("NoSuchBucket", 404)


def test_exists_reflects_presence_with_a_head_request(server: OssDouble) -> None:
    store = _store(server)
    store.put("a/b", b"x", "text/plain")
    assert (store.exists("a/b"), store.exists("a/c")) == (True, False)
    assert [r.request.method for r in server.received("GetObjectMeta")] == ["HEAD", "HEAD"]


def test_list_pages_and_strips_configured_prefix(server: OssDouble) -> None:
    store = _store(server, prefix="tenant1")
    for name in ("r/1/a", "r/1/b", "r/1/c", "r/2/a"):
        store.put(name, b"x", "text/plain")
    assert server.keys() == ["tenant1/r/1/a", "tenant1/r/1/b", "tenant1/r/1/c", "tenant1/r/2/a"]
    assert store.list("r/1/") == ["r/1/a", "r/1/b", "r/1/c"]
    lists = server.received("ListObjectsV2")
    assert len(lists) == 2 and "continuation-token" in lists[1].request.query_dict()


def test_delete_prefix_deletes_each_key_and_counts(server: OssDouble) -> None:
    store = _store(server)
    for name in ("r/1/a", "r/1/b", "r/2/a"):
        store.put(name, b"x", "text/plain")
    assert store.delete_prefix("r/1/") == 2
    assert server.keys() == ["r/2/a"]
    assert len(server.received("DeleteObject")) == 2


def meet_at_the_double(server: OssDouble, operation: str, count: int) -> None:
    """The double answers ``operation`` only once ``count`` of them are in flight at once (each waits for the
    others; alone, it is answered with the double's internal error after a few seconds)."""
    meeting = threading.Barrier(count, timeout=5)
    handle = server.handle

    def meeting_first(request: Any) -> Any:
        if server.operation_of(request) == operation:
            meeting.wait()
        return handle(request)

    server.handle = meeting_first  # type: ignore[method-assign]


def test_delete_prefix_sends_its_deletes_side_by_side(server: OssDouble) -> None:
    store = _store(server)
    for name in ("r/1/a", "r/1/b", "r/1/c"):
        store.put(name, b"x", "text/plain")
    meet_at_the_double(server, "DeleteObject", 3)
    assert store.delete_prefix("r/1/") == 3
    assert server.keys() == []


def test_delete_missing_key_is_not_an_error(server: OssDouble) -> None:
    _store(server).delete("nothing/here")


def test_wrong_secret_fails_the_independent_signature_check(server: OssDouble) -> None:
    with pytest.raises(StorageError) as info:
        _store(server, creds=Credentials("LTAI-oss-id", "bad", "oss-sts-token")).put("k", b"x", "text/plain")
    assert info.value.code == "SignatureDoesNotMatch" and info.value.transient is False
    assert server.keys() == []


def test_server_error_is_transient(server: OssDouble) -> None:
    server.set_faults({"operations": {"PutObject": {"errorRates": {"ServiceUnavailable": 1.0}}}})
    with pytest.raises(StorageError) as info:
        _store(server).put("k", b"x", "text/plain")
    assert info.value.transient is True and info.value.status == 503


def test_oss_s_internal_error_is_transient_too(server: OssDouble) -> None:
    """review bi: OSS's ``InternalError`` is a 500 ("Please try again"), as transient as a 503: every 5xx is."""
    server.set_faults({"operations": {"PutObject": {"errorRates": {"InternalError": 1.0}}}})
    with pytest.raises(StorageError) as info:
        _store(server).put("k", b"x", "text/plain")
    assert (info.value.code, info.value.status, info.value.transient) == ("InternalError", 500, True)


def test_a_dropped_connection_is_a_transient_transport_error_that_may_have_happened(server: OssDouble) -> None:
    server.set_faults({"operations": {"PutObject": {"sequence": ["drop-after"]}}})
    with pytest.raises(StorageError) as info:
        _store(server).put("k", b"x", "text/plain")
    assert (info.value.code, info.value.transient, info.value.maybe_sent) == ("TransportError", True, True)
    assert server.keys() == ["k"]


def test_a_gateway_page_answering_a_listing_is_a_transient_error_not_an_exception_of_the_sdk(
    server: OssDouble,
) -> None:
    _store(server).put("results/abc/face.jpg", b"x", "image/jpeg")
    server.set_faults({"operations": {"ListObjectsV2": {"sequence": ["foreign:200"]}}})
    with pytest.raises(StorageError) as info:
        _store(server).delete_prefix("results/abc/")
    assert (info.value.code, info.value.transient, info.value.maybe_sent) == ("NotOssAnswer", True, True)
    assert server.keys() == ["results/abc/face.jpg"]


def test_a_well_formed_answer_without_oss_s_request_id_is_not_taken_for_an_empty_listing() -> None:
    """A captive portal's XHTML parses as a listing of nothing: delete_prefix would report a prefix erased."""
    page = b"<html><body><p>Please sign in to continue</p></body></html>"
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(page)
    portal = DrippingServer(page[-1:], 0.0, prefix=head + page[:-1])
    try:
        store = OssObjectStore(bucket=BUCKET, region=REGION, credentials=CREDS,
                               endpoint=portal.url.removesuffix("/hook"), retry_max_attempts=1)  # fmt: skip
        with pytest.raises(StorageError) as info:
            store.delete_prefix("results/abc/")
    finally:
        portal.stop()
    assert (info.value.code, info.value.transient) == ("NotOssAnswer", True)


def test_invalid_key_is_refused_before_any_request(server: OssDouble) -> None:
    with pytest.raises(InvalidKey):
        _store(server).put("../escape", b"x", "text/plain")
    assert server.received() == []


def test_client_has_configured_timeouts_and_runs_each_call_under_one_deadline(server: OssDouble) -> None:
    from shared.storage.oss_transport import DeadlineHttpClient, DeadlineRetryer

    store = OssObjectStore(
        bucket=BUCKET, region=REGION, credentials=CREDS, endpoint=server.endpoint, connect_timeout=2, read_timeout=7
    )
    cfg = store._client._client._config
    assert (cfg.connect_timeout, cfg.readwrite_timeout) == (2, 7)
    assert isinstance(cfg.http_client, DeadlineHttpClient) and isinstance(cfg.retryer, DeadlineRetryer)
    assert cfg.http_client.deadline.seconds == 2 + 7  # default: connect + read timeout
    assert (cfg.http_client.connect_timeout, cfg.http_client.read_timeout) == (2, 7)


def test_a_refused_streamed_answer_closes_its_connection(server: OssDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    """GetObject streams its body: refused as not OSS's, its answer is closed, not left to the garbage collector."""
    from shared.storage import oss_transport

    answers: list[Any] = []
    send = oss_transport.DeadlineHttpClient.send

    def recording(self: Any, request: Any, **kwargs: Any) -> Any:
        answers.append(send(self, request, **kwargs))
        return answers[-1]

    monkeypatch.setattr(oss_transport.DeadlineHttpClient, "send", recording)
    store = _store(server)
    store.put("results/abc/face.jpg", b"x", "image/jpeg")
    server.set_faults({"operations": {"GetObject": {"sequence": ["foreign:200"]}}})
    with pytest.raises(StorageError) as info:
        store.get("results/abc/face.jpg")
    assert info.value.code == "NotOssAnswer"
    assert answers[-1].is_closed
