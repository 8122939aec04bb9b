"""tools.ops.dlq: a walk of the dead-letter queue sees every letter once, even one slower than its hold."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared import jsonutil
from shared.signing import Credentials
from shared.storage import MnsQueue
from shared.storage.sqlite_queue import SqliteQueue
from tests.fakes import FakeClock
from tools.doubles.mns import MnsDouble, QueueAttributes
from tools.ops.dlq import HOLD_SECONDS, RECEIVE_BATCH, redrive

CREDS = Credentials("LTAI-walk", "walk-secret", "walk-sts")


def _slow_queue_of_letters(tmp_path: Path, count: int) -> tuple[SqliteQueue, list[str]]:
    """``count`` dead letters; every receive takes longer than the walk's hold, so held letters come back."""
    clock = FakeClock()
    queue = SqliteQueue(tmp_path / "queues.sqlite3", "kyc-deadletter", clock=clock)
    ids = [queue.send(jsonutil.dumps({"kind": "trigger", "queue": "recheck", "body": f"m{n}"})) for n in range(count)]
    receive = queue.receive

    def receive_slowly(**kwargs: object) -> object:
        batch = receive(**kwargs)  # type: ignore[arg-type]
        clock.advance(HOLD_SECONDS + 1)
        return batch

    queue.receive = receive_slowly  # type: ignore[method-assign]
    return queue, ids


def test_a_redrive_by_id_slower_than_its_hold_still_reaches_the_last_letter(tmp_path: Path) -> None:
    queue, ids = _slow_queue_of_letters(tmp_path, 3 * RECEIVE_BATCH)
    sent: list[bytes] = []
    report = redrive(queue, lambda name, body: sent.append(body) or "new", [ids[-1]])
    assert report.not_found == [] and [r["messageId"] for r in report.redriven] == [ids[-1]]
    assert sent == [b"m%d" % (len(ids) - 1)]


def test_a_redrive_slower_than_its_hold_sends_each_letter_once(tmp_path: Path) -> None:
    queue, ids = _slow_queue_of_letters(tmp_path, 3 * RECEIVE_BATCH)
    sent: list[bytes] = []
    report = redrive(queue, lambda name, body: sent.append(body) or "new")
    assert sorted(sent) == sorted(b"m%d" % n for n in range(len(ids))) and report.not_found == []


# --- on MNS (the double): a receive hides for the *queue's* VisibilityTimeout, whatever the walk asks, and the
# letters whose hold ran out come back before those never received (they were sent first).

DEADLETTER_VISIBILITY = 60  # template.yml's DeadletterQueue


@pytest.fixture
def mns() -> Iterator[tuple[MnsDouble, MnsQueue]]:
    attributes = QueueAttributes(visibility_timeout=DEADLETTER_VISIBILITY, message_retention_period=604_800)
    with MnsDouble(access_key_id=CREDS.access_key_id, access_key_secret=CREDS.access_key_secret,
                   security_token=CREDS.security_token, queues={"kyc-deadletter": attributes}) as double:
        yield double, MnsQueue(double.endpoint, "kyc-deadletter", CREDS, timeout=10)


def _slow_on_mns(double: MnsDouble, queue: MnsQueue, count: int) -> list[str]:
    """``count`` letters; every receive takes a third of the queue's visibility timeout."""
    ids = [queue.send(jsonutil.dumps({"kind": "trigger", "queue": "recheck", "body": f"m{n}"})) for n in range(count)]
    receive = queue.receive

    def receive_slowly(**kwargs: object) -> object:
        batch = receive(**kwargs)  # type: ignore[arg-type]
        double.advance(DEADLETTER_VISIBILITY // 3)
        return batch

    queue.receive = receive_slowly  # type: ignore[method-assign]
    return ids


def test_on_mns_a_redrive_by_id_slower_than_the_queues_visibility_still_reaches_the_last_letter(
    mns: tuple[MnsDouble, MnsQueue],
) -> None:
    double, queue = mns
    ids = _slow_on_mns(double, queue, 8 * RECEIVE_BATCH)
    sent: list[bytes] = []
    report = redrive(queue, lambda name, body: sent.append(body) or "new", [ids[-1]])
    assert report.not_found == [] and sent == [b"m%d" % (len(ids) - 1)]


def test_on_mns_a_walk_slower_than_the_queues_visibility_leaves_every_other_letter_on_the_queue(
    mns: tuple[MnsDouble, MnsQueue],
) -> None:
    double, queue = mns
    ids = _slow_on_mns(double, queue, 8 * RECEIVE_BATCH)
    redrive(queue, lambda name, body: "new", [ids[-1]])
    double.advance(2)  # the walk releases the letters it held with a 1 s visibility (MNS's least)
    left: set[str] = set()
    while batch := MnsQueue.receive(queue, max_messages=RECEIVE_BATCH):  # the instance's receive is the slow one
        left |= {m.message_id for m in batch}
    assert left == set(ids[:-1])
