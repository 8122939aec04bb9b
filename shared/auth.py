"""Merchant frontend tokens (HS256 JWT) and user-id hashing.

The merchant's backend issues a short-lived HS256 JWT for its logged-in user (``sub`` = the merchant's user id);
the browser sends it as ``Authorization: Bearer <token>``; :func:`verify_token` checks it. The algorithm is
pinned to HS256: ``none``, RS256 (the classic public-key-as-HMAC-secret confusion), HS512, … are refused.

PyJWT is imported on first use (:func:`_jwt`), not with this module, and never with ``cryptography``: HS256 needs
only ``hmac``, and PyJWT merely probes for ``cryptography`` (``except ModuleNotFoundError``) to offer RSA/EC, which
we refuse anyway. ``cryptography`` is not a runtime dependency (only the official SDKs in the dev tools bring it),
and importing it would cost ~40 ms and ~8 MiB per cold start, so :func:`_jwt` hides it while PyJWT loads: dev and
production then run the same pure-Python HS256 code. Functions that verify tokens call :func:`preload` from
``initialize`` so PyJWT's own (small) import cost is paid at instance start instead of by the first request.

Error codes are PascalCase like the rest of the API; the challenge carries RFC 6750's (``invalid_token``,
``invalid_request``). Codes: ``MissingToken``, ``InvalidToken``, ``TokenExpired``,
``token_expired``; messages never contain the token or its claims.
"""

from __future__ import annotations

import hashlib
import hmac
import sys
import time
from collections.abc import Mapping
from types import ModuleType
from typing import Any, NamedTuple

from shared.fc import HttpError

ALGORITHM = "HS256"
DEFAULT_LEEWAY = 30
MAX_TOKEN_LENGTH = 4096


class TokenClaims(NamedTuple):
    sub: str
    exp: int
    iat: int | None


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


def _jwt() -> ModuleType:
    """PyJWT, imported without its optional ``cryptography`` backend unless something already loaded it."""
    if "jwt" not in sys.modules and "cryptography" not in sys.modules:
        sys.modules["cryptography"] = None  # type: ignore[assignment]  # makes PyJWT's probe raise ModuleNotFoundError
        try:
            import jwt  # noqa: PLC0415
        finally:
            if sys.modules.get("cryptography", ...) is None:
                del sys.modules["cryptography"]
    import jwt  # noqa: PLC0415

    return jwt


def preload() -> None:
    """Import PyJWT now (call from ``initialize``)."""
    _jwt()


def _require_secret(secret: str | bytes) -> None:
    if not secret:
        raise ValueError("token secret must not be empty")


def _numeric(claims: Mapping[str, Any], name: str) -> int | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AuthFailed("InvalidToken", f"token claim '{name}' must be a number")
    return int(value)


def verify_token(
    token: str, secret: str | bytes, *, leeway: int = DEFAULT_LEEWAY, now: float | None = None
) -> TokenClaims:
    """Verify an HS256 token; ``exp`` and ``sub`` are required. Raises :class:`AuthFailed`.

    ``exp`` may be up to ``leeway`` seconds in the past; ``iat``/``nbf`` up to ``leeway`` in the future.
    ``now`` (unix seconds) is for tests; the time checks are done here so that it applies to all of them.
    """
    _require_secret(secret)
    if not token:
        raise AuthFailed("MissingToken", "no token")
    if len(token) > MAX_TOKEN_LENGTH:
        raise AuthFailed("InvalidToken", "token is too long")
    jwt = _jwt()  # deferred: see the module docstring

    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={
                "require": ["exp", "sub"],
                "verify_signature": True,
                "verify_exp": False,  # checked below against ``now``
                "verify_iat": False,
                "verify_nbf": False,
                "verify_aud": False,
                "verify_iss": False,
                "verify_sub": True,
            },
        )
    except jwt.InvalidAlgorithmError:
        raise AuthFailed("InvalidToken", "token algorithm not allowed") from None
    except jwt.InvalidSignatureError:
        raise AuthFailed("InvalidToken", "token signature does not match") from None
    except jwt.MissingRequiredClaimError as exc:
        raise AuthFailed("InvalidToken", f"token has no '{exc.claim}' claim") from None
    except jwt.exceptions.InvalidSubjectError:
        raise AuthFailed("InvalidToken", "token claim 'sub' must be a string") from None
    except jwt.DecodeError:
        raise AuthFailed("InvalidToken", "token is malformed") from None
    except jwt.PyJWTError:
        raise AuthFailed("InvalidToken", "token is invalid") from None

    current = time.time() if now is None else now
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise AuthFailed("InvalidToken", "token claim 'sub' must be a non-empty string")
    exp = _numeric(claims, "exp")
    assert exp is not None  # required above
    iat = _numeric(claims, "iat")
    nbf = _numeric(claims, "nbf")
    if exp + leeway <= current:
        raise AuthFailed("TokenExpired", "token has expired")
    if (iat is not None and iat - leeway > current) or (nbf is not None and nbf - leeway > current):
        raise AuthFailed("InvalidToken", "token is not valid yet")
    return TokenClaims(sub=sub, exp=exp, iat=iat)


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
    """An HS256 token for ``sub`` valid ``ttl`` seconds (demo merchant backend and tests)."""
    _require_secret(secret)
    if not sub:
        raise ValueError("sub must not be empty")
    jwt = _jwt()

    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {**(extra_claims or {}), "sub": sub, "iat": issued, "exp": issued + int(ttl)}
    token: str = jwt.encode(claims, secret, algorithm=ALGORITHM)
    return token


def hash_user_id(user_id: str, pepper: str | bytes) -> str:
    """Hex HMAC-SHA256(key=pepper, msg=user_id): what goes to the vendor as MerchantUserId (it recommends hashing)."""
    if not pepper:
        raise ValueError("pepper must not be empty")
    if not user_id:
        raise ValueError("user_id must not be empty")
    key = pepper.encode() if isinstance(pepper, str) else pepper
    return hmac.new(key, user_id.encode(), hashlib.sha256).hexdigest()
