"""tools.ops.dlq: a walk of the dead-letter queue sees every letter once, even one slower than its hold."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shared import jsonutil
from shared.signing import Credentials
from shared.storage import MnsQueue, ReceivedMessage, StorageError
from shared.storage.sqlite_queue import SqliteQueue
from tests.fakes import FakeClock
from tools.doubles.mns import MnsDouble, QueueAttributes
from tools.ops.dlq import HOLD_SECONDS, RECEIVE_BATCH, redrive, rehold_seconds, walk

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


def test_a_redrive_sends_a_letter_its_receiver_refuses_again_at_once_only_once(tmp_path: Path) -> None:
    """The receiver still answers 410: the notifier dead-letters the message sent back at once, as a new letter,
    which the walk meets while it runs. It stays a dead letter; one run sends the message once."""
    queue = SqliteQueue(tmp_path / "queues.sqlite3", "kyc-deadletter", clock=FakeClock())
    letter = jsonutil.dumps({"kind": "notify", "reason": "webhook_undeliverable", "merchantBizId": "tx" + "0" * 30,
                             "subscriberKey": "a", "attempts": 1, "lastError": "http_410", "lastStatus": 410})
    queue.send(letter)
    sent: list[bytes] = []

    def send_and_fail_again(name: str, body: bytes) -> str:
        sent.append(body)
        queue.send(letter)  # the notifier: 410 again, dead-lettered again
        return "new"

    report = redrive(queue, send_and_fail_again)
    assert len(sent) == 1 and len(report.redriven) == 1 and len(report.skipped) == 1
    assert [m.body for m in queue.peek()] == [letter]


# --- on MNS (the double): a receive hides for the *queue's* VisibilityTimeout, whatever the walk asks, and the
# letters whose hold ran out come back before those never received (they were sent first).

DEADLETTER_VISIBILITY = 60  # template.yml's DeadletterQueue
SLOW_SEND_SECONDS = 5  # 16 sends take 80 s: the last letters of a batch outlive their 60 s receipt


@pytest.fixture
def mns() -> Iterator[tuple[MnsDouble, MnsQueue]]:
    attributes = QueueAttributes(visibility_timeout=DEADLETTER_VISIBILITY, message_retention_period=604_800)
    with MnsDouble(access_key_id=CREDS.access_key_id, access_key_secret=CREDS.access_key_secret,
                   security_token=CREDS.security_token, queues={"kyc-deadletter": attributes}) as double:
        yield double, MnsQueue(double.endpoint, "kyc-deadletter", CREDS, timeout=10)


def _slow_on_mns(double: MnsDouble, queue: MnsQueue, count: int, *, one_at_a_time: bool = False,
                 seconds: int | None = None) -> list[str]:
    """``count`` letters; every receive takes a third of the queue's visibility timeout, or, ``one_at_a_time``,
    returns one letter (BatchReceiveMessage's count is a maximum) and takes a twentieth of it, or takes
    ``seconds``."""
    ids = [queue.send(jsonutil.dumps({"kind": "trigger", "queue": "recheck", "body": f"m{n}"})) for n in range(count)]
    receive = queue.receive

    def receive_slowly(**kwargs: object) -> object:
        if one_at_a_time:
            kwargs["max_messages"] = 1
        batch = receive(**kwargs)  # type: ignore[arg-type]
        double.advance(seconds or DEADLETTER_VISIBILITY // (20 if one_at_a_time else 3))
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


def _letters(queue: MnsQueue, count: int) -> list[str]:
    return [queue.send(jsonutil.dumps({"kind": "trigger", "queue": "recheck", "body": f"m{n}"})) for n in range(count)]


def _left_on(queue: MnsQueue) -> set[str]:
    left: set[str] = set()
    while batch := queue.receive(max_messages=RECEIVE_BATCH):
        left |= {m.message_id for m in batch}
    return left


def _slow_send(double: MnsDouble, sent: list[bytes]) -> Callable[[str, bytes], str]:
    def send(name: str, body: bytes) -> str:
        double.advance(SLOW_SEND_SECONDS)
        sent.append(body)
        return "new"

    return send


def test_on_mns_a_redrive_whose_sends_outlast_the_queues_visibility_reaches_every_letter(
    mns: tuple[MnsDouble, MnsQueue],
) -> None:
    double, queue = mns
    ids = _letters(queue, 20 * RECEIVE_BATCH)
    sent: list[bytes] = []
    report = redrive(queue, _slow_send(double, sent), clock=double.now)
    assert report.skipped == [] and report.not_found == [] and report.not_deleted == []
    assert len(sent) == len(set(sent)) == len(ids), "the walk stopped before it reached every letter, or sent one twice"


def test_on_mns_a_letter_a_redrive_reports_redriven_is_no_longer_a_dead_letter(
    mns: tuple[MnsDouble, MnsQueue],
) -> None:
    double, queue = mns
    _letters(queue, 3 * RECEIVE_BATCH)
    report = redrive(queue, _slow_send(double, []), clock=double.now)
    double.advance(DEADLETTER_VISIBILITY + 1)
    still_there = {r["messageId"] for r in report.redriven} & _left_on(queue)
    assert still_there == set(), "reported redriven, still on the queue: the next redrive sends it again"


def test_on_mns_a_letter_whose_answer_to_its_re_hold_was_lost_is_visible_again_when_that_re_hold_ends(
    mns: tuple[MnsDouble, MnsQueue],
) -> None:
    # Every receive takes a third of the visibility, so held letters come back and are hidden again; the answer to
    # the first such re-hold is lost in transport after MNS applied it: its new receipt is unknown.
    double, queue = mns
    ids = _letters(queue, 8 * RECEIVE_BATCH)
    receive, change = queue.receive, queue.change_visibility
    lost: list[int] = []

    def receive_slowly(max_messages: int = 10, visibility_timeout: int = 30) -> list[ReceivedMessage]:
        batch = receive(max_messages=max_messages, visibility_timeout=visibility_timeout)
        double.advance(DEADLETTER_VISIBILITY // 3)
        return batch

    def change_losing_one_answer(receipt: str, seconds: int) -> str:
        new = change(receipt, seconds)
        if seconds >= HOLD_SECONDS and not lost:
            lost.append(seconds)
            raise StorageError("mns ChangeMessageVisibility transport error", transient=True, code="TransportError",
                               maybe_sent=True)
        return new

    queue.receive = receive_slowly  # type: ignore[method-assign]
    queue.change_visibility = change_losing_one_answer  # type: ignore[method-assign]
    redrive(queue, lambda name, body: "new", [ids[-1]], clock=double.now)
    assert lost, "a held letter came back and was hidden again"
    double.advance(lost[0] + 1)
    left: set[str] = set()
    while batch := MnsQueue.receive(queue, max_messages=RECEIVE_BATCH):
        left |= {m.message_id for m in batch}
    assert left == set(ids[:-1])


def test_a_held_letter_that_comes_back_is_hidden_for_twice_as_long_as_the_walk_has_run() -> None:
    assert rehold_seconds(0) == HOLD_SECONDS
    assert rehold_seconds(HOLD_SECONDS) == 2 * HOLD_SECONDS
    assert rehold_seconds(10**9) == 43_200  # MNS's longest visibility



def test_on_mns_a_redrive_by_id_reaches_the_last_letter_when_receives_return_one_letter_that_came_back(
    mns: tuple[MnsDouble, MnsQueue],
) -> None:
    """BatchReceiveMessage takes a *maximum* number of messages, and MNS "does not guarantee the order in which
    messages are consumed" (its FAQ): a receive may return a single letter that came back while others were never
    received. Here the twenty letters held first come back together and are handed out one by one before the rest:
    the walk stops on letters counted, not on receives."""
    double, queue = mns
    ids = _slow_on_mns(double, queue, 3 * RECEIVE_BATCH, one_at_a_time=True)
    sent: list[bytes] = []
    report = redrive(queue, lambda name, body: sent.append(body) or "new", [ids[-1]])
    assert report.not_found == [] and sent == [b"m%d" % (len(ids) - 1)]


def test_a_redrive_goes_on_past_a_letter_that_came_back_and_whose_second_deletion_worked(
    mns: tuple[MnsDouble, MnsQueue],
) -> None:
    """The first letter is redriven but the answer to its deletion is lost (MNS never got it), so it stays
    'undeleted'. Receives return one letter each (BatchReceiveMessage's count is a maximum) and take 3 s, so the
    letter comes back after the queue's 60 s visibility and is handed out before the letters never received. The walk
    deletes it with its new receipt, which empties ``undeleted`` *before* the stop rule compares: ``0 >= 0`` ends the
    walk on that very receive, and two thirds of the dead letters are never redriven (an operator's ``redrive --id``
    reports them notFound). The letters that came back in this receive must count among those that may come back."""
    double, queue = mns
    ids = _slow_on_mns(double, queue, 3 * RECEIVE_BATCH, one_at_a_time=True)
    delete = queue.delete
    lost: list[str] = []

    def delete_losing_the_first_request(receipt: str) -> bool:
        if not lost:
            lost.append(receipt)
            raise StorageError("mns DeleteMessage transport error", transient=True, code="TransportError",
                               maybe_sent=False)
        return delete(receipt)

    queue.delete = delete_losing_the_first_request  # type: ignore[method-assign]
    sent: list[bytes] = []

    def send(name: str, body: bytes) -> str:
        sent.append(body)
        return "new"

    report = redrive(queue, send)
    assert lost, "the first deletion was lost"
    assert sorted(sent) == sorted(b"m%d" % n for n in range(len(ids))), (
        f"the walk stopped after {len(sent)} of {len(ids)} letters"
    )
    assert report.not_deleted == []


# -- a walk at its limit (review qq) ------------------------------------------------------------------------------


def _letters_slower_than_their_hold(double: MnsDouble, queue: MnsQueue, count: int) -> list[str]:
    """``count`` letters; every receive takes longer than the queue's visibility timeout (a walk of 10 000 letters
    on MNS runs far longer than 60 s), so the letters the walk held are visible again at its next receive."""
    return _slow_on_mns(double, queue, count, seconds=DEADLETTER_VISIBILITY + 1)


def test_a_walk_that_stops_at_its_limit_with_letters_unseen_says_so_even_when_held_letters_came_back_first(
    mns: tuple[MnsDouble, MnsQueue],
) -> None:
    double, queue = mns
    ids = _letters_slower_than_their_hold(double, queue, 3 * RECEIVE_BATCH)

    result = walk(queue, lambda letter: False, limit=RECEIVE_BATCH, clock=double.now)  # hold every letter

    assert result.seen == RECEIVE_BATCH and len(ids) - result.seen == 2 * RECEIVE_BATCH  # 32 letters never seen
    assert result.stopped_at_limit, (
        f"the walk saw {result.seen} of {len(ids)} letters and stopped at its limit, yet stopped_at_limit is "
        "False: its one probe receive brought back only letters it had held (their hold ran out), and it took "
        "that for an empty queue"
    )


def test_a_redrive_by_id_at_its_limit_does_not_report_a_letter_it_never_saw_as_not_on_the_queue(
    mns: tuple[MnsDouble, MnsQueue],
) -> None:
    double, queue = mns
    ids = _letters_slower_than_their_hold(double, queue, 3 * RECEIVE_BATCH)
    sent: list[bytes] = []

    report = redrive(queue, lambda name, body: sent.append(body) or "new", [ids[-1]], clock=double.now,
                     limit=RECEIVE_BATCH)

    assert sent == [] and report.not_found == [ids[-1]]  # the letter asked for is on the queue, never reached
    assert report.stopped_at_limit, (
        f"kyc dlq redrive --id {ids[-1]}: notFound, stoppedAtLimit False (the operator is told the letter is not a "
        "dead letter) while the walk stopped at its limit with 32 letters unseen, the one asked for among them"
    )


# -- a walk's end (found by mutating tools/ops/dlq.py) ------------------------------------------------------------


class _ScriptedQueue:
    """Each receive hands out the next batch of the script (letters named by id), then nothing."""

    def __init__(self, *batches: list[str]) -> None:
        self.batches = list(batches)

    def receive(self, max_messages: int = 10, visibility_timeout: int = 30) -> list[ReceivedMessage]:
        names = self.batches.pop(0) if self.batches else []
        return [ReceivedMessage(message_id=n, body=b"{}", receipt=f"r-{n}", receive_count=1, first_enqueued_at=0.0)
                for n in names]

    def change_visibility(self, receipt: str, seconds: int) -> str:
        return receipt

    def delete(self, receipt: str) -> bool:
        return True

    def peek(self, limit: int = 100) -> list[ReceivedMessage]:
        return []


def test_a_walk_counts_letters_coming_back_only_since_the_last_new_one(tmp_path: Path) -> None:
    """Two held letters keep coming back one at a time between the new ones (MNS guarantees no order): each new
    letter starts the count again, so the walk reaches the last of them."""
    queue = _ScriptedQueue(["held-a", "held-b"], ["held-a"], ["new-1"], ["held-a"], ["new-2"], ["held-a"], ["new-3"])
    result = walk(queue, lambda letter: letter.message_id.startswith("new"))  # type: ignore[arg-type]
    assert result.deleted == ["new-1", "new-2", "new-3"]


def test_a_walk_stopped_by_an_error_makes_the_letters_it_held_visible_again(tmp_path: Path) -> None:
    queue = SqliteQueue(tmp_path / "queues.sqlite3", "kyc-deadletter", clock=FakeClock())
    held = queue.send(jsonutil.dumps({"kind": "trigger", "queue": "recheck", "body": "m0"}))
    queue.send(jsonutil.dumps({"kind": "trigger", "queue": "recheck", "body": "m1"}))

    def take(letter: ReceivedMessage) -> bool:
        if letter.message_id != held:
            raise RuntimeError("the send blew up")
        return False  # held

    with pytest.raises(RuntimeError):
        walk(queue, take)
    assert held in [m.message_id for m in queue.receive(max_messages=RECEIVE_BATCH)]
