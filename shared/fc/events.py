"""Raw trigger events: decoding, which trigger sent one, and the text helpers every event kind shares.

Event formats (docs: "Use an HTTP trigger to invoke a function", FC 3.0 built-in runtimes; MNS queue trigger
through EventBridge):

* HTTP trigger: ``{"version": "v1", "rawPath", "body", "isBase64Encoded", "headers", "queryParameters",
  "requestContext": {"requestId", "domainName", "http": {"method", "path", "protocol", "sourceIp", "userAgent"},
  "time", "timeEpoch"}}`` (see :mod:`shared.fc.http`).
* Queue trigger: one CloudEvent ``{"id", "source", "specversion", "type": "mns:Queue:SendMessage", "subject",
  "time", "data": {"requestId", "messageId", "messageBody"}}``, or a list of them in batch mode
  (see :mod:`shared.fc.queue`).
* Timer trigger: ``{"triggerTime", "triggerName", "payload"}``. No function reads it: the sweeper sweeps whatever is
  due, whatever the event says.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence

from shared import jsonutil

from .errors import BadEvent

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any, Literal

    EventKind = Literal["http", "queue", "timer"]

#: Where the message body and id sit: in a CloudEvent's ``data``, or at the top of the plain MNS shapes.
BODY_KEYS = ("messageBody", "MessageBody", "Message", "message")
ID_KEYS = ("messageId", "MessageId", "MessageID")


def decode_event(event: bytes | bytearray | memoryview | str | Mapping[str, Any] | Sequence[Any]) -> Any:
    """The event as decoded JSON. Already-decoded dicts/lists are returned as they are."""
    if isinstance(event, (bytes, bytearray, memoryview, str)):
        try:
            return jsonutil.loads(event)
        except jsonutil.JSONDecodeError:
            raise BadEvent("event is not valid JSON") from None
    if isinstance(event, (Mapping, list, tuple)):
        return event
    raise BadEvent("event must be JSON bytes, a string, an object or a list")


def as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return ",".join(as_text(v) for v in value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def b64decode_strict(text: str | bytes) -> bytes:
    """Strict base64 (standard or URL-safe alphabet, padding optional, surrounding whitespace ignored)."""
    data = text.strip() if isinstance(text, (str, bytes)) else text
    if isinstance(data, str):
        data = data.encode("ascii", "strict")
    data = b"".join(data.split())
    if b"-" in data or b"_" in data:
        data = data.replace(b"-", b"+").replace(b"_", b"/")
    data += b"=" * (-len(data) % 4)
    return base64.b64decode(data, validate=True)


def first(mapping: Mapping[str, Any], keys: Sequence[str]) -> Any:
    for key in keys:
        if key in mapping:
            return mapping[key]
    return None


def event_kind(event: Any) -> EventKind | None:
    """Which trigger produced an already-decoded event (see :func:`decode_event`); None when unknown.

    For functions with several triggers (result_fetcher: HTTP callback + recheck queue)."""
    if isinstance(event, (list, tuple)):
        return "queue"
    if not isinstance(event, Mapping):
        return None
    ctx = event.get("requestContext")
    if isinstance(ctx, Mapping) and isinstance(ctx.get("http"), Mapping):
        return "http"
    if "triggerTime" in event and "triggerName" in event:
        return "timer"
    data = event.get("data")
    if ("specversion" in event and isinstance(data, (Mapping, str))) or first(event, BODY_KEYS) is not None:
        return "queue"
    return None
