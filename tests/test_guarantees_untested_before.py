"""Found by mutation testing (review ad): conditions of the notifier and the sweeper that no other test pins. They
pass on the current code; each fails with the mutation its docstring names (the report lists them as one-line
diffs).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.cloudauth import DeleteVerifyResultResponse
from shared.notifications import Subscriber
from shared.storage import StorageError, TransactionRecord
from shared.sweeper import OUTBOX_GRACE_SECONDS
from shared.values import replace
from tests.fakes import ROW_BACKENDS, SECRET_A, FakeCloudAuth, RecordingSender, Stack, check_result_body, peek, stack_on

URL = "https://a.example/hook"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path)
    yield s
    s.close()


@pytest.fixture(params=ROW_BACKENDS)
def any_stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    with stack_on(request.param, tmp_path) as s:
        yield s


def _genuine(stack: Stack, passed: str = "Y", sub_code: str = "200") -> TransactionRecord:
    """A verdict as the fetcher keeps it: its result document, then its row (and its notify message, drained)."""
    record = stack.pending()
    stack.fetcher(FakeCloudAuth(check_result_body(passed, sub_code))).fetch(record.merchant_biz_id)
    final = stack.store.get(record.merchant_biz_id)
    assert final is not None and final.status.is_verdict and final.result_key
    for message in stack.notify.receive(max_messages=10):  # the fetch's own notify message, handled
        stack.notify.delete(message.receipt)
    return final


def _put_row(stack: Stack, row: TransactionRecord, **changes: object) -> None:
    """PutRow: the row replaced whole (what the initializer's role can do to any row; tests/test_verdict_check.py)."""
    stack.store.delete(row.merchant_biz_id)
    stack.store.create(replace(row, **changes))


def test_a_sub_code_rewritten_in_a_verdict_row_is_not_announced(stack: Stack) -> None:
    """The notifier announces a verdict only once the row says what its kept result says: status, passed *and*
    subCode (its docstring, tests/test_verdict_check.py's premise). A FAILED verdict's subCode is why it failed
    (205: the faces do not match; 206: the document is not genuine, ...): a row rewritten to another one must not
    reach the merchant's webhook as the vendor's word.

    Mutation N01 (notifications.py, ``_verified_result``): the subCode dropped from the comparison,
    ``- said = (result.get("status"), result.get("passed"), result.get("subCode"))``
    ``+ said = (result.get("status"), result.get("passed"))`` (and the row's side likewise)."""
    row = _genuine(stack, passed="N", sub_code="205")
    _put_row(stack, row, sub_code="206")
    sender = RecordingSender()

    stack.notifier(sender, subscribers=[Subscriber(URL, SECRET_A)]).handle_body(
        {"merchantBizId": row.merchant_biz_id, "attempt": 0}
    )

    announced = [d.body for d in sender.deliveries]
    letters = [letter.get("reason") for letter in peek(stack.deadletter)]
    assert (announced, letters) == ([], ["verdict_unverified"]), (
        f"a subCode the kept result does not say was announced: {announced}; dead letters {letters}"
    )


def test_a_verdict_whose_kept_result_is_missing_while_its_row_stays_is_retried_not_dropped(stack: Stack) -> None:
    """A verdict row whose kept result cannot be found while the row is still there (not an erasure: that deletes
    the row right after the objects) is retried on each subscriber's schedule, then dead-lettered: never dropped
    in silence (the project's rule; ``_verified_result``'s docstring: "Retried on each subscriber's schedule; never
    announced while it stays missing").

    Mutation N02 (notifications.py, ``_verified_result``): the row's read-back dropped,
    ``- if self.store.get(record.merchant_biz_id) is None:``
    ``+ if True:`` — the message is then taken for a transaction that is gone, and a first delivery (which names no
    subscriber) ends with a log line: no delivery, no follow-up, no dead letter."""
    row = _genuine(stack)
    assert row.result_key
    stack.objects.delete(row.result_key)
    sender = RecordingSender()

    stack.notifier(sender, subscribers=[Subscriber(URL, SECRET_A)]).handle_body(
        {"merchantBizId": row.merchant_biz_id, "attempt": 0}
    )

    follow_ups = peek(stack.notify)
    assert sender.deliveries == []
    assert [(m.get("merchantBizId"), m.get("attempt")) for m in follow_ups] == [(row.merchant_biz_id, 1)], (
        f"the verdict's notification was dropped: no follow-up queued ({follow_ups}), "
        f"dead letters {peek(stack.deadletter)}"
    )


def test_a_sweeper_whose_abandonment_lost_to_a_verdict_enqueues_no_notification(any_stack: Stack) -> None:
    """``Sweeper.abandon``: PENDING → ABANDONED conditionally, *then* announced; False when the row moved on (a
    callback's verdict landed first). The verdict's own fetch announces it: a second notify message from the
    sweeper is a second round of webhooks for one result (effects exactly once).

    Mutation W01 (sweeper.py, ``abandon``): the announcement made whether or not the write won,
    ``  if not self.store.mark_abandoned(merchant_biz_id, now=now):``
    ``+     self.fetcher.enqueue_notification(merchant_biz_id, Status.ABANDONED)``
    ``      return False``"""
    stack = any_stack
    record = stack.pending(created_at=stack.clock() - 10 * 86400)
    mbid = record.merchant_biz_id
    fetcher = stack.fetcher(FakeCloudAuth())
    assert fetcher.fetch(mbid).kind == "finalized"  # the callback's verdict, announced by its fetch
    assert peek(stack.notify) == [{"merchantBizId": mbid, "attempt": 0}]

    abandoned = stack.sweeper(fetcher).abandon(mbid, stack.clock())

    assert (abandoned, peek(stack.notify)) == (False, [{"merchantBizId": mbid, "attempt": 0}]), (
        f"a lost abandonment announced anyway: {peek(stack.notify)}"
    )


class DownQueue:
    """A notify queue that refuses every message (MNS unavailable)."""

    def send(self, body: bytes, *, delay_seconds: int = 0) -> str:
        raise StorageError("mns SendMessage failed: ServiceUnavailable", transient=True, code="ServiceUnavailable")


def test_retention_keeps_the_kept_result_of_a_verdict_whose_notification_was_never_enqueued(any_stack: Stack) -> None:
    """A verdict past retention whose notification the fetch could not enqueue, and the outbox could not either (the
    notify queue is down through the pass): retention steps over it (``_retention_wait``: "outbox"), objects and
    row, until it is announced. Deleting its objects would leave a row the notifier can never verify
    (``_verified_result`` finds no kept result while the row stays): the verdict is never announced.

    Mutation W02 (sweeper.py, ``_retention_wait``): the outbox reason dropped,
    ``- if not row.notification_enqueued:``
    ``+ if False:`` — ``delete_kept_result`` deletes a verdict's objects before its conditional row deletion, which
    then fails on the unconfirmed notification: the row stays, its result is gone."""
    stack = any_stack
    day = 86400.0
    record = stack.pending(created_at=stack.clock() - 10 * day, updated_at=stack.clock() - 10 * day)
    mbid = record.merchant_biz_id
    stack.clock.advance(-8 * day)  # the verdict came 8 days ago; the notify queue was down then
    fetcher = stack.fetcher(FakeCloudAuth(), notify=DownQueue())
    assert fetcher.fetch(mbid).kind == "finalized"
    stack.clock.advance(8 * day)
    row = stack.store.get(mbid)
    assert row is not None and row.result_key and not row.notification_enqueued
    assert stack.objects.exists(row.result_key)

    report = stack.sweeper(fetcher, retention_days=1).sweep()  # the queue is still down: the outbox fails too

    assert stack.store.get(mbid) is not None
    assert stack.objects.exists(row.result_key), (
        f"retention deleted the kept result of a verdict never announced (report {report.as_dict()}): the notifier "
        f"can no longer verify it, so it is never announced"
    )


class VendorThatKeepsItsCopy(FakeCloudAuth):
    """DeleteVerifyResult answers DeleteResult N: the vendor kept its copy."""

    def delete_verify_result(
        self, transaction_id: str, *, delete_after_query: bool | str, delete_type: str = "All"
    ) -> DeleteVerifyResultResponse:
        self.delete_calls.append(transaction_id)
        return DeleteVerifyResultResponse(deleted=False, delete_result="N", transaction_id=transaction_id)


def test_a_refused_vendor_deletion_keeps_our_copy_of_a_verdict_retention_has_not_reached(any_stack: Stack) -> None:
    """With ``KYC_DELETE_VENDOR_COPY``, the vendor refusing a deletion (DeleteResult N) is retried an hour later
    (step 2). Our copy of the result goes with it only once the row is past retention (``_past_retention``): a
    young verdict keeps its kept result, which the notifier's follow-ups verify the verdict against and the
    merchant's operators read.

    Mutation W09 (sweeper.py, ``_repair_outbox``): the retention check dropped,
    ``- if self._past_retention(row, now):  # the row waits for the vendor's copy; ours goes now``
    ``+ if True:``"""
    stack = any_stack
    record = stack.pending()
    mbid = record.merchant_biz_id
    vendor = VendorThatKeepsItsCopy()
    fetcher = stack.fetcher(vendor, delete_vendor_copy=True)
    assert fetcher.fetch(mbid).kind == "finalized"  # its own deletion refused: the outbox retries it
    key = stack.kept_result_key(mbid)
    stack.clock.advance(OUTBOX_GRACE_SECONDS + 1)

    stack.sweeper(fetcher, retention_days=30).sweep()

    assert len(vendor.delete_calls) == 2, vendor.delete_calls  # the fetch's, then the outbox's retry
    assert stack.objects.list(f"results/{mbid}/") != [] and stack.objects.exists(key), (
        "the kept result of a verdict a day old was deleted because the vendor kept its own copy"
    )


def test_a_refused_vendor_deletion_keeps_our_copy_of_a_verdict_past_retention_while_its_announcement_may_read_it(
    any_stack: Stack,
) -> None:
    """A verification past its retention age that turns final now (a late verdict: the person finished after
    all), on a deployment deleting vendor copies whose deletion the vendor refuses. Retention waits for its
    announcement (``settled_hold_seconds``: the notifier's follow-ups rebuild the event from the row and verify it
    against the kept result), and so must step 2's early deletion of our copy: ``_past_retention`` lets only a row
    nothing but the vendor's copy keeps ("vendor_copy") lose its objects there.

    Mutation W10 (sweeper.py, ``_past_retention``): the reasons to wait widened to anything settled,
    ``- and self._retention_wait(row, now) in (None, "vendor_copy")``
    ``+ and self._retention_wait(row, now) != "pending"``"""
    stack = any_stack
    day = 86400.0
    record = stack.pending(created_at=stack.clock() - 2 * day, updated_at=stack.clock() - 2 * day)
    mbid = record.merchant_biz_id
    vendor = VendorThatKeepsItsCopy()
    fetcher = stack.fetcher(vendor, delete_vendor_copy=True)
    assert fetcher.fetch(mbid).kind == "finalized"  # announced now; the vendor keeps its copy
    key = stack.kept_result_key(mbid)
    stack.clock.advance(OUTBOX_GRACE_SECONDS + 1)

    stack.sweeper(fetcher, retention_days=1).sweep()

    assert len(vendor.delete_calls) == 2, vendor.delete_calls
    assert stack.store.get(mbid) is not None  # retention waits for its announcement
    assert stack.objects.exists(key), (
        "a verdict announced a minute ago lost its kept result: the notifier's follow-ups can no longer verify it"
    )
