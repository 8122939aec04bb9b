"""``MnsQueue``: ``SendMessage`` to an MNS queue with ``http.client`` (no SDK, nothing to import at cold start).

Request (MNS API 2015-06-06)::

    POST /queues/<name>/messages
    Date: <RFC 1123>            Content-Type: text/xml;charset=UTF-8      x-mns-version: 2015-06-06
    security-token: <STS token, when the key is temporary>
    Authorization: MNS <AccessKeyId>:base64(hmac_sha1(secret,
        VERB \\n Content-MD5 \\n Content-Type \\n Date \\n <sorted "x-mns-name:value\\n" lines> <resource>))

    <?xml version="1.0" encoding="UTF-8"?>
    <Message xmlns="http://mns.aliyuncs.com/doc/v1/"><MessageBody>…</MessageBody><DelaySeconds>…</DelaySeconds></Message>

Content-MD5 is not sent (it is optional, and the official SDK's value is base64 of the *hex* digest, which is
unusual enough that we would rather not depend on it); it enters the string to sign as an empty line.
The body is base64-encoded (``MESSAGE_BODY_ENCODING``), as the MNS SDK does by default, so binary and XML-unsafe
bytes travel intact; consumers decode ``messageBody`` with ``decode_message_body``. MNS echoes the MD5 of the
body as sent (``MessageBodyMD5``): it is checked, so a mangled message is reported instead of silently accepted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import re
import time
from collections.abc import Callable, Mapping
from email.utils import formatdate
from urllib.parse import quote, urlsplit

from shared.http_deadline import (
    Deadline,
    DeadlineHTTPConnection,
    DeadlineHTTPSConnection,
    close_exchange,
    read_at_most,
)
from shared.signing import Credentials

from .errors import ReceiptInvalid, StorageError
from .queueing import (
    MAX_VISIBILITY_SECONDS,
    ReceivedMessage,
    check_body_size,
    check_delay,
    check_queue_name,
    decode_message_body,
    encode_message_body,
)

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    import xml.etree.ElementTree as ET
    from typing import NoReturn


def _parse_xml(data: bytes) -> ET.Element | None:
    """The root of an answer's XML, or None when it is not XML. ``xml.etree`` (~9 ms of a cold start) is imported
    here, at the first answer read, not with the module: building the queues at ``initialize`` stays cheap.

    The XML comes from the MNS endpoint we called; Python's expat refuses entity-expansion bombs."""
    import xml.etree.ElementTree as ET  # noqa: PLC0415

    try:
        return ET.fromstring(data)  # noqa: S314
    except ET.ParseError:
        return None


def escape(text: str) -> str:
    """XML character data (xml.sax.saxutils.escape without its urllib.request/tempfile import chain)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


MNS_VERSION = "2015-06-06"
MNS_XMLNS = "http://mns.aliyuncs.com/doc/v1/"
CONTENT_TYPE = "text/xml;charset=UTF-8"
DEFAULT_TIMEOUT = 10.0
MAX_ERROR_BODY = 64 * 1024
TRANSIENT_CODES = frozenset({"InternalError", "ServiceUnavailable", "Throttling", "TimeExpired", "QpsLimitExceeded"})
MAX_BATCH = 16
MAX_CONSUMER_BODY = 16 * 96 * 1024  # 16 messages of at most 64 KB plus their XML
# A receipt MNS no longer honours: ``MessageNotExist`` (404) once its NextVisibleTime passed or the message was
# received again ("QueueMessage"), ``ReceiptHandleError`` (400, "DeleteMessage"'s error table) for a handle it
# does not recognise at all. Matched on the code alone: the statuses differ.
STALE_RECEIPT_CODES = frozenset({"ReceiptHandleError", "MessageNotExist"})
_RECEIPT_RE = re.compile(r"^[A-Za-z0-9+/=_.-]{1,512}$")
#: The RAM action each ``MnsQueue`` call needs, and its resource below the queue's ARN
#: ``acs:mns:<region>:<account-id>:/queues/<name>``: SMQ's RAM authorization mapping table ("轻量消息队列(原 MNS)
#: ... 授权映射表", https://help.aliyun.com/zh/mns/b3asrm) and each operation's "Authorization information"
#: ("Simple Message Queue (formerly MNS):SendMessage": mns:SendMessage on .../queues/$queueName/messages). The
#: table spells ChangeMessageVisibility's resource ".../messsages"; read as the "/messages" of its neighbours.
#: The functions only ``send``; template.yml's role grants what they call (tests/test_deploy_config.py derives it
#: from their code), the rest is for the operator tools' own key.
RAM_ACTIONS: Mapping[str, tuple[str, str]] = {
    "send": ("mns:SendMessage", "/messages"),
    "receive": ("mns:ReceiveMessage", "/messages"),
    "peek": ("mns:PeekMessage", "/messages"),
    "delete": ("mns:DeleteMessage", "/messages"),
    "change_visibility": ("mns:ChangeMessageVisibility", "/messages"),
    "attributes": ("mns:GetQueueAttributes", ""),
}


class MnsError(StorageError):
    """MNS answered with an error. ``code`` is MNS's ``<Code>``; the server's free-text message is not kept."""


def mns_string_to_sign(method: str, headers: Mapping[str, str], resource: str) -> str:
    lowered = {k.lower(): v for k, v in headers.items()}
    mns_headers = "".join(f"{k}:{lowered[k]}\n" for k in sorted(lowered) if k.startswith("x-mns-"))
    return "\n".join(
        [method, lowered.get("content-md5", ""), lowered.get("content-type", ""), lowered.get("date", "")]
    ) + f"\n{mns_headers}{resource}"


def mns_authorization(credentials: Credentials, method: str, headers: Mapping[str, str], resource: str) -> str:
    digest = hmac.new(
        credentials.access_key_secret.encode(), mns_string_to_sign(method, headers, resource).encode(), hashlib.sha1
    ).digest()
    return f"MNS {credentials.access_key_id}:{base64.b64encode(digest).decode()}"


class MnsQueue:
    """Producer for one MNS queue (and, for the ops tools, the consumer calls: receive, delete, peek). ``endpoint`` is
    ``https://<account-id>.mns.<region>.aliyuncs.com``. ``timeout``: each call's deadline, for its whole exchange
    (:mod:`shared.http_deadline`); one connection per call, nothing retried here (the caller's policy decides)."""

    def __init__(
        self,
        endpoint: str,
        queue_name: str,
        credentials: Credentials,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("MNS endpoint must be an http(s) URL")
        check_queue_name(queue_name)
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._netloc = parts.netloc
        self.queue_name = queue_name
        self._credentials = credentials
        self._timeout = timeout
        self._clock = clock

    def _connection(self) -> DeadlineHTTPConnection:
        """A new connection whose whole exchange (lookup, connect, TLS, send, answer) ends within ``timeout``
        seconds: a queue endpoint that answers slowly, byte by byte, cannot hold a function past it."""
        deadline = Deadline(self._timeout)
        if self._https:
            return DeadlineHTTPSConnection(self._host, self._port, deadline)
        return DeadlineHTTPConnection(self._host, self._port, deadline)

    def send(self, body: bytes, *, delay_seconds: int = 0) -> str:
        check_body_size(body)
        check_delay(delay_seconds)
        encoded = encode_message_body(body)
        xml = (
            f'<?xml version="1.0" encoding="UTF-8"?><Message xmlns="{MNS_XMLNS}">'
            f"<MessageBody>{escape(encoded)}</MessageBody><DelaySeconds>{delay_seconds}</DelaySeconds></Message>"
        ).encode()
        resource = f"/queues/{quote(self.queue_name, safe='')}/messages"
        # A POST that failed in transport may still have been enqueued: maybe_sent.
        status, data, request_id = self._call(
            "POST", resource, "SendMessage", body=xml, max_bytes=MAX_ERROR_BODY, maybe_sent=True
        )
        if not 200 <= status < 300:
            self._raise("SendMessage", status, data, request_id)
        fields = _fields(data)
        message_id = fields.get("MessageId")
        if not message_id:
            raise MnsError(
                "mns SendMessage answer has no MessageId", code="MalformedResponse", status=status, maybe_sent=True
            )
        expected_md5 = hashlib.md5(encoded.encode(), usedforsecurity=False).hexdigest().upper()
        body_md5 = fields.get("MessageBodyMD5")
        if body_md5 and body_md5.upper() != expected_md5:
            raise MnsError("mns SendMessage body MD5 mismatch", code="BodyMD5Mismatch", status=status, maybe_sent=True)
        return message_id


    def _call(
        self,
        method: str,
        resource: str,
        action: str,
        *,
        body: bytes | None = None,
        max_bytes: int = MAX_CONSUMER_BODY,
        maybe_sent: bool = False,
    ) -> tuple[int, bytes, str | None]:
        """One signed request; returns (status, body, request id). Transport errors → ``StorageError``."""
        headers = {"Host": self._netloc, "Date": formatdate(self._clock(), usegmt=True)}
        if body is not None:
            headers["Content-Type"] = CONTENT_TYPE
            headers["Content-Length"] = str(len(body))
        headers["x-mns-version"] = MNS_VERSION
        if self._credentials.security_token:
            headers["security-token"] = self._credentials.security_token
        headers["Authorization"] = mns_authorization(self._credentials, method, headers, resource)
        conn = self._connection()
        response: http.client.HTTPResponse | None = None
        try:
            conn.request(method, resource, body=body, headers=headers)
            response = conn.getresponse()
            data = read_at_most(response, max_bytes)  # a body cut off mid-way: IncompleteRead
        except (OSError, http.client.HTTPException) as exc:
            raise StorageError(
                f"mns {action} transport error: {type(exc).__name__}",
                transient=True,
                code="TransportError",
                maybe_sent=maybe_sent,
            ) from None
        finally:
            close_exchange(conn, response)
        return response.status, data, response.getheader("x-mns-request-id")

    def _raise(self, action: str, status: int, data: bytes, request_id: str | None) -> NoReturn:
        code = _error_code(data) or f"HTTP{status}"
        raise MnsError(
            f"mns {action} failed: {code} ({status})",
            transient=status >= 500 or status == 429 or code in TRANSIENT_CODES,
            code=code,
            status=status,
            request_id=request_id,
        )

    def attributes(self) -> dict[str, str]:
        """GetQueueAttributes (``GET /queues/<name>``): the queue's ``<Queue>`` fields by name (``QueueName``,
        ``MaximumMessageSize``, ``MessageRetentionPeriod``, ...), as text; its message counts answer 0 (MNS is
        withdrawing them). Read-only; ``MnsError`` ``QueueNotExist`` when there is no such queue. Used by ``kyc
        doctor``; the functions never call it."""
        resource = f"/queues/{quote(self.queue_name, safe='')}"
        status, data, request_id = self._call("GET", resource, "GetQueueAttributes", max_bytes=MAX_ERROR_BODY)
        if not 200 <= status < 300:
            self._raise("GetQueueAttributes", status, data, request_id)
        fields = _fields(data)
        if not fields.get("QueueName"):
            raise MnsError("mns GetQueueAttributes answer has no QueueName", code="MalformedResponse", status=status)
        return fields

    # -- consumer side (ops tools: dead-letter listing, redrive, purge) ----------------------------------------
    # ReceiveMessage / DeleteMessage / ChangeMessageVisibility / PeekMessage of MNS API 2015-06-06, signed like
    # SendMessage; the canonical resource is the request URI with its query, exactly as the official SDK signs it.

    def _messages_resource(self, query: str) -> str:
        return f"/queues/{quote(self.queue_name, safe='')}/messages?{query}"

    def receive(self, max_messages: int = 10, visibility_timeout: int = 30) -> list[ReceivedMessage]:
        """BatchReceiveMessage without long polling; empty list when the queue has nothing visible.

        MNS hides received messages for the *queue's* ``VisibilityTimeout`` attribute (a receive cannot choose):
        ``visibility_timeout`` is accepted for the ``ConsumerQueue`` protocol and not used."""
        if not 1 <= max_messages <= MAX_BATCH:
            raise ValueError(f"max_messages must be between 1 and {MAX_BATCH}")
        resource = self._messages_resource(f"numOfMessages={max_messages}&waitseconds=0")
        status, data, request_id = self._call("GET", resource, "ReceiveMessage")
        if status == 404 and _error_code(data) == "MessageNotExist":
            return []
        if not 200 <= status < 300:
            self._raise("ReceiveMessage", status, data, request_id)
        return _parse_messages(data, with_receipt=True)

    def peek(self, limit: int = MAX_BATCH) -> list[ReceivedMessage]:
        """BatchPeekMessage: up to 16 visible messages, nothing changes (``receipt`` is empty)."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        resource = self._messages_resource(f"peekonly=true&numOfMessages={min(limit, MAX_BATCH)}")
        status, data, request_id = self._call("GET", resource, "PeekMessage")
        if status == 404 and _error_code(data) == "MessageNotExist":
            return []
        if not 200 <= status < 300:
            self._raise("PeekMessage", status, data, request_id)
        return _parse_messages(data, with_receipt=False)

    def delete(self, receipt: str) -> bool:
        """DeleteMessage; False when MNS no longer knows the receipt (stale, or the message is gone)."""
        resource = self._messages_resource(f"ReceiptHandle={_check_receipt(receipt)}")
        status, data, request_id = self._call("DELETE", resource, "DeleteMessage")
        if 200 <= status < 300:
            return True
        if _error_code(data) in STALE_RECEIPT_CODES:
            return False
        self._raise("DeleteMessage", status, data, request_id)
        return False  # pragma: no cover - _raise always raises

    def change_visibility(self, receipt: str, seconds: int) -> str:
        """ChangeMessageVisibility (1-``MAX_VISIBILITY_SECONDS``): the new receipt handle of its answer
        (``<ChangeVisibility><ReceiptHandle>``, as the official SDK's ``ChangeMsgVisDecoder`` reads it);
        ``ReceiptInvalid`` for a stale receipt. Whether MNS still accepts the old handle afterwards is unverified: use
        the new one (the official SDK's ``delete_message``/``change_message_visibility`` take "the temporary handle
        returned by the most recent operation on this message", mns/queue.py)."""
        if not isinstance(seconds, int) or not 1 <= seconds <= MAX_VISIBILITY_SECONDS:
            raise ValueError(f"seconds must be a whole number between 1 and {MAX_VISIBILITY_SECONDS}")
        resource = self._messages_resource(f"ReceiptHandle={_check_receipt(receipt)}&VisibilityTimeout={seconds}")
        status, data, request_id = self._call("PUT", resource, "ChangeMessageVisibility")
        if 200 <= status < 300:
            new_receipt = _fields(data).get("ReceiptHandle", "")
            if not new_receipt:
                raise MnsError("mns ChangeMessageVisibility answer has no ReceiptHandle", code="MalformedResponse")
            return new_receipt
        if _error_code(data) in STALE_RECEIPT_CODES:
            raise ReceiptInvalid()
        self._raise("ChangeMessageVisibility", status, data, request_id)
        return ""  # pragma: no cover - _raise always raises


def _check_receipt(receipt: str) -> str:
    """Receipt handles go into the URI unescaped, as the official SDK sends (and signs) them."""
    if not isinstance(receipt, str) or not _RECEIPT_RE.match(receipt):
        raise ReceiptInvalid()
    return receipt


def _parse_messages(data: bytes, *, with_receipt: bool) -> list[ReceivedMessage]:
    """``<Messages><Message>…</Message>…</Messages>`` (or one ``<Message>``) → ``ReceivedMessage``s.

    Bodies we produced are base64 (``MESSAGE_BODY_ENCODING``); a body that is not base64 is kept as its text."""
    root = _parse_xml(data)
    if root is None:
        raise MnsError("mns answer is not XML", code="MalformedResponse")
    tag = root.tag.rsplit("}", 1)[-1]
    if tag not in ("Messages", "Message"):  # another server's XML (a proxy's page): not an empty queue
        raise MnsError(f"mns answer is not a message list (<{tag[:40]}>)", code="MalformedResponse")
    items = [root] if tag == "Message" else list(root)
    messages: list[ReceivedMessage] = []
    for item in items:
        fields = {child.tag.rsplit("}", 1)[-1]: (child.text or "").strip() for child in item}
        text = fields.get("MessageBody", "")
        try:
            body = decode_message_body(text)
        except ValueError:
            body = text.encode()
        try:
            messages.append(
                ReceivedMessage(
                    message_id=fields["MessageId"],
                    body=body,
                    receipt=fields.get("ReceiptHandle", "") if with_receipt else "",
                    receive_count=int(fields.get("DequeueCount") or 0),
                    first_enqueued_at=int(fields.get("EnqueueTime") or 0) / 1000.0,
                )
            )
        except (KeyError, ValueError):
            raise MnsError("mns message in the answer lacks MessageId", code="MalformedResponse") from None
        if with_receipt and not messages[-1].receipt:
            raise MnsError("mns received message has no ReceiptHandle", code="MalformedResponse")
    return messages


def _fields(data: bytes) -> dict[str, str]:
    """Child elements of the root, namespace stripped. Malformed XML gives ``{}``."""
    root = _parse_xml(data)
    if root is None:
        return {}
    return {child.tag.rsplit("}", 1)[-1]: (child.text or "").strip() for child in root}


def _error_code(data: bytes) -> str | None:
    code = _fields(data[:MAX_ERROR_BODY]).get("Code")
    return code if code and code.isascii() and len(code) <= 64 else None
