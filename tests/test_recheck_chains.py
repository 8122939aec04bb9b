"""One chain of re-checks per transaction: a repeated callback, a redelivered re-check or a redelivered batch never
multiplies the chains (each would run the whole ``KYC_RECHECK_SCHEDULE``, a CheckResult with images each time), and
no crash or failed write between the message and the row loses the chain.

The row records the number of the latest re-check scheduled (``recheck_attempt``, a conditional write); the message
is sent before the row records it (``ResultFetcher._schedule_recheck``). On SQLite and on the Tablestore adapter
over the wire (the real SDK against the Tablestore double).
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.fetcher import RecheckNotScheduled
from shared.handlers.result_fetcher import ResultFetcherApp
from shared.messages import RecheckMessage
from shared.storage import DueKind, StorageError
from tests.fakes import ROW_BACKENDS, FakeCloudAuth, Stack, check_result_body, drain, peek, stack_on

PENDING = check_result_body("P")
WAIT = 30.0


@pytest.fixture(params=ROW_BACKENDS)
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    with stack_on(request.param, tmp_path) as s:
        yield s


def queue_event(*messages: RecheckMessage) -> list[dict[str, Any]]:
    """A batch of re-check messages as the MNS trigger delivers it (CloudEvents, base64 bodies)."""
    return [
        {
            "specversion": "1.0",
            "id": str(i),
            "type": "mns:Queue:SendMessage",
            "data": {"messageId": str(i), "messageBody": base64.b64encode(m.to_body()).decode()},
        }
        for i, m in enumerate(messages)
    ]


def attempts_queued(stack: Stack, mbid: str) -> list[int]:
    return [m["attempt"] for m in peek(stack.recheck) if m["merchantBizId"] == mbid]


class FlakyQueue:
    """The re-check queue, except that its ``fail_on``-th send (1-based) fails once, as MNS briefly unavailable."""

    def __init__(self, inner: Any, fail_on: int) -> None:
        self.inner, self.fail_on, self.sends = inner, fail_on, 0

    def send(self, body: bytes, *, delay_seconds: int = 0) -> str:
        self.sends += 1
        if self.sends == self.fail_on:
            raise StorageError("queue unavailable", transient=True, code="ServiceUnavailable")
        return str(self.inner.send(body, delay_seconds=delay_seconds))


class Recorder:
    """Passes every call through, logging ``<name>.<method>`` into a shared list (the order of effects)."""

    def __init__(self, inner: Any, name: str, log: list[str], *, failing: frozenset[str] = frozenset()) -> None:
        self._inner, self._name, self._log, self._failing = inner, name, log, failing

    def __getattr__(self, attr: str) -> Any:
        target = getattr(self._inner, attr)

        def call(*args: Any, **kwargs: Any) -> Any:
            self._log.append(f"{self._name}.{attr}")
            if attr in self._failing:
                raise StorageError("write failed", transient=True, code="ServerBusy")
            return target(*args, **kwargs)

        return call


# -- duplicates ---------------------------------------------------------------------------------------------------


def test_a_callback_arriving_twice_while_pending_starts_one_re_check_chain_not_two(stack: Stack) -> None:
    mbid = stack.pending().merchant_biz_id
    client = FakeCloudAuth(PENDING)
    fetcher = stack.fetcher(client)
    fetcher.fetch(mbid)
    outcome = fetcher.fetch(mbid)  # the same callback again (the vendor retrying, or a duplicate)
    assert outcome.kind == "pending"
    assert attempts_queued(stack, mbid) == [1]
    assert len(client.check_calls) == 2  # the second callback still asked the vendor at once


def test_a_redelivered_recheck_batch_does_not_fork_the_re_check_chains_it_already_scheduled(stack: Stack) -> None:
    # b's next re-check cannot be queued: the batch fails as a whole and the trigger redelivers both messages.
    a, b = stack.pending().merchant_biz_id, stack.pending().merchant_biz_id
    app = ResultFetcherApp(stack.fetcher(FakeCloudAuth(PENDING), recheck=FlakyQueue(stack.recheck, fail_on=2)))
    batch = queue_event(RecheckMessage(a, 1), RecheckMessage(b, 1))
    with pytest.raises(RecheckNotScheduled):
        app.handle(batch, None)
    assert app.handle(batch, None) == {"processed": 2}
    assert (attempts_queued(stack, a), attempts_queued(stack, b)) == ([2], [2])


def test_a_re_check_behind_the_row_is_a_duplicate_that_calls_nothing(stack: Stack) -> None:
    mbid = stack.pending().merchant_biz_id
    client = FakeCloudAuth(PENDING)
    fetcher = stack.fetcher(client, schedule=(10.0, 30.0, 60.0))
    fetcher.fetch(mbid, attempt=1)  # schedules re-check 2
    outcome = fetcher.fetch(mbid, attempt=1)  # re-check 1 delivered again
    assert outcome.kind == "duplicate"
    assert len(client.check_calls) == 1
    assert attempts_queued(stack, mbid) == [2]


def test_two_copies_of_one_re_check_run_at_once_merge_into_one_chain_at_the_next_step(stack: Stack) -> None:
    mbid = stack.pending().merchant_biz_id
    client = FakeCloudAuth(PENDING)
    fetcher = stack.fetcher(client, schedule=(10.0, 30.0, 60.0))
    barrier = threading.Barrier(2, timeout=WAIT)
    client.before_check = barrier.wait  # both copies have read the row before either queues anything
    copies = [threading.Thread(target=fetcher.fetch, args=(mbid,), kwargs={"attempt": 1}) for _ in range(2)]
    for thread in copies:
        thread.start()
    for thread in copies:
        thread.join(WAIT)
    assert attempts_queued(stack, mbid) == [2, 2]  # both were sent (the message goes first)...
    client.before_check = None
    sent: list[str] = []
    recorded = stack.fetcher(client, schedule=(10.0, 30.0, 60.0), recheck=Recorder(stack.recheck, "recheck", sent))
    outcomes: list[str] = []

    def handle(body: Any) -> None:
        message = RecheckMessage.from_body(body)
        assert message is not None
        outcomes.append(recorded.fetch(message.merchant_biz_id, attempt=message.attempt).kind)

    drain(stack.recheck, handle, stack.clock)
    assert sorted(outcomes) == ["duplicate", "pending", "pending"]  # ...one of them goes on, the other stops
    assert len(sent) == 1  # re-check 3, once; the schedule ends there


def test_a_chain_that_ran_out_is_not_restarted_by_a_later_callback(stack: Stack) -> None:
    mbid = stack.pending().merchant_biz_id
    fetcher = stack.fetcher(FakeCloudAuth(PENDING), schedule=(10.0,))
    fetcher.fetch(mbid)  # the callback: re-check 1
    fetcher.fetch(mbid, attempt=1)  # the last of the schedule: none after it
    fetcher.fetch(mbid)  # the vendor calls back again, still pending
    assert attempts_queued(stack, mbid) == [1]  # the sweeper owns it from here on (its hourly backoff)
    row = stack.store.get(mbid)
    assert row is not None and row.next_check_at is not None
    assert mbid in [r.merchant_biz_id for r in stack.store.due(DueKind.CHECK, row.next_check_at)[0]]


# -- the order of effects, and what a failure between them leaves ----------------------------------------------


def test_the_next_re_check_is_queued_before_the_row_records_it(stack: Stack) -> None:
    mbid = stack.pending().merchant_biz_id
    log: list[str] = []
    store, recheck = Recorder(stack.store, "store", log), Recorder(stack.recheck, "recheck", log)
    fetcher = stack.fetcher(FakeCloudAuth(PENDING), store=store, recheck=recheck)
    fetcher.fetch(mbid)
    assert log == ["store.get", "recheck.send", "store.record_check"]
    row = stack.store.get(mbid)
    assert row is not None and row.recheck_attempt == 1


def test_a_re_check_ahead_of_the_row_is_the_chain_and_goes_on(stack: Stack) -> None:
    # Re-check 2 was queued, and the write that would have recorded it on the row never happened.
    mbid = stack.pending().merchant_biz_id
    outcome = stack.fetcher(FakeCloudAuth(PENDING), schedule=(10.0, 30.0, 60.0)).fetch(mbid, attempt=2)
    assert outcome.kind == "pending"
    assert attempts_queued(stack, mbid) == [3]
    row = stack.store.get(mbid)
    assert row is not None and row.recheck_attempt == 3


def test_a_row_write_failing_after_the_re_check_was_queued_keeps_the_chain(stack: Stack) -> None:
    mbid = stack.pending().merchant_biz_id
    client = FakeCloudAuth(PENDING)
    failing = Recorder(stack.store, "store", [], failing=frozenset({"record_check"}))
    outcome = stack.fetcher(client, store=failing).fetch(mbid)  # no RecheckNotScheduled: the message is out
    assert outcome.kind == "pending"
    assert attempts_queued(stack, mbid) == [1]
    row = stack.store.get(mbid)
    assert row is not None and row.recheck_attempt == 0
    assert stack.fetcher(client).fetch(mbid, attempt=1).kind == "pending"  # ahead of the row: accepted
    assert attempts_queued(stack, mbid) == [1, 2]


def test_a_failed_send_leaves_the_row_unchanged_so_the_retried_trigger_is_not_a_duplicate(stack: Stack) -> None:
    mbid = stack.pending().merchant_biz_id
    client = FakeCloudAuth(PENDING)
    with pytest.raises(RecheckNotScheduled):
        stack.fetcher(client, recheck=FlakyQueue(stack.recheck, fail_on=1)).fetch(mbid, attempt=1)
    row = stack.store.get(mbid)
    assert row is not None and (row.recheck_attempt, row.check_count) == (0, 0)
    assert stack.fetcher(client).fetch(mbid, attempt=1).kind == "pending"  # the redelivery
    assert attempts_queued(stack, mbid) == [2]
