"""The OSS SDK over ``DeadlineHttpClient``: the requests, answers and errors of its own ``RequestsHttpClient``, and
one deadline per call (an answer or an object's body dripped byte by byte, the SDK's retries, a connection cut off
and never reused).

The oracle is the SDK itself: the same ``alibabacloud_oss_v2.Client`` calls, once with its default HTTP client
(requests) and once with ours, against the OSS double (which checks every request's V4 signature).
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from shared.http_deadline import CallDeadline
from shared.storage import OssObjectStore, StorageError
from shared.storage.oss import import_oss
from tests.loopback import DrippingServer
from tools.doubles.oss import OssDouble

from .conftest import BUCKET, CREDS, REGION

#: What requests' session adds to every request (``requests.utils.default_headers``); http.client does not.
REQUESTS_SESSION_HEADERS = {"accept", "connection"}


def _deadline_client(seconds: float = 5.0) -> Any:
    from shared.storage.oss_transport import DeadlineHttpClient

    return DeadlineHttpClient(CallDeadline(seconds), connect_timeout=1, read_timeout=1)


def _sdk(endpoint: str, http_client: Any = None, *, attempts: int = 1) -> Any:
    oss = import_oss()
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
        CREDS.access_key_id, CREDS.access_key_secret, CREDS.security_token
    )
    cfg.region = REGION
    cfg.endpoint = endpoint
    cfg.retry_max_attempts = attempts
    if http_client is not None:
        cfg.http_client = http_client
    return oss.Client(cfg)


def _exercise(client: Any) -> list[Any]:
    """Every operation the store uses, and two errors, each answer reduced to what the SDK decoded (request ids,
    dates and timestamps left out)."""
    oss = import_oss()
    outcomes: list[Any] = []
    put = client.put_object(
        oss.PutObjectRequest(
            bucket=BUCKET, key="r/a.json", body=b'{"a":1}', content_type="application/json",
            server_side_encryption="KMS",
        )
    )  # fmt: skip
    outcomes.append(("put", put.status_code, put.etag, put.hash_crc64))
    got = client.get_object(oss.GetObjectRequest(bucket=BUCKET, key="r/a.json"))
    outcomes.append(("get", got.status_code, got.content_type, got.content_length, got.etag, got.body.read()))
    meta = client.get_object_meta(oss.GetObjectMetaRequest(bucket=BUCKET, key="r/a.json"))
    outcomes.append(("head", meta.status_code, meta.content_length, meta.etag))
    listed = client.list_objects_v2(oss.ListObjectsV2Request(bucket=BUCKET, prefix="r/"))
    outcomes.append(("list", [o.key for o in listed.contents or []], listed.is_truncated))
    for call, request in (
        (client.get_object, oss.GetObjectRequest(bucket=BUCKET, key="r/none")),
        (client.get_object_meta, oss.GetObjectMetaRequest(bucket=BUCKET, key="r/none")),
    ):
        try:
            call(request)
        except oss.exceptions.OperationError as exc:
            cause = exc.unwrap()
            outcomes.append(("missing", type(cause).__name__, cause.status_code, cause.code))
    deleted = client.delete_object(oss.DeleteObjectRequest(bucket=BUCKET, key="r/a.json"))
    outcomes.append(("delete", deleted.status_code))
    return outcomes


def test_the_sdk_sends_the_same_requests_and_decodes_the_same_answers_as_with_its_own_client(
    server: OssDouble,
) -> None:
    over_requests = _exercise(_sdk(server.endpoint))
    sent_by_requests = server.received()
    server.reset()
    over_deadline = _exercise(_sdk(server.endpoint, _deadline_client()))
    sent_by_us = server.received()

    assert over_deadline == over_requests
    assert over_requests[4][1:] == ("ServiceError", 404, "NoSuchKey")
    assert len(sent_by_us) == len(sent_by_requests) == 7
    for ours, theirs in zip(sent_by_us, sent_by_requests, strict=True):
        assert (ours.request.method, ours.request.path, ours.request.query, ours.request.body) == (
            theirs.request.method, theirs.request.path, theirs.request.query, theirs.request.body)  # fmt: skip
        skipped = {*REQUESTS_SESSION_HEADERS, "authorization", "x-oss-date", "date"}  # the clock's second may move
        assert {k: v for k, v in ours.request.headers.items() if k not in skipped} == {
            k: v for k, v in theirs.request.headers.items() if k not in skipped}  # fmt: skip


def test_a_streamed_object_is_read_in_blocks_of_the_size_asked(server: OssDouble) -> None:
    oss = import_oss()
    client = _sdk(server.endpoint, _deadline_client())
    client.put_object(oss.PutObjectRequest(bucket=BUCKET, key="big", body=bytes(range(256)) * 100,
                                           server_side_encryption="KMS"))  # fmt: skip
    got = client.get_object(oss.GetObjectRequest(bucket=BUCKET, key="big"))
    blocks = list(got.body.iter_bytes(block_size=4096))
    assert b"".join(blocks) == bytes(range(256)) * 100 and max(map(len, blocks)) == 4096
    assert got.body.is_stream_consumed and got.body.is_closed


def test_an_answer_s_status_headers_and_streamed_body_read_as_with_its_own_client(server: OssDouble) -> None:
    oss = import_oss()
    answers = []
    for http_client in (oss.transport.RequestsHttpClient(), _deadline_client()):
        request = oss.types.HttpRequest("GET", f"{server.endpoint}/{BUCKET}/unsigned", headers={"X-Probe": "1"})
        response = http_client.send(request, stream=True)  # unsigned: the double's 403 and its XML error body
        with pytest.raises(oss.exceptions.ResponseNotReadError):
            response.content  # noqa: B018 - the property is what is tested
        body = response.read()
        assert response.content == body
        answers.append((response.status_code, response.reason, response.headers["content-type"],
                        response.headers.get("X-OSS-REQUEST-ID") is not None,
                        re.sub(rb"<RequestId>\w+</RequestId>", b"", body),
                        response.is_stream_consumed, response.is_closed))  # fmt: skip
    assert answers[0][:2] == (403, "Forbidden")
    assert answers[1] == answers[0]


def test_a_dropped_connection_is_an_error_the_sdk_retries_as_with_its_own_client(server: OssDouble) -> None:
    oss = import_oss()
    for http_client in (None, _deadline_client()):
        server.reset()
        server.set_faults({"operations": {"PutObject": {"sequence": ["drop-before"]}}})
        client = _sdk(server.endpoint, http_client, attempts=2)
        client.put_object(oss.PutObjectRequest(bucket=BUCKET, key="k", body=b"x", server_side_encryption="KMS"))
        assert server.stats()["requests"]["PutObject"] == 2
        assert server.keys() == ["k"]


def test_a_streamed_body_cut_off_before_its_content_length_is_an_error_as_with_its_own_client() -> None:
    oss = import_oss()
    body = bytes(range(256)) * 64
    head = b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(body)
    half = body[: len(body) // 2]
    server = DrippingServer(half[-1:], 0.0, prefix=head + half[:-1])  # the first half, then the connection closes
    try:
        raised = []
        for http_client in (oss.transport.RequestsHttpClient(), _deadline_client()):
            response = http_client.send(oss.types.HttpRequest("GET", server.url), stream=True)
            with pytest.raises(Exception) as info:  # each client raises its own type
                b"".join(response.iter_bytes(block_size=4096))
            raised.append(info.value)
        assert type(raised[1]) is oss.exceptions.ResponseError  # what the SDK retries, as requests' errors
    finally:
        server.stop()


def test_a_connection_that_cannot_be_opened_is_a_request_error_as_with_its_own_client(server: OssDouble) -> None:
    oss = import_oss()
    port = server.port
    server.stop()  # nothing listens there any more
    for http_client in (None, _deadline_client()):
        with pytest.raises(oss.exceptions.OperationError) as caught:
            _sdk(f"http://127.0.0.1:{port}", http_client).get_object(oss.GetObjectRequest(bucket=BUCKET, key="k"))
        assert isinstance(caught.value.unwrap(), oss.exceptions.RequestError)


def test_calls_share_one_kept_alive_connection(server: OssDouble) -> None:
    oss = import_oss()
    http_client = _deadline_client()
    client = _sdk(server.endpoint, http_client)
    client.put_object(oss.PutObjectRequest(bucket=BUCKET, key="k", body=b"x", server_side_encryption="KMS"))
    for _ in range(3):
        assert client.get_object(oss.GetObjectRequest(bucket=BUCKET, key="k")).body.read() == b"x"
    [pool] = http_client._pools.values()
    assert pool.connections_opened == 1


# --- one deadline per call, through the store ---------------------------------------------------------------


def _store(endpoint: str, **options: Any) -> OssObjectStore:
    return OssObjectStore(bucket=BUCKET, region=REGION, credentials=CREDS, endpoint=endpoint, **options)


def test_an_answer_dripped_byte_by_byte_ends_at_the_call_s_deadline_as_a_transient_transport_error(
    server: OssDouble,
) -> None:
    store = _store(server.endpoint, call_deadline=1.0, retry_max_attempts=2)
    store.put("warm", b"x", "text/plain")  # the SDK imported and the client built: not part of what is timed
    # The PutObject answer (status line and ~12 headers) is several hundred bytes: over 30 s at 0.1 s a byte, a
    # pace requests' read timeout (20 s per wait) never trips.
    server.set_faults({"operations": {"PutObject": {"sequence": ["drip:0.1", "drip:0.1"]}}})
    before = server.stats()["requests"]["PutObject"]
    started = time.monotonic()
    with pytest.raises(StorageError) as caught:
        store.put("k", b"x", "text/plain")
    elapsed = time.monotonic() - started

    assert (caught.value.code, caught.value.transient, caught.value.maybe_sent) == ("TransportError", True, True)
    assert elapsed < 2.0, elapsed  # the deadline (1 s) with room for a loaded machine
    assert server.stats()["requests"]["PutObject"] - before == 1  # the SDK's retry does not start past it


def test_an_object_body_dripped_after_its_headers_ends_at_the_call_s_deadline() -> None:
    head = (b"HTTP/1.1 200 OK\r\nx-oss-request-id: 5C3D9175B6FC201293AD4890\r\nContent-Type: image/jpeg\r\n"
            b"Content-Length: 300\r\n\r\n")  # fmt: skip
    drip = DrippingServer(b"\xff" * 300, 0.05, prefix=head)  # the body alone would take 15 s
    try:
        store = _store(drip.url.removesuffix("/hook"), call_deadline=1.0)
        started = time.monotonic()
        with pytest.raises(StorageError) as caught:
            store.get("results/abc/face.jpg")
        elapsed = time.monotonic() - started
    finally:
        drip.stop()
    assert (caught.value.code, caught.value.transient) == ("TransportError", True)
    assert elapsed < 2.5, elapsed  # the SDK's first use included (its import: a few hundred ms)
    assert drip.completed == 0


def test_a_connection_cut_off_at_the_deadline_is_closed_and_never_reused(server: OssDouble) -> None:
    oss = import_oss()
    http_client = _deadline_client(seconds=1.0)
    client = _sdk(server.endpoint, http_client)
    client.put_object(oss.PutObjectRequest(bucket=BUCKET, key="k", body=b"x", server_side_encryption="KMS"))
    server.set_faults({"operations": {"GetObject": {"sequence": ["drip:0.1"]}}})
    with pytest.raises(oss.exceptions.OperationError) as caught:
        client.get_object(oss.GetObjectRequest(bucket=BUCKET, key="k"))
    assert isinstance(caught.value.unwrap(), oss.exceptions.ResponseError)

    assert client.get_object(oss.GetObjectRequest(bucket=BUCKET, key="k")).body.read() == b"x"
    [pool] = http_client._pools.values()
    assert pool.connections_opened == 2


@pytest.mark.parametrize("seconds", [0, -1, float("nan")])
def test_a_call_deadline_that_is_not_a_positive_number_of_seconds_is_refused(seconds: float) -> None:
    with pytest.raises(ValueError, match="call deadline"):
        _store("http://127.0.0.1:9", call_deadline=seconds)
