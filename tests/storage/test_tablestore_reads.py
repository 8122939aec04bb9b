"""The Tablestore adapter against the double: queries read what they answer (the double counts every row a call
reads, index rows included), a lagging global index never makes a query wrong, and every call has a deadline."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from shared.storage import DueKind, StorageError, TablestoreTransactionStore, TransactionRecord
from shared.storage.tablestore_store import MAX_RANGE_CALLS_PER_PAGE, BoundedRetry, table_row

from .conftest import TABLE, make_record, tablestore_double, wire_store

FINAL: dict[str, Any] = {
    "status": "PASSED", "passed": "Y", "sub_code": "200", "result_key": None, "identity_masked": None,
    "result_version": 1, "now": 5000.0,
}  # fmt: skip


@pytest.fixture
def double() -> Iterator[Any]:
    with tablestore_double(range_row_cap=5000) as ots:
        yield ots


def _load(double: Any, records: list[TransactionRecord]) -> None:
    """Bulk-load rows exactly as ``create`` writes them (uncounted)."""
    double.load_rows(TABLE, [table_row(r) for r in records])


def _rows_read(double: Any) -> int:
    return int(double.rows()["rowsScanned"])


def _background(n: int) -> list[TransactionRecord]:
    """``n`` other users' verifications, long final and announced: nothing due, nobody's we ask about."""
    records = []
    for i in range(n):
        record = make_record(merchant_user_id=f"other-{i % 50}", created_at=100.0 + i, status="PASSED",
                             finalized_at=200.0 + i, notification_enqueued=True)  # fmt: skip
        records.append(record)
    return records


# -- rows read are bounded by the answer -----------------------------------------------------------------------


def test_due_reads_the_due_rows_and_nothing_else(double: Any) -> None:
    due = [make_record(created_at=10_000.0 + i) for i in range(3)]
    _load(double, [*_background(500), *due])
    store = wire_store(double)
    double.reset_stats()
    rows, _ = store.due(DueKind.NEW, 20_000.0)
    assert {r.merchant_biz_id for r in rows} == {r.merchant_biz_id for r in due}
    assert _rows_read(double) == 2 * len(due)  # the index rows and the rows themselves


def test_a_users_listing_reads_that_users_rows_only(double: Any) -> None:
    mine = [make_record(merchant_user_id="me", created_at=50_000.0 + i) for i in range(5)]
    _load(double, [*_background(500), *mine])
    store = wire_store(double)
    double.reset_stats()
    rows, cursor = store.list_by_user("me")
    assert [r.merchant_biz_id for r in rows] == [r.merchant_biz_id for r in mine] and cursor is None
    assert _rows_read(double) == 2 * len(mine)


def test_a_period_reads_the_rows_of_that_period(double: Any) -> None:
    _load(double, _background(500))
    store = wire_store(double)
    double.reset_stats()
    rows, _ = store.list_created(since=300.0, until=310.0)
    assert len(rows) == 10
    assert _rows_read(double) == 20
    double.reset_stats()
    assert store.count_created(since=300.0, until=310.0) == {"PASSED": 10}
    assert _rows_read(double) == 10  # index rows only: the index carries the status


def test_the_rate_limit_reads_one_counter_whatever_the_table_holds(double: Any) -> None:
    _load(double, _background(500))
    store = wire_store(double)
    double.reset_stats()
    assert store.increment_rate_counter("k", 5, 9e9) is True  # the first: a missing row, then a create
    first = _rows_read(double)
    double.reset_stats()
    assert store.increment_rate_counter("k", 5, 9e9) is True
    assert first <= 1 and _rows_read(double) == 2  # the counter, then its condition check


# -- a filter leaves whole range reads empty ------------------------------------------------------------------------


def _all_pages(fetch: Any, max_pages: int = 50) -> list[str]:
    ids: list[str] = []
    cursor = None
    for _ in range(max_pages):
        rows, cursor = fetch(cursor)
        ids += [r.merchant_biz_id for r in rows]
        if not cursor:
            return ids
    raise AssertionError("the listing never ended")


def _passed(created_at: float) -> TransactionRecord:
    return make_record(created_at=created_at, status="PASSED", finalized_at=created_at + 1,
                       notification_enqueued=True)  # fmt: skip


def test_a_status_listing_goes_on_past_more_filtered_out_rows_than_a_page_reads() -> None:
    """A filtered read may find no row yet not reach the end: the page hands on a cursor, not the end of the list."""
    with tablestore_double(range_row_cap=3) as double:
        pending = [make_record(created_at=100.0 + i) for i in range(MAX_RANGE_CALLS_PER_PAGE * 3 + 3)]
        match = _passed(10_000.0)
        _load(double, [*pending, match])
        store = wire_store(double)

        got = _all_pages(lambda cursor: store.list_created(status="PASSED", limit=10, cursor=cursor))

    assert got == [match.merchant_biz_id]


def test_a_status_listing_resumes_past_the_rows_its_page_scanned_not_after_its_last_match() -> None:
    with tablestore_double(range_row_cap=3) as double:
        first, last = _passed(50.0), _passed(10_000.0)
        pending = [make_record(created_at=100.0 + i) for i in range(2 * MAX_RANGE_CALLS_PER_PAGE * 3)]
        _load(double, [first, *pending, last])
        store = wire_store(double)

        got = _all_pages(lambda cursor: store.list_created(status="PASSED", limit=10, cursor=cursor))

    assert got == [first.merchant_biz_id, last.merchant_biz_id]


# -- a lagging global index ---------------------------------------------------------------------------------------


def test_a_row_the_index_has_not_seen_yet_is_found_once_it_has(double: Any) -> None:
    store = wire_store(double)
    double.set_index_lag(manual=True)
    record = make_record(merchant_user_id="me", created_at=10.0)
    store.create(record)
    assert store.get(record.merchant_biz_id) == record  # the table is read by key: no lag
    assert store.list_by_user("me") == ([], None)  # not yet in the index: the next sweep or run finds it
    double.flush_indexes()
    assert [r.merchant_biz_id for r in store.list_by_user("me")[0]] == [record.merchant_biz_id]


def test_a_stale_due_entry_is_skipped_because_the_row_decides(double: Any) -> None:
    store = wire_store(double)
    record = make_record(created_at=10.0)
    store.create(record)
    double.set_index_lag(manual=True)
    store.finalize(record.merchant_biz_id, **FINAL)
    store.mark_notification_enqueued(record.merchant_biz_id, "PASSED", vendor_copy_pending=False)
    # The index still lists the row as NEW; the row itself owes nothing.
    assert store.due(DueKind.NEW, 10**9) == ([], None)
    assert store.due(DueKind.OUTBOX, 10**9) == ([], None)
    double.flush_indexes()
    assert store.due(DueKind.NEW, 10**9) == ([], None)


def test_a_row_moved_later_is_not_due_before_its_time_even_if_the_index_lags(double: Any) -> None:
    store = wire_store(double)
    record = make_record(created_at=10.0)
    store.create(record)
    double.set_index_lag(manual=True)
    store.record_check(record.merchant_biz_id, now=20.0, next_check_at=1000.0)
    assert store.due(DueKind.NEW, 100.0) == ([], None)  # the index says NEW at 10; the row says CHECK at 1000
    double.flush_indexes()
    assert store.due(DueKind.CHECK, 100.0) == ([], None)
    assert [r.merchant_biz_id for r in store.due(DueKind.CHECK, 1000.0)[0]] == [record.merchant_biz_id]


def test_a_deleted_row_the_index_still_lists_is_listed_nowhere(double: Any) -> None:
    store = wire_store(double)
    record = make_record(merchant_user_id="me")
    store.create(record)
    double.set_index_lag(manual=True)
    store.delete(record.merchant_biz_id)
    assert store.list_by_user("me") == ([], None)
    assert store.list_created() == ([], None)


def test_a_status_the_index_has_not_caught_up_with_is_filtered_by_the_row(double: Any) -> None:
    store = wire_store(double)
    record = make_record()
    store.create(record)
    double.set_index_lag(manual=True)
    store.finalize(record.merchant_biz_id, **FINAL)
    assert store.list_created(status="PENDING") == ([], None)  # the index still says PENDING; the row does not


# -- deadlines: bounded retries ------------------------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_busy_instance_is_retried_a_bounded_number_of_times(double: Any) -> None:
    store = wire_store(double, retry=BoundedRetry(max_retries=3, base_delay=0.001, max_delay=0.002))
    double.set_faults({"operations": {"GetRow": {"sequence": ["OTSServerBusy"] * 50}}})
    double.reset_stats()
    with pytest.raises(StorageError) as info:
        store.get("a1")
    assert info.value.transient and info.value.code == "OTSServerBusy"
    assert double.stats()["requests"].get("GetRow") == 4  # the first attempt and three retries, never twenty


def test_a_busy_answer_followed_by_success_succeeds(double: Any) -> None:
    store = wire_store(double, retry=BoundedRetry(base_delay=0.001, max_delay=0.002))
    double.set_faults({"operations": {"GetRow": {"sequence": ["OTSServerBusy", "OTSServerBusy", "ok"]}}})
    assert store.get("a1") is None


def test_no_retry_starts_after_the_retry_window(double: Any) -> None:
    clock = _Clock()
    ticks = itertools.count()

    def jitter() -> float:  # every backoff: the clock moves on by a second
        clock.now = float(next(ticks) + 1)
        return 0.0

    store = wire_store(double, retry=BoundedRetry(max_retries=10, retry_window=2.1, clock=clock, jitter=jitter))
    double.set_faults({"operations": {"GetRow": {"sequence": ["OTSServerBusy"] * 50}}})
    double.reset_stats()
    with pytest.raises(StorageError):
        store.get("a1")
    # Retried at t=1 and t=2 (each decided at most 0.1 s of backoff into the window); from t=2 the next one, with
    # up to 0.2 s of backoff, would start past 2.1 s.
    assert double.stats()["requests"].get("GetRow") == 3


def test_a_write_is_retried_only_on_answers_that_say_it_was_not_applied(double: Any) -> None:
    store = wire_store(double, retry=BoundedRetry(base_delay=0.001, max_delay=0.002))
    double.set_faults({"operations": {"PutRow": {"sequence": ["OTSInternalServerError"] * 5}}})
    double.reset_stats()
    with pytest.raises(StorageError) as info:
        store.create(make_record())
    assert info.value.transient
    assert double.stats()["requests"].get("PutRow") == 1  # a 500 on a write may have applied: the caller decides


def test_an_injected_client_keeps_its_own_retry_policy(double: Any) -> None:
    store = TablestoreTransactionStore(table=TABLE, client=double.client())
    assert store._retry is None


# -- pages: their bounds and their continuations (review bi) --------------------------------------------------------


def _ids_of(rows: list[TransactionRecord]) -> list[str]:
    return [r.merchant_biz_id for r in rows]


def test_a_page_never_holds_more_rows_than_its_limit_and_the_next_page_goes_on_from_there(double: Any) -> None:
    """review bi: the sweeper's batch is counted in pages of ``limit`` rows; a page one row over it would make a
    pass work on more rows (and call the vendor more often) than ``KYC_SWEEP_BATCH`` allows."""
    due = [make_record(created_at=10_000.0 + i) for i in range(5)]
    _load(double, due)
    store = wire_store(double)
    first, cursor = store.due(DueKind.NEW, 20_000.0, limit=2)
    assert len(first) == 2 and cursor is not None
    rest = _all_pages(lambda c: store.due(DueKind.NEW, 20_000.0, limit=2, cursor=c or cursor))
    assert _ids_of(first) + rest == _ids_of(due)


def test_a_page_of_a_hundred_rows_reads_back_all_hundred_of_them(double: Any) -> None:
    """review bi: the rows of a page are re-read with BatchGetRow, 100 keys a call. A key left out of a call is a
    row missing from its page while the cursor moves past it: a user's listing (``kyc erase``) would skip it."""
    mine = [make_record(merchant_user_id="me", created_at=50_000.0 + i) for i in range(150)]
    _load(double, mine)
    store = wire_store(double)
    rows, cursor = store.list_by_user("me")  # the default limit: 100
    assert _ids_of(rows) == _ids_of(mine[:100]) and cursor is not None
    rows, cursor = store.list_by_user("me", limit=150)
    assert _ids_of(rows) == _ids_of(mine) and cursor is None


def test_a_row_batch_get_row_could_not_read_fails_the_page_rather_than_passing_for_a_row_that_is_gone(
    double: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """review bi: BatchGetRow answers per row; a row it failed to read (its own error in a 200 answer) is not a
    row that is gone: taken for one, a due row would drop out of the sweep's page unseen."""
    import tablestore

    due = [make_record(created_at=10_000.0 + i) for i in range(3)]
    _load(double, due)
    store = wire_store(double)
    client = store._client
    batch_get_row = client.batch_get_row

    def one_row_failed(request: Any) -> Any:
        answer = batch_get_row(request)
        items = answer.get_result_by_table(TABLE)
        items[1] = tablestore.metadata.RowDataItem(False, "OTSServerBusy", "busy", TABLE, None, None, None)
        return answer

    monkeypatch.setattr(client, "batch_get_row", one_row_failed)
    with pytest.raises(StorageError) as info:
        store.due(DueKind.NEW, 20_000.0)
    assert (info.value.code, info.value.transient) == ("OTSServerBusy", True)


def test_a_filtered_page_gathers_its_matches_across_range_reads() -> None:
    """review bi: a GetRange returns a few rows at a time (at most 5000 scanned, 4 MB); a page reads on, up to
    ``MAX_RANGE_CALLS_PER_PAGE`` calls, until it holds ``limit`` matches, instead of answering one read's worth."""
    with tablestore_double(range_row_cap=3) as double:
        records: list[TransactionRecord] = []
        for i in range(10):  # every range read of three rows holds one match
            records += [make_record(created_at=100.0 + 3 * i), make_record(created_at=101.0 + 3 * i),
                        _passed(102.0 + 3 * i)]  # fmt: skip
        _load(double, records)
        store = wire_store(double)
        rows, _ = store.list_created(status="PASSED", limit=10)
    assert _ids_of(rows) == [r.merchant_biz_id for r in records if r.status == "PASSED"]


def test_a_page_whose_filter_matches_nothing_stops_after_its_range_reads_and_hands_on_a_cursor() -> None:
    """review bi: without the bound, a status listing over rows of another status reads the whole index in one
    page (a whole-table read, billed row by row); with it, the page stops and the cursor goes on from there."""
    with tablestore_double(range_row_cap=3) as double:
        _load(double, [make_record(created_at=100.0 + i) for i in range(MAX_RANGE_CALLS_PER_PAGE * 3 + 30)])
        store = wire_store(double)
        double.reset_stats()
        rows, cursor = store.list_created(status="PASSED", limit=10)
        assert rows == [] and cursor is not None
        assert double.stats()["requests"]["GetRange"] == MAX_RANGE_CALLS_PER_PAGE


def test_a_count_goes_on_past_the_range_reads_of_one_page() -> None:
    """review bi: ``count_created`` (the console's figures) reads the index page after page to the end: a count
    that stopped after one page's range reads would report a period's first rows only."""
    total = MAX_RANGE_CALLS_PER_PAGE * 3 + 10
    with tablestore_double(range_row_cap=3) as double:
        _load(double, [make_record(created_at=100.0 + i) for i in range(total)])
        assert wire_store(double).count_created() == {"PENDING": total}
