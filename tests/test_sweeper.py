"""The sweeper on real local storage: stuck PENDING rows, the notification outbox, retention."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared import jsonutil
from shared.delivery import DeliveryResult
from shared.fc.budget import InvocationBudget
from shared.fetcher import ResultFetcher
from shared.notifications import Notifier
from shared.storage import DueKind, StorageError
from shared.sweeper import OUTBOX_GRACE_SECONDS, SETTLED_KEEP_SECONDS, DeferredFetcher, Sweeper, SweepSettings
from tests.fakes import (
    RETRY_SCHEDULE,
    SUBSCRIBERS,
    T0,
    FakeClock,
    FakeCloudAuth,
    RecordingSender,
    Stack,
    check_result_body,
    peek,
)

DAY = 86400.0
UNAVAILABLE = DeliveryResult(ok=False, status=503, error="http_503")
#: How long after it settled retention keeps a row in these stacks (its announcement's deliveries).
HOLD = SweepSettings(900.0, DAY, 1, 50, RETRY_SCHEDULE).settled_hold_seconds


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path)
    yield s
    s.close()


def test_old_pending_row_is_fetched_and_finalized(stack: Stack) -> None:
    record = stack.pending(created_at=T0 - 1000)
    client = FakeCloudAuth()
    report = stack.sweeper(stack.fetcher(client)).sweep()
    assert report.checked == 1 and report.finalized == 1
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and row.status == "PASSED"
    assert peek(stack.notify) == [{"merchantBizId": record.merchant_biz_id, "attempt": 0}]


def test_young_pending_row_is_left_to_the_callback(stack: Stack) -> None:
    stack.pending(created_at=T0 - 100)
    client = FakeCloudAuth()
    report = stack.sweeper(stack.fetcher(client)).sweep()
    assert report.checked == 0 and client.check_calls == []


def test_row_whose_next_check_is_not_due_is_skipped(stack: Stack) -> None:
    stack.pending(created_at=T0 - 1000, next_check_at=T0 + 60)
    client = FakeCloudAuth()
    stack.sweeper(stack.fetcher(client)).sweep()
    assert client.check_calls == []


def test_row_whose_next_check_is_due_is_fetched(stack: Stack) -> None:
    stack.pending(created_at=T0 - 1000, next_check_at=T0 - 1)
    client = FakeCloudAuth()
    stack.sweeper(stack.fetcher(client)).sweep()
    assert len(client.check_calls) == 1


def test_still_unfinished_row_is_rescheduled_with_backoff_and_no_recheck_message(stack: Stack) -> None:
    record = stack.pending(created_at=T0 - 1000)
    report = stack.sweeper(stack.fetcher(FakeCloudAuth(check_result_body("P")))).sweep()
    assert report.still_pending == 1
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and row.status == "PENDING" and row.next_check_at == T0 + 900.0
    assert peek(stack.recheck) == []  # past the quick schedule: the sweeper owns it


def test_unfinished_row_past_abandon_after_is_abandoned_and_notified(stack: Stack) -> None:
    record = stack.pending(created_at=T0 - 90000)
    report = stack.sweeper(stack.fetcher(FakeCloudAuth(check_result_body("P")))).sweep()
    assert report.abandoned == 1
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and row.status == "ABANDONED" and row.notification_enqueued
    assert peek(stack.notify) == [{"merchantBizId": record.merchant_biz_id, "attempt": 0}]


# An InitializeV2 flow has 30 minutes to be finished (shared.fetch_settings.V2_FINISH_WITHIN_SECONDS): one the vendor
# still calls unfinished past them (and a grace) is abandoned then, not a day later.
V2_EXPIRED_AGE = 41 * 60.0


def test_an_initialize_v2_flow_still_unfinished_past_the_vendor_s_30_minutes_is_abandoned_and_announced(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    from shared.cloudauth import ProcessNotCompleted

    record = stack.pending(created_at=T0 - V2_EXPIRED_AGE, product_code="eKYC_PRO", doc_type="GLB03002")
    report = stack.sweeper(stack.fetcher(FakeCloudAuth(ProcessNotCompleted("not yet")))).sweep()
    assert report.abandoned == 1
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and row.status == "ABANDONED"
    assert peek(stack.notify) == [{"merchantBizId": record.merchant_biz_id, "attempt": 0}]
    (line,) = [r for r in caplog.records if r.getMessage() == "sweep.abandoned"]
    assert line.reason == "expired"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("product_code", "doc_type", "age"),
    [
        pytest.param("eKYC", "01000000", V2_EXPIRED_AGE, id="started-with-Initialize"),
        pytest.param("eKYC_PRO", "GLB03002", 35 * 60.0, id="within-the-30-minutes-and-grace"),
    ],
)
def test_an_unfinished_flow_is_kept_pending_without_the_vendor_s_30_minutes_over(
    stack: Stack, product_code: str, doc_type: str, age: float
) -> None:
    from shared.cloudauth import ProcessNotCompleted

    record = stack.pending(created_at=T0 - age, product_code=product_code, doc_type=doc_type)
    report = stack.sweeper(stack.fetcher(FakeCloudAuth(ProcessNotCompleted("not yet")))).sweep()
    assert report.abandoned == 0 and report.still_pending == 1
    assert stack.store.get(record.merchant_biz_id).status == "PENDING"  # type: ignore[union-attr]


def test_a_finished_initialize_v2_flow_whose_result_is_still_in_progress_is_not_abandoned_at_30_minutes(
    stack: Stack,
) -> None:
    """Passed P: the person finished; the vendor is still working the result out."""
    stack.pending(created_at=T0 - V2_EXPIRED_AGE, product_code="eKYC_PRO", doc_type="GLB03002")
    report = stack.sweeper(stack.fetcher(FakeCloudAuth(check_result_body("P")))).sweep()
    assert report.abandoned == 0 and report.still_pending == 1


def test_transaction_unknown_to_the_vendor_is_abandoned_once_old(stack: Stack) -> None:
    from shared.cloudauth import TransactionIdInvalid

    record = stack.pending(created_at=T0 - 90000)
    stack.sweeper(stack.fetcher(FakeCloudAuth(TransactionIdInvalid("gone")))).sweep()
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and row.status == "ABANDONED"


def test_a_sweep_counts_one_check_of_a_transaction_unknown_to_the_vendor(stack: Stack) -> None:
    from shared.cloudauth import TransactionIdInvalid

    record = stack.pending(created_at=T0 - 1000)
    stack.sweeper(stack.fetcher(FakeCloudAuth(TransactionIdInvalid("gone")))).sweep()
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and row.status == "PENDING" and row.error == "TransactionIdInvalid"
    assert (row.check_count, row.next_check_at) == (1, T0 + 900.0)  # the first backoff step, as any pending row


def test_what_a_sweep_logs_of_a_fetch_names_the_row(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    from shared.cloudauth import TransactionIdInvalid

    record = stack.pending(created_at=T0 - 1000)
    stack.sweeper(stack.fetcher(FakeCloudAuth(TransactionIdInvalid("gone")))).sweep()
    lines = [jsonutil.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    unknown = [line for line in lines if line["message"] == "fetch.transaction_unknown_to_vendor"]
    assert [line.get("merchantBizId") for line in unknown] == [record.merchant_biz_id]


def test_final_row_without_enqueued_notification_is_reenqueued_after_the_grace_period(stack: Stack) -> None:
    record = stack.pending()
    stack.store.finalize(
        record.merchant_biz_id, status="PASSED", passed="Y", sub_code="200", result_key=None,
        identity_masked=None, result_version=1, now=T0,
    )  # fmt: skip
    sweeper = stack.sweeper(stack.fetcher(FakeCloudAuth()))
    assert sweeper.sweep().renotified == 0  # a fetch may still be about to enqueue it
    stack.clock.advance(OUTBOX_GRACE_SECONDS + 1)
    assert sweeper.sweep().renotified == 1
    assert sweeper.sweep().renotified == 0  # flagged now: only once
    assert peek(stack.notify) == [{"merchantBizId": record.merchant_biz_id, "attempt": 0}]


def test_retention_deletes_old_rows_and_their_objects(stack: Stack) -> None:
    old = stack.pending(created_at=T0 - 40 * 86400)
    young = stack.pending(created_at=T0 - 86400)
    fetcher = stack.fetcher(FakeCloudAuth())
    fetcher.fetch(old.merchant_biz_id)
    fetcher.fetch(young.merchant_biz_id)
    sweeper = stack.sweeper(fetcher, retention_days=30)
    stack.clock.advance(sweeper.settings.settled_hold_seconds)  # settled a while ago, as rows past retention are
    report = sweeper.sweep()
    assert report.expired == 1
    assert stack.store.get(old.merchant_biz_id) is None
    assert stack.objects.list(f"results/{old.merchant_biz_id}/") == []
    assert stack.store.get(young.merchant_biz_id) is not None
    assert stack.objects.exists(stack.kept_result_key(young.merchant_biz_id))


def test_retention_off_keeps_everything(stack: Stack) -> None:
    old = stack.pending(created_at=T0 - 400 * 86400)
    fetcher = stack.fetcher(FakeCloudAuth())
    fetcher.fetch(old.merchant_biz_id)
    assert stack.sweeper(fetcher).sweep().expired == 0
    assert stack.store.get(old.merchant_biz_id) is not None


class _StoreFailingDueFor:
    """The real store, except that ``due`` for some kinds fails."""

    def __init__(self, inner: Any, *kinds: DueKind) -> None:
        self._inner, self._kinds = inner, kinds

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def due(self, kind: DueKind, before: float, **kwargs: Any) -> Any:
        if kind in self._kinds:
            raise StorageError("due failed", transient=True, code="Boom")
        return self._inner.due(kind, before, **kwargs)


def test_a_failing_step_does_not_stop_the_others(stack: Stack) -> None:
    # Past 30 days of retention, yet inside the outbox window (results turn final while the vendor keeps them):
    # one whose notification the outbox owes, one announced long ago.
    stuck, announced = (stack.pending(created_at=T0 - 30.5 * 86400) for _ in range(2))
    for row in (stuck, announced):
        stack.store.finalize(
            row.merchant_biz_id, status="FAILED", passed="N", sub_code="205", result_key=None,
            identity_masked=None, result_version=1, now=T0 - HOLD - 3600,
        )  # fmt: skip
    stack.store.mark_notification_enqueued(announced.merchant_biz_id, "FAILED", now=T0 - HOLD - 3600)
    fetcher = stack.fetcher(FakeCloudAuth(), store=_StoreFailingDueFor(stack.store, DueKind.NEW, DueKind.CHECK))
    report = stack.sweeper(fetcher, retention_days=30).sweep()
    assert report.errors == ["_recheck_pending:Boom"]
    assert report.renotified == 1 and report.expired == 1
    assert stack.store.get(announced.merchant_biz_id) is None
    assert stack.store.get(stuck.merchant_biz_id) is not None, "kept for the deliveries of its late notification"


def test_a_fetcher_that_cannot_be_built_ends_only_the_steps_that_need_it(stack: Stack) -> None:
    """The sweeper builds its fetcher at the first pass with work for it: a build that fails then (whatever it
    raises) fails the step that needed it as a store failing would, and retention, which needs no fetcher, still
    runs (a RuntimeError of the build escaped the outbox step, and the whole pass)."""
    unannounced = stack.pending(created_at=T0 - 7200)  # a verdict whose notification the outbox owes
    stack.store.finalize(
        unannounced.merchant_biz_id, status="PASSED", passed="Y", sub_code="200", result_key=None,
        identity_masked=None, result_version=1, now=T0 - OUTBOX_GRACE_SECONDS - 60,
    )  # fmt: skip
    announced = stack.pending(created_at=T0 - 30.5 * 86400)
    stack.store.finalize(
        announced.merchant_biz_id, status="FAILED", passed="N", sub_code="205", result_key=None,
        identity_masked=None, result_version=1, now=T0 - HOLD - 3600,
    )  # fmt: skip
    stack.store.mark_notification_enqueued(announced.merchant_biz_id, "FAILED", now=T0 - HOLD - 3600)

    def unbuildable() -> ResultFetcher:
        raise RuntimeError("no fetcher today")

    settings = SweepSettings(sweep_after_seconds=900.0, abandon_after_seconds=DAY, retention_days=30, batch_size=50,
                             webhook_retry_schedule=RETRY_SCHEDULE)
    sweeper = Sweeper(store=stack.store, objects=stack.objects, settings=settings, clock=stack.clock,
                      fetcher=DeferredFetcher(unbuildable, deletes_vendor_copy=False))
    report = sweeper.sweep()

    assert report.errors == ["_repair_outbox:FetcherUnavailable"]
    assert report.expired == 1 and stack.store.get(announced.merchant_biz_id) is None


def test_vendor_copy_left_behind_by_a_crash_is_deleted_after_the_grace_period(stack: Stack) -> None:
    record = stack.pending()
    stack.store.finalize(
        record.merchant_biz_id, status="PASSED", passed="Y", sub_code="200", result_key=None,
        identity_masked=None, result_version=1, now=T0,
    )  # fmt: skip
    vendor = FakeCloudAuth()
    sweeper = stack.sweeper(stack.fetcher(vendor, delete_vendor_copy=True))
    sweeper.sweep()
    assert vendor.delete_calls == []  # the fetch that finalized it may still be about to delete it
    stack.clock.advance(OUTBOX_GRACE_SECONDS + 1)
    sweeper.sweep()
    sweeper.sweep()
    assert vendor.delete_calls == [record.transaction_id]  # once: the row is flagged after the first deletion
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and row.vendor_copy_deleted


def test_vendor_copy_is_kept_when_deletion_is_off(stack: Stack) -> None:
    record = stack.pending()
    stack.store.finalize(
        record.merchant_biz_id, status="FAILED", passed="N", sub_code="201", result_key=None,
        identity_masked=None, result_version=1, now=T0,
    )  # fmt: skip
    vendor = FakeCloudAuth()
    stack.clock.advance(OUTBOX_GRACE_SECONDS + 1)
    stack.sweeper(stack.fetcher(vendor)).sweep()
    assert vendor.delete_calls == []


def test_rows_with_nothing_to_do_never_hide_a_later_row_from_the_outbox(stack: Stack) -> None:
    for _ in range(5):  # already announced: nothing to do, but they come first in key order
        done = stack.pending()
        stack.store.finalize(
            done.merchant_biz_id, status="PASSED", passed="Y", sub_code="200", result_key=None,
            identity_masked=None, result_version=1, now=T0,
        )  # fmt: skip
        stack.store.mark_notification_enqueued(done.merchant_biz_id, "PASSED")
    lost = stack.pending(merchant_biz_id="f" * 32)  # sorts last
    stack.store.finalize(
        lost.merchant_biz_id, status="PASSED", passed="Y", sub_code="200", result_key=None,
        identity_masked=None, result_version=1, now=T0,
    )  # fmt: skip
    stack.clock.advance(OUTBOX_GRACE_SECONDS + 1)
    report = stack.sweeper(stack.fetcher(FakeCloudAuth()), batch_size=2).sweep()
    assert report.renotified == 1
    assert peek(stack.notify) == [{"merchantBizId": "f" * 32, "attempt": 0}]


def test_vendor_copy_the_vendor_no_longer_has_counts_as_deleted(stack: Stack) -> None:
    from shared.cloudauth import TransactionIdInvalid

    record = stack.pending()
    stack.store.finalize(
        record.merchant_biz_id, status="PASSED", passed="Y", sub_code="200", result_key=None,
        identity_masked=None, result_version=1, now=T0,
    )  # fmt: skip
    class VendorThatForgot(FakeCloudAuth):
        def delete_verify_result(
        self, transaction_id: str, *, delete_after_query: bool | str, delete_type: str = "All"
    ) -> Any:
            self.delete_calls.append(transaction_id)
            raise TransactionIdInvalid("unknown transaction", status=400, code="TransactionIdInvalid")

    vendor = VendorThatForgot()
    stack.clock.advance(OUTBOX_GRACE_SECONDS + 1)
    sweeper = stack.sweeper(stack.fetcher(vendor, delete_vendor_copy=True))
    sweeper.sweep()
    sweeper.sweep()
    assert len(vendor.delete_calls) == 1  # flagged: not asked again on every sweep
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and row.vendor_copy_deleted


def test_rate_limit_counters_of_past_windows_are_dropped(stack: Stack) -> None:
    from shared.ratelimit import WINDOW_SECONDS, claim_slot

    user = "u" * 64
    assert claim_slot(stack.store, user, 1, T0 - 3 * WINDOW_SECONDS) is not None
    assert claim_slot(stack.store, user, 1, T0) is not None
    stack.sweeper(stack.fetcher(FakeCloudAuth())).sweep()
    assert claim_slot(stack.store, user, 1, T0 - 3 * WINDOW_SECONDS) is not None  # forgotten: counting anew
    assert claim_slot(stack.store, user, 1, T0) is None  # the current window's count is kept


def test_a_young_row_whose_quick_recheck_is_due_is_left_to_the_queue(stack: Stack) -> None:
    stack.pending(created_at=T0 - 100, next_check_at=T0 - 1)  # the recheck message is about to arrive
    client = FakeCloudAuth()
    assert stack.sweeper(stack.fetcher(client)).sweep().checked == 0
    assert client.check_calls == []


def test_a_final_row_that_owes_nothing_is_settled_once(stack: Stack) -> None:
    record = stack.pending()
    stack.store.finalize(
        record.merchant_biz_id, status="PASSED", passed="Y", sub_code="200", result_key=None,
        identity_masked=None, result_version=1, now=T0,
    )  # fmt: skip
    # Flagged by a caller that said a vendor copy might still be pending, on a deployment that keeps copies.
    stack.store.mark_notification_enqueued(record.merchant_biz_id, "PASSED", vendor_copy_pending=True)
    assert [r.merchant_biz_id for r in stack.store.due(DueKind.OUTBOX, T0 + 10**6)[0]] == [record.merchant_biz_id]
    stack.clock.advance(OUTBOX_GRACE_SECONDS + 1)
    report = stack.sweeper(stack.fetcher(FakeCloudAuth())).sweep()
    assert report.renotified == 0 and peek(stack.notify) == []
    assert stack.store.due(DueKind.OUTBOX, T0 + 10**6)[0] == []  # settled: no sweep reads it again


def test_a_refused_vendor_deletion_is_tried_again_an_hour_later_not_on_every_sweep(stack: Stack) -> None:
    from shared.cloudauth.models import DeleteVerifyResultResponse
    from shared.sweeper import VENDOR_COPY_RETRY_SECONDS

    record = stack.pending()
    stack.store.finalize(
        record.merchant_biz_id, status="PASSED", passed="Y", sub_code="200", result_key=None,
        identity_masked=None, result_version=1, now=T0,
    )  # fmt: skip
    stack.store.mark_notification_enqueued(record.merchant_biz_id, "PASSED")

    class VendorThatRefuses(FakeCloudAuth):
        def delete_verify_result(
        self, transaction_id: str, *, delete_after_query: bool | str, delete_type: str = "All"
    ) -> Any:
            self.delete_calls.append(transaction_id)
            return DeleteVerifyResultResponse(deleted=False, delete_result="N", transaction_id=transaction_id)

    vendor = VendorThatRefuses()
    sweeper = stack.sweeper(stack.fetcher(vendor, delete_vendor_copy=True))
    stack.clock.advance(OUTBOX_GRACE_SECONDS + 1)
    sweeper.sweep()
    sweeper.sweep()
    assert len(vendor.delete_calls) == 1
    stack.clock.advance(VENDOR_COPY_RETRY_SECONDS + OUTBOX_GRACE_SECONDS)  # due again, and past the grace
    sweeper.sweep()
    assert len(vendor.delete_calls) == 2


# -- settling: no verification stays PENDING for ever -------------------------------------------------------------



def _refusals() -> list[Any]:
    from shared.cloudauth import CloudAuthError, MalformedResponse, ParameterError

    return [
        pytest.param({"RequestId": "r", "Code": "Success", "Result": {}}, id="unparseable-answer"),
        pytest.param(MalformedResponse("response body is not JSON", status=200), id="malformed-answer"),
        pytest.param(ParameterError("TransactionId is invalid", parameter="TransactionId"), id="parameter-error"),
        pytest.param(CloudAuthError("refused", status=400, code="Forbidden.Transaction"), id="vendor-4xx"),
    ]


def _transient_failures() -> list[Any]:
    from shared.cloudauth import AuthError, ServerError, ThrottlingError, TransportError

    return [
        pytest.param(ServerError("boom", status=503), id="vendor-5xx"),
        pytest.param(ThrottlingError("slow down"), id="throttled"),
        pytest.param(TransportError("timed out", maybe_sent=True), id="timeout"),
        pytest.param(AuthError("bad key", status=403), id="our-credentials"),  # the operator's to fix: rows wait
    ]


@pytest.mark.parametrize("answer", _refusals())
def test_a_row_the_vendor_refuses_is_abandoned_and_announced_once_past_abandon_after(stack: Stack, answer: Any) -> None:
    record = stack.pending(created_at=T0 - 2 * DAY)
    report = stack.sweeper(stack.fetcher(FakeCloudAuth(answer))).sweep()
    assert report.abandoned == 1
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and row.status == "ABANDONED" and row.notification_enqueued
    assert peek(stack.notify) == [{"merchantBizId": record.merchant_biz_id, "attempt": 0}]


@pytest.mark.parametrize("answer", _refusals())
def test_a_row_the_vendor_refuses_is_checked_again_before_abandon_after(stack: Stack, answer: Any) -> None:
    record = stack.pending(created_at=T0 - DAY / 2)
    report = stack.sweeper(stack.fetcher(FakeCloudAuth(answer))).sweep()
    assert (report.abandoned, report.still_pending) == (0, 1)
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and row.status == "PENDING" and row.next_check_at is not None


def test_a_transaction_id_the_clients_own_check_refuses_is_settled_once_past_abandon_after(stack: Stack) -> None:
    from shared.cloudauth import CloudAuthClient, CloudAuthSettings

    # The real client: its own check refuses the id before any request (nothing listens at that address anyway).
    client = CloudAuthClient(CloudAuthSettings(
        endpoint="http://127.0.0.1:9", access_key_id="ak", access_key_secret="sk", product_code="eKYC",
        products=("eKYC",), region="cn-hongkong",
    ))  # fmt: skip
    record = stack.pending(transaction_id="T" * 129)  # stored before Initialize's answers were checked
    sweeper = stack.sweeper(stack.fetcher(client))  # type: ignore[arg-type]
    for _ in range(30):  # hourly, as the timer runs it
        stack.clock.advance(3600)
        sweeper.sweep()
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and (row.status, row.error) == ("ABANDONED", "InvalidParameter")


@pytest.mark.parametrize("failure", _transient_failures())
def test_a_row_failing_transiently_is_still_retried_past_abandon_after(stack: Stack, failure: Exception) -> None:
    record = stack.pending(created_at=T0 - 5 * DAY)
    report = stack.sweeper(stack.fetcher(FakeCloudAuth(failure))).sweep()
    assert (report.abandoned, report.still_pending) == (0, 1)
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and row.status == "PENDING"
    assert row.next_check_at is not None and row.next_check_at - T0 <= 3600.0  # checked again within the hour


@pytest.mark.parametrize("failure", _transient_failures())
def test_a_row_failing_transiently_is_abandoned_when_the_vendor_no_longer_keeps_its_result(
    stack: Stack, failure: Exception
) -> None:
    from shared.sweeper import VENDOR_RESULT_DAYS

    record = stack.pending(created_at=T0 - VENDOR_RESULT_DAYS * DAY)
    assert stack.sweeper(stack.fetcher(FakeCloudAuth(failure))).sweep().abandoned == 1
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and row.status == "ABANDONED" and row.notification_enqueued


def test_a_row_failing_transiently_is_abandoned_before_a_shorter_retention_would_delete_it(stack: Stack) -> None:
    from shared.cloudauth import ServerError

    record = stack.pending(created_at=T0 - 3 * DAY)
    sweeper = stack.sweeper(stack.fetcher(FakeCloudAuth(ServerError("boom", status=500))), retention_days=3)
    report = sweeper.sweep()
    assert (report.abandoned, report.expired) == (1, 0)  # announced first; deleted by a later sweep
    assert peek(stack.notify) == [{"merchantBizId": record.merchant_biz_id, "attempt": 0}]


def test_a_retention_shorter_than_abandon_after_abandons_an_unfinished_row_before_it_is_deleted(stack: Stack) -> None:
    record = stack.pending(created_at=T0 - 2 * DAY)
    sweeper = stack.sweeper(
        stack.fetcher(FakeCloudAuth(check_result_body("P"))), retention_days=2, abandon_after_seconds=7 * DAY
    )
    assert sweeper.sweep().abandoned == 1
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and row.status == "ABANDONED"


def test_a_row_abandoned_as_refused_is_still_finalized_by_a_late_verdict(stack: Stack) -> None:
    record = stack.pending(created_at=T0 - 2 * DAY)
    stack.sweeper(stack.fetcher(FakeCloudAuth({"RequestId": "r", "Code": "Success", "Result": {}}))).sweep()
    outcome = stack.fetcher(FakeCloudAuth(check_result_body("Y"))).fetch(record.merchant_biz_id)  # the callback
    assert outcome.kind == "finalized"
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and row.status == "PASSED"
    assert peek(stack.notify) == [{"merchantBizId": record.merchant_biz_id, "attempt": 0}] * 2  # both announced


# -- retention pages past the rows that may not go yet ------------------------------------------------------------


def _announced(stack: Stack, created_at: float) -> str:
    record = stack.pending(created_at=created_at, updated_at=created_at)
    stack.store.finalize(
        record.merchant_biz_id, status="PASSED", passed="Y", sub_code="200", result_key=None,
        identity_masked=None, result_version=1, now=created_at + 60,
    )  # fmt: skip
    stack.store.mark_notification_enqueued(record.merchant_biz_id, "PASSED", vendor_copy_pending=False)
    return record.merchant_biz_id


def test_retention_reads_on_past_pending_rows_at_the_front_in_the_same_pass(stack: Stack) -> None:
    # The oldest rows are PENDING, their next check an hour away (the sweep does not fetch them this pass).
    for i in range(2):
        stack.pending(created_at=T0 - 10 * DAY + i, next_check_at=T0 + 3600)
    later = [_announced(stack, T0 - 9 * DAY + i) for i in range(3)]
    report = stack.sweeper(stack.fetcher(FakeCloudAuth()), retention_days=5, batch_size=2).sweep()
    assert report.expired == 2  # a batch of them, read past the two it stepped over
    assert [stack.store.get(mbid) is None for mbid in later] == [True, True, False]


def test_pending_rows_the_vendor_keeps_failing_on_do_not_stall_retention_of_every_later_row(stack: Stack) -> None:
    stuck = [stack.pending(created_at=T0 + i, updated_at=T0 + i).merchant_biz_id for i in range(2)]
    done = [_announced(stack, T0 + 10 + i) for i in range(3)]
    unparseable = FakeCloudAuth({"RequestId": "r", "Code": "Success", "Result": {}})
    sweeper = stack.sweeper(stack.fetcher(unparseable), retention_days=1, batch_size=2)
    for _ in range(5):
        stack.clock.advance(3 * DAY)
        sweeper.sweep()
    assert [stack.store.get(mbid) for mbid in [*stuck, *done]] == [None] * 5  # announced first, then deleted


def test_a_row_settled_at_its_retention_age_is_kept_until_its_announcement_has_been_read(stack: Stack) -> None:
    record = stack.pending(created_at=T0 - 3 * DAY)
    sweeper = stack.sweeper(stack.fetcher(FakeCloudAuth(check_result_body("Y"))), retention_days=1)
    assert (sweeper.sweep().finalized, stack.store.get(record.merchant_biz_id) is not None) == (1, True)
    stack.clock.advance(SETTLED_KEEP_SECONDS)  # its first delivery is over; a failing subscriber's follow-ups not
    assert sweeper.sweep().expired == 0
    stack.clock.advance(sweeper.settings.settled_hold_seconds - SETTLED_KEEP_SECONDS)
    assert sweeper.sweep().expired == 1


def test_retention_keeps_a_row_that_still_owes_its_announcement(stack: Stack) -> None:
    record = stack.pending(created_at=T0 - 3 * DAY)
    stack.store.finalize(
        record.merchant_biz_id, status="FAILED", passed="N", sub_code="205", result_key=None,
        identity_masked=None, result_version=1, now=T0 - 2 * DAY,
    )  # fmt: skip
    # Its notification was never confirmed (a crash), and the queue is down again: the outbox still owes it.
    sweeper = stack.sweeper(stack.fetcher(FakeCloudAuth(), notify=_BrokenNotifyQueue()), retention_days=1)
    assert sweeper.sweep().expired == 0
    assert stack.store.get(record.merchant_biz_id) is not None


def test_retention_keeps_a_row_whose_notification_the_outbox_sent_late_for_as_long_as_its_deliveries_read_it(
    stack: Stack,
) -> None:
    """Found by review: the hold counted from the verdict, so after a notify queue's outage longer than the hold the
    pass that sent the notification deleted the row, and the notifier found nothing to deliver (no dead letter)."""
    record = stack.pending(created_at=T0)
    stack.fetcher(FakeCloudAuth(check_result_body("Y")), notify=_BrokenNotifyQueue()).fetch(record.merchant_biz_id)
    sweeper = stack.sweeper(stack.fetcher(FakeCloudAuth()), retention_days=1)
    stack.clock.advance(max(DAY, HOLD) + 60)  # the queue was down for longer than the hold and the retention age
    report = sweeper.sweep()
    assert (report.renotified, report.expired) == (1, 0)
    sender = RecordingSender()
    notifier = stack.notifier(sender)
    for body in peek(stack.notify):
        notifier.handle_body(body)
    assert sender.deliveries, "the notification sent late was delivered"
    stack.clock.advance(HOLD - 1)
    assert sweeper.sweep().expired == 0, "its follow-ups may still read it"
    stack.clock.advance(2)
    assert sweeper.sweep().expired == 1


# -- retention racing a late verdict ------------------------------------------------------------------------------


class _Wrapping:
    """A store or object store passed through, but for the call a test intercepts."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._inner, attr)


def _abandoned_and_announced_long_ago(stack: Stack) -> str:
    """A row past a one-day retention, abandoned (and announced) longer ago than retention holds a settled row."""
    stack.clock.advance(2 * DAY + HOLD)
    mbid = stack.pending(created_at=T0, updated_at=T0).merchant_biz_id
    assert stack.store.mark_abandoned(mbid, now=stack.clock() - HOLD - 7200)
    stack.store.mark_notification_enqueued(mbid, "ABANDONED")
    return mbid


def test_retention_keeps_a_row_a_late_verdict_settled_after_retention_read_it(stack: Stack) -> None:
    mbid = _abandoned_and_announced_long_ago(stack)
    late = stack.fetcher(FakeCloudAuth(check_result_body("Y")))

    class VerdictAfterThePageIsRead(_Wrapping):
        def list_created(self, **kwargs: Any) -> Any:
            page = self._inner.list_created(**kwargs)
            late.fetch(mbid)  # the vendor's verdict arrives while retention works through the page
            return page

    store = VerdictAfterThePageIsRead(stack.store)
    report = stack.sweeper(stack.fetcher(FakeCloudAuth(), store=store), retention_days=1).sweep()

    row = stack.store.get(mbid)
    assert report.expired == 0
    assert row is not None and row.status == "PASSED"  # kept for its own announcement, which is queued
    assert stack.objects.exists(stack.kept_result_key(mbid))
    assert peek(stack.notify) == [{"merchantBizId": mbid, "attempt": 0}]


def test_retention_never_leaves_a_late_verdict_settled_during_its_deletions_without_the_result(stack: Stack) -> None:
    mbid = _abandoned_and_announced_long_ago(stack)
    verdict: dict[str, Any] = {}
    won: list[bool] = []

    def settle() -> None:
        if not won:
            won.append(stack.store.finalize(mbid, **verdict))

    class SettlingAfterTheFirstObjectDeletion(_Wrapping):
        def delete_prefix(self, prefix: str) -> int:
            deleted = int(self._inner.delete_prefix(prefix))
            settle()  # the late verdict's finalize lands right after retention's first object deletion
            return deleted

    class RetentionWhileSettling(_Wrapping):
        def finalize(self, merchant_biz_id: str, **kwargs: Any) -> bool:
            verdict.update(kwargs)  # the verdict's objects are written; retention runs as the row is settled
            retention = stack.fetcher(FakeCloudAuth(), objects=SettlingAfterTheFirstObjectDeletion(stack.objects))
            stack.sweeper(retention, retention_days=1).sweep()
            settle()
            return won[0]

    late = stack.fetcher(FakeCloudAuth(check_result_body("Y")), store=RetentionWhileSettling(stack.store))
    outcome = late.fetch(mbid)

    # The abandoned row went first, so the verdict could not settle it and its fetch removed what it wrote:
    # neither a verdict whose result retention deleted, nor objects without a row.
    row = stack.store.get(mbid)
    assert (outcome.kind, row) == ("unknown", None), row
    assert stack.objects.list(f"results/{mbid}/") == []


class _BrokenNotifyQueue:
    def send(self, body: bytes, *, delay_seconds: int = 0) -> str:
        raise StorageError("queue down", transient=True, code="QueueDown")


@pytest.mark.parametrize("background", [200, 2000])
def test_a_retention_pass_reads_rows_in_proportion_to_its_batch_not_the_table(tmp_path: Path, background: int) -> None:
    """Counted by the Tablestore double (every index and data row a call reads); the same at ten times the rows."""
    from shared.storage.tablestore_store import table_row
    from tests.fakes import make_record
    from tests.storage.conftest import TABLE, tablestore_double, wire_store

    batch = 20
    young = [make_record(created_at=T0 - DAY + i, status="PASSED", finalized_at=T0 - DAY + i,
                         notification_enqueued=True, vendor_copy_deleted=True) for i in range(background)]  # fmt: skip
    # Older than the retention and PENDING, their next check an hour away: stepped over, never fetched this pass.
    waiting = [make_record(created_at=T0 - 10 * DAY + i, next_check_at=T0 + 3600) for i in range(3 * batch)]
    with tablestore_double(range_row_cap=5000) as double:
        double.load_rows(TABLE, [table_row(r) for r in [*young, *waiting]])
        stack = Stack(tmp_path, store=wire_store(double))
        sweeper = stack.sweeper(stack.fetcher(FakeCloudAuth()), retention_days=5, batch_size=batch)
        double.reset_stats()
        report = sweeper.sweep()
        rows_read = int(double.rows()["rowsScanned"])
        stack.close()
    assert (report.checked, report.expired) == (0, 0)
    # The rows it stepped over (a batch, plus the one that stopped it), each read twice (index row, data row),
    # and at most one page it did not finish.
    assert rows_read <= 2 * (batch + 1) + 2 * batch, rows_read


# -- the pass's time budget ---------------------------------------------------------------------------------------


def _outage(stack: Stack, budget_clock: Any, rows: int) -> tuple[FakeCloudAuth, str, str]:
    """``rows`` silent PENDING rows whose every CheckResult takes the vendor's whole deadline and fails; a final row
    whose announcement was never enqueued (the outbox's); a settled row past a 30-day retention."""
    from shared.cloudauth import ServerError

    for _ in range(rows):
        stack.pending(created_at=T0 - 1000)
    client = FakeCloudAuth(ServerError("down"))
    client.before_check = lambda: budget_clock.advance(client.settings.call_deadline)
    unannounced = stack.pending(created_at=T0 - 2000)
    stack.store.finalize(unannounced.merchant_biz_id, status="PASSED", passed="Y", sub_code="200", result_key=None,
                         identity_masked=None, result_version=1, now=T0 - 1000)  # fmt: skip
    old = stack.pending(created_at=T0 - 40 * 86400)
    stack.store.finalize(old.merchant_biz_id, status="PASSED", passed="Y", sub_code="200", result_key=None,
                         identity_masked=None, result_version=1, now=T0 - 39 * 86400)  # fmt: skip
    stack.store.mark_notification_enqueued(old.merchant_biz_id, "PASSED")
    return client, unannounced.merchant_biz_id, old.merchant_biz_id


def test_an_outage_where_every_check_takes_its_deadline_leaves_time_for_the_outbox_and_retention(
    stack: Stack,
) -> None:
    from shared.sweeper import RECHECK_RESERVE_SHARE

    budget_clock = FakeClock(0.0)
    client, unannounced, old = _outage(stack, budget_clock, rows=30)
    budget = InvocationBudget(240.0, clock=budget_clock)
    report = stack.sweeper(stack.fetcher(client), retention_days=30).sweep(budget)
    deadline = client.settings.call_deadline
    # rows are started while more than the reserve is left: at 0, 25, ... s until less than half is left
    assert report.checked == int(240.0 * (1 - RECHECK_RESERVE_SHARE) // deadline) + 1 == 5
    assert report.stopped_early == ["recheck"]
    assert report.renotified == 1 and report.expired == 1
    assert peek(stack.notify) == [{"merchantBizId": unannounced, "attempt": 0}]
    assert stack.store.get(old) is None


def test_an_outage_of_the_vendor_s_deletions_leaves_time_for_retention(stack: Stack) -> None:
    """Verdicts whose vendor copy is still owed (KYC_DELETE_VENDOR_COPY=Y) in a vendor outage where every
    DeleteVerifyResult takes its deadline: step 2 starts no deletion once less than RETENTION_RESERVE_SHARE of the
    pass is left (found by review am, for the erasures that share the step)."""
    from shared.cloudauth import DeleteVerifyResultResponse, ServerError
    from shared.sweeper import RETENTION_RESERVE_SHARE

    budget_clock = FakeClock(0.0)

    class DeletionsTimeOut(FakeCloudAuth):
        def delete_verify_result(
            self, transaction_id: str, *, delete_after_query: bool | str, delete_type: str = "All"
        ) -> DeleteVerifyResultResponse:
            self.delete_calls.append(transaction_id)
            budget_clock.advance(self.settings.call_deadline)
            raise ServerError("down", status=503, code="ServiceUnavailable")

    for _ in range(20):
        row = stack.pending(created_at=T0 - 2 * 86400)
        stack.store.finalize(row.merchant_biz_id, status="PASSED", passed="Y", sub_code="200", result_key=None,
                             identity_masked=None, result_version=1, now=T0 - 86400)  # fmt: skip
        stack.store.mark_notification_enqueued(row.merchant_biz_id, "PASSED")  # the copy's deletion still owed
    old = stack.pending(created_at=T0 - 40 * 86400)
    stack.store.finalize(old.merchant_biz_id, status="PASSED", passed="Y", sub_code="200", result_key=None,
                         identity_masked=None, result_version=1, now=T0 - 39 * 86400)  # fmt: skip
    stack.store.mark_notification_enqueued(old.merchant_biz_id, "PASSED", vendor_copy_pending=False)
    client = DeletionsTimeOut()
    report = stack.sweeper(stack.fetcher(client, delete_vendor_copy=True), retention_days=30).sweep(
        InvocationBudget(240.0, clock=budget_clock)
    )
    deadline = client.settings.call_deadline
    assert len(client.delete_calls) == int(240.0 * (1 - RETENTION_RESERVE_SHARE) // deadline) + 1 == 8
    assert report.stopped_early == ["outbox"] and report.expired == 1 and budget_clock() <= 240.0
    assert stack.store.get(old.merchant_biz_id) is None


def test_without_a_budget_the_sweep_checks_its_whole_batch(stack: Stack) -> None:
    client, _, _ = _outage(stack, FakeClock(0.0), rows=30)
    report = stack.sweeper(stack.fetcher(client), retention_days=30).sweep()
    assert report.checked == 30 and report.stopped_early == [] and report.as_dict()["stoppedEarly"] == []


def test_a_spent_budget_starts_no_step_s_work_and_leaves_it_for_the_next_pass(stack: Stack) -> None:
    budget_clock = FakeClock(0.0)
    client, _, old = _outage(stack, budget_clock, rows=3)
    sweeper = stack.sweeper(stack.fetcher(client), retention_days=30)
    report = sweeper.sweep(InvocationBudget(0.0, clock=budget_clock))
    assert report.stopped_early == ["recheck", "outbox", "retention", "rateCounters"]
    assert (report.checked, report.renotified, report.expired) == (0, 0, 0) and client.check_calls == []
    assert sweeper.sweep().renotified == 1 and stack.store.get(old) is None  # the next pass does it


def _hours_of_sweeps_and_deliveries(stack: Stack, sweeper: Sweeper, notifier: Notifier, hours: int) -> None:
    """The sweeper's passes and the notify queue's deliveries as time goes by, an hour at a time."""
    for _hour in range(hours):
        sweeper.sweep()
        for message in stack.notify.receive(max_messages=10, visibility_timeout=30):
            notifier.handle_body(jsonutil.loads(message.body))
            stack.notify.delete(message.receipt)
        stack.clock.advance(3600)


def test_a_failing_subscriber_still_gets_the_event_of_a_row_settled_at_its_retention_age(stack: Stack) -> None:
    record = stack.pending(created_at=T0 - 3 * DAY)
    schedule = (7200.0,)  # its one follow-up comes two hours later: past the first delivery's hour
    sweeper = stack.sweeper(
        stack.fetcher(FakeCloudAuth(check_result_body("Y"))), retention_days=1, webhook_retry_schedule=schedule
    )
    subscriber = SUBSCRIBERS[0]
    sender = RecordingSender(answers={subscriber.url: [UNAVAILABLE, DeliveryResult(ok=True, status=204)]})
    notifier = stack.notifier(sender, subscribers=(subscriber,), schedule=schedule)

    _hours_of_sweeps_and_deliveries(stack, sweeper, notifier, 10)

    assert len(sender.delivered_to(subscriber.url)) == 1  # the follow-up, from the row retention kept for it
    assert stack.store.get(record.merchant_biz_id) is None  # and deleted once no follow-up can come


def test_a_follow_up_a_subscriber_paused_past_retention_s_hold_is_dead_lettered_not_dropped(stack: Stack) -> None:
    record = stack.pending(created_at=T0 - 3 * DAY)
    sweeper = stack.sweeper(stack.fetcher(FakeCloudAuth(check_result_body("Y"))), retention_days=1)
    subscriber = SUBSCRIBERS[0]
    tomorrow = DeliveryResult(ok=False, status=429, error="http_429", retry_after=DAY)
    notifier = stack.notifier(RecordingSender(answers={subscriber.url: [tomorrow]}), subscribers=(subscriber,))

    _hours_of_sweeps_and_deliveries(stack, sweeper, notifier, 30)

    assert stack.store.get(record.merchant_biz_id) is None
    (letter,) = peek(stack.deadletter)
    assert letter["reason"] == "transaction_gone" and letter["merchantBizId"] == record.merchant_biz_id
    assert letter["subscribers"] == ["https://a.example"] and letter["attempts"] == 1


def test_a_one_day_retention_with_the_default_webhook_schedule_deletes_a_row_settled_at_creation_within_two_days(
    stack: Stack,
) -> None:
    # Review finding: the hold assumed a day-long Retry-After on every step (7 steps: 7 days + 1 h), so every row
    # under a retention shorter than a week outlived it, whether or not any delivery failed. The schedule's own
    # longest follow-ups (+20 %) end about 33 h after the first delivery.
    from shared.webhook_retries import DEFAULT_WEBHOOK_RETRY_SCHEDULE

    mbid = _announced(stack, T0 - 2 * DAY)
    sweeper = stack.sweeper(
        stack.fetcher(FakeCloudAuth()), retention_days=1, webhook_retry_schedule=DEFAULT_WEBHOOK_RETRY_SCHEDULE
    )
    sweeper.sweep()
    assert stack.store.get(mbid) is None


def test_a_pass_with_sweep_after_zero_checks_each_pending_row_once(stack: Stack) -> None:
    """``KYC_SWEEP_AFTER=0 ./scripts/kyc sweep`` (docs/operations.md): a row rescheduled by the pass is due again at
    once, and the CHECK walk meets it after the NEW walk; it is asked about once."""
    record = stack.pending(created_at=T0 - 100)
    client = FakeCloudAuth(check_result_body("P"))
    report = stack.sweeper(stack.fetcher(client), sweep_after_seconds=0.0).sweep()
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None
    assert (len(client.check_calls), report.checked, row.check_count) == (1, 1, 1)


class _CountingOutbox:
    """The real store; counts the rows ``due`` hands out and the ``set_outbox_due`` writes."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.rows_read = 0
        self.settled = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def due(self, *args: Any, **kwargs: Any) -> Any:
        rows, cursor = self._inner.due(*args, **kwargs)
        self.rows_read += len(rows)
        return rows, cursor

    def set_outbox_due(self, *args: Any, **kwargs: Any) -> Any:
        self.settled += 1
        return self._inner.set_outbox_due(*args, **kwargs)


def _verdicts_that_owe_nothing_but_are_due(stack: Stack, count: int) -> None:
    """Verdicts announced long ago, still listed as OUTBOX due on a deployment that keeps the vendor's copies: what
    a backfill of the due index (``setup-tables --backfill``, the SQLite migration) gives every older verdict."""
    for i in range(count):
        record = stack.pending(created_at=T0 - 10 * DAY + i)
        stack.store.finalize(record.merchant_biz_id, status="PASSED", passed="Y", sub_code="200", result_key=None,
                             identity_masked=None, result_version=1, now=T0 - 9 * DAY + i)  # fmt: skip
        stack.store.mark_notification_enqueued(record.merchant_biz_id, "PASSED", vendor_copy_pending=True)


def test_a_backlog_of_rows_that_owe_nothing_is_settled_a_batch_a_pass(stack: Stack) -> None:
    _verdicts_that_owe_nothing_but_are_due(stack, 300)
    counting = _CountingOutbox(stack.store)
    stack.sweeper(stack.fetcher(FakeCloudAuth(), store=counting), batch_size=10).sweep()
    assert counting.settled == 10 and counting.rows_read <= 3 * 10


def test_rows_that_owe_nothing_are_not_settled_once_the_pass_s_time_is_spent(stack: Stack) -> None:
    _verdicts_that_owe_nothing_but_are_due(stack, 50)
    counting = _CountingOutbox(stack.store)
    report = stack.sweeper(stack.fetcher(FakeCloudAuth(), store=counting)).sweep(
        InvocationBudget(0.0, clock=FakeClock(0.0))
    )
    assert counting.settled == 0 and "outbox" in report.stopped_early


# -- each step's batch, and the walks over the due index (review bi) -------------------------------------------------


def test_a_pass_checks_at_most_a_batch_of_the_due_rows_and_the_next_pass_the_rest(stack: Stack) -> None:
    """review bi: ``KYC_SWEEP_BATCH`` bounds the CheckResult calls of a pass (the vendor's QPS is shared with live
    traffic); one more row a pass is one call more than the operator allowed."""
    for i in range(5):
        stack.pending(created_at=T0 - 1000 - i)
    client = FakeCloudAuth(check_result_body("P"))
    sweeper = stack.sweeper(stack.fetcher(client), batch_size=3)
    assert sweeper.sweep().checked == 3 and len(client.check_calls) == 3
    assert sweeper.sweep().checked == 2 and len(set(client.check_calls)) == 5


def test_a_pass_reads_the_due_index_past_its_first_page(stack: Stack) -> None:
    """review bi: the due rows are read a page of at most 100 at a time; a batch larger than a page is worked
    through page after page in the same pass, not one page a pass."""
    for i in range(101):
        stack.pending(created_at=T0 - 1000 - i)
    client = FakeCloudAuth(check_result_body("P"))
    report = stack.sweeper(stack.fetcher(client), batch_size=150).sweep()
    assert report.checked == 101 and len(set(client.check_calls)) == 101


def test_young_rows_never_keep_a_row_whose_next_check_has_come_from_its_check(stack: Stack) -> None:
    """review bi: the NEW walk reads only rows older than ``KYC_SWEEP_AFTER`` (``due(NEW, now - sweep_after)``).
    Reading the young ones too, a burst of new verifications would be stepped over, a batch of them, until the
    pass ends before the CHECK walk: the rows whose next check has come would wait for the burst to age."""
    for _ in range(3):
        stack.pending(created_at=T0 - 100)  # young: the callback and the queue's quick re-checks own them
    old = stack.pending(created_at=T0 - 5000, next_check_at=T0 - 1)
    client = FakeCloudAuth(check_result_body("P"))
    report = stack.sweeper(stack.fetcher(client), batch_size=2).sweep()
    assert report.checked == 1 and client.check_calls == [(old.merchant_biz_id, old.transaction_id)]


def test_the_outbox_repairs_at_most_a_batch_of_rows_a_pass(stack: Stack) -> None:
    """review bi: the outbox's work (an enqueue, a vendor deletion per row) is a batch a pass, like step 1's."""
    for _ in range(3):
        record = stack.pending()
        stack.store.finalize(record.merchant_biz_id, status="PASSED", passed="Y", sub_code="200", result_key=None,
                             identity_masked=None, result_version=1, now=T0)  # fmt: skip
    stack.clock.advance(OUTBOX_GRACE_SECONDS + 1)
    sweeper = stack.sweeper(stack.fetcher(FakeCloudAuth()), batch_size=2)
    assert sweeper.sweep().renotified == 2 and len(peek(stack.notify)) == 2
    assert sweeper.sweep().renotified == 1 and len(peek(stack.notify)) == 3


# -- found by mutating shared.sweeper (review bp) ------------------------------------------------------------------


class _StaleIndex:
    """The real store, whose ``kind`` index still lists ``stale`` (a row that moved on: the index lags its row)."""

    def __init__(self, inner: Any, stale: Any, kind: DueKind = DueKind.NEW) -> None:
        self._inner, self._stale, self._kind = inner, stale, kind

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def due(self, kind: DueKind, before: float, **kwargs: Any) -> Any:
        rows, cursor = self._inner.due(kind, before, **kwargs)
        if kind is self._kind and kwargs.get("cursor") is None:
            current = self._inner.get(self._stale)
            rows = [current, *rows] if current is not None else rows
        return rows, cursor


def test_a_row_the_due_index_still_lists_after_it_moved_on_is_not_checked(stack: Stack) -> None:
    record = stack.pending(created_at=T0 - 1000)
    stack.store.finalize(
        record.merchant_biz_id, status="PASSED", passed="Y", sub_code="200", result_key=None,
        identity_masked=None, result_version=1, now=T0,
    )  # fmt: skip
    client = FakeCloudAuth()
    fetcher = stack.fetcher(client, store=_StaleIndex(stack.store, record.merchant_biz_id))
    report = stack.sweeper(fetcher).sweep()
    assert report.checked == 0 and client.check_calls == []


def test_a_pass_steps_over_at_most_a_batch_of_rows_the_queue_still_owns(stack: Stack) -> None:
    """Young rows whose quick re-check is due fill the head of the index while the queue lags: a pass reads a batch
    of them, not all, and leaves the rest of step 1 to the next pass."""
    for i in range(3):
        stack.pending(created_at=T0 - 100, next_check_at=T0 - 3 + i)
    stack.pending(created_at=T0 - 1000, next_check_at=T0 - 0.5)  # silent, behind them in the index
    client = FakeCloudAuth(check_result_body("P"))
    assert stack.sweeper(stack.fetcher(client), batch_size=2).sweep().checked == 0
    assert client.check_calls == []


class _RowGoesAfterTheIndexRead:
    """The real store; each row the NEW index lists is erased (``erased``) or deleted right after the read."""

    def __init__(self, inner: Any, *, erased: bool) -> None:
        self._inner, self._erased = inner, erased

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def due(self, kind: DueKind, before: float, **kwargs: Any) -> Any:
        rows, cursor = self._inner.due(kind, before, **kwargs)
        for row in rows if kind is DueKind.NEW else ():
            if self._erased:
                self._inner.mark_erased(row.merchant_biz_id, T0)
            else:
                self._inner.delete(row.merchant_biz_id)
        return rows, cursor


@pytest.mark.parametrize("erased", [False, True], ids=["deleted", "erased"])
def test_a_row_erased_between_the_index_read_and_its_fetch_is_not_counted_or_rescheduled(
    stack: Stack, erased: bool
) -> None:
    record = stack.pending(created_at=T0 - 1000)
    vendor = _KeepsUnfinishedFlows()
    fetcher = stack.fetcher(vendor, store=_RowGoesAfterTheIndexRead(stack.store, erased=erased))
    report = stack.sweeper(fetcher).sweep()
    assert (report.checked, report.still_pending, report.abandoned) == (1, 0, 0)
    row = stack.store.get(record.merchant_biz_id)
    assert row is None or (row.status == "ERASED" and row.check_count == 0)


class _KeepsUnfinishedFlows(FakeCloudAuth):
    """DeleteResult N to every deletion (the flow is unfinished at the vendor)."""

    def delete_verify_result(self, transaction_id: str, **kwargs: Any) -> Any:
        from shared.cloudauth import DeleteVerifyResultResponse

        return DeleteVerifyResultResponse(deleted=False, delete_result="N", transaction_id=transaction_id)


def test_a_row_a_callback_finalized_during_the_sweeper_s_check_is_not_counted_as_abandoned(stack: Stack) -> None:
    record = stack.pending(created_at=T0 - 90000)
    vendor = FakeCloudAuth(check_result_body("P"))
    vendor.before_check = lambda: stack.fetcher(FakeCloudAuth()).fetch(record.merchant_biz_id)  # the callback
    report = stack.sweeper(stack.fetcher(vendor)).sweep()
    assert report.abandoned == 0
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and row.status == "PASSED"
    assert peek(stack.notify) == [{"merchantBizId": record.merchant_biz_id, "attempt": 0}]  # the verdict's only


def test_an_unfinished_row_exactly_abandon_after_old_is_abandoned(stack: Stack) -> None:
    record = stack.pending(created_at=T0 - DAY)
    assert stack.sweeper(stack.fetcher(FakeCloudAuth(check_result_body("P")))).sweep().abandoned == 1
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and row.status == "ABANDONED"


def test_a_pending_row_the_outbox_index_still_lists_is_not_announced(stack: Stack) -> None:
    record = stack.pending()
    fetcher = stack.fetcher(FakeCloudAuth(), store=_StaleIndex(stack.store, record.merchant_biz_id, DueKind.OUTBOX))
    stack.clock.advance(OUTBOX_GRACE_SECONDS + 1)
    assert stack.sweeper(fetcher).sweep().renotified == 0
    assert peek(stack.notify) == []


def test_a_repaired_announcement_of_a_verdict_whose_vendor_copy_is_gone_leaves_no_outbox_work(stack: Stack) -> None:
    """On a deployment that deletes vendor copies, a verdict whose copy is deleted already owes only its
    announcement: the outbox's repair of it ends its outbox in the same write."""
    record = stack.pending()
    stack.store.finalize(
        record.merchant_biz_id, status="PASSED", passed="Y", sub_code="200", result_key=None,
        identity_masked=None, result_version=1, now=T0,
    )  # fmt: skip
    stack.store.mark_vendor_copy_deleted(record.merchant_biz_id)
    stack.clock.advance(OUTBOX_GRACE_SECONDS + 1)
    vendor = FakeCloudAuth()
    assert stack.sweeper(stack.fetcher(vendor, delete_vendor_copy=True)).sweep().renotified == 1
    assert stack.store.due(DueKind.OUTBOX, T0 + 10**6)[0] == [] and vendor.delete_calls == []


def test_a_verdict_the_erasure_index_still_lists_is_neither_erased_nor_deleted_at_the_vendor(stack: Stack) -> None:
    record = stack.pending()
    stack.fetcher(FakeCloudAuth()).fetch(record.merchant_biz_id)
    vendor = FakeCloudAuth()
    fetcher = stack.fetcher(vendor, store=_StaleIndex(stack.store, record.merchant_biz_id, DueKind.ERASURE))
    stack.clock.advance(OUTBOX_GRACE_SECONDS + 1)
    assert stack.sweeper(fetcher).sweep().erased == 0
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and row.status == "PASSED" and vendor.delete_calls == []


def test_a_refused_vendor_deletion_of_a_verdict_within_retention_keeps_our_copy(stack: Stack) -> None:
    """Our objects go at the outbox's retry only once the row is past retention (nothing but the vendor's copy then
    keeps it); a younger verdict whose vendor copy the vendor would not delete yet keeps its result."""
    record = stack.pending(created_at=T0 - 10 * DAY)
    fetcher = stack.fetcher(_KeepsUnfinishedFlows(), delete_vendor_copy=True)
    assert fetcher.fetch(record.merchant_biz_id).kind == "finalized"
    stack.clock.advance(HOLD + 3601)
    stack.sweeper(fetcher, retention_days=30).sweep()
    assert stack.objects.list(f"results/{record.merchant_biz_id}/") != []


def test_the_outbox_never_asks_the_vendor_to_delete_an_abandoned_flow(stack: Stack) -> None:
    """Only a verdict's copy is deleted (after its CheckResult answer is kept); an abandoned flow has none of ours."""
    record = stack.pending()
    assert stack.store.mark_abandoned(record.merchant_biz_id, now=T0)
    vendor = FakeCloudAuth()
    stack.clock.advance(OUTBOX_GRACE_SECONDS + 1)
    assert stack.sweeper(stack.fetcher(vendor, delete_vendor_copy=True)).sweep().renotified == 1
    assert vendor.delete_calls == []


def test_the_outbox_asks_no_deletion_of_a_vendor_copy_past_the_vendor_s_30_days(stack: Stack) -> None:
    """The vendor has deleted it itself by then: the row settles without a call."""
    record = stack.pending(created_at=T0 - 40 * DAY)
    stack.store.finalize(
        record.merchant_biz_id, status="PASSED", passed="Y", sub_code="200", result_key=None,
        identity_masked=None, result_version=1, now=T0 - 32 * DAY,
    )  # fmt: skip
    stack.store.mark_notification_enqueued(record.merchant_biz_id, "PASSED", vendor_copy_pending=True)
    vendor = FakeCloudAuth()
    stack.sweeper(stack.fetcher(vendor, delete_vendor_copy=True)).sweep()
    assert vendor.delete_calls == [] and stack.store.due(DueKind.OUTBOX, T0 + 10**6)[0] == []


class _ReadsFail:
    """The real store, whose row reads fail (the due index still answers)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def get(self, merchant_biz_id: str) -> Any:
        raise StorageError("GetRow failed", transient=True, code="Boom")


def test_a_store_failing_under_a_fetch_ends_step_1_rather_than_failing_each_row(stack: Stack) -> None:
    """The store failing is not the row's failure: the step ends at once (the next pass retries), and no row is
    rescheduled as if it had failed."""
    for i in range(3):
        stack.pending(created_at=T0 - 1000 - i)
    client = FakeCloudAuth()
    report = stack.sweeper(stack.fetcher(client, store=_ReadsFail(stack.store))).sweep()
    assert report.checked == 1 and report.errors == ["_recheck_pending:Boom"] and client.check_calls == []
