"""Independent blocking calls run side by side on a thread pool, at most ``limit`` at once, every one waited for.

Users: the result fetcher's image puts (:mod:`shared.fetcher`), OSS's deletes of a prefix
(:mod:`shared.storage.oss`), the notifier's deliveries and their follow-up messages (:mod:`shared.notifications`).
Why: each of those calls waits on the network up to its own deadline; one after another, a verification's five
image puts could take five deadlines, and a queue function's longest path must fit in the five minutes an MNS
queue trigger waits for it (tests/test_deploy_config.py, "time budgets"). Side by side they take one per ``limit``.

Order of effects (:func:`run_all`): the calls start in the order given, at most ``limit`` running at once, each on a
pool thread (a single call runs on the calling thread: no pool is built for it); ``run_all`` returns only once
every call has ended, their results in the order given, or raises the first exception in that order once all have
ended. So a call that failed never leaves another still writing after the caller moved on (a result document put
while an image put is still running; a row finalized over images half-written), and the caller's retry policy is
the one it has for a single call. Each call's deadline is its own: :class:`~shared.http_deadline.CallDeadline`
keeps it per thread. Each call runs in a copy of the caller's ``contextvars`` context: a log line it writes carries
the caller's log context (:func:`shared.log.log_context`: the request and transaction), as on the calling thread.

Should the pool refuse a call (``RuntimeError``: no thread can be started, or the interpreter is shutting down), that
call and the rest run on the calling thread, one after another: slower, never a failure of the caller's own; each
call runs once whatever the pool kept queued (``_Task``).

``concurrent.futures`` is imported by the first batch a :class:`ThreadPool` runs, never at a function's cold start.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Sequence
from functools import partial

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor
    from typing import Any, TypeVar

    T = TypeVar("T")


#: Invocations one process runs at once: FC runs one per instance (instance concurrency 1, pinned in s.yaml for the
#: queue functions); the local worker runs up to its in-flight bound per queue (tools/devstack/worker.py,
#: ``Subscription.max_in_flight``). A pool has ``limit`` threads for each, so one invocation's calls never wait
#: behind another's (a call's deadline starts when it runs: queued behind others, a batch would take more than the
#: one deadline per ``limit`` its budget counts).
MAX_CONCURRENT_CALLERS = 8


class ThreadPool:
    """Up to ``workers`` threads named ``name`` for :func:`run_all`, started on demand by an executor built at the
    first batch that needs one (``concurrent.futures`` is imported then). An executor that refused a call is retired
    and the next batch builds another: ``submit`` queues a call before it starts its thread, so after a failed start
    a thread of the old executor later takes the call left queued (a no-op: ``_Task``'s claim) and counts itself
    idle for it, and that executor would start no thread again: every later batch one call after another (found by
    review ba)."""

    __slots__ = ("_executor", "_lock", "_name", "_workers")

    def __init__(self, workers: int, name: str) -> None:
        self._workers, self._name = workers, name
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    @property
    def built(self) -> bool:
        return self._executor is not None

    def executor(self) -> ThreadPoolExecutor:
        """The current executor, built if there is none."""
        with self._lock:
            if self._executor is None:
                from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - at first use, not at cold start

                self._executor = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix=self._name)
            return self._executor

    def submit(self, call: Callable[[], object]) -> None:
        """Run ``call`` on a thread of the pool; ``RuntimeError`` when the executor refuses it (then retired)."""
        executor = self.executor()
        try:
            executor.submit(call)
        except RuntimeError:
            with self._lock:
                if self._executor is executor:
                    self._executor = None
            executor.shutdown(wait=False)  # its threads end once they have taken what is queued
            raise


def run_all(pool: ThreadPool, calls: Sequence[Callable[[], T]], limit: int) -> list[T]:
    """Run ``calls``, at most ``limit`` at once; every call's result in order, or the first exception in order once
    every call has ended (see the module docstring); none: nothing runs, no pool is built. Not from a call running on
    ``pool`` itself: once the pool is full its threads would wait for each other."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if len(calls) == 1:
        return [calls[0]()]
    slots = threading.BoundedSemaphore(limit)
    tasks: list[_Task] = []
    refused = False
    try:
        for call in calls:
            slots.acquire()
            task = _Task(partial(contextvars.copy_context().run, call), slots)  # a copy each: one thread each
            if not refused:
                try:
                    pool.submit(task.run)
                except RuntimeError:  # no thread to be had: this call and the rest here, one after another
                    refused = True
                else:
                    tasks.append(task)
                    continue
            tasks.append(task)
            task.run()
    finally:  # what was started is waited for, even when starting the next failed
        for task in tasks:
            task.done.wait()
    for task in tasks:
        if task.error is not None:
            raise task.error
    return [task.result for task in tasks]


class _Task:
    """One call, run once, by whichever thread claims it first. ``ThreadPoolExecutor.submit`` queues a call before it
    starts a thread for it: when that start fails (``RuntimeError``) the call stays queued, and a thread of the pool
    would run it later — after ``run_all`` ran it here and returned (found by review az). Its claim makes that late
    run a no-op. ``done`` is set once it ran; ``slots`` gets its slot back then."""

    __slots__ = ("_call", "_claimed", "_lock", "_slots", "done", "error", "result")

    def __init__(self, call: Callable[[], Any], slots: threading.BoundedSemaphore) -> None:
        self._call, self._slots = call, slots
        self._lock = threading.Lock()
        self._claimed = False
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        with self._lock:
            if self._claimed:
                return
            self._claimed = True
        try:
            self.result = self._call()
        except BaseException as exc:  # raised on the calling thread by run_all, in order
            self.error = exc
        finally:
            self._slots.release()
            self.done.set()
