"""MNS queue trigger events (through EventBridge): one :class:`QueueMessage` per message.

One malformed message is reported on that message (:attr:`QueueMessage.error`) without failing its batch.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping, Sequence

from shared import jsonutil

from .errors import BadEvent, BadMessage
from .events import BODY_KEYS, ID_KEYS, as_text, b64decode_strict, decode_event, first

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any, Literal


class QueueMessage:
    """One queue message. ``body`` is bytes (JSON text as we send it, base64-decoded when it was encoded);
    ``error`` is set (and ``body`` empty) when the message could not be read at all."""

    __slots__ = ("body", "encoding", "error", "id", "raw", "request_id")

    def __init__(
        self,
        id: str,
        body: bytes,
        raw: Any,
        *,
        error: str | None = None,
        encoding: Literal["json", "base64", "raw", "none"] = "json",
        request_id: str | None = None,
    ) -> None:
        self.id = id
        self.body = body
        self.raw = raw
        self.error = error
        self.encoding = encoding
        self.request_id = request_id

    @property
    def ok(self) -> bool:
        return self.error is None

    def json(self) -> Any:
        """The body as JSON; :class:`BadMessage` when the message is unreadable or its body is not JSON."""
        if self.error is not None:
            raise BadMessage(self.error)
        try:
            return jsonutil.loads(self.body)
        except jsonutil.JSONDecodeError:
            raise BadMessage("message body is not JSON (nor base64-encoded JSON)") from None

    def __repr__(self) -> str:  # never the body: it may carry PII
        return f"QueueMessage(id={self.id!r}, encoding={self.encoding!r}, error={self.error!r})"


def _is_json(data: bytes | str) -> bool:
    try:
        jsonutil.loads(data)
    except jsonutil.JSONDecodeError:
        return False
    return True


def decode_message_body(body: Any) -> tuple[bytes, Literal["json", "base64", "raw"]]:
    """Our bodies are JSON. Rule: plain JSON first; else base64 whose decoded bytes are JSON; else the raw text.

    JSON objects/arrays cannot be valid base64 (``{``/``[`` are outside the alphabet), so a JSON body is never
    mistaken for base64. An already-decoded object (some EventBridge transforms) is re-encoded as JSON.
    """
    if isinstance(body, (dict, list)):
        return jsonutil.dumps(body), "json"
    text = as_text(body)
    raw = text.encode("utf-8", "surrogatepass")
    if _is_json(raw):
        return raw, "json"
    try:
        decoded = b64decode_strict(text)
    except (binascii.Error, ValueError):
        return raw, "raw"
    if decoded and _is_json(decoded):
        return decoded, "base64"
    return raw, "raw"


def _message(item: Any, index: int) -> QueueMessage:
    if not isinstance(item, Mapping):
        return QueueMessage(f"#{index}", b"", item, error="queue event item is not an object", encoding="none")
    data: Any = item.get("data")
    if isinstance(data, str):  # a CloudEvent whose data arrived as a JSON string
        try:
            data = jsonutil.loads(data)
        except jsonutil.JSONDecodeError:
            data = None
    # CloudEvent (EventBridge) carries the MNS message in data; the plain MNS shapes carry it at the top level
    source = data if isinstance(data, Mapping) else item
    msg_id = first(source, ID_KEYS) or item.get("id") or f"#{index}"
    request_id = source.get("requestId") or source.get("RequestId")
    body = first(source, BODY_KEYS)
    if body is None:
        return QueueMessage(
            str(msg_id), b"", item, error="queue message has no messageBody", encoding="none",
            request_id=as_text(request_id) or None,
        )
    payload, encoding = decode_message_body(body)
    return QueueMessage(str(msg_id), payload, item, encoding=encoding, request_id=as_text(request_id) or None)


def parse_queue_event(event: bytes | bytearray | str | Mapping[str, Any] | Sequence[Any]) -> list[QueueMessage]:
    """Messages of an MNS queue trigger event: a list of CloudEvents (batch), one CloudEvent, or a plain MNS
    message object (``MessageId``/``MessageBody``/``Message``). Raises :class:`BadEvent` only when the event as a
    whole is not JSON or neither an object nor a list; unreadable messages carry ``error``."""
    raw = decode_event(event)
    if isinstance(raw, Mapping):
        return [_message(raw, 0)]
    if isinstance(raw, (list, tuple)):
        return [_message(item, i) for i, item in enumerate(raw)]
    raise BadEvent("queue event must be a JSON object or a list")
