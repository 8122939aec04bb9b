"""The storage contracts the FC functions and ops tools program against: ``TransactionStore``, ``ObjectStore``,
``Queue``, ``ConsumerQueue`` (and ``Page``, what a query returns).

For the type checker and the contract tests only: the functions import this module under ``TYPE_CHECKING``, so a
cold start loads neither it nor ``typing`` (docs/performance.md, "No typing at run time"); ``shared.storage`` resolves
these names on first use. What the queues share at run time (limits, body encoding, ``ReceivedMessage``) is in
:mod:`shared.storage.queueing`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from .due import DueKind
from .queueing import ReceivedMessage
from .records import TransactionRecord

#: One page of a query: the records, and the cursor to pass back for the next page (None: no more rows).
Page = tuple[list[TransactionRecord], str | None]


@runtime_checkable
class TransactionStore(Protocol):
    """Verification records keyed by ``merchant_biz_id``. Every write is conditional; final rows never change.

    ``finalize`` replaces PENDING or ABANDONED rows (a late real result beats the sweeper's ABANDONED); it never
    replaces PASSED/FAILED. Update helpers on a missing row are no-ops (they never create rows). Each write keeps
    the row's *due* (:mod:`shared.storage.due`) in the same conditional write.

    Every query reads what it answers, never the table: each is served by an index (SQLite: a B-tree index,
    checked by ``EXPLAIN QUERY PLAN``; Tablestore: a global secondary index, ``tablestore_schema``). Pages come in
    the query's order; pass the cursor back to the same store for the next page. On Tablestore an index lags the
    table by milliseconds: a query returns rows as the table holds them now (re-read by key), may miss a row
    written a moment ago and never returns a row that no longer matches.
    """

    def create(self, record: TransactionRecord) -> None:
        """Insert; raises ``RecordExists`` when the key is taken."""
        ...

    def get(self, merchant_biz_id: str) -> TransactionRecord | None: ...

    def finalize(
        self,
        merchant_biz_id: str,
        *,
        status: str,
        passed: str | None,
        sub_code: str | None,
        result_key: str | None,
        identity_masked: dict[str, Any] | None,
        result_version: int,
        now: float,
        face: dict[str, Any] | None = None,
    ) -> bool:
        """True when this call made the row final; False when it was already PASSED/FAILED or missing.
        ``face``: the result's face section (verdicts and scores), stored with the verdict. ``finalized_at`` is
        ``now``, except over an ABANDONED row abandoned at ``now`` or later (another instance's clock, or a
        fetch that read its clock before the abandonment): just after it (``FINALIZED_AFTER_ABANDONED``, 2 ms),
        so that the verdict is announced as later than the abandonment it replaces."""
        ...

    def mark_abandoned(self, merchant_biz_id: str, now: float) -> bool:
        """PENDING → ABANDONED; True when this call changed it."""
        ...

    def mark_erased(self, merchant_biz_id: str, now: float) -> bool:
        """PENDING or ABANDONED (or ERASED again) → ERASED, the tombstone of an erasure the vendor's copy outlives:
        True when the row is ERASED after this call. The write keeps the TransactionId and the owner's hash (to
        find and delete the vendor's copy), forgets the vendor page's URL and the request fingerprint, owes no
        announcement (``notification_enqueued``: an abandonment not yet announced never will be), and makes the row
        due for the sweeper's erasure step only (``ERASURE`` at ``now``). ``updated_at`` is the erasure's time.
        Nothing but this write, ``set_erasure_due`` and a deletion changes an ERASED row: ``finalize``,
        ``mark_abandoned`` and ``record_check`` refuse it. False when the row is a verdict or missing."""
        ...

    def set_erasure_due(self, merchant_biz_id: str, at: float) -> bool:
        """On an ERASED row only: the sweeper's erasure step looks at it again at ``at`` (its next try); nothing else
        changes (``updated_at`` stays the erasure's). False when the row is not ERASED or is missing."""
        ...

    def record_check(
        self,
        merchant_biz_id: str,
        *,
        now: float,
        next_check_at: float | None,
        error: str | None = None,
        recheck_attempt: int | None = None,
    ) -> bool:
        """Bump ``check_count`` and set ``next_check_at``/``error`` on a PENDING row; True when it wrote.

        With ``recheck_attempt``: also record that re-check message number ``recheck_attempt`` is scheduled, only
        if the row's ``recheck_attempt`` is lower (it never goes back): False, and nothing written, when the row
        already records that re-check or a later one (another fetch of the same step scheduled it first). False
        on a row that is not PENDING or is missing (never created)."""
        ...

    def mark_notification_enqueued(
        self, merchant_biz_id: str, status: str, *, vendor_copy_pending: bool = True, now: float | None = None
    ) -> None:
        """Flag the outbox as done for the notification of ``status``; a no-op when the row has moved on since
        (a late real result replacing ABANDONED needs its own notification). ``vendor_copy_pending=False`` says
        nothing else is owed (no vendor copy to delete), so the row stops being due in the same write; with True
        it stays due until ``mark_vendor_copy_deleted`` (or the sweeper finds it owes nothing). ``now`` (when the
        message was sent) becomes the row's ``notified_at`` in the same write; without it that is left as it was."""
        ...

    def mark_vendor_copy_deleted(self, merchant_biz_id: str) -> None: ...

    def set_outbox_due(self, merchant_biz_id: str, status: str, at: float | None) -> bool:
        """On a row still of the announced-final ``status``: the sweeper's outbox pass looks at it again at ``at``,
        or never (None). False when the row has moved on or is missing."""
        ...

    def due(self, kind: DueKind, before: float, *, limit: int = 100, cursor: str | None = None) -> Page:
        """Rows due for ``kind`` at or before ``before``, earliest first."""
        ...

    def list_by_user(self, merchant_user_id: str, *, limit: int = 100, cursor: str | None = None) -> Page:
        """One user's verifications, oldest first."""
        ...

    def list_created(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        status: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
        newest_first: bool = False,
    ) -> Page:
        """Verifications created in ``[since, until)`` (either end open when None), in creation order (newest first
        when asked), optionally only those of ``status``. Tablestore orders and bounds by the millisecond."""
        ...

    def count_created(self, *, since: float | None = None, until: float | None = None) -> dict[str, int]:
        """How many verifications created in ``[since, until)`` have each status (statuses with none left out).
        Reads one index row per verification counted; on Tablestore a status changed a moment ago may still be
        counted under its old value."""
        ...

    def increment_rate_counter(
        self, key: str, limit: int, expires_at: float, *, another_round: Callable[[], bool] | None = None
    ) -> bool:
        """Add one to the counter ``key`` unless it is at ``limit`` already (exact under concurrency); True when
        this call added one. The counter may be forgotten after ``expires_at``. A backend that retries a lost race
        (Tablestore: read, then a conditional write) asks ``another_round`` before each retry and raises
        :class:`OutOfTime` when it says no (the caller's time budget cannot afford one)."""
        ...

    def decrement_rate_counter(self, key: str, *, another_round: Callable[[], bool] | None = None) -> None:
        """Take one off the counter ``key`` (never below zero; a missing counter stays missing). ``another_round``
        and :class:`OutOfTime`: as for :meth:`increment_rate_counter`."""
        ...

    def take_claim(
        self, key: str, holder: str, expires_at: float, now: float, *, another_round: Callable[[], bool] | None = None
    ) -> bool:
        """Hold the claim ``key`` for ``holder`` until ``expires_at``, unless another holder has it: True when this
        call took it (exact under concurrency). A claim is free when it was never taken, was given back, or is
        past its ``expires_at`` at ``now`` (a backend that forgets old rows may free it sooner: see
        :meth:`increment_rate_counter`). Kept beside the rate counters (another key prefix), forgotten like them.
        ``another_round``/:class:`OutOfTime`: as for :meth:`increment_rate_counter`. After any error, the claim may
        be ``holder``'s all the same: :meth:`give_back_claim` it."""
        ...

    def give_back_claim(self, key: str, holder: str) -> bool:
        """Free the claim ``key`` if ``holder`` holds it, in one conditional deletion (a freed claim leaves no row:
        review ap, keyed starts refused one after another each left one for a day); True when this call freed it.
        Safe whatever became of the take: after a take whose answer was lost it frees the claim only if that take
        was applied, never another holder's."""
        ...

    def expire_rate_counters(self, now: float, limit: int) -> int:
        """Delete up to ``limit`` counters and claims past their ``expires_at``; how many were deleted (0 where the
        backend expires them itself)."""
        ...

    def delete(self, merchant_biz_id: str) -> None:
        """Remove the row; deleting a missing row is not an error."""
        ...

    def delete_unchanged(self, merchant_biz_id: str, *, status: str, updated_at: float) -> bool:
        """Remove the row only while it is as its caller read it: still of ``status``, still updated last at
        ``updated_at`` (every change of status writes it: ``finalize``, ``mark_abandoned``) and its notification
        confirmed enqueued — what retention decides on. True when this call removed it; False, nothing removed, when
        the row moved on (a late verdict replaced ABANDONED) or is missing. One conditional write."""
        ...


@runtime_checkable
class ObjectStore(Protocol):
    """Blobs (full verification results, images) under validated keys."""

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Write (overwrite); re-putting the same content is harmless."""
        ...

    def get(self, key: str) -> bytes:
        """Raises ``ObjectNotFound``."""
        ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str) -> Sequence[str]:
        """Every key starting with ``prefix`` (plain string prefix), sorted."""
        ...

    def delete(self, key: str) -> None:
        """Deleting a missing key is not an error."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Delete every key under ``prefix``; returns how many were deleted."""
        ...


@runtime_checkable
class Queue(Protocol):
    """The producer side, the only part the FC functions need (MNS triggers consume for them)."""

    def send(self, body: bytes, *, delay_seconds: int = 0) -> str:
        """Enqueue; returns the message id. Raises ``MessageTooLarge`` above 64 KB encoded."""
        ...


@runtime_checkable
class ConsumerQueue(Queue, Protocol):
    """The local consumer API (SQLite queue; devstack's worker plays the part of the MNS trigger)."""

    def receive(self, max_messages: int = 10, visibility_timeout: int = 30) -> list[ReceivedMessage]: ...

    def delete(self, receipt: str) -> bool:
        """True when the message was deleted; False for a stale receipt (it was re-delivered meanwhile)."""
        ...

    def change_visibility(self, receipt: str, seconds: int) -> str:
        """Hide the message for ``seconds`` from now; the receipt to use for it from now on (MNS hands out a new
        one); raises ``ReceiptInvalid`` for a stale receipt."""
        ...
