"""Erasure and retention leave no copy of a person's data behind, and say exactly what they did (found by review)."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from shared import jsonutil
from shared.auth import hash_user_id
from shared.cloudauth import DeleteVerifyResultResponse, ThrottlingError, TransactionIdInvalid
from shared.fetcher import delete_kept_result
from shared.handlers.result_fetcher import ResultFetcherApp
from shared.ids import result_prefix
from shared.storage import StorageError
from shared.sweeper import VENDOR_COPY_RETRY_SECONDS, VENDOR_COPY_WAIT_SECONDS
from tests.fakes import T0, FakeCloudAuth, SimulatedCrash, Stack, check_result_body, drain

DAY = 86400.0


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path)
    yield s
    s.close()


class _VendorKeepsItsCopy(FakeCloudAuth):
    """DeleteResult N to every deletion (as while it cannot delete yet), except the TransactionIds in ``deletes``."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body)
        self.deletes: set[str] = set()

    def delete_verify_result(
        self, transaction_id: str, *, delete_after_query: bool | str, delete_type: str = "All"
    ) -> DeleteVerifyResultResponse:
        self.delete_calls.append(transaction_id)
        ok = transaction_id in self.deletes
        return DeleteVerifyResultResponse(deleted=ok, delete_result="Y" if ok else "N", transaction_id=transaction_id)


def test_retention_keeps_a_row_whose_vendor_copy_deletion_is_still_owed_within_the_vendor_s_30_days(
    stack: Stack,
) -> None:
    # KYC_DELETE_VENDOR_COPY=Y and a retention shorter than the vendor's 30 days: the outbox retries a refused
    # deletion hourly "until the vendor's 30 days are over", but retention deletes the row (the only place the
    # TransactionId is kept) as soon as the announcement's hold is over. The vendor's copy (images, identity) then
    # stays until its own 30 days, and nothing can ask for its deletion again (the row, and so `kyc erase`, is gone).
    vendor = _VendorKeepsItsCopy(check_result_body("Y"))
    record = stack.pending(created_at=T0 - 2 * DAY)
    sweeper = stack.sweeper(stack.fetcher(vendor, delete_vendor_copy=True), retention_days=1)
    assert sweeper.sweep().finalized == 1
    stack.clock.advance(sweeper.settings.settled_hold_seconds + 1)
    sweeper.sweep()
    assert vendor.delete_calls, "the deletion was asked for (and refused)"
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and not row.vendor_copy_deleted, "the row holding the TransactionId went first"


def test_erase_counts_as_erased_every_transaction_it_reports_deleted_when_new_ones_keep_appearing(
    stack: Stack,
) -> None:
    # The user keeps starting verifications during the erasure: each listing finds one more. After its passes
    # `erase` rightly exits 1 ("run erase again"), but it adds that note to `failed` and subtracts it from
    # `erased`, so the summary understates what was erased (and claims a failed transaction that does not exist).
    import io

    from shared.auth import hash_user_id
    from tools.ops import kyc, transactions
    from tools.ops.common import Context

    pepper = "review-pepper-0123456789"
    owner = hash_user_id("carol", pepper)
    stack.pending(merchant_user_id=owner)

    class StartsOneMoreAtEachListing:
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def __getattr__(self, attr: str) -> Any:
            return getattr(self._inner, attr)

        def list_by_user(self, merchant_user_id: str, **kwargs: Any) -> Any:
            if kwargs.get("cursor") is None:
                stack.pending(merchant_user_id=merchant_user_id)
            return self._inner.list_by_user(merchant_user_id, **kwargs)

    stores = SimpleNamespace(transactions=StartsOneMoreAtEachListing(stack.store), objects=stack.objects)
    out, err = io.StringIO(), io.StringIO()
    ctx = Context(env={"KYC_USER_ID_PEPPER": pepper}, stdout=out, stderr=err, stdin=io.StringIO(),
                  client_factory=lambda env: FakeCloudAuth(),  # type: ignore[arg-type,return-value]
                  stores_factory=lambda env: stores)  # type: ignore[arg-type,return-value]
    args = kyc.build_parser().parse_args(["erase", "--user", "carol", "--yes"])

    assert transactions.run_erase(args, ctx) == 1 and "kept appearing" in err.getvalue()
    summary = jsonutil.loads(out.getvalue())
    deleted = [t for t in summary["transactions"] if t["row"] == "deleted"]
    assert len(deleted) == len(summary["transactions"]) == 4
    assert summary["erased"] == len(deleted), summary


def test_retention_deletes_the_row_once_the_vendor_has_deleted_its_copy(stack: Stack) -> None:
    vendor = _VendorKeepsItsCopy(check_result_body("Y"))
    record = stack.pending(created_at=T0 - 2 * DAY)
    sweeper = stack.sweeper(stack.fetcher(vendor, delete_vendor_copy=True), retention_days=1)
    sweeper.sweep()
    stack.clock.advance(sweeper.settings.settled_hold_seconds + 1)
    sweeper.sweep()
    assert stack.store.get(record.merchant_biz_id) is not None
    stack.store.mark_vendor_copy_deleted(record.merchant_biz_id)  # the outbox's next retry got it deleted
    assert sweeper.sweep().expired == 1 and stack.store.get(record.merchant_biz_id) is None


def test_past_retention_our_copy_of_the_images_goes_even_while_the_vendor_copy_deletion_is_owed(stack: Stack) -> None:
    vendor = _VendorKeepsItsCopy(check_result_body("Y"))
    record = stack.pending(created_at=T0 - 2 * DAY)
    sweeper = stack.sweeper(stack.fetcher(vendor, delete_vendor_copy=True), retention_days=1)
    assert sweeper.sweep().finalized == 1
    assert stack.objects.list(result_prefix(record.merchant_biz_id)), "the fetch kept the result and its images"
    stack.clock.advance(sweeper.settings.settled_hold_seconds + 1)
    sweeper.sweep()
    assert stack.store.get(record.merchant_biz_id) is not None  # kept for the TransactionId
    assert stack.objects.list(result_prefix(record.merchant_biz_id)) == []  # but retention is over for our copy


def test_a_row_owing_a_vendor_deletion_waits_at_most_two_days_from_its_verdict_then_goes(stack: Stack) -> None:
    vendor = _VendorKeepsItsCopy(check_result_body("Y"))
    record = stack.pending(created_at=T0 - 2 * DAY)
    sweeper = stack.sweeper(stack.fetcher(vendor, delete_vendor_copy=True), retention_days=1)
    sweeper.sweep()
    stack.clock.advance(VENDOR_COPY_WAIT_SECONDS - 60)
    sweeper.sweep()
    assert stack.store.get(record.merchant_biz_id) is not None
    stack.clock.advance(120)
    assert sweeper.sweep().expired == 1 and stack.store.get(record.merchant_biz_id) is None


def test_rows_owing_a_vendor_deletion_hold_back_a_younger_rows_retention_only_until_their_wait_ends(
    stack: Stack,
) -> None:
    vendor = _VendorKeepsItsCopy(check_result_body("Y"))
    owed = [stack.pending(created_at=T0 - 3 * DAY + i) for i in range(3)]  # oldest: the head of the index
    younger = stack.pending(created_at=T0 - 2 * DAY)
    vendor.deletes.add(younger.transaction_id)  # the vendor deleted this one's copy at once: it owes nothing
    sweeper = stack.sweeper(stack.fetcher(vendor, delete_vendor_copy=True), retention_days=1, batch_size=2)
    for _ in range(3):
        sweeper.sweep()
    assert all(stack.store.get(r.merchant_biz_id) is not None for r in owed)
    stack.clock.advance(VENDOR_COPY_WAIT_SECONDS + 1)
    for _ in range(3):
        sweeper.sweep()
    assert stack.store.get(younger.merchant_biz_id) is None


def test_past_retention_our_copy_goes_for_every_row_owing_a_vendor_deletion_not_only_a_batch_of_them(
    stack: Stack,
) -> None:
    # Found by review: rows waiting for the vendor's copy count as stepped over in retention's creation order, so
    # when retention deleted their objects, only the batch at the head of the index lost them. Step 2 visits every
    # waiting row through the due index at its hourly retry.
    vendor = _VendorKeepsItsCopy(check_result_body("Y"))
    owed = [stack.pending(created_at=T0 - 3 * DAY + i) for i in range(3)]
    sweeper = stack.sweeper(stack.fetcher(vendor, delete_vendor_copy=True), retention_days=1, batch_size=2)
    for _ in range(2):
        sweeper.sweep()
    assert all(stack.objects.list(result_prefix(r.merchant_biz_id)) for r in owed), "each fetch kept its result"
    stack.clock.advance(sweeper.settings.settled_hold_seconds + 1)
    for _ in range(3):
        sweeper.sweep()
        stack.clock.advance(VENDOR_COPY_RETRY_SECONDS)  # step 2 retries each refused deletion an hour later
    assert all(stack.store.get(r.merchant_biz_id) is not None for r in owed)  # kept for their TransactionIds
    left = [r.merchant_biz_id for r in owed if stack.objects.list(result_prefix(r.merchant_biz_id))]
    assert left == [], f"objects kept past retention: {left}"


def test_erase_without_yes_off_a_terminal_deletes_nothing_when_the_rows_show_only_on_its_second_look(
    stack: Stack,
) -> None:
    # The user index follows the table by milliseconds: a row written just before the erasure shows up only on the
    # second listing. Erase asked only when its first listing found rows, so it erased those without anyone's yes.
    import io

    from shared.auth import hash_user_id
    from tools.ops import kyc, transactions
    from tools.ops.common import Context, UsageError

    pepper = "review-pepper-0123456789"
    record = stack.pending(merchant_user_id=hash_user_id("dave", pepper))

    class IndexLagsOnce:
        def __init__(self, inner: Any) -> None:
            self._inner, self.listings = inner, 0

        def __getattr__(self, attr: str) -> Any:
            return getattr(self._inner, attr)

        def list_by_user(self, merchant_user_id: str, **kwargs: Any) -> Any:
            self.listings += 1
            return ([], None) if self.listings == 1 else self._inner.list_by_user(merchant_user_id, **kwargs)

    vendor = FakeCloudAuth()
    stores = SimpleNamespace(transactions=IndexLagsOnce(stack.store), objects=stack.objects)
    ctx = Context(env={"KYC_USER_ID_PEPPER": pepper}, stdout=io.StringIO(), stderr=io.StringIO(),
                  stdin=io.StringIO(),  # not a terminal
                  client_factory=lambda env: vendor,  # type: ignore[arg-type,return-value]
                  stores_factory=lambda env: stores)  # type: ignore[arg-type,return-value]
    args = kyc.build_parser().parse_args(["erase", "--user", "dave"])  # no --yes

    with pytest.raises(UsageError, match="refusing without --yes"):
        transactions.run_erase(args, ctx)
    assert stack.store.get(record.merchant_biz_id) is not None and vendor.delete_calls == []


# -- a fetch whose row is erased while its own writes fail (review kk) ------------------------------------------


class _SecondPutFails:
    """The object store, whose second ``put`` fails transiently (an OSS 503, a reset connection) after the first
    one, an image, was written."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.puts = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.puts += 1
        if self.puts == 2:
            raise StorageError("oss PutObject failed: ServiceUnavailable", transient=True, code="ServiceUnavailable")
        self._inner.put(key, data, content_type)


def _erased_while_the_vendor_answers(stack: Stack, mbid: str) -> FakeCloudAuth:
    """``kyc erase`` (its ``delete_kept_result``: objects, row, objects) completes while CheckResult is in flight."""
    client = FakeCloudAuth()
    client.before_check = lambda: delete_kept_result(stack.store, stack.objects, mbid)
    return client


def _drain_rechecks(stack: Stack, fetcher: Any) -> None:
    app = ResultFetcherApp(fetcher)
    drain(stack.recheck, lambda body: app.fetcher.fetch(body["merchantBizId"], attempt=body["attempt"]), stack.clock)


def test_a_sweeper_fetch_whose_row_is_erased_and_whose_object_write_fails_leaves_no_images_behind(
    stack: Stack,
) -> None:
    record = stack.pending()
    mbid = record.merchant_biz_id
    objects = _SecondPutFails(stack.objects)
    fetcher = stack.fetcher(_erased_while_the_vendor_answers(stack, mbid), objects=objects)
    stack.clock.advance(3600)  # silent past KYC_SWEEP_AFTER: the sweeper's

    stack.sweeper(fetcher).sweep()
    _drain_rechecks(stack, fetcher)  # whatever the fetch queued for later runs to the end

    assert stack.store.get(mbid) is None  # erased
    left = stack.objects.list(result_prefix(mbid))
    assert left == [], f"objects of an erased verification left where nothing deletes them: {left}"


def test_a_callback_fetch_whose_row_is_erased_and_whose_object_write_fails_leaves_no_images_behind(
    stack: Stack,
) -> None:
    """The callback of a transaction whose re-check chain has started (its row records re-check 1): the fetch
    queues no re-check of its own."""
    record = stack.pending(recheck_attempt=1)
    mbid = record.merchant_biz_id
    objects = _SecondPutFails(stack.objects)
    fetcher = stack.fetcher(_erased_while_the_vendor_answers(stack, mbid), objects=objects)

    fetcher.fetch(mbid)  # what ResultFetcherApp.callback calls
    _drain_rechecks(stack, fetcher)

    assert stack.store.get(mbid) is None
    left = stack.objects.list(result_prefix(mbid))
    assert left == [], f"objects of an erased verification left where nothing deletes them: {left}"


class _UnreadableStore:
    """The transaction store, whose reads fail once the row has been erased (a Tablestore outage at that moment)."""

    def __init__(self, inner: Any, mbid: str) -> None:
        self._inner, self._mbid = inner, mbid

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def get(self, merchant_biz_id: str) -> Any:
        if self._inner.get(self._mbid) is None:
            raise StorageError("ots GetRow failed: ServerBusy", transient=True, code="OTSServerBusy")
        return self._inner.get(merchant_biz_id)


def test_a_fetch_that_cannot_read_whether_its_erased_row_is_gone_leaves_a_re_check_that_deletes_its_images(
    stack: Stack,
) -> None:
    record = stack.pending(recheck_attempt=1)
    mbid = record.merchant_biz_id
    fetcher = stack.fetcher(_erased_while_the_vendor_answers(stack, mbid), objects=_SecondPutFails(stack.objects),
                            store=_UnreadableStore(stack.store, mbid))
    fetcher.fetch(mbid)
    assert stack.objects.list(result_prefix(mbid)) != []  # the image written before the failure
    _drain_rechecks(stack, stack.fetcher(FakeCloudAuth()))
    assert stack.objects.list(result_prefix(mbid)) == []


# -- kyc erase: what it deletes, what it keeps, what it says (found by mutating tools/ops/transactions.py) ---------

ERASE_PEPPER = "erasure-pepper-0123456789"


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _erase(
    stack: Stack,
    vendor: FakeCloudAuth,
    *,
    transactions: Any = None,
    argv: tuple[str, ...] = ("--yes",),
    stdin: io.StringIO | None = None,
    sleeps: list[float] | None = None,
    pepper: str = ERASE_PEPPER,
) -> tuple[int, dict[str, Any], str]:
    """``kyc erase --user carol`` over ``stack`` (its rows through ``transactions`` when given): the exit status, the
    summary it prints, and what it says on stderr."""
    from tools.ops import kyc
    from tools.ops import transactions as commands
    from tools.ops.common import Context

    stores = SimpleNamespace(transactions=transactions or stack.store, objects=stack.objects)
    out, err = io.StringIO(), io.StringIO()
    ctx = Context(env={"KYC_USER_ID_PEPPER": pepper}, stdout=out, stderr=err, stdin=stdin or io.StringIO(),
                  client_factory=lambda env: vendor,  # type: ignore[arg-type,return-value]
                  stores_factory=lambda env: stores,  # type: ignore[arg-type,return-value]
                  clock=stack.clock, sleep=(sleeps if sleeps is not None else []).append)
    code = commands.run_erase(kyc.build_parser().parse_args(["erase", "--user", "carol", *argv]), ctx)
    return code, jsonutil.loads(out.getvalue()), err.getvalue()


def _carol() -> str:
    return hash_user_id("carol", ERASE_PEPPER)


def _kept_verdict(stack: Stack) -> str:
    """A PASSED verification of carol with its kept result (document and images)."""
    record = stack.pending(merchant_user_id=_carol(), created_at=T0 - 3600)
    stack.fetcher(FakeCloudAuth(check_result_body("Y"))).fetch(record.merchant_biz_id)
    assert stack.objects.list(result_prefix(record.merchant_biz_id))
    return record.merchant_biz_id


class _Wrapped:
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._inner, attr)


class _ThrottlesFirst(FakeCloudAuth):
    """Throttles the first ``times`` deletions (more than the client's own retries absorbed), then deletes."""

    def __init__(self, times: int) -> None:
        super().__init__()
        self.times = times

    def delete_verify_result(
        self, transaction_id: str, *, delete_after_query: bool | str, delete_type: str = "All"
    ) -> DeleteVerifyResultResponse:
        self.delete_calls.append(transaction_id)
        if self.times:
            self.times -= 1
            raise ThrottlingError("Request was denied due to user flow control.", status=400, code="Throttling.User")
        return DeleteVerifyResultResponse(deleted=True, delete_result="Y", transaction_id=transaction_id)


class _KnowsNothing(FakeCloudAuth):
    def delete_verify_result(
        self, transaction_id: str, *, delete_after_query: bool | str, delete_type: str = "All"
    ) -> DeleteVerifyResultResponse:
        self.delete_calls.append(transaction_id)
        raise TransactionIdInvalid("TransactionId is invalid", status=400)


def test_erase_keeps_a_verdict_whose_vendor_copy_the_vendor_will_not_delete_and_counts_it_failed(
    stack: Stack,
) -> None:
    mbid = _kept_verdict(stack)
    code, summary, _ = _erase(stack, _VendorKeepsItsCopy(check_result_body("Y")))
    (item,) = summary["transactions"]
    assert code == 1 and (summary["erased"], summary["failed"]) == (0, 1)
    assert item["vendor"] == "not deleted (DeleteResult N)" and item["row"].startswith("kept: run erase again")
    assert stack.store.get(mbid) is not None  # its TransactionId, to ask the vendor again
    assert stack.objects.list(result_prefix(mbid)) == []  # our copy goes at once


def test_erase_waits_one_two_then_four_seconds_between_tries_of_a_throttled_deletion(stack: Stack) -> None:
    mbid = _kept_verdict(stack)
    vendor, sleeps = _ThrottlesFirst(3), list[float]()
    code, summary, _ = _erase(stack, vendor, sleeps=sleeps)
    assert (code, summary["transactions"][0]["vendor"]) == (0, "deleted")
    assert sleeps == [1.0, 2.0, 4.0] and len(vendor.delete_calls) == 4
    assert stack.store.get(mbid) is None


def test_erase_still_throttled_after_its_last_wait_keeps_the_row_for_a_retry(stack: Stack) -> None:
    mbid = _kept_verdict(stack)
    vendor = _ThrottlesFirst(4)
    code, summary, _ = _erase(stack, vendor)
    (item,) = summary["transactions"]
    assert (code, summary["failed"], item["vendor"]) == (1, 1, "error: Throttling.User")
    assert len(vendor.delete_calls) == 4 and stack.store.get(mbid) is not None


def test_erase_of_a_row_gone_before_its_tombstone_deletes_what_is_left_of_it_without_asking_the_vendor(
    stack: Stack,
) -> None:
    """A fetch finishing an earlier erasure (or retention) deletes the row between the listing and the tombstone:
    nothing leads to its objects any more, so this run deletes them, and it is no failure."""
    record = stack.pending(merchant_user_id=_carol())
    mbid = record.merchant_biz_id
    stack.objects.put(result_prefix(mbid) + "face.png", b"left by a fetch", "image/png")

    class RowGoesFirst(_Wrapped):
        def mark_erased(self, merchant_biz_id: str, now: float) -> bool:
            self._inner.delete(merchant_biz_id)
            return bool(self._inner.mark_erased(merchant_biz_id, now))

    vendor = FakeCloudAuth()
    code, summary, _ = _erase(stack, vendor, transactions=RowGoesFirst(stack.store))
    (item,) = summary["transactions"]
    assert code == 0 and (summary["erased"], summary["failed"]) == (1, 0)
    assert (item["vendor"], item["row"], item["objects"]) == ("not asked", "already gone", 1)
    assert vendor.delete_calls == [] and stack.objects.list(result_prefix(mbid)) == []


def test_erase_whose_tombstone_cannot_be_written_asks_the_vendor_nothing_and_exits_1(stack: Stack) -> None:
    record = stack.pending(merchant_user_id=_carol())

    class TombstoneFails(_Wrapped):
        def mark_erased(self, merchant_biz_id: str, now: float) -> bool:
            raise StorageError("ots UpdateRow failed", transient=True, code="OTSServerBusy")

    vendor = FakeCloudAuth()
    code, summary, _ = _erase(stack, vendor, transactions=TombstoneFails(stack.store))
    (item,) = summary["transactions"]
    assert code == 1 and (summary["erased"], summary["failed"]) == (0, 1)
    assert (item["vendor"], item["row"]) == ("not asked", "error: OTSServerBusy")
    assert vendor.delete_calls == []
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and row.status == "PENDING"


def test_erase_that_cannot_read_the_row_again_keeps_a_young_transaction_the_vendor_does_not_know(
    stack: Stack,
) -> None:
    """"Unknown to the vendor" within its 30 days is taken as done only if the row, read again, says this deployment
    deleted the vendor's copy; a row that cannot be read again is judged as listed: not confirmed, kept."""
    mbid = _kept_verdict(stack)

    class RowUnreadable(_Wrapped):
        def get(self, merchant_biz_id: str) -> Any:
            raise StorageError("ots GetRow failed", transient=True, code="OTSServerBusy")

    code, summary, _ = _erase(stack, _KnowsNothing(), transactions=RowUnreadable(stack.store))
    (item,) = summary["transactions"]
    assert code == 1 and item["vendor"].startswith("not confirmed")
    assert stack.store.get(mbid) is not None


def test_erase_reads_every_page_of_the_user_s_rows(stack: Stack) -> None:
    mbids = [stack.pending(merchant_user_id=_carol()).merchant_biz_id for _ in range(4)]

    class OneRowPages(_Wrapped):
        def list_by_user(self, merchant_user_id: str, *, limit: int = 100, cursor: str | None = None) -> Any:
            return self._inner.list_by_user(merchant_user_id, limit=1, cursor=cursor)

    code, summary, _ = _erase(stack, FakeCloudAuth(check_result_body("Y")), transactions=OneRowPages(stack.store))
    assert code == 0 and summary["erased"] == 4 and summary["newKeptAppearing"] is False
    assert sorted(t["merchantBizId"] for t in summary["transactions"]) == sorted(mbids)


def test_erase_at_a_terminal_asks_once_even_when_rows_appear_while_it_erases(stack: Stack) -> None:
    stack.pending(merchant_user_id=_carol())

    class OneMoreOnTheSecondLook(_Wrapped):
        looks = 0

        def list_by_user(self, merchant_user_id: str, **kwargs: Any) -> Any:
            self.looks += 1
            if self.looks == 2:
                stack.pending(merchant_user_id=merchant_user_id)
            return self._inner.list_by_user(merchant_user_id, **kwargs)

    code, summary, err = _erase(stack, FakeCloudAuth(check_result_body("Y")),
                                transactions=OneMoreOnTheSecondLook(stack.store), argv=(), stdin=_Tty("yes\n"))
    assert code == 0 and len(summary["transactions"]) == 2
    assert err.count("Type 'yes' to continue") == 1


def test_erase_says_in_its_summary_that_new_transactions_kept_appearing(stack: Stack) -> None:
    stack.pending(merchant_user_id=_carol())

    class OneMoreAtEachLook(_Wrapped):
        def list_by_user(self, merchant_user_id: str, **kwargs: Any) -> Any:
            stack.pending(merchant_user_id=merchant_user_id)
            return self._inner.list_by_user(merchant_user_id, **kwargs)

    code, summary, _ = _erase(stack, FakeCloudAuth(), transactions=OneMoreAtEachLook(stack.store))
    assert code == 1 and summary["newKeptAppearing"] is True


def test_erase_of_a_user_without_transactions_says_to_check_the_pepper(stack: Stack) -> None:
    stack.pending(merchant_user_id=hash_user_id("dave", ERASE_PEPPER))
    code, summary, err = _erase(stack, FakeCloudAuth())
    assert (code, summary["transactions"], summary["erased"]) == (0, [], 0)
    assert "no transactions found for this user (check KYC_USER_ID_PEPPER" in err


def test_erase_registers_the_pepper_as_a_secret_no_log_line_may_show(stack: Stack) -> None:
    from shared.redaction import scrub_text

    pepper = "erase-pepper-" + uuid.uuid4().hex
    _erase(stack, FakeCloudAuth(), pepper=pepper)
    assert pepper not in scrub_text(f"a message that quotes {pepper} by mistake")


def test_erase_at_a_terminal_takes_an_empty_answer_for_no(stack: Stack) -> None:
    from tools.ops.common import UsageError

    record = stack.pending(merchant_user_id=_carol())
    vendor = FakeCloudAuth()
    with pytest.raises(UsageError, match="not confirmed"):
        _erase(stack, vendor, argv=(), stdin=_Tty("\n"))
    assert vendor.delete_calls == [] and stack.store.get(record.merchant_biz_id) is not None


def test_an_erasure_cut_off_deleting_the_row_has_deleted_the_objects_already(stack: Stack) -> None:
    """Objects first: the row still leads to anything left, and running the erasure again finishes it."""
    mbid = _kept_verdict(stack)

    class RowDeletionCrashes(_Wrapped):
        def delete(self, merchant_biz_id: str) -> None:
            raise SimulatedCrash

    with pytest.raises(SimulatedCrash):
        delete_kept_result(RowDeletionCrashes(stack.store), stack.objects, mbid)
    assert stack.objects.list(result_prefix(mbid)) == [] and stack.store.get(mbid) is not None
