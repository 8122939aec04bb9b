"""shared.auth: HS256 merchant tokens, bearer extraction, user-id hashing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
from typing import Any

import jwt
import pytest

from shared.auth import (
    MAX_TOKEN_LIFETIME,
    AuthFailed,
    TokenClaims,
    bearer_token,
    hash_user_id,
    issue_token,
    verify_token,
)
from shared.fc import Headers

SECRET = "s3cret-for-tests-" + "0123456789abcdef" * 4  # >= 64 bytes: no PyJWT key-length warning, even for HS512
NOW = 1_700_000_000


def make(claims: dict[str, Any], *, secret: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def failure(token: str, **kwargs: Any) -> AuthFailed:
    with pytest.raises(AuthFailed) as info:
        verify_token(token, SECRET, now=kwargs.pop("now", NOW), **kwargs)
    return info.value


def test_valid_token_returns_claims() -> None:
    token = make({"sub": "user-1", "exp": NOW + 60, "iat": NOW})
    assert verify_token(token, SECRET, now=NOW) == TokenClaims(sub="user-1", exp=NOW + 60, iat=NOW)


def test_iat_is_optional() -> None:
    assert verify_token(make({"sub": "u", "exp": NOW + 60}), SECRET, now=NOW).iat is None


def test_issue_token_round_trips() -> None:
    token = issue_token("merchant-user-7", SECRET, ttl=120, now=NOW)
    assert verify_token(token, SECRET, now=NOW + 100) == TokenClaims("merchant-user-7", NOW + 120, NOW)


def test_issue_token_uses_hs256() -> None:
    assert jwt.get_unverified_header(issue_token("u", SECRET))["alg"] == "HS256"


def test_alg_none_is_rejected() -> None:
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64url(json.dumps({"sub": "u", "exp": NOW + 60}).encode())
    error = failure(f"{header}.{payload}.")
    assert (error.code, error.status) == ("InvalidToken", 401)


def test_hs512_is_rejected() -> None:
    assert failure(make({"sub": "u", "exp": NOW + 60}, algorithm="HS512")).code == "InvalidToken"


def test_rs256_is_rejected() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode({"sub": "u", "exp": NOW + 60}, key, algorithm="RS256")
    error = failure(token)
    assert (error.code, error.message) == ("InvalidToken", "token algorithm not allowed")


def test_missing_exp_is_rejected() -> None:
    error = failure(make({"sub": "u"}))
    assert (error.code, error.message) == ("InvalidToken", "token has no 'exp' claim")


def test_missing_sub_is_rejected() -> None:
    error = failure(make({"exp": NOW + 60}))
    assert (error.code, error.message) == ("InvalidToken", "token has no 'sub' claim")


def test_non_string_sub_is_rejected() -> None:
    assert failure(make({"sub": 42, "exp": NOW + 60})).code == "InvalidToken"


def test_non_numeric_exp_is_rejected() -> None:
    assert failure(make({"sub": "u", "exp": "tomorrow"})).code == "InvalidToken"


def test_expired_beyond_leeway_is_rejected() -> None:
    error = failure(make({"sub": "u", "exp": NOW - 31}), leeway=30)
    assert (error.code, error.status) == ("TokenExpired", 401)


def test_expired_within_leeway_is_accepted() -> None:
    assert verify_token(make({"sub": "u", "exp": NOW - 29}), SECRET, leeway=30, now=NOW).sub == "u"


@pytest.mark.parametrize("exp", [NOW + MAX_TOKEN_LIFETIME + 31, NOW + 100 * 365 * 86400, 1e300])
def test_a_token_valid_for_more_than_a_day_is_rejected_as_never_expiring(exp: float) -> None:
    error = failure(make({"sub": "u", "exp": exp}), leeway=30)
    assert (error.code, error.status) == ("InvalidToken", 401)
    assert "24 hours" in error.message


def test_a_token_minted_for_a_week_is_rejected_on_its_last_day_too() -> None:
    error = failure(make({"sub": "u", "iat": NOW - 6 * 86400, "exp": NOW + 86400 - 60}), leeway=30)
    assert (error.code, error.status) == ("InvalidToken", 401)


def test_a_token_minted_for_a_day_is_accepted_until_it_expires() -> None:
    token = make({"sub": "u", "iat": NOW - MAX_TOKEN_LIFETIME + 60, "exp": NOW + 60})
    assert verify_token(token, SECRET, leeway=30, now=NOW).sub == "u"


def test_a_token_valid_for_a_day_within_leeway_is_accepted() -> None:
    token = make({"sub": "u", "exp": NOW + MAX_TOKEN_LIFETIME + 30})
    assert verify_token(token, SECRET, leeway=30, now=NOW).sub == "u"


def test_issued_in_the_future_beyond_leeway_is_rejected() -> None:
    assert failure(make({"sub": "u", "exp": NOW + 600, "iat": NOW + 120})).code == "InvalidToken"


def test_not_before_in_the_future_is_rejected() -> None:
    assert failure(make({"sub": "u", "exp": NOW + 600, "nbf": NOW + 120})).code == "InvalidToken"


def test_bad_signature_is_rejected() -> None:
    error = failure(make({"sub": "u", "exp": NOW + 60}, secret="another-secret-" + "0123456789abcdef" * 4))
    assert (error.code, error.message) == ("InvalidToken", "token signature does not match")


@pytest.mark.parametrize("token", ["abc", "a.b", "a.b.c", "!!!.???.***", "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.sig"])
def test_malformed_token_is_rejected(token: str) -> None:
    assert failure(token).code == "InvalidToken"


def test_oversized_token_is_rejected() -> None:
    assert failure("a" * 5000).code == "InvalidToken"


def test_empty_token_is_missing_token() -> None:
    assert failure("").code == "MissingToken"


def test_error_message_never_contains_the_token() -> None:
    token = make({"sub": "user-secret-id", "exp": NOW - 600})
    error = failure(token)
    assert token not in str(error) and "user-secret-id" not in str(error)


def test_auth_failed_response_has_bearer_challenge() -> None:
    response = failure(make({"sub": "u", "exp": NOW - 600})).to_response()
    assert response["statusCode"] == 401
    assert response["headers"]["www-authenticate"] == 'Bearer realm="ekyc", error="invalid_token"'
    assert json.loads(response["body"])["error"]["code"] == "TokenExpired"


def test_empty_secret_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        verify_token("x.y.z", "")


# ------------------------------------------------------------------------------------------ bearer_token


def test_bearer_token_extracted_from_case_insensitive_headers() -> None:
    assert bearer_token(Headers({"Authorization": "Bearer abc.def.ghi"})) == "abc.def.ghi"


def test_bearer_token_from_plain_dict_with_any_casing() -> None:
    assert bearer_token({"AUTHORIZATION": "bearer tok"}) == "tok"


def test_missing_authorization_is_missing_token() -> None:
    with pytest.raises(AuthFailed) as info:
        bearer_token({})
    assert (info.value.code, info.value.headers["www-authenticate"]) == ("MissingToken", 'Bearer realm="ekyc"')


@pytest.mark.parametrize("value", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", "Bearer a,Bearer b", "tok"])
def test_malformed_authorization_is_invalid_request(value: str) -> None:
    with pytest.raises(AuthFailed) as info:
        bearer_token({"authorization": value})
    assert (info.value.code, info.value.status) == ("InvalidAuthorizationHeader", 400)


# ------------------------------------------------------------------------------------------ hash_user_id


def test_hash_user_id_is_hex_hmac_sha256_of_pepper_and_id() -> None:
    expected = hmac.new(b"pepper", b"user-42", hashlib.sha256).hexdigest()
    assert hash_user_id("user-42", "pepper") == expected


def test_hash_user_id_depends_on_pepper() -> None:
    assert hash_user_id("user-42", "pepper-a") != hash_user_id("user-42", "pepper-b")


def test_hash_user_id_refuses_empty_pepper() -> None:
    with pytest.raises(ValueError):
        hash_user_id("user-42", "")


def test_importing_auth_does_not_import_jwt() -> None:
    code = "import sys, shared.auth; print('jwt' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=_root())
    assert out.stdout.strip() == "False"


def _root() -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parent.parent)


def test_a_token_signed_with_any_of_several_secrets_verifies() -> None:
    old, new = "o" * 40, "n" * 40
    claims = verify_token(issue_token("u", old, now=NOW), [new, old], now=NOW)
    assert claims.sub == "u"
    with pytest.raises(AuthFailed) as info:
        verify_token(issue_token("u", "x" * 40, now=NOW), [new, old], now=NOW)
    assert info.value.code == "InvalidToken"


# --- review bf: cases the parametrized tests above never reached ---------------------------------------------------


def test_two_tokens_joined_by_a_comma_are_an_invalid_request_not_a_token() -> None:
    """``Bearer a,Bearer b`` in ``test_malformed_authorization_is_invalid_request`` is refused for its space before the
    comma check is reached; a comma alone must be refused too (RFC 6750: exactly one credential)."""
    with pytest.raises(AuthFailed) as info:
        bearer_token({"authorization": "Bearer a,b"})
    assert (info.value.code, info.value.status) == ("InvalidAuthorizationHeader", 400)


@pytest.mark.parametrize("key", ["ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC" + "x" * 40,
                                 "  ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTY" + "x" * 20])
def test_an_ssh_public_key_is_never_used_as_the_hmac_secret(key: str) -> None:
    """The key-confusion guard covers OpenSSH public keys as well as PEM (PyJWT refuses both): a token HMAC-signed
    with a published public key must not verify."""
    token = issue_token("u", key, 600, now=NOW)
    with pytest.raises(AuthFailed) as info:
        verify_token(token, key, now=NOW)
    assert info.value.code == "InvalidToken"
