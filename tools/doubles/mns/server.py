"""``MnsDouble``: the MNS queue API (2015-06-06) over HTTP, as the official ``mns`` SDK and ``MnsQueue`` speak it.

Operations (operation name → request):

- CreateQueue ``PUT /queues/<q>`` (``<Queue>`` attributes; 201 + Location, 204 when it exists alike, 409
  ``QueueAlreadyExist`` when it exists otherwise), SetQueueAttributes ``PUT /queues/<q>?metaoverride=true``,
  GetQueueAttributes ``GET /queues/<q>``, DeleteQueue ``DELETE /queues/<q>``;
- SendMessage ``POST /queues/<q>/messages`` (``<Message><MessageBody/><DelaySeconds/><Priority/></Message>``,
  201 with MessageId and MessageBodyMD5);
- ReceiveMessage / BatchReceiveMessage ``GET …/messages[?numOfMessages=n][&waitseconds=s]`` (long polling up to
  ``waitseconds`` 0–30, else the queue's PollingWaitSeconds; nothing → 404 ``MessageNotExist``);
- PeekMessage / BatchPeekMessage ``GET …/messages?peekonly=true[&numOfMessages=n]``;
- DeleteMessage ``DELETE …/messages?ReceiptHandle=<h>`` (204);
- ChangeMessageVisibility ``PUT …/messages?ReceiptHandle=<h>&VisibilityTimeout=<s>`` (200, new handle).
Not modelled: batch send/delete, topics, subscriptions, ListQueue, message properties, logging.

Each request, in order: verify the signature (``auth.verify``) → the queue exists (``QueueNotExist``) → the
operation (``queues`` has the message semantics). Message size: the body as sent (UTF-8 bytes of the
``MessageBody`` text) must be 1 … the queue's MaximumMessageSize (64 KB at most), else 400 ``InvalidArgument``
("The value of MessageBody should between 1 and <max> bytes", the error table's pattern for ranges).
"""

from __future__ import annotations

import secrets
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import unquote

from tools.credentials import AccessKey
from tools.doubles._server import DoubleServer, Request, Response
from tools.doubles.mns import auth
from tools.doubles.mns.errors import ERRORS, XMLNS, MnsError, error_xml
from tools.doubles.mns.queues import (
    ATTRIBUTE_FIELDS,
    ATTRIBUTE_RANGES,
    CHANGE_VISIBILITY_RANGE,
    DEFAULT_PRIORITY,
    MAX_BATCH,
    MESSAGE_DELAY_RANGE,
    PRIORITY_RANGE,
    Malformed,
    Message,
    Queue,
    QueueAttributes,
    QueueStore,
    Stale,
)

DEFAULT_ACCOUNT_ID = "1234567890123456"
DEFAULT_REGION = "cn-hangzhou"
MAX_REQUEST_BODY = 1024 * 1024


def _request_id() -> str:
    return secrets.token_hex(12).upper()


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _raw_query(query: str) -> dict[str, str]:
    """Query parameters as MNS reads them: ``+`` stays a plus (receipt handles are base64 and sent unescaped)."""
    params: dict[str, str] = {}
    for item in query.split("&"):
        if item:
            name, _, value = item.partition("=")
            params[unquote(name)] = unquote(value)
    return params


def _int(value: str | None, name: str, low: int, high: int) -> int:
    try:
        number = int(value or "")
    except ValueError:
        raise MnsError("InvalidArgument", f"The value of {name} should between {low} and {high}.") from None
    if not low <= number <= high:
        raise MnsError("InvalidArgument", f"The value of {name} should between {low} and {high}.")
    return number


def _xml_fields(body: bytes, root_tag: str) -> dict[str, str]:
    try:
        root = ET.fromstring(body)  # noqa: S314 - expat refuses entity expansion; the body is a local client's
    except ET.ParseError:
        raise MnsError("MalformedXML") from None
    if root.tag.rsplit("}", 1)[-1] != root_tag:
        raise MnsError(
            "InvalidArgument",
            f"The XML you provided did not validate against our published schema, cause by the root (not {root_tag}).",
        )
    return {child.tag.rsplit("}", 1)[-1]: (child.text or "") for child in root}


class MnsDouble(DoubleServer):
    """An MNS endpoint for one account and region. ``queues``: names (default attributes) or name → attributes."""

    service = "mns"
    server_header = "mns-double"
    error_codes = tuple(ERRORS)
    internal_error_code = "InternalError"
    bad_request_code = "InvalidArgument"
    max_body = MAX_REQUEST_BODY

    def __init__(
        self,
        *,
        access_key_id: str,
        access_key_secret: str,
        security_token: str | None = None,
        queues: Iterable[str] | Mapping[str, QueueAttributes] = (),
        account_id: str = DEFAULT_ACCOUNT_ID,
        region: str = DEFAULT_REGION,
        **server: Any,
    ) -> None:
        super().__init__(**server)
        self.account_id = account_id
        self.region = region
        self._offset = 0.0
        self._keys: dict[str, AccessKey] = {}
        self.add_key(access_key_id, access_key_secret, security_token)
        self.store = QueueStore()
        items = queues.items() if isinstance(queues, Mapping) else ((name, QueueAttributes()) for name in queues)
        for name, attributes in items:
            self.create_queue(name, attributes)

    # --- Python API --------------------------------------------------------------------------------------

    def add_key(self, access_key_id: str, access_key_secret: str, security_token: str | None = None) -> None:
        self._keys[access_key_id] = AccessKey(access_key_id, access_key_secret, security_token)

    def now(self) -> float:
        """The queue clock: ``clock()`` moved forward by ``advance``. Request dates are checked on ``clock()``."""
        return self.clock() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the queue clock forward (delays and visibility timeouts run out), waking long polls."""
        with self.store.changed:
            self._offset += seconds
            self.store.changed.notify_all()

    def create_queue(self, name: str, attributes: QueueAttributes | None = None) -> None:
        self.store.create(name, attributes or QueueAttributes(), self.now())

    def messages(self, queue: str) -> list[dict[str, Any]]:
        """Every message of ``queue`` (send order) with its state: Active, Inactive (received) or Delayed."""
        with self.store.lock:
            q = self.store.queues[queue]
            now = self.now()
            self.store.expire(q, now)
            return [
                {
                    "messageId": m.message_id,
                    "body": m.body,
                    "state": m.state(now),
                    "dequeueCount": m.dequeue_count,
                    "priority": m.priority,
                    "visibleIn": max(0.0, m.visible_at - now),
                }
                for m in q.messages.values()
            ]

    def stats_detail(self) -> dict[str, Any]:
        with self.store.lock:
            now = self.now()
            detail: dict[str, Any] = {}
            for q in self.store.queues.values():
                states = [m.state(now) for m in q.messages.values()]
                detail[q.name] = {
                    "active": states.count("Active"),
                    "inactive": states.count("Inactive"),
                    "delayed": states.count("Delayed"),
                    "sent": q.sent,
                    "received": q.received,
                    "deleted": q.deleted,
                }
        return {"queues": detail}

    def reset_state(self) -> None:
        self.store.clear()
        with self.store.changed:
            self._offset = 0.0

    def stopped(self) -> None:
        with self.store.changed:
            self.store.changed.notify_all()

    def control(self, method: str, route: str, query: dict[str, str], data: Any) -> tuple[int, Any] | None:
        if method == "GET" and route == "queues":
            return 200, self.stats_detail()
        if method == "GET" and route == "messages":
            name = query.get("queue", "")
            if self.store.get(name) is None:
                return 404, {"error": "no such queue"}
            return 200, {"queue": name, "messages": self.messages(name)}
        if method == "POST" and route == "advance":
            seconds = data.get("seconds") if isinstance(data, dict) else None
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds <= 86_400 * 8:
                return 400, {"error": "seconds must be a number between 0 and 691200"}
            self.advance(float(seconds))
            return 200, {"ok": True}
        return None

    def control_endpoints(self) -> list[str]:
        return ["GET /_double/queues", "GET /_double/messages?queue=", "POST /_double/advance {\"seconds\": n}"]

    # --- dispatch ----------------------------------------------------------------------------------------

    def _route(self, request: Request) -> tuple[str | None, str, bool]:
        """(queue name, operation, names …/messages)."""
        parts = request.path.split("/")
        if len(parts) >= 3 and parts[1] == "queues" and parts[2]:
            name = unquote(parts[2])
            is_messages = len(parts) == 4 and parts[3] == "messages"
            if len(parts) == 3 or is_messages:
                return name, self._operation(request, is_messages), is_messages
        return None, "", False

    def _operation(self, request: Request, is_messages: bool) -> str:
        query = _raw_query(request.query)
        method = request.method
        if not is_messages:
            return {
                "PUT": "SetQueueAttributes" if query.get("metaoverride") == "true" else "CreateQueue",
                "GET": "GetQueueAttributes",
                "DELETE": "DeleteQueue",
            }.get(method, "")
        if method == "POST":
            return "SendMessage"
        if method == "GET":
            batch = "numOfMessages" in query
            if query.get("peekonly") == "true":
                return "BatchPeekMessage" if batch else "PeekMessage"
            return "BatchReceiveMessage" if batch else "ReceiveMessage"
        if method == "DELETE":
            return "DeleteMessage"
        if method == "PUT":
            return "ChangeMessageVisibility"
        return ""

    def operation_of(self, request: Request) -> str | None:
        return self._route(request)[1] or None

    def render_error(self, code: str, request: Request, message: str | None = None) -> Response:
        return self._error(MnsError(code, message), request)

    def _error(self, err: MnsError, request: Request) -> Response:
        request_id = _request_id()
        body = error_xml(err, request_id, request.header("host") or "mns.double.local")
        return Response(err.status, body, self._headers(request_id))

    @staticmethod
    def _headers(request_id: str) -> dict[str, str]:
        return {
            "x-mns-request-id": request_id,
            "x-mns-version": auth.MNS_VERSION,
            "Content-Type": "text/xml;charset=utf-8",
        }

    def _xml(self, status: int, xml: str) -> Response:
        body = f'<?xml version="1.0" encoding="UTF-8"?>\n{xml}'.encode()
        return Response(status, body, self._headers(_request_id()))

    def handle(self, request: Request) -> Response:
        try:
            return self._handle(request)
        except MnsError as err:
            return self._error(err, request)

    def _handle(self, request: Request) -> Response:
        resource = request.path + (f"?{request.query}" if request.query else "")
        auth.verify(
            method=request.method,
            resource=resource,
            headers=request.headers,
            body=request.body,
            keys=self._keys,
            now=self.clock(),
        )
        name, operation, _ = self._route(request)
        if name is None or not operation:
            raise MnsError("InvalidRequestURL")
        query = _raw_query(request.query)
        if operation == "CreateQueue":
            return self._create_queue(name, request)
        queue = self.store.get(name)
        if queue is None:
            raise MnsError("QueueNotExist")
        if operation == "SetQueueAttributes":
            attributes = self._attributes(request.body, queue.attributes)
            self.store.set_attributes(name, attributes, self.now())
            return Response(204, b"", self._headers(_request_id()))
        if operation == "GetQueueAttributes":
            return self._queue_attributes(queue)
        if operation == "DeleteQueue":
            self.store.delete_queue(name)
            return Response(204, b"", self._headers(_request_id()))
        if operation == "SendMessage":
            return self._send(queue, request.body)
        if operation in ("ReceiveMessage", "BatchReceiveMessage"):
            return self._receive(queue, query, batch=operation == "BatchReceiveMessage")
        if operation in ("PeekMessage", "BatchPeekMessage"):
            return self._peek(queue, query, batch=operation == "BatchPeekMessage")
        if operation == "DeleteMessage":
            return self._delete(queue, query)
        return self._change_visibility(queue, query)

    # --- queues ------------------------------------------------------------------------------------------

    def _attributes(self, body: bytes, base: QueueAttributes) -> QueueAttributes:
        given = _xml_fields(body, "Queue") if body.strip() else {}
        changes: dict[str, Any] = {}
        for element, attr in ATTRIBUTE_FIELDS.items():
            if element in ATTRIBUTE_RANGES and element in given:
                low, high = ATTRIBUTE_RANGES[element]
                changes[attr] = _int(given[element], element, low, high)
        if "LoggingEnabled" in given:
            changes["logging_enabled"] = given["LoggingEnabled"].lower() == "true"
        return replace(base, **changes)

    def _create_queue(self, name: str, request: Request) -> Response:
        if not 1 <= len(name) <= 256:
            raise MnsError("QueueNameLengthError")
        # "CreateQueue": letters, digits and hyphens, starting with a letter (the Terraform provider's page also
        # allows a leading digit; the double follows the more permissive reading)
        if not name[0].isalnum() or not all(c.isascii() and (c.isalnum() or c == "-") for c in name):
            raise MnsError("InvalidQueueName")
        attributes = self._attributes(request.body, QueueAttributes())
        created = self.store.create(name, attributes, self.now())
        if created is None:
            raise MnsError("QueueAlreadyExist")
        headers = self._headers(_request_id())
        if not created:
            return Response(204, b"", headers)
        headers["Location"] = f"http://{request.header('host')}/queues/{name}"
        return Response(201, b"", headers)

    def _queue_attributes(self, queue: Queue) -> Response:
        with self.store.lock:
            now = self.now()
            self.store.expire(queue, now)
            a = queue.attributes
            values: dict[str, Any] = {
                "QueueName": queue.name,
                "CreateTime": int(queue.created_at),
                "LastModifyTime": int(queue.modified_at),
                "VisibilityTimeout": a.visibility_timeout,
                "MaximumMessageSize": a.maximum_message_size,
                "MessageRetentionPeriod": a.message_retention_period,
                "DelaySeconds": a.delay_seconds,
                "PollingWaitSeconds": a.polling_wait_seconds,
                # Always 0: "Message Service (MNS) will soon unpublish the return values for the following fields.
                # These fields will then return a default value of 0: ActiveMessages, InactiveMessages,
                # DelayMessages" ("Simple Message Queue (formerly MNS): GetQueueAttributes", Jan 2026). Answered as
                # MNS will, so that nothing here can count on them (the doctor peeks at the dead letters instead).
                "ActiveMessages": 0,
                "InactiveMessages": 0,
                "DelayMessages": 0,
                "LoggingEnabled": "True" if a.logging_enabled else "False",
            }
        inner = "".join(f"<{k}>{_xml_text(str(v))}</{k}>" for k, v in values.items())
        return self._xml(200, f'<Queue xmlns="{XMLNS}">{inner}</Queue>')

    # --- messages ----------------------------------------------------------------------------------------

    def _send(self, queue: Queue, body: bytes) -> Response:
        given = _xml_fields(body, "Message")
        text = given.get("MessageBody", "")
        limit = queue.attributes.maximum_message_size
        if not 1 <= len(text.encode()) <= limit:
            raise MnsError("InvalidArgument", f"The value of MessageBody should between 1 and {limit} bytes.")
        delay = (
            _int(given["DelaySeconds"], "DelaySeconds", *MESSAGE_DELAY_RANGE)
            if "DelaySeconds" in given
            else queue.attributes.delay_seconds
        )
        priority = _int(given["Priority"], "Priority", *PRIORITY_RANGE) if "Priority" in given else DEFAULT_PRIORITY
        with self.store.lock:
            message = self.store.send(queue, text, delay, priority, self.now())
        return self._xml(
            201,
            f'<Message xmlns="{XMLNS}"><MessageId>{message.message_id}</MessageId>'
            f"<MessageBodyMD5>{message.body_md5}</MessageBodyMD5></Message>",
        )

    def _message_xml(self, m: Message, *, received: bool) -> str:
        parts = [
            f"<MessageId>{m.message_id}</MessageId>",
            f"<MessageBodyMD5>{m.body_md5}</MessageBodyMD5>",
            f"<MessageBody>{_xml_text(m.body)}</MessageBody>",
            f"<EnqueueTime>{_ms(m.enqueued_at)}</EnqueueTime>",
            f"<FirstDequeueTime>{_ms(m.first_dequeued_at)}</FirstDequeueTime>",
            f"<DequeueCount>{m.dequeue_count}</DequeueCount>",
            f"<Priority>{m.priority}</Priority>",
        ]
        if received:
            parts.insert(1, f"<ReceiptHandle>{m.receipt}</ReceiptHandle>")
            parts.append(f"<NextVisibleTime>{_ms(m.visible_at)}</NextVisibleTime>")
        return "".join(parts)

    def _messages(self, messages: list[Message], *, batch: bool, received: bool) -> Response:
        if not messages:
            raise MnsError("MessageNotExist")
        if not batch:
            inner = self._message_xml(messages[0], received=received)
            return self._xml(200, f'<Message xmlns="{XMLNS}">{inner}</Message>')
        inner = "".join(f"<Message>{self._message_xml(m, received=received)}</Message>" for m in messages)
        return self._xml(200, f'<Messages xmlns="{XMLNS}">{inner}</Messages>')

    def _receive(self, queue: Queue, query: dict[str, str], *, batch: bool) -> Response:
        limit = _int(query.get("numOfMessages"), "numOfMessages", 1, MAX_BATCH) if batch else 1
        wait = (
            _int(query["waitseconds"], "waitseconds", *ATTRIBUTE_RANGES["PollingWaitSeconds"])
            if "waitseconds" in query
            else queue.attributes.polling_wait_seconds
        )
        deadline = time.monotonic() + wait
        with self.store.changed:
            while True:
                if self.store.queues.get(queue.name) is not queue:
                    raise MnsError("QueueNotExist")
                taken = self.store.receive(queue, self.now(), limit)
                remaining = deadline - time.monotonic()
                if taken or remaining <= 0 or self.stopping.is_set():
                    break
                soonest = self.store.next_visible_in(queue, self.now())
                self.store.changed.wait(min(remaining, soonest if soonest is not None else remaining, 1.0))
        return self._messages(taken, batch=batch, received=True)

    def _peek(self, queue: Queue, query: dict[str, str], *, batch: bool) -> Response:
        limit = _int(query.get("numOfMessages"), "numOfMessages", 1, MAX_BATCH) if batch else 1
        with self.store.lock:
            messages = [replace(m) for m in self.store.visible(queue, self.now(), limit)]
        return self._messages(messages, batch=batch, received=False)

    def _receipt(self, query: dict[str, str]) -> str:
        receipt = query.get("ReceiptHandle", "")
        if not receipt:
            raise MnsError("MissingReceiptHandle")
        return receipt

    def _delete(self, queue: Queue, query: dict[str, str]) -> Response:
        receipt = self._receipt(query)
        with self.store.lock:
            try:
                self.store.delete(queue, receipt, self.now())
            except Malformed:
                raise MnsError("ReceiptHandleError") from None
            except Stale:
                raise MnsError("MessageNotExist") from None
        return Response(204, b"", self._headers(_request_id()))

    def _change_visibility(self, queue: Queue, query: dict[str, str]) -> Response:
        receipt = self._receipt(query)
        if "VisibilityTimeout" not in query:
            raise MnsError("MissingVisibilityTimeout")
        seconds = _int(query["VisibilityTimeout"], "VisibilityTimeout", *CHANGE_VISIBILITY_RANGE)
        with self.store.lock:
            try:
                message = self.store.change_visibility(queue, receipt, seconds, self.now())
            except Malformed:
                raise MnsError("ReceiptHandleError") from None
            except Stale:
                raise MnsError("MessageNotExist") from None
        return self._xml(
            200,
            f'<ChangeVisibility xmlns="{XMLNS}"><ReceiptHandle>{message.receipt}</ReceiptHandle>'
            f"<NextVisibleTime>{_ms(message.visible_at)}</NextVisibleTime></ChangeVisibility>",
        )

