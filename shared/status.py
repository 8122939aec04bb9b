"""A verification's status: the one enum, and its sets, defined once.

``Status`` is a ``str`` enum: a member *is* its name as a string (``Status.PASSED == "PASSED"``, same hash), so it
is stored, logged and serialised exactly as the plain strings were (JSON and logs by value; the stores write
``.value``). ``str()`` and ``format()`` give the value on every Python version (3.11 changed ``format`` of mixed-in
enums to ``Status.PASSED``).

The lifecycle: ``PENDING`` → ``PASSED``/``FAILED`` (the vendor's verdict, never overwritten) or ``PENDING`` →
``ABANDONED`` (the sweeper's guess that the person walked away; a late verdict still replaces it), and
``PENDING``/``ABANDONED`` → ``ERASED`` (``kyc erase`` of a flow the vendor would not delete yet: a tombstone that holds
the TransactionId to delete the vendor's copy with, and that no verdict replaces — a flow the person finishes after
the erasure is deleted, never kept or announced; ``shared.fetcher``).
``RATE_SLOT`` is no verification: a rate-limit slot row of the old design, kept so such rows still read; the
limit now counts in its own table (:mod:`shared.ratelimit`) and opening an old SQLite database deletes them.
"""

from __future__ import annotations

from enum import Enum


class Status(str, Enum):
    PENDING = "PENDING"
    PASSED = "PASSED"
    FAILED = "FAILED"
    ABANDONED = "ABANDONED"
    ERASED = "ERASED"
    RATE_SLOT = "RATE_SLOT"

    def __str__(self) -> str:
        return self.value

    def __format__(self, format_spec: str) -> str:
        return format(self.value, format_spec)

    @property
    def is_verdict(self) -> bool:
        """The vendor's answer, never overwritten: see :data:`VERDICTS`."""
        return self in VERDICTS


#: Where a verification ends for the merchant, in the order the sweeper visits them: each is announced by a
#: webhook. ABANDONED is terminal but not a verdict: a real result arriving later replaces it (and is announced).
TERMINAL: tuple[Status, ...] = (Status.PASSED, Status.FAILED, Status.ABANDONED)
#: The vendor's verdicts: what ``finalize`` writes; a row holding one is never changed again.
VERDICTS: tuple[Status, ...] = (Status.PASSED, Status.FAILED)
#: What ``finalize`` may replace with a verdict.
FINALIZABLE: tuple[Status, ...] = (Status.PENDING, Status.ABANDONED)
#: What ``mark_erased`` turns into an ERASED tombstone: an unfinished row, or an ERASED one again (idempotent). A
#: verdict's row needs none: nothing replaces a verdict, and an erasure deletes it with its objects.
ERASABLE_IN_PLACE: tuple[Status, ...] = (*FINALIZABLE, Status.ERASED)


def verdict(status: str) -> Status:
    """``status`` as one of the :data:`VERDICTS`; ``ValueError`` for anything else (``finalize`` writes only those)."""
    if status not in VERDICTS:
        raise ValueError("finalize status must be PASSED or FAILED")
    return Status(status)
