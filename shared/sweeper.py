"""The sweeper: the recovery path for everything the callback and the queues did not finish.

Run by a timer trigger (and ``./scripts/kyc sweep``). It reads only rows that are due (``TransactionStore.due``:
an index of the rows with work left, :mod:`shared.storage.due`) or in the retention window, never the table.
Each pass:

1. PENDING rows the callback path left silent: those never rescheduled once older than ``KYC_SWEEP_AFTER``, and
   those whose next check has come (and are older than ``KYC_SWEEP_AFTER``: before that the quick re-checks of
   the queue own them) are fetched (CheckResult); those the vendor still reports unfinished past
   ``KYC_ABANDON_AFTER`` become ABANDONED (conditionally) and are notified, the others get their next check with
   backoff;
2. the outbox: final rows whose notification was never confirmed as enqueued (a crash between the row update and
   the enqueue) are enqueued again, after a grace period so a fetch still in flight finishes first; likewise the
   vendor's copy is deleted when ``KYC_DELETE_VENDOR_COPY`` is on and the fetch did not get to it (a refused
   deletion is retried an hour later, until the vendor's 30 days are over); a row that turns out to owe nothing
   stops being due;
3. retention: rows and objects created more than ``KYC_RETENTION_DAYS`` ago are deleted (when set), oldest first,
   read through the creation-time index;
4. rate-limit counters of past windows are deleted where the backend does not expire them itself (SQLite;
   Tablestore's rate table has a TTL).

Each step works on at most ``KYC_SWEEP_BATCH`` rows, earliest due first; the rest waits for the next pass (the
vendor's QPS is shared with live traffic). Every step is conditional or idempotent, so sweeps may overlap each
other and the callback path; a row the index still lists but that moved on is skipped by the store.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator

from shared.config import Env, env_float, env_int, environ
from shared.fetcher import ResultFetcher, delete_kept_result
from shared.log import get_logger, log_context
from shared.status import TERMINAL, Status
from shared.storage import DueKind, ObjectStore, StorageError, TransactionRecord, TransactionStore
from shared.values import field, valueclass

logger = get_logger("kyc.sweeper")

OUTBOX_GRACE_SECONDS = 60.0
OUTBOX_WINDOW_SECONDS = 31 * 86400.0  # the vendor keeps results 30 days: no older copy is left to delete
VENDOR_COPY_RETRY_SECONDS = 3600.0  # a refused deletion (DeleteResult N, an error) is tried again an hour later
MAX_SWEEP_BACKOFF_SECONDS = 3600.0
_LATEST = 2.0**40  # seconds: later than any next check (year 36812), and still an int64 in milliseconds


@valueclass
class SweepSettings:
    sweep_after_seconds: float
    abandon_after_seconds: float
    retention_days: int
    batch_size: int

    @classmethod
    def from_env(cls, env: Env | None = None) -> SweepSettings:
        env = environ() if env is None else env
        return cls(
            sweep_after_seconds=env_float(env, "KYC_SWEEP_AFTER", 900.0),
            abandon_after_seconds=env_float(env, "KYC_ABANDON_AFTER", 86400.0),
            retention_days=env_int(env, "KYC_RETENTION_DAYS", 0, minimum=0),
            batch_size=env_int(env, "KYC_SWEEP_BATCH", 200, minimum=1, maximum=10000),
        )


@valueclass(frozen=False)
class SweepReport:
    checked: int = 0
    finalized: int = 0
    abandoned: int = 0
    still_pending: int = 0
    renotified: int = 0
    expired: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "checked": self.checked,
            "finalized": self.finalized,
            "abandoned": self.abandoned,
            "stillPending": self.still_pending,
            "renotified": self.renotified,
            "expired": self.expired,
            "errors": self.errors,
        }


class Sweeper:
    def __init__(
        self,
        *,
        store: TransactionStore,
        objects: ObjectStore,
        fetcher: ResultFetcher,
        settings: SweepSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``fetcher`` fetches, announces and deletes vendor copies exactly as the callback path does; ``store`` and
        ``objects`` are the ones it keeps results in (the sweeper reads the due rows and expires both)."""
        self.store = store
        self.objects = objects
        self.fetcher = fetcher
        self.settings = settings
        self.clock = clock

    def sweep(self) -> SweepReport:
        report = SweepReport()
        for step in (self._recheck_pending, self._repair_outbox, self._expire, self._expire_rate_counters):
            try:
                step(report)
            except StorageError as exc:  # one failing step must not stop the others
                logger.error("sweep.step_failed", extra={"step": step.__name__, "errorCode": exc.code})
                report.errors.append(f"{step.__name__}:{exc.code}")
        logger.info("sweep.done", extra=report.as_dict())
        return report

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
        for row in rows:
            if row.status is not Status.PENDING or row.created_at > silent_since:
                continue  # a quick re-check from the queue is due: not silent yet
            if report.checked >= self.settings.batch_size:
                return  # the rest waits for the next sweep (the vendor's QPS is shared with live traffic)
            report.checked += 1
            # No quick re-check: the sweeper reschedules below. The fetch's log lines name the row they are about.
            with log_context(merchant_biz_id=row.merchant_biz_id):
                outcome = self.fetcher.fetch(row.merchant_biz_id, recheck=False)
            if outcome.kind == "finalized":
                report.finalized += 1
            if outcome.kind in {"finalized", "already_final"}:
                continue
            age = now - row.created_at
            if age >= self.settings.abandon_after_seconds and outcome.kind in {"pending", "failed"}:
                if self.abandon(row.merchant_biz_id, now):
                    report.abandoned += 1
                continue
            report.still_pending += 1
            backoff = min(self.settings.sweep_after_seconds * 2 ** min(row.check_count, 12), MAX_SWEEP_BACKOFF_SECONDS)
            self.store.record_check(row.merchant_biz_id, now=now, next_check_at=now + backoff, error=outcome.error)

    def abandon(self, merchant_biz_id: str, now: float) -> bool:
        """PENDING → ABANDONED (conditionally), then announced; False when the row had moved on meanwhile."""
        if not self.store.mark_abandoned(merchant_biz_id, now=now):
            return False
        logger.info("sweep.abandoned", extra={"merchantBizId": merchant_biz_id})
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
        delete_vendor_copy = self.fetcher.deletes_vendor_copy
        worked = 0
        for row in self._due(DueKind.OUTBOX, now - OUTBOX_GRACE_SECONDS):
            if row.status not in TERMINAL:
                continue
            renotify = not row.notification_enqueued
            # Rows turn final only while the vendor keeps the result (30 days): past that there is nothing to delete.
            vendor_has_it = (row.finalized_at or row.updated_at) > now - OUTBOX_WINDOW_SECONDS
            delete = delete_vendor_copy and row.status.is_verdict and not row.vendor_copy_deleted and vendor_has_it
            if not (renotify or delete):
                self.store.set_outbox_due(row.merchant_biz_id, row.status, None)  # owes nothing: settled
                continue
            if worked >= self.settings.batch_size:
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

    def _expire(self, report: SweepReport) -> None:
        days = self.settings.retention_days
        if days <= 0:
            return
        cutoff = self.clock() - days * 86400
        rows, _ = self.store.list_created(until=cutoff, limit=self.settings.batch_size)
        for row in rows:  # the oldest first; the rest waits for the next sweep
            if row.status not in TERMINAL:
                continue  # still PENDING: the first step abandons it, the next sweep deletes it
            delete_kept_result(self.store, self.objects, row.merchant_biz_id)
            report.expired += 1

    def _expire_rate_counters(self, report: SweepReport) -> None:
        self.store.expire_rate_counters(self.clock(), 20 * self.settings.batch_size)
