"""The consumer-queue contract, on every backend: ``SqliteQueue`` (the local stack) and ``MnsQueue`` over HTTP
against the MNS double (``tools.doubles.mns``: signature, XML and MNS's visibility semantics).

Both backends here hide a received message for 30 s: SqliteQueue's default ``visibility_timeout``, and the
double's queue attribute (MNS applies the queue's VisibilityTimeout to every receive). SQLite-only behaviour (a
per-receive visibility timeout, visibility 0, queues sharing a file, ``size``) is tested on ``sqlite_queue``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from shared.signing import Credentials
from shared.storage import (
    MAX_RAW_MESSAGE_BYTES,
    ConsumerQueue,
    MessageTooLarge,
    MnsQueue,
    ReceiptInvalid,
    SqliteQueue,
    decode_message_body,
)
from tools.doubles.mns import MnsDouble, QueueAttributes

VISIBILITY = 30


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Advancing(Protocol):
    @property
    def now(self) -> float: ...

    def advance(self, seconds: float) -> None: ...


class DoubleClock:
    def __init__(self, double: MnsDouble) -> None:
        self.double = double

    @property
    def now(self) -> float:
        return self.double.now()

    def advance(self, seconds: float) -> None:
        self.double.advance(seconds)


@dataclass
class Backend:
    queue: ConsumerQueue
    clock: Advancing


@pytest.fixture(params=["sqlite", "mns-double"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        clock = Clock()
        yield Backend(SqliteQueue(tmp_path / "queues.sqlite3", "kyc-recheck", clock=clock), clock)
        return
    creds = Credentials("LTAI-contract", "contract-secret", "contract-sts")
    attributes = QueueAttributes(visibility_timeout=VISIBILITY, message_retention_period=604_800)
    with MnsDouble(
        access_key_id=creds.access_key_id,
        access_key_secret=creds.access_key_secret,
        security_token=creds.security_token,
        queues={"kyc-recheck": attributes},
    ) as double:
        yield Backend(MnsQueue(double.endpoint, "kyc-recheck", creds, timeout=10), DoubleClock(double))


@pytest.fixture
def sqlite_clock() -> Clock:
    return Clock()


@pytest.fixture
def sqlite_queue(tmp_path: Path, sqlite_clock: Clock) -> SqliteQueue:
    return SqliteQueue(tmp_path / "queues.sqlite3", "kyc-recheck", clock=sqlite_clock)


def test_queue_satisfies_consumer_protocol(backend: Backend) -> None:
    assert isinstance(backend.queue, ConsumerQueue)


def test_sent_message_is_received_with_body_and_metadata(backend: Backend) -> None:
    sent_at = backend.clock.now
    message_id = backend.queue.send(b"\x00binary\xff")
    [message] = backend.queue.receive()
    assert (message.message_id, message.body, message.receive_count) == (message_id, b"\x00binary\xff", 1)
    assert message.first_enqueued_at == pytest.approx(sent_at, abs=1.0)  # MNS reports milliseconds


def test_delayed_message_is_invisible_until_its_delay_passes(backend: Backend) -> None:
    backend.queue.send(b"later", delay_seconds=60)
    backend.clock.advance(59)
    assert backend.queue.receive() == []
    backend.clock.advance(1)
    assert [m.body for m in backend.queue.receive()] == [b"later"]


def test_received_message_is_hidden_for_the_visibility_timeout(backend: Backend) -> None:
    backend.queue.send(b"x")
    backend.queue.receive(visibility_timeout=VISIBILITY)
    backend.clock.advance(VISIBILITY - 1)
    assert backend.queue.receive() == []


def test_undeleted_message_is_redelivered_with_new_receipt(backend: Backend) -> None:
    backend.queue.send(b"x")
    [first] = backend.queue.receive(visibility_timeout=VISIBILITY)
    backend.clock.advance(VISIBILITY)
    [second] = backend.queue.receive()
    assert second.message_id == first.message_id
    assert second.receipt != first.receipt and second.receive_count == 2


def test_delete_with_current_receipt_removes_message(backend: Backend) -> None:
    backend.queue.send(b"x")
    [message] = backend.queue.receive()
    assert backend.queue.delete(message.receipt) is True
    backend.clock.advance(100)
    assert backend.queue.receive() == []


def test_delete_with_stale_receipt_keeps_redelivered_message(backend: Backend) -> None:
    backend.queue.send(b"x")
    [first] = backend.queue.receive()
    backend.clock.advance(VISIBILITY)
    [again] = backend.queue.receive()
    assert backend.queue.delete(first.receipt) is False
    assert backend.queue.delete(again.receipt) is True


def test_change_visibility_extends_hiding(backend: Backend) -> None:
    backend.queue.send(b"x")
    [message] = backend.queue.receive()
    backend.queue.change_visibility(message.receipt, 300)
    backend.clock.advance(200)
    assert backend.queue.receive() == []
    backend.clock.advance(100)
    assert len(backend.queue.receive()) == 1


def test_change_visibility_returns_the_receipt_that_deletes_the_message(backend: Backend) -> None:
    backend.queue.send(b"x")
    [message] = backend.queue.receive()
    receipt = backend.queue.change_visibility(message.receipt, 300)
    assert backend.queue.delete(receipt) is True
    backend.clock.advance(301)
    assert backend.queue.receive() == []


def test_change_visibility_with_unknown_receipt_raises(backend: Backend) -> None:
    with pytest.raises(ReceiptInvalid):
        backend.queue.change_visibility("nope", 10)


def test_receive_respects_max_messages_in_fifo_order(backend: Backend) -> None:
    for i in range(5):
        backend.queue.send(str(i).encode())
    assert [m.body for m in backend.queue.receive(max_messages=3)] == [b"0", b"1", b"2"]


def test_body_above_limit_raises_message_too_large(backend: Backend) -> None:
    backend.queue.send(b"x" * MAX_RAW_MESSAGE_BYTES)
    with pytest.raises(MessageTooLarge):
        backend.queue.send(b"x" * (MAX_RAW_MESSAGE_BYTES + 1))


@pytest.mark.parametrize("delay", [-1, 604_801])
def test_delay_out_of_range_is_rejected(backend: Backend, delay: int) -> None:
    with pytest.raises(ValueError):
        backend.queue.send(b"x", delay_seconds=delay)


def test_a_body_too_large_is_refused_naming_its_size_once_base64_encoded(backend: Backend) -> None:
    body = b"x" * (MAX_RAW_MESSAGE_BYTES + 2)
    with pytest.raises(MessageTooLarge, match=f"{len(base64.b64encode(body))} bytes encoded, limit 65536"):
        backend.queue.send(body)


def test_a_delay_that_is_not_whole_seconds_is_rejected(backend: Backend) -> None:
    with pytest.raises(ValueError):
        backend.queue.send(b"x", delay_seconds=1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize("count", [0, 17])
def test_a_receive_asks_for_1_to_16_messages(backend: Backend, count: int) -> None:
    """MNS BatchReceiveMessage's numOfMessages: 1-16."""
    with pytest.raises(ValueError):
        backend.queue.receive(max_messages=count)


def test_change_visibility_beyond_12_hours_is_rejected(backend: Backend) -> None:
    backend.queue.send(b"x")
    [message] = backend.queue.receive()
    with pytest.raises(ValueError):
        backend.queue.change_visibility(message.receipt, 43_201)


def test_a_peek_of_no_messages_is_refused(backend: Backend) -> None:
    with pytest.raises(ValueError):
        backend.queue.peek(0)  # type: ignore[attr-defined]


def test_a_message_body_that_is_not_base64_is_refused_not_read_past() -> None:
    assert decode_message_body(base64.b64encode(b'{"a":1}')) == b'{"a":1}'
    for text in ("eyJhIjox$fQ==", "eyJhIjoxfQ", "not base64!"):
        with pytest.raises(ValueError, match="not base64"):
            decode_message_body(text)


# --- SQLite only -----------------------------------------------------------------------------------------


def test_sqlite_receive_chooses_its_visibility_timeout(sqlite_queue: SqliteQueue, sqlite_clock: Clock) -> None:
    sqlite_queue.send(b"x")
    sqlite_queue.receive(visibility_timeout=1)
    sqlite_clock.advance(1)
    assert len(sqlite_queue.receive()) == 1


def test_sqlite_delete_leaves_nothing_behind(sqlite_queue: SqliteQueue, sqlite_clock: Clock) -> None:
    sqlite_queue.send(b"x")
    [message] = sqlite_queue.receive(visibility_timeout=1)
    assert sqlite_queue.delete(message.receipt) is True
    sqlite_clock.advance(100)
    assert sqlite_queue.receive() == [] and sqlite_queue.size() == 0


def test_sqlite_stale_delete_keeps_the_message(sqlite_queue: SqliteQueue, sqlite_clock: Clock) -> None:
    sqlite_queue.send(b"x")
    [first] = sqlite_queue.receive(visibility_timeout=1)
    sqlite_clock.advance(1)
    sqlite_queue.receive(visibility_timeout=1)
    assert sqlite_queue.delete(first.receipt) is False
    assert sqlite_queue.size() == 1


def test_change_visibility_zero_makes_message_visible_now(sqlite_queue: SqliteQueue) -> None:
    """SQLite only: MNS accepts 1–43200 s (``MnsQueue.change_visibility`` refuses 0)."""
    sqlite_queue.send(b"x")
    [message] = sqlite_queue.receive(visibility_timeout=100)
    sqlite_queue.change_visibility(message.receipt, 0)
    assert len(sqlite_queue.receive()) == 1


def test_queues_in_one_file_are_separate(tmp_path: Path, sqlite_clock: Clock) -> None:
    path = tmp_path / "queues.sqlite3"
    SqliteQueue(path, "a", clock=sqlite_clock).send(b"for-a")
    assert SqliteQueue(path, "b", clock=sqlite_clock).receive() == []


@pytest.mark.parametrize("seconds", [0, 43_201])
def test_sqlite_receive_hides_a_message_for_1_to_43200_seconds(sqlite_queue: SqliteQueue, seconds: int) -> None:
    with pytest.raises(ValueError):
        sqlite_queue.receive(visibility_timeout=seconds)


def test_sqlite_peek_lists_every_message_oldest_first_with_its_receives_so_far(
    sqlite_queue: SqliteQueue,
) -> None:
    sqlite_queue.send(b"first")
    sqlite_queue.send(b"second")
    sqlite_queue.receive(max_messages=1)
    peeked = [(m.body, m.receive_count, m.receipt) for m in sqlite_queue.peek()]
    assert peeked == [(b"first", 1, ""), (b"second", 0, "")]


def test_queues_in_one_file_keep_their_receipts_and_their_sizes_apart(tmp_path: Path, sqlite_clock: Clock) -> None:
    path = tmp_path / "queues.sqlite3"
    a, b = SqliteQueue(path, "a", clock=sqlite_clock), SqliteQueue(path, "b", clock=sqlite_clock)
    a.send(b"for-a")
    [message] = a.receive()
    assert b.size() == 0 and b.delete(message.receipt) is False
    with pytest.raises(ReceiptInvalid):
        b.change_visibility(message.receipt, 0)
    sqlite_clock.advance(VISIBILITY)
    assert a.size() == 1 and [m.body for m in a.receive()] == [b"for-a"]
