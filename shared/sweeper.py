"""The sweeper: the recovery path for everything the callback and the queues did not finish.

Run by a timer trigger (and ``./scripts/kyc sweep``). Each pass:

1. PENDING rows older than ``KYC_SWEEP_AFTER`` whose next check is due are fetched (CheckResult); those the vendor
   still reports unfinished past ``KYC_ABANDON_AFTER`` become ABANDONED (conditionally) and are notified;
2. the outbox: final rows whose notification was never confirmed as enqueued (a crash between the row update and
   the enqueue) are enqueued again, after a grace period so a fetch still in flight finishes first; likewise the
   vendor's copy is deleted when ``KYC_DELETE_VENDOR_COPY`` is on and the fetch did not get to it;
3. retention: rows and objects older than ``KYC_RETENTION_DAYS`` are deleted (when set);
4. rate-limit slots of past windows are deleted.

Every step is conditional or idempotent, so sweeps may overlap each other and the callback path.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from shared.config import Env, env_float, env_int, environ
from shared.fetcher import ResultFetcher, result_prefix
from shared.log import get_logger
from shared.ratelimit import WINDOW_SECONDS as RATE_WINDOW_SECONDS
from shared.status import TERMINAL, Status
from shared.storage import ObjectStore, StorageError, TransactionRecord, TransactionStore

logger = get_logger("kyc.sweeper")

OUTBOX_GRACE_SECONDS = 60.0
OUTBOX_WINDOW_SECONDS = 31 * 86400.0  # the vendor keeps results 30 days: no row older than that turns final
MAX_SWEEP_BACKOFF_SECONDS = 3600.0


@dataclass(frozen=True)
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


@dataclass
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
        ``objects`` are the ones it keeps results in (the sweeper scans the rows and expires both)."""
        self.store = store
        self.objects = objects
        self.fetcher = fetcher
        self.settings = settings
        self.clock = clock

    def sweep(self) -> SweepReport:
        report = SweepReport()
        for step in (self._recheck_pending, self._repair_outbox, self._expire, self._drop_rate_slots):
            try:
                step(report)
            except StorageError as exc:  # one failing step must not stop the others
                logger.error("sweep.step_failed", extra={"step": step.__name__, "errorCode": exc.code})
                report.errors.append(f"{step.__name__}:{exc.code}")
        logger.info("sweep.done", extra=report.as_dict())
        return report

    def _rows(
        self, status: Status, *, created_before: float | None = None, created_after: float | None = None
    ) -> Iterator[TransactionRecord]:
        """Every row of ``status`` in the window, page by page. ``batch_size`` bounds the rows a step *works on*,
        never the rows it looks at: rows with nothing to do must not hide later ones from every sweep."""
        cursor = None
        while True:
            rows, cursor = self.store.scan(
                status=status, created_before=created_before, created_after=created_after, limit=100, cursor=cursor
            )
            yield from rows
            if not cursor:
                return

    def _recheck_pending(self, report: SweepReport) -> None:
        now = self.clock()
        for row in self._rows(Status.PENDING, created_before=now - self.settings.sweep_after_seconds):
            if row.next_check_at is not None and row.next_check_at > now:
                continue
            if report.checked >= self.settings.batch_size:
                return  # the rest waits for the next sweep (the vendor's QPS is shared with live traffic)
            report.checked += 1
            # No quick re-check: the sweeper reschedules below.
            outcome = self.fetcher.fetch(row.merchant_biz_id, recheck=False)
            if outcome.kind == "finalized":
                report.finalized += 1
            if outcome.kind in {"finalized", "already_final"}:
                continue
            age = now - row.created_at
            if age >= self.settings.abandon_after_seconds and outcome.kind in {"pending", "failed"}:
                if self.store.mark_abandoned(row.merchant_biz_id, now=now):
                    report.abandoned += 1
                    logger.info("sweep.abandoned", extra={"merchantBizId": row.merchant_biz_id})
                    self.fetcher.enqueue_notification(row.merchant_biz_id, Status.ABANDONED)
                continue
            report.still_pending += 1
            backoff = min(self.settings.sweep_after_seconds * 2 ** min(row.check_count, 12), MAX_SWEEP_BACKOFF_SECONDS)
            self.store.record_check(row.merchant_biz_id, now=now, next_check_at=now + backoff, error=outcome.error)

    def _repair_outbox(self, report: SweepReport) -> None:
        now = self.clock()
        delete_vendor_copy = self.fetcher.deletes_vendor_copy
        worked = 0
        for status in TERMINAL:
            # Rows can only become final while the vendor still has the result, so older rows need no repair.
            for row in self._rows(status, created_after=now - OUTBOX_WINDOW_SECONDS):
                if (row.finalized_at or row.updated_at) > now - OUTBOX_GRACE_SECONDS:
                    continue  # a fetch may still be finishing its own steps
                renotify = not row.notification_enqueued
                delete = delete_vendor_copy and status.is_verdict and not row.vendor_copy_deleted
                if not (renotify or delete):
                    continue
                if worked >= self.settings.batch_size:
                    return
                worked += 1
                if renotify and self.fetcher.enqueue_notification(row.merchant_biz_id, row.status):
                    report.renotified += 1
                    logger.warning("sweep.notification_repaired", extra={"merchantBizId": row.merchant_biz_id})
                if delete:
                    # A crash after the row update skipped this step in the fetch; our copy is stored by now.
                    self.fetcher.delete_vendor_copy(row)

    def _expire(self, report: SweepReport) -> None:
        days = self.settings.retention_days
        if days <= 0:
            return
        cutoff = self.clock() - days * 86400
        for status in TERMINAL:
            for row in self._rows(status, created_before=cutoff):
                if report.expired >= self.settings.batch_size:
                    return
                self.objects.delete_prefix(result_prefix(row.merchant_biz_id))
                self.store.delete(row.merchant_biz_id)
                report.expired += 1

    def _drop_rate_slots(self, report: SweepReport) -> None:
        cutoff = self.clock() - 2 * RATE_WINDOW_SECONDS  # the current and the previous window stay
        for dropped, row in enumerate(self._rows(Status.RATE_SLOT, created_before=cutoff)):
            if dropped >= 20 * self.settings.batch_size:
                return
            self.store.delete(row.merchant_biz_id)
