"""Alibaba Cloud OpenAPI request signing: ACS3-HMAC-SHA256 (V3) and RPC HMAC-SHA1 (V1).

Pure standard library, so that signing costs nothing at cold start. Both algorithms are checked against the
published test vectors and, on generated requests, against the official SDKs' own signers (tests/test_signing.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

ACS3_ALGORITHM = "ACS3-HMAC-SHA256"
V1_SIGNATURE_METHOD = "HMAC-SHA1"
V1_SIGNATURE_VERSION = "1.0"
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class Credentials:
    """An AccessKey pair, with the STS token when the key is temporary (FC 3.0 hands functions STS keys)."""

    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)


def percent_encode(value: str) -> str:
    """RFC 3986 encoding: keep ``A-Z a-z 0-9 - _ . ~``, percent-encode every other UTF-8 byte."""
    return quote(value, safe="~", encoding="utf-8")


def utc_timestamp(now: float | None = None) -> str:
    return time.strftime(TIMESTAMP_FORMAT, time.gmtime(time.time() if now is None else now))


def new_nonce() -> str:
    return secrets.token_hex(16)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- V3: ACS3-HMAC-SHA256 -------------------------------------------------------------------------------


def canonical_query_string(query: Mapping[str, str]) -> str:
    """``name=RFC3986(value)`` pairs sorted by name and joined by ``&``; ``""`` when there are none."""
    return "&".join(f"{percent_encode(k)}={percent_encode(query[k])}" for k in sorted(query))


def canonical_headers(headers: Mapping[str, str]) -> tuple[str, str]:
    """Return ``(CanonicalHeaders, SignedHeaders)`` for every header given (names lower-cased, values trimmed)."""
    lowered = {name.lower(): value.strip() for name, value in headers.items()}
    names = sorted(lowered)
    return "".join(f"{n}:{lowered[n]}\n" for n in names), ";".join(names)


def acs3_canonical_request(
    method: str,
    pathname: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    hashed_payload: str,
) -> tuple[str, str]:
    """Return ``(CanonicalRequest, SignedHeaders)``; ``headers`` are exactly the headers to sign."""
    canon_headers, signed = canonical_headers(headers)
    request = "\n".join(
        [method.upper(), pathname or "/", canonical_query_string(query), canon_headers, signed, hashed_payload]
    )
    return request, signed


def acs3_signature(secret: str, canonical_request: str) -> str:
    string_to_sign = f"{ACS3_ALGORITHM}\n{sha256_hex(canonical_request.encode())}"
    return hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()


def acs3_authorization(
    credentials: Credentials,
    method: str,
    pathname: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    hashed_payload: str,
) -> str:
    """The ``Authorization`` header value signing every header in ``headers``."""
    request, signed = acs3_canonical_request(method, pathname, query, headers, hashed_payload)
    signature = acs3_signature(credentials.access_key_secret, request)
    return f"{ACS3_ALGORITHM} Credential={credentials.access_key_id},SignedHeaders={signed},Signature={signature}"


def sign_acs3_request(
    *,
    credentials: Credentials,
    method: str,
    host: str,
    action: str,
    version: str,
    query: Mapping[str, str],
    body: bytes = b"",
    content_type: str | None = None,
    pathname: str = "/",
    date: str | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """Build the complete, signed header set for one request. Each call gets a fresh nonce and timestamp."""
    hashed_payload = sha256_hex(body)
    headers = {
        "host": host,
        "x-acs-action": action,
        "x-acs-version": version,
        "x-acs-date": date or utc_timestamp(),
        "x-acs-signature-nonce": nonce or new_nonce(),
        "x-acs-content-sha256": hashed_payload,
    }
    if content_type:
        headers["content-type"] = content_type
    if credentials.security_token:
        headers["x-acs-security-token"] = credentials.security_token
    headers["Authorization"] = acs3_authorization(credentials, method, pathname, query, headers, hashed_payload)
    return headers


# --- V1: RPC HMAC-SHA1 ----------------------------------------------------------------------------------


def v1_string_to_sign(method: str, params: Mapping[str, str]) -> str:
    canonical = "&".join(f"{percent_encode(k)}={percent_encode(params[k])}" for k in sorted(params))
    return f"{method.upper()}&%2F&{percent_encode(canonical)}"


def v1_signature(secret: str, method: str, params: Mapping[str, str]) -> str:
    """``base64(hmac_sha1(secret + "&", StringToSign))`` over every parameter but ``Signature``."""
    unsigned = {k: v for k, v in params.items() if k != "Signature"}
    digest = hmac.new(f"{secret}&".encode(), v1_string_to_sign(method, unsigned).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def sign_v1_params(
    *,
    credentials: Credentials,
    action: str,
    version: str,
    params: Mapping[str, str],
    method: str = "POST",
    timestamp: str | None = None,
    nonce: str | None = None,
    response_format: str = "JSON",
) -> dict[str, str]:
    """Return ``params`` plus the common V1 parameters and ``Signature``, ready to send as the query string."""
    signed = dict(params)
    signed.update(
        {
            "Action": action,
            "Version": version,
            "Format": response_format,
            "AccessKeyId": credentials.access_key_id,
            "SignatureMethod": V1_SIGNATURE_METHOD,
            "SignatureVersion": V1_SIGNATURE_VERSION,
            "SignatureNonce": nonce or new_nonce(),
            "Timestamp": timestamp or utc_timestamp(),
        }
    )
    if credentials.security_token:
        signed["SecurityToken"] = credentials.security_token
    signed["Signature"] = v1_signature(credentials.access_key_secret, method, signed)
    return signed
