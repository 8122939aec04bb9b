"""Local stand-in for EventBridge's MNS triggers and FC's timer trigger (dev only, never deployed).

Polls the local queues (SQLite, or MNS through ``MnsQueue``, e.g. against the MNS double) and invokes the subscribed
function through the gateway with the same event shape FC receives in batch mode: a list of CloudEvents whose
``data.messageBody`` is the message text. As in ``s.yaml`` (``CountBasedWindow: 1``) each invocation carries one
message, and like FC, which runs invocations on as many instances as needed, several invocations of a queue are in
flight at once — at most ``Subscription.max_in_flight``, so the worker's threads stay bounded; a queue at its bound
leaves the rest of its messages on the queue until a slot frees. A message whose invocation hangs therefore holds
back only itself, and a slow queue or timer never stalls another one. A timer never overlaps itself.

A message stays hidden as long as the deployed queue hides it (``deployed_subscriptions``), so an invocation that runs
long is not handed out twice. A batch whose handler raises is handed out again after 1 s, 2 s, 4 s, ... like a
trigger retry (``retry_delay_seconds``); a message received more than ``max_receives`` times goes to the dead-letter
queue (``errorsTolerance: ALL``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from shared import jsonutil
from shared.storage import ConsumerQueue, Queue, ReceivedMessage, StorageError, encode_message_body
from shared.storage.sqlite_queue import MAX_RECEIVE_BATCH
from shared.timestamps import rfc3339
from tools.deployment import load_template
from tools.devstack.gateway import FunctionLoadError

log = logging.getLogger("tools.devstack.worker")
DEFAULT_ACCOUNT_ID = "1234567890123456"

Invoke = Callable[[str, Any], Any]


@dataclass(frozen=True)
class Subscription:
    queue_name: str
    function_name: str
    batch_size: int = 1  # messages per invocation: s.yaml's CountBasedWindow
    #: How long a message stays hidden while its invocation runs; the deployed queues' (``deployed_subscriptions``)
    #: outlast their function's longest invocation, so a slow one is not handed out a second time meanwhile.
    visibility_timeout: int = 30
    max_in_flight: int = 8  # invocations of this queue running at once (FC: instances)


#: The queues (template.yml) each queue-triggered function (s.yaml) reads.
_TRIGGERS = (("recheck", "RecheckQueue", "result_fetcher"), ("notify", "NotifyQueue", "notifier"))


def deployed_subscriptions(template: Mapping[str, Any] | None = None) -> tuple[Subscription, ...]:
    """A subscription per queue trigger, hiding a message as long as the deployed queue does (its VisibilityTimeout
    in template.yml)."""
    resources = (template if template is not None else load_template())["Resources"]
    return tuple(
        Subscription(queue, function, visibility_timeout=int(resources[resource]["Properties"]["VisibilityTimeout"]))
        for queue, resource, function in _TRIGGERS
    )


DEFAULT_SUBSCRIPTIONS = deployed_subscriptions()


def retry_delay_seconds(receive_count: int) -> int:
    """When a message whose invocation failed is handed out again, after its ``receive_count``-th receive: 1 s,
    doubling, at most 512 s, as the deployed triggers retry (s.yaml's ``PushRetryStrategy: EXPONENTIAL_DECAY_RETRY``;
    EventBridge "Retry policies and dead-letter queues": "1 second, 2 seconds, 4 seconds, ... 256 seconds, and 512
    seconds")."""
    return int(min(512, 2 ** max(0, min(receive_count - 1, 9))))


def _queue_name(queue: object, fallback: str) -> str:
    """The queue's own name for the event subject (``MnsQueue.queue_name``, ``SqliteQueue.name``)."""
    for attribute in ("queue_name", "name"):
        name = getattr(queue, attribute, None)
        if isinstance(name, str) and name:
            return name
    return fallback


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
            "time": rfc3339(time.time()),
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


def timer_event(trigger_name: str = "sweep") -> dict[str, str]:
    return {"triggerTime": rfc3339(time.time()), "triggerName": trigger_name, "payload": ""}


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
        stop_timeout: float = 30.0,
        region: str = "cn-hongkong",
        account_id: str = DEFAULT_ACCOUNT_ID,
    ) -> None:
        self.invoke = invoke
        self.queues = queues
        self.deadletter = deadletter
        self.subscriptions = subscriptions
        self.max_receives = max_receives
        self.poll_interval = poll_interval
        self.stop_timeout = stop_timeout
        self.region = region
        self.account_id = account_id  # the subject of the CloudEvents names the queue's account and region
        self.timers = list(timers)  # (function name, period seconds)
        self._next_timer = {name: time.monotonic() + period for name, period in self.timers}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._in_flight: dict[str, int] = {sub.queue_name: 0 for sub in subscriptions}
        self._timer_running: set[str] = set()
        self._futures: set[Future[None]] = set()
        self._pool: ThreadPoolExecutor | None = None

    # -- synchronous (tests, drain)
    def run_once(self) -> int:
        """Deliver what every subscribed queue has ready (up to its bound) and fire due timers, in this thread
        one invocation after the other; returns messages handled."""
        handled = 0
        for sub in self.subscriptions:
            for batch in self._take(sub, sub.max_in_flight):
                handled += self._run_batch(sub, batch)
        now = time.monotonic()
        for name, period in self.timers:
            if now >= self._next_timer[name]:
                self._next_timer[name] = now + period
                self._run_timer(name)
        return handled

    def drain(self, timeout: float = 10.0) -> None:
        """Run until no message is ready (tests): delayed messages still in the future are left."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.run_once():
            pass

    # -- shared steps
    def _take(self, sub: Subscription, slots: int) -> list[list[ReceivedMessage]]:
        """Receive up to ``slots`` batches from ``sub``'s queue, dead-lettering messages received too often."""
        if slots <= 0:
            return []
        queue = self.queues[sub.queue_name]
        messages = queue.receive(
            max_messages=min(slots * sub.batch_size, MAX_RECEIVE_BATCH), visibility_timeout=sub.visibility_timeout
        )
        live: list[ReceivedMessage] = []
        for m in messages:
            if m.receive_count > self.max_receives:
                body = m.body.decode(errors="replace")
                self.deadletter.send(jsonutil.dumps({"kind": "trigger", "queue": sub.queue_name, "body": body}))
                queue.delete(m.receipt)
                log.warning("message on %s dead-lettered after %d receives", sub.queue_name, m.receive_count)
            else:
                live.append(m)
        return [live[i : i + sub.batch_size] for i in range(0, len(live), sub.batch_size)]

    def _run_batch(self, sub: Subscription, batch: Sequence[ReceivedMessage]) -> int:
        """Invoke ``sub``'s function with ``batch``; delete the messages when it returns, leave them otherwise."""
        try:
            queue_name = _queue_name(self.queues[sub.queue_name], sub.queue_name)
            self.invoke(sub.function_name, cloud_events(queue_name, batch, self.region, self.account_id))
        except Exception:
            log.warning("%s failed a batch of %d; it will be redelivered", sub.function_name, len(batch))
            queue = self.queues[sub.queue_name]
            for m in batch:  # as the trigger retries, not after the whole visibility timeout
                with contextlib.suppress(StorageError):
                    queue.change_visibility(m.receipt, retry_delay_seconds(m.receive_count))
            return 0
        queue = self.queues[sub.queue_name]
        for m in batch:
            queue.delete(m.receipt)
        return len(batch)

    def _run_timer(self, name: str) -> None:
        try:
            self.invoke(name, timer_event())
        except Exception as exc:
            if isinstance(exc, FunctionLoadError):  # the gateway logged why, in one line
                log.warning("timer invocation of %s failed: %s", name, exc)
            else:
                log.exception("timer invocation of %s failed", name)

    # -- background
    def start(self) -> QueueWorker:
        workers = sum(sub.max_in_flight for sub in self.subscriptions) + len(self.timers)
        self._pool = ThreadPoolExecutor(max_workers=max(workers, 1), thread_name_prefix="queue-invoke")
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="queue-worker", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self._dispatch()
            except Exception:
                log.exception("worker loop error")
                busy = 0
            if not busy:
                self._stop.wait(self.poll_interval)

    def _dispatch(self) -> int:
        """Hand every free slot a batch and every due, idle timer a run; returns batches handed out."""
        dispatched = 0
        for sub in self.subscriptions:
            with self._lock:
                free = sub.max_in_flight - self._in_flight[sub.queue_name]
            for batch in self._take(sub, free):
                with self._lock:
                    self._in_flight[sub.queue_name] += 1
                self._submit(self._background_batch, sub, batch)
                dispatched += 1
        now = time.monotonic()
        for name, period in self.timers:
            with self._lock:
                due = now >= self._next_timer[name] and name not in self._timer_running
                if due:
                    self._next_timer[name] = now + period
                    self._timer_running.add(name)
            if due:
                self._submit(self._background_timer, name)
        return dispatched

    def _submit(self, fn: Callable[..., None], *args: object) -> None:
        assert self._pool is not None
        future = self._pool.submit(fn, *args)
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)

    def _background_batch(self, sub: Subscription, batch: Sequence[ReceivedMessage]) -> None:
        try:
            self._run_batch(sub, batch)
        finally:
            with self._lock:
                self._in_flight[sub.queue_name] -= 1

    def _background_timer(self, name: str) -> None:
        try:
            self._run_timer(name)
        finally:
            with self._lock:
                self._timer_running.discard(name)

    def stop(self) -> None:
        """Stop taking messages, then wait (up to ``stop_timeout``) for the invocations in flight."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._pool is not None:
            with self._lock:
                pending = set(self._futures)
            wait(pending, timeout=self.stop_timeout)
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
