from __future__ import annotations

from pathlib import Path

import pytest

from shared.storage import (
    MAX_RAW_MESSAGE_BYTES,
    ConsumerQueue,
    MessageTooLarge,
    ReceiptInvalid,
    SqliteQueue,
)


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queue(tmp_path: Path, clock: Clock) -> SqliteQueue:
    return SqliteQueue(tmp_path / "queues.sqlite3", "kyc-recheck", clock=clock)


def test_queue_satisfies_consumer_protocol(queue: SqliteQueue) -> None:
    assert isinstance(queue, ConsumerQueue)


def test_sent_message_is_received_with_body_and_metadata(queue: SqliteQueue) -> None:
    message_id = queue.send(b"\x00binary\xff")
    [message] = queue.receive()
    assert (message.message_id, message.body, message.receive_count, message.first_enqueued_at) == (
        message_id,
        b"\x00binary\xff",
        1,
        1000.0,
    )


def test_delayed_message_is_invisible_until_its_delay_passes(queue: SqliteQueue, clock: Clock) -> None:
    queue.send(b"later", delay_seconds=60)
    clock.now += 59
    assert queue.receive() == []
    clock.now += 1
    assert [m.body for m in queue.receive()] == [b"later"]


def test_received_message_is_hidden_for_the_visibility_timeout(queue: SqliteQueue, clock: Clock) -> None:
    queue.send(b"x")
    queue.receive(visibility_timeout=30)
    clock.now += 29
    assert queue.receive() == []


def test_undeleted_message_is_redelivered_with_new_receipt(queue: SqliteQueue, clock: Clock) -> None:
    queue.send(b"x")
    [first] = queue.receive(visibility_timeout=30)
    clock.now += 30
    [second] = queue.receive()
    assert second.message_id == first.message_id
    assert second.receipt != first.receipt and second.receive_count == 2


def test_delete_with_current_receipt_removes_message(queue: SqliteQueue, clock: Clock) -> None:
    queue.send(b"x")
    [message] = queue.receive(visibility_timeout=1)
    assert queue.delete(message.receipt) is True
    clock.now += 100
    assert queue.receive() == [] and queue.size() == 0


def test_delete_with_stale_receipt_keeps_redelivered_message(queue: SqliteQueue, clock: Clock) -> None:
    queue.send(b"x")
    [first] = queue.receive(visibility_timeout=1)
    clock.now += 1
    queue.receive(visibility_timeout=1)
    assert queue.delete(first.receipt) is False
    assert queue.size() == 1


def test_change_visibility_extends_hiding(queue: SqliteQueue, clock: Clock) -> None:
    queue.send(b"x")
    [message] = queue.receive(visibility_timeout=10)
    queue.change_visibility(message.receipt, 300)
    clock.now += 200
    assert queue.receive() == []


def test_change_visibility_zero_makes_message_visible_now(queue: SqliteQueue) -> None:
    queue.send(b"x")
    [message] = queue.receive(visibility_timeout=100)
    queue.change_visibility(message.receipt, 0)
    assert len(queue.receive()) == 1


def test_change_visibility_with_unknown_receipt_raises(queue: SqliteQueue) -> None:
    with pytest.raises(ReceiptInvalid):
        queue.change_visibility("nope", 10)


def test_receive_respects_max_messages_in_fifo_order(queue: SqliteQueue) -> None:
    for i in range(5):
        queue.send(str(i).encode())
    assert [m.body for m in queue.receive(max_messages=3)] == [b"0", b"1", b"2"]


def test_queues_in_one_file_are_separate(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "queues.sqlite3"
    SqliteQueue(path, "a", clock=clock).send(b"for-a")
    assert SqliteQueue(path, "b", clock=clock).receive() == []


def test_body_above_limit_raises_message_too_large(queue: SqliteQueue) -> None:
    queue.send(b"x" * MAX_RAW_MESSAGE_BYTES)
    with pytest.raises(MessageTooLarge):
        queue.send(b"x" * (MAX_RAW_MESSAGE_BYTES + 1))


@pytest.mark.parametrize("delay", [-1, 604_801])
def test_delay_out_of_range_is_rejected(queue: SqliteQueue, delay: int) -> None:
    with pytest.raises(ValueError):
        queue.send(b"x", delay_seconds=delay)
