"""MnsQueue against the MNS double (``tools.doubles.mns``): what it sends, how it signs, how it reads answers.

The double verifies every signature with its own implementation (checked against the official SDK's signer in
tests/doubles/test_mns_signature.py); here the official SDK's signer also re-signs what ``MnsQueue`` sent, so the
client is held to the SDK byte for byte. The consumer calls and MNS's queue semantics are tested in
tests/doubles/test_mns_double.py and the queue contract in test_queue_contract.py.
"""

from __future__ import annotations

import base64
import socket
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from email.utils import parsedate_to_datetime

import pytest
from mns.auth import Credentials as MnsCredentials
from mns.mns_client import MNSClient

from shared.signing import Credentials
from shared.storage import MAX_RAW_MESSAGE_BYTES, MessageTooLarge, MnsError, MnsQueue, StorageError, decode_message_body
from tests.loopback import DrippingServer
from tools.doubles.mns import MnsDouble
from tools.doubles.mns.queues import Message

NS = "{http://mns.aliyuncs.com/doc/v1/}"
CREDS = Credentials("LTAI-test-id", "test-secret", "sts-token-xyz")
QUEUE = "kyc-recheck"


@pytest.fixture
def server() -> Iterator[MnsDouble]:
    with MnsDouble(
        access_key_id=CREDS.access_key_id,
        access_key_secret=CREDS.access_key_secret,
        security_token=CREDS.security_token,
        queues=[QUEUE],
    ) as double:
        yield double


def _queue(server: MnsDouble, creds: Credentials = CREDS, name: str = QUEUE, now: float | None = None) -> MnsQueue:
    return MnsQueue(server.endpoint, name, creds, timeout=5, clock=(lambda: now) if now is not None else time.time)


def test_send_signature_matches_official_sdk_signer(server: MnsDouble) -> None:
    message_id = _queue(server).send(b"hello")
    assert [m["messageId"] for m in server.messages(QUEUE)] == [message_id]
    [sent] = server.received("SendMessage")
    headers = dict(sent.request.headers)
    oracle = MNSClient("http://127.0.0.1", CREDS.access_key_id, CREDS.access_key_secret)
    expected = oracle.get_signature(
        "POST",
        headers,
        sent.request.path,
        MnsCredentials(CREDS.access_key_id, CREDS.access_key_secret, CREDS.security_token),
    )
    assert headers["authorization"] == expected
    assert headers["authorization"].startswith("MNS LTAI-test-id:")


def test_send_posts_to_queue_messages_with_required_headers(server: MnsDouble) -> None:
    now = float(int(time.time()))  # a whole second, so the Date header round-trips exactly
    _queue(server, now=now).send(b"hello")
    [sent] = server.received("SendMessage")
    assert sent.request.path == "/queues/kyc-recheck/messages"
    assert sent.request.header("content-type") == "text/xml;charset=UTF-8"
    assert sent.request.header("x-mns-version") == "2015-06-06"
    assert sent.request.header("security-token") == "sts-token-xyz"
    assert parsedate_to_datetime(sent.request.header("date")).timestamp() == now


def test_send_body_is_base64_xml_with_delay(server: MnsDouble) -> None:
    payload = b'{"merchantBizId":"x"}<&>\x00\xff'
    _queue(server).send(payload, delay_seconds=300)
    root = ET.fromstring(server.received("SendMessage")[0].request.body)
    assert root.tag == f"{NS}Message"
    assert decode_message_body(root.find(f"{NS}MessageBody").text or "") == payload  # type: ignore[union-attr]
    assert root.find(f"{NS}DelaySeconds").text == "300"  # type: ignore[union-attr]
    [stored] = server.messages(QUEUE)
    assert (decode_message_body(stored["body"]), stored["state"]) == (payload, "Delayed")


def test_send_without_sts_token_sends_no_security_token_header() -> None:
    with MnsDouble(access_key_id="LTAI-test-id", access_key_secret="test-secret", queues=[QUEUE]) as double:
        _queue(double, Credentials("LTAI-test-id", "test-secret")).send(b"x")
        assert "security-token" not in double.received("SendMessage")[0].request.headers


def test_wrong_secret_is_rejected_by_the_double(server: MnsDouble) -> None:
    with pytest.raises(MnsError) as info:
        _queue(server, Credentials("LTAI-test-id", "wrong-secret", "sts-token-xyz")).send(b"x")
    assert info.value.code == "SignatureDoesNotMatch" and info.value.status == 403
    assert server.messages(QUEUE) == []


def test_error_body_code_is_parsed_and_not_transient(server: MnsDouble) -> None:
    with pytest.raises(MnsError) as info:
        _queue(server, name="no-such-queue").send(b"x")
    assert (info.value.code, info.value.status, info.value.transient) == ("QueueNotExist", 404, False)
    assert info.value.request_id and len(info.value.request_id) == 24  # from the x-mns-request-id header
    assert "not exist" not in str(info.value)


def test_server_error_is_transient(server: MnsDouble) -> None:
    server.set_faults({"operations": {"SendMessage": {"sequence": ["ServiceUnavailable"]}}})
    with pytest.raises(MnsError) as info:
        _queue(server).send(b"x")
    assert (info.value.status, info.value.transient) == (503, True)


def test_md5_mismatch_in_answer_is_reported(server: MnsDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Message, "body_md5", property(lambda self: "0" * 32))  # the double answers a wrong MD5
    with pytest.raises(MnsError) as info:
        _queue(server).send(b"x")
    assert info.value.code == "BodyMD5Mismatch"


def test_oversized_body_is_refused_before_any_request(server: MnsDouble) -> None:
    with pytest.raises(MessageTooLarge):
        _queue(server).send(b"x" * (MAX_RAW_MESSAGE_BYTES + 1))
    assert server.received() == []


def test_the_largest_body_the_client_allows_fits_the_64_kb_limit_of_the_service(server: MnsDouble) -> None:
    _queue(server).send(b"x" * MAX_RAW_MESSAGE_BYTES)
    assert len(server.messages(QUEUE)[0]["body"]) == 65_536


def test_connection_refused_is_transient_transport_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    queue = MnsQueue(f"http://127.0.0.1:{port}", "q", CREDS, timeout=5)
    with pytest.raises(StorageError) as info:
        queue.send(b"x")
    assert info.value.transient is True and info.value.code == "TransportError"


def test_encode_is_standard_base64() -> None:
    from shared.storage import encode_message_body

    assert encode_message_body(b"\xff\x00") == base64.b64encode(b"\xff\x00").decode()
    with pytest.raises(ValueError):
        decode_message_body("not base64!")


# --- one deadline per call ---------------------------------------------------------------------------------------


def test_an_answer_dripped_byte_by_byte_ends_at_the_call_s_deadline_as_a_transient_transport_error() -> None:
    answer = (b"HTTP/1.1 201 Created\r\nContent-Type: text/xml\r\nContent-Length: 200\r\n\r\n" + b"<" * 200)
    drip = DrippingServer(answer, 0.05)  # each read waits 0.05 s; the whole answer would take ~14 s
    try:
        queue = MnsQueue(drip.url.removesuffix("/hook"), QUEUE, CREDS, timeout=1.0)
        started = time.monotonic()
        with pytest.raises(StorageError) as caught:
            queue.send(b"payload")
        elapsed = time.monotonic() - started
    finally:
        drip.stop()
    assert (caught.value.code, caught.value.transient, caught.value.maybe_sent) == ("TransportError", True, True)
    assert elapsed < 2.5, elapsed  # the deadline (1 s) with room for a loaded machine, far below the drip's ~14 s
    assert drip.completed == 0


def test_an_answer_cut_off_before_its_content_length_is_a_transient_transport_error() -> None:
    body = b"<?xml version='1.0' encoding='utf-8'?><Message><MessageId>m1</MessageId></Message>"
    head = b"HTTP/1.1 201 Created\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n" % len(body)
    half = body[: len(body) // 2]
    cut = DrippingServer(half[-1:], 0.0, prefix=head + half[:-1])  # half of the body, then the connection closes
    try:
        with pytest.raises(StorageError) as caught:
            MnsQueue(cut.url.removesuffix("/hook"), QUEUE, CREDS, timeout=1.0).send(b"payload")
    finally:
        cut.stop()
    assert (caught.value.code, caught.value.transient, caught.value.maybe_sent) == ("TransportError", True, True)


def test_change_visibility_reads_the_new_receipt_handle_as_the_official_sdk_does(
    server: MnsDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mns.mns_xml_handler import ChangeMsgVisDecoder

    answer = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<ChangeVisibility xmlns="http://mns.aliyuncs.com/doc/v1/">'
        b"<ReceiptHandle>1-ODU4OTkzNDU5My0xNDM1MTk3NjAwLTItNg==</ReceiptHandle>"
        b"<NextVisibleTime>1435197660908</NextVisibleTime></ChangeVisibility>"
    )
    queue = _queue(server)
    monkeypatch.setattr(queue, "_call", lambda method, resource, operation: (200, answer, "req-1"))
    expected, _ = ChangeMsgVisDecoder.decode(answer.decode())
    assert queue.change_visibility("1-ODU4OTkzNDU5My0xNDM1MTk3NjAwLTEtNQ==", 60) == expected


def test_a_change_visibility_answer_without_a_receipt_handle_is_a_malformed_response(
    server: MnsDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = _queue(server)
    monkeypatch.setattr(queue, "_call", lambda method, resource, operation: (200, b"<ChangeVisibility/>", "req-1"))
    with pytest.raises(MnsError) as info:
        queue.change_visibility("1-ODU4OTkzNDU5My0xNDM1MTk3NjAwLTEtNQ==", 60)
    assert info.value.code == "MalformedResponse"


def test_receiving_from_a_queue_that_does_not_exist_is_an_error_not_an_empty_queue(server: MnsDouble) -> None:
    """review bi: only ``MessageNotExist`` means "nothing to receive"; another 404 (``QueueNotExist``: a wrong name,
    a queue not created yet) taken for it would have ``kyc dlq`` report an empty dead-letter queue."""
    with pytest.raises(MnsError) as info:
        _queue(server, name="kyc-missing").receive()
    assert (info.value.code, info.value.status) == ("QueueNotExist", 404)


def test_a_delete_mns_fails_is_an_error_not_a_stale_receipt(server: MnsDouble) -> None:
    """review bi: ``delete`` answers False for a receipt MNS no longer honours only; a failed deletion taken for one
    would leave the message to come back while the caller (a redrive) believes it handled."""
    queue = _queue(server)
    queue.send(b"hello")
    [message] = queue.receive()
    server.set_faults({"operations": {"DeleteMessage": {"sequence": ["InternalError"]}}})
    with pytest.raises(MnsError) as info:
        queue.delete(message.receipt)
    assert (info.value.code, info.value.transient) == ("InternalError", True)
    assert [m["messageId"] for m in server.messages(QUEUE)] == [message.message_id]  # still there


def test_a_received_message_without_a_receipt_handle_is_a_malformed_response(
    server: MnsDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    """review bi: a message received without its handle could never be deleted: the answer is refused."""
    answer = (
        b'<?xml version="1.0" encoding="UTF-8"?><Messages xmlns="http://mns.aliyuncs.com/doc/v1/"><Message>'
        b"<MessageId>5F290C926D472878-2-14D9529A8FA-200000001</MessageId><MessageBody>aGVsbG8=</MessageBody>"
        b"<DequeueCount>1</DequeueCount><EnqueueTime>1250700979248</EnqueueTime></Message></Messages>"
    )
    queue = _queue(server)
    monkeypatch.setattr(queue, "_call", lambda method, resource, operation: (200, answer, "req-1"))
    assert [m.body for m in queue.peek()] == [b"hello"]  # a peek has no handle to give
    with pytest.raises(MnsError) as info:
        queue.receive()
    assert info.value.code == "MalformedResponse"


@pytest.mark.parametrize("answer", [b"<html>x</html>", b"<Error/>", b'<Queue xmlns="http://mns.aliyuncs.com/doc/v1/"/>'])
def test_another_xml_answer_to_a_receive_is_a_malformed_response_not_an_empty_queue(
    server: MnsDouble, monkeypatch: pytest.MonkeyPatch, answer: bytes
) -> None:
    """A proxy's page that is XML with no children read as "no messages": `kyc dlq purge` said "purged 0", exit 0
    (audit bu)."""
    queue = _queue(server)
    monkeypatch.setattr(queue, "_call", lambda method, resource, operation: (200, answer, "req-1"))
    for read in (queue.receive, queue.peek):
        with pytest.raises(MnsError) as info:
            read()
        assert info.value.code == "MalformedResponse"


@pytest.mark.parametrize("seconds", [0, 43_201])
def test_a_visibility_outside_what_mns_takes_is_refused_before_any_request(server: MnsDouble, seconds: int) -> None:
    """review bi: ChangeMessageVisibility takes 1-43200 s."""
    with pytest.raises(ValueError, match="43200"):
        _queue(server).change_visibility("1-ODU4OTkzNDU5My0xNDM1MTk3NjAwLTEtNQ==", seconds)
    assert server.received("ChangeMessageVisibility") == []
