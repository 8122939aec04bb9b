"""What every queue backend shares at run time: the MNS limits, the body encoding, a received message.

(The ``Queue`` and ``ConsumerQueue`` contracts themselves are in :mod:`shared.storage.protocols`.)
"""

from __future__ import annotations

import base64
import binascii
import math

from shared.config import MAX_QUEUE_DELAY_SECONDS
from shared.values import field, valueclass

from .errors import MessageTooLarge

#: MNS limit on a message body, counted on the body as sent (after base64).
MAX_MESSAGE_BYTES = 64 * 1024
#: MNS queue names: "a maximum of 120 characters in length and can contain letters, digits, and hyphens (-). The name
#: must start with a letter or digit" (Simple Message Queue (formerly MNS), "CreateQueue"; "Limits": name length 120
#: characters, "if exceeded, queue creation fails"). ROS's "ALIYUN::MNS::Queue" page allows 256; the service's 120 wins.
MAX_QUEUE_NAME_CHARS = 120
#: The longest a message may be hidden: MNS ChangeMessageVisibility's VisibilityTimeout and a queue's, 1-43200 s
#: (ROS "ALIYUN::MNS::Queue": "Valid values: 1 to 43200 (12 hours)"). The local queue takes the same bound.
MAX_VISIBILITY_SECONDS = 43_200
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
    """``name`` when MNS can hold a queue of that name, else ``ValueError``: 1-120 ASCII letters, digits and hyphens,
    starting with a letter or a digit (``MAX_QUEUE_NAME_CHARS``). The local queue takes the same names, so a name that
    MNS would refuse fails in development too. Checked when the settings are read, so a bad name fails the start even
    where the queue is opened on first use."""
    if (
        not 0 < len(name) <= MAX_QUEUE_NAME_CHARS
        or not name.isascii()
        or name[0] == "-"
        or not name.replace("-", "").isalnum()  # on ASCII text: letters and digits only
    ):
        raise ValueError(
            f"queue name must be 1-{MAX_QUEUE_NAME_CHARS} letters, digits and hyphens, starting with a letter or digit"
        )
    return name


def queue_delay(seconds: float) -> int:
    """The delay to send a message with for a wait of ``seconds``: whole seconds, as MNS takes them, rounded up, so a
    message is never delivered before the wait it was given (a subscriber's Retry-After included)."""
    return math.ceil(seconds)


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
