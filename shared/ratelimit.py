"""Per-user rate limit on Initialize (each one is a billed vendor call), exact under concurrency.

Counting rows and then creating one is a race: a burst of parallel requests all see the same count. Instead each
request claims one of ``limit`` numbered slots of the current window with the store's conditional create (SQLite
``INSERT``, Tablestore ``EXPECT_NOT_EXIST``): at most ``limit`` claims can succeed per user and window, however
many instances race. Slots are rows of status ``RATE_SLOT`` keyed by a hash of (user, window, slot), so they never
match a verification's id, owner or status; the sweeper deletes old ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from shared.status import Status
from shared.storage import RecordExists, TransactionRecord, TransactionStore

WINDOW_SECONDS = 3600


def slot_id(user: str, window: int, slot: int) -> str:
    # "rl" + 30 hex: a valid merchantBizId that cannot collide with ours (uuid4 hex never contains "r" or "l").
    return "rl" + hashlib.sha256(f"{user}:{window}:{slot}".encode()).hexdigest()[:30]


def claim_slot(store: TransactionStore, user: str, limit: int, now: float, *, hint: int = 0) -> str | None:
    """Claim a free slot of ``user``'s current window; its id, or None when all ``limit`` are taken.

    ``hint`` (e.g. how many verifications the user started this window) only chooses where to start looking.
    Raises the store's ``StorageError`` when the store is unavailable."""
    window = int(now // WINDOW_SECONDS)
    start = min(max(hint, 0), limit)
    for slot in [*range(start, limit), *range(start)]:
        key = slot_id(user, window, slot)
        try:
            store.create(
                TransactionRecord(
                    merchant_biz_id=key,
                    transaction_id="",
                    merchant_user_id="",  # never found by owner: GET /verifications and erasure skip it
                    doc_type="",
                    status=Status.RATE_SLOT,
                    created_at=now,
                    updated_at=now,
                )
            )
        except RecordExists:
            continue
        return key
    return None


def release_slot(store: TransactionStore, key: str, on_error: Callable[[Exception], None] | None = None) -> None:
    """Give a slot back when the vendor was certainly not called (nothing was billed)."""
    try:
        store.delete(key)
    except Exception as exc:  # best effort: a slot left behind only lowers this user's limit for this window
        if on_error is not None:
            on_error(exc)
