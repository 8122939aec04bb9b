"""Notifier: per-subscriber delivery with one webhook-id, PII only where allowed, retries and dead letters."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from shared import jsonutil
from shared.config import MAX_SCHEDULE_STEP_SECONDS, ConfigError
from shared.delivery import DeliveryResult
from shared.disclosure import IDENTITY_FIELDS
from shared.messages import NotifyMessage
from shared.notifications import Subscriber, WebhookSettings
from shared.storage import StorageError
from shared.timestamps import rfc3339
from tests.fakes import (
    IDENTITY,
    SECRET_A,
    SECRET_B,
    SECRET_C,
    SUBSCRIBERS,
    FakeCloudAuth,
    RecordingSender,
    Stack,
    check_result_body,
    delays,
    peek,
)

A, B, C = (s.url for s in SUBSCRIBERS)
KEY_A, KEY_B, KEY_C = (s.key for s in SUBSCRIBERS)
UNAVAILABLE = DeliveryResult(ok=False, status=503, error="http_503")
GONE = DeliveryResult(ok=False, status=410, error="gone", permanent=True)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path)
    yield s
    s.close()


def _final(stack: Stack) -> str:
    record = stack.pending()
    stack.fetcher(FakeCloudAuth()).fetch(record.merchant_biz_id)
    return record.merchant_biz_id


def _body(mbid: str, attempt: int = 0, pending: list[str] | None = None) -> dict[str, object]:
    body: dict[str, object] = {"merchantBizId": mbid, "attempt": attempt}
    if pending is not None:
        body["pending"] = pending
    return body


def test_every_subscriber_gets_the_event_with_the_same_webhook_id(stack: Stack) -> None:
    mbid = _final(stack)
    sender = RecordingSender()
    stack.notifier(sender).handle_body(_body(mbid))
    assert sorted(d.url for d in sender.deliveries) == sorted([A, B, C])
    assert {d.headers["webhook-id"] for d in sender.deliveries} == {f"msg_{mbid}_passed"}


def test_pii_subscriber_gets_the_full_identity(stack: Stack) -> None:
    mbid = _final(stack)
    sender = RecordingSender()
    stack.notifier(sender).handle_body(_body(mbid))
    (delivery,) = sender.delivered_to(B)
    identity = jsonutil.loads(delivery.body)["data"]["identity"]
    assert identity["documentNumber"] == IDENTITY["passportNo"]
    assert identity["birthDate"] == IDENTITY["birthDate"]


def test_other_subscribers_get_only_the_masked_identity(stack: Stack) -> None:
    everything = frozenset(IDENTITY_FIELDS)  # even a subscriber selecting every field sees them masked
    subscribers = [Subscriber(A, SECRET_A, fields=everything), SUBSCRIBERS[1],
                   Subscriber(C, SECRET_C, fields=everything)]  # fmt: skip
    mbid = _final(stack)
    sender = RecordingSender()
    stack.notifier(sender, subscribers=subscribers).handle_body(_body(mbid))
    for url in (A, C):
        (delivery,) = sender.delivered_to(url)
        assert IDENTITY["passportNo"].encode() not in delivery.body
        assert IDENTITY["birthDate"].encode() not in delivery.body
        assert jsonutil.loads(delivery.body)["data"]["identity"]["documentNumber"] == "K*******8"


def test_event_names_the_type_and_the_final_status(stack: Stack) -> None:
    mbid = _final(stack)
    sender = RecordingSender()
    stack.notifier(sender).handle_body(_body(mbid))
    event = jsonutil.loads(sender.delivered_to(A)[0].body)
    assert event["type"] == "verification.completed"
    assert event["data"]["merchantBizId"] == mbid and event["data"]["status"] == "PASSED"


def test_signatures_verify_with_the_standardwebhooks_library(stack: Stack) -> None:
    stack.clock.now = time.time()  # the library checks the timestamp against the real clock
    mbid = _final(stack)
    sender = RecordingSender()
    stack.notifier(sender).handle_body(_body(mbid))
    for url, secret in ((A, SECRET_A), (B, SECRET_B), (C, SECRET_C)):
        (delivery,) = sender.delivered_to(url)
        payload = Webhook(secret).verify(delivery.body, delivery.headers)
        assert payload["data"]["merchantBizId"] == mbid


def test_failed_subscriber_is_reenqueued_alone_with_the_next_attempt_and_scheduled_delay(stack: Stack) -> None:
    mbid = _final(stack)
    sender = RecordingSender(answers={C: [UNAVAILABLE]})
    before = len(peek(stack.notify))
    stack.notifier(sender, schedule=(5.0, 300.0)).handle_body(_body(mbid, attempt=1))
    follow_ups = peek(stack.notify)[before:]
    assert follow_ups == [{"merchantBizId": mbid, "attempt": 2, "pending": [KEY_C]}]
    assert delays(stack.notify)[before:] == [300.0]  # jitter 0.5 → exactly the scheduled delay
    assert peek(stack.deadletter) == []


class _MeetingSends:
    """A queue whose first ``sends`` sends wait for each other: each fails (``BrokenBarrierError``) unless all of them
    are under way at once; every send whose body names ``fail`` then fails as MNS would."""

    def __init__(self, inner: object, sends: int, fail: str | None = None) -> None:
        self._inner, self.fail, self._first = inner, fail, threading.Semaphore(sends)
        self._meeting = threading.Barrier(sends, timeout=5)
        self.ended: list[bytes] = []

    def send(self, body: bytes, *, delay_seconds: int = 0) -> str:
        if self._first.acquire(blocking=False):
            self._meeting.wait()
        try:
            if self.fail is not None and self.fail.encode() in body:
                raise StorageError("mns SendMessage failed: InternalError (500)", transient=True, code="InternalError")
            time.sleep(0.05)  # the other sends are still under way when this one fails
            return self._inner.send(body, delay_seconds=delay_seconds)  # type: ignore[attr-defined, no-any-return]
        finally:
            self.ended.append(body)


def test_follow_ups_of_several_failed_subscribers_are_sent_side_by_side(stack: Stack) -> None:
    mbid = _final(stack)
    sender = RecordingSender(answers={url: [UNAVAILABLE] for url in (A, B, C)})
    queue = _MeetingSends(stack.notify, sends=3)
    stack.notifier(sender, notify=queue).handle_body(_body(mbid))
    follow_ups = [m for m in peek(stack.notify) if m.get("pending")]
    assert sorted(m["pending"][0] for m in follow_ups) == sorted([KEY_A, KEY_B, KEY_C])


def test_a_follow_up_that_cannot_be_sent_twice_is_raised_after_the_others_were_sent(stack: Stack) -> None:
    """The trigger then delivers the whole message again: nothing is lost, and no send is cut off part-way."""
    mbid = _final(stack)
    sender = RecordingSender(answers={url: [UNAVAILABLE] for url in (A, B, C)})
    queue = _MeetingSends(stack.notify, sends=3, fail=KEY_B)
    with pytest.raises(StorageError, match="SendMessage"):
        stack.notifier(sender, notify=queue).handle_body(_body(mbid))
    assert len(queue.ended) == 4  # three side by side, then B's again
    follow_ups = [m for m in peek(stack.notify) if m.get("pending")]
    assert sorted(m["pending"][0] for m in follow_ups) == sorted([KEY_A, KEY_C])


class _FailsFirst:
    """A queue whose first send (the first whose body names ``key``, when given) fails as MNS would."""

    def __init__(self, inner: object, key: str = "") -> None:
        self._inner, self._key, self.failed = inner, key.encode(), False

    def send(self, body: bytes, *, delay_seconds: int = 0) -> str:
        if self._key in body and not self.failed:
            self.failed = True
            raise StorageError("mns SendMessage failed: InternalError (500)", transient=True, code="InternalError")
        return self._inner.send(body, delay_seconds=delay_seconds)  # type: ignore[attr-defined, no-any-return]


def test_a_follow_up_whose_send_failed_once_is_sent_again_and_no_chain_is_duplicated(
    stack: Stack,
) -> None:
    """Found by review ax: a follow-up that could not be sent made the trigger deliver the whole message again, and
    every other failed subscriber's follow-up, already sent side by side, was sent a second time: one more retry chain
    (and, at its end, one more dead letter) each."""
    mbid = _final(stack)
    sender = RecordingSender(answers={url: [UNAVAILABLE, UNAVAILABLE] for url in (A, B, C)})
    notifier = stack.notifier(sender, notify=_FailsFirst(stack.notify, KEY_B))
    notifier.handle_body(_body(mbid))  # B's follow-up is sent again at once: nothing for the trigger to redeliver
    chains = Counter(m["pending"][0] for m in peek(stack.notify) if m.get("pending"))
    assert chains == {KEY_A: 1, KEY_B: 1, KEY_C: 1}


def test_a_dead_letter_sent_at_the_second_try_logs_no_dead_letter_failure(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    """Found by review az: ``notify.dead_letter_failed`` (ERROR) means "the message is redelivered by its trigger"
    (docs/operations.md); a dead letter's first failure was logged so, although its second send succeeded and nothing
    was redelivered: an operator alerted on ERRORs was paged for nothing."""
    mbid = _final(stack)
    deadletter = _FailsFirst(stack.deadletter)
    sender = RecordingSender(answers={A: [GONE]})
    with caplog.at_level(logging.INFO):
        stack.notifier(sender, deadletter=deadletter).handle_body(_body(mbid))
    assert len(peek(stack.deadletter)) == 1  # sent at the second try: nothing to redeliver
    failures = [r for r in caplog.records if r.getMessage() == "notify.dead_letter_failed"]
    assert failures == [], [r.levelname for r in failures]


def test_retry_waits_at_least_the_subscribers_retry_after(stack: Stack) -> None:
    mbid = _final(stack)
    busy = DeliveryResult(ok=False, status=429, error="http_429", retry_after=900.0)
    sender = RecordingSender(answers={A: [busy]})
    before = len(peek(stack.notify))
    stack.notifier(sender, schedule=(5.0,)).handle_body(_body(mbid))
    assert delays(stack.notify)[before:] == [900.0]


def test_a_retry_is_never_sent_before_its_drawn_delay_or_the_subscriber_s_retry_after(stack: Stack) -> None:
    """The queue takes whole seconds: a delay of 1.6 s (2 s at the jitter's bottom) or a Retry-After date 4.3 s away
    is rounded up, never down (a receiver that enforces its own pause would see the retry early)."""
    mbid = _final(stack)
    busy = DeliveryResult(ok=False, status=503, error="http_503", retry_after=4.3)
    notifier = stack.notifier(RecordingSender(answers={A: [UNAVAILABLE], B: [busy]}), schedule=(2.0,))
    notifier.jitter = lambda: 0.0  # the shortest the jitter makes a step: ×0.8
    before = len(peek(stack.notify))
    notifier.handle_body(_body(mbid))
    assert sorted(delays(stack.notify)[before:]) == [2.0, 5.0]


def test_the_longest_schedule_step_is_retried_with_a_day_of_the_notify_queues_retention_left(stack: Stack) -> None:
    """MNS deletes a message MessageRetentionPeriod after it was sent, its delay included (review bg: a follow-up
    sent with the longest delay MNS takes died as it became visible: no attempt, no dead letter)."""
    from tools.deployment import load_template

    retention = load_template()["Resources"]["NotifyQueue"]["Properties"]["MessageRetentionPeriod"]
    mbid = _final(stack)
    notifier = stack.notifier(RecordingSender(answers={A: [UNAVAILABLE]}), schedule=(MAX_SCHEDULE_STEP_SECONDS,))
    notifier.jitter = lambda: 1.0  # the longest the jitter makes a step: ×1.2
    before = len(peek(stack.notify))
    notifier.handle_body(_body(mbid))
    assert peek(stack.notify)[before:] == [{"merchantBizId": mbid, "attempt": 1, "pending": [KEY_A]}]
    [delay] = delays(stack.notify)[before:]
    assert delay + 86400 <= retention and peek(stack.deadletter) == []


def test_retry_message_delivers_only_to_the_pending_subscriber(stack: Stack) -> None:
    mbid = _final(stack)
    sender = RecordingSender()
    stack.notifier(sender).handle_body(_body(mbid, attempt=1, pending=[C]))
    assert [d.url for d in sender.deliveries] == [C]


def test_exhausted_schedule_dead_letters_with_the_last_error_and_no_pii(stack: Stack) -> None:
    mbid = _final(stack)
    sender = RecordingSender(answers={B: [UNAVAILABLE]})
    before = len(peek(stack.notify))
    stack.notifier(sender, schedule=(5.0, 300.0)).handle_body(_body(mbid, attempt=2, pending=[B]))
    assert peek(stack.notify)[before:] == []
    (letter,) = peek(stack.deadletter)
    assert letter["kind"] == "notify" and letter["reason"] == "webhook_undeliverable"
    assert letter["subscriberKey"] == KEY_B and letter["lastError"] == "http_503" and letter["attempts"] == 3
    text = jsonutil.dumps_str(letter)
    assert IDENTITY["passportNo"] not in text and IDENTITY["surname"] not in text and "identity" not in text


def test_gone_subscriber_is_dead_lettered_at_once(stack: Stack) -> None:
    mbid = _final(stack)
    gone = DeliveryResult(ok=False, status=410, error="gone", permanent=True)
    sender = RecordingSender(answers={A: [gone]})
    before = len(peek(stack.notify))
    stack.notifier(sender).handle_body(_body(mbid))
    assert peek(stack.notify)[before:] == []
    (letter,) = peek(stack.deadletter)
    assert letter["subscriberKey"] == KEY_A and letter["lastStatus"] == 410 and letter["attempts"] == 1


@pytest.mark.parametrize("reason", ["webhook_undeliverable", "malformed_message", "not_final"])
def test_every_dead_letter_says_when_in_rfc_3339_like_every_time_the_operator_is_shown(
    stack: Stack, reason: str
) -> None:
    if reason == "webhook_undeliverable":
        gone = DeliveryResult(ok=False, status=410, error="gone", permanent=True)
        stack.notifier(RecordingSender(answers={A: [gone]})).handle_body(_body(_final(stack)))
    elif reason == "malformed_message":
        stack.notifier(RecordingSender()).handle_body({"attempt": 0}, raw=b"{}")
    else:
        stack.notifier(RecordingSender()).handle_body(_body(stack.pending().merchant_biz_id))
    (letter,) = peek(stack.deadletter)
    assert letter["reason"] == reason and letter["at"] == rfc3339(stack.clock())


@pytest.mark.parametrize("body", [None, "text", [], {"attempt": 0}, {"merchantBizId": "../x"}, {"merchantBizId": 7}])
def test_malformed_message_is_dead_lettered_without_raising(stack: Stack, body: object) -> None:
    sender = RecordingSender()
    stack.notifier(sender).handle_body(body, raw=b"xyz")
    (letter,) = peek(stack.deadletter)
    assert letter["reason"] == "malformed_message" and letter["size"] == 3
    assert sender.deliveries == []


def test_erased_transaction_is_dropped(stack: Stack) -> None:
    mbid = _final(stack)
    stack.store.delete(mbid)
    sender = RecordingSender()
    before = len(peek(stack.notify))
    stack.notifier(sender).handle_body(_body(mbid))
    assert sender.deliveries == []
    assert peek(stack.notify)[before:] == [] and peek(stack.deadletter) == []


def test_pending_transaction_is_never_announced(stack: Stack) -> None:
    record = stack.pending()
    sender = RecordingSender()
    stack.notifier(sender).handle_body(_body(record.merchant_biz_id))
    assert sender.deliveries == []
    assert peek(stack.deadletter)[0]["reason"] == "not_final"


@pytest.mark.parametrize("reason", ["not_final", "verdict_unverified"])
def test_a_follow_up_dead_lettered_unannounced_names_its_subscribers_and_is_redriven_to_them_alone(
    stack: Stack, reason: str
) -> None:
    """A follow-up for one subscriber whose row is not final, or whose verdict its kept result does not confirm: the
    letter keeps whom it was for, so a redrive does not send the event again to the subscribers already sent it."""
    from tools.ops.dlq import Destination, destination

    mbid = stack.pending().merchant_biz_id if reason == "not_final" else _forged(stack)
    stack.notifier(RecordingSender()).handle_body(_body(mbid, 2, [KEY_B]))
    [letter] = peek(stack.deadletter)
    assert (letter["reason"], letter["subscriberKeys"]) == (reason, [KEY_B])
    redriven = destination(letter)
    assert isinstance(redriven, Destination)
    assert jsonutil.loads(redriven.body) == {"merchantBizId": mbid, "attempt": 0, "pending": [KEY_B]}


@pytest.mark.parametrize("reason", ["not_final", "verdict_unverified"])
def test_a_first_delivery_dead_lettered_unannounced_is_redriven_to_every_subscriber(stack: Stack, reason: str) -> None:
    from tools.ops.dlq import Destination, destination

    mbid = stack.pending().merchant_biz_id if reason == "not_final" else _forged(stack)
    stack.notifier(RecordingSender()).handle_body(_body(mbid))
    [letter] = peek(stack.deadletter)
    assert letter["reason"] == reason and "subscriberKeys" not in letter
    redriven = destination(letter)
    assert isinstance(redriven, Destination)
    assert jsonutil.loads(redriven.body) == {"merchantBizId": mbid, "attempt": 0}


def test_abandoned_transaction_is_announced_as_abandoned(stack: Stack) -> None:
    record = stack.pending()
    stack.store.mark_abandoned(record.merchant_biz_id, now=stack.clock())
    sender = RecordingSender()
    stack.notifier(sender).handle_body(_body(record.merchant_biz_id))
    event = jsonutil.loads(sender.delivered_to(A)[0].body)
    assert event["type"] == "verification.abandoned"
    assert sender.deliveries[0].headers["webhook-id"] == f"msg_{record.merchant_biz_id}_abandoned"


def test_a_sender_exception_only_retries_that_subscriber(stack: Stack) -> None:
    mbid = _final(stack)
    delivered: list[str] = []

    def sender(url: str, body: bytes, headers: dict[str, str]) -> DeliveryResult:
        if url == A:
            raise RuntimeError("bug")
        delivered.append(url)
        return DeliveryResult(ok=True, status=204)

    before = len(peek(stack.notify))
    stack.notifier(sender).handle_body(_body(mbid))  # type: ignore[arg-type]
    assert sorted(delivered) == sorted([B, C])
    assert peek(stack.notify)[before:] == [{"merchantBizId": mbid, "attempt": 1, "pending": [KEY_A]}]


def test_event_timestamp_is_the_finalization_time_on_every_retry(stack: Stack) -> None:
    mbid = _final(stack)
    sender = RecordingSender()
    notifier = stack.notifier(sender)
    notifier.handle_body(_body(mbid))
    stack.clock.advance(3600)
    notifier.handle_body(_body(mbid, attempt=1, pending=[A]))
    first, second = sender.delivered_to(A)
    assert jsonutil.loads(first.body)["timestamp"] == jsonutil.loads(second.body)["timestamp"]
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.headers["webhook-timestamp"] != second.headers["webhook-timestamp"]


def test_notify_message_round_trips() -> None:
    message = NotifyMessage("abc123", 2, ("https://a.example/hook",))
    assert NotifyMessage.from_body(jsonutil.loads(message.to_body())) == message


def test_subscriber_urls_are_logged_as_scheme_host_and_port_only(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    from shared.notifications import Subscriber

    url = "https://user:pw@hooks.example.com:8443/T0/B1/s3cret?token=s3cret#x"
    mbid = _final(stack)
    sender = RecordingSender(answers={url: [UNAVAILABLE]})
    stack.notifier(sender, subscribers=[Subscriber(url=url, secret=SECRET_A)]).handle_body(_body(mbid))
    (record,) = [r for r in caplog.records if r.getMessage() == "notify.delivery_failed"]
    assert record.subscriber == "https://hooks.example.com:8443"  # type: ignore[attr-defined]
    assert "s3cret" not in caplog.text and "pw@" not in caplog.text


def test_a_named_subscriber_is_logged_with_its_id(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    """Found by review aq: two receivers on one host were told apart in no log line."""
    from shared.notifications import Subscriber

    url = "https://hooks.example.com/kyc"
    mbid = _final(stack)
    sender = RecordingSender(answers={url: [UNAVAILABLE]})
    stack.notifier(sender, subscribers=[Subscriber(url=url, secret=SECRET_A, id="shop")]).handle_body(_body(mbid))
    (record,) = [r for r in caplog.records if r.getMessage() == "notify.delivery_failed"]
    assert record.subscriberId == "shop"  # type: ignore[attr-defined]


def test_a_poison_message_is_dead_lettered_and_the_rest_of_the_batch_is_delivered(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.handlers.notifier import NotifierApp

    good, poisoned = _final(stack), _final(stack)
    read = stack.store.get

    def get(merchant_biz_id: str) -> object:
        if merchant_biz_id == poisoned:
            raise KeyError("a failure nothing foresaw")
        return read(merchant_biz_id)

    monkeypatch.setattr(stack.store, "get", get)
    sender = RecordingSender()
    app = NotifierApp(stack.notifier(sender))
    batch = [{"data": {"messageId": str(i), "messageBody": jsonutil.dumps_str(_body(m))}} for i, m in
             enumerate([poisoned, good])]  # fmt: skip
    assert app.handle(jsonutil.dumps(batch), None) == {"handled": 1}
    assert {d.headers["webhook-id"] for d in sender.deliveries} == {f"msg_{good}_passed"}
    [dead] = peek(stack.deadletter)
    assert dead["reason"] == "processing_error" and dead["merchantBizId"] == poisoned


def test_a_batch_whose_store_is_failing_is_redelivered_not_dead_lettered(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """review bi: a failing store is not a poison message: the handler raises, so that the trigger delivers the
    batch again, instead of dead-lettering an event every subscriber is still owed (an operator's redrive)."""
    from shared.handlers.notifier import NotifierApp

    mbid = _final(stack)

    def get(merchant_biz_id: str) -> object:
        raise StorageError("tablestore GetRow failed: OTSServerBusy", transient=True, code="OTSServerBusy")

    monkeypatch.setattr(stack.store, "get", get)
    sender = RecordingSender()
    batch = [{"data": {"messageId": "1", "messageBody": jsonutil.dumps_str(_body(mbid))}}]
    with pytest.raises(RuntimeError, match="redeliver"):
        NotifierApp(stack.notifier(sender)).handle(jsonutil.dumps(batch), None)
    assert sender.deliveries == [] and peek(stack.deadletter) == []


class _QueueDown:
    def send(self, body: bytes, *, delay_seconds: int = 0) -> str:
        raise StorageError("mns SendMessage failed: InternalError (500)", transient=True, code="InternalError")


def test_a_poison_message_whose_dead_letter_cannot_be_sent_is_redelivered_not_dropped(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """review bi: a message is acked only once it was handled or its dead letter is out; with the dead-letter
    queue failing too, the handler raises and the trigger delivers the batch again: the event is not lost."""
    from shared.handlers.notifier import NotifierApp

    mbid = _final(stack)
    monkeypatch.setattr(stack.store, "get", lambda merchant_biz_id: (_ for _ in ()).throw(KeyError("unforeseen")))
    batch = [{"data": {"messageId": "1", "messageBody": jsonutil.dumps_str(_body(mbid))}}]
    app = NotifierApp(stack.notifier(RecordingSender(), deadletter=_QueueDown()))
    with pytest.raises(RuntimeError, match="redeliver"):
        app.handle(jsonutil.dumps(batch), None)


def test_a_poison_follow_up_is_dead_lettered_with_the_subscribers_it_was_for_and_redriven_to_them_alone(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A follow-up for one subscriber that failed unforeseen: its letter keeps whom it was for, so a redrive does
    not send the event again to every subscriber."""
    from shared.handlers.notifier import NotifierApp
    from tools.ops.dlq import Destination, destination

    mbid = _final(stack)
    monkeypatch.setattr(stack.store, "get", lambda merchant_biz_id: (_ for _ in ()).throw(KeyError("unforeseen")))
    batch = [{"data": {"messageId": "1", "messageBody": jsonutil.dumps_str(_body(mbid, 2, [KEY_B]))}}]
    NotifierApp(stack.notifier(RecordingSender())).handle(jsonutil.dumps(batch), None)
    [dead] = peek(stack.deadletter)
    assert (dead["reason"], dead["subscriberKeys"]) == ("processing_error", [KEY_B])
    redriven = destination(dead)
    assert isinstance(redriven, Destination)
    assert jsonutil.loads(redriven.body) == {"merchantBizId": mbid, "attempt": 0, "pending": [KEY_B]}


def test_a_poison_follow_up_naming_its_subscriber_by_url_is_redriven_to_that_subscriber_alone(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A follow-up queued before subscribers had keys names C by its URL (``Subscriber.is_named_by``): its letter
    names C by key, never by URL (review bg: it named nobody, and a redrive went to every subscriber)."""
    from shared.handlers.notifier import NotifierApp
    from tools.ops.dlq import Destination, destination

    mbid = _final(stack)
    monkeypatch.setattr(stack.store, "get", lambda merchant_biz_id: (_ for _ in ()).throw(KeyError("unforeseen")))
    batch = [{"data": {"messageId": "1", "messageBody": jsonutil.dumps_str(_body(mbid, 2, [C]))}}]
    NotifierApp(stack.notifier(RecordingSender())).handle(jsonutil.dumps(batch), None)
    [dead] = peek(stack.deadletter)
    assert (dead["reason"], dead["subscriberKeys"]) == ("processing_error", [KEY_C])
    assert C not in jsonutil.dumps_str(dead)  # a URL may hold the receiver's token
    redriven = destination(dead)
    assert isinstance(redriven, Destination)
    assert jsonutil.loads(redriven.body) == {"merchantBizId": mbid, "attempt": 0, "pending": [KEY_C]}


def test_a_poison_follow_up_for_a_subscriber_no_longer_configured_is_not_redriven_to_every_subscriber(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.handlers.notifier import NotifierApp
    from tools.ops.dlq import destination

    mbid = _final(stack)
    monkeypatch.setattr(stack.store, "get", lambda merchant_biz_id: (_ for _ in ()).throw(KeyError("unforeseen")))
    gone = "https://removed.example.com/hook?token=s3cret"
    batch = [{"data": {"messageId": "1", "messageBody": jsonutil.dumps_str(_body(mbid, 2, [gone]))}}]
    NotifierApp(stack.notifier(RecordingSender())).handle(jsonutil.dumps(batch), None)
    [dead] = peek(stack.deadletter)
    assert dead["subscriberKeys"] == [] and "s3cret" not in jsonutil.dumps_str(dead)
    assert "no longer configured" in str(destination(dead))


def test_a_secret_that_cannot_sign_fails_the_configuration_not_the_delivery() -> None:
    import base64

    from shared.config import ConfigError
    from shared.notifications import WebhookSettings

    short = "whsec_" + base64.b64encode(b"k" * 16).decode()  # 16 bytes: Standard Webhooks wants 24-64
    hooks = jsonutil.dumps_str([{"url": "https://hooks.example.com/kyc", "secret": short}])
    with pytest.raises(ConfigError) as info:
        WebhookSettings.from_env({"KYC_WEBHOOKS": hooks})
    assert info.value.variable == "KYC_WEBHOOKS" and short not in str(info.value)


class _HoldingSender(RecordingSender):
    """Holds every POST to ``held`` until ``release`` (a subscriber answering only at its deadline)."""

    def __init__(self, held: str) -> None:
        super().__init__()
        self.held = held
        self.release = threading.Event()

    def __call__(self, url: str, body: bytes, headers: dict[str, str]) -> DeliveryResult:
        if url == self.held:
            self.release.wait(10)
            return DeliveryResult(ok=False, error="timeout")
        return super().__call__(url, body, headers)


def test_a_subscriber_holding_its_delivery_delays_no_other_message(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each message delivers on its own bounded pool: deliveries held by one subscriber occupy no slot another
    message's deliveries need (with a pool shared by the instance they would queue behind them)."""
    import shared.notifications

    monkeypatch.setattr(shared.notifications, "MAX_PARALLEL_DELIVERIES", 2)
    first, second = _final(stack), _final(stack)
    sender = _HoldingSender(held=A)
    notifier = stack.notifier(sender, subscribers=(SUBSCRIBERS[0], SUBSCRIBERS[2]))
    threads = [threading.Thread(target=notifier.handle_body, args=(_body(mbid),)) for mbid in (first, second)]
    try:
        for thread, mbid in zip(threads, (first, second), strict=True):
            thread.start()
            deadline = time.monotonic() + 5
            while f"msg_{mbid}_passed" not in {d.headers["webhook-id"] for d in sender.delivered_to(C)}:
                assert time.monotonic() < deadline, f"the event of {mbid} waited behind the held deliveries"
                time.sleep(0.01)
    finally:
        sender.release.set()
        for thread in threads:
            thread.join(10)


# --- independent retries per subscriber (issue 14, item 3) -------------------------------------------------------


def _subscriber_url(entry: str) -> str:
    """The URL of the subscriber a follow-up message names (by its key, or by its URL in older messages)."""
    return next(s.url for s in SUBSCRIBERS if entry in (s.url, getattr(s, "key", None)))


def _follow_ups(stack: Stack, before: int) -> list[tuple[list[str], int, float]]:
    """(subscribers named, attempt, delay) of every notify message enqueued since the first ``before``."""
    bodies, waits = peek(stack.notify)[before:], delays(stack.notify)[before:]
    named = (([_subscriber_url(e) for e in b["pending"]], b["attempt"], w) for b, w in zip(bodies, waits, strict=True))
    return sorted(named)


def test_a_flaky_subscriber_is_not_held_back_by_another_subscribers_retry_after(stack: Stack) -> None:
    mbid = _final(stack)
    tomorrow = DeliveryResult(ok=False, status=429, error="http_429", retry_after=86400.0)
    sender = RecordingSender(answers={A: [tomorrow], C: [UNAVAILABLE]})
    before = len(peek(stack.notify))

    stack.notifier(sender, schedule=(5.0, 300.0)).handle_body(_body(mbid))

    # One follow-up per failed subscriber, each on its own delay: C's next attempt in 5 s, A's when it asked.
    assert _follow_ups(stack, before) == [([A], 1, 86400.0), ([C], 1, 5.0)]


def test_each_subscriber_exhausts_its_schedule_and_is_dead_lettered_on_its_own(stack: Stack) -> None:
    mbid = _final(stack)
    sender = RecordingSender(answers={A: [UNAVAILABLE], C: [UNAVAILABLE, DeliveryResult(ok=True, status=204)]})
    notifier = stack.notifier(sender, schedule=(5.0,))
    before = len(peek(stack.notify))
    notifier.handle_body(_body(mbid))
    first_round = peek(stack.notify)[before:]

    for follow_up in first_round:
        notifier.handle_body(follow_up)

    assert len(first_round) == 2 and peek(stack.notify)[before + 2 :] == []
    (letter,) = peek(stack.deadletter)
    assert letter["subscriber"] == "https://a.example" and letter["attempts"] == 2
    assert len(sender.delivered_to(C)) == 1 and sender.delivered_to(A) == []


# --- credentials: never in a stored or printed URL (issue 14, item 5) ------------------------------------------


def test_dead_letters_name_the_subscriber_by_its_printed_form_and_key(stack: Stack) -> None:
    url = "https://user:pw@hooks.example.com:8443/T0/B1/s3cret?token=s3cret"
    subscriber = Subscriber(url=url, secret=SECRET_A)
    gone = DeliveryResult(ok=False, status=410, error="gone", permanent=True)
    mbid = _final(stack)

    stack.notifier(RecordingSender(answers={url: [gone]}), subscribers=[subscriber]).handle_body(_body(mbid))

    (letter,) = peek(stack.deadletter)
    assert letter["subscriber"] == "https://hooks.example.com:8443"
    assert letter["subscriberKey"] == subscriber.key
    assert "s3cret" not in jsonutil.dumps_str(letter) and "pw" not in jsonutil.dumps_str(letter)


def test_a_subscriber_is_sent_its_configured_headers_beside_the_signature(stack: Stack) -> None:
    subscriber = Subscriber(url=A, secret=SECRET_A, headers=(("Authorization", "Basic dXNlcjpwYXNzd29yZA=="),))
    sender = RecordingSender()
    stack.notifier(sender, subscribers=[subscriber]).handle_body(_body(_final(stack)))
    (delivery,) = sender.delivered_to(A)
    assert delivery.headers["Authorization"] == "Basic dXNlcjpwYXNzd29yZA=="
    assert delivery.headers["webhook-signature"].startswith("v1,")


# --- what a subscriber is shown: the disclosure policy (issue 14, item 7) ----------------------------------------

#: Every value of the synthetic identity that could identify the person, the birth year included.
IDENTIFYING = ("CHAN", "TAI MAN", "K12345678", "1990", "CHN", "2030-01-01", '"M"', "C*", "K*******8")


def test_by_default_a_subscriber_is_shown_what_routes_the_result_and_no_identity(stack: Stack) -> None:
    mbid = _final(stack)
    sender = RecordingSender()
    stack.notifier(sender).handle_body(_body(mbid))
    (delivery,) = sender.delivered_to(A)
    data = jsonutil.loads(delivery.body)["data"]
    assert (data["merchantBizId"], data["status"], data["passed"], data["subCode"], data["docType"]) == (
        mbid, "PASSED", "Y", "200", "01000000")  # fmt: skip
    assert data["identity"] is None
    assert [value for value in IDENTIFYING if value in delivery.body.decode()] == []


def test_a_subscriber_sees_exactly_the_identity_fields_it_selected_masked(stack: Stack) -> None:
    subscriber = Subscriber(url=A, secret=SECRET_A, fields=frozenset({"surname", "documentNumber", "nationality"}))
    sender = RecordingSender()
    stack.notifier(sender, subscribers=[subscriber]).handle_body(_body(_final(stack)))
    (delivery,) = sender.delivered_to(A)
    identity = jsonutil.loads(delivery.body)["data"]["identity"]
    assert identity == {"surname": "C*", "documentNumber": "K*******8", "nationality": "CHN"}


def test_a_pii_subscriber_with_selected_fields_sees_only_those_in_clear(stack: Stack) -> None:
    subscriber = Subscriber(url=B, secret=SECRET_B, include_pii=True, fields=frozenset({"documentNumber"}))
    sender = RecordingSender()
    stack.notifier(sender, subscribers=[subscriber]).handle_body(_body(_final(stack)))
    (delivery,) = sender.delivered_to(B)
    assert jsonutil.loads(delivery.body)["data"]["identity"] == {"documentNumber": "K12345678"}


def test_a_face_only_event_names_the_product_and_carries_the_face_verdicts_and_no_identity(stack: Stack) -> None:
    record = stack.pending(doc_type="", product_code="FACE_LIVENESS_PRO")
    stack.fetcher(FakeCloudAuth()).fetch(record.merchant_biz_id)
    sender = RecordingSender()
    stack.notifier(sender).handle_body(_body(record.merchant_biz_id))
    for delivery in sender.deliveries:  # the PII subscriber too: there is no identity to give
        data = jsonutil.loads(delivery.body)["data"]
        assert (data["productCode"], data["docType"], data["identity"]) == ("FACE_LIVENESS_PRO", None, None)
        assert data["face"]["facePassed"] is True


def test_an_event_whose_result_gives_no_face_verdict_has_a_null_face(stack: Stack) -> None:
    """Found by review zz: a verdict on the document before the face step (no ExtFaceInfo) carried a ``face`` of
    seven nulls; docs/integration.md says null."""
    no_face_step = {"RequestId": "req-1", "Code": "Success", "Message": "success", "Result": {
        "Passed": "N", "SubCode": "205", "ExtIdInfo": jsonutil.dumps_str({"ocrIdPassed": "N"})}}  # fmt: skip
    record = stack.pending()
    assert stack.fetcher(FakeCloudAuth(no_face_step)).fetch(record.merchant_biz_id).kind == "finalized"
    sender = RecordingSender()
    stack.notifier(sender).handle_body(_body(record.merchant_biz_id))
    data = jsonutil.loads(sender.deliveries[0].body)["data"]
    assert (data["status"], data["face"]) == ("FAILED", None)


# --- review: a follow-up whose row is gone (transaction_gone) --------------------------------------------------


def test_a_redriven_message_whose_row_is_gone_is_dead_lettered_not_dropped(stack: Stack) -> None:
    # `kyc dlq redrive` sends an undeliverable webhook back as attempt 0 naming its subscriber: a subscriber is owed
    # the event as much as by a follow-up, and the redrive already deleted the dead letter it came from.
    from tools.ops.dlq import Destination, destination

    mbid = _final(stack)
    letter = {"kind": "notify", "reason": "webhook_undeliverable", "merchantBizId": mbid, "subscriberKey": KEY_B}
    redriven = destination(letter)
    assert isinstance(redriven, Destination)
    stack.store.delete(mbid)  # retention's hold ended while the letter waited for an operator

    stack.notifier(RecordingSender()).handle_body(jsonutil.loads(redriven.body))

    (gone,) = peek(stack.deadletter)
    assert gone["reason"] == "transaction_gone" and gone["merchantBizId"] == mbid


def test_a_follow_up_for_a_subscriber_no_longer_configured_whose_row_is_gone_is_not_dead_lettered(
    stack: Stack,
) -> None:
    # With the row present such a follow-up is dropped in silence (nobody left to send to); a row gone changes
    # nothing about that, and a letter naming no subscriber tells an operator nothing to act on.
    mbid = _final(stack)
    stack.store.delete(mbid)
    removed = Subscriber(url="https://removed.example/hook", secret=SECRET_A)

    stack.notifier(RecordingSender()).handle_body(_body(mbid, attempt=2, pending=[removed.key]))

    assert peek(stack.deadletter) == []


def test_a_transaction_gone_letter_names_each_owed_subscriber_by_its_key(stack: Stack) -> None:
    # Two receivers on one host print the same (scheme, host, port): only the key tells which one missed the event.
    first = Subscriber(url="https://hooks.example.com/T0/first", secret=SECRET_A)
    second = Subscriber(url="https://hooks.example.com/T0/second", secret=SECRET_B)
    mbid = _final(stack)
    stack.store.delete(mbid)

    stack.notifier(RecordingSender(), subscribers=[first, second]).handle_body(
        _body(mbid, attempt=1, pending=[second.key])
    )

    (letter,) = peek(stack.deadletter)
    assert letter["subscriberKeys"] == [second.key]


def _documented_example() -> dict[str, object]:
    """The example body of docs/integration.md, "The body"."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "integration.md").read_text()
    start = text.index("```json", text.index("### The body")) + len("```json")
    example: dict[str, object] = jsonutil.loads(text[start:text.index("```", start)])
    return example


def test_the_documented_webhook_body_has_every_field_a_delivered_one_has_and_no_other(stack: Stack) -> None:
    mbid = _final(stack)
    sender = RecordingSender()
    stack.notifier(sender).handle_body(_body(mbid))
    delivered = jsonutil.loads(sender.delivered_to(A)[0].body)
    documented = _documented_example()
    assert set(documented) == set(delivered)
    assert set(documented["data"]) == set(delivered["data"])  # type: ignore[arg-type]
    face, documented_face = delivered["data"]["face"], documented["data"]["face"]  # type: ignore[index]
    assert set(documented_face) == set(face)
    assert all(type(documented_face[k]) is type(v) for k, v in face.items() if v is not None and documented_face[k]
               is not None)  # booleans stay booleans (found by a newcomer: the doc showed "Y")


# -- a stored result that cannot be read holds back no subscriber who does not need it ---------------------------


def test_a_stored_result_that_is_not_json_announces_nothing_and_is_dead_lettered(stack: Stack) -> None:
    mbid = _final(stack)
    stack.objects.put(stack.kept_result_key(mbid), b"{not json", "application/json")
    sender = RecordingSender()
    before = len(peek(stack.notify))

    stack.notifier(sender).handle_body(_body(mbid))

    assert sender.deliveries == []
    (letter,) = peek(stack.deadletter)
    assert (letter["reason"], letter["problem"]) == ("verdict_unverified", "result_not_json")
    assert peek(stack.notify)[before:] == []


def test_a_storage_error_reading_the_stored_result_retries_every_subscriber_on_its_schedule(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    mbid = _final(stack)

    def failing(key: str) -> bytes:
        raise StorageError("oss GetObject failed: KMS.Disabled (403)", code="KMS.Disabled", status=403)

    monkeypatch.setattr(stack.objects, "get", failing)
    sender = RecordingSender()
    before = len(peek(stack.notify))

    stack.notifier(sender).handle_body(_body(mbid))

    assert sender.deliveries == []  # a verdict is never announced unchecked
    follow_ups = peek(stack.notify)[before:]
    assert sorted(m["pending"][0] for m in follow_ups) == sorted([KEY_A, KEY_B, KEY_C])
    assert {m["attempt"] for m in follow_ups} == {1} and peek(stack.deadletter) == []


# -- a verdict code run in the initializer could have written (its role may write rows, never kept results) --------


def _forged(stack: Stack, **fields: object) -> str:
    """A row as code run in the initializer could write it (PutRow): final, as if fetched."""
    record = stack.pending(status="PASSED", passed="Y", sub_code="200", finalized_at=stack.clock(), **fields)
    return record.merchant_biz_id


def _announced(stack: Stack, mbid: str) -> list[object]:
    sender = RecordingSender()
    stack.notifier(sender).handle_body(_body(mbid))
    return list(sender.deliveries)


def test_a_passed_row_without_a_kept_result_is_not_announced_and_is_dead_lettered(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    mbid = _forged(stack)
    assert _announced(stack, mbid) == []
    (letter,) = peek(stack.deadletter)
    assert (letter["reason"], letter["merchantBizId"], letter["problem"]) == ("verdict_unverified", mbid, "result_key")
    assert any(r.getMessage() == "notify.verdict_unverified" for r in caplog.records)


def test_a_passed_row_leading_to_another_verification_s_kept_result_is_not_announced(stack: Stack) -> None:
    genuine = _final(stack)  # a real PASSED, kept where its own results are
    mbid = _forged(stack, result_key=stack.kept_result_key(genuine))
    assert _announced(stack, mbid) == []
    assert peek(stack.deadletter)[-1]["problem"] == "result_key"


def test_a_failed_verdict_rewritten_passed_in_its_row_is_not_announced(stack: Stack) -> None:
    record = stack.pending()
    stack.fetcher(FakeCloudAuth(check_result_body("N"))).fetch(record.merchant_biz_id)
    stack.store._db.execute(  # test-only: an UpdateRow of the row alone, as the initializer's role could make
        "UPDATE transactions SET status = 'PASSED', passed = 'Y', notification_enqueued = 0 WHERE merchant_biz_id = ?",
        (record.merchant_biz_id,),
    )
    assert _announced(stack, record.merchant_biz_id) == []
    assert peek(stack.deadletter)[-1]["problem"] == "verdict"


@pytest.mark.parametrize(("column", "forged"), [("merchant_user_id", "e" * 64), ("transaction_id", "tx-other"),
                                               ("product_code", "FACE_LIVENESS_PRO"),
                                               ("face", '{"facePassed": true, "faceComparisonScore": 99.9}')])
def test_a_genuine_verdict_whose_row_was_moved_to_another_user_or_transaction_is_not_announced(
    stack: Stack, column: str, forged: str
) -> None:
    """Review ac: a PASSED row rewritten to name another user (its peppered hash) announced that user PASSED."""
    mbid = _final(stack)
    stack.store._db.execute(  # test-only: a PutRow of the row with one column changed, as the initializer's role could
        f"UPDATE transactions SET {column} = ? WHERE merchant_biz_id = ?", (forged, mbid))
    assert _announced(stack, mbid) == []
    assert peek(stack.deadletter)[-1]["problem"] == {"merchant_user_id": "merchantUserId",
                                                     "transaction_id": "transactionId",
                                                     "product_code": "productCode", "face": "face"}[column]


def test_a_verdict_whose_kept_result_went_with_its_row_is_owed_to_nobody_not_a_security_event(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    mbid = _final(stack)
    real_get = stack.objects.get

    def erased_meanwhile(key: str) -> bytes:  # kyc erase deletes the objects, then the row
        stack.store.delete(mbid)
        return real_get(key + ".gone")

    stack.objects.get = erased_meanwhile  # type: ignore[method-assign]
    assert _announced(stack, mbid) == []
    assert not any(r.getMessage() == "notify.verdict_unverified" for r in caplog.records)
    assert all(letter.get("reason") != "verdict_unverified" for letter in peek(stack.deadletter))


def test_an_abandonment_is_announced_without_a_kept_result(stack: Stack) -> None:
    record = stack.pending()
    stack.store.mark_abandoned(record.merchant_biz_id, now=stack.clock())
    assert len(_announced(stack, record.merchant_biz_id)) == len(SUBSCRIBERS)


# -- a subscriber whose URL changes, or who is removed, while a follow-up waits --------------------------------------

#: The receiver authenticates us by a token in its URL; the operator renews the token: same receiver, new URL.
OLD_URL = "https://hooks.merchant.example/kyc?token=expired-token-1"
NEW_URL = "https://hooks.merchant.example/kyc?token=renewed-token-2"
UNAUTHORIZED = DeliveryResult(ok=False, status=401, error="http_401")


def _follow_up_for(stack: Stack, subscriber: Subscriber) -> tuple[str, dict[str, object]]:
    mbid = _final(stack)
    stack.notifier(RecordingSender(answers={subscriber.url: [UNAUTHORIZED]}), subscribers=[subscriber]).handle_body(
        _body(mbid)
    )
    (follow_up,) = [m for m in peek(stack.notify) if m.get("pending")]
    return mbid, follow_up


def test_a_subscriber_with_an_id_keeps_its_follow_ups_when_its_url_changes(stack: Stack) -> None:
    _, follow_up = _follow_up_for(stack, Subscriber(url=OLD_URL, secret=SECRET_A, id="merchant-main"))
    assert follow_up["pending"] == ["id_merchant-main"]
    sender = RecordingSender()
    stack.notifier(sender, subscribers=[Subscriber(url=NEW_URL, secret=SECRET_A, id="merchant-main")]).handle_body(
        follow_up
    )
    assert [d.url for d in sender.deliveries] == [NEW_URL]


def test_a_follow_up_queued_before_its_subscriber_had_an_id_still_reaches_it(stack: Stack) -> None:
    _, follow_up = _follow_up_for(stack, Subscriber(url=OLD_URL, secret=SECRET_A))
    sender = RecordingSender()
    stack.notifier(sender, subscribers=[Subscriber(url=OLD_URL, secret=SECRET_A, id="merchant-main")]).handle_body(
        follow_up
    )
    assert [d.url for d in sender.deliveries] == [OLD_URL]


def test_a_follow_up_for_a_subscriber_no_longer_configured_is_dead_lettered_not_dropped(stack: Stack) -> None:
    """Its URL changed while it had no id (or it was removed): no configured subscriber answers to the name the
    follow-up carries. The event was owed to it: the operator learns it from a dead letter, and can send it on."""
    old = Subscriber(url=OLD_URL, secret=SECRET_A)
    mbid, follow_up = _follow_up_for(stack, old)
    sender = RecordingSender()
    stack.notifier(sender, subscribers=[Subscriber(url=NEW_URL, secret=SECRET_A)]).handle_body(follow_up)
    assert sender.deliveries == []
    (letter,) = peek(stack.deadletter)
    assert (letter["reason"], letter["merchantBizId"], letter["subscriberKey"]) == (
        "subscriber_not_configured", mbid, old.key)
    assert "token" not in jsonutil.dumps_str(letter)


def test_only_the_unconfigured_names_of_a_follow_up_are_dead_lettered(stack: Stack) -> None:
    mbid = _final(stack)
    sender = RecordingSender()
    stack.notifier(sender).handle_body(_body(mbid, attempt=1, pending=[KEY_A, "sub_0123456789abcdef"]))
    assert [d.url for d in sender.deliveries] == [A]
    assert [(m["reason"], m["subscriberKey"]) for m in peek(stack.deadletter)] == [
        ("subscriber_not_configured", "sub_0123456789abcdef")]


@pytest.mark.parametrize("bad", ["", "has space", "x" * 41, 7, "ünïcode"])
def test_a_subscriber_id_must_be_a_short_plain_name(bad: object) -> None:
    raw = jsonutil.dumps_str([{"id": bad, "url": A, "secret": SECRET_A}])
    with pytest.raises(ConfigError, match="KYC_WEBHOOKS"):
        WebhookSettings.from_env({"KYC_WEBHOOKS": raw})


def test_two_subscribers_may_not_share_an_id() -> None:
    raw = jsonutil.dumps_str([{"id": "x", "url": A, "secret": SECRET_A}, {"id": "x", "url": B, "secret": SECRET_B}])
    with pytest.raises(ConfigError, match="same id"):
        WebhookSettings.from_env({"KYC_WEBHOOKS": raw})


def test_during_a_secret_rotation_a_receiver_that_knows_only_the_old_secret_still_verifies(stack: Stack) -> None:
    """KYC_WEBHOOKS' ``secret`` as a list (newest first) while rotating: every delivery is signed with each secret,
    so a receiver not yet switched to the new one keeps accepting events (review bf: nothing checked that the older
    secrets reach the signature; signing with the newest alone passed every test). Oracle: the reference library."""
    stack.clock.now = time.time()  # the library checks the timestamp against the real clock
    hooks = jsonutil.dumps_str([{"url": A, "secret": [SECRET_B, SECRET_A]}])  # B is the new secret, A the old one
    (subscriber,) = WebhookSettings.from_env({"KYC_WEBHOOKS": hooks}).subscribers
    mbid = _final(stack)
    sender = RecordingSender()
    stack.notifier(sender, subscribers=[subscriber]).handle_body(_body(mbid))
    (delivery,) = sender.delivered_to(A)
    for secret in (SECRET_A, SECRET_B):  # the receiver still on the old secret, and the one switched already
        assert Webhook(secret).verify(delivery.body, delivery.headers)["data"]["merchantBizId"] == mbid


def test_a_verdict_whose_kept_document_names_another_verification_is_not_announced(stack: Stack) -> None:
    """The kept document under the row's own prefix must also say it is this verification's: review bf found the
    merchantBizId comparison untested (every other field here agrees, so only that comparison can refuse it)."""
    mbid = _final(stack)
    key = stack.kept_result_key(mbid)
    document = jsonutil.loads(stack.objects.get(key))
    stack.objects.put(key, jsonutil.dumps({**document, "merchantBizId": "f" * 32}), "application/json")
    assert _announced(stack, mbid) == []
    assert peek(stack.deadletter)[-1]["problem"] == "merchant_biz_id"


# -- found by mutating shared.notifications (review bp) ------------------------------------------------------------


def test_a_first_announcement_of_an_erasure_s_tombstone_is_dropped_like_a_deleted_row_s(stack: Stack) -> None:
    """A tombstone is as gone as no row: nobody is owed a first delivery, so no dead letter (not ``not_final``)."""
    record = stack.pending()
    assert stack.store.mark_erased(record.merchant_biz_id, stack.clock())
    sender = RecordingSender()
    stack.notifier(sender).handle_body(_body(record.merchant_biz_id))
    assert sender.deliveries == [] and peek(stack.deadletter) == []


def test_a_verdict_erased_while_it_is_being_announced_queues_no_follow_up(stack: Stack) -> None:
    """Its kept result gone with its row (``kyc erase``): nobody is owed anything, no subscriber retries it."""
    mbid = _final(stack)
    before = len(peek(stack.notify))
    real_get = stack.objects.get

    def erased_meanwhile(key: str) -> bytes:  # kyc erase deletes the objects, then the row
        stack.store.delete(mbid)
        return real_get(key + ".gone")

    stack.objects.get = erased_meanwhile  # type: ignore[method-assign]
    sender = RecordingSender()
    stack.notifier(sender).handle_body(_body(mbid))
    assert sender.deliveries == [] and peek(stack.notify)[before:] == [] and peek(stack.deadletter) == []


def test_a_failed_verdict_whose_passed_flag_alone_was_rewritten_is_not_announced(stack: Stack) -> None:
    record = stack.pending()
    stack.fetcher(FakeCloudAuth(check_result_body("N"))).fetch(record.merchant_biz_id)
    stack.store._db.execute(  # test-only: an UpdateRow of the row alone, as the initializer's role could make
        "UPDATE transactions SET passed = 'Y', notification_enqueued = 0 WHERE merchant_biz_id = ?",
        (record.merchant_biz_id,),
    )
    assert _announced(stack, record.merchant_biz_id) == []
    assert peek(stack.deadletter)[-1]["problem"] == "verdict"


def test_a_follow_up_naming_no_subscriber_is_delivered_to_nobody(stack: Stack) -> None:
    """``pending`` names whom a follow-up is for; an empty one is for nobody, not for every subscriber."""
    mbid = _final(stack)
    sender = RecordingSender()
    stack.notifier(sender).handle_body(_body(mbid, attempt=1, pending=[]))
    assert sender.deliveries == []


def test_what_an_event_says_of_the_person_comes_from_the_kept_result_not_the_row(stack: Stack) -> None:
    """The row's masked identity and docType may be rewritten by code run in the initializer (its role writes rows,
    never kept results): the event shows the kept result's."""
    mbid = _final(stack)
    stack.store._db.execute(  # test-only: an UpdateRow of the row alone
        "UPDATE transactions SET identity_masked = ?, doc_type = '00000001' WHERE merchant_biz_id = ?",
        ('{"surname": "X*", "documentNumber": "E*******1", "nationality": "XXX"}', mbid),
    )
    subscriber = Subscriber(url=A, secret=SECRET_A, fields=frozenset({"surname", "documentNumber", "nationality"}))
    sender = RecordingSender()
    stack.notifier(sender, subscribers=[subscriber]).handle_body(_body(mbid))
    (delivery,) = sender.delivered_to(A)
    data = jsonutil.loads(delivery.body)["data"]
    assert data["identity"] == {"surname": "C*", "documentNumber": "K*******8", "nationality": "CHN"}
    assert data["docType"] == "01000000"


def test_a_follow_up_naming_by_url_a_subscriber_no_longer_configured_is_dead_lettered_by_its_printed_url(
    stack: Stack,
) -> None:
    """Messages queued before subscriber keys name subscribers by URL: the letter prints it as scheme, host and
    port only (a path or query may hold the receiver's token)."""
    mbid = _final(stack)
    sender = RecordingSender()
    stack.notifier(sender, subscribers=[Subscriber(url=NEW_URL, secret=SECRET_A)]).handle_body(
        _body(mbid, attempt=1, pending=[OLD_URL]))
    assert sender.deliveries == []
    (letter,) = peek(stack.deadletter)
    assert (letter["reason"], letter["subscriberKey"]) == ("subscriber_not_configured", None)
    assert letter["subscriber"] and "token" not in jsonutil.dumps_str(letter)


def test_an_event_names_its_owner_by_the_peppered_hash_the_row_keeps(stack: Stack) -> None:
    """Whose verification it is, for the merchant's backend to match: the hash, never the merchant's own user id."""
    mbid = _final(stack)
    row = stack.store.get(mbid)
    assert row is not None
    sender = RecordingSender()
    stack.notifier(sender).handle_body(_body(mbid))
    assert {jsonutil.loads(d.body)["data"]["merchantUserId"] for d in sender.deliveries} == {row.merchant_user_id}
