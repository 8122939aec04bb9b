"""The sweeper: the recovery path for everything the callback and the queues did not finish.

Run by a timer trigger (and ``./scripts/kyc sweep``). It reads only rows that are due (``TransactionStore.due``:
an index of the rows with work left, :mod:`shared.storage.due`) or in the retention window, never the table.
Each pass:

1. PENDING rows the callback path left silent: those never rescheduled once older than ``KYC_SWEEP_AFTER``, and
   those whose next check has come (and are older than ``KYC_SWEEP_AFTER``: before that the quick re-checks of
   the queue own them) are fetched (CheckResult). A row still PENDING after it becomes ABANDONED (conditionally)
   and is notified when it is past ``KYC_ABANDON_AFTER`` and the fetch says it cannot end otherwise — the vendor
   still reports it unfinished, no longer knows it, or refuses it (:func:`~shared.fetcher.refuses_transaction`,
   an unparseable answer) — and in any case once it is past :attr:`SweepSettings.settle_by_seconds` (transient
   failures: the vendor's 5xx, timeouts, throttling, our credentials or storage failing). The others get their
   next check with backoff (at most an hour). An ABANDONED row is still finalized by a late verdict (a callback);
   the policy and its bounds are in ``docs/architecture.md`` ("Retry policy");
2. the outbox: final rows whose notification was never confirmed as enqueued (a crash between the row update and
   the enqueue) are enqueued again, after a grace period so a fetch still in flight finishes first; likewise the
   vendor's copy is deleted when ``KYC_DELETE_VENDOR_COPY`` is on and the fetch did not get to it (a refused
   deletion is retried an hour later, until the vendor's 30 days are over); a row that turns out to owe nothing
   stops being due. Erasures too: an ERASED tombstone (``kyc erase`` of a flow the vendor would not delete yet) has
   the vendor's copy deleted as soon as the vendor agrees — the person finished the flow and no callback finished
   the erasure — and then goes with its row (:meth:`~shared.fetcher.ResultFetcher.finish_erasure`); tried hourly,
   the same grace period after the erasure, and past the vendor's 30 days the tombstone goes without asking (or at
   retention, below, when that comes first). No vendor deletion (of a verdict's copy, of a tombstone's flow) is
   started once less than ``RETENTION_RESERVE_SHARE`` of the pass is left, for steps 3-4;
3. retention: rows and objects created more than ``KYC_RETENTION_DAYS`` ago are deleted (when set), oldest first,
   read page by page through the creation-time index. A row that may not go yet is stepped over, and the pass
   reads on past it: one still PENDING (step 1 settles it: every row is settled before its retention ends), one
   whose notification is not confirmed enqueued (step 2), one settled (or notified, when step 2 repaired that late)
   more recently than its announcement may still be read (``SweepSettings.settled_hold_seconds``: the first
   delivery's ``SETTLED_KEEP_SECONDS``, then the notifier's longest retries, :mod:`shared.webhook_retries`), one
   whose vendor copy step 2 still has to delete (the row holds the only TransactionId to ask with;
   ``VENDOR_COPY_WAIT_SECONDS`` from its verdict at most; its objects go meanwhile, at step 2's next hourly
   retry), an erasure's tombstone for as long from the erasure (step 2 asks the vendor hourly meanwhile; a flow the
   person finishes later is kept by the vendor up to its 30 days, never here). Each of those ends, so stepped-over
   rows delay the deletion of later ones for a while, never for good; a pass steps over at most ``KYC_SWEEP_BATCH``
   rows, so it reads at most twice the batch (plus a page) whatever the table holds. The decision is taken on the row
   as the page read it, so the row is deleted only if it is still that row (status, ``updated_at``, the notification
   confirmed: :meth:`~shared.storage.TransactionStore.delete_unchanged`): a late verdict that replaced an ABANDONED
   row meanwhile keeps it, and its objects, for its own announcement. The order of the row and object deletions
   (objects first for a verdict, the row first for an ABANDONED row a fetch may still finalize) is
   :func:`~shared.fetcher.delete_kept_result`'s;
4. rate-limit counters of past windows are deleted where the backend does not expire them itself (SQLite;
   Tablestore's rate table has a TTL).

Each step works on at most ``KYC_SWEEP_BATCH`` rows, earliest due first; the rest waits for the next pass (the
vendor's QPS is shared with live traffic). A pass also has the invocation's time (:class:`~shared.fc.budget.
InvocationBudget`, from the function's timeout): step 1 starts no further row once less than
``RECHECK_RESERVE_SHARE`` of the budget is left — the rest is kept for steps 2-4, so an outage in which every
CheckResult takes its whole deadline cannot starve the outbox and retention — and each later step starts no further
row once the budget is spent. What is left waits for the next pass; the report says which steps stopped early.
Every step is conditional or idempotent, so sweeps may overlap each
other and the callback path; a row the index still lists but that moved on is skipped by the store.

The fetcher the function's sweeper works with is built at its first use (:class:`DeferredFetcher`): a pass with
nothing to re-check, announce or delete at the vendor never loads the fetching code (the vendor client, the result
parsers), which most timer runs of a healthy deployment are (docs/performance.md).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator

from shared.config import Env, env_float, env_int, environ
from shared.fc.budget import InvocationBudget
from shared.fetch_settings import (
    OUTBOX_WINDOW_SECONDS,
    V2_EXPIRY_GRACE_SECONDS,
    V2_FINISH_WITHIN_SECONDS,
    VENDOR_RESULT_DAYS,
)
from shared.ids import result_prefix
from shared.lazy import Lazy
from shared.log import get_logger, log_context
from shared.products import INITIALIZE_V2, PRODUCTS
from shared.status import TERMINAL, Status
from shared.storage import DueKind, StorageError, TransactionRecord
from shared.values import field, valueclass
from shared.webhook_retries import longest_retry_seconds, retry_schedule_from_env

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from shared.fetcher import FetchOutcome, ResultFetcher
    from shared.storage import ObjectStore, TransactionStore

logger = get_logger("kyc.sweeper")

OUTBOX_GRACE_SECONDS = 60.0
#: A settled row is kept this long before retention deletes it for its notification's first delivery to read it,
#: and then as long as the notifier's follow-ups may (``SweepSettings.settled_hold_seconds``). Only rows settled
#: near their retention age ever wait for it.
SETTLED_KEEP_SECONDS = 3600.0
VENDOR_COPY_RETRY_SECONDS = 3600.0  # a refused deletion (DeleteResult N, an error) is tried again an hour later
#: How long retention keeps a row past its retention, counted from its verdict, while step 2 still has to delete the
#: vendor's copy (the row holds the only TransactionId to ask with); step 2's hourly retry deletes its objects once
#: the row is past retention. Then the row goes too (``sweep.vendor_copy_left``): the vendor deletes its copy itself
#: within its 30 days. A bound, so that such rows at the head of the creation index hold back younger rows' retention
#: for at most this long.
VENDOR_COPY_WAIT_SECONDS = 2 * 86400.0
MAX_SWEEP_BACKOFF_SECONDS = 3600.0
#: The share of a pass's time kept for steps 2-4: step 1 (a CheckResult per row, up to the vendor's deadline each)
#: starts no row once less is left. Half: the outbox and retention do at most a batch of cheap store calls each.
RECHECK_RESERVE_SHARE = 0.5
#: The share of a pass's time kept for retention and the rate counters: step 2's vendor calls (a DeleteVerifyResult
#: per verdict whose copy is owed, and per erasure tombstone, up to the vendor's deadline each) start no row once less
#: is left, so that a vendor outage with many of them due cannot starve retention either. A quarter: more than a
#: vendor call's deadline (``CLOUDAUTH_CALL_DEADLINE``, 25 s) of the sweeper's 240 s, so a call started before it
#: ends within the pass.
RETENTION_RESERVE_SHARE = 0.25
_LATEST = 2.0**40  # seconds: later than any next check (year 36812), and still an int64 in milliseconds


def _started_v2(product_code: str | None) -> bool:
    """Whether the product's flows are started with InitializeV2 (the vendor gives them 30 minutes)."""
    product = PRODUCTS.get(product_code or "")
    return product is not None and product.start_operation == INITIALIZE_V2


@valueclass
class SweepSettings:
    sweep_after_seconds: float
    abandon_after_seconds: float
    retention_days: int
    batch_size: int
    #: The notifier's retry schedule (``KYC_WEBHOOK_RETRY_SCHEDULE``, the notifier's own setting): retention keeps
    #: a settled row until its last follow-up may have read it.
    webhook_retry_schedule: tuple[float, ...]

    @property
    def settled_hold_seconds(self) -> float:
        """How long after it settled a row is kept for its announcement: the first delivery, then the notifier's
        scheduled follow-ups at their longest (a failing subscriber's event is rebuilt from the row;
        :mod:`shared.webhook_retries`)."""
        return SETTLED_KEEP_SECONDS + longest_retry_seconds(self.webhook_retry_schedule)

    @property
    def settle_by_seconds(self) -> float:
        """The age by which a verification is settled (abandoned, if nothing else) whatever its fetches say: the
        vendor's retention of results, or this deployment's retention (``KYC_RETENTION_DAYS``) when shorter — a
        row is announced before retention deletes it. Transient failures are retried until then; when it is
        shorter than ``KYC_ABANDON_AFTER``, it is the earlier of the two that abandons."""
        vendor = VENDOR_RESULT_DAYS * 86400.0
        return min(vendor, self.retention_days * 86400.0) if self.retention_days > 0 else vendor

    @classmethod
    def from_env(cls, env: Env | None = None) -> SweepSettings:
        env = environ() if env is None else env
        return cls(
            sweep_after_seconds=env_float(env, "KYC_SWEEP_AFTER", 900.0),
            abandon_after_seconds=env_float(env, "KYC_ABANDON_AFTER", 86400.0),
            retention_days=env_int(env, "KYC_RETENTION_DAYS", 0, minimum=0),
            batch_size=env_int(env, "KYC_SWEEP_BATCH", 200, minimum=1, maximum=10000),
            webhook_retry_schedule=retry_schedule_from_env(env),
        )


@valueclass(frozen=False)
class SweepReport:
    checked: int = 0
    finalized: int = 0
    abandoned: int = 0
    still_pending: int = 0
    renotified: int = 0
    erased: int = 0
    expired: int = 0
    errors: list[str] = field(default_factory=list)
    #: The steps that stopped for the pass's time budget, leaving work for the next pass.
    stopped_early: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "checked": self.checked,
            "finalized": self.finalized,
            "abandoned": self.abandoned,
            "stillPending": self.still_pending,
            "renotified": self.renotified,
            "erased": self.erased,
            "expired": self.expired,
            "errors": self.errors,
            "stoppedEarly": self.stopped_early,
        }


class DeferredFetcher:
    """A :class:`~shared.fetcher.ResultFetcher` built by ``build()`` at its first use, and the one setting the
    sweeper reads of it before then (whether it deletes the vendor's copies). A build that fails is a transient
    ``StorageError`` (code ``FetcherUnavailable`` unless it was one already), which ends the step that needed it and
    no other (:meth:`Sweeper.sweep`), and is tried again at the next use (:class:`shared.lazy.Lazy`). Every setting
    it is built from was checked when the function started."""

    __slots__ = ("_lazy", "deletes_vendor_copy")

    def __init__(self, build: Callable[[], ResultFetcher], *, deletes_vendor_copy: bool) -> None:
        self._lazy = Lazy(build, failed=_fetcher_unavailable)
        self.deletes_vendor_copy = deletes_vendor_copy

    def get(self) -> ResultFetcher:
        return self._lazy.get()


def _fetcher_unavailable(exc: Exception) -> Exception:
    if isinstance(exc, StorageError):
        return exc
    return StorageError(f"the fetcher could not be built: {type(exc).__name__}", transient=True,
                        code="FetcherUnavailable")


class Sweeper:
    def __init__(
        self,
        *,
        store: TransactionStore,
        objects: ObjectStore,
        fetcher: ResultFetcher | DeferredFetcher,
        settings: SweepSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``fetcher`` fetches, announces and deletes vendor copies exactly as the callback path does (built at its
        first use when deferred); ``store`` and ``objects`` are the ones it keeps results in (the sweeper reads the
        due rows and expires both)."""
        self.store = store
        self.objects = objects
        self._fetcher = fetcher
        self.settings = settings
        self.clock = clock
        self._budget = InvocationBudget.unbounded()
        self._recheck_reserve = 0.0
        self._retention_reserve = 0.0

    @property
    def fetcher(self) -> ResultFetcher:
        fetcher = self._fetcher
        return fetcher.get() if isinstance(fetcher, DeferredFetcher) else fetcher

    def sweep(self, budget: InvocationBudget | None = None) -> SweepReport:
        """One pass of the four steps, within ``budget`` (default: unbounded; see the module)."""
        self._budget = InvocationBudget.unbounded() if budget is None else budget
        self._recheck_reserve = self._budget.total * RECHECK_RESERVE_SHARE if self._budget.bounded else 0.0
        self._retention_reserve = self._budget.total * RETENTION_RESERVE_SHARE if self._budget.bounded else 0.0
        report = SweepReport()
        steps = (self._recheck_pending, self._repair_outbox, self._finish_erasures, self._expire,
                 self._expire_rate_counters)
        for step in steps:
            try:
                step(report)
            except StorageError as exc:  # one failing step must not stop the others
                logger.error("sweep.step_failed", extra={"step": step.__name__, "errorCode": exc.code})
                report.errors.append(f"{step.__name__}:{exc.code}")
        logger.info("sweep.done", extra=report.as_dict())
        return report

    def _time_for(self, step: str, report: SweepReport, *, reserve: float = 0.0) -> bool:
        """Whether ``step`` may start more work: more than ``reserve`` seconds of the pass are left. When not, the
        step is reported (once) as stopped early."""
        if self._budget.left() > reserve:
            return True
        if step not in report.stopped_early:
            report.stopped_early.append(step)
            logger.warning("sweep.budget_exhausted", extra={"step": step, "secondsLeft": round(self._budget.left(), 1)})
        return False

    def _due(self, kind: DueKind, before: float) -> Iterator[TransactionRecord]:
        """The rows due for ``kind`` by ``before``, earliest first, page by page (the store re-reads each row)."""
        cursor = None
        while True:
            rows, cursor = self.store.due(kind, before, limit=min(100, self.settings.batch_size), cursor=cursor)
            yield from rows
            if not cursor:
                return

    def _recheck_pending(self, report: SweepReport) -> None:
        now = self.clock()
        silent_since = now - self.settings.sweep_after_seconds
        rows = itertools.chain(self._due(DueKind.NEW, silent_since), self._due(DueKind.CHECK, now))
        stepped_over = 0
        # A row this pass checked and rescheduled may be due again before the pass ends (``KYC_SWEEP_AFTER=0``:
        # its next check is ``now``), and the CHECK walk then meets it after the NEW walk: one check a pass.
        checked: set[str] = set()
        for row in rows:
            if row.merchant_biz_id in checked:
                continue
            if row.status is not Status.PENDING or row.created_at > silent_since:
                # A quick re-check from the queue is due: not silent yet. Counted like checks: while the queue lags,
                # such rows fill the head of the index, and a pass reads a batch of them, not all (they leave it
                # as the queue catches up or as they age into the sweeper's).
                stepped_over += 1
                if stepped_over >= self.settings.batch_size:
                    return
                continue
            if report.checked >= self.settings.batch_size:
                return  # the rest waits for the next sweep (the vendor's QPS is shared with live traffic)
            if not self._time_for("recheck", report, reserve=self._recheck_reserve):
                return  # the rest of the pass's time is steps 2-4's
            report.checked += 1
            checked.add(row.merchant_biz_id)
            from shared.fetcher import FetchOutcome, RecheckNotScheduled  # noqa: PLC0415 - a pass with a row to check

            # No quick re-check: the sweeper reschedules below. The fetch's log lines name the row they are about.
            with log_context(merchant_biz_id=row.merchant_biz_id):
                try:
                    outcome = self.fetcher.fetch(row.merchant_biz_id, recheck=False)
                except RecheckNotScheduled as exc:
                    # The row was erased during the fetch, and what the fetch wrote could be neither deleted nor
                    # queued for deletion: only the bucket's lifecycle rule reaches those objects now. A timer has
                    # no trigger to retry, so the other rows and steps go on.
                    logger.error("sweep.orphans_left", extra={"errorCode": str(exc)})
                    report.errors.append(f"_recheck_pending:{exc}")
                    continue
                except StorageError:
                    raise  # the store is failing, not this row: the step ends (see sweep)
                except Exception as exc:  # one row's failure must not stop the pass for the rows after it
                    # (an answer nothing foresaw): logged with its type, then settled like a transient failure —
                    # checked again with backoff, abandoned past settle-by — so that a few such rows can neither
                    # stay PENDING for good nor take the head of the due index, and the batch, at every pass.
                    logger.error("sweep.recheck_failed", exc_info=exc)
                    report.errors.append(f"_recheck_pending:{type(exc).__name__}")
                    outcome = FetchOutcome("retry_later", error=type(exc).__name__)
            if outcome.kind == "finalized":
                report.finalized += 1
            if outcome.kind in {"finalized", "already_final", "unknown", "erased", "erasure_pending"}:
                continue
            reason = self._abandon_reason(now - row.created_at, outcome, row.product_code)
            if reason is not None:
                if self.abandon(row.merchant_biz_id, now, reason=reason, error=outcome.error):
                    report.abandoned += 1
                continue
            report.still_pending += 1
            backoff = min(self.settings.sweep_after_seconds * 2 ** min(row.check_count, 12), MAX_SWEEP_BACKOFF_SECONDS)
            self.store.record_check(row.merchant_biz_id, now=now, next_check_at=now + backoff, error=outcome.error)

    def _abandon_reason(self, age: float, outcome: FetchOutcome, product_code: str | None) -> str | None:
        """Why a row this fetch left PENDING, ``age`` seconds old, is abandoned now; None: check it again later."""
        if age >= self.settings.settle_by_seconds:
            return "settleBy"  # whatever the failure: no verification stays PENDING past this
        if outcome.unfinished and age >= V2_FINISH_WITHIN_SECONDS + V2_EXPIRY_GRACE_SECONDS and _started_v2(
            product_code
        ):
            return "expired"  # the vendor's 30 minutes to finish an InitializeV2 flow are over
        if age < self.settings.abandon_after_seconds:
            return None
        if outcome.kind == "pending":
            return "unfinished"  # the person walked away (a late verdict still replaces ABANDONED)
        if outcome.kind == "failed":
            return "unknownToVendor"
        if outcome.permanent:
            return "refused"  # the vendor (or the client's own check) refuses this transaction
        return None  # transient: retried until settle_by_seconds

    def abandon(self, merchant_biz_id: str, now: float, *, reason: str = "forgotten", error: str | None = None) -> bool:
        """PENDING → ABANDONED (conditionally), then announced; False when the row had moved on meanwhile.
        ``reason`` (and the last fetch's ``error``) go to the log line: :meth:`_abandon_reason`'s, or "forgotten"."""
        if not self.store.mark_abandoned(merchant_biz_id, now=now):
            return False
        extra = {"merchantBizId": merchant_biz_id, "reason": reason, "errorCode": error}
        logger.info("sweep.abandoned", extra=extra)
        self.fetcher.enqueue_notification(merchant_biz_id, Status.ABANDONED)
        return True

    def abandon_forgotten(self, created_before: float) -> int:
        """Abandon and announce, without asking the vendor, every PENDING row created before ``created_before``;
        return how many. Not a sweep step: only for a vendor known to have forgotten them (the local sandbox keeps
        its transactions in memory, so ``./scripts/dev`` calls this at start). Reads the PENDING rows through the
        due index (NEW and CHECK), never the table."""
        now = self.clock()
        pending = itertools.chain(self._due(DueKind.NEW, created_before), self._due(DueKind.CHECK, _LATEST))
        return sum(1 for row in pending if row.status is Status.PENDING and row.created_at < created_before
                   and self.abandon(row.merchant_biz_id, now))

    def _repair_outbox(self, report: SweepReport) -> None:
        now = self.clock()
        worked = settled = 0
        for row in self._due(DueKind.OUTBOX, now - OUTBOX_GRACE_SECONDS):
            if row.status not in TERMINAL:
                continue
            renotify = not row.notification_enqueued
            delete = self._vendor_copy_owed(row, now)
            if not (renotify or delete):
                # Owes nothing: settled, one write. A backlog of them (every verdict a backfill of the due index
                # listed) is worked off a batch a pass too, within the pass's time, like the rows that owe work.
                if settled >= self.settings.batch_size or not self._time_for("outbox", report):
                    return
                settled += 1
                self.store.set_outbox_due(row.merchant_biz_id, row.status, None)
                continue
            reserve = self._retention_reserve if delete else 0.0  # a vendor call: up to its deadline
            if worked >= self.settings.batch_size or not self._time_for("outbox", report, reserve=reserve):
                return
            worked += 1
            notified = renotify and self.fetcher.enqueue_notification(
                row.merchant_biz_id, row.status, vendor_copy_pending=delete
            )
            if notified:
                report.renotified += 1
                logger.warning("sweep.notification_repaired", extra={"merchantBizId": row.merchant_biz_id})
            # A crash after the row update skipped this step in the fetch; our copy is stored by now.
            if delete and not self.fetcher.delete_vendor_copy(row):
                self.store.set_outbox_due(row.merchant_biz_id, row.status, now + VENDOR_COPY_RETRY_SECONDS)
                if self._past_retention(row, now):  # the row waits for the vendor's copy; ours goes now
                    self.objects.delete_prefix(result_prefix(row.merchant_biz_id))

    def _finish_erasures(self, report: SweepReport) -> None:
        """Step 2's erasures: up to a batch of ERASED tombstones due, each asked of the vendor once
        (:meth:`~shared.fetcher.ResultFetcher.finish_erasure`: its copy, then the row) and, while the vendor keeps
        the flow or fails, due again in an hour; past the vendor's 30 days (and a day) the vendor has forgotten the
        flow, and the tombstone goes without a call. No tombstone is started once less than
        ``RETENTION_RESERVE_SHARE`` of the pass is left. A storage failure on one tombstone puts it back an hour later
        and the step goes on (it never holds the head of the index); should that write fail too, the store is
        failing and the step ends, as it does when the fetcher cannot be built (:class:`DeferredFetcher`)."""
        now = self.clock()
        worked = 0
        for row in self._due(DueKind.ERASURE, now - OUTBOX_GRACE_SECONDS):
            if row.status is not Status.ERASED:
                continue
            if worked >= self.settings.batch_size or not self._time_for("erasures", report,
                                                                         reserve=self._retention_reserve):
                return
            worked += 1
            forgotten = row.created_at <= now - OUTBOX_WINDOW_SECONDS  # the vendor's 30 days (and a day) are over
            fetcher = None if forgotten else self.fetcher  # built here: a build that fails ends the step
            try:
                finished = self._finish_erasure(row, fetcher)
            except StorageError as exc:
                report.errors.append(f"_finish_erasures:{exc.code}")
                finished = False
            if finished:
                report.erased += 1
            else:
                self.store.set_erasure_due(row.merchant_biz_id, now + VENDOR_COPY_RETRY_SECONDS)

    def _finish_erasure(self, row: TransactionRecord, fetcher: ResultFetcher | None) -> bool:
        """One tombstone's erasure: True once its row is gone. Without ``fetcher`` the vendor has forgotten the flow:
        nothing to ask, the tombstone goes."""
        if fetcher is not None:
            return fetcher.finish_erasure(row).kind == "erased"
        from shared.fetcher import delete_kept_result  # noqa: PLC0415 - a pass with a tombstone to delete

        delete_kept_result(self.store, self.objects, row.merchant_biz_id)
        return True

    def _expire(self, report: SweepReport) -> None:
        """Delete up to a batch of rows past retention, oldest first, stepping over at most a batch of rows that
        may not go yet (see the module's step 3): the pass pages on past them with the store's cursor. (A row that
        waits only for the vendor's copy to be deleted loses its objects in step 2, which visits it hourly through
        the due index, however many such rows there are.) Each row goes only if it is still as read when
        :meth:`_retention_wait` decided (a row that moved on is left, and not counted); the order of its deletions is
        :func:`~shared.fetcher.delete_kept_result`'s."""
        days = self.settings.retention_days
        if days <= 0:
            return
        now = self.clock()
        cutoff = now - days * 86400
        batch = self.settings.batch_size
        stepped_over = 0
        for row in self._created_before(cutoff):
            if self._retention_wait(row, now) is not None:
                if stepped_over >= batch:
                    return  # the next pass reads them again: each reason to wait ends (step 1, step 2, time)
                stepped_over += 1
                continue
            if not self._time_for("retention", report):
                return
            owed = self._vendor_copy_owed(row, now) or (row.status is Status.ERASED and not row.vendor_copy_deleted)
            from shared.fetcher import delete_kept_result  # noqa: PLC0415 - a pass with a row to expire

            if delete_kept_result(self.store, self.objects, row.merchant_biz_id, as_read=row) is None:
                stepped_over += 1  # it moved on since the page read it (a late verdict): a later pass decides
                continue
            if owed:
                logger.warning("sweep.vendor_copy_left", extra={"merchantBizId": row.merchant_biz_id})
            report.expired += 1
            if report.expired >= batch:
                return  # the rest waits for the next sweep

    def _created_before(self, cutoff: float) -> Iterator[TransactionRecord]:
        """Rows created before ``cutoff``, oldest first, page by page: only as many pages as the caller reads."""
        cursor = None
        while True:
            rows, cursor = self.store.list_created(
                until=cutoff, limit=min(100, self.settings.batch_size), cursor=cursor
            )
            yield from rows
            if not cursor:
                return

    def _retention_wait(self, row: TransactionRecord, now: float) -> str | None:
        """Why retention may not delete ``row`` yet; None when it may. Not settled (PENDING: step 1 settles those in
        time), an erasure's tombstone younger than ``VENDOR_COPY_WAIT_SECONDS`` (``erasure``: step 2 still asks the
        vendor to delete the flow), its notification not enqueued (step 2 repairs that first), settled more recently
        than its announcement may still read it (``settled_hold_seconds`` from the later of its verdict and its
        notification's enqueueing: an outbox that repaired it late keeps it as long for its deliveries), or
        ``vendor_copy``: step 2 still has to delete the vendor's copy, and the row holds the only TransactionId to
        ask with, for ``VENDOR_COPY_WAIT_SECONDS`` from the verdict at most."""
        settled = row.finalized_at or row.updated_at
        if row.status is Status.ERASED:
            # Step 2 asks the vendor hourly to delete the flow, should the person finish it: for as long as a verdict
            # waits for its vendor copy's deletion, from the erasure (its updated_at); then the tombstone goes too.
            return "erasure" if row.updated_at > now - VENDOR_COPY_WAIT_SECONDS else None
        if row.status not in TERMINAL:
            return "pending"
        if not row.notification_enqueued:
            return "outbox"
        if max(settled, row.notified_at or 0.0) > now - self.settings.settled_hold_seconds:
            return "announcement"
        if self._vendor_copy_owed(row, now) and settled > now - VENDOR_COPY_WAIT_SECONDS:
            return "vendor_copy"
        return None

    def _past_retention(self, row: TransactionRecord, now: float) -> bool:
        """Retention is on, ``row`` was created before its cutoff, and nothing but the vendor's copy keeps it
        (:meth:`_retention_wait`)."""
        days = self.settings.retention_days
        return (
            days > 0
            and row.created_at <= now - days * 86400
            and self._retention_wait(row, now) in (None, "vendor_copy")
        )

    def _vendor_copy_owed(self, row: TransactionRecord, now: float) -> bool:
        """The deployment deletes the vendor's copy of a verdict (``KYC_DELETE_VENDOR_COPY``), this one's is not
        deleted yet, and the vendor still keeps it (settled within its 30 days)."""
        settled = row.finalized_at or row.updated_at
        return (
            self._fetcher.deletes_vendor_copy
            and row.status.is_verdict
            and not row.vendor_copy_deleted
            and settled > now - OUTBOX_WINDOW_SECONDS
        )

    def _expire_rate_counters(self, report: SweepReport) -> None:
        if not self._time_for("rateCounters", report):
            return
        self.store.expire_rate_counters(self.clock(), 20 * self.settings.batch_size)
