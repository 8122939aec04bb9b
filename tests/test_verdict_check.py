"""The notifier's check of a verdict against its kept result (found by review ac: what the check first left out).

A row as code run in the initializer could write it over a genuine verdict (PutRow replaces a row whole): status,
passed, subCode and the result key left as the fetch wrote them, any other column rewritten. The kept result
(``results/<id>/<answer>/result.json``) still says what the vendor answered.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared import jsonutil
from shared.fetcher import delete_kept_result
from shared.ids import result_prefix
from shared.notifications import Subscriber
from shared.results import mask_identity
from shared.storage import TransactionRecord
from shared.values import replace
from tests.fakes import SECRET_A, FakeCloudAuth, RecordingSender, Stack, check_result_body, peek

URL = "https://a.example/hook"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path)
    yield s
    s.close()


def _genuine(stack: Stack, passed: str = "Y", **row: object) -> TransactionRecord:
    """A verdict as the fetcher keeps it: its result document, then its row."""
    record = stack.pending(**row)
    stack.fetcher(FakeCloudAuth(check_result_body(passed))).fetch(record.merchant_biz_id)
    final = stack.store.get(record.merchant_biz_id)
    assert final is not None and final.status.is_verdict and final.result_key
    return final


def _put_row(stack: Stack, row: TransactionRecord, **changes: object) -> None:
    """PutRow: the row replaced whole (what the initializer's role can do to any row)."""
    stack.store.delete(row.merchant_biz_id)
    stack.store.create(replace(row, **changes))


def _events(stack: Stack, mbid: str, **subscriber: object) -> list[dict[str, Any]]:
    """The events one subscriber is sent for a first delivery of ``mbid``'s notification."""
    sender = RecordingSender()
    stack.notifier(sender, subscribers=[Subscriber(URL, SECRET_A, **subscriber)]).handle_body(
        {"merchantBizId": mbid, "attempt": 0}
    )
    return [jsonutil.loads(d.body) for d in sender.deliveries]


def _announce(stack: Stack, mbid: str, **subscriber: object) -> list[dict[str, Any]]:
    return [event["data"] for event in _events(stack, mbid, **subscriber)]


def _kept(stack: Stack, row: TransactionRecord) -> dict[str, object]:
    assert row.result_key
    return jsonutil.loads(stack.objects.get(row.result_key))


# -- fields of the verdict the check does not compare reach the webhook from the row -------------------------------


def test_a_masked_identity_rewritten_in_a_verdict_row_is_not_announced(stack: Stack) -> None:
    row = _genuine(stack)
    forged = {"fullName": "W*** L**", "documentNumber": "E*******1", "birthDate": "1971"}
    _put_row(stack, row, identity_masked=forged)

    announced = _announce(stack, row.merchant_biz_id, fields=frozenset(forged))

    kept_identity = mask_identity(_kept(stack, row)["result"]["identity"])  # type: ignore[index, arg-type]
    shown = [data["identity"] for data in announced]
    assert all(identity != forged for identity in shown), (
        f"the webhook announced the row's rewritten masked identity {shown}; the kept result says "
        f"{ {k: kept_identity.get(k) for k in forged} }"
    )


def test_face_verdicts_rewritten_in_a_verdict_row_are_not_announced(stack: Stack) -> None:
    row = _genuine(stack, passed="N")  # FAILED: the vendor's face verdict is facePassed N
    assert row.face is not None and row.face.get("facePassed") is False
    forged = {**row.face, "facePassed": True, "faceAttack": False, "faceComparisonScore": 99.9}
    _put_row(stack, row, face=forged)

    announced = _announce(stack, row.merchant_biz_id)

    kept_face = _kept(stack, row)["result"]["face"]  # type: ignore[index]
    assert all(data["face"] == kept_face for data in announced), (
        f"the webhook announced face {[d['face'] for d in announced]}; the kept result says {kept_face}"
    )


def test_a_face_only_verdict_rewritten_as_a_document_verification_is_not_announced(stack: Stack) -> None:
    row = _genuine(stack, product_code="FACE_LIVENESS_PRO", doc_type="")
    _put_row(stack, row, product_code="eKYC", doc_type="01000000")

    announced = _announce(stack, row.merchant_biz_id)

    kept = _kept(stack, row)
    said = [(d["productCode"], d["docType"]) for d in announced]
    assert all(s == (kept["productCode"], kept["docType"]) for s in said), (
        f"the webhook announced (productCode, docType) {said}; the kept result says "
        f"{(kept['productCode'], kept['docType'])}"
    )


def test_a_verdict_s_document_type_rewritten_in_its_row_is_not_what_the_webhook_says(stack: Stack) -> None:
    """A merchant that requires a passport reads ``docType``: a row moved from an ID card to a passport after the
    vendor verified the card must not make the webhook say passport."""
    row = _genuine(stack, product_code="eKYC", doc_type="01000000")
    _put_row(stack, row, doc_type="00000001")

    announced = _announce(stack, row.merchant_biz_id)

    kept = _kept(stack, row)
    said = [d["docType"] for d in announced]
    assert said and all(s == kept["docType"] for s in said), (
        f"the webhook announced docType {said}; the kept result says {kept['docType']}"
    )


def test_a_transaction_id_rewritten_in_a_verdict_row_is_not_announced(stack: Stack) -> None:
    row = _genuine(stack)
    _put_row(stack, row, transaction_id="hksbATTACKERS000000")

    announced = _announce(stack, row.merchant_biz_id)

    kept = _kept(stack, row)
    said = [d["transactionId"] for d in announced]
    assert all(t == kept["transactionId"] for t in said), (
        f"the webhook announced transactionId {said}; the kept result says {kept['transactionId']}"
    )


def test_the_user_of_a_verdict_rewritten_in_its_row_is_not_announced(stack: Stack) -> None:
    """merchantUserId is how a merchant learns whose verification it is (the browser starts it, docs/integration.md);
    the kept result does not record it, so nothing can show a rewritten one is not the user's who was verified."""
    row = _genuine(stack, merchant_user_id="a" * 64)
    _put_row(stack, row, merchant_user_id="b" * 64)  # HMAC(pepper, another user): the pepper is in its environment

    announced = _announce(stack, row.merchant_biz_id)

    said = [d["merchantUserId"] for d in announced]
    assert said in ([], ["a" * 64]), f"the webhook announced the verdict as user {said}, verified was 'a'*64"


def test_an_erasure_running_while_a_verdict_is_checked_is_not_reported_as_a_forged_verdict(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    record = stack.pending()
    mbid = record.merchant_biz_id
    stack.fetcher(FakeCloudAuth()).fetch(mbid)
    real_get = stack.objects.get

    def erasure_between_its_steps(key: str) -> bytes:
        stack.objects.delete_prefix(result_prefix(mbid))  # kyc erase, step 1: the objects (the row is next)
        return real_get(key)

    stack.objects.get = erasure_between_its_steps  # type: ignore[method-assign]
    stack.notifier(RecordingSender()).handle_body({"merchantBizId": mbid, "attempt": 0})
    delete_kept_result(stack.store, stack.objects, mbid)  # kyc erase, steps 2 and 3: the row, the objects again

    letters = [letter for letter in peek(stack.deadletter) if letter.get("reason") == "verdict_unverified"]
    events = [r.getMessage() for r in caplog.records if r.getMessage() == "notify.verdict_unverified"]
    assert letters == [] and events == [], (
        f"a user's erasure was reported as a forged verdict (a security incident): dead letters {letters}, "
        f"log events {events}"
    )
