"""Alibaba Cloud OpenAPI request signing: ACS3-HMAC-SHA256 (V3) and RPC HMAC-SHA1 (V1).

Pure standard library, so that signing costs nothing at cold start. Both algorithms are checked against the
published test vectors and, on generated requests, against the official SDKs' own signers (tests/test_signing.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import operator
import os
import re
import time
from collections.abc import Callable, Mapping

from shared.values import field, valueclass

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from _hashlib import HASH

ACS3_ALGORITHM = "ACS3-HMAC-SHA256"
V1_SIGNATURE_METHOD = "HMAC-SHA1"
V1_SIGNATURE_VERSION = "1.0"
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@valueclass
class Credentials:
    """An AccessKey pair, with the STS token when the key is temporary (FC 3.0 hands functions STS keys)."""

    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)


# RFC 3986 unreserved characters stay as they are; every other UTF-8 byte becomes %XX (upper-case hex).
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
_ENCODED_BYTE = tuple(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in range(256))


def _compile_all_unreserved(value: str) -> object:
    """``_ALL_UNRESERVED`` until its first call, which compiles the regex and puts its ``fullmatch`` in its place: a
    start that signs nothing (the notifier's, on the local backend) compiles nothing (docs/performance.md, "Phase 7");
    the calls after the first pay nothing for it."""
    global _ALL_UNRESERVED  # noqa: PLW0603 - replaced once by what it computes
    _ALL_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*").fullmatch
    return _ALL_UNRESERVED(value)


_ALL_UNRESERVED: Callable[[str], object] = _compile_all_unreserved


def percent_encode(value: str) -> str:
    """RFC 3986 encoding: keep ``A-Z a-z 0-9 - _ . ~``, percent-encode every other UTF-8 byte."""
    if _ALL_UNRESERVED(value):  # most values (ids, codes, flags): nothing to encode
        return value
    return "".join([_ENCODED_BYTE[b] for b in value.encode()])


_timestamp_cache: tuple[int, str] = (-1, "")


def utc_timestamp(now: float | None = None) -> str:
    global _timestamp_cache  # noqa: PLW0603 - one formatted timestamp per second (a tuple: swapped atomically)
    # the second, floored as time.gmtime does (int() of the current time, a positive float, floors it too)
    second = int(time.time()) if now is None else int(now // 1)
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
_hmac_states: dict[str, tuple[HASH, HASH]] = {}


def _hmac_sha256_states(secret: str) -> tuple[HASH, HASH]:
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
    return states


def _hmac_sha256_hex(secret: str, message: bytes) -> str:
    inner_state, outer_state = _hmac_sha256_states(secret)
    inner = inner_state.copy()
    inner.update(message)
    outer = outer_state.copy()
    outer.update(inner.digest())
    return outer.hexdigest()


# --- V3: ACS3-HMAC-SHA256 -------------------------------------------------------------------------------


# Query names in insertion order → (values in sorted-name order, ``%``-template with the encoded names). A process
# sends a handful of query shapes, so names are sorted and encoded once per shape.
_QueryPlan = tuple[Callable[[Mapping[str, str]], tuple[str, ...]], str]
_query_plans: dict[tuple[str, ...], _QueryPlan] = {}


def _query_plan(names: tuple[str, ...]) -> _QueryPlan:
    ordered = sorted(names)
    template = "&".join([f"{percent_encode(name).replace('%', '%%')}=%s" for name in ordered])
    if len(_query_plans) >= 64:
        _query_plans.clear()
    # itemgetter of several names returns a tuple, of one name the bare value: wrap that one in a tuple
    get_values = operator.itemgetter(*ordered)
    plan = _query_plans[names] = (get_values if len(ordered) > 1 else lambda q: (get_values(q),)), template
    return plan


def canonical_query_string(query: Mapping[str, str]) -> str:
    """``name=RFC3986(value)`` pairs sorted by name and joined by ``&``; ``""`` when there are none."""
    if not query:
        return ""
    names = tuple(query)
    get_values, template = _query_plans.get(names) or _query_plan(names)
    values = get_values(query)
    joined = "".join(values)
    # usual: nothing to encode. bytes.isalnum is a plain ASCII table check (non-ASCII characters encode to bytes
    # >= 0x80, which fail it), much faster than str.isalnum or the regex, which catches "-_.~".
    if joined.encode().isalnum() or _ALL_UNRESERVED(joined):
        return template % values
    return template % tuple([percent_encode(value) for value in values])


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


# The three signed headers whose values change from request to request, in sorted order (fixed by their names).
_VARYING_HEADERS = ("x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce")


class _Acs3Shape:
    """Everything in a signed request that is the same from call to call for one set of (credentials, method,
    pathname, host, action, version, content type, extra headers), worked out once:

    * the canonical request's constant text, in five pieces around its varying parts: ``head`` + query +
      ``pieces[0]`` + payload hash + ``pieces[1]`` + date + ``pieces[2]`` + nonce + ``pieces[3]`` + payload hash;
    * the HMAC-SHA256 key's two SHA-256 states (RFC 2104), the inner one having absorbed the string-to-sign's
      constant ``ACS3-HMAC-SHA256\n`` too: per request, two hash copies;
    * the header dict to send, in its order, with the date, nonce and payload hash left blank (a dict copy and three
      assignments per request), and the ``Authorization`` value up to the signature.
    """

    __slots__ = ("authorization", "head", "headers", "inner", "outer", "pieces")

    def __init__(self, credentials: Credentials, method: str, pathname: str, headers: dict[str, str]) -> None:
        names = sorted(headers)
        self.head = f"{method.upper()}\n{pathname or '/'}\n"
        pieces, text = [], "\n"  # the query ends its line
        for name in names:
            if name in _VARYING_HEADERS:
                pieces.append(f"{text}{name}:")
                text = "\n"
            else:
                text += f"{name}:{headers[name].strip()}\n"
        signed = ";".join(names)
        pieces.append(f"{text}\n{signed}\n")
        self.pieces = tuple(pieces)
        inner, self.outer = _hmac_sha256_states(credentials.access_key_secret)
        self.inner = inner.copy()
        self.inner.update(f"{ACS3_ALGORITHM}\n".encode())
        self.headers = headers
        access_key_id = credentials.access_key_id
        self.authorization = f"{ACS3_ALGORITHM} Credential={access_key_id},SignedHeaders={signed},Signature="


_acs3_shapes: dict[tuple[str | None, ...], _Acs3Shape] = {}


def _acs3_head(host: str, action: str, version: str, date: str, nonce: str, hashed_payload: str) -> dict[str, str]:
    """The six headers always sent, in the order they are sent."""
    return {
        "host": host,
        "x-acs-action": action,
        "x-acs-version": version,
        "x-acs-date": date,
        "x-acs-signature-nonce": nonce,
        "x-acs-content-sha256": hashed_payload,
    }


def _acs3_tail(
    credentials: Credentials, content_type: str | None, extra_headers: Mapping[str, str] | None
) -> dict[str, str]:
    """The signed headers after the six always sent, in the order they are sent."""
    tail = {}
    if content_type:
        tail["content-type"] = content_type
    if credentials.security_token:
        tail["x-acs-security-token"] = credentials.security_token
    if extra_headers:
        for name, value in extra_headers.items():
            tail[name.lower()] = value
    return tail


def _acs3_shape(
    key: tuple[str | None, ...],
    credentials: Credentials,
    method: str,
    pathname: str,
    host: str,
    action: str,
    version: str,
    content_type: str | None,
    extra_headers: Mapping[str, str] | None,
) -> _Acs3Shape | None:
    """The shape for ``key``, made and cached on first use; ``None`` if the extra headers replace a varying one."""
    tail = _acs3_tail(credentials, content_type, extra_headers)
    if not tail.keys().isdisjoint(_VARYING_HEADERS):
        return None
    headers = dict(_acs3_head(host, action, version, "", "", ""), **tail)
    if len(_acs3_shapes) >= 64:  # a process signs a handful of shapes: stay small
        _acs3_shapes.clear()
    shape = _acs3_shapes[key] = _Acs3Shape(credentials, method, pathname, headers)
    return shape


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
    # Header values are trimmed in the canonical request: the generated ones need no trimming.
    if date:
        canonical_date = date.strip()
    else:
        date = canonical_date = utc_timestamp()
    if nonce:
        canonical_nonce = nonce.strip()
    else:
        try:  # new_nonce() inlined: one list.pop (atomic) per request
            nonce = canonical_nonce = _nonce_pool.pop()
        except IndexError:
            nonce = canonical_nonce = new_nonce()
    key: tuple[str | None, ...] = (credentials.access_key_id, credentials.access_key_secret,
                                   credentials.security_token, method, pathname, host, action, version, content_type)
    if extra_headers:  # values then names, flat: cheaper than a tuple of items (the length tells them apart)
        key = (*key, *extra_headers.values(), *extra_headers)
    shape = _acs3_shapes.get(key) or _acs3_shape(
        key, credentials, method, pathname, host, action, version, content_type, extra_headers
    )
    if shape is None:  # extra headers replacing the date, nonce or payload hash: the general way
        headers = _acs3_head(host, action, version, date, nonce, hashed_payload)
        headers.update(_acs3_tail(credentials, content_type, extra_headers))
        headers["Authorization"] = acs3_authorization(credentials, method, pathname, query, headers, hashed_payload)
        return headers
    if canonical_query is None:
        canonical_query = canonical_query_string(query)
    piece0, piece1, piece2, piece3 = shape.pieces
    # An f-string of the pieces: far faster than a "%" or str.format template, which is re-parsed on every call.
    request = (
        f"{shape.head}{canonical_query}{piece0}{hashed_payload}{piece1}{canonical_date}{piece2}{canonical_nonce}"
        f"{piece3}{hashed_payload}"
    )
    inner = shape.inner.copy()
    inner.update(_sha256(request.encode()).hexdigest().encode())
    outer = shape.outer.copy()
    outer.update(inner.digest())
    headers = shape.headers.copy()
    headers["x-acs-date"] = date
    headers["x-acs-signature-nonce"] = nonce
    headers["x-acs-content-sha256"] = hashed_payload
    headers["Authorization"] = shape.authorization + outer.hexdigest()
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
