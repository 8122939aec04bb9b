"""The MNS double's queues and messages (in memory), with MNS's visibility semantics.

From the MNS documentation ("QueueMessage", "ReceiveMessage", "BatchReceiveMessage", "DeleteMessage",
"ChangeMessageVisibility", "CreateQueue"):
- a sent message is Delayed for its ``DelaySeconds`` (the message's own, else the queue's), then Active;
- a receive makes it Inactive for the *queue's* ``VisibilityTimeout`` (a receive cannot choose), bumps
  ``DequeueCount``, sets ``FirstDequeueTime`` on the first receive, and hands out a new ``ReceiptHandle``;
- a receipt handle is valid until the message's ``NextVisibleTime``; used later, or after the message was
  received again, MNS answers ``MessageNotExist`` (404); a handle that is not one at all is ``ReceiptHandleError``
  (400);
- ``ChangeMessageVisibility`` hides the message for 1–43200 s from now and returns a new handle (the old one is
  refused afterwards here — the docs only say a new one is returned: unverified);
- a message older than ``MessageRetentionPeriod`` is gone, whatever its state.
Order among visible messages: priority (1 first, default 8), then the order they were sent.

Times: ``now`` is the double's queue clock (seconds); the XML carries milliseconds. Every method takes the
state lock; ``changed`` (a Condition on it) wakes long-polling receives when a message is sent or the clock moves.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import secrets
import threading
from dataclasses import dataclass, field, replace

# CreateQueue's attribute ranges and defaults; the template (template.yml) uses the same names.
ATTRIBUTE_RANGES: dict[str, tuple[int, int]] = {
    "DelaySeconds": (0, 604_800),
    "MaximumMessageSize": (1024, 65_536),
    "MessageRetentionPeriod": (60, 604_800),
    "VisibilityTimeout": (1, 43_200),
    "PollingWaitSeconds": (0, 30),
}
MESSAGE_DELAY_RANGE = (0, 604_800)
PRIORITY_RANGE = (1, 16)
DEFAULT_PRIORITY = 8
CHANGE_VISIBILITY_RANGE = (1, 43_200)
MAX_BATCH = 16


@dataclass(frozen=True)
class QueueAttributes:
    visibility_timeout: int = 30
    maximum_message_size: int = 65_536
    message_retention_period: int = 345_600
    delay_seconds: int = 0
    polling_wait_seconds: int = 0
    logging_enabled: bool = False


#: CreateQueue's attributes (the API's XML elements, template.yml's properties) → the QueueAttributes fields; all
#: numbers (ranges: ``ATTRIBUTE_RANGES``) but LoggingEnabled, a boolean.
ATTRIBUTE_FIELDS = {
    "VisibilityTimeout": "visibility_timeout",
    "MaximumMessageSize": "maximum_message_size",
    "MessageRetentionPeriod": "message_retention_period",
    "DelaySeconds": "delay_seconds",
    "PollingWaitSeconds": "polling_wait_seconds",
    "LoggingEnabled": "logging_enabled",
}


@dataclass
class Message:
    seq: int
    message_id: str
    body: str  # the MessageBody text exactly as sent (the project sends base64)
    priority: int
    enqueued_at: float
    visible_at: float
    dequeue_count: int = 0
    first_dequeued_at: float = 0.0
    receipt: str | None = None

    @property
    def body_md5(self) -> str:
        return hashlib.md5(self.body.encode(), usedforsecurity=False).hexdigest().upper()

    def state(self, now: float) -> str:
        if self.visible_at <= now:
            return "Active"
        return "Inactive" if self.receipt else "Delayed"


@dataclass
class Queue:
    name: str
    attributes: QueueAttributes
    created_at: float
    modified_at: float
    messages: dict[str, Message] = field(default_factory=dict)  # by message id, in send order
    sent: int = 0
    received: int = 0
    deleted: int = 0


class Stale(Exception):
    """The receipt handle names no current receive of a message (``MessageNotExist``)."""


class Malformed(Exception):
    """The receipt handle is not one this double issued (``ReceiptHandleError``)."""


class QueueStore:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.queues: dict[str, Queue] = {}
        self._seq = itertools.count(1)

    # --- queues (callers hold no lock) -------------------------------------------------------------------

    def create(self, name: str, attributes: QueueAttributes, now: float) -> bool | None:
        """True: created; False: exists with these attributes; None: exists with other attributes."""
        with self.lock:
            queue = self.queues.get(name)
            if queue is None:
                self.queues[name] = Queue(name, attributes, now, now)
                return True
            return False if queue.attributes == attributes else None

    def set_attributes(self, name: str, attributes: QueueAttributes, now: float) -> bool:
        with self.lock:
            queue = self.queues.get(name)
            if queue is None:
                return False
            queue.attributes, queue.modified_at = attributes, now
            return True

    def delete_queue(self, name: str) -> None:
        with self.lock:
            self.queues.pop(name, None)
            self.changed.notify_all()

    def get(self, name: str) -> Queue | None:
        with self.lock:
            return self.queues.get(name)

    def clear(self) -> None:
        with self.lock:
            for queue in self.queues.values():
                queue.messages.clear()
                queue.sent = queue.received = queue.deleted = 0
            self.changed.notify_all()

    # --- messages (the caller holds ``lock``) ------------------------------------------------------------

    def expire(self, queue: Queue, now: float) -> None:
        horizon = now - queue.attributes.message_retention_period
        for message_id in [m.message_id for m in queue.messages.values() if m.enqueued_at <= horizon]:
            del queue.messages[message_id]

    def send(self, queue: Queue, body: str, delay: int, priority: int, now: float) -> Message:
        seq = next(self._seq)
        message_id = f"{secrets.token_hex(8).upper()}-1-{int(now * 1000):X}-{seq:09d}"
        message = Message(seq, message_id, body, priority, now, now + delay)
        queue.messages[message_id] = message
        queue.sent += 1
        self.changed.notify_all()
        return message

    def visible(self, queue: Queue, now: float, limit: int) -> list[Message]:
        self.expire(queue, now)
        ready = [m for m in queue.messages.values() if m.visible_at <= now]
        ready.sort(key=lambda m: (m.priority, m.seq))
        return ready[:limit]

    def next_visible_in(self, queue: Queue, now: float) -> float | None:
        times = [m.visible_at - now for m in queue.messages.values() if m.visible_at > now]
        return min(times) if times else None

    def receive(self, queue: Queue, now: float, limit: int) -> list[Message]:
        """Take up to ``limit`` visible messages: Inactive for the queue's VisibilityTimeout, new receipts."""
        taken = []
        for message in self.visible(queue, now, limit):
            message.dequeue_count += 1
            if not message.first_dequeued_at:
                message.first_dequeued_at = now
            message.visible_at = now + queue.attributes.visibility_timeout
            message.receipt = _new_receipt(message.message_id)
            queue.received += 1
            taken.append(replace(message))
        return taken

    def by_receipt(self, queue: Queue, receipt: str, now: float) -> Message:
        message_id = _receipt_message_id(receipt)
        self.expire(queue, now)
        message = queue.messages.get(message_id)
        if message is None or message.receipt != receipt or message.visible_at <= now:
            raise Stale()
        return message

    def delete(self, queue: Queue, receipt: str, now: float) -> None:
        message = self.by_receipt(queue, receipt, now)
        del queue.messages[message.message_id]
        queue.deleted += 1

    def change_visibility(self, queue: Queue, receipt: str, seconds: int, now: float) -> Message:
        message = self.by_receipt(queue, receipt, now)
        message.visible_at = now + seconds
        message.receipt = _new_receipt(message.message_id)
        self.changed.notify_all()
        return replace(message)


def _new_receipt(message_id: str) -> str:
    """Standard base64 (``+``, ``/``, ``=`` included, as MNS's handles look), prefixed like MNS's."""
    raw = message_id.encode("ascii") + b"|" + secrets.token_bytes(12)  # random bytes: "+" and "/" show up often
    return "1-" + base64.b64encode(raw).decode("ascii")


def _receipt_message_id(receipt: str) -> str:
    if not receipt.startswith("1-"):
        raise Malformed()
    try:
        raw_id, sep, nonce = base64.b64decode(receipt[2:], validate=True).partition(b"|")
        message_id = raw_id.decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        raise Malformed() from None
    if not sep or not message_id or not nonce:
        raise Malformed()
    return message_id
