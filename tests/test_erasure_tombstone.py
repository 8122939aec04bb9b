"""An erasure is final: a flow the person finishes after ``kyc erase`` is deleted, never kept nor announced.

``kyc erase`` cannot delete the vendor's copy of an unfinished flow (the vendor deletes a flow only once it is
complete), so it leaves the row as an ERASED tombstone holding the TransactionId. Whatever then reaches the fetcher
for that flow (its callback, a re-check, a fetch already in flight) deletes the vendor's copy and the tombstone
instead of keeping the result."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.cloudauth import DeleteVerifyResultResponse, ServerError
from shared.ids import result_prefix
from shared.storage import SqliteTransactionStore
from shared.sweeper import OUTBOX_WINDOW_SECONDS
from shared.verifications import Refused, Verifications
from tests.fakes import T0, FakeClock, FakeCloudAuth, RecordingSender, Stack, check_result_body
from tests.test_initializer_app import META, _settings

DAY = 86400.0
OWNER = "f" * 64


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path)
    yield s
    s.close()


class _VendorKeepsUnfinishedFlows(FakeCloudAuth):
    """DeleteResult N to every deletion: the flow is still unfinished at the vendor."""

    def delete_verify_result(
        self, transaction_id: str, *, delete_after_query: bool | str, delete_type: str = "All"
    ) -> DeleteVerifyResultResponse:
        self.delete_calls.append(transaction_id)
        return DeleteVerifyResultResponse(deleted=False, delete_result="N", transaction_id=transaction_id)


class _VendorFailsDeletions(FakeCloudAuth):
    def delete_verify_result(
        self, transaction_id: str, *, delete_after_query: bool | str, delete_type: str = "All"
    ) -> DeleteVerifyResultResponse:
        self.delete_calls.append(transaction_id)
        raise ServerError("try later", status=500, code="InternalError")


def _erased(stack: Stack) -> str:
    """A PENDING row that ``kyc erase`` turned into its tombstone (the vendor would not delete the flow yet)."""
    record = stack.pending()
    assert stack.store.mark_erased(record.merchant_biz_id, stack.clock())
    return record.merchant_biz_id


def test_the_callback_of_a_flow_finished_after_its_erasure_deletes_it_everywhere_and_announces_nothing(
    stack: Stack,
) -> None:
    mbid = _erased(stack)
    tombstone = stack.store.get(mbid)
    assert tombstone is not None
    vendor = FakeCloudAuth(check_result_body("Y"))
    outcome = stack.fetcher(vendor).fetch(mbid)  # what the callback calls
    assert outcome.kind == "erased"
    assert vendor.check_calls == []  # the result is never read
    assert (vendor.delete_calls, vendor.deletes_after_query) == ([tombstone.transaction_id], [False])
    assert stack.store.get(mbid) is None
    assert stack.objects.list(result_prefix(mbid)) == []
    assert stack.notify.size() == 0 and stack.recheck.size() == 0


def test_a_fetch_that_loses_its_verdict_to_an_erasure_deletes_what_it_wrote_and_the_vendor_s_copy(
    stack: Stack,
) -> None:
    record = stack.pending()
    mbid = record.merchant_biz_id
    vendor = FakeCloudAuth(check_result_body("Y"))
    vendor.before_check = lambda: stack.store.mark_erased(mbid, stack.clock())  # kyc erase, while CheckResult runs
    outcome = stack.fetcher(vendor).fetch(mbid)
    assert outcome.kind == "erased"
    assert vendor.delete_calls == [record.transaction_id]
    assert stack.store.get(mbid) is None
    assert stack.objects.list(result_prefix(mbid)) == [], "the images and document this fetch wrote"
    assert stack.notify.size() == 0


def test_an_erased_flow_the_vendor_still_keeps_stays_a_tombstone_and_schedules_nothing(stack: Stack) -> None:
    mbid = _erased(stack)
    outcome = stack.fetcher(_VendorKeepsUnfinishedFlows()).fetch(mbid, attempt=1)  # a re-check queued before
    assert outcome.kind == "erased"
    row = stack.store.get(mbid)
    assert row is not None and row.status == "ERASED"
    assert stack.recheck.size() == 0 and stack.notify.size() == 0


def test_a_vendor_failure_while_finishing_an_erasure_keeps_the_tombstone_for_the_next_try(stack: Stack) -> None:
    mbid = _erased(stack)
    outcome = stack.fetcher(_VendorFailsDeletions()).fetch(mbid)
    assert (outcome.kind, outcome.error) == ("erased", "InternalError")
    row = stack.store.get(mbid)
    assert row is not None and row.status == "ERASED"


def test_the_sweeper_neither_checks_nor_abandons_an_erased_row(stack: Stack) -> None:
    mbid = _erased(stack)
    stack.clock.advance(2 * DAY)
    vendor = FakeCloudAuth(check_result_body("Y"))
    report = stack.sweeper(stack.fetcher(vendor)).sweep()
    assert (report.finalized, report.abandoned) == (0, 0)
    assert vendor.check_calls == [] and stack.notify.size() == 0
    row = stack.store.get(mbid)
    assert row is not None and row.status == "ERASED"


def test_retention_keeps_a_tombstone_while_the_vendor_may_hold_the_flow_then_deletes_it(stack: Stack) -> None:
    record = stack.pending(created_at=T0 - 2 * DAY)
    mbid = record.merchant_biz_id
    stack.store.mark_erased(mbid, stack.clock())
    sweeper = stack.sweeper(stack.fetcher(FakeCloudAuth()), retention_days=1)
    sweeper.sweep()
    assert stack.store.get(mbid) is not None, "its TransactionId deletes the vendor's copy if the person finishes"
    stack.clock.advance(OUTBOX_WINDOW_SECONDS)
    assert sweeper.sweep().expired == 1
    assert stack.store.get(mbid) is None


def test_an_announcement_queued_before_the_erasure_is_not_delivered(stack: Stack) -> None:
    record = stack.pending()
    mbid = record.merchant_biz_id
    stack.store.mark_abandoned(mbid, stack.clock())
    stack.store.mark_erased(mbid, stack.clock())
    sender = RecordingSender()
    stack.notifier(sender).handle_body({"merchantBizId": mbid, "attempt": 0})
    assert sender.deliveries == []
    assert stack.deadletter.size() == 0  # nobody was owed it yet: not an operator's alarm


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteTransactionStore]:
    s = SqliteTransactionStore(tmp_path / "kyc.sqlite3")
    yield s
    s.close()


def _service(store: SqliteTransactionStore) -> Verifications:
    return Verifications(settings=_settings(), client=FakeCloudAuth(), store=store,  # type: ignore[arg-type]
                         clock=FakeClock(T0))


def test_the_owner_s_view_of_an_erased_verification_is_not_found(store: SqliteTransactionStore) -> None:
    started = _service(store).start(OWNER, {"docType": "01000000", "metaInfo": META})
    store.mark_erased(started.merchant_biz_id, T0)
    with pytest.raises(Refused) as info:
        _service(store).get(OWNER, started.merchant_biz_id)
    assert info.value.code == "NotFound"


def test_a_keyed_repeat_of_an_erased_start_gets_no_vendor_page(store: SqliteTransactionStore) -> None:
    body = {"docType": "01000000", "metaInfo": META}
    _service(store).start(OWNER, body, idempotency_key="order-1")
    (row,), _ = store.list_by_user(OWNER)
    store.mark_erased(row.merchant_biz_id, T0)
    with pytest.raises(Refused) as info:
        _service(store).start(OWNER, body, idempotency_key="order-1")
    assert info.value.code == "IdempotencyKeyInUse"
