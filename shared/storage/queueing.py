"""What every queue backend shares at run time: the MNS limits, the body encoding, a received message.

(The ``Queue`` and ``ConsumerQueue`` contracts themselves are in :mod:`shared.storage.protocols`.)
"""

from __future__ import annotations

import base64
import binascii

from shared.config import MAX_QUEUE_DELAY_SECONDS
from shared.values import field, valueclass

from .errors import MessageTooLarge

#: MNS limit on a message body, counted on the body as sent (after base64).
MAX_MESSAGE_BYTES = 64 * 1024
#: The largest raw body that still fits once base64-encoded.
MAX_RAW_MESSAGE_BYTES = MAX_MESSAGE_BYTES // 4 * 3
#: How every producer here encodes message bodies. The MNS SDK base64-encodes by default and EventBridge's MNS
#: trigger hands ``data.messageBody`` over exactly as sent, so consumers always ``decode_message_body`` it.
MESSAGE_BODY_ENCODING = "base64"
#: The longest delay a message may be sent with (MNS's DelaySeconds: 7 days; its source in shared.config).
MAX_DELAY_SECONDS = MAX_QUEUE_DELAY_SECONDS


def encode_message_body(body: bytes) -> str:
    return base64.b64encode(body).decode("ascii")


def decode_message_body(text: str | bytes) -> bytes:
    """Decode a ``messageBody`` produced by :func:`encode_message_body` (strict: rejects non-base64 text)."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("queue message body is not base64") from None


def check_body_size(body: bytes) -> None:
    """Raise ``MessageTooLarge`` when ``body`` would exceed 64 KB once base64-encoded (the MNS limit)."""
    if len(body) > MAX_RAW_MESSAGE_BYTES:
        encoded = (len(body) + 2) // 3 * 4
        raise MessageTooLarge(encoded, MAX_MESSAGE_BYTES)


def check_queue_name(name: str) -> str:
    """``name`` when every backend can hold a queue of that name (1-256 characters, no ``/``: the MNS adapter puts it
    in a request path), else ``ValueError``. Checked when the settings are read, so a bad name fails the start even
    where the queue is opened on first use. MNS's own naming rule is *unverified* (no vendor page found): this is the
    union of the two adapters' earlier checks, refusing nothing MNS could accept."""
    if not name or len(name) > 256 or "/" in name:
        raise ValueError("queue name must be 1-256 characters without '/'")
    return name


def check_delay(delay_seconds: int) -> int:
    """``delay_seconds`` when it is a whole number of seconds MNS accepts, else ``ValueError``."""
    if not isinstance(delay_seconds, int) or not 0 <= delay_seconds <= MAX_DELAY_SECONDS:
        raise ValueError(f"delay_seconds must be a whole number between 0 and {MAX_DELAY_SECONDS}")
    return delay_seconds


@valueclass
class ReceivedMessage:
    message_id: str
    body: bytes = field(repr=False)
    receipt: str
    receive_count: int
    first_enqueued_at: float
