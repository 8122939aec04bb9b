"""tools.ops.dlq: a walk of the dead-letter queue sees every letter once, even one slower than its hold."""

from __future__ import annotations

from pathlib import Path

from shared import jsonutil
from shared.storage.sqlite_queue import SqliteQueue
from tests.fakes import FakeClock
from tools.ops.dlq import HOLD_SECONDS, RECEIVE_BATCH, redrive


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
