"""What the operator console shows, read through the same stores as every ``./scripts/kyc`` command.

Every figure comes from index-backed queries that read what they answer (``TransactionStore``'s contract), never the
table:

* counts by status: ``count_created`` over the period (one index row per verification of the period);
* the pass-rate chart, failures by sub code and time-to-result percentiles: one pass over the period's rows,
  ``list_created`` page by page, at most ``max_rows`` of them (the page says when it stopped there);
* verifications stuck in PENDING: the sweeper's own due index (``due(NEW)`` and ``due(CHECK)``), i.e. only pending
  rows, at most ``limit`` of each kind, whatever their age — a stuck row is usually older than the period;
* dead letters: ``peek`` on the dead-letter queue (nothing is received or changed);
* one verification: ``get`` by key, and the names of its result objects (never their content).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from shared.ids import result_prefix
from shared.status import Status
from shared.storage import ReceivedMessage, Stores, TransactionRecord, TransactionStore
from shared.storage.due import DueKind
from shared.subcodes import sub_code_meaning, sub_code_message
from shared.timestamps import rfc3339

from .dlq import DeadLetterQueue, destination, parse_body

#: The periods offered, with the width of one bar of the chart.
PERIODS: dict[str, tuple[float, float]] = {
    "1h": (3600.0, 300.0),
    "24h": (86400.0, 3600.0),
    "7d": (7 * 86400.0, 6 * 3600.0),
    "30d": (30 * 86400.0, 86400.0),
}
DEFAULT_PERIOD = "24h"
MAX_ROWS = 50_000
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PAGE = 500
FAR_FUTURE = 10 * 365 * 86400.0  # "whenever": a next check is never scheduled that far ahead


class PeriodError(ValueError):
    """The period asked for is not one the console knows; the message says which are."""


@dataclass(frozen=True)
class Period:
    key: str  # "24h" or a UTC day "2026-11-30"
    start: float
    end: float
    bucket_seconds: float

    @property
    def label(self) -> str:
        if _DAY.match(self.key):
            return f"{self.key} (UTC)"
        return f"last {self.key}"

    def buckets(self) -> list[float]:
        count = math.ceil((self.end - self.start) / self.bucket_seconds)
        return [self.start + i * self.bucket_seconds for i in range(count)]


def period_of(key: str, now: float) -> Period:
    """``1h``, ``24h``, ``7d``, ``30d`` up to now (buckets aligned to their width in UTC), or a UTC day."""
    key = (key or DEFAULT_PERIOD).strip()
    if key in PERIODS:
        length, bucket = PERIODS[key]
        end = (math.floor(now / bucket) + 1) * bucket  # the current bucket is included, partly filled
        return Period(key, end - length, end, bucket)
    if _DAY.match(key):
        try:
            day = datetime.strptime(key, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            raise PeriodError(f"{key} is not a date") from None
        return Period(key, day, day + 86400.0, 3600.0)
    raise PeriodError(f"period must be one of {', '.join(PERIODS)} or a UTC day like 2026-11-30")


@dataclass
class Bucket:
    start: float
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def decided(self) -> int:
        return self.counts[Status.PASSED] + self.counts[Status.FAILED]

    @property
    def pass_rate(self) -> float | None:
        return self.counts[Status.PASSED] / self.decided if self.decided else None


@dataclass(frozen=True)
class FailureRow:
    sub_code: str | None
    count: int
    meaning: str | None
    message: str


@dataclass(frozen=True)
class Percentiles:
    count: int
    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None


@dataclass
class Overview:
    period: Period
    counts: dict[str, int]
    buckets: list[Bucket]
    failures: list[FailureRow]
    time_to_result: Percentiles
    rows_read: int
    truncated: bool

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def pass_rate(self) -> float | None:
        decided = self.counts.get(Status.PASSED, 0) + self.counts.get(Status.FAILED, 0)
        return self.counts.get(Status.PASSED, 0) / decided if decided else None


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile of already sorted values (None for none)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def overview(store: TransactionStore, period: Period, *, max_rows: int = MAX_ROWS) -> Overview:
    """Counts, chart, failures and time to result of the verifications created in ``period``."""
    counts = {str(status): n for status, n in store.count_created(since=period.start, until=period.end).items()}
    buckets = [Bucket(start) for start in period.buckets()]
    failures: Counter[str | None] = Counter()
    durations: list[float] = []
    read = 0
    cursor: str | None = None
    truncated = False
    while True:
        rows, cursor = store.list_created(
            since=period.start, until=period.end, limit=min(PAGE, max_rows - read), cursor=cursor
        )
        for row in rows:
            read += 1
            index = min(len(buckets) - 1, max(0, int((row.created_at - period.start) // period.bucket_seconds)))
            buckets[index].counts[str(row.status)] += 1
            if row.status is Status.FAILED:
                failures[row.sub_code] += 1
            if row.status in (Status.PASSED, Status.FAILED) and row.finalized_at is not None:
                durations.append(max(0.0, row.finalized_at - row.created_at))
        if not cursor:
            break
        if read >= max_rows:
            truncated = True
            break
    durations.sort()
    return Overview(
        period=period,
        counts=counts,
        buckets=buckets,
        failures=[
            FailureRow(code, n, sub_code_meaning(code, Status.FAILED),
                       sub_code_message(code, Status.FAILED) or "no sub code given")
            for code, n in sorted(failures.items(), key=lambda item: (-item[1], item[0] or ""))
        ],
        time_to_result=Percentiles(
            len(durations), percentile(durations, 0.5), percentile(durations, 0.9), percentile(durations, 0.99),
            durations[-1] if durations else None,
        ),
        rows_read=read,
        truncated=truncated,
    )


def stuck_pending(store: TransactionStore, now: float, *, limit: int = 50) -> tuple[list[TransactionRecord], bool]:
    """PENDING verifications, oldest first: those never re-checked (due NEW) and those waiting for their next check
    (due CHECK), read from the sweeper's due index only: up to ``limit`` of each, in the index's order (the soonest
    due), so with more than ``limit`` waiting the oldest may be left out (the longest waits are the latest checks).
    True when there are more than ``limit``."""
    rows: list[TransactionRecord] = []
    more = False
    for kind in (DueKind.NEW, DueKind.CHECK):
        page, cursor = store.due(kind, before=now + FAR_FUTURE, limit=limit)
        rows.extend(row for row in page if row.status is Status.PENDING)
        more = more or cursor is not None
    rows.sort(key=lambda row: row.created_at)
    return rows[:limit], more or len(rows) > limit


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    enqueued_at: str | None
    receive_count: int
    kind: str
    merchant_biz_id: str | None
    reason: str
    #: Whether a redrive has somewhere to put it back (:func:`tools.ops.dlq.destination`).
    redrivable: bool = True


def dead_letters(queue: DeadLetterQueue, *, limit: int = 100) -> list[DeadLetter]:
    """The dead-letter queue as it is (``peek``: nothing received, nothing hidden)."""
    return [_dead_letter(message) for message in queue.peek(limit)]


def _dead_letter(message: ReceivedMessage) -> DeadLetter:
    body = parse_body(message.body)
    mbid = body.get("merchantBizId")
    reason = body.get("reason") or body.get("lastError") or (f"from the {body.get('queue')} queue"
                                                              if body.get("kind") == "trigger" else "")
    return DeadLetter(
        message_id=message.message_id,
        enqueued_at=rfc3339(message.first_enqueued_at),
        receive_count=message.receive_count,
        kind=str(body.get("kind") or "unknown"),
        merchant_biz_id=mbid if isinstance(mbid, str) else None,
        reason=str(reason)[:200],
        redrivable=not isinstance(destination(body), str),
    )


@dataclass(frozen=True)
class Event:
    at: str | None
    what: str


def timeline(stores: Stores, record: TransactionRecord) -> tuple[list[Event], list[str]]:
    """One verification as a sequence of what happened (from its row), and the names of its result objects."""
    events = [Event(rfc3339(record.created_at), f"started ({record.product_code or 'default product'}"
                                                + (f", document {record.doc_type})" if record.doc_type else ")"))]
    if record.check_count:
        last_error = f"; last answer: {record.error}" if record.error else ""
        events.append(Event(None, f"asked the vendor again {record.check_count}× while pending{last_error}"))
    if record.status is Status.PENDING:
        events.append(Event(rfc3339(record.next_check_at), "next check" if record.next_check_at else
                            "waiting for the callback or the sweeper"))
    elif record.status is Status.ERASED:
        events.append(Event(rfc3339(record.updated_at), "erased while unfinished: nothing of it is kept or announced; "
                            "the sweeper deletes the vendor's copy once the flow is complete, and this row"))
    elif record.finalized_at is not None:
        message = sub_code_message(record.sub_code, record.status)
        what = {"ABANDONED": "abandoned: never finished at the vendor"}.get(record.status, f"became {record.status}")
        events.append(Event(rfc3339(record.finalized_at), what + (f" — {message}" if message else "")))
        events.append(Event(rfc3339(record.notified_at), "webhook event queued" if record.notification_enqueued
                            else "webhook event not yet queued (the sweeper repairs it)"))
        if record.status in (Status.PASSED, Status.FAILED):
            events.append(Event(None, "the vendor's copy deleted" if record.vendor_copy_deleted
                                else "the vendor's copy kept (KYC_DELETE_VENDOR_COPY off, or not yet)"))
    events.append(Event(rfc3339(record.updated_at), "last change of the row"))
    objects = [key.removeprefix(result_prefix(record.merchant_biz_id))
               for key in stores.objects.list(result_prefix(record.merchant_biz_id))]
    return events, objects


def masked_view(record: TransactionRecord) -> dict[str, Any]:
    """What the console shows of a row besides its timeline: only masked or non-personal fields."""
    return {
        "merchantBizId": record.merchant_biz_id,
        "transactionId": record.transaction_id,
        "status": str(record.status),
        "passed": record.passed,
        "subCode": record.sub_code,
        "subCodeMessage": sub_code_message(record.sub_code, record.status),
        "productCode": record.product_code,
        "docType": record.doc_type,
        "merchantUserId": record.merchant_user_id[:12] + "…",  # the peppered hash, shortened: enough to compare
        "identity": record.identity_masked,
        "face": record.face,
    }
