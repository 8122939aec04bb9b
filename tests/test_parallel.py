"""``shared.parallel.run_all``: calls side by side, at most a limit at once, every one waited for."""

from __future__ import annotations

import threading
import time

import pytest

from shared.parallel import ThreadPool, run_all

WAIT = 5.0  # seconds a test waits for calls that must overlap; they meet at once when they do


def test_results_come_back_in_the_order_of_the_calls() -> None:
    pool = ThreadPool(4, "t")
    calls = [lambda n=n: (time.sleep(0.01 * (4 - n)), n)[1] for n in range(4)]  # the last ends first
    assert run_all(pool, calls, 4) == [0, 1, 2, 3]


def test_the_calls_run_side_by_side() -> None:
    meeting = threading.Barrier(3, timeout=WAIT)  # broken, and the calls fail, unless all three wait at once
    assert sorted(run_all(ThreadPool(3, "t"), [meeting.wait] * 3, 3)) == [0, 1, 2]  # each its arrival index


def test_no_more_than_the_limit_run_at_once() -> None:
    running, most = 0, 0
    lock = threading.Lock()

    def call() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)
        with lock:
            running -= 1

    run_all(ThreadPool(8, "t"), [call] * 8, 3)
    assert most <= 3


def test_an_empty_batch_returns_nothing_and_builds_no_pool() -> None:
    pool = ThreadPool(2, "t")
    assert run_all(pool, [], 2) == []
    assert not pool.built


def test_a_single_call_runs_on_the_calling_thread_and_builds_no_pool() -> None:
    pool = ThreadPool(2, "t")
    assert run_all(pool, [threading.get_ident], 2) == [threading.get_ident()]
    assert not pool.built


def test_a_failure_is_raised_only_once_every_call_has_ended() -> None:
    ended = threading.Event()

    def fails_at_once() -> None:
        raise RuntimeError("first")

    def ends_later() -> None:
        time.sleep(0.05)
        ended.set()

    with pytest.raises(RuntimeError, match="first"):
        run_all(ThreadPool(2, "t"), [fails_at_once, ends_later], 2)
    assert ended.is_set()


def test_the_first_failure_in_the_order_of_the_calls_is_raised() -> None:
    def fails_late() -> None:
        time.sleep(0.05)
        raise RuntimeError("first call")

    def fails_early() -> None:
        raise ValueError("second call")

    with pytest.raises(RuntimeError, match="first call"):
        run_all(ThreadPool(2, "t"), [fails_late, fails_early], 2)


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        run_all(ThreadPool(1, "t"), [lambda: 0], 0)


def test_each_call_logs_with_the_caller_s_log_context() -> None:
    from shared.log import current_context, log_context

    with log_context(merchant_biz_id="mbid-1", request_id="req-1"):
        seen = run_all(ThreadPool(2, "t"), [lambda: dict(current_context())] * 2, 2)
    assert seen == [{"requestId": "req-1", "merchantBizId": "mbid-1"}] * 2


def test_calls_a_pool_refuses_run_on_the_calling_thread_in_order() -> None:
    """A pool that cannot start a thread (or an interpreter shutting down) slows the calls, never fails them."""
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPool(2, "t")
    executor = pool.executor()
    assert isinstance(executor, ThreadPoolExecutor)
    executor.shutdown()  # its submit now raises RuntimeError
    here = threading.get_ident()
    assert run_all(pool, [lambda: (1, threading.get_ident()), lambda: (2, threading.get_ident())], 2) == [
        (1, here), (2, here)]


def test_a_failure_of_a_call_run_on_the_calling_thread_is_raised_in_order() -> None:
    pool = ThreadPool(2, "t")
    pool.executor().shutdown()

    def fails() -> None:
        raise RuntimeError("the call's own")

    with pytest.raises(RuntimeError, match="the call's own"):
        run_all(pool, [lambda: 1, fails, lambda: 3], 2)


@pytest.fixture
def thread_start_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Threads named ``refuse*`` after the first cannot be started (``RuntimeError: can't start new thread``), as
    when a process is out of threads or memory for their stacks."""
    real_start = threading.Thread.start
    started: list[str] = []

    def start(self: threading.Thread) -> None:
        if self.name.startswith("refuse"):
            if started:
                raise RuntimeError("can't start new thread")
            started.append(self.name)
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", start)


@pytest.mark.usefixtures("thread_start_refused")
def test_a_call_whose_thread_cannot_be_started_runs_once_and_before_run_all_returns() -> None:
    """Found by review az: ``ThreadPoolExecutor.submit`` queues the work item *before* it starts a thread for it:
    when the start raises ``RuntimeError``, ``run_all`` runs the call on the calling thread, and the queued item was
    still run later by the pool's running thread once it was free — a second time, after ``run_all`` returned (a put
    after the caller moved on, a dead letter or follow-up message sent twice)."""
    pool = ThreadPool(4, "refuse")
    release = threading.Event()
    runs: list[str] = []
    lock = threading.Lock()

    def first() -> str:
        release.wait(2)
        return "first"

    def second() -> str:
        with lock:
            runs.append("second")
        return "second"

    def let_first_end() -> None:
        time.sleep(0.2)
        release.set()

    threading.Thread(target=let_first_end).start()
    assert run_all(pool, [first, second], 2) == ["first", "second"]
    runs_when_returned = len(runs)
    time.sleep(0.3)  # the pool's one thread is free now: it takes what is still queued
    pool.executor().shutdown(wait=True)
    assert (runs_when_returned, len(runs)) == (1, 1)


def refuse_thread_starts(monkeypatch: pytest.MonkeyPatch, prefix: str) -> list[bool]:
    """Threads named ``prefix*`` cannot be started (``RuntimeError: can't start new thread``, as when a process is out
    of threads or memory for their stacks) while the returned flag's only item is true."""
    real_start = threading.Thread.start
    refuse = [True]

    def start(self: threading.Thread) -> None:
        if self.name.startswith(prefix) and refuse[0]:
            raise RuntimeError("can't start new thread")
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    return refuse


def test_a_call_a_pool_refused_is_not_run_again_by_a_later_run_all(monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by review az: a pool with no thread yet, whose first thread cannot be started: the call is queued inside
    the executor and run on the calling thread; the next ``run_all`` on that pool (a later invocation: another
    message, another fetch) started a thread, which first ran the stale queued call again."""
    refuse = refuse_thread_starts(monkeypatch, "stale")
    pool = ThreadPool(4, "stale")
    runs: list[str] = []
    lock = threading.Lock()

    def call(name: str) -> str:
        with lock:
            runs.append(name)
        return name

    assert run_all(pool, [lambda: call("dead letter of message 1"), lambda: call("follow-up of message 1")], 2) == [
        "dead letter of message 1",
        "follow-up of message 1",
    ]
    refuse[0] = False  # threads can be started again
    run_all(pool, [lambda: call("message 2, a"), lambda: call("message 2, b")], 2)
    pool.executor().shutdown(wait=True)
    assert runs.count("dead letter of message 1") == 1, runs


def test_a_pool_that_once_could_not_start_a_thread_still_runs_later_batches_side_by_side(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by review ba: ``submit`` queues the work item before starting its thread; when the start fails, the item
    stays queued and ``run_all`` runs the call itself (``_Task``'s claim). A pool thread later takes the stale item (a
    no-op) and releases the executor's idle semaphore for it: the executor counts an idle thread it does not have,
    starts no thread for the next submit, and queues it behind a busy one. From then on every batch of that pool
    (every later invocation of the instance) ran one call after another: n deadlines where the budget counts one."""
    refuse = refuse_thread_starts(monkeypatch, "phantom")
    pool = ThreadPool(8, "phantom")
    assert run_all(pool, [lambda: 1, lambda: 2], 2) == [1, 2]  # refused: both ran on the calling thread
    refuse[0] = False  # threads can be started again (the memory pressure passed)

    run_all(pool, [lambda: None, lambda: None], 2)  # a later invocation: the stale item is taken meanwhile
    meeting = threading.Barrier(2, timeout=2.0)  # broken unless both calls wait at once
    try:
        assert sorted(run_all(pool, [meeting.wait, meeting.wait], 2)) == [0, 1]
    finally:
        pool.executor().shutdown(wait=True)


def test_a_call_ending_in_a_base_exception_on_a_pool_thread_is_raised_not_taken_for_a_result() -> None:
    """``SystemExit`` or ``KeyboardInterrupt`` in a call on a pool thread would otherwise vanish in the executor and the
    call pass for one that returned ``None`` (review bs)."""

    def interrupted() -> int:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_all(ThreadPool(2, "t"), [lambda: 1, interrupted], 2)
