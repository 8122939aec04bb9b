"""When the sweeper must next look at a row: its *due*, which every store keeps next to the state it follows.

A row is due for one of four reasons (``DueKind``), each with a time:

* ``NEW``: PENDING and never rescheduled; the time is ``created_at``. The sweeper takes these once they are older
  than ``KYC_SWEEP_AFTER`` (``due(NEW, before=now - sweep_after)``), so its setting applies to every row at once
  and the writers need not know it.
* ``CHECK``: PENDING with a next check; the time is ``next_check_at``.
* ``OUTBOX``: announced-final (PASSED, FAILED, ABANDONED) with work left after the row changed: the notification
  not yet confirmed enqueued, or the vendor's copy not yet deleted; the time is ``finalized_at`` (the sweeper waits
  a grace period after it) or a later retry time the sweeper set.
* ``ERASURE``: an erasure's ERASED tombstone, whose flow the vendor may still hold; the time is when ``kyc erase``
  made it (the sweeper waits the same grace period) or the sweeper's next try to delete the vendor's copy.

A row with nothing left to do has no due and is in no due index: a sweep reads the rows that are due, not the
table. Every write below changes the due *in the same conditional row write* that changes what is due, so a crash
can never leave the two apart (the state and its due are one row):

============================  ==========================================================================
write                         due afterwards
============================  ==========================================================================
``create``                    ``due_on_create(record)`` (a new PENDING row: NEW at ``created_at``)
``record_check``              CHECK at ``next_check_at``, or NEW at ``created_at`` when it is None
``finalize``/``mark_abandoned``  OUTBOX at ``now``
``mark_erased``               ERASURE at ``now``
``set_erasure_due``           ERASURE at the given time (the sweeper's next try)
``mark_notification_enqueued``  cleared, unless the caller says a vendor-copy deletion follows (then unchanged)
``mark_vendor_copy_deleted``  cleared when the notification is confirmed too, else unchanged
``set_outbox_due``            OUTBOX at the given time, or cleared (the sweeper's retry and settle: a row
                              found owing nothing, e.g. after its copy was deleted before the flag was set)
============================  ==========================================================================
"""

from __future__ import annotations

from enum import Enum

from shared.status import TERMINAL, Status

from .records import TransactionRecord


class DueKind(str, Enum):
    NEW = "new"
    CHECK = "check"
    OUTBOX = "outbox"
    ERASURE = "erasure"

    def __str__(self) -> str:
        return self.value


def due_on_create(record: TransactionRecord) -> tuple[DueKind, float] | None:
    """The due of a row as created (also what a migration gives a row written before dues existed)."""
    if record.status is Status.PENDING:
        if record.next_check_at is not None:
            return DueKind.CHECK, record.next_check_at
        return DueKind.NEW, record.created_at
    if record.status in TERMINAL:
        vendor_copy_left = record.status.is_verdict and not record.vendor_copy_deleted
        if not record.notification_enqueued or vendor_copy_left:
            # Whether the deployment deletes vendor copies is the fetcher's setting: the sweeper settles a row
            # that turns out to owe nothing.
            return DueKind.OUTBOX, record.finalized_at if record.finalized_at is not None else record.updated_at
    if record.status is Status.ERASED:
        return DueKind.ERASURE, record.updated_at
    return None


def to_ms(seconds: float) -> int:
    """The integer milliseconds the Tablestore indexes sort by (an index key cannot be a DOUBLE)."""
    return int(seconds * 1000)
