"""An erasure is final: a flow the person finishes after ``kyc erase`` is deleted, never kept nor announced.

``kyc erase`` cannot delete the vendor's copy of an unfinished flow (the vendor deletes a flow only once it is
complete), so it leaves the row as an ERASED tombstone holding the TransactionId. Whatever then reaches the fetcher
for that flow (its callback, a re-check, a fetch already in flight) deletes the vendor's copy and the tombstone
instead of keeping the result, and the sweeper asks the vendor hourly should no callback come (review al found that
gap, the retention hold-back and the lost images below)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from shared import jsonutil
from shared.auth import hash_user_id
from shared.cloudauth import DeleteVerifyResultResponse, ServerError, TransactionIdInvalid
from shared.fc.budget import InvocationBudget
from shared.ids import result_prefix
from shared.storage import DueKind, SqliteTransactionStore, StorageError
from shared.sweeper import (
    OUTBOX_GRACE_SECONDS,
    OUTBOX_WINDOW_SECONDS,
    VENDOR_COPY_RETRY_SECONDS,
    VENDOR_COPY_WAIT_SECONDS,
)
from shared.timestamps import rfc3339
from shared.verifications import Refused, Verifications
from tests.fakes import T0, FakeClock, FakeCloudAuth, RecordingSender, Stack, check_result_body, drain, make_record
from tests.test_erasure_and_retention import _SecondPutFails
from tests.test_initializer_app import META, _settings
from tests.test_second_tries import MarkFailsOnce, _VendorForgetsWhatItDeleted
from tools.ops import kyc, transactions
from tools.ops.common import Context

DAY = 86400.0
HOUR = 3600.0
OWNER = "f" * 64
PEPPER = "tombstone-pepper-0123456789"


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


class _FailsOnceThenDeletes(FakeCloudAuth):
    def __init__(self) -> None:
        super().__init__(check_result_body("Y"))
        self.failures = 1

    def delete_verify_result(
        self, transaction_id: str, *, delete_after_query: bool | str, delete_type: str = "All"
    ) -> DeleteVerifyResultResponse:
        self.delete_calls.append(transaction_id)
        if self.failures:
            self.failures -= 1
            raise ServerError("try later", status=500, code="InternalError")
        return DeleteVerifyResultResponse(deleted=True, delete_result="Y", transaction_id=transaction_id)


def _erased(stack: Stack, **overrides: Any) -> str:
    """A PENDING row that ``kyc erase`` turned into its tombstone (the vendor would not delete the flow yet)."""
    record = stack.pending(**overrides)
    assert stack.store.mark_erased(record.merchant_biz_id, stack.clock())
    return record.merchant_biz_id


def _recover_for(stack: Stack, vendor: FakeCloudAuth, hours: int) -> None:
    """Every recovery path the deployment runs, for ``hours``: the re-check queue's trigger and the sweeper (the
    callback is what does not come)."""
    fetcher = stack.fetcher(vendor)
    sweeper = stack.sweeper(fetcher)
    for _ in range(hours):
        stack.clock.advance(HOUR)
        drain(stack.recheck, lambda body: fetcher.fetch(body["merchantBizId"], attempt=body["attempt"]), stack.clock)
        sweeper.sweep()


def _context(stack: Stack, vendor: FakeCloudAuth, env: dict[str, str], out: io.StringIO) -> Context:
    queues = {"recheck": stack.recheck, "notify": stack.notify, "deadletter": stack.deadletter}
    stores = SimpleNamespace(transactions=stack.store, objects=stack.objects, queue=queues.__getitem__)
    return Context(env=env, stdout=out, stderr=io.StringIO(), stdin=io.StringIO(),
                   client_factory=lambda env: vendor,  # type: ignore[arg-type,return-value]
                   stores_factory=lambda env: stores,  # type: ignore[arg-type,return-value]
                   clock=stack.clock, sleep=lambda _: None)


# -- the fetcher: a callback, a re-check, a fetch in flight --------------------------------------------------------


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


def test_an_erased_flow_the_vendor_still_keeps_stays_a_tombstone_and_queues_nothing(stack: Stack) -> None:
    mbid = _erased(stack)
    outcome = stack.fetcher(_VendorKeepsUnfinishedFlows()).fetch(mbid, attempt=1)  # a re-check queued before
    assert outcome.kind == "erasure_pending"
    row = stack.store.get(mbid)
    assert row is not None and row.status == "ERASED"
    assert stack.recheck.size() == 0 and stack.notify.size() == 0


def test_a_vendor_failure_while_finishing_an_erasure_keeps_the_tombstone(stack: Stack) -> None:
    mbid = _erased(stack)
    outcome = stack.fetcher(_FailsOnceThenDeletes()).fetch(mbid)
    assert (outcome.kind, outcome.error) == ("erasure_pending", "InternalError")
    row = stack.store.get(mbid)
    assert row is not None and row.status == "ERASED"


@pytest.mark.parametrize("trigger", ["sweeper", "callback behind a started chain"])
def test_a_fetch_erased_meanwhile_whose_object_write_fails_leaves_no_images_behind(stack: Stack, trigger: str) -> None:
    """As tests/test_erasure_and_retention.py's tests of a row *deleted* meanwhile: with a tombstone instead, the
    image this fetch wrote before its failure goes too, though neither trigger queues a re-check."""
    record = stack.pending(recheck_attempt=0 if trigger == "sweeper" else 1)
    mbid = record.merchant_biz_id
    vendor = _VendorKeepsUnfinishedFlows(check_result_body("Y"))
    vendor.before_check = lambda: stack.store.mark_erased(mbid, stack.clock())  # kyc erase, while CheckResult runs
    fetcher = stack.fetcher(vendor, objects=_SecondPutFails(stack.objects))
    if trigger == "sweeper":
        stack.clock.advance(HOUR)  # silent past KYC_SWEEP_AFTER: the sweeper's
        stack.sweeper(fetcher).sweep()
    else:
        fetcher.fetch(mbid)
    left = stack.objects.list(result_prefix(mbid))
    assert left == [], f"images of an erased verification left where nothing deletes them: {left}"


# -- the sweeper: what no callback finishes -------------------------------------------------------------------------


def test_the_sweeper_never_checks_nor_abandons_an_erased_row_it_asks_the_vendor_to_delete_it(stack: Stack) -> None:
    mbid = _erased(stack)
    stack.clock.advance(2 * DAY)
    vendor = FakeCloudAuth(check_result_body("Y"))  # the person finished: the vendor deletes the flow when asked
    report = stack.sweeper(stack.fetcher(vendor)).sweep()
    assert (report.finalized, report.abandoned, report.erased) == (0, 0, 1)
    assert vendor.check_calls == [] and stack.notify.size() == 0
    assert stack.store.get(mbid) is None


def test_an_erased_flow_the_person_finishes_is_deleted_at_the_vendor_even_when_its_callback_never_comes(
    stack: Stack,
) -> None:
    mbid = _erased(stack)
    tombstone = stack.store.get(mbid)
    assert tombstone is not None
    vendor = FakeCloudAuth(check_result_body("Y"))
    _recover_for(stack, vendor, hours=24)
    assert vendor.delete_calls == [tombstone.transaction_id], "nothing ever asked the vendor to delete the flow"
    assert stack.store.get(mbid) is None


def test_a_vendor_error_while_the_callback_finishes_an_erasure_is_tried_again_by_the_sweeper(stack: Stack) -> None:
    mbid = _erased(stack)
    vendor = _FailsOnceThenDeletes()
    outcome = stack.fetcher(vendor).fetch(mbid)  # the callback: answered 200, the vendor will not call again
    assert (outcome.kind, outcome.error) == ("erasure_pending", "InternalError")
    _recover_for(stack, vendor, hours=24)
    assert len(vendor.delete_calls) == 2
    assert stack.store.get(mbid) is None


def test_the_sweeper_asks_again_hourly_while_the_vendor_keeps_the_unfinished_flow(stack: Stack) -> None:
    mbid = _erased(stack)
    vendor = _VendorKeepsUnfinishedFlows()
    sweeper = stack.sweeper(stack.fetcher(vendor))
    stack.clock.advance(HOUR)
    sweeper.sweep()
    sweeper.sweep()  # the same hour: not due again yet
    assert len(vendor.delete_calls) == 1
    stack.clock.advance(VENDOR_COPY_RETRY_SECONDS + OUTBOX_GRACE_SECONDS)  # the outbox's grace, as for its retries
    sweeper.sweep()
    assert len(vendor.delete_calls) == 2
    row = stack.store.get(mbid)
    assert row is not None and row.status == "ERASED"


def test_past_the_vendor_s_30_days_the_sweeper_deletes_a_tombstone_without_asking_even_without_retention(
    stack: Stack,
) -> None:
    mbid = _erased(stack)
    vendor = _VendorKeepsUnfinishedFlows()
    sweeper = stack.sweeper(stack.fetcher(vendor), retention_days=0)
    stack.clock.advance(OUTBOX_WINDOW_SECONDS + HOUR)
    assert sweeper.sweep().erased == 1
    assert vendor.delete_calls == []  # the vendor has forgotten the flow
    assert stack.store.get(mbid) is None


def test_tombstones_hold_back_younger_rows_retention_only_as_long_as_a_vendor_copy_deletion_may(
    stack: Stack,
) -> None:
    """Three tombstones at the head of the creation index, a batch of 2 (review al: they held retention back for up
    to 31 days): retention waits for a tombstone as for a verdict's vendor copy, VENDOR_COPY_WAIT_SECONDS from the
    erasure, then deletes it and the rows behind it."""
    tombstones = [_erased(stack, created_at=T0 - 3 * DAY) for _ in range(3)]
    verdict = make_record(status="PASSED", passed="Y", sub_code="200", created_at=T0 - 2 * DAY,
                          updated_at=T0 - 2 * DAY, finalized_at=T0 - 2 * DAY, notification_enqueued=True,
                          notified_at=T0 - 2 * DAY)
    stack.store.create(verdict)
    stack.objects.put(f"{result_prefix(verdict.merchant_biz_id)}a/result.json", b"{}", "application/json")
    sweeper = stack.sweeper(stack.fetcher(_VendorKeepsUnfinishedFlows()), retention_days=1, batch_size=2)
    sweeper.sweep()
    assert stack.store.get(verdict.merchant_biz_id) is not None  # behind two tombstones still waiting
    stack.clock.advance(VENDOR_COPY_WAIT_SECONDS + HOUR)
    sweeper.sweep()
    sweeper.sweep()  # a batch of 2 a pass
    assert [stack.store.get(mbid) for mbid in tombstones] == [None, None, None]
    assert stack.store.get(verdict.merchant_biz_id) is None, "the verdict is kept past its retention"
    assert stack.objects.list(result_prefix(verdict.merchant_biz_id)) == []


class _CountingStore:
    """The store, counting the rows ``list_created`` (retention's read) hands back."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.rows_listed = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def list_created(self, **kwargs: Any) -> Any:
        rows, cursor = self._inner.list_created(**kwargs)
        self.rows_listed += len(rows)
        return rows, cursor


def test_a_retention_pass_reads_rows_in_proportion_to_its_batch_not_to_the_tombstones_the_table_holds(
    stack: Stack,
) -> None:
    """Review am: retention read past every tombstone without counting it, at every pass."""
    batch = 5
    for i in range(200):  # created 10 days ago, erased now; not due for the erasure step this pass
        record = stack.pending(created_at=T0 - 10 * DAY + i)
        stack.store.mark_erased(record.merchant_biz_id, T0)
        stack.store.set_erasure_due(record.merchant_biz_id, T0 + HOUR)
    counting = _CountingStore(stack.store)
    report = stack.sweeper(stack.fetcher(FakeCloudAuth(), store=counting), retention_days=5, batch_size=batch).sweep()
    assert report.expired == 0
    assert counting.rows_listed <= 2 * batch + batch  # the documented bound: twice the batch, plus a page


class _DeletionsTimeOut(FakeCloudAuth):
    """A vendor outage: every DeleteVerifyResult takes the call's whole deadline (on the budget's clock) and fails."""

    def __init__(self, budget_clock: FakeClock) -> None:
        super().__init__()
        self.budget_clock = budget_clock

    def delete_verify_result(
        self, transaction_id: str, *, delete_after_query: bool | str, delete_type: str = "All"
    ) -> DeleteVerifyResultResponse:
        self.delete_calls.append(transaction_id)
        self.budget_clock.advance(self.settings.call_deadline)
        raise ServerError("down", status=503, code="ServiceUnavailable")


def test_a_vendor_outage_during_the_erasure_step_leaves_time_for_retention_within_the_pass(stack: Stack) -> None:
    """Review am: as step 1 keeps half the pass for steps 2-4, the erasure step (a DeleteVerifyResult per tombstone,
    up to its deadline each) keeps a share for retention and the rate counters, and never runs past the pass."""
    for _ in range(20):  # a batch of users erased while their flows were unfinished
        _erased(stack, created_at=T0 - DAY)
    old = stack.pending(created_at=T0 - 40 * DAY)
    stack.store.finalize(old.merchant_biz_id, status="PASSED", passed="Y", sub_code="200", result_key=None,
                         identity_masked=None, result_version=1, now=T0 - 39 * DAY)  # fmt: skip
    stack.store.mark_notification_enqueued(old.merchant_biz_id, "PASSED", vendor_copy_pending=False)
    stack.clock.advance(OUTBOX_GRACE_SECONDS + 1)
    budget_clock = FakeClock(0.0)
    vendor = _DeletionsTimeOut(budget_clock)
    report = stack.sweeper(stack.fetcher(vendor), retention_days=30).sweep(InvocationBudget(240.0, clock=budget_clock))
    assert "retention" not in report.stopped_early and report.expired == 1
    assert budget_clock() <= 240.0
    assert stack.store.get(old.merchant_biz_id) is None


class _UnknownToVendor(FakeCloudAuth):
    """A worker whose CLOUDAUTH_* (region, endpoint, account) is not the one that started the flows."""

    def delete_verify_result(
        self, transaction_id: str, *, delete_after_query: bool | str, delete_type: str = "All"
    ) -> DeleteVerifyResultResponse:
        self.delete_calls.append(transaction_id)
        raise TransactionIdInvalid("unknown", code="InvalidParameter.TransactionId")


def test_a_tombstone_the_vendor_says_it_does_not_know_within_its_30_days_is_kept_as_kyc_erase_keeps_it(
    stack: Stack,
) -> None:
    """Review am: the tombstone holds the only TransactionId that can delete the person's data once the settings
    are put right; an "unknown" within the vendor's 30 days is not taken for a deletion."""
    mbid = _erased(stack)
    stack.clock.advance(HOUR)
    report = stack.sweeper(stack.fetcher(_UnknownToVendor())).sweep()
    row = stack.store.get(mbid)
    assert row is not None and row.status == "ERASED" and report.erased == 0


class _RowDeletionFails:
    """The store, whose deletion of the row ``only`` (any row when None) fails ``times`` times (for good when None):
    a row-specific refusal, or a moment of Tablestore being busy."""

    def __init__(self, inner: Any, *, only: str | None = None, times: int | None = None) -> None:
        self._inner, self.only, self.times = inner, only, times

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def delete(self, merchant_biz_id: str) -> None:
        if self.only in (None, merchant_biz_id) and self.times != 0:
            self.times = None if self.times is None else self.times - 1
            raise StorageError("tablestore DeleteRow failed", transient=False, code="OTSParameterInvalid")
        self._inner.delete(merchant_biz_id)


def test_one_tombstone_whose_deletion_keeps_failing_does_not_block_the_erasure_of_the_others(stack: Stack) -> None:
    """Review am: the step ended at its StorageError without putting the row back, so it stayed the head of the
    index at every pass."""
    bad = _erased(stack)
    stack.clock.advance(1)
    others = [_erased(stack) for _ in range(3)]
    store = _RowDeletionFails(stack.store, only=bad)
    sweeper = stack.sweeper(stack.fetcher(FakeCloudAuth(), store=store))
    stack.clock.advance(HOUR)
    report = sweeper.sweep()
    assert [mbid for mbid in others if stack.store.get(mbid) is not None] == []
    assert report.errors == ["_finish_erasures:OTSParameterInvalid"]


def test_a_re_check_of_a_tombstone_deletes_what_a_raced_fetch_left_even_while_the_vendor_keeps_the_flow(
    stack: Stack,
) -> None:
    """review bi: a fetch that wrote its result as the row was erased, and could not delete it then, queues a re-check
    to do it (``_queue_cleanup``). That re-check finds the tombstone: the images go now, not only once the vendor
    agrees to delete the flow (hourly, for up to its 30 days)."""
    mbid = _erased(stack)
    image = f"{result_prefix(mbid)}0123456789abcdef0123/idImage.jpg"
    stack.objects.put(image, b"\xff\xd8 passport", "image/jpeg")
    outcome = stack.fetcher(_VendorKeepsUnfinishedFlows()).fetch(mbid, attempt=1)
    assert outcome.kind == "erasure_pending"
    assert stack.objects.list(result_prefix(mbid)) == []
    assert stack.store.get(mbid) is not None  # the tombstone stays: the vendor still holds the flow


def test_a_pass_asks_the_vendor_about_at_most_a_batch_of_tombstones(stack: Stack) -> None:
    """review bi: each tombstone is a DeleteVerifyResult call; ``KYC_SWEEP_BATCH`` bounds them per pass as it bounds
    step 1's CheckResult calls, and the next pass takes the rest."""
    tombstones = [_erased(stack) for _ in range(3)]
    vendor = FakeCloudAuth()
    sweeper = stack.sweeper(stack.fetcher(vendor), batch_size=2)
    stack.clock.advance(HOUR)
    assert sweeper.sweep().erased == 2 and len(vendor.delete_calls) == 2
    assert sweeper.sweep().erased == 1 and len(vendor.delete_calls) == 3
    assert [mbid for mbid in tombstones if stack.store.get(mbid) is not None] == []


# -- the notifier, the initializer and the CLI ---------------------------------------------------------------------


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


def test_kyc_erase_finishes_an_erasure_whose_vendor_copy_a_fetch_already_deleted(stack: Stack) -> None:
    """The callback's fetch deletes the vendor's copy, then the row's deletion fails (503): the row records the
    deletion first, so erase takes the vendor's "unknown" for it rather than for a shell calling another region."""
    mbid = _erased(stack, merchant_user_id=hash_user_id("carol", PEPPER))
    vendor = _VendorForgetsWhatItDeleted()
    with pytest.raises(StorageError):
        stack.fetcher(vendor, store=_RowDeletionFails(stack.store, times=1)).fetch(mbid)
    out = io.StringIO()
    args = kyc.build_parser().parse_args(["erase", "--user", "carol", "--yes"])
    code = transactions.run_erase(args, _context(stack, vendor, {"KYC_USER_ID_PEPPER": PEPPER}, out))
    assert code == 0, jsonutil.loads(out.getvalue())["transactions"]
    assert stack.store.get(mbid) is None


def test_kyc_refetch_of_a_tombstone_whose_vendor_deletion_failed_exits_1(stack: Stack) -> None:
    mbid = _erased(stack)
    out = io.StringIO()
    args = kyc.build_parser().parse_args(["refetch", mbid])
    code = transactions.run_refetch(args, _context(stack, _FailsOnceThenDeletes(), {}, out))
    assert (jsonutil.loads(out.getvalue())["outcome"], code) == ("erasure_pending", 1)
    assert stack.store.get(mbid) is not None


def test_the_console_s_timeline_of_a_tombstone_says_it_was_erased_and_claims_no_announcement(stack: Stack) -> None:
    from tools.ops import insights

    record = stack.pending()
    stack.store.mark_abandoned(record.merchant_biz_id, stack.clock())  # never announced
    stack.store.mark_erased(record.merchant_biz_id, stack.clock())
    tombstone = stack.store.get(record.merchant_biz_id)
    assert tombstone is not None
    events, objects = insights.timeline(SimpleNamespace(objects=stack.objects), tombstone)  # type: ignore[arg-type]
    said = " | ".join(event.what for event in events)
    assert "erased while unfinished" in said and "webhook" not in said and objects == []


def test_the_console_s_timeline_dates_an_erasure_when_it_happened_not_at_the_sweeper_s_last_try(stack: Stack) -> None:
    """Review am: the sweeper's hourly retries rewrote the row's updated_at, the timeline's erasure time."""
    from tools.ops import insights

    mbid = _erased(stack)
    erased_at = stack.clock()
    sweeper = stack.sweeper(stack.fetcher(_VendorKeepsUnfinishedFlows()))
    for _ in range(5):
        stack.clock.advance(HOUR + OUTBOX_GRACE_SECONDS)
        sweeper.sweep()
    tombstone = stack.store.get(mbid)
    assert tombstone is not None
    events, _ = insights.timeline(SimpleNamespace(objects=stack.objects), tombstone)  # type: ignore[arg-type]
    (erased,) = [e for e in events if "erased while unfinished" in e.what]
    assert erased.at == rfc3339(erased_at)


def test_a_tombstone_whose_vendor_deletion_could_not_be_recorded_is_deleted_all_the_same(stack: Stack) -> None:
    """Review ao: one failed write of the record after the vendor's Y left the tombstone to the vendor's "unknown"
    at every later try, kept for 30 days as a wrong region's, with an ERROR each hour."""
    mbid = _erased(stack)
    vendor = _VendorForgetsWhatItDeleted()
    sweeper = stack.sweeper(stack.fetcher(vendor, store=MarkFailsOnce(stack.store)))
    stack.clock.advance(HOUR)
    assert sweeper.sweep().erased == 1
    assert stack.store.get(mbid) is None and len(vendor.delete_calls) == 1


def test_retention_that_deletes_a_tombstone_whose_vendor_deletion_was_never_confirmed_says_so(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    """Review ao: retention deleted it silently two days after the erasure, where a verdict's row in the same case
    logs sweep.vendor_copy_left."""
    mbid = _erased(stack, created_at=T0 - 2 * DAY)
    sweeper = stack.sweeper(stack.fetcher(_UnknownToVendor()), retention_days=1)
    stack.clock.advance(VENDOR_COPY_WAIT_SECONDS + HOUR)
    with caplog.at_level(logging.INFO, logger="kyc.sweeper"):
        assert sweeper.sweep().expired == 1
    assert stack.store.get(mbid) is None
    said = [r.getMessage() for r in caplog.records if r.name == "kyc.sweeper" and r.levelno >= logging.WARNING]
    assert said == ["sweep.vendor_copy_left"]


def test_a_fetcher_that_cannot_be_built_ends_the_erasure_step_once_and_moves_no_tombstone(stack: Stack) -> None:
    """As DeferredFetcher promises for every step (noted by review ao: each tombstone was put back an hour with an
    error of its own)."""
    from shared.sweeper import DeferredFetcher, Sweeper

    tombstones = [_erased(stack) for _ in range(3)]
    stack.clock.advance(HOUR)

    def unbuildable() -> Any:
        raise RuntimeError("no fetcher today")

    sweeper = Sweeper(store=stack.store, objects=stack.objects, settings=stack.sweeper(stack.fetcher(
        FakeCloudAuth())).settings, clock=stack.clock, fetcher=DeferredFetcher(unbuildable, deletes_vendor_copy=False))
    assert sweeper.sweep().errors == ["_finish_erasures:FetcherUnavailable"]
    due = [r.merchant_biz_id for r in stack.store.due(DueKind.ERASURE, stack.clock())[0]]
    assert sorted(due) == sorted(tombstones)  # still due now: the next pass tries them, not an hour later


# -- found by mutating shared.fetcher (review bp) ------------------------------------------------------------------


def test_a_fetch_that_loses_its_verdict_to_an_erasure_deletes_what_it_wrote_even_when_the_vendor_s_deletion_fails(
    stack: Stack,
) -> None:
    """The tombstone stays for the sweeper's hourly retry; the result this fetch wrote goes now (a tombstone owns no
    objects, and nothing else leads to them)."""
    record = stack.pending()
    mbid = record.merchant_biz_id
    vendor = _FailsOnceThenDeletes()
    vendor.before_check = lambda: stack.store.mark_erased(mbid, stack.clock())  # kyc erase, while CheckResult runs
    outcome = stack.fetcher(vendor).fetch(mbid)
    assert (outcome.kind, outcome.error) == ("erasure_pending", "InternalError")
    assert stack.objects.list(result_prefix(mbid)) == []
    assert stack.store.get(mbid) is not None and stack.notify.size() == 0


def test_a_tombstone_whose_vendor_copy_this_deployment_deleted_is_finished_on_the_vendor_s_unknown(
    stack: Stack,
) -> None:
    """The vendor no longer knowing a flow we deleted there is that deletion, not a wrong region's answer."""
    mbid = _erased(stack, vendor_copy_deleted=True)
    outcome = stack.fetcher(_UnknownToVendor()).fetch(mbid)
    assert outcome.kind == "erased" and stack.store.get(mbid) is None


def test_the_sweeper_leaves_a_fresh_tombstone_to_a_fetch_in_flight_for_the_outbox_grace(stack: Stack) -> None:
    """Asked of the vendor only once ``OUTBOX_GRACE_SECONDS`` have passed since the erasure, as the outbox waits."""
    mbid = _erased(stack)
    vendor = FakeCloudAuth()
    sweeper = stack.sweeper(stack.fetcher(vendor))
    assert sweeper.sweep().erased == 0 and vendor.delete_calls == []
    stack.clock.advance(OUTBOX_GRACE_SECONDS + 1)
    assert sweeper.sweep().erased == 1 and stack.store.get(mbid) is None
