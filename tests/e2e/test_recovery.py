"""End to end over HTTP: duplicate callbacks, lost webhooks, callbacks that never come, abandoned flows."""

from __future__ import annotations

from typing import Any

import pytest

from shared.fc import HttpEvent
from tests.e2e.support import E2EStack, MakeStack, delivered, stored_result, wait_until


def test_duplicate_callbacks_finalize_once_and_notify_once(stack: E2EStack) -> None:
    stack.faults({"callbacks": {"duplicates": 2}})
    started = stack.start_verification()

    stack.complete(started.transaction_id, "pass")
    wait_until(lambda: [c["status"] for c in stack.callbacks()] == ["delivered", "delivered"],
               what="both callbacks to be answered")
    stack.wait_for_webhooks(1)
    stack.settle()

    assert [c["httpStatus"] for c in stack.callbacks()] == [200, 200]
    row = stack.row(started.merchant_biz_id)
    assert row.status == "PASSED"
    (event,) = delivered(stack)
    assert event["data"]["merchantBizId"] == started.merchant_biz_id


@pytest.fixture
def delivery_attempts(stack: E2EStack, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str]]:
    """(HTTP status, webhook-id) of every POST to the demo receiver, refused ones included."""
    attempts: list[tuple[int, str]] = []
    router = stack.dev.demo.router
    dispatch = router.dispatch

    def spy(event: Any) -> Any:
        response = dispatch(event)
        parsed = HttpEvent.from_bytes(event)
        if parsed.method == "POST" and parsed.path == "/demo/webhooks":
            attempts.append((int(response["statusCode"]), parsed.headers.get("webhook-id", "")))
        return response

    monkeypatch.setattr(router, "dispatch", spy)
    return attempts


def test_lost_webhook_is_retried_with_the_same_webhook_id(
    stack: E2EStack, delivery_attempts: list[tuple[int, str]]
) -> None:
    assert stack.call("POST", "/demo/webhooks/fail-next", {"count": 1}).status == 200
    started = stack.start_verification()

    stack.complete(started.transaction_id, "pass")
    stack.wait_for_webhooks(1)
    stack.settle()

    webhook_id = f"msg_{started.merchant_biz_id}_passed"
    assert delivery_attempts == [(503, webhook_id), (204, webhook_id)]
    assert stack.call("GET", "/demo/webhooks").json()["refused"] == 1
    events = delivered(stack)
    assert len(events) == 1
    assert {item.webhook_id for item in stack.dev.demo.inbox.received} == {webhook_id}
    assert stack.queue_size("deadletter") == 0


def test_sweeper_finalizes_a_verification_whose_callback_never_came(make_stack: MakeStack) -> None:
    stack = make_stack(KYC_SWEEP_AFTER="0")
    stack.faults({"callbacks": {"drop": True}})
    started = stack.start_verification()
    stack.complete(started.transaction_id, "pass")
    assert [c["status"] for c in stack.callbacks()] == ["dropped"]
    assert stack.row(started.merchant_biz_id).status == "PENDING"

    report = stack.invoke_sweeper()

    assert (report["checked"], report["finalized"], report["abandoned"]) == (1, 1, 0)
    assert stack.row(started.merchant_biz_id).status == "PASSED"
    stored_result(stack, started.merchant_biz_id)
    stack.wait_for_webhooks(1)
    stack.settle()
    (event,) = delivered(stack)
    assert (event["type"], event["data"]["status"]) == ("verification.completed", "PASSED")
    assert stack.invoke_sweeper()["checked"] == 0  # nothing left to do


def test_abandoned_flow_becomes_abandoned_and_is_notified(make_stack: MakeStack) -> None:
    stack = make_stack(KYC_SWEEP_AFTER="0", KYC_ABANDON_AFTER="0")
    started = stack.start_verification()
    stack.complete(started.transaction_id, "abandon")

    report = stack.invoke_sweeper()

    assert (report["checked"], report["finalized"], report["abandoned"]) == (1, 0, 1)
    row = stack.row(started.merchant_biz_id)
    assert (row.status, row.passed, row.result_key) == ("ABANDONED", None, None)
    assert stack.objects().list(f"results/{started.merchant_biz_id}/") == []
    stack.wait_for_webhooks(1)
    stack.settle()
    (event,) = delivered(stack)
    assert (event["type"], event["data"]["status"]) == ("verification.abandoned", "ABANDONED")
    (listed,) = stack.call("GET", "/demo/webhooks").json()["received"]
    assert listed["webhookId"] == f"msg_{started.merchant_biz_id}_abandoned"
    view = stack.call("GET", f"/verifications/{started.merchant_biz_id}", token=started.token).json()
    assert view["status"] == "ABANDONED"
