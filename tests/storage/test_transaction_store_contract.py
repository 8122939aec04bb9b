"""Behaviour every TransactionStore keeps; runs against SQLite and against Tablestore at the SDK boundary."""

from __future__ import annotations

from typing import Any

import pytest

from shared.storage import RecordExists, TransactionRecord, TransactionStore

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
    store.record_check("ghost", now=1.0, next_check_at=2.0)
    assert store.get("ghost") is None


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


def _scan_all(store: TransactionStore, **kwargs: Any) -> list[TransactionRecord]:
    records: list[TransactionRecord] = []
    cursor: str | None = None
    for _ in range(100):
        page, cursor = store.scan(cursor=cursor, **kwargs)
        assert len(page) <= kwargs.get("limit", 100)
        records.extend(page)
        if cursor is None:
            return records
    raise AssertionError("scan did not terminate")


def test_scan_pages_through_every_row_once(store: TransactionStore) -> None:
    created = [make_record() for _ in range(7)]
    for record in created:
        store.create(record)
    got = _scan_all(store, limit=2)
    assert sorted(r.merchant_biz_id for r in got) == sorted(r.merchant_biz_id for r in created)


def test_scan_filters_by_status_and_creation_window(store: TransactionStore) -> None:
    old_pending = make_record(created_at=100.0)
    new_pending = make_record(created_at=900.0)
    old_final = make_record(created_at=100.0)
    for record in (old_pending, new_pending, old_final):
        store.create(record)
    store.finalize(old_final.merchant_biz_id, **FINAL)
    got = _scan_all(store, status="PENDING", created_before=500.0, limit=1)
    assert [r.merchant_biz_id for r in got] == [old_pending.merchant_biz_id]
    got_after = _scan_all(store, created_after=900.0)
    assert [r.merchant_biz_id for r in got_after] == [new_pending.merchant_biz_id]


def test_find_by_user_returns_only_that_users_rows(store: TransactionStore) -> None:
    mine = [make_record(merchant_user_id="user-a") for _ in range(4)]
    for record in [*mine, make_record(merchant_user_id="user-b")]:
        store.create(record)
    assert [r.merchant_biz_id for r in store.find_by_user("user-a")] == [r.merchant_biz_id for r in mine]


def test_count_created_by_user_since_counts_inclusive_window(store: TransactionStore) -> None:
    for created_at in (10.0, 20.0, 30.0, 40.0):
        store.create(make_record(merchant_user_id="user-c", created_at=created_at))
    store.create(make_record(merchant_user_id="user-d", created_at=35.0))
    assert store.count_created_by_user_since("user-c", 20.0) == 3


def test_delete_removes_row_and_is_idempotent(store: TransactionStore) -> None:
    record = make_record()
    store.create(record)
    store.delete(record.merchant_biz_id)
    store.delete(record.merchant_biz_id)
    assert store.get(record.merchant_biz_id) is None
