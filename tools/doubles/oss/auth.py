"""OSS V4 request signatures (``OSS4-HMAC-SHA256``), verified with an implementation written from the OSS
documentation ("Signature Version 4 (recommended)": canonical request, string to sign, signing key), not from
the SDK. ``tests/doubles/test_oss_signature.py`` checks it against ``alibabacloud_oss_v2.signer.SignerV4`` on
random requests (the SDK is the oracle).

Header form: ``Authorization: OSS4-HMAC-SHA256 Credential=<AK>/<yyyymmdd>/<region>/oss/aliyun_v4_request,
[AdditionalHeaders=<h1;h2>,]Signature=<hex>``. The canonical request is::

    VERB \\n URI-encoded "/<bucket>/<key>" ("/<bucket>/" for bucket operations, "/" for the service) \\n
    sorted "k=v" query (both URI-encoded, a blank value leaves just "k") joined with "&" \\n
    sorted "name:trimmed value\\n" of x-oss-*, content-type, content-md5 and the additional headers \\n
    the additional header names joined with ";" \\n
    x-oss-content-sha256 (``UNSIGNED-PAYLOAD`` or the body's SHA-256 in hex)

String to sign: ``OSS4-HMAC-SHA256\\n<x-oss-date>\\n<yyyymmdd>/<region>/oss/aliyun_v4_request\\n<hex sha256 of
the canonical request>``; signing key: HMAC-SHA256 chained over ``"aliyun_v4" + secret`` → date → region →
``oss`` → ``aliyun_v4_request``; signature: hex HMAC-SHA256 of the string to sign.

The V1 signature (``Authorization: OSS <AK>:<sig>``) is not accepted: ``OssObjectStore`` never sends it (it keeps
the SDK's default, V4), and a double that accepts only what the project sends catches a drift.

Order of checks (each failure an ``OssError``, the first one wins): header present and well formed → known
AccessKey → STS token (when the key has one) → ``x-oss-date`` present and within 15 minutes → scope date, region
and product → payload hash → signature.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from urllib.parse import unquote

from tools.credentials import AccessKey
from tools.doubles import _v4
from tools.doubles.oss.errors import OssError

ALGORITHM = "OSS4-HMAC-SHA256"
PRODUCT = "oss"
TERMINATOR = _v4.TERMINATOR
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MAX_SKEW_SECONDS = 15 * 60  # "Add signatures to headers": more than 15 minutes → RequestTimeTooSkewed
_AUTH_RE = re.compile(
    r"^OSS4-HMAC-SHA256\s+Credential=(?P<ak>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/,\s]+)/(?P<product>[^/,\s]+)/"
    r"(?P<terminator>[^/,\s]+)\s*(?:,\s*AdditionalHeaders=(?P<additional>[^,]*))?\s*,\s*Signature=(?P<sig>[0-9a-f]{64})$"
)
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def uri_encode(text: str, *, keep_slash: bool) -> str:
    """RFC 3986 percent-encoding of UTF-8 bytes: unreserved characters (and ``/`` when asked) stay as they are."""
    safe = _UNRESERVED | {ord("/")} if keep_slash else _UNRESERVED
    return "".join(chr(b) if b in safe else f"%{b:02X}" for b in text.encode("utf-8"))


def canonical_uri(bucket: str | None, key: str | None) -> str:
    uri = "/"
    if bucket is not None:
        uri += f"{bucket}/"
        if key is not None:
            uri += key
    return uri_encode(uri, keep_slash=True)


def canonical_query(raw_query: str) -> str:
    """Decode each pair of the raw query (``+`` is a plus, not a space), re-encode, sort by name then value."""
    pairs: list[tuple[str, str]] = []
    for item in raw_query.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        pairs.append((uri_encode(unquote(name), keep_slash=False), uri_encode(unquote(value), keep_slash=False)))
    return "&".join(f"{name}={value}" if value else name for name, value in sorted(pairs))


def _signed_header(name: str, additional: frozenset[str]) -> bool:
    return name.startswith("x-oss-") or name in ("content-type", "content-md5") or name in additional


def canonical_request(
    method: str,
    bucket: str | None,
    key: str | None,
    raw_query: str,
    headers: Mapping[str, str],
    additional: tuple[str, ...],
) -> str:
    """``headers``: lower-case names as received. ``additional``: the AdditionalHeaders names (sorted)."""
    extra = frozenset(additional)
    signed = sorted((name, value.strip()) for name, value in headers.items() if _signed_header(name, extra))
    return "\n".join(
        [
            method,
            canonical_uri(bucket, key),
            canonical_query(raw_query),
            "".join(f"{name}:{value}\n" for name, value in signed),
            ";".join(additional),
            headers.get("x-oss-content-sha256", UNSIGNED_PAYLOAD),
        ]
    )


def string_to_sign(timestamp: str, scope: str, canonical: str) -> str:
    return f"{ALGORITHM}\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"


def signature(secret: str, date: str, region: str, to_sign: str) -> str:
    key = _v4.signing_key(secret, date, region, PRODUCT)
    return hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def _parse_timestamp(value: str) -> float | None:
    try:
        return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return None


def verify(
    *,
    method: str,
    bucket: str | None,
    key: str | None,
    raw_query: str,
    headers: Mapping[str, str],
    body: bytes,
    keys: Mapping[str, AccessKey],
    region: str,
    now: float,
) -> AccessKey:
    """The key that signed this request, or ``OssError`` (see the module docstring for the order of checks)."""
    authorization = headers.get("authorization", "")
    if not authorization:
        raise OssError("AccessDenied", "Anonymous access is forbidden for this operation.")
    if authorization.startswith("OSS "):
        raise OssError("InvalidArgument", "This double verifies V4 signatures (OSS4-HMAC-SHA256) only.")
    match = _AUTH_RE.match(authorization)
    if match is None:
        raise OssError("InvalidArgument", "Authorization header is invalid.")
    signer = keys.get(match["ak"])
    if signer is None:
        raise OssError("InvalidAccessKeyId")
    if not signer.accepts_token(headers.get("x-oss-security-token")):
        raise OssError("InvalidAccessKeyId", "The security token you provided is invalid.")  # code unverified
    timestamp = headers.get("x-oss-date", "")
    signed_at = _parse_timestamp(timestamp)
    if signed_at is None:
        raise OssError("AccessDenied", "x-oss-date is missing or not in ISO 8601 basic format.")
    if abs(now - signed_at) > MAX_SKEW_SECONDS:
        raise OssError("RequestTimeTooSkewed")
    if match["date"] != timestamp[:8]:
        raise OssError("InvalidArgument", "The date in the credential scope does not match x-oss-date.")
    if match["region"] != region or match["product"] != PRODUCT or match["terminator"] != TERMINATOR:
        raise OssError("InvalidArgument", "Invalid signing region or product in the credential scope.")
    payload_hash = headers.get("x-oss-content-sha256")
    if payload_hash is None:
        raise OssError("InvalidArgument", "x-oss-content-sha256 is required for V4 signatures.")
    if payload_hash != UNSIGNED_PAYLOAD and payload_hash != hashlib.sha256(body).hexdigest():
        raise OssError("SignatureDoesNotMatch", "The payload hash does not match the body.")  # code unverified
    additional = tuple(sorted(name.strip().lower() for name in (match["additional"] or "").split(";") if name.strip()))
    missing = [name for name in additional if name not in headers]
    if missing:
        raise OssError("InvalidArgument", "An additional header named in the Authorization header is missing.")
    canonical = canonical_request(method, bucket, key, raw_query, headers, additional)
    scope = f"{match['date']}/{region}/{PRODUCT}/{TERMINATOR}"
    to_sign = string_to_sign(timestamp, scope, canonical)
    expected = signature(signer.access_key_secret, match["date"], region, to_sign)
    if not hmac.compare_digest(expected, match["sig"]):
        raise OssError("SignatureDoesNotMatch", extra={"StringToSign": to_sign})
    return signer
