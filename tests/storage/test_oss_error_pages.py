"""OSS error answers that are not OSS's (no ``x-oss-request-id``: a proxy's or gateway's page) are transient errors,
never facts about the bucket (found by review xx: a 404 page in front of OSS was taken for "the object does not
exist", and the notifier then delivered an event to a subscriber of the identity in clear without it, as done)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shared.storage import ObjectNotFound, OssObjectStore, StorageError
from tests.storage.conftest import BUCKET, CREDS, REGION
from tools.doubles.oss import OssDouble


@pytest.fixture
def server() -> Iterator[Any]:
    with OssDouble(access_key_id=CREDS.access_key_id, access_key_secret=CREDS.access_key_secret,
                   security_token=CREDS.security_token, bucket=BUCKET, region=REGION) as double:  # fmt: skip
        yield double


def _store(server: OssDouble) -> OssObjectStore:
    return OssObjectStore(bucket=BUCKET, region=REGION, credentials=CREDS, endpoint=server.endpoint,
                          retry_max_attempts=1)  # fmt: skip


def test_a_gateway_404_page_for_an_object_that_exists_is_a_transient_error_not_object_not_found(
    server: OssDouble,
) -> None:
    store = _store(server)
    store.put("results/abc/result.json", b'{"result": {}}', "application/json")
    server.set_faults({"operations": {"GetObject": {"sequence": ["foreign:404"]}}})

    try:
        store.get("results/abc/result.json")
    except ObjectNotFound:
        pytest.fail("a 404 page without x-oss-request-id (not OSS's answer) was taken for a missing object")
    except StorageError as exc:
        assert (exc.code, exc.transient) == ("NotOssAnswer", True)
    else:
        pytest.fail("the gateway's page was not refused")


def test_a_gateway_404_page_does_not_make_an_existing_object_look_absent(server: OssDouble) -> None:
    store = _store(server)
    store.put("results/abc/face.jpg", b"\xff\xd8", "image/jpeg")
    server.set_faults({"operations": {"HeadObject": {"sequence": ["foreign:404"]},
                                      "GetObjectMeta": {"sequence": ["foreign:404"]}}})  # fmt: skip

    try:
        there = store.exists("results/abc/face.jpg")
    except StorageError as exc:
        assert exc.transient
    else:
        assert there, "exists() answered False for an object that is there (a gateway's 404 page, not OSS's)"


def test_a_pii_subscriber_is_not_sent_the_event_without_its_identity_because_of_a_gateway_404(
    server: OssDouble, tmp_path: Any
) -> None:
    """The consequence for a merchant: the subscriber configured for the identity in clear gets the verdict without
    it, counted as delivered (no follow-up), because one GetObject was answered by a page in front of OSS."""
    from tests.fakes import SUBSCRIBERS, FakeCloudAuth, RecordingSender, Stack

    pii = SUBSCRIBERS[1]
    assert pii.include_pii
    stack = Stack(tmp_path)
    try:
        stack.objects = _store(server)  # the results bucket as deployed, over the wire
        record = stack.pending()
        stack.fetcher(FakeCloudAuth()).fetch(record.merchant_biz_id)
        assert stack.store.get(record.merchant_biz_id).result_key  # the result is in the bucket
        server.set_faults({"operations": {"GetObject": {"sequence": ["foreign:404"]}}})
        sender = RecordingSender()
        stack.notifier(sender, subscribers=[pii]).handle_body({"merchantBizId": record.merchant_biz_id, "attempt": 0})
    finally:
        stack.close()

    for delivery in sender.delivered_to(pii.url):
        import json

        assert json.loads(delivery.body)["data"]["identity"] is not None, (
            "the PII subscriber was sent the verdict without its identity (a gateway's 404 taken for a result that "
            "is gone), and the delivery counts as done: the identity is never sent"
        )
