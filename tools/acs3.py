"""ACS3-HMAC-SHA256 request verification: the one home for the local servers that check Alibaba Cloud's V3
signature (the sandbox's cloudauth-intl, :mod:`tools.sandbox.auth`; FC 3.0's InvokeFunction on the local gateway,
:mod:`tools.devstack.fc3_api`).

Written from the vendor's page ("Request syntax and signature method V3"), not from :mod:`shared.signing`: the
servers are doubles, and a double that reused the client's signer would accept whatever that signer gets wrong.
``tests/test_acs3.py`` checks it against the published vector and against the official SDK's signer
(``alibabacloud_openapi_util.client.Client.get_authorization``) on generated requests::

    Authorization: ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=<h1;h2;...>,Signature=<hex>
    CanonicalRequest = METHOD \\n path \\n CanonicalQuery \\n CanonicalHeaders \\n SignedHeaders \\n HashedPayload
    CanonicalQuery   = RFC 3986 name=value pairs sorted by name, joined by "&" ("" when none)
    CanonicalHeaders = "name:trimmed value\\n" for each signed header, sorted by (lower-case) name
    StringToSign     = "ACS3-HMAC-SHA256\\n" + hex(sha256(CanonicalRequest))
    Signature        = hex(hmac_sha256(secret, StringToSign))

The page lists ``host`` and every ``x-acs-*`` header among the signed ones: both servers refuse a request that
sends one of them unsigned (the gateway's own behaviour there is unverified).

Each check is a step that raises :class:`Refused` naming a :class:`Problem`; a server calls the steps in its own
order, with its own other rules (required headers, nonces, tokens) in between, and turns each problem into its own
error code and message. Nothing here is retried or remembered.
"""

from __future__ import annotations

import calendar
import enum
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

ALGORITHM = "ACS3-HMAC-SHA256"
#: x-acs-date (and the V1 ``Timestamp`` parameter): ISO 8601 in UTC, to the second.
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class Problem(enum.Enum):
    """Why a request is refused; :attr:`Refused.detail` says more where noted."""

    OTHER_ALGORITHM = "the Authorization header names another algorithm"
    INCOMPLETE = "the Authorization header lacks Credential, SignedHeaders or Signature"
    UNSIGNED_HEADERS = "host or an x-acs-* header is sent unsigned"  # detail: the names, ", "-joined
    ABSENT_HEADERS = "a header named in SignedHeaders is not sent"  # detail: the names, ", "-joined
    PAYLOAD_HASH = "x-acs-content-sha256 is not the body's SHA-256"
    SIGNATURE = "the signature is not the one the secret gives"  # detail: hex SHA-256 of the canonical request
    TIMESTAMP_FORMAT = "the timestamp is not like 2024-01-01T00:00:00Z"
    TIMESTAMP_SKEWED = "the timestamp is too far from the server's clock"


class Refused(Exception):
    def __init__(self, problem: Problem, detail: str = "") -> None:
        super().__init__(problem.value)
        self.problem = problem
        self.detail = detail


@dataclass(frozen=True)
class Authorization:
    access_key_id: str
    signed_headers: tuple[str, ...]  # lower-case, as listed
    signature: str  # lower-case hex


def parse_authorization(value: str) -> Authorization:
    """``Authorization``'s value → its fields (``OTHER_ALGORITHM``, ``INCOMPLETE``)."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise Refused(Problem.OTHER_ALGORITHM)
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, field_value = part.strip().partition("=")
        if sep:
            fields[name] = field_value.strip()
    credential, signed_list, signature = (fields.get(k, "") for k in ("Credential", "SignedHeaders", "Signature"))
    signed = tuple(name.strip().lower() for name in signed_list.split(";") if name.strip())
    if not credential or not signed or not signature:
        raise Refused(Problem.INCOMPLETE)
    return Authorization(credential, signed, signature.lower())


def check_signed_headers(authorization: Authorization, headers: Mapping[str, str]) -> None:
    """``host`` and every ``x-acs-*`` header sent are signed (``UNSIGNED_HEADERS``), and every signed header is sent
    (``ABSENT_HEADERS``). ``headers``: lower-case names."""
    signed = set(authorization.signed_headers)
    unsigned = sorted(({"host"} | {name for name in headers if name.startswith("x-acs-")}) - signed)
    if unsigned:
        raise Refused(Problem.UNSIGNED_HEADERS, ", ".join(unsigned))
    absent = sorted(name for name in signed if name not in headers)
    if absent:
        raise Refused(Problem.ABSENT_HEADERS, ", ".join(absent))


def hashed_payload(headers: Mapping[str, str], body: bytes) -> str:
    """The body's hex SHA-256, which ``x-acs-content-sha256`` must be when sent (``PAYLOAD_HASH``)."""
    digest = hashlib.sha256(body).hexdigest()
    if headers.get("x-acs-content-sha256", digest) != digest:
        raise Refused(Problem.PAYLOAD_HASH)
    return digest


def _rfc3986(text: str) -> str:
    return quote(text, safe="-_.~")  # unreserved characters stay, every other UTF-8 byte is %XX


def canonical_request(
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    signed_headers: tuple[str, ...],
    payload_hash: str,
) -> str:
    """``query``: decoded names and values; ``headers``: lower-case names, holding every signed one."""
    names = sorted(set(signed_headers))
    return "\n".join(
        [
            method.upper(),
            path or "/",
            "&".join(f"{_rfc3986(name)}={_rfc3986(value)}" for name, value in sorted(query.items())),
            "".join(f"{name}:{headers[name].strip()}\n" for name in names),
            ";".join(names),
            payload_hash,
        ]
    )


def signature(secret: str, canonical: str) -> str:
    to_sign = f"{ALGORITHM}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    return hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


def check_signature(
    authorization: Authorization,
    secret: str,
    *,
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    payload_hash: str,
) -> None:
    """The signature is the one ``secret`` gives over the signed headers (``SIGNATURE``, its detail the hashed
    canonical request, which the gateway echoes). Call :func:`check_signed_headers` first."""
    canonical = canonical_request(method, path, query, headers, authorization.signed_headers, payload_hash)
    if not hmac.compare_digest(signature(secret, canonical), authorization.signature):
        raise Refused(Problem.SIGNATURE, hashlib.sha256(canonical.encode()).hexdigest())


def check_timestamp(value: str, now: float, max_skew: float) -> float:
    """The time ``value`` names, within ``max_skew`` seconds of ``now`` (``TIMESTAMP_FORMAT``,
    ``TIMESTAMP_SKEWED``)."""
    try:
        stamp = float(calendar.timegm(time.strptime(value, TIMESTAMP_FORMAT)))
    except ValueError:
        raise Refused(Problem.TIMESTAMP_FORMAT) from None
    if abs(now - stamp) > max_skew:
        raise Refused(Problem.TIMESTAMP_SKEWED)
    return stamp
