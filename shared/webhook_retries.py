"""How long the notifier keeps retrying a failing subscriber, in one home.

The notifier schedules each follow-up by :func:`retry_delay`. Retention (:mod:`shared.sweeper`) keeps a settled row
until :func:`longest_retry_seconds` has passed after its first delivery: a follow-up rebuilds the event from the
row, so a row deleted under a pending follow-up would lose its announcement. The hold covers the schedule, not a
subscriber's ``Retry-After`` (up to a day per attempt: seven days on the default schedule, for every row under a
short retention): a follow-up that a longer pause carries past the hold finds the row gone and is dead-lettered
(``transaction_gone``), never dropped in silence. Both read the schedule from ``KYC_WEBHOOK_RETRY_SCHEDULE`` (the
notifier's and the sweeper's settings: :func:`retry_schedule_from_env`). Nothing here imports more than the
settings module: the sweeper's cold start reads it.
"""

from __future__ import annotations

from shared.config import MAX_USEFUL_DELAY_SECONDS, env_schedule

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from collections.abc import Sequence

    from shared.config import Env

RETRY_SCHEDULE_ENV = "KYC_WEBHOOK_RETRY_SCHEDULE"
DEFAULT_WEBHOOK_RETRY_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
#: Each step is drawn from ±20 % of its value: subscribers that failed together do not retry together.
JITTER = 0.2
#: A subscriber's ``Retry-After`` is honoured up to a day.
MAX_RETRY_AFTER_SECONDS = 86400.0


def retry_schedule_from_env(env: Env) -> tuple[float, ...]:
    return env_schedule(env, RETRY_SCHEDULE_ENV, DEFAULT_WEBHOOK_RETRY_SCHEDULE)


def retry_delay(step: float, draw: float, retry_after: float | None) -> float:
    """The delay before a follow-up: ``step`` jittered by ``draw`` (0 to 1), or the subscriber's ``Retry-After``
    when longer (at most a day); never over the longest delay that leaves the follow-up time to be received before
    the queue deletes it (``shared.config.MAX_USEFUL_DELAY_SECONDS``; the schedule's steps are kept below it)."""
    scheduled = step * (1.0 - JITTER + 2.0 * JITTER * draw)
    delay = max(scheduled, min(retry_after or 0.0, MAX_RETRY_AFTER_SECONDS))
    return min(delay, MAX_USEFUL_DELAY_SECONDS)


def longest_retry_seconds(schedule: Sequence[float]) -> float:
    """The longest the notifier may go on reading a row after its first delivery when no subscriber asks for a
    longer pause: every step at the jitter's top. The deliveries' own seconds are left to the caller's margin."""
    return sum(retry_delay(step, 1.0, None) for step in schedule)
