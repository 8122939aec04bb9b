"""Merchant frontend tokens (HS256 JWT) and user-id hashing.

The merchant's backend issues a short-lived HS256 JWT for its logged-in user (``sub`` = the merchant's user id);
the browser sends it as ``Authorization: Bearer <token>``; :func:`verify_token` checks it. The algorithm is
pinned to HS256: ``none``, RS256 (the classic public-key-as-HMAC-secret confusion), HS512, … are refused.

HS256 is verified here with ``base64`` + ``hmac`` + ``json`` (all loaded by any Python that speaks HTTP), not
with PyJWT: importing PyJWT costs a cold start ~10-15 ms (its ``jwks_client`` pulls ``urllib.request``,
``tempfile``, ``shutil``, ``bz2``, ``lzma``) for the ~40 lines below. The checks mirror PyJWT 2.x's
``jwt.decode(token, key, algorithms=["HS256"], options={"require": ["exp", "sub"]})`` step by step (canonical
base64url segments, JSON-object header and payload, ``kid``/``crit``/``b64`` header rules, pinned algorithm,
constant-time signature comparison, required claims, ``sub``/``jti`` types, ``aud``); ``tests/test_auth_oracle.py``
keeps PyJWT as the oracle (its tokens verify identically, what it rejects is rejected here). Two deliberate
differences: a ``sub`` that is not a string of Unicode scalar values (JSON's ``"\ud800"`` decodes to a lone
surrogate, which PyJWT passes on) is ``InvalidToken`` here, since it can be neither hashed nor stored; and an ``exp``
more than ``MAX_TOKEN_LIFETIME`` (24 h) after now or after ``iat`` is ``InvalidToken`` (PyJWT takes any).

Error codes are PascalCase like the rest of the API; the challenge carries RFC 6750's (``invalid_token``,
``invalid_request``). Codes: ``MissingToken``, ``InvalidToken``, ``TokenExpired``,
``InvalidAuthorizationHeader``; messages never contain the token or its claims.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import time
from collections import namedtuple
from collections.abc import Mapping, Sequence

from shared.fc import HttpError

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any, NamedTuple

    class TokenClaims(NamedTuple):
        sub: str
        exp: int
        iat: int | None

else:
    TokenClaims = namedtuple("TokenClaims", ("sub", "exp", "iat"))  # no ``typing`` at runtime

ALGORITHM = "HS256"
DEFAULT_LEEWAY = 30
MAX_TOKEN_LENGTH = 4096
#: The longest a token may still be valid when it arrives (``exp`` at most this far ahead, plus the leeway for the
#: merchant backend's clock): a token minted for a century, or with milliseconds read as seconds, would otherwise be
#: a credential that never expires, and tokens cannot be revoked (docs/security.md). PyJWT has no such bound; the
#: merchant's sessions are minutes (docs/integration.md). Review bb.
MAX_TOKEN_LIFETIME = 24 * 3600

_HEADER = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")  # PyJWT's, byte for byte
_BASE64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_SUPPORTED_CRIT = frozenset({"b64"})
# Asymmetric key material must never be used as an HMAC secret (PyJWT refuses it too).
_ASYMMETRIC_PREFIXES = (b"ssh-", b"ecdsa-sha2-", b"sk-ssh-", b"sk-ecdsa-")

_RFC6750_ERRORS = {
    "InvalidAuthorizationHeader": "invalid_request",
    "InvalidToken": "invalid_token",
    "TokenExpired": "invalid_token",
}


class AuthFailed(HttpError):
    """Authentication failed: 401 (400 for ``InvalidAuthorizationHeader``) with a ``www-authenticate: Bearer``
    challenge carrying RFC 6750's error code.

    Codes: ``MissingToken``, ``InvalidAuthorizationHeader``, ``InvalidToken``, ``TokenExpired``."""

    def __init__(self, code: str, message: str) -> None:
        status = 400 if code == "InvalidAuthorizationHeader" else 401
        rfc_code = _RFC6750_ERRORS.get(code)
        challenge = f'Bearer realm="ekyc", error="{rfc_code}"' if rfc_code else 'Bearer realm="ekyc"'
        super().__init__(status, code, message, {"www-authenticate": challenge})


def _key(secret: str | bytes) -> bytes:
    if not secret:
        raise ValueError("token secret must not be empty")
    key = secret.encode() if isinstance(secret, str) else bytes(secret)
    if b"-----BEGIN " in key or key.lstrip().startswith(_ASYMMETRIC_PREFIXES):
        raise AuthFailed("InvalidToken", "token is invalid")  # misconfiguration: an asymmetric key as HMAC secret
    return key


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _segment(segment: str) -> bytes:
    """Strict base64url: alphabet only (up to two '=' of padding on a length that is a multiple of 4), canonical."""
    stripped = segment.rstrip("=")
    padding = len(segment) - len(stripped)
    if padding > 2 or (padding and len(segment) % 4) or len(stripped) % 4 == 1 or not _BASE64URL.issuperset(stripped):
        raise AuthFailed("InvalidToken", "token is malformed")
    raw = stripped.encode("ascii")
    try:
        data = base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    except binascii.Error:
        raise AuthFailed("InvalidToken", "token is malformed") from None
    if _b64url(data) != raw:  # non-zero trailing bits: a second spelling of the same bytes
        raise AuthFailed("InvalidToken", "token is malformed")
    return data


def _json_object(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):  # includes UnicodeDecodeError
        raise AuthFailed("InvalidToken", "token is malformed") from None
    if not isinstance(value, dict):
        raise AuthFailed("InvalidToken", "token is malformed")
    return value


def _check_header(header: dict[str, Any]) -> None:
    if "kid" in header and not isinstance(header["kid"], str):
        raise AuthFailed("InvalidToken", "token is invalid")
    if "crit" in header:
        crit = header["crit"]
        if not isinstance(crit, list) or not crit:
            raise AuthFailed("InvalidToken", "token is invalid")
        for ext in crit:
            if not isinstance(ext, str) or ext not in _SUPPORTED_CRIT or ext not in header:
                raise AuthFailed("InvalidToken", "token is invalid")
    if header.get("b64", True) is False:  # RFC 7797 detached payload: never issued to us
        raise AuthFailed("InvalidToken", "token is malformed")
    alg = header.get("alg")
    if alg != ALGORITHM:
        raise AuthFailed("InvalidToken", "token algorithm not allowed")


def _numeric(claims: Mapping[str, Any], name: str) -> int | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AuthFailed("InvalidToken", f"token claim '{name}' must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise AuthFailed("InvalidToken", f"token claim '{name}' must be a number")
    return int(value)


def _decode(token: str, keys: Sequence[bytes]) -> dict[str, Any]:
    """PyJWT's decode order: segments, header, payload/signature encoding, header rules, algorithm, signature,
    payload JSON, required claims, claim types."""
    signing_input, dot, crypto_segment = token.rpartition(".")
    header_segment, dot2, payload_segment = signing_input.partition(".")
    if not dot or not dot2:
        raise AuthFailed("InvalidToken", "token is malformed")
    header = _json_object(_segment(header_segment))
    if header.get("b64", True) is False:
        if payload_segment:
            raise AuthFailed("InvalidToken", "token is malformed")
        payload = b""
    else:
        payload = _segment(payload_segment)
    signature = _segment(crypto_segment)
    _check_header(header)
    signed = signing_input.encode("ascii")
    # Every key is tried (no early exit), so timing does not tell which key of a rotation matched.
    matches = [hmac.compare_digest(hmac.new(key, signed, hashlib.sha256).digest(), signature) for key in keys]
    if not any(matches):
        raise AuthFailed("InvalidToken", "token signature does not match")
    claims = _json_object(payload)
    for name in ("exp", "sub"):
        if claims.get(name) is None:
            raise AuthFailed("InvalidToken", f"token has no '{name}' claim")
    if not isinstance(claims["sub"], str):
        raise AuthFailed("InvalidToken", "token claim 'sub' must be a string")
    if "jti" in claims and not isinstance(claims["jti"], str):
        raise AuthFailed("InvalidToken", "token is invalid")
    return claims


def _is_scalar_string(text: str) -> bool:
    """True when ``text`` holds Unicode scalar values only (no lone surrogates), i.e. it encodes as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def verify_token(
    token: str,
    secret: str | bytes | Sequence[str | bytes],
    *,
    leeway: int = DEFAULT_LEEWAY,
    now: float | None = None,
    audience: str | None = None,
) -> TokenClaims:
    """Verify an HS256 token; ``exp`` and ``sub`` are required. Raises :class:`AuthFailed`.

    ``audience``: the token's ``aud`` (a string, or a list of strings) must name it, as PyJWT's ``audience=`` asks.
    None: a token that names an audience is refused (PyJWT's default; RFC 7519, 4.1.3).

    ``secret`` may be several secrets (the current one and those being rotated out): a token signed with any of
    them is accepted.

    ``exp`` may be up to ``leeway`` seconds in the past, and at most ``MAX_TOKEN_LIFETIME`` (+ ``leeway``) ahead of
    now and of ``iat``; ``iat``/``nbf`` up to ``leeway`` in the future.
    ``now`` (unix seconds) is for tests; the time checks are done here so that it applies to all of them.
    """
    secrets = [secret] if isinstance(secret, (str, bytes)) else list(secret)
    if not secrets or not all(secrets):
        raise ValueError("token secret must not be empty")
    if not token:
        raise AuthFailed("MissingToken", "no token")
    if len(token) > MAX_TOKEN_LENGTH:
        raise AuthFailed("InvalidToken", "token is too long")
    claims = _decode(token, [_key(s) for s in secrets])

    current = time.time() if now is None else now
    sub = claims["sub"]
    if not sub:
        raise AuthFailed("InvalidToken", "token claim 'sub' must be a non-empty string")
    if not _is_scalar_string(sub):
        # JSON's "\ud800" decodes to a lone surrogate: a str that cannot be encoded, hashed or stored.
        raise AuthFailed("InvalidToken", "token claim 'sub' must be a string of Unicode characters")
    _check_audience(claims.get("aud"), audience)
    exp = _numeric(claims, "exp")
    assert exp is not None  # required above
    iat = _numeric(claims, "iat")
    nbf = _numeric(claims, "nbf")
    if exp + leeway <= current:
        raise AuthFailed("TokenExpired", "token has expired")
    # What is left of the token, and (with iat) how long it was minted for: a week-long token is refused on its
    # last day too, so one taken early is no credential later either (review bc).
    if exp - leeway > current + MAX_TOKEN_LIFETIME or (iat is not None and exp - iat > MAX_TOKEN_LIFETIME + leeway):
        hours = MAX_TOKEN_LIFETIME // 3600
        raise AuthFailed("InvalidToken", f"token is valid for more than {hours} hours: mint short-lived tokens")
    if (iat is not None and iat - leeway > current) or (nbf is not None and nbf - leeway > current):
        raise AuthFailed("InvalidToken", "token is not valid yet")
    return TokenClaims(sub=sub, exp=exp, iat=iat)


def _check_audience(aud: Any, audience: str | None) -> None:
    """PyJWT 2.x's audience rule (``jwt.api_jwt._validate_aud``; ``tests/test_auth_oracle.py``)."""
    if audience is None:
        if aud:
            # A token that names an audience was minted for some service, and none is configured here.
            raise AuthFailed("InvalidToken", "token claim 'aud' names an audience, and KYC_JWT_AUDIENCE is not set")
        return
    if aud is None:
        raise AuthFailed("InvalidToken", "token claim 'aud' is required (KYC_JWT_AUDIENCE is set)")
    names = [aud] if isinstance(aud, str) else aud
    if not isinstance(names, list) or not names or not all(isinstance(name, str) for name in names):
        raise AuthFailed("InvalidToken", "token claim 'aud' must be a string or a list of strings")
    if audience not in names:
        raise AuthFailed("InvalidToken", "token claim 'aud' does not name this API (KYC_JWT_AUDIENCE)")


def audience_claim(audience: str | None) -> dict[str, str]:
    """The claims a token minted for this API adds for ``audience`` (``KYC_JWT_AUDIENCE``): ``aud``, or none."""
    return {"aud": audience} if audience else {}


def bearer_token(headers: Mapping[str, str]) -> str:
    """The token of an ``Authorization: Bearer <token>`` header (any header-name casing).

    Raises :class:`AuthFailed` ``missing_token`` when there is none, ``invalid_request`` when it is not a single
    Bearer credential."""
    value = headers.get("authorization")
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    if value is None or not value.strip():
        raise AuthFailed("MissingToken", "no Authorization header")
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer":
        raise AuthFailed("InvalidAuthorizationHeader", "Authorization header must use the Bearer scheme")
    if not token or " " in token or "," in token:
        raise AuthFailed("InvalidAuthorizationHeader", "Authorization header must hold exactly one Bearer token")
    return token


def issue_token(
    sub: str,
    secret: str | bytes,
    ttl: int = 3600,
    *,
    now: float | None = None,
    extra_claims: Mapping[str, Any] | None = None,
) -> str:
    """An HS256 token for ``sub`` valid ``ttl`` seconds (demo merchant backend and tests).

    Byte for byte what ``jwt.encode(claims, secret, algorithm="HS256")`` produces for the same claims."""
    if not secret:
        raise ValueError("token secret must not be empty")
    if not sub:
        raise ValueError("sub must not be empty")
    key = secret.encode() if isinstance(secret, str) else bytes(secret)
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {**(extra_claims or {}), "sub": sub, "iat": issued, "exp": issued + int(ttl)}
    if "iss" in claims and not isinstance(claims["iss"], str):
        raise TypeError("Issuer (iss) must be a string.")
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = _HEADER + b"." + payload
    signature = _b64url(hmac.new(key, signing_input, hashlib.sha256).digest())
    return (signing_input + b"." + signature).decode("ascii")


def hash_user_id(user_id: str, pepper: str | bytes) -> str:
    """Hex HMAC-SHA256(key=pepper, msg=user_id): what goes to the vendor as MerchantUserId (it recommends hashing)."""
    if not pepper:
        raise ValueError("pepper must not be empty")
    if not user_id:
        raise ValueError("user_id must not be empty")
    if not _is_scalar_string(user_id):
        raise ValueError("user_id must be a string of Unicode characters")
    key = pepper.encode() if isinstance(pepper, str) else pepper
    return hmac.new(key, user_id.encode(), hashlib.sha256).hexdigest()
