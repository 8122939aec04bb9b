"""Per-user rate limit on Initialize (each one is a billed vendor call), exact under concurrency.

Counting the user's verifications and then creating one is a race (a burst of parallel requests all see the same
count), and on Tablestore a count reads every row it counts. Instead each user has one counter per window (an
hour), addressed by key: ``claim`` adds one unless the counter is at the limit, in one conditional write of the
store (SQLite: an upsert guarded by ``count < limit``; Tablestore: read, then write back under the condition that
the counter still holds what was read). At most ``limit`` claims succeed per user and window, however many
instances race, and a claim reads one row whatever the table holds. A refused request writes nothing.

Counters live apart from the verifications (SQLite: ``rate_counters``; Tablestore: the ``_rate`` table), so they
appear in no listing or index; the sweeper deletes old ones where the backend does not expire them itself
(Tablestore's rate table has a TTL). The key is a hash of (user, window): it holds no user id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from shared.storage import TransactionStore

WINDOW_SECONDS = 3600
#: A counter is kept for its window and the next (then the sweeper, or the table's TTL, forgets it).
KEEP_WINDOWS = 2


def counter_key(user: str, window: int) -> str:
    return "rl" + hashlib.sha256(f"{user}:{window}".encode()).hexdigest()[:30]


def claim_slot(
    store: TransactionStore, user: str, limit: int, now: float, *, another_round: Callable[[], bool] | None = None
) -> str | None:
    """Count one Initialize for ``user`` in the current window; the counter's key (to give it back with
    :func:`release_slot`), or None when ``limit`` are counted already. ``another_round``: asked before the store
    retries a lost race (the caller's time budget).

    Raises the store's ``StorageError`` when the store is unavailable, ``OutOfTime`` when ``another_round`` said no."""
    window = int(now // WINDOW_SECONDS)
    key = counter_key(user, window)
    expires_at = float((window + KEEP_WINDOWS) * WINDOW_SECONDS)
    return key if store.increment_rate_counter(key, limit, expires_at, another_round=another_round) else None


def release_slot(
    store: TransactionStore, key: str, on_error: Callable[[Exception], None] | None = None, *,
    another_round: Callable[[], bool] | None = None,
) -> None:
    """Give one back when the vendor was certainly not called (nothing was billed). ``another_round``: asked
    before the store retries a lost race (the caller's time budget)."""
    try:
        store.decrement_rate_counter(key, another_round=another_round)
    except Exception as exc:  # best effort: one left counted only lowers this user's limit for this window
        if on_error is not None:
            on_error(exc)
