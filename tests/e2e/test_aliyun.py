"""End to end on the aliyun backend only: where the data lives, and the services' own failures (the doubles'
fault plans), recovered by what runs in production anyway (the SDKs' retries, the re-check queue, MNS's
visibility timeout). Everything else in tests/e2e runs on both backends."""

from __future__ import annotations

import pytest

from shared.storage import StorageSettings
from tests.e2e.support import E2EStack, delivered, kept_answer, stored_result, wait_until
from tools.devstack.aliyun import AliyunDoubles

pytestmark = pytest.mark.parametrize("backend", ["aliyun"])


def doubles_of(stack: E2EStack) -> AliyunDoubles:
    assert stack.dev.doubles is not None
    return stack.dev.doubles


def test_a_verification_lives_in_tablestore_oss_and_mns_and_nothing_local(stack: E2EStack) -> None:
    doubles = doubles_of(stack)
    started = stack.start_verification()
    stack.complete(started.transaction_id, "pass")
    stack.wait_for_status(started.merchant_biz_id, "PASSED")
    stack.wait_for_webhooks(1)
    stack.settle()

    storage = StorageSettings.from_env(stack.dev.env)
    assert (storage.backend, storage.tablestore_table, storage.oss_bucket) == (
        "aliyun", doubles.layout.table, doubles.layout.bucket,
    )  # fmt: skip
    tables = doubles.tablestore.stats()["rows"]["tables"]
    assert tables[doubles.layout.table]["rowsWritten"] >= 2  # the rate-limit slot and the verification
    keys = sorted(k for k in doubles.oss.objects() if started.merchant_biz_id in k)
    prefix = f"results/{kept_answer(stack, started.merchant_biz_id)}"  # the stack's ResultsPrefix, then the layout
    assert keys == [f"{prefix}faceImg.jpg", f"{prefix}idImage.jpg", f"{prefix}result.json"]
    assert {(doubles.oss.object(k).encryption) for k in keys} == {"KMS"}  # type: ignore[union-attr]
    notify = doubles.mns.stats()["queues"][storage.queue_names["notify"]]
    assert (notify["sent"], notify["deleted"]) == (1, 1)
    # settings only (the stack's, for the CLI, while it runs): no table, queue or object
    assert sorted(p.name for p in stack.data_dir.iterdir()) == [
        "aliyun-doubles.env", "dev-secrets.json", "local-stack.json", "local-stack.lock"]
    assert not any("error:" in k for d in doubles.doubles for k in d.stats()["faults"])


def test_an_oss_outage_while_storing_the_result_is_recovered_through_the_recheck_queue(stack: E2EStack) -> None:
    # 503s for both attempts of each image put (the face and document images, put side by side): the OSS SDK's own
    # retry gives up; the fetcher schedules a re-check on the MNS queue
    doubles_of(stack).oss.set_faults({"operations": {"PutObject": {"sequence": ["ServiceUnavailable"] * 4}}})
    started = stack.start_verification()

    stack.complete(started.transaction_id, "pass")
    row = stack.wait_for_status(started.merchant_biz_id, "PASSED")
    stack.wait_for_webhooks(1)
    stack.settle()

    assert row.check_count == 1  # the callback's fetch failed, the queued re-check kept it
    stored_result(stack, started.merchant_biz_id)
    (event,) = delivered(stack)
    assert event["data"]["status"] == "PASSED"


def test_tablestore_throttling_the_final_write_is_recovered_through_the_recheck_queue(stack: E2EStack) -> None:
    # 1 + 3 bounded retries of the finalize are throttled: the callback's fetch gives up, the re-check finishes
    doubles_of(stack).tablestore.set_faults({"operations": {"UpdateRow": {"sequence": ["OTSServerBusy"] * 4}}})
    started = stack.start_verification()

    stack.complete(started.transaction_id, "pass")
    stack.wait_for_status(started.merchant_biz_id, "PASSED", timeout=20)
    stack.wait_for_webhooks(1)
    stack.settle()

    stored_result(stack, started.merchant_biz_id)
    (event,) = delivered(stack)
    assert event["data"]["status"] == "PASSED"
    assert doubles_of(stack).tablestore.stats()["faults"] == {"error:OTSServerBusy": 4}


def test_a_notification_whose_delete_failed_comes_back_after_the_visibility_timeout_with_the_same_id(
    stack: E2EStack,
) -> None:
    doubles = doubles_of(stack)
    notify = StorageSettings.from_env(stack.dev.env).queue_names["notify"]
    doubles.mns.set_faults({"operations": {"DeleteMessage": {"sequence": ["InternalError"]}}})
    started = stack.start_verification()
    stack.complete(started.transaction_id, "pass")
    stack.wait_for_webhooks(1)
    wait_until(lambda: [m["state"] for m in doubles.mns.messages(notify)] == ["Inactive"],
               what="the delivered message to stay received, not deleted")

    doubles.mns.advance(doubles.layout.queues[notify].visibility_timeout)  # template.yml's VisibilityTimeout
    stack.wait_for_webhooks(2)
    stack.settle()

    webhook_id = f"msg_{started.merchant_biz_id}_passed"
    assert [item.webhook_id for item in stack.dev.demo.inbox.received] == [webhook_id, webhook_id]
    assert [e["data"]["status"] for e in delivered(stack)] == ["PASSED", "PASSED"]  # at least once, one id
    assert stack.queue_size("deadletter") == 0
