"""Standard Webhooks 1.0 signatures: secrets, signing, header sets and verification.

Signed content is ``<webhook-id>.<webhook-timestamp>.<raw body>``; the signature header is a space-separated
list of ``v1,<base64(hmac_sha256(secret, content))>``, one per active secret, so subscribers can rotate keys.
Checked against the specification's vector and the reference implementation (PyPI ``standardwebhooks``) in
tests/test_webhooks_signing.py. Delivery (retries, ``Retry-After``, 410) lives in its own module.

Secrets never appear in reprs or exception messages.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import random
import string
import time
from collections.abc import Iterable, Mapping

from shared.values import field, valueclass

__all__ = [
    "DEFAULT_TOLERANCE",
    "HEADER_ID",
    "HEADER_SIGNATURE",
    "HEADER_TIMESTAMP",
    "SECRET_PREFIX",
    "InvalidWebhookSecret",
    "VerifiedWebhook",
    "WebhookSecret",
    "WebhookVerificationError",
    "generate_secret",
    "new_message_id",
    "sign",
    "signature_headers",
    "verify",
]

SECRET_PREFIX = "whsec_"  # noqa: S105 - a format prefix, not a secret
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64
GENERATED_SECRET_BYTES = 32
DEFAULT_TOLERANCE = 300  # seconds; the specification's 5 minutes
SIGNATURE_VERSION = "v1"
MAX_SIGNATURES = 20  # entries of webhook-signature examined; more is not rotation but abuse

HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"

_ID_ALPHABET = string.ascii_letters + string.digits
_BASE64_ALPHABET = frozenset(string.ascii_letters + string.digits + "+/")
_choice = random.SystemRandom().choice  # what ``secrets.choice`` is (os.urandom), without importing a module for it
_MAX_TIMESTAMP_DIGITS = 12
# A message id goes into a header and into the signed content: no whitespace, no control characters.
_MAX_MSG_ID_CHARS = 256


class InvalidWebhookSecret(ValueError):
    """The secret is not ``whsec_`` + base64 of 24–64 bytes. The message says what is wrong, never the value."""

    log_safe = True


class WebhookVerificationError(Exception):
    """Verification failed; ``reason`` is one of the code constants below (safe to log and to return)."""

    log_safe = True

    MISSING_HEADERS = "missing_headers"
    INVALID_TIMESTAMP = "invalid_timestamp"
    TIMESTAMP_TOO_OLD = "timestamp_too_old"
    TIMESTAMP_TOO_NEW = "timestamp_too_new"
    NO_MATCHING_SIGNATURE = "no_matching_signature"
    NO_SECRETS = "no_secrets"

    def __init__(self, reason: str) -> None:
        super().__init__(f"webhook verification failed: {reason}")
        self.reason = reason


@valueclass
class WebhookSecret:
    """The raw key bytes of one signing secret. ``str()``/``repr()`` do not show it; use :meth:`encode`."""

    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not MIN_SECRET_BYTES <= len(self.key) <= MAX_SECRET_BYTES:
            raise InvalidWebhookSecret(
                f"webhook secret must decode to {MIN_SECRET_BYTES}-{MAX_SECRET_BYTES} bytes, got {len(self.key)}"
            )

    @classmethod
    def parse(cls, text: str) -> WebhookSecret:
        """Parse ``whsec_<base64>`` (padding optional). Raises :class:`InvalidWebhookSecret`."""
        if not isinstance(text, str) or not text.startswith(SECRET_PREFIX):
            raise InvalidWebhookSecret(f"webhook secret must start with {SECRET_PREFIX!r}")
        encoded = text[len(SECRET_PREFIX) :].strip()
        padded = encoded + "=" * (-len(encoded) % 4)
        data = padded.rstrip("=")
        # What b64decode(validate=True) checks with a regex every start would compile: [A-Za-z0-9+/]*={0,2}
        if len(padded) - len(data) > 2 or not _BASE64_ALPHABET.issuperset(data):
            raise InvalidWebhookSecret("webhook secret is not valid base64 after the prefix")
        try:
            key = binascii.a2b_base64(padded)
        except binascii.Error:
            raise InvalidWebhookSecret("webhook secret is not valid base64 after the prefix") from None
        return cls(key)

    @classmethod
    def generate(cls, size: int = GENERATED_SECRET_BYTES) -> WebhookSecret:
        return cls(os.urandom(size))

    def encode(self) -> str:
        """The shareable form, ``whsec_<base64>``."""
        return SECRET_PREFIX + base64.b64encode(self.key).decode("ascii")

    def __str__(self) -> str:
        return f"WebhookSecret(<{len(self.key)} bytes>)"


SecretLike = WebhookSecret | str


def generate_secret() -> str:
    """A new ``whsec_`` secret of 32 random bytes, to show to a subscriber once."""
    return WebhookSecret.generate().encode()


def new_message_id() -> str:
    """``msg_`` + 24 random letters/digits (≈ 143 bits); keep it across retries of the same message."""
    return "msg_" + "".join(_choice(_ID_ALPHABET) for _ in range(24))


def _as_secret(secret: SecretLike) -> WebhookSecret:
    return secret if isinstance(secret, WebhookSecret) else WebhookSecret.parse(secret)


def _as_secrets(secrets: SecretLike | Iterable[SecretLike]) -> list[WebhookSecret]:
    if isinstance(secrets, (WebhookSecret, str)):
        return [_as_secret(secrets)]
    return [_as_secret(s) for s in secrets]


def _digest(key: bytes, msg_id: str, timestamp: int, body: bytes) -> bytes:
    content = f"{msg_id}.{timestamp}.".encode() + body
    return hmac.new(key, content, hashlib.sha256).digest()


def _check_message_id(msg_id: str) -> None:
    # 1-256 of \x21-\x7e: printable ASCII but the space (string tests: no regex compiled at start)
    if not isinstance(msg_id, str) or not (0 < len(msg_id) <= _MAX_MSG_ID_CHARS and msg_id.isascii()
                                           and msg_id.isprintable() and " " not in msg_id):
        raise ValueError("webhook message id must be 1-256 printable ASCII characters without spaces")


def sign(secret: SecretLike, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 signature>`` of ``msg_id.timestamp.body``."""
    _check_message_id(msg_id)
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise ValueError("webhook timestamp must be a non-negative whole number of seconds")
    digest = _digest(_as_secret(secret).key, msg_id, timestamp, body)
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def signature_headers(
    secret_or_secrets: SecretLike | Iterable[SecretLike], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` (one entry per secret, in order)."""
    keys = _as_secrets(secret_or_secrets)
    if not keys:
        raise ValueError("at least one webhook secret is required")
    return {
        HEADER_ID: msg_id,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_SIGNATURE: " ".join(sign(key, msg_id, timestamp, body) for key in keys),
    }


@valueclass
class VerifiedWebhook:
    msg_id: str
    timestamp: int


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value.strip()
    return ""


def verify(
    secrets: SecretLike | Iterable[SecretLike],
    headers: Mapping[str, str],
    body: bytes | str,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> VerifiedWebhook:
    """Check the headers and the raw body against any of ``secrets``; raise :class:`WebhookVerificationError`.

    Timestamps more than ``tolerance`` seconds before or after ``now`` are refused (replay protection); the
    receiver still de-duplicates on ``webhook-id``. Signature entries of other versions are ignored.
    """
    keys = _as_secrets(secrets)
    if not keys:
        raise WebhookVerificationError(WebhookVerificationError.NO_SECRETS)
    msg_id = _header(headers, HEADER_ID)
    raw_timestamp = _header(headers, HEADER_TIMESTAMP)
    raw_signatures = _header(headers, HEADER_SIGNATURE)
    if not (msg_id and raw_timestamp and raw_signatures):
        raise WebhookVerificationError(WebhookVerificationError.MISSING_HEADERS)
    if not (len(raw_timestamp) <= _MAX_TIMESTAMP_DIGITS and raw_timestamp.isascii() and raw_timestamp.isdigit()):
        raise WebhookVerificationError(WebhookVerificationError.INVALID_TIMESTAMP)
    timestamp = int(raw_timestamp)
    current = time.time() if now is None else now
    if timestamp < current - tolerance:
        raise WebhookVerificationError(WebhookVerificationError.TIMESTAMP_TOO_OLD)
    if timestamp > current + tolerance:
        raise WebhookVerificationError(WebhookVerificationError.TIMESTAMP_TOO_NEW)

    data = body.encode() if isinstance(body, str) else body
    expected = [_digest(key.key, msg_id, timestamp, data) for key in keys]
    for entry in raw_signatures.split()[:MAX_SIGNATURES]:
        version, _, encoded = entry.partition(",")
        if version != SIGNATURE_VERSION or not encoded:
            continue
        try:
            given = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        # Compare against every key without stopping early, so timing does not tell which key matched.
        matched = False
        for digest in expected:
            matched |= hmac.compare_digest(digest, given)
        if matched:
            return VerifiedWebhook(msg_id=msg_id, timestamp=timestamp)
    raise WebhookVerificationError(WebhookVerificationError.NO_MATCHING_SIGNATURE)
