"""Found by mutation testing (review ad): conditions of the Tablestore adapter that only a rival write landing
*between* the adapter's read and its conditional write can exercise. Each test puts a second writer (another
function instance: its own store on the same Tablestore double) at that exact moment, through the SDK's transport
seam, and checks the write that follows still holds its condition. They pass on the current code; each fails with
the mutation its docstring names.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.storage import DueKind, TablestoreTransactionStore
from tests.storage.conftest import make_record, tablestore_double, wire_store
from tests.storage.test_tablestore_applied_writes import AppliedThenBusy

NOW = 5_000.0


@pytest.fixture
def two_instances() -> Iterator[tuple[TablestoreTransactionStore, TablestoreTransactionStore]]:
    """Two stores as two function instances build them, against one Tablestore double."""
    with tablestore_double() as double:
        ours, rivals = wire_store(double), wire_store(double)
        for store in (ours, rivals):
            store.get("warm" + "0" * 28)  # builds the SDK client and its transport
        yield ours, rivals


def _watch(store: TablestoreTransactionStore) -> AppliedThenBusy:
    """``store``'s transport, never failing (not armed), with a hook before each request it sends."""
    client = store._client
    seam = AppliedThenBusy(client.connection, "none")
    client.connection = seam
    return seam


def _finalize(store: TablestoreTransactionStore, mbid: str, status: str, passed: str, key: str, now: float) -> bool:
    return store.finalize(
        mbid,
        status=status,
        passed=passed,
        sub_code="200" if passed == "Y" else "205",
        result_key=key,
        identity_masked=None,
        result_version=int(now * 1000),
        now=now,
    )


def test_a_late_verdict_over_an_abandonment_never_overwrites_a_rival_verdict_that_landed_after_its_read(
    two_instances: tuple[TablestoreTransactionStore, TablestoreTransactionStore],
) -> None:
    """Two late verdicts race over an ABANDONED row (a callback and a re-check, each with its own answer). Ours
    finds the row ABANDONED; before its second write the rival's verdict lands. Ours must lose: a verdict is never
    overwritten, and the rival has already been announced from its own result.

    Mutation T03 (tablestore_store.py, finalize's write over ABANDONED):
    ``- condition = self._expect_exist(self._eq(STATUS, Status.ABANDONED.value))``
    ``+ condition = self._expect_exist()``"""
    ours, rivals = two_instances
    record = make_record()
    ours.create(record)
    mbid = record.merchant_biz_id
    assert ours.mark_abandoned(mbid, NOW)
    seam = _watch(ours)
    rival_won: list[bool] = []

    def rival_lands_after_our_read(operation: str) -> None:
        # our first UpdateRow (PENDING) was refused, our GetRow read the row ABANDONED: the rival finalizes now
        if operation == "UpdateRow" and seam.sent.count("UpdateRow") == 2 and not rival_won:
            rival_won.append(_finalize(rivals, mbid, "FAILED", "N", f"results/{mbid}/rival/result.json", NOW + 10))

    seam.before = rival_lands_after_our_read
    won = _finalize(ours, mbid, "PASSED", "Y", f"results/{mbid}/ours/result.json", NOW + 20)

    assert rival_won == [True], "the rival's verdict did not land between our read and our write"
    row = ours.get(mbid)
    assert row is not None
    assert (won, row.status, row.result_key) == (False, "FAILED", f"results/{mbid}/rival/result.json"), (
        f"a verdict was overwritten: our finalize answered {won}, the row now says {row.status} {row.result_key}"
    )


def test_a_check_recorded_after_a_rival_finalized_the_row_leaves_the_verdict_due_for_its_outbox(
    two_instances: tuple[TablestoreTransactionStore, TablestoreTransactionStore],
) -> None:
    """The sweeper reads a PENDING row for ``record_check``; a callback's verdict lands before the sweeper's write.
    The write must not land on the final row: its due (CHECK at the next check) would replace the verdict's OUTBOX
    due, and a verdict whose notification was lost (a crash before the enqueue) would never be announced.

    Mutation T12 (tablestore_store.py, ``record_check``'s condition): the status dropped,
    ``- self._all(self._eq(STATUS, Status.PENDING.value), self._eq("check_count", current.check_count))``
    ``+ self._eq("check_count", current.check_count)``. The SDK-level test of the request's shape
    (tests/storage/test_tablestore.py) catches it too; this one shows what it costs."""
    ours, rivals = two_instances
    record = make_record()
    ours.create(record)
    mbid = record.merchant_biz_id
    seam = _watch(ours)
    rival_won: list[bool] = []

    def rival_finalizes_after_our_read(operation: str) -> None:
        if operation == "UpdateRow" and not rival_won:
            rival_won.append(_finalize(rivals, mbid, "PASSED", "Y", f"results/{mbid}/a/result.json", NOW))

    seam.before = rival_finalizes_after_our_read
    recorded = ours.record_check(mbid, now=NOW + 1, next_check_at=NOW + 3600, error="HTTP503")

    assert rival_won == [True]
    row = ours.get(mbid)
    assert row is not None and row.status == "PASSED"
    outbox = [r.merchant_biz_id for r in ours.due(DueKind.OUTBOX, NOW + 10)[0]]
    assert (recorded, row.check_count, outbox) == (False, 0, [mbid]), (
        f"a check was written over a verdict: recorded={recorded}, check_count={row.check_count}, "
        f"due for the outbox: {outbox}"
    )
