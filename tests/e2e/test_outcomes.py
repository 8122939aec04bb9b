"""End to end over HTTP: each verification outcome, from POST /verifications to the signed webhook."""

from __future__ import annotations

from shared.callback import hash_callback_token
from tests.e2e.support import IDENTITY, PASSPORT, E2EStack, MakeStack, delivered, kept_answer, stored_result
from tools.sandbox.synth import placeholder_jpeg


def test_passed_verification_is_stored_masked_and_notified_once(stack: E2EStack) -> None:
    started = stack.start_verification()
    assert stack.row(started.merchant_biz_id).status == "PENDING"  # stored before the caller got the URL

    stack.complete(started.transaction_id, "pass")
    row = stack.wait_for_status(started.merchant_biz_id, "PASSED")
    stack.wait_for_webhooks(1)
    stack.settle()

    assert (row.passed, row.sub_code, row.doc_type) == ("Y", "200", PASSPORT)
    assert row.transaction_id == started.transaction_id
    assert row.result_key == f"{kept_answer(stack, started.merchant_biz_id)}result.json"
    assert stack.row(started.merchant_biz_id).notification_enqueued
    token = stack.callback_query(started.transaction_id)["callbackToken"]
    assert row.callback_token_hash == hash_callback_token(token) != token
    assert row.identity_masked is not None
    assert row.identity_masked["surname"] == "Q*" and row.identity_masked["birthDate"] == "1983-**-**"

    document = stored_result(stack, started.merchant_biz_id)
    assert document["transactionId"] == started.transaction_id
    assert document["result"]["status"] == "PASSED"
    assert document["result"]["identity"]["surname"] == IDENTITY["surname"]  # the full result is kept
    assert document["result"]["identity"]["documentNumber"] == IDENTITY["passportNo"]
    for name in ("idImage", "faceImg"):
        expected = placeholder_jpeg(started.transaction_id, name, 4096)
        assert stack.objects().get(f"{kept_answer(stack, started.merchant_biz_id)}{name}.jpg") == expected

    view = stack.call("GET", f"/verifications/{started.merchant_biz_id}", token=started.token)
    assert view.status == 200
    assert view.json()["status"] == "PASSED" and view.json()["identity"] is None  # no fields selected: none shown

    (event,) = delivered(stack)
    assert event["type"] == "verification.completed"
    assert event["data"]["merchantBizId"] == started.merchant_biz_id
    assert (event["data"]["status"], event["data"]["passed"], event["data"]["subCode"]) == ("PASSED", "Y", "200")
    assert event["data"]["identity"] is None  # the demo receiver selects no identity fields
    (listed,) = stack.call("GET", "/demo/webhooks").json()["received"]
    assert listed["webhookId"] == f"msg_{started.merchant_biz_id}_passed" and listed["verified"] is True
    assert listed["event"] == event


def test_failed_verification_keeps_the_vendor_subcode(stack: E2EStack) -> None:
    started = stack.start_verification()

    stack.complete(started.transaction_id, "fail", subCode="205")
    row = stack.wait_for_status(started.merchant_biz_id, "FAILED")
    stack.wait_for_webhooks(1)
    stack.settle()

    assert (row.passed, row.sub_code) == ("N", "205")
    document = stored_result(stack, started.merchant_biz_id)
    assert (document["result"]["passed"], document["result"]["subCode"]) == ("N", "205")
    assert document["result"]["face"]["facePassed"] is False
    (event,) = delivered(stack)
    assert event["type"] == "verification.completed"
    assert (event["data"]["status"], event["data"]["passed"], event["data"]["subCode"]) == ("FAILED", "N", "205")


def test_spoofed_document_fails_with_212_and_the_spoof_types(make_stack: MakeStack) -> None:
    stack = make_stack(KYC_VENDOR_SWITCHES='{"idSpoof": "Y"}')  # anti-spoofing on, by the deployment
    started = stack.start_verification()

    stack.complete(started.transaction_id, "spoof", spoofTypes=["PHOTO_COPY", "TAMPER"])
    row = stack.wait_for_status(started.merchant_biz_id, "FAILED")
    stack.wait_for_webhooks(1)
    stack.settle()

    assert (row.passed, row.sub_code) == ("N", "212")
    document = stored_result(stack, started.merchant_biz_id)
    assert document["result"]["spoof"]["spoofTypes"] == ["PHOTO_COPY", "TAMPER"]
    assert document["result"]["spoof"]["spoofResult"] in (True, "Y")
    (event,) = delivered(stack)
    assert (event["data"]["status"], event["data"]["subCode"]) == ("FAILED", "212")


def test_pending_result_is_rechecked_through_the_queue_until_it_passes(stack: E2EStack) -> None:
    started = stack.start_verification()

    stack.complete(started.transaction_id, "pending", pendingChecks=2)
    row = stack.wait_for_status(started.merchant_biz_id, "PASSED")
    stack.wait_for_webhooks(1)
    stack.settle()

    (callback,) = stack.callbacks(started.transaction_id)
    assert "passed=P" in callback["url"]  # the callback only said "pending"
    assert stack.control("GET", f"transactions/{started.transaction_id}")["checks"] == 3  # P, P, then the verdict
    # Each P answer scheduled a re-check, which the row then records (queued first, recorded second: shared.fetcher
    # ``_schedule_recheck``), so the second re-check's verdict may land before its scheduler records it: the
    # record is refused on a final row, which keeps its verdict (seen under load: 1).
    assert row.check_count in (1, 2)
    stored_result(stack, started.merchant_biz_id)
    (event,) = delivered(stack)
    assert (event["data"]["status"], event["data"]["passed"]) == ("PASSED", "Y")


def test_a_start_sent_twice_with_its_idempotency_key_is_one_verification_and_one_webhook(stack: E2EStack) -> None:
    token = stack.token("alice")
    body = {"docType": PASSPORT, "metaInfo": stack.meta_info(), "returnUrl": f"{stack.url}/"}
    key = {"Idempotency-Key": "order-1234-kyc"}
    first = stack.call("POST", "/verifications", body, token, headers=key)
    again = stack.call("POST", "/verifications", body, token, headers=key)

    assert (first.status, again.status) == (201, 201) and again.json() == first.json()
    mbid, transaction_id = first.json()["merchantBizId"], first.json()["transactionId"]
    stack.complete(transaction_id, "pass")
    stack.wait_for_status(mbid, "PASSED")
    stack.wait_for_webhooks(1)
    stack.settle()
    assert [e["data"]["merchantBizId"] for e in delivered(stack)] == [mbid]
    assert len(stack.store().list_created(limit=10)[0]) == 1
