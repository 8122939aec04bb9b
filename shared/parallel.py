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
call and the rest run on the calling thread, one after another: slower, never a failure of the caller's own.

``concurrent.futures`` is imported by the first pool built (:func:`thread_pool` inside a :class:`~shared.lazy.Lazy`),
never at a function's cold start.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Sequence

from shared.lazy import Lazy

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor
    from typing import TypeVar

    T = TypeVar("T")


#: Invocations one process runs at once: FC runs one per instance (instance concurrency 1, s.yaml); the local worker
#: runs up to its in-flight bound per queue (tools/devstack/worker.py, ``Subscription.max_in_flight``). A pool has
#: ``limit`` threads for each, so one invocation's calls never wait behind another's (a call's deadline starts when
#: it runs: queued behind others, a batch would take more than the one deadline per ``limit`` its budget counts).
MAX_CONCURRENT_CALLERS = 8


def thread_pool(workers: int, name: str) -> Lazy[ThreadPoolExecutor]:
    """A pool of up to ``workers`` threads named ``name``, built by its first use; its threads start on demand."""

    def build() -> ThreadPoolExecutor:
        from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - at first use, not at cold start

        return ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)

    return Lazy(build)


def run_all(pool: Lazy[ThreadPoolExecutor], calls: Sequence[Callable[[], T]], limit: int) -> list[T]:
    """Run ``calls``, at most ``limit`` at once; every call's result in order, or the first exception in order once
    every call has ended (see the module docstring)."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if len(calls) == 1:
        return [calls[0]()]
    slots = threading.BoundedSemaphore(limit)
    futures: list[Future[T]] = []
    try:
        for index, call in enumerate(calls):
            slots.acquire()
            try:
                future = pool.get().submit(contextvars.copy_context().run, call)  # a copy each: one thread each
            except RuntimeError:  # no thread to be had: this call and the rest here, one after another
                slots.release()
                futures.extend(_run_here(late) for late in calls[index:])
                break
            future.add_done_callback(lambda _: slots.release())
            futures.append(future)
    finally:  # what was started is waited for, even when starting the next failed
        for future in futures:
            future.exception()
    return [future.result() for future in futures]


def _run_here(call: Callable[[], T]) -> Future[T]:
    """``call`` run on this thread, its outcome as a finished future."""
    from concurrent.futures import Future  # noqa: PLC0415 - imported with the pool already

    future: Future[T] = Future()
    try:
        future.set_result(call())
    except Exception as exc:  # kept: run_all raises it in order
        future.set_exception(exc)
    return future
