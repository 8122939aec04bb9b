"""Behaviour every TransactionStore keeps; runs against SQLite and against the Tablestore adapter over the SDK and
the Tablestore double (with the deployment's tables and indexes)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from shared.storage import DueKind, RecordExists, TransactionRecord, TransactionStore

from .conftest import make_record

FINAL: dict[str, Any] = {
    "status": "PASSED",
    "passed": "Y",
    "sub_code": "200",
    "result_key": "results/x/result.json",
    "identity_masked": {"name": "J***"},
    "result_version": 5000,
    "now": 2000.0,
}


def test_store_satisfies_protocol(store: TransactionStore) -> None:
    assert isinstance(store, TransactionStore)


def test_create_then_get_round_trips_every_field(store: TransactionStore) -> None:
    record = make_record(identity_masked={"a": 1}, next_check_at=1234.5, check_count=2, error="E1")
    store.create(record)
    assert store.get(record.merchant_biz_id) == record


def test_a_keyed_start_s_row_round_trips_its_url_and_request_fingerprint(store: TransactionStore) -> None:
    record = make_record(transaction_url="https://vendor.example/verify/1?t=abc", request_fingerprint="f" * 64)
    store.create(record)
    assert store.get(record.merchant_biz_id) == record


def test_a_face_only_row_round_trips_its_product_and_its_empty_doc_type(store: TransactionStore) -> None:
    record = make_record(doc_type="", product_code="FACE_LIVENESS_PRO")
    store.create(record)
    assert store.get(record.merchant_biz_id) == record


def test_finalize_stores_the_face_section_with_the_verdict(store: TransactionStore) -> None:
    record = make_record(product_code="eKYC_PRO")
    store.create(record)
    face = {"facePassed": True, "faceAttack": False, "faceComparisonScore": 92.1, "faceAttackScore": None}
    assert store.finalize(record.merchant_biz_id, **FINAL, face=face) is True
    got = store.get(record.merchant_biz_id)
    assert got is not None and (got.face, got.product_code, got.status) == (face, "eKYC_PRO", "PASSED")


def test_get_missing_returns_none(store: TransactionStore) -> None:
    assert store.get("missing00000000000000000000000000"[:32]) is None


def test_create_twice_raises_record_exists_and_keeps_first(store: TransactionStore) -> None:
    record = make_record()
    store.create(record)
    duplicate = make_record(merchant_biz_id=record.merchant_biz_id, transaction_id="other")
    with pytest.raises(RecordExists):
        store.create(duplicate)
    got = store.get(record.merchant_biz_id)
    assert got is not None and got.transaction_id == record.transaction_id


def test_finalize_pending_returns_true_and_writes_result(store: TransactionStore) -> None:
    record = make_record()
    store.create(record)
    assert store.finalize(record.merchant_biz_id, **FINAL) is True
    got = store.get(record.merchant_biz_id)
    assert got is not None
    assert (got.status, got.passed, got.sub_code, got.result_key) == ("PASSED", "Y", "200", "results/x/result.json")
    assert (got.identity_masked, got.result_version, got.finalized_at) == ({"name": "J***"}, 5000, 2000.0)


def test_a_verdict_clears_the_scheduled_check_and_the_last_check_s_error(store: TransactionStore) -> None:
    record = make_record()
    store.create(record)
    store.record_check(record.merchant_biz_id, now=1100.0, next_check_at=1400.0, error="ProcessNotCompleted")
    store.finalize(record.merchant_biz_id, **FINAL)
    got = store.get(record.merchant_biz_id)
    assert got is not None and (got.next_check_at, got.error) == (None, None)


def test_finalize_twice_returns_false_and_keeps_first_result(store: TransactionStore) -> None:
    record = make_record()
    store.create(record)
    store.finalize(record.merchant_biz_id, **FINAL)
    later = {**FINAL, "status": "FAILED", "passed": "N", "sub_code": "205", "result_version": 9999, "now": 3000.0}
    assert store.finalize(record.merchant_biz_id, **later) is False
    got = store.get(record.merchant_biz_id)
    assert got is not None and (got.status, got.sub_code, got.result_version) == ("PASSED", "200", 5000)


def test_finalize_missing_row_returns_false_and_creates_nothing(store: TransactionStore) -> None:
    assert store.finalize("nosuchrow", **FINAL) is False
    assert store.get("nosuchrow") is None


def test_finalize_rejects_non_result_status(store: TransactionStore) -> None:
    record = make_record()
    store.create(record)
    with pytest.raises(ValueError):
        store.finalize(record.merchant_biz_id, **{**FINAL, "status": "PENDING"})


def test_late_result_wins_over_abandoned(store: TransactionStore) -> None:
    record = make_record()
    store.create(record)
    assert store.mark_abandoned(record.merchant_biz_id, 1500.0) is True
    store.mark_notification_enqueued(record.merchant_biz_id, "ABANDONED")
    assert store.finalize(record.merchant_biz_id, **FINAL) is True
    got = store.get(record.merchant_biz_id)
    assert got is not None and got.status == "PASSED"
    assert got.notification_enqueued is False  # the outbox must announce the real result


@pytest.mark.parametrize(("abandoned_at", "now", "finalized_at"),
                         [(1500.0, 1000.0, 1500.002), (1500.0, 1500.0, 1500.002), (1500.0, 2000.0, 2000.0)],
                         ids=["abandoned later", "at the same instant", "abandoned earlier"])
def test_a_late_verdict_is_stamped_after_the_abandonment_it_replaces(
    store: TransactionStore, abandoned_at: float, now: float, finalized_at: float
) -> None:
    """Merchants order a verification's events by their timestamp: a fetch that read its clock before the sweeper
    abandoned the row (or another instance's clock) must not announce its verdict as older than the abandonment."""
    record = make_record()
    store.create(record)
    assert store.mark_abandoned(record.merchant_biz_id, abandoned_at)
    assert store.finalize(record.merchant_biz_id, **{**FINAL, "now": now})
    got = store.get(record.merchant_biz_id)
    assert got is not None and got.status == "PASSED" and got.finalized_at == pytest.approx(finalized_at, abs=1e-6)


def test_mark_abandoned_only_changes_pending(store: TransactionStore) -> None:
    record = make_record()
    store.create(record)
    store.finalize(record.merchant_biz_id, **FINAL)
    assert store.mark_abandoned(record.merchant_biz_id, 5000.0) is False
    got = store.get(record.merchant_biz_id)
    assert got is not None and got.status == "PASSED"


def test_mark_abandoned_twice_second_returns_false(store: TransactionStore) -> None:
    record = make_record()
    store.create(record)
    assert store.mark_abandoned(record.merchant_biz_id, 1500.0) is True
    assert store.mark_abandoned(record.merchant_biz_id, 1600.0) is False


def test_record_check_bumps_count_and_sets_schedule_on_pending(store: TransactionStore) -> None:
    record = make_record()
    store.create(record)
    store.record_check(record.merchant_biz_id, now=1100.0, next_check_at=1400.0, error="ProcessNotCompleted")
    store.record_check(record.merchant_biz_id, now=1400.0, next_check_at=2000.0)
    got = store.get(record.merchant_biz_id)
    assert got is not None
    assert (got.check_count, got.next_check_at, got.error, got.updated_at) == (2, 2000.0, None, 1400.0)


def test_record_check_is_noop_on_final_row(store: TransactionStore) -> None:
    record = make_record()
    store.create(record)
    store.finalize(record.merchant_biz_id, **FINAL)
    before = store.get(record.merchant_biz_id)
    store.record_check(record.merchant_biz_id, now=9000.0, next_check_at=9500.0, error="X")
    assert store.get(record.merchant_biz_id) == before


def test_record_check_on_missing_row_creates_nothing(store: TransactionStore) -> None:
    assert store.record_check("ghost", now=1.0, next_check_at=2.0) is False
    assert store.get("ghost") is None


# -- the scheduled re-check: one chain per transaction -------------------------------------------------------------


def test_a_row_round_trips_its_scheduled_re_check(store: TransactionStore) -> None:
    record = make_record(recheck_attempt=4)
    store.create(record)
    assert store.get(record.merchant_biz_id) == record


def test_record_check_records_a_later_re_check_and_answers_true(store: TransactionStore) -> None:
    record = make_record()
    store.create(record)
    assert store.record_check(record.merchant_biz_id, now=1100.0, next_check_at=1400.0, recheck_attempt=1) is True
    assert store.record_check(record.merchant_biz_id, now=1400.0, next_check_at=2000.0, recheck_attempt=3) is True
    got = store.get(record.merchant_biz_id)
    assert got is not None and (got.recheck_attempt, got.check_count, got.next_check_at) == (3, 2, 2000.0)


@pytest.mark.parametrize("attempt", [1, 2])
def test_record_check_of_a_re_check_recorded_already_or_older_writes_nothing(
    store: TransactionStore, attempt: int
) -> None:
    record = make_record()
    store.create(record)
    store.record_check(record.merchant_biz_id, now=1100.0, next_check_at=1400.0, error="E", recheck_attempt=2)
    before = store.get(record.merchant_biz_id)
    again = store.record_check(record.merchant_biz_id, now=1200.0, next_check_at=1300.0, recheck_attempt=attempt)
    assert again is False
    assert store.get(record.merchant_biz_id) == before  # no count, schedule or error changed either


def test_record_check_without_a_re_check_leaves_the_scheduled_one_alone(store: TransactionStore) -> None:
    record = make_record()
    store.create(record)
    store.record_check(record.merchant_biz_id, now=1100.0, next_check_at=1400.0, recheck_attempt=2)
    assert store.record_check(record.merchant_biz_id, now=1500.0, next_check_at=5100.0, error="E") is True
    got = store.get(record.merchant_biz_id)
    assert got is not None and (got.recheck_attempt, got.check_count, got.error) == (2, 2, "E")


def test_record_check_of_a_final_row_answers_false(store: TransactionStore) -> None:
    record = make_record()
    store.create(record)
    store.finalize(record.merchant_biz_id, **FINAL)
    assert store.record_check(record.merchant_biz_id, now=9000.0, next_check_at=9500.0, recheck_attempt=1) is False


def test_one_re_check_recorded_by_many_writers_at_once_is_recorded_once(store: TransactionStore) -> None:
    record = make_record()
    store.create(record)

    def record_it(_: int) -> bool:
        return store.record_check(record.merchant_biz_id, now=1100.0, next_check_at=1400.0, recheck_attempt=1)

    with ThreadPoolExecutor(max_workers=8) as pool:
        recorded = list(pool.map(record_it, range(8)))
    assert recorded.count(True) == 1
    got = store.get(record.merchant_biz_id)
    assert got is not None and (got.recheck_attempt, got.check_count) == (1, 1)


def test_flag_updates_set_flags(store: TransactionStore) -> None:
    record = make_record()
    store.create(record)
    store.mark_notification_enqueued(record.merchant_biz_id, "PENDING")
    store.mark_vendor_copy_deleted(record.merchant_biz_id)
    got = store.get(record.merchant_biz_id)
    assert got is not None and got.notification_enqueued is True and got.vendor_copy_deleted is True


def test_notification_flag_for_a_status_the_row_left_is_a_no_op(store: TransactionStore) -> None:
    record = make_record()
    store.create(record)
    assert store.mark_abandoned(record.merchant_biz_id, 1500.0) is True
    assert store.finalize(record.merchant_biz_id, **FINAL) is True
    store.mark_notification_enqueued(record.merchant_biz_id, "ABANDONED")  # a sweeper finishing late
    got = store.get(record.merchant_biz_id)
    assert got is not None and got.notification_enqueued is False  # the PASSED event is still owed


def test_flag_updates_on_missing_row_create_nothing(store: TransactionStore) -> None:
    store.mark_notification_enqueued("ghost", "PASSED")
    store.mark_vendor_copy_deleted("ghost")
    assert store.get("ghost") is None



# -- erasure: the tombstone of a flow the vendor would not delete yet ----------------------------------------------


@pytest.mark.parametrize("abandoned", [False, True], ids=["pending", "abandoned"])
def test_mark_erased_keeps_only_what_finds_the_vendor_s_copy_and_makes_the_row_due_for_its_erasure_only(
    store: TransactionStore, abandoned: bool
) -> None:
    record = make_record(transaction_url="https://vendor.example/verify/1?t=abc", request_fingerprint="f" * 64,
                         next_check_at=1500.0, error="ProcessNotCompleted", doc_type="PHL07002")
    store.create(record)
    if abandoned:
        store.mark_abandoned(record.merchant_biz_id, 1600.0)
    assert store.mark_erased(record.merchant_biz_id, 2000.0) is True
    got = store.get(record.merchant_biz_id)
    assert got is not None
    assert (got.status, got.transaction_id, got.merchant_user_id) == ("ERASED", record.transaction_id,
                                                                      record.merchant_user_id)
    assert (got.transaction_url, got.request_fingerprint, got.next_check_at, got.error) == (None, None, None, None)
    assert got.doc_type == ""  # an eKYC_PRO code names the issuing country (review bc)
    assert got.updated_at == 2000.0 and got.notification_enqueued is True  # owes no announcement
    assert record.merchant_biz_id in _due_ids(store, DueKind.ERASURE, before=2000.0)
    assert all(record.merchant_biz_id not in _due_ids(store, kind) for kind in DueKind if kind is not DueKind.ERASURE)


def test_mark_erased_again_answers_true_and_changes_nothing_else(store: TransactionStore) -> None:
    record = make_record()
    store.create(record)
    assert store.mark_erased(record.merchant_biz_id, 2000.0) is True
    assert store.mark_erased(record.merchant_biz_id, 3000.0) is True
    got = store.get(record.merchant_biz_id)
    assert got is not None and (got.status, got.updated_at) == ("ERASED", 3000.0)


def test_set_erasure_due_moves_only_the_erasure_s_next_try(store: TransactionStore) -> None:
    record = make_record()
    store.create(record)
    store.mark_erased(record.merchant_biz_id, 2000.0)
    before = store.get(record.merchant_biz_id)
    assert store.set_erasure_due(record.merchant_biz_id, 5700.0) is True
    assert record.merchant_biz_id not in _due_ids(store, DueKind.ERASURE, before=5699.0)
    assert record.merchant_biz_id in _due_ids(store, DueKind.ERASURE, before=5700.0)
    assert store.get(record.merchant_biz_id) == before  # the erasure's time stays its updated_at


def test_set_erasure_due_changes_no_other_row_and_creates_none(store: TransactionStore) -> None:
    record = make_record()
    store.create(record)
    assert store.set_erasure_due(record.merchant_biz_id, 5700.0) is False  # PENDING: no erasure to retry
    assert _due_ids(store, DueKind.ERASURE) == []
    assert store.set_erasure_due("ghost", 5700.0) is False
    assert store.get("ghost") is None


def test_retention_s_conditional_delete_takes_an_erased_row_as_read(store: TransactionStore) -> None:
    record = make_record()
    store.create(record)
    store.mark_erased(record.merchant_biz_id, 2000.0)
    assert store.delete_unchanged(record.merchant_biz_id, status="ERASED", updated_at=2000.0) is True
    assert store.get(record.merchant_biz_id) is None


def test_mark_erased_leaves_a_verdict_and_creates_no_row(store: TransactionStore) -> None:
    record = make_record()
    store.create(record)
    store.finalize(record.merchant_biz_id, **FINAL)
    assert store.mark_erased(record.merchant_biz_id, 3000.0) is False
    got = store.get(record.merchant_biz_id)
    assert got is not None and got.status == "PASSED"
    assert store.mark_erased("ghost", 3000.0) is False
    assert store.get("ghost") is None


def test_recording_the_vendor_s_deletion_on_a_tombstone_keeps_it_due_for_its_erasure(store: TransactionStore) -> None:
    """finish_erasure (and ``kyc erase``) record the vendor's deletion before the row goes: should the row's deletion
    then fail, the tombstone must still be due, or the sweeper's erasure step never finishes it (no retention: kept
    for good). A tombstone is notification_enqueued: only a verdict's flag settles the row (review bf: the status
    half of that condition was untested on both stores)."""
    record = make_record()
    store.create(record)
    store.mark_erased(record.merchant_biz_id, 2000.0)
    store.mark_vendor_copy_deleted(record.merchant_biz_id)
    got = store.get(record.merchant_biz_id)
    assert got is not None and (got.status, got.vendor_copy_deleted) == ("ERASED", True)
    assert _due_ids(store, DueKind.ERASURE) == [record.merchant_biz_id]


def test_no_verdict_abandonment_or_check_changes_an_erased_row(store: TransactionStore) -> None:
    """A flow the person finishes after the erasure must not be kept: the fetch that finds it loses the row."""
    record = make_record()
    store.create(record)
    store.mark_erased(record.merchant_biz_id, 2000.0)
    assert store.finalize(record.merchant_biz_id, **FINAL) is False
    assert store.mark_abandoned(record.merchant_biz_id, 3000.0) is False
    assert store.record_check(record.merchant_biz_id, now=3000.0, next_check_at=4000.0) is False
    got = store.get(record.merchant_biz_id)
    assert got is not None
    assert (got.status, got.identity_masked, got.result_key, got.check_count) == ("ERASED", None, None, 0)
    assert _due_ids(store, DueKind.ERASURE) == [record.merchant_biz_id]
    assert all(record.merchant_biz_id not in _due_ids(store, kind) for kind in DueKind if kind is not DueKind.ERASURE)


# -- due: what the sweeper must look at, kept in the same write ---------------------------------------------------


def _due_ids(store: TransactionStore, kind: DueKind, before: float = 10**9) -> list[str]:
    return [r.merchant_biz_id for r in _all_pages(lambda cursor: store.due(kind, before, limit=2, cursor=cursor))]


def _all_pages(query: Any) -> list[TransactionRecord]:
    records: list[TransactionRecord] = []
    cursor: str | None = None
    for _ in range(100):
        page, cursor = query(cursor)
        records.extend(page)
        if cursor is None:
            return records
    raise AssertionError("the query did not terminate")


def test_a_new_pending_row_is_due_as_new_from_its_creation(store: TransactionStore) -> None:
    record = make_record(created_at=500.0)
    store.create(record)
    assert _due_ids(store, DueKind.NEW, before=500.0) == [record.merchant_biz_id]
    assert _due_ids(store, DueKind.NEW, before=499.0) == []
    assert _due_ids(store, DueKind.CHECK) == [] and _due_ids(store, DueKind.OUTBOX) == []


def test_a_verdict_written_whole_whose_vendor_copy_is_owed_is_due_for_the_outbox_from_its_verdict(
    store: TransactionStore,
) -> None:
    """review bi: a row written as a verdict at once (a migration of rows from before the due index, a bulk load)
    gets the due every write would have left it: announced, but its vendor copy not deleted, it is due for the
    outbox, from its verdict (``finalized_at``, not its last change); without a due the sweeper never deletes
    the vendor's copy."""
    record = make_record(created_at=500.0, updated_at=3000.0, status="PASSED", passed="Y", sub_code="200",
                         finalized_at=2000.0, notification_enqueued=True)  # fmt: skip
    store.create(record)
    assert _due_ids(store, DueKind.OUTBOX, before=1999.0) == []
    assert _due_ids(store, DueKind.OUTBOX, before=2000.0) == [record.merchant_biz_id]
    settled = make_record(status="PASSED", passed="Y", sub_code="200", finalized_at=2000.0,
                          notification_enqueued=True, vendor_copy_deleted=True)  # fmt: skip
    store.create(settled)
    assert _due_ids(store, DueKind.OUTBOX) == [record.merchant_biz_id]  # one that owes nothing is due for nothing


def test_record_check_makes_the_row_due_at_its_next_check(store: TransactionStore) -> None:
    record = make_record(created_at=500.0)
    store.create(record)
    store.record_check(record.merchant_biz_id, now=600.0, next_check_at=900.0)
    assert _due_ids(store, DueKind.NEW) == []
    assert _due_ids(store, DueKind.CHECK, before=899.0) == []
    assert _due_ids(store, DueKind.CHECK, before=900.0) == [record.merchant_biz_id]


def test_record_check_without_a_next_check_makes_the_row_new_again(store: TransactionStore) -> None:
    record = make_record(created_at=500.0)
    store.create(record)
    store.record_check(record.merchant_biz_id, now=600.0, next_check_at=900.0)
    store.record_check(record.merchant_biz_id, now=700.0, next_check_at=None, error="TransactionIdInvalid")
    assert _due_ids(store, DueKind.CHECK) == []
    assert _due_ids(store, DueKind.NEW, before=500.0) == [record.merchant_biz_id]


@pytest.mark.parametrize("finish", ["finalize", "abandon"])
def test_a_row_turning_final_is_due_for_the_outbox_from_then(store: TransactionStore, finish: str) -> None:
    record = make_record(created_at=500.0)
    store.create(record)
    if finish == "finalize":
        store.finalize(record.merchant_biz_id, **{**FINAL, "now": 2000.0})
    else:
        store.mark_abandoned(record.merchant_biz_id, 2000.0)
    assert _due_ids(store, DueKind.NEW) == []
    assert _due_ids(store, DueKind.OUTBOX, before=1999.0) == []
    assert _due_ids(store, DueKind.OUTBOX, before=2000.0) == [record.merchant_biz_id]


def test_a_confirmed_notification_with_nothing_else_owed_ends_the_due(store: TransactionStore) -> None:
    record = make_record()
    store.create(record)
    store.finalize(record.merchant_biz_id, **FINAL)
    store.mark_notification_enqueued(record.merchant_biz_id, "PASSED", vendor_copy_pending=False)
    assert _due_ids(store, DueKind.OUTBOX) == []


@pytest.mark.parametrize("pending", [False, True])
def test_a_confirmed_notification_records_when_it_was_sent(store: TransactionStore, pending: bool) -> None:
    record = make_record()
    store.create(record)
    store.finalize(record.merchant_biz_id, **FINAL)
    assert store.get(record.merchant_biz_id).notified_at is None  # type: ignore[union-attr]
    store.mark_notification_enqueued(record.merchant_biz_id, "PASSED", vendor_copy_pending=pending, now=9000.5)
    row = store.get(record.merchant_biz_id)
    assert row is not None and (row.notification_enqueued, row.notified_at) == (True, 9000.5)
    store.mark_notification_enqueued(record.merchant_biz_id, "PASSED", vendor_copy_pending=pending)  # no time
    assert store.get(record.merchant_biz_id).notified_at == 9000.5  # type: ignore[union-attr]


def test_a_verdict_over_an_announced_abandonment_is_not_notified_until_its_own_notification(
    store: TransactionStore,
) -> None:
    """Found by review: the abandonment's notified_at stayed, so the operator saw a notification time on a verdict
    whose own notification was not queued yet."""
    record = make_record()
    store.create(record)
    assert store.mark_abandoned(record.merchant_biz_id, 1000.0)
    store.mark_notification_enqueued(record.merchant_biz_id, "ABANDONED", now=1001.0)
    assert store.finalize(record.merchant_biz_id, **{**FINAL, "now": 5000.0})
    row = store.get(record.merchant_biz_id)
    assert row is not None and (row.notification_enqueued, row.notified_at) == (False, None)


def test_a_pending_vendor_copy_keeps_the_row_due_until_it_is_deleted(store: TransactionStore) -> None:
    record = make_record()
    store.create(record)
    store.finalize(record.merchant_biz_id, **FINAL)
    store.mark_notification_enqueued(record.merchant_biz_id, "PASSED", vendor_copy_pending=True)
    assert _due_ids(store, DueKind.OUTBOX) == [record.merchant_biz_id]
    store.mark_vendor_copy_deleted(record.merchant_biz_id)
    assert _due_ids(store, DueKind.OUTBOX) == []


def test_a_vendor_copy_deleted_before_the_notification_leaves_the_row_for_the_sweeper_to_settle(
    store: TransactionStore,
) -> None:
    record = make_record()
    store.create(record)
    store.finalize(record.merchant_biz_id, **FINAL)
    store.mark_vendor_copy_deleted(record.merchant_biz_id)
    assert _due_ids(store, DueKind.OUTBOX) == [record.merchant_biz_id]  # the notification is still owed
    store.mark_notification_enqueued(record.merchant_biz_id, "PASSED")  # "a deletion follows": the due stays
    assert _due_ids(store, DueKind.OUTBOX) == [record.merchant_biz_id]
    assert store.set_outbox_due(record.merchant_biz_id, "PASSED", None) is True  # what the sweeper then does
    assert _due_ids(store, DueKind.OUTBOX) == []


def test_an_abandoned_row_owes_no_vendor_copy(store: TransactionStore) -> None:
    record = make_record()
    store.create(record)
    store.mark_abandoned(record.merchant_biz_id, 1500.0)
    store.mark_notification_enqueued(record.merchant_biz_id, "ABANDONED")
    assert _due_ids(store, DueKind.OUTBOX) == []


def test_a_late_result_after_abandon_makes_the_row_due_again(store: TransactionStore) -> None:
    record = make_record()
    store.create(record)
    store.mark_abandoned(record.merchant_biz_id, 1500.0)
    store.mark_notification_enqueued(record.merchant_biz_id, "ABANDONED")
    store.finalize(record.merchant_biz_id, **FINAL)
    assert _due_ids(store, DueKind.OUTBOX) == [record.merchant_biz_id]


def test_the_notification_flag_of_a_pending_row_leaves_its_due(store: TransactionStore) -> None:
    record = make_record(created_at=500.0)
    store.create(record)
    store.mark_notification_enqueued(record.merchant_biz_id, "PENDING", vendor_copy_pending=False)
    assert _due_ids(store, DueKind.NEW) == [record.merchant_biz_id]


def test_set_outbox_due_moves_or_ends_the_due_of_a_row_still_of_that_status(store: TransactionStore) -> None:
    record = make_record()
    store.create(record)
    store.finalize(record.merchant_biz_id, **FINAL)  # now 2000
    assert store.set_outbox_due(record.merchant_biz_id, "PASSED", 5000.0) is True
    assert _due_ids(store, DueKind.OUTBOX, before=4999.0) == []
    assert _due_ids(store, DueKind.OUTBOX, before=5000.0) == [record.merchant_biz_id]
    assert store.set_outbox_due(record.merchant_biz_id, "FAILED", None) is False  # it moved on: not its status
    assert store.set_outbox_due(record.merchant_biz_id, "PASSED", None) is True
    assert _due_ids(store, DueKind.OUTBOX) == []
    assert store.set_outbox_due("ghost", "PASSED", None) is False
    assert store.get("ghost") is None


def test_set_outbox_due_refuses_a_status_that_is_announced_by_none(store: TransactionStore) -> None:
    record = make_record()
    store.create(record)
    with pytest.raises(ValueError):
        store.set_outbox_due(record.merchant_biz_id, "PENDING", 5000.0)
    assert _due_ids(store, DueKind.OUTBOX) == []


def test_due_pages_through_the_due_rows_in_time_order_once_each(store: TransactionStore) -> None:
    records = [make_record(created_at=float(t)) for t in (50, 10, 40, 20, 30, 60, 70)]
    for record in records:
        store.create(record)
    store.finalize(records[-1].merchant_biz_id, **FINAL)  # no longer NEW
    expected = [r.merchant_biz_id for r in sorted(records[:-1], key=lambda r: r.created_at) if r.created_at <= 60]
    assert _due_ids(store, DueKind.NEW, before=60.0) == expected


def test_a_deleted_row_is_no_longer_due(store: TransactionStore) -> None:
    record = make_record()
    store.create(record)
    store.delete(record.merchant_biz_id)
    assert _due_ids(store, DueKind.NEW) == []


# -- listings -----------------------------------------------------------------------------------------------------


def test_list_by_user_returns_only_that_users_rows_oldest_first(store: TransactionStore) -> None:
    mine = [make_record(merchant_user_id="user-a", created_at=float(t)) for t in (40, 10, 30, 20, 50)]
    for record in [*mine, make_record(merchant_user_id="user-b", created_at=25.0)]:
        store.create(record)
    got = _all_pages(lambda cursor: store.list_by_user("user-a", limit=2, cursor=cursor))
    assert [r.merchant_biz_id for r in got] == [r.merchant_biz_id for r in sorted(mine, key=lambda r: r.created_at)]
    assert store.list_by_user("nobody") == ([], None)


def test_list_by_user_shows_rows_as_they_are_now(store: TransactionStore) -> None:
    record = make_record(merchant_user_id="user-a")
    store.create(record)
    store.finalize(record.merchant_biz_id, **FINAL)
    (got,), _ = store.list_by_user("user-a")
    assert got.status == "PASSED"


def _created(store: TransactionStore, **kwargs: Any) -> list[str]:
    return [
        r.merchant_biz_id for r in _all_pages(lambda cursor: store.list_created(limit=2, cursor=cursor, **kwargs))
    ]


def test_list_created_pages_through_a_period_in_creation_order(store: TransactionStore) -> None:
    records = [make_record(created_at=float(t)) for t in (30, 10, 50, 20, 40, 60)]
    for record in records:
        store.create(record)
    by_time = [r.merchant_biz_id for r in sorted(records, key=lambda r: r.created_at)]
    assert _created(store) == by_time
    assert _created(store, since=20.0, until=50.0) == by_time[1:4]  # since inclusive, until exclusive
    assert _created(store, since=20.0, until=50.0, newest_first=True) == by_time[1:4][::-1]
    assert _created(store, newest_first=True) == by_time[::-1]


def test_list_created_ends_before_until_on_a_single_page_too(store: TransactionStore) -> None:
    records = [make_record(created_at=float(t)) for t in (10, 20, 30)]
    for record in records:
        store.create(record)
    listed, _ = store.list_created(until=30.0)
    assert [r.merchant_biz_id for r in listed] == [records[0].merchant_biz_id, records[1].merchant_biz_id]


def test_a_page_that_holds_the_last_rows_exactly_has_no_cursor(store: TransactionStore) -> None:
    for t in (10, 20):
        store.create(make_record(created_at=float(t), merchant_user_id="user-exact"))
    assert store.list_created(limit=2)[1] is None
    assert store.list_by_user("user-exact", limit=2)[1] is None


def test_a_page_of_no_rows_is_refused(store: TransactionStore) -> None:
    with pytest.raises(ValueError):
        store.list_created(limit=0)
    with pytest.raises(ValueError):
        store.list_by_user("u", limit=0)
    with pytest.raises(ValueError):
        store.due(DueKind.NEW, 10**9, limit=0)


def test_list_created_keeps_rows_created_in_the_same_instant_apart(store: TransactionStore) -> None:
    records = [make_record(created_at=100.0) for _ in range(5)]
    for record in records:
        store.create(record)
    ids = sorted(r.merchant_biz_id for r in records)
    assert _created(store) == ids
    assert _created(store, newest_first=True) == ids[::-1]


def test_list_created_can_keep_only_one_status(store: TransactionStore) -> None:
    records = [make_record(created_at=float(t)) for t in (10, 20, 30, 40)]
    for record in records:
        store.create(record)
    store.finalize(records[1].merchant_biz_id, **FINAL)
    store.finalize(records[3].merchant_biz_id, **FINAL)
    assert _created(store, status="PASSED") == [records[1].merchant_biz_id, records[3].merchant_biz_id]
    assert _created(store, status="PENDING", newest_first=True) == [
        records[2].merchant_biz_id, records[0].merchant_biz_id
    ]


def test_count_created_counts_each_status_in_the_period(store: TransactionStore) -> None:
    records = [make_record(created_at=float(t)) for t in (10, 20, 30, 40, 50)]
    for record in records:
        store.create(record)
    store.finalize(records[1].merchant_biz_id, **FINAL)
    store.mark_abandoned(records[2].merchant_biz_id, 60.0)
    assert store.count_created() == {"PENDING": 3, "PASSED": 1, "ABANDONED": 1}
    assert store.count_created(since=20.0, until=40.0) == {"PASSED": 1, "ABANDONED": 1}
    assert store.count_created(since=100.0) == {}


def test_a_deleted_row_is_listed_nowhere(store: TransactionStore) -> None:
    record = make_record(merchant_user_id="user-a")
    store.create(record)
    store.delete(record.merchant_biz_id)
    assert store.list_by_user("user-a") == ([], None)
    assert _created(store) == [] and store.count_created() == {}


def test_a_cursor_from_elsewhere_is_refused(store: TransactionStore) -> None:
    with pytest.raises(ValueError):
        store.list_created(cursor="not a cursor")


# -- the rate-limit counter ------------------------------------------------------------------------------------


def test_a_rate_counter_admits_up_to_its_limit(store: TransactionStore) -> None:
    admitted = [store.increment_rate_counter("user-a:1", 3, 9e9) for _ in range(5)]
    assert admitted == [True, True, True, False, False]
    assert store.increment_rate_counter("user-b:1", 3, 9e9) is True  # counters are independent


def test_a_decrement_gives_one_back_and_never_goes_below_zero(store: TransactionStore) -> None:
    for _ in range(2):
        store.increment_rate_counter("k", 2, 9e9)
    assert store.increment_rate_counter("k", 2, 9e9) is False
    store.decrement_rate_counter("k")
    assert store.increment_rate_counter("k", 2, 9e9) is True
    for _ in range(5):
        store.decrement_rate_counter("k")
    assert [store.increment_rate_counter("k", 2, 9e9) for _ in range(3)] == [True, True, False]
    store.decrement_rate_counter("never-used")  # no error, nothing created
    assert store.increment_rate_counter("never-used", 1, 9e9) is True


def test_a_limit_of_zero_admits_nothing(store: TransactionStore) -> None:
    assert store.increment_rate_counter("k", 0, 9e9) is False


def test_a_rate_counter_is_exact_under_concurrency(store: TransactionStore) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        admitted = list(pool.map(lambda _: store.increment_rate_counter("burst", 5, 9e9), range(16)))
    assert admitted.count(True) == 5


def test_expiring_rate_counters_keeps_the_live_ones(store: TransactionStore) -> None:
    store.increment_rate_counter("old", 1, 100.0)
    store.increment_rate_counter("live", 1, 900.0)
    store.expire_rate_counters(500.0, 10)
    assert store.increment_rate_counter("live", 1, 900.0) is False  # still counted


def test_a_counter_counted_again_keeps_the_later_expiry(store: TransactionStore) -> None:
    """A counter given back, then counted again a day later (found by review v, when an Idempotency-Key's claim was
    such a counter: SQLite kept the first expiry, and its sweeper dropped the new claim early)."""
    assert store.increment_rate_counter("ikclaim", 1, 100.0)
    store.decrement_rate_counter("ikclaim")
    assert store.increment_rate_counter("ikclaim", 1, 900.0)
    store.expire_rate_counters(500.0, 10)
    assert store.increment_rate_counter("ikclaim", 1, 900.0) is False  # still held


# -- claims (an Idempotency-Key's) ----------------------------------------------------------------------------------


def test_a_claim_is_held_by_one_holder_until_that_holder_gives_it_back(store: TransactionStore) -> None:
    assert store.take_claim("ikc", "a", 900.0, 50.0) is True
    assert store.take_claim("ikc", "b", 900.0, 50.0) is False
    assert store.give_back_claim("ikc", "b") is False  # not b's to give back
    assert store.take_claim("ikc", "c", 900.0, 50.0) is False
    assert store.give_back_claim("ikc", "a") is True
    assert store.take_claim("ikc", "b", 900.0, 60.0) is True


def test_a_claim_past_its_expiry_is_free_before_anything_forgets_it(store: TransactionStore) -> None:
    assert store.take_claim("ikc", "a", 100.0, 50.0) is True
    assert store.take_claim("ikc", "b", 900.0, 99.0) is False
    assert store.take_claim("ikc", "b", 900.0, 100.0) is True
    assert store.give_back_claim("ikc", "a") is False  # a's claim lapsed: b's is not a's to give back
    assert store.take_claim("ikc", "c", 900.0, 200.0) is False


def test_a_claim_given_back_twice_is_freed_by_the_first_give_back_only(store: TransactionStore) -> None:
    """Review gg: Tablestore answered True for a claim already free."""
    assert store.take_claim("ikc", "a", 900.0, 50.0) is True
    assert store.give_back_claim("ikc", "a") is True
    assert store.give_back_claim("ikc", "a") is False


def test_a_take_by_the_claim_s_own_holder_answers_that_it_holds_it(store: TransactionStore) -> None:
    """Review gg: SQLite answered False (no other holder has it; Tablestore reads its own holder back as taken)."""
    assert store.take_claim("ikc", "a", 900.0, 50.0) is True
    assert store.take_claim("ikc", "a", 900.0, 51.0) is True
    assert store.take_claim("ikc", "b", 900.0, 52.0) is False


def test_giving_back_a_claim_never_taken_creates_nothing(store: TransactionStore) -> None:
    assert store.give_back_claim("ikc", "a") is False
    assert store.take_claim("ikc", "b", 900.0, 50.0) is True


@pytest.mark.parametrize("earlier", [None, 100.0])
def test_one_of_many_concurrent_takes_gets_a_claim(store: TransactionStore, earlier: float | None) -> None:
    """A free claim never taken, and one whose earlier holder's claim lapsed."""
    if earlier is not None:
        assert store.take_claim("ikc", "earlier", earlier, 50.0)
    with ThreadPoolExecutor(max_workers=8) as pool:
        taken = list(pool.map(lambda n: store.take_claim("ikc", f"h{n}", 900.0, 200.0), range(16)))
    assert taken.count(True) == 1


def test_a_claim_an_earlier_release_counted_is_held_until_given_back_or_lapsed(store: TransactionStore) -> None:
    """Before holders, a claim was a counter at 1 (a start in flight during the upgrade) or 0 (given back)."""
    assert store.increment_rate_counter("ikc", 1, 100.0) is True
    assert store.take_claim("ikc", "a", 900.0, 50.0) is False
    assert store.give_back_claim("ikc", "a") is False  # a counter has no holder: nobody's to give back
    assert store.take_claim("ikc", "a", 900.0, 100.0) is True
    assert store.increment_rate_counter("ikd", 1, 900.0) is True
    store.decrement_rate_counter("ikd")
    assert store.take_claim("ikd", "a", 900.0, 50.0) is True


def test_expiring_rate_counters_forgets_lapsed_claims_only(store: TransactionStore) -> None:
    store.take_claim("ikold", "a", 100.0, 50.0)
    store.take_claim("iklive", "a", 900.0, 50.0)
    store.expire_rate_counters(500.0, 10)
    assert store.take_claim("iklive", "b", 900.0, 500.0) is False  # still held
    assert store.give_back_claim("iklive", "a") is True


def test_delete_removes_row_and_is_idempotent(store: TransactionStore) -> None:
    record = make_record()
    store.create(record)
    store.delete(record.merchant_biz_id)
    store.delete(record.merchant_biz_id)
    assert store.get(record.merchant_biz_id) is None


def test_delete_unchanged_removes_an_announced_row_still_as_read(store: TransactionStore) -> None:
    record = make_record()
    store.create(record)
    assert store.mark_abandoned(record.merchant_biz_id, now=1500.0)
    store.mark_notification_enqueued(record.merchant_biz_id, "ABANDONED")
    read = store.get(record.merchant_biz_id)
    assert read is not None
    assert store.delete_unchanged(record.merchant_biz_id, status="ABANDONED", updated_at=read.updated_at) is True
    assert store.get(record.merchant_biz_id) is None


def test_delete_unchanged_keeps_a_row_a_late_verdict_replaced_since_it_was_read(store: TransactionStore) -> None:
    record = make_record()
    store.create(record)
    store.mark_abandoned(record.merchant_biz_id, now=1500.0)
    store.mark_notification_enqueued(record.merchant_biz_id, "ABANDONED")
    read = store.get(record.merchant_biz_id)
    assert read is not None
    store.finalize(record.merchant_biz_id, **FINAL)
    store.mark_notification_enqueued(record.merchant_biz_id, "PASSED")
    assert store.delete_unchanged(record.merchant_biz_id, status="ABANDONED", updated_at=read.updated_at) is False
    got = store.get(record.merchant_biz_id)
    assert got is not None and got.status == "PASSED"


def test_delete_unchanged_keeps_a_row_of_the_same_status_updated_since_it_was_read(store: TransactionStore) -> None:
    record = make_record()
    store.create(record)
    store.finalize(record.merchant_biz_id, **FINAL)
    store.mark_notification_enqueued(record.merchant_biz_id, "PASSED")
    stale = FINAL["now"] - 1.0
    assert store.delete_unchanged(record.merchant_biz_id, status="PASSED", updated_at=stale) is False
    assert store.get(record.merchant_biz_id) is not None


def test_delete_unchanged_keeps_a_row_whose_notification_is_not_confirmed(store: TransactionStore) -> None:
    record = make_record()
    store.create(record)
    store.finalize(record.merchant_biz_id, **FINAL)
    assert store.delete_unchanged(record.merchant_biz_id, status="PASSED", updated_at=FINAL["now"]) is False
    assert store.get(record.merchant_biz_id) is not None


def test_delete_unchanged_of_a_missing_row_deletes_nothing(store: TransactionStore) -> None:
    assert store.delete_unchanged("missing00000000000000000000000000"[:32], status="PASSED", updated_at=1.0) is False


#: An abandonment 0.5 µs before a millisecond boundary (time.time() returns any double): rfc3339 rounds it to the
#: microsecond, up to the boundary (...20.003Z), and abandoned_at + 0.001 to ...004 - 1 µs (...20.003Z too).
ABANDONED_NEAR_A_MS_BOUNDARY = 1700000000.0029995


def test_a_late_verdict_is_announced_with_a_later_timestamp_than_the_abandonment_it_replaces(store: Any) -> None:
    """finalize stamps a verdict over an ABANDONED row at max(now, abandoned_at + 0.001) so that merchants, who order
    a verification's events by the webhook's millisecond ``timestamp`` (rfc3339(finalized_at)), see 'passed' after
    'abandoned'. One millisecond of float seconds is not one rendered millisecond: rfc3339 rounds each value to the
    microsecond and cuts to the millisecond, and for an abandonment just under a millisecond boundary both events
    carry the same timestamp (the tie the change set out to remove). Stamping at least 1.5 ms later (or computing in
    whole rendered milliseconds) keeps them apart."""
    from shared.timestamps import rfc3339
    from tests.fakes import make_record

    record = make_record()
    store.create(record)
    assert store.mark_abandoned(record.merchant_biz_id, ABANDONED_NEAR_A_MS_BOUNDARY)
    abandoned = store.get(record.merchant_biz_id)
    assert store.finalize(record.merchant_biz_id, status="PASSED", passed="Y", sub_code="200",
                          result_key="results/x/result.json", identity_masked=None, result_version=1,
                          now=ABANDONED_NEAR_A_MS_BOUNDARY)  # the fetch read its clock as the sweeper abandoned
    verdict = store.get(record.merchant_biz_id)
    assert rfc3339(verdict.finalized_at) > rfc3339(abandoned.finalized_at), (
        rfc3339(abandoned.finalized_at), rfc3339(verdict.finalized_at))
