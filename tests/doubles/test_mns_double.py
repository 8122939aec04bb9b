"""The MNS double driven over HTTP by the project's ``MnsQueue`` and by the official ``mns`` SDK: messages,
delays, visibility and redelivery, receipts, long polling, queue attributes, refusals and injected faults."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from mns.account import Account
from mns.mns_exception import MNSServerException
from mns.queue import Message, QueueMeta

from shared.signing import Credentials
from shared.storage import MnsError, MnsQueue, ReceiptInvalid, StorageError, decode_message_body
from tools.doubles.mns import MnsDouble, QueueAttributes

AK, SK, TOKEN = "LTAI-double-mns", "double-mns-secret", "double-mns-sts"
CREDS = Credentials(AK, SK, TOKEN)
QUEUE = "kyc-recheck"


@pytest.fixture
def double() -> Iterator[MnsDouble]:
    attributes = QueueAttributes(visibility_timeout=60, message_retention_period=604_800)
    with MnsDouble(access_key_id=AK, access_key_secret=SK, security_token=TOKEN, queues={QUEUE: attributes}) as d:
        yield d


def queue(double: MnsDouble, creds: Credentials = CREDS, name: str = QUEUE) -> MnsQueue:
    return MnsQueue(double.endpoint, name, creds, timeout=10)


def sdk_queue(double: MnsDouble, name: str = QUEUE) -> object:
    return Account(double.endpoint, AK, SK, TOKEN).get_queue(name)


def sdk_error(call: object) -> MNSServerException:
    with pytest.raises(MNSServerException) as caught:
        call()  # type: ignore[operator]
    return caught.value


# --- send ------------------------------------------------------------------------------------------------


def test_send_enqueues_the_body_exactly_as_sent_and_answers_its_md5(double: MnsDouble) -> None:
    message_id = queue(double).send(b'{"merchantBizId":"x"}<&>\x00\xff')  # MnsQueue checks MessageBodyMD5
    [stored] = double.messages(QUEUE)
    assert stored["messageId"] == message_id and stored["state"] == "Active"
    assert decode_message_body(stored["body"]) == b'{"merchantBizId":"x"}<&>\x00\xff'


def test_the_official_sdk_sends_and_receives_through_the_double(double: MnsDouble) -> None:
    q = sdk_queue(double)
    sent = q.send_message(Message("plain text body"))  # type: ignore[attr-defined]
    received = q.receive_message()  # type: ignore[attr-defined]
    assert (received.message_id, received.message_body, received.dequeue_count) == (
        sent.message_id,
        b"plain text body",  # the SDK base64-encodes on send and decodes on receive by default
        1,
    )
    assert received.message_body_md5 == sent.message_body_md5
    q.delete_message(received.receipt_handle)  # type: ignore[attr-defined]
    assert double.messages(QUEUE) == []


def test_a_delayed_message_stays_hidden_until_its_delay_passes(double: MnsDouble) -> None:
    q = queue(double)
    q.send(b"later", delay_seconds=300)
    assert double.messages(QUEUE)[0]["state"] == "Delayed"
    double.advance(299)
    assert q.receive() == []
    double.advance(1)
    assert [m.body for m in q.receive()] == [b"later"]


def test_the_queue_delay_applies_when_the_message_has_none(double: MnsDouble) -> None:
    double.create_queue("delayed", QueueAttributes(delay_seconds=30))
    sdk_queue(double, "delayed").send_message(Message("x"))  # type: ignore[attr-defined]
    assert double.messages("delayed")[0]["state"] == "Delayed"


def test_a_body_over_64_kb_is_invalid_argument(double: MnsDouble) -> None:
    err = sdk_error(lambda: sdk_queue(double).send_message(Message("x" * 65_537)))  # type: ignore[attr-defined]
    assert (err.type, err.status if hasattr(err, "status") else 400) == ("InvalidArgument", 400)
    sdk_queue(double).send_message(Message("x" * 40_000))  # type: ignore[attr-defined]  # 53,336 bytes of base64


def test_the_queues_maximum_message_size_limits_the_body(double: MnsDouble) -> None:
    double.create_queue("small", QueueAttributes(maximum_message_size=1024))
    with pytest.raises(MnsError) as caught:
        queue(double, name="small").send(b"x" * 1000)  # 1,336 bytes once base64-encoded
    assert (caught.value.code, caught.value.status) == ("InvalidArgument", 400)


@pytest.mark.parametrize(("field", "value"), [("DelaySeconds", "604801"), ("Priority", "17")])
def test_out_of_range_message_fields_are_invalid_argument(double: MnsDouble, field: str, value: str) -> None:
    from mns.mns_xml_handler import XMLNS

    body = f'<Message xmlns="{XMLNS}"><MessageBody>eA==</MessageBody><{field}>{value}</{field}></Message>'.encode()
    status, answer = _raw(double, "POST", f"/queues/{QUEUE}/messages", body)
    assert status == 400 and b"<Code>InvalidArgument</Code>" in answer


def test_an_empty_body_is_invalid_argument(double: MnsDouble) -> None:
    """A message body is 1 byte to the queue's MaximumMessageSize ("SendMessage")."""
    from mns.mns_xml_handler import XMLNS

    body = f'<Message xmlns="{XMLNS}"><MessageBody></MessageBody></Message>'.encode()
    status, answer = _raw(double, "POST", f"/queues/{QUEUE}/messages", body)
    assert status == 400 and b"<Code>InvalidArgument</Code>" in answer
    assert double.messages(QUEUE) == []


def test_a_message_without_priority_gets_priority_8(double: MnsDouble) -> None:
    """"Priority: 1 (highest) to 16 (lowest); default 8" ("SendMessage")."""
    q = sdk_queue(double)
    q.send_message(Message("default"))  # type: ignore[attr-defined]
    q.send_message(Message("lower", priority=9))  # type: ignore[attr-defined]
    received = q.receive_message()  # type: ignore[attr-defined]
    assert (received.message_body, received.priority) == (b"default", 8)


def test_a_plain_text_body_with_xml_characters_round_trips(double: MnsDouble) -> None:
    q = sdk_queue(double)
    q.set_encoding(False)  # type: ignore[attr-defined]  # the SDK sends and reads the text as is
    q.send_message(Message('<a href="x">&amp; b</a>'))  # type: ignore[attr-defined]
    assert q.receive_message().message_body == '<a href="x">&amp; b</a>'  # type: ignore[attr-defined]


def test_malformed_xml_is_malformed_xml(double: MnsDouble) -> None:
    status, answer = _raw(double, "POST", f"/queues/{QUEUE}/messages", b"<Message><MessageBody>")
    assert status == 400 and b"<Code>MalformedXML</Code>" in answer


def test_sending_to_a_queue_that_does_not_exist_is_queue_not_exist(double: MnsDouble) -> None:
    with pytest.raises(MnsError) as caught:
        queue(double, name="nowhere").send(b"x")
    assert (caught.value.code, caught.value.status, caught.value.transient) == ("QueueNotExist", 404, False)


# --- receive, visibility, receipts -----------------------------------------------------------------------


def test_a_received_message_is_hidden_for_the_queues_visibility_timeout(double: MnsDouble) -> None:
    q = queue(double)
    q.send(b"x")
    [first] = q.receive(visibility_timeout=5)  # MNS: the queue's VisibilityTimeout (60 s) applies, not 5
    double.advance(59)
    assert q.receive() == []
    double.advance(1)
    [second] = q.receive()
    assert second.message_id == first.message_id
    assert (second.receive_count, second.receipt != first.receipt) == (2, True)


def test_receive_reports_dequeue_count_and_times(double: MnsDouble) -> None:
    q = sdk_queue(double)
    q.send_message(Message("x"))  # type: ignore[attr-defined]
    first = q.receive_message()  # type: ignore[attr-defined]
    assert first.first_dequeue_time >= first.enqueue_time
    assert first.next_visible_time - int(double.now() * 1000) in range(59_000, 60_001)


def test_first_dequeue_time_is_the_first_receive_and_stays_so(double: MnsDouble) -> None:
    """"FirstDequeueTime: the time when the message was received for the first time" ("ReceiveMessage")."""
    q = sdk_queue(double)
    q.send_message(Message("x"))  # type: ignore[attr-defined]
    double.advance(10)
    first = q.receive_message()  # type: ignore[attr-defined]
    assert first.first_dequeue_time - first.enqueue_time in range(10_000, 11_000)
    double.advance(60)
    second = q.receive_message()  # type: ignore[attr-defined]
    assert (second.dequeue_count, second.first_dequeue_time) == (2, first.first_dequeue_time)


@pytest.mark.parametrize("count", ["0", "17"])
def test_num_of_messages_outside_1_to_16_is_invalid_argument(double: MnsDouble, count: str) -> None:
    """"numOfMessages: 1 to 16" ("BatchReceiveMessage", "BatchPeekMessage")."""
    queue(double).send(b"x")
    for peek in ("", "&peekonly=true"):
        status, answer = _raw(double, "GET", f"/queues/{QUEUE}/messages?numOfMessages={count}{peek}")
        assert status == 400 and b"<Code>InvalidArgument</Code>" in answer
    assert double.messages(QUEUE)[0]["dequeueCount"] == 0


def test_batch_receive_takes_at_most_num_of_messages_in_send_order(double: MnsDouble) -> None:
    q = queue(double)
    for i in range(5):
        q.send(str(i).encode())
    assert [m.body for m in q.receive(max_messages=3)] == [b"0", b"1", b"2"]
    assert [m.body for m in q.receive(max_messages=16)] == [b"3", b"4"]


def test_higher_priority_messages_are_received_first(double: MnsDouble) -> None:
    q = sdk_queue(double)
    q.send_message(Message("low", priority=16))  # type: ignore[attr-defined]
    q.send_message(Message("high", priority=1))  # type: ignore[attr-defined]
    assert q.receive_message().message_body == b"high"  # type: ignore[attr-defined]


def test_delete_with_the_current_receipt_removes_the_message(double: MnsDouble) -> None:
    q = queue(double)
    q.send(b"x")
    [message] = q.receive()
    assert q.delete(message.receipt) is True
    double.advance(3600)
    assert q.receive() == [] and double.messages(QUEUE) == []


def test_a_receipt_from_an_earlier_receive_is_stale_message_not_exist(double: MnsDouble) -> None:
    q = queue(double)
    q.send(b"x")
    [first] = q.receive()
    double.advance(60)
    q.receive()
    err = sdk_error(lambda: sdk_queue(double).delete_message(first.receipt))  # type: ignore[attr-defined]
    assert err.type == "MessageNotExist"
    assert q.delete(first.receipt) is False
    assert len(double.messages(QUEUE)) == 1


def test_a_receipt_past_its_next_visible_time_is_stale(double: MnsDouble) -> None:
    q = queue(double)
    q.send(b"x")
    [message] = q.receive()
    double.advance(60)
    assert q.delete(message.receipt) is False


def test_a_receipt_the_double_never_issued_is_receipt_handle_error(double: MnsDouble) -> None:
    err = sdk_error(lambda: sdk_queue(double).delete_message("not-a-receipt"))  # type: ignore[attr-defined]
    assert err.type == "ReceiptHandleError"
    assert queue(double).delete("not-a-receipt") is False


def test_change_visibility_hides_the_message_and_issues_a_new_receipt(double: MnsDouble) -> None:
    q = sdk_queue(double)
    q.send_message(Message("x"))  # type: ignore[attr-defined]
    received = q.receive_message()  # type: ignore[attr-defined]
    changed = q.change_message_visibility(received.receipt_handle, 300)  # type: ignore[attr-defined]
    assert changed.receipt_handle != received.receipt_handle
    double.advance(299)
    assert queue(double).receive() == []
    err = sdk_error(lambda: q.delete_message(received.receipt_handle))  # type: ignore[attr-defined]
    assert err.type == "MessageNotExist"
    q.delete_message(changed.receipt_handle)  # type: ignore[attr-defined]


def test_change_visibility_of_a_stale_receipt_raises_receipt_invalid(double: MnsDouble) -> None:
    q = queue(double)
    q.send(b"x")
    [message] = q.receive()
    double.advance(61)
    with pytest.raises(ReceiptInvalid):
        q.change_visibility(message.receipt, 10)


@pytest.mark.parametrize("seconds", ["0", "43201"])
def test_change_visibility_outside_1_to_43200_is_invalid_argument(double: MnsDouble, seconds: str) -> None:
    q = queue(double)
    q.send(b"x")
    [message] = q.receive()
    resource = f"/queues/{QUEUE}/messages?ReceiptHandle={message.receipt}&VisibilityTimeout={seconds}"
    status, answer = _raw(double, "PUT", resource)
    assert status == 400 and b"<Code>InvalidArgument</Code>" in answer


def test_a_request_without_its_receipt_handle_or_timeout_names_what_is_missing(double: MnsDouble) -> None:
    """"MissingReceiptHandle" / "MissingVisibilityTimeout" (MNS error codes)."""
    q = queue(double)
    q.send(b"x")
    [message] = q.receive()
    status, answer = _raw(double, "DELETE", f"/queues/{QUEUE}/messages")
    assert status == 400 and b"<Code>MissingReceiptHandle</Code>" in answer
    status, answer = _raw(double, "PUT", f"/queues/{QUEUE}/messages?ReceiptHandle={message.receipt}")
    assert status == 400 and b"<Code>MissingVisibilityTimeout</Code>" in answer
    double.advance(59)
    assert q.receive() == []  # the refused change left the message as it was


def test_a_base64_handle_that_is_not_a_receipt_is_receipt_handle_error(double: MnsDouble) -> None:
    import base64

    handle = "1-" + base64.b64encode(b"no separator, no nonce").decode()
    err = sdk_error(lambda: sdk_queue(double).delete_message(handle))  # type: ignore[attr-defined]
    assert err.type == "ReceiptHandleError"


def test_peek_shows_visible_messages_without_receiving_them(double: MnsDouble) -> None:
    q = queue(double)
    q.send(b"a")
    q.send(b"b")
    assert [m.body for m in q.peek()] == [b"a", b"b"]
    assert all(m["dequeueCount"] == 0 for m in double.messages(QUEUE))


def test_a_peeked_message_carries_no_receipt_handle(double: MnsDouble) -> None:
    """"PeekMessage" answers the message without ReceiptHandle or NextVisibleTime: a peek cannot delete."""
    q = queue(double)
    q.send(b"x")
    q.send(b"y")
    q.receive(max_messages=1)  # x now has a receipt; a peek of y, or of x once visible again, shows none
    double.advance(60)
    for resource in (f"/queues/{QUEUE}/messages?peekonly=true",
                     f"/queues/{QUEUE}/messages?peekonly=true&numOfMessages=2"):
        status, answer = _raw(double, "GET", resource)
        assert status == 200 and b"<MessageId>" in answer
        assert b"ReceiptHandle" not in answer and b"NextVisibleTime" not in answer


def test_an_empty_queue_answers_message_not_exist(double: MnsDouble) -> None:
    err = sdk_error(lambda: sdk_queue(double).receive_message())  # type: ignore[attr-defined]
    assert err.type == "MessageNotExist"
    assert queue(double).receive() == []


def test_messages_older_than_the_retention_period_are_gone(double: MnsDouble) -> None:
    double.create_queue("short", QueueAttributes(message_retention_period=60))
    queue(double, name="short").send(b"x")
    double.advance(60)
    assert queue(double, name="short").receive() == []
    assert double.messages("short") == []


def test_retention_counts_from_the_send_however_often_the_message_was_received(double: MnsDouble) -> None:
    """"MessageRetentionPeriod: the maximum lifetime of a message in the queue" ("CreateQueue"): from when it was
    sent; receives do not extend it, and a receipt of an expired message deletes nothing."""
    double.create_queue("short", QueueAttributes(message_retention_period=60, visibility_timeout=120))
    q = queue(double, name="short")
    q.send(b"x")
    q.send(b"never received")
    double.advance(30)
    [message] = q.receive(max_messages=1)
    assert message.body == b"x"
    double.advance(31)
    assert q.delete(message.receipt) is False
    assert double.stats()["queues"]["short"]["deleted"] == 0
    assert q.receive() == []


# --- long polling ----------------------------------------------------------------------------------------


def test_long_polling_returns_a_message_sent_while_it_waits(double: MnsDouble) -> None:
    threading.Timer(0.3, lambda: queue(double).send(b"arrived")).start()
    received = sdk_queue(double).receive_message(wait_seconds=10)  # type: ignore[attr-defined]
    assert received.message_body == b"arrived"


def test_long_polling_returns_a_delayed_message_once_the_clock_passes_its_delay(double: MnsDouble) -> None:
    queue(double).send(b"soon", delay_seconds=120)
    threading.Timer(0.3, lambda: double.advance(120)).start()
    received = sdk_queue(double).receive_message(wait_seconds=10)  # type: ignore[attr-defined]
    assert received.message_body == b"soon"


def test_long_polling_with_nothing_to_receive_waits_then_answers_message_not_exist(double: MnsDouble) -> None:
    started = time.monotonic()
    err = sdk_error(lambda: sdk_queue(double).receive_message(wait_seconds=1))  # type: ignore[attr-defined]
    assert err.type == "MessageNotExist"
    assert time.monotonic() - started >= 0.9  # it held the request rather than answering at once


def test_a_receive_without_waitseconds_waits_the_queues_polling_wait_seconds(double: MnsDouble) -> None:
    """"PollingWaitSeconds": the queue's long-polling time when a receive names none."""
    double.create_queue("polling", QueueAttributes(polling_wait_seconds=1))
    started = time.monotonic()
    err = sdk_error(lambda: sdk_queue(double, "polling").receive_message())  # type: ignore[attr-defined]
    assert err.type == "MessageNotExist"
    assert time.monotonic() - started >= 0.9


def test_a_long_poll_on_a_queue_deleted_meanwhile_answers_queue_not_exist(double: MnsDouble) -> None:
    threading.Timer(0.3, lambda: Account(double.endpoint, AK, SK, TOKEN).get_queue(QUEUE).delete()).start()
    err = sdk_error(lambda: sdk_queue(double).receive_message(wait_seconds=5))  # type: ignore[attr-defined]
    assert err.type == "QueueNotExist"


def test_waitseconds_above_30_is_invalid_argument(double: MnsDouble) -> None:
    err = sdk_error(lambda: sdk_queue(double).receive_message(wait_seconds=31))  # type: ignore[attr-defined]
    assert err.type == "InvalidArgument"


# --- queues ----------------------------------------------------------------------------------------------


def test_create_queue_then_get_its_attributes(double: MnsDouble) -> None:
    account = Account(double.endpoint, AK, SK, TOKEN)
    meta = QueueMeta()
    meta.set_visibilitytimeout(45)
    meta.set_polling_wait_seconds(5)
    url = account.get_queue("created").create(meta)
    assert url.endswith("/queues/created")
    attributes = account.get_queue("created").get_attributes()
    assert (attributes.visibility_timeout, attributes.polling_wait_seconds, attributes.maximum_message_size) == (
        45,
        5,
        65_536,
    )


def test_creating_an_existing_queue_with_other_attributes_is_queue_already_exist(double: MnsDouble) -> None:
    meta = QueueMeta()
    meta.set_visibilitytimeout(99)
    err = sdk_error(lambda: Account(double.endpoint, AK, SK, TOKEN).get_queue(QUEUE).create(meta))
    assert err.type == "QueueAlreadyExist"


def test_creating_an_existing_queue_with_the_same_attributes_answers_204(double: MnsDouble) -> None:
    """"CreateQueue": 201 for a new queue; 204 when a queue of that name exists with the same attributes; 409
    QueueAlreadyExist when its attributes differ."""
    assert _raw(double, "PUT", "/queues/fresh")[0] == 201
    assert _raw(double, "PUT", "/queues/fresh") == (204, b"")


@pytest.mark.parametrize(("name", "code"), [
    ("q" * 257, "QueueNameLengthError"), ("bad_name", "InvalidQueueName"), ("-lead", "InvalidQueueName"),
    ("名字", "InvalidQueueName"),
])
def test_an_invalid_queue_name_is_refused(double: MnsDouble, name: str, code: str) -> None:
    """"CreateQueue": QueueName of letters, digits and hyphens, up to 256 characters, not starting with a hyphen."""
    from urllib.parse import quote

    status, answer = _raw(double, "PUT", f"/queues/{quote(name)}")
    assert status == 400 and f"<Code>{code}</Code>".encode() in answer
    assert set(double.stats()["queues"]) == {QUEUE}


def test_a_256_character_queue_name_is_accepted(double: MnsDouble) -> None:
    assert _raw(double, "PUT", "/queues/" + "q" * 256)[0] == 201


@pytest.mark.parametrize(("element", "value"), [
    ("VisibilityTimeout", "0"), ("VisibilityTimeout", "43201"), ("DelaySeconds", "604801"),
    ("MaximumMessageSize", "1023"), ("MessageRetentionPeriod", "59"), ("PollingWaitSeconds", "31"),
])
def test_a_queue_attribute_out_of_its_range_is_invalid_argument(double: MnsDouble, element: str, value: str) -> None:
    """The ranges of "CreateQueue" / "SetQueueAttributes"."""
    from mns.mns_xml_handler import XMLNS

    body = f'<Queue xmlns="{XMLNS}"><{element}>{value}</{element}></Queue>'.encode()
    for method, resource in (("PUT", "/queues/ranged"), ("PUT", f"/queues/{QUEUE}?metaoverride=true")):
        status, answer = _raw(double, method, resource, body)
        assert status == 400 and b"<Code>InvalidArgument</Code>" in answer
    assert set(double.stats()["queues"]) == {QUEUE}


def test_queue_attributes_answer_what_the_queue_was_created_with(double: MnsDouble) -> None:
    account = Account(double.endpoint, AK, SK, TOKEN)
    meta = QueueMeta()
    meta.set_delay_seconds(7)
    meta.set_message_retention_period(3600)
    meta.set_maximum_message_size(2048)
    meta.set_logging_enabled(True)
    account.get_queue("made").create(meta)
    got = account.get_queue("made").get_attributes()
    assert (got.delay_seconds, got.message_retention_period, got.maximum_message_size, got.logging_enabled) == (
        7, 3600, 2048, True)


def test_set_queue_attributes_changes_only_the_attributes_it_names(double: MnsDouble) -> None:
    account = Account(double.endpoint, AK, SK, TOKEN)
    meta = QueueMeta()
    meta.set_polling_wait_seconds(3)
    account.get_queue(QUEUE).set_attributes(meta)
    got = account.get_queue(QUEUE).get_attributes()
    assert (got.polling_wait_seconds, got.visibility_timeout, got.message_retention_period) == (3, 60, 604_800)


def test_a_deleted_queue_no_longer_exists(double: MnsDouble) -> None:
    account = Account(double.endpoint, AK, SK, TOKEN)
    account.get_queue(QUEUE).delete()
    err = sdk_error(lambda: account.get_queue(QUEUE).get_attributes())
    assert err.type == "QueueNotExist"


def test_a_path_naming_no_operation_is_invalid_request_url(double: MnsDouble) -> None:
    for method, resource in (("POST", f"/queues/{QUEUE}"), ("GET", "/topics/t"), ("GET", f"/queues/{QUEUE}/x")):
        status, answer = _raw(double, method, resource)
        assert status == 400 and b"<Code>InvalidRequestURL</Code>" in answer


def test_set_queue_attributes_changes_the_visibility_timeout_of_later_receives(double: MnsDouble) -> None:
    meta = QueueMeta()
    meta.set_visibilitytimeout(10)
    Account(double.endpoint, AK, SK, TOKEN).get_queue(QUEUE).set_attributes(meta)
    q = queue(double)
    q.send(b"x")
    q.receive()
    double.advance(10)
    assert len(q.receive()) == 1


def test_queue_attributes_count_messages_by_state(double: MnsDouble) -> None:
    q = queue(double)
    q.send(b"a")
    q.send(b"b", delay_seconds=60)
    q.send(b"c")
    q.receive(max_messages=1)
    assert double.stats()["queues"][QUEUE] == {
        "active": 1,
        "inactive": 1,
        "delayed": 1,
        "sent": 3,
        "received": 1,
        "deleted": 0,
    }


@pytest.mark.filterwarnings("ignore:.*(active|inactive|delay)_messages:DeprecationWarning")  # the SDK says so too
def test_queue_attributes_answer_zero_message_counts_as_mns_is_withdrawing_them(double: MnsDouble) -> None:
    """"These fields will then return a default value of 0: ActiveMessages, InactiveMessages, DelayMessages"
    ("Simple Message Queue (formerly MNS): GetQueueAttributes", Jan 2026): nothing may count on them."""
    q = queue(double)
    q.send(b"a")
    q.send(b"b", delay_seconds=60)
    q.send(b"c")
    q.receive(max_messages=1)
    attributes = Account(double.endpoint, AK, SK, TOKEN).get_queue(QUEUE).get_attributes()
    assert (attributes.active_messages, attributes.inactive_messages, attributes.delay_messages) == (0, 0, 0)


# --- refusals --------------------------------------------------------------------------------------------


def test_a_wrong_secret_is_signature_does_not_match_and_nothing_is_enqueued(double: MnsDouble) -> None:
    with pytest.raises(MnsError) as caught:
        queue(double, Credentials(AK, "wrong", TOKEN)).send(b"x")
    assert (caught.value.code, caught.value.status, caught.value.transient) == ("SignatureDoesNotMatch", 403, False)
    assert double.messages(QUEUE) == []


def test_an_sts_key_without_its_token_is_refused(double: MnsDouble) -> None:
    with pytest.raises(MnsError) as caught:
        queue(double, Credentials(AK, SK)).send(b"x")
    assert (caught.value.code, caught.value.status) == ("InvalidAccessKeyId", 403)


def test_a_client_clock_20_minutes_off_is_time_expired() -> None:
    with MnsDouble(access_key_id=AK, access_key_secret=SK, queues=[QUEUE]) as double:
        skewed = MnsQueue(double.endpoint, QUEUE, Credentials(AK, SK), timeout=5, clock=lambda: time.time() - 1200)
        with pytest.raises(MnsError) as caught:
            skewed.send(b"x")
    assert (caught.value.code, caught.value.status, caught.value.transient) == ("TimeExpired", 408, True)


# --- faults and the control API --------------------------------------------------------------------------


def test_an_injected_internal_error_is_transient_and_enqueues_nothing(double: MnsDouble) -> None:
    double.set_faults({"operations": {"SendMessage": {"sequence": ["InternalError"]}}})
    with pytest.raises(MnsError) as caught:
        queue(double).send(b"x")
    assert (caught.value.code, caught.value.status, caught.value.transient) == ("InternalError", 500, True)
    assert double.messages(QUEUE) == []


def test_a_drop_after_processing_enqueues_a_message_the_producer_never_hears_of(double: MnsDouble) -> None:
    double.set_faults({"operations": {"SendMessage": {"sequence": ["drop-after"]}}})
    with pytest.raises(StorageError) as caught:
        queue(double).send(b"x")
    assert (caught.value.code, caught.value.maybe_sent) == ("TransportError", True)
    assert len(double.messages(QUEUE)) == 1


def test_a_slow_answer_times_the_producer_out(double: MnsDouble) -> None:
    double.set_faults({"operations": {"SendMessage": {"sequence": ["delay:2"]}}})
    with pytest.raises(StorageError) as caught:
        MnsQueue(double.endpoint, QUEUE, CREDS, timeout=0.5).send(b"x")
    assert caught.value.transient is True


def test_the_control_api_advances_the_clock_and_lists_messages(double: MnsDouble) -> None:
    queue(double).send(b"x", delay_seconds=30)
    assert _control(double, "POST", "advance", {"seconds": 30}) == {"ok": True}
    listing = _control(double, "GET", f"messages?queue={QUEUE}")
    assert [m["state"] for m in listing["messages"]] == ["Active"]


@pytest.mark.parametrize("body", [{"seconds": -1}, {"seconds": 691_201}, {"seconds": True}, {"second": 1}, [1]])
def test_the_control_api_refuses_an_advance_it_cannot_apply(double: MnsDouble, body: Any) -> None:
    request = urllib.request.Request(f"{double.base_url}/_double/advance", json.dumps(body).encode(), method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 400
    assert double.now() - time.time() < 1


def _raw(double: MnsDouble, method: str, resource: str, body: bytes = b"") -> tuple[int, bytes]:
    """A request signed with the double's own signer (for malformed inputs the clients refuse to send)."""
    from email.utils import formatdate

    from tools.doubles.mns import auth

    headers = {"date": formatdate(time.time(), usegmt=True), "x-mns-version": auth.MNS_VERSION, "security-token": TOKEN}
    if body:
        headers["content-type"] = "text/xml;charset=UTF-8"
    headers["authorization"] = f"MNS {AK}:{auth.signature(SK, auth.string_to_sign(method, headers, resource))}"
    request = urllib.request.Request(double.endpoint + resource, data=body or None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _control(double: MnsDouble, method: str, route: str, obj: object = None) -> Any:
    data = None if obj is None else json.dumps(obj).encode()
    request = urllib.request.Request(f"{double.base_url}/_double/{route}", data=data, method=method)
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())
