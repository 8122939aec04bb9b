"""The FC trigger over the MNS double: the local worker (``tools.devstack.worker.QueueWorker``, EventBridge's
stand-in) consuming through ``MnsQueue`` hands functions the CloudEvents FC receives, and redelivers or
dead-letters with MNS's visibility semantics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from shared.fc import event_kind, parse_queue_event
from shared.signing import Credentials
from shared.storage import MnsQueue, decode_message_body
from tools.devstack.worker import QueueWorker, Subscription
from tools.doubles.mns import MnsDouble, QueueAttributes

CREDS = Credentials("LTAI-trigger", "trigger-secret", "trigger-sts")
RECHECK, DEADLETTER = "kyc-recheck", "kyc-deadletter"
VISIBILITY = 60


@pytest.fixture
def double() -> Iterator[MnsDouble]:
    attributes = QueueAttributes(visibility_timeout=VISIBILITY, message_retention_period=604_800)
    with MnsDouble(
        access_key_id=CREDS.access_key_id,
        access_key_secret=CREDS.access_key_secret,
        security_token=CREDS.security_token,
        queues={RECHECK: attributes, DEADLETTER: attributes},
        account_id="5555000011112222",
        region="ap-southeast-1",
    ) as d:
        yield d


class Invocations:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[tuple[str, Any]] = []

    def __call__(self, function: str, event: Any) -> Any:
        self.calls.append((function, json.loads(json.dumps(event))))  # what crosses the wire is JSON
        if self.fail:
            raise RuntimeError("the function failed")
        return None


def worker(double: MnsDouble, invoke: Invocations, max_receives: int = 5) -> QueueWorker:
    def queue(name: str) -> MnsQueue:
        return MnsQueue(double.endpoint, name, CREDS, timeout=10)

    return QueueWorker(
        invoke,
        {"recheck": queue(RECHECK)},
        queue(DEADLETTER),
        subscriptions=(Subscription("recheck", "result_fetcher", batch_size=10),),
        max_receives=max_receives,
        region=double.region,
        account_id=double.account_id,
    )


def send(double: MnsDouble, body: bytes, delay: int = 0) -> str:
    return MnsQueue(double.endpoint, RECHECK, CREDS, timeout=10).send(body, delay_seconds=delay)


def test_messages_reach_the_function_as_the_cloudevents_fc_receives_then_leave_the_queue(double: MnsDouble) -> None:
    first = send(double, b'{"merchantBizId":"a","attempt":1}')
    second = send(double, '{"merchantBizId":"证件 <&>"}'.encode())
    as_sent = [m["body"] for m in double.messages(RECHECK)]
    invoke = Invocations()
    assert worker(double, invoke).run_once() == 2
    [(function, events)] = invoke.calls
    assert function == "result_fetcher" and event_kind(events) == "queue"
    assert [e["data"]["messageId"] for e in events] == [first, second]
    assert [e["data"]["messageBody"] for e in events] == as_sent  # EventBridge passes the body on as MNS holds it
    assert {(e["type"], e["specversion"], e["source"]) for e in events} == {("mns:Queue:SendMessage", "1.0", "acs.mns")}
    assert {e["subject"] for e in events} == {f"acs:mns:ap-southeast-1:5555000011112222:queues/{RECHECK}"}
    parsed = parse_queue_event(json.dumps(events).encode())
    assert [m.json() for m in parsed] == [{"merchantBizId": "a", "attempt": 1}, {"merchantBizId": "证件 <&>"}]
    assert double.messages(RECHECK) == []


def test_a_failed_batch_is_redelivered_after_the_triggers_first_retry_delay_not_the_visibility_timeout(
    double: MnsDouble,
) -> None:
    send(double, b"retry me")
    failing = Invocations(fail=True)
    w = worker(double, failing)
    assert w.run_once() == 0
    double.advance(0.5)
    w.run_once()
    assert len(failing.calls) == 1  # still hidden
    double.advance(0.5)  # 1 s: EXPONENTIAL_DECAY_RETRY's first delay (tools.devstack.worker.retry_delay_seconds)
    w.invoke = ok = Invocations()
    assert w.run_once() == 1
    [(_, [event])] = ok.calls
    assert decode_message_body(event["data"]["messageBody"]) == b"retry me"
    assert double.messages(RECHECK) == []


def test_a_message_received_too_often_goes_to_the_dead_letter_queue(double: MnsDouble) -> None:
    send(double, b'{"merchantBizId":"poison"}')
    w = worker(double, Invocations(fail=True), max_receives=2)
    for _ in range(3):
        w.run_once()
        double.advance(VISIBILITY)
    assert double.messages(RECHECK) == []
    [dead] = double.messages(DEADLETTER)
    letter = json.loads(decode_message_body(dead["body"]))
    assert letter == {"kind": "trigger", "queue": "recheck", "body": '{"merchantBizId":"poison"}'}


def test_a_delayed_message_is_delivered_only_once_its_delay_passed(double: MnsDouble) -> None:
    send(double, b"later", delay=120)
    invoke = Invocations()
    w = worker(double, invoke)
    assert w.run_once() == 0
    double.advance(120)
    assert w.run_once() == 1
