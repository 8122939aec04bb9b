"""MNS request signatures, verified with an implementation written from the MNS documentation ("Sign requests"),
independent of both ``shared.storage.mns`` (the project's client) and the official ``mns`` SDK;
``tests/doubles/test_mns_signature.py`` checks it against the SDK's ``MNSClient.get_signature`` (the oracle)::

    Authorization: MNS <AccessKeyId>:base64(HMAC-SHA1(secret, VERB \\n Content-MD5 \\n Content-Type \\n Date \\n
                                                        <"x-mns-name:value\\n" sorted by name> <resource>))

``resource`` is the request URI as sent, query included. The STS token travels in ``security-token`` (not signed:
it does not start with ``x-mns-``). Order of checks, the first failure wins: Authorization present and
``MNS <id>:<sig>`` → Date present and an RFC 1123 date → known AccessKey → STS token (when the key has one) →
``x-mns-version`` is 2015-06-06 → the date within ``MAX_SKEW_SECONDS`` → Content-MD5 (when sent) → signature.

Unverified (the docs do not say): the allowed clock skew (15 minutes here, as OSS), the code for a missing or
wrong STS token (``InvalidAccessKeyId`` here) and for a wrong ``x-mns-version`` (``InvalidArgument`` here).
Content-MD5: the official SDK sends base64 of the *hex* digest; the double accepts that and base64 of the raw
digest, and answers ``InvalidDegist`` for anything else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

from tools.credentials import AccessKey
from tools.doubles.mns.errors import MnsError

MNS_VERSION = "2015-06-06"
MAX_SKEW_SECONDS = 15 * 60
_AUTH_RE = re.compile(r"^MNS (?P<ak>[^:\s]+):(?P<sig>[A-Za-z0-9+/]+={0,2})$")


def string_to_sign(method: str, headers: Mapping[str, str], resource: str) -> str:
    """``headers``: lower-case names."""
    mns_headers = "".join(f"{name}:{headers[name]}\n" for name in sorted(headers) if name.startswith("x-mns-"))
    fields = [method, headers.get("content-md5", ""), headers.get("content-type", ""), headers.get("date", "")]
    return "\n".join(fields) + "\n" + mns_headers + resource


def signature(secret: str, to_sign: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), to_sign.encode(), hashlib.sha1).digest()).decode()


def _md5_matches(header: str, body: bytes) -> bool:
    digest = hashlib.md5(body, usedforsecurity=False)
    accepted = {base64.b64encode(digest.hexdigest().encode()).decode(), base64.b64encode(digest.digest()).decode()}
    return header in accepted


def verify(
    *, method: str, resource: str, headers: Mapping[str, str], body: bytes, keys: Mapping[str, AccessKey], now: float
) -> AccessKey:
    """The key that signed this request, or ``MnsError`` (order in the module docstring)."""
    authorization = headers.get("authorization", "")
    if not authorization:
        raise MnsError("MissingAuthorizationHeader")
    match = _AUTH_RE.match(authorization)
    if match is None:
        raise MnsError("InvalidAuthorizationHeader")
    date = headers.get("date", "")
    if not date:
        raise MnsError("MissingDateHeader")
    try:
        signed_at = parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError):
        raise MnsError("InvalidDateHeader") from None
    signer = keys.get(match["ak"])
    if signer is None:
        raise MnsError("InvalidAccessKeyId")
    if not signer.accepts_token(headers.get("security-token")):
        raise MnsError("InvalidAccessKeyId", "The security token you provided is invalid.")
    if headers.get("x-mns-version") != MNS_VERSION:
        raise MnsError("InvalidArgument", f"x-mns-version must be {MNS_VERSION}.")
    if abs(now - signed_at) > MAX_SKEW_SECONDS:
        raise MnsError("TimeExpired")
    md5 = headers.get("content-md5")
    if md5 and not _md5_matches(md5, body):
        raise MnsError("InvalidDegist")
    expected = signature(signer.access_key_secret, string_to_sign(method, headers, resource))
    if not hmac.compare_digest(expected, match["sig"]):
        raise MnsError("SignatureDoesNotMatch")
    return signer
