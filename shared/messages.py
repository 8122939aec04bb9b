"""The queue messages between the functions, each with its one encoding and its one decoding.

A message names only the transaction (no PII travels through a queue): consumers read the rest from the row.
Bodies are compact JSON; the queue adapters add the transport encoding (base64, see :mod:`shared.storage`).

* :class:`RecheckMessage` — result_fetcher (and the sweeper) → recheck queue → result_fetcher: fetch again.
* :class:`NotifyMessage` — result_fetcher / sweeper → notify queue → notifier: announce the row's final status.

``from_body`` takes the decoded JSON body and returns None for anything that is not such a message (the consumer
logs it and drops or dead-letters it); it never raises. Both are tuples, so they are cheap and compare by value.
"""

from __future__ import annotations

from collections import namedtuple

from shared import jsonutil
from shared.ids import is_merchant_biz_id

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any, NamedTuple

    class _RecheckFields(NamedTuple):
        merchant_biz_id: str
        attempt: int = 0

    class _NotifyFields(NamedTuple):
        merchant_biz_id: str
        attempt: int = 0
        pending: tuple[str, ...] | None = None

else:  # the same tuples, from collections (typing.NamedTuple builds them with it too)
    _RecheckFields = namedtuple("_RecheckFields", ("merchant_biz_id", "attempt"), defaults=(0,))
    _NotifyFields = namedtuple("_NotifyFields", ("merchant_biz_id", "attempt", "pending"), defaults=(0, None))


def _attempt(value: Any) -> int | None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        return None
    return value


class RecheckMessage(_RecheckFields):
    """Fetch ``merchant_biz_id`` again; ``attempt`` indexes the re-check schedule (``KYC_RECHECK_SCHEDULE``)."""

    __slots__ = ()

    def to_body(self) -> bytes:
        return jsonutil.dumps({"merchantBizId": self.merchant_biz_id, "attempt": self.attempt})

    @classmethod
    def from_body(cls, body: Any) -> RecheckMessage | None:
        if not isinstance(body, dict):
            return None
        mbid, attempt = body.get("merchantBizId"), _attempt(body.get("attempt", 0))
        if not is_merchant_biz_id(mbid) or attempt is None:
            return None
        return cls(mbid, attempt)


class NotifyMessage(_NotifyFields):
    """Announce the final status of ``merchant_biz_id``.

    ``attempt`` indexes the webhook retry schedule; ``pending`` names the subscribers still owed the event by
    their keys (``shared.notifications.Subscriber.key``; URLs in messages written before keys) — one subscriber
    per follow-up, so that each retries on its own schedule. None: every subscriber (the first message, which the
    fetcher and the sweeper send)."""

    __slots__ = ()

    def to_body(self) -> bytes:
        body: dict[str, Any] = {"merchantBizId": self.merchant_biz_id, "attempt": self.attempt}
        if self.pending is not None:
            body["pending"] = list(self.pending)
        return jsonutil.dumps(body)

    @classmethod
    def from_body(cls, body: Any) -> NotifyMessage | None:
        if not isinstance(body, dict):
            return None
        mbid, attempt, pending = body.get("merchantBizId"), _attempt(body.get("attempt", 0)), body.get("pending")
        if not is_merchant_biz_id(mbid) or attempt is None:
            return None
        if pending is not None and not (isinstance(pending, list) and all(isinstance(u, str) for u in pending)):
            return None
        return cls(mbid, attempt, tuple(pending) if pending is not None else None)
