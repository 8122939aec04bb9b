"""Local stand-in for EventBridge's MNS triggers and FC's timer trigger (dev only, never deployed).

Polls the local queues (SQLite, or MNS through ``MnsQueue``, e.g. against the MNS double) and invokes the
subscribed function through the gateway with the same event shape FC receives in batch mode: a list of
CloudEvents whose ``data.messageBody`` is the message text. A batch whose handler raises is left on the queue and
redelivered after the visibility timeout, like a trigger retry; a message received more than ``max_receives``
times goes to the dead-letter queue (``errorsTolerance: ALL``).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from shared import jsonutil
from shared.storage import ConsumerQueue, Queue, ReceivedMessage, encode_message_body

log = logging.getLogger("tools.devstack.worker")

Invoke = Callable[[str, Any], Any]


@dataclass(frozen=True)
class Subscription:
    queue_name: str
    function_name: str
    batch_size: int = 10
    visibility_timeout: int = 30


DEFAULT_SUBSCRIPTIONS = (Subscription("recheck", "result_fetcher"), Subscription("notify", "notifier"))
DEFAULT_ACCOUNT_ID = "1234567890123456"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def cloud_events(
    queue_name: str,
    messages: Sequence[ReceivedMessage],
    region: str = "cn-hongkong",
    account_id: str = DEFAULT_ACCOUNT_ID,
) -> list[Any]:
    """The EventBridge MNS-source event list FC hands the function for these messages (batch mode)."""
    return [
        {
            "id": str(uuid.uuid4()),
            "source": "acs.mns",
            "specversion": "1.0",
            "type": "mns:Queue:SendMessage",
            "subject": f"acs:mns:{region}:{account_id}:queues/{queue_name}",
            "time": _iso(time.time()),
            "datacontenttype": "application/json;charset=utf-8",
            "data": {
                "requestId": uuid.uuid4().hex.upper()[:24],
                "messageId": m.message_id,
                # Encoded exactly as MnsQueue sends it, so handlers read local and cloud events the same way.
                "messageBody": encode_message_body(m.body),
            },
        }
        for m in messages
    ]


def _queue_name(queue: object, fallback: str) -> str:
    """The queue's own name for the event subject (``MnsQueue.queue_name``, ``SqliteQueue.name``)."""
    for attribute in ("queue_name", "name"):
        name = getattr(queue, attribute, None)
        if isinstance(name, str) and name:
            return name
    return fallback


def timer_event(trigger_name: str = "sweep") -> dict[str, str]:
    return {"triggerTime": _iso(time.time()), "triggerName": trigger_name, "payload": ""}


class QueueWorker:
    def __init__(
        self,
        invoke: Invoke,
        queues: Mapping[str, ConsumerQueue],
        deadletter: Queue,
        *,
        subscriptions: Sequence[Subscription] = DEFAULT_SUBSCRIPTIONS,
        max_receives: int = 5,
        poll_interval: float = 0.2,
        timers: Sequence[tuple[str, float]] = (),
        region: str = "cn-hongkong",
        account_id: str = DEFAULT_ACCOUNT_ID,
    ) -> None:
        self.invoke = invoke
        self.queues = queues
        self.deadletter = deadletter
        self.subscriptions = subscriptions
        self.max_receives = max_receives
        self.poll_interval = poll_interval
        self.timers = list(timers)  # (function name, period seconds)
        self.region = region
        self.account_id = account_id  # the subject of the CloudEvents names the queue's account and region
        self._next_timer = {name: time.monotonic() + period for name, period in self.timers}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        """Deliver one batch from every subscribed queue and fire due timers; returns messages handled."""
        handled = 0
        for sub in self.subscriptions:
            handled += self._deliver(sub)
        now = time.monotonic()
        for name, period in self.timers:
            if now >= self._next_timer[name]:
                self._next_timer[name] = now + period
                try:
                    self.invoke(name, timer_event())
                except Exception:
                    log.exception("timer invocation of %s failed", name)
        return handled

    def _deliver(self, sub: Subscription) -> int:
        queue = self.queues[sub.queue_name]
        messages = queue.receive(max_messages=sub.batch_size, visibility_timeout=sub.visibility_timeout)
        if not messages:
            return 0
        live: list[ReceivedMessage] = []
        for m in messages:
            if m.receive_count > self.max_receives:
                body = m.body.decode(errors="replace")
                self.deadletter.send(jsonutil.dumps({"kind": "trigger", "queue": sub.queue_name, "body": body}))
                queue.delete(m.receipt)
                log.warning("message on %s dead-lettered after %d receives", sub.queue_name, m.receive_count)
            else:
                live.append(m)
        if not live:
            return 0
        try:
            events = cloud_events(_queue_name(queue, sub.queue_name), live, self.region, self.account_id)
            self.invoke(sub.function_name, events)
        except Exception:
            log.warning("%s failed a batch of %d; it will be redelivered", sub.function_name, len(live))
            return 0
        for m in live:
            queue.delete(m.receipt)
        return len(live)

    def drain(self, timeout: float = 10.0) -> None:
        """Run until no message is ready (tests): delayed messages still in the future are left."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.run_once():
            pass

    def start(self) -> QueueWorker:
        self._thread = threading.Thread(target=self._loop, name="queue-worker", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception:
                log.exception("worker loop error")
                busy = 0
            if not busy:
                self._stop.wait(self.poll_interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
