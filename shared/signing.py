"""Alibaba Cloud OpenAPI request signing: ACS3-HMAC-SHA256 (V3) and RPC HMAC-SHA1 (V1).

Pure standard library, so that signing costs nothing at cold start. Both algorithms are checked against the
published test vectors and, on generated requests, against the official SDKs' own signers (tests/test_signing.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

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


# RFC 3986 unreserved characters stay as they are; every other UTF-8 byte becomes %XX (upper-case hex).
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
_ENCODED_BYTE = tuple(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in range(256))
_ALL_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*").fullmatch  # `re` is loaded at start anyway (logging)


def percent_encode(value: str) -> str:
    """RFC 3986 encoding: keep ``A-Z a-z 0-9 - _ . ~``, percent-encode every other UTF-8 byte."""
    if _ALL_UNRESERVED(value):  # most values (ids, codes, flags): nothing to encode
        return value
    return "".join([_ENCODED_BYTE[b] for b in value.encode()])


_timestamp_cache: tuple[int, str] = (-1, "")


def utc_timestamp(now: float | None = None) -> str:
    global _timestamp_cache  # noqa: PLW0603 - one formatted timestamp per second (a tuple: swapped atomically)
    second = int((time.time() if now is None else now) // 1)  # floor, as time.gmtime does
    cached = _timestamp_cache
    if cached[0] == second:
        return cached[1]
    text = time.strftime(TIMESTAMP_FORMAT, time.gmtime(second))
    _timestamp_cache = (second, text)
    return text


_nonce_pool: list[str] = []
os.register_at_fork(after_in_child=_nonce_pool.clear)  # a forked child must not reuse its parent's nonces


def new_nonce() -> str:
    """32 hex digits from ``os.urandom`` (as ``secrets.token_hex(16)``), drawn 64 at a time: one system call per 64
    requests. ``list.pop`` is atomic, so concurrent threads never get the same nonce."""
    while True:
        try:
            return _nonce_pool.pop()
        except IndexError:
            block = os.urandom(16 * 64).hex()
            _nonce_pool.extend([block[i : i + 32] for i in range(0, len(block), 32)])


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_EMPTY_SHA256 = sha256_hex(b"")
_hmac_digest = hmac.digest
_sha256 = hashlib.sha256
# secret → the two SHA-256 states of HMAC-SHA256 with the key already absorbed (RFC 2104), copied per signature:
# two hash copies instead of keying a fresh HMAC each time.
_hmac_states: dict[str, tuple[Any, Any]] = {}


def _hmac_sha256_hex(secret: str, message: bytes) -> str:
    states = _hmac_states.get(secret)
    if states is None:
        key = secret.encode()
        if len(key) > 64:  # the SHA-256 block size
            key = _sha256(key).digest()
        key = key.ljust(64, b"\0")
        states = (_sha256(bytes(b ^ 0x36 for b in key)), _sha256(bytes(b ^ 0x5C for b in key)))
        if len(_hmac_states) >= 8:  # a process signs with one or two keys (STS rotation): stay small
            _hmac_states.clear()
        _hmac_states[secret] = states
    inner = states[0].copy()
    inner.update(message)
    outer = states[1].copy()
    outer.update(inner.digest())
    return outer.hexdigest()


# --- V3: ACS3-HMAC-SHA256 -------------------------------------------------------------------------------


def canonical_query_string(query: Mapping[str, str]) -> str:
    """``name=RFC3986(value)`` pairs sorted by name and joined by ``&``; ``""`` when there are none."""
    names = sorted(query)
    if _ALL_UNRESERVED("".join(names)) and _ALL_UNRESERVED("".join(query.values())):  # usual: nothing to encode
        return "&".join([f"{name}={query[name]}" for name in names])
    enc = percent_encode
    return "&".join([f"{enc(name)}={enc(query[name])}" for name in names])


def canonical_headers(headers: Mapping[str, str]) -> tuple[str, str]:
    """Return ``(CanonicalHeaders, SignedHeaders)`` for every header given (names lower-cased, values trimmed)."""
    lowered = {name.lower(): value.strip() for name, value in headers.items()}
    names = sorted(lowered)
    return "".join([f"{n}:{lowered[n]}\n" for n in names]), ";".join(names)


def acs3_canonical_request(
    method: str,
    pathname: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    hashed_payload: str,
) -> tuple[str, str]:
    """Return ``(CanonicalRequest, SignedHeaders)``; ``headers`` are exactly the headers to sign."""
    canon_headers, signed = canonical_headers(headers)
    query_string = canonical_query_string(query)
    request = f"{method.upper()}\n{pathname or '/'}\n{query_string}\n{canon_headers}\n{signed}\n{hashed_payload}"
    return request, signed


def acs3_signature(secret: str, canonical_request: str) -> str:
    string_to_sign = f"{ACS3_ALGORITHM}\n{_sha256(canonical_request.encode()).hexdigest()}"
    return _hmac_sha256_hex(secret, string_to_sign.encode())


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


# Header names in insertion order → (sorted names, SignedHeaders, CanonicalRequest template's format). A process
# signs a handful of header shapes (with/without content-type, STS token).
_acs3_plans: dict[tuple[str, ...], tuple[list[str], str, Callable[..., str]]] = {}


def _acs3_plan(headers: Mapping[str, str]) -> tuple[list[str], str, Callable[..., str]]:
    names = sorted(headers)
    signed = ";".join(names)
    lines = "".join([f"{n.replace('{', '{{').replace('}', '}}')}:{{}}\n" for n in names])
    signed_text = signed.replace("{", "{{").replace("}", "}}")
    # method, pathname, query, one value per header, hashed payload
    template = "{}\n{}\n{}\n" + lines + "\n" + signed_text + "\n{}"
    if len(_acs3_plans) >= 64:
        _acs3_plans.clear()
    plan = _acs3_plans[tuple(headers)] = (names, signed, template.format)
    return plan


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
    extra_headers: Mapping[str, str] | None = None,
    canonical_query: str | None = None,
) -> dict[str, str]:
    """Build the complete, signed header set for one request. Each call gets a fresh nonce and timestamp.

    ``extra_headers`` are signed too (names lower-cased) and returned with the others. ``canonical_query`` is
    :func:`canonical_query_string` of ``query`` when the caller already has it (it is also the query string to send).
    """
    hashed_payload = _sha256(body).hexdigest() if body else _EMPTY_SHA256
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
    if extra_headers:
        for name, value in extra_headers.items():
            headers[name.lower()] = value
    # The canonical request from a template per header-name set (names sorted once); values trimmed as the
    # algorithm requires.
    plan = _acs3_plans.get(tuple(headers)) or _acs3_plan(headers)
    names, signed, template = plan
    if canonical_query is None:
        canonical_query = canonical_query_string(query)
    request = template(
        method.upper(), pathname or "/", canonical_query, *[headers[n].strip() for n in names], hashed_payload
    )
    string_to_sign = f"{ACS3_ALGORITHM}\n{_sha256(request.encode()).hexdigest()}"
    signature = _hmac_sha256_hex(credentials.access_key_secret, string_to_sign.encode())
    headers["Authorization"] = (
        f"{ACS3_ALGORITHM} Credential={credentials.access_key_id},SignedHeaders={signed},Signature={signature}"
    )
    return headers


# --- V1: RPC HMAC-SHA1 ----------------------------------------------------------------------------------


def v1_string_to_sign(method: str, params: Mapping[str, str]) -> str:
    canonical = canonical_query_string(params)
    return f"{method.upper()}&%2F&{percent_encode(canonical)}"


def v1_signature(secret: str, method: str, params: Mapping[str, str]) -> str:
    """``base64(hmac_sha1(secret + "&", StringToSign))`` over every parameter but ``Signature``."""
    unsigned = {k: v for k, v in params.items() if k != "Signature"}
    digest = _hmac_digest(f"{secret}&".encode(), v1_string_to_sign(method, unsigned).encode(), "sha1")
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
