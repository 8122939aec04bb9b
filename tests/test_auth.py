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
                                 "  ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTY" + "x" * 20,
                                 "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t" + "x" * 20,
                                 "sk-ecdsa-sha2-nistp256@openssh.com AAAAInNrLWVjZHNhLXNoYTItbmlzdHAy" + "x" * 20])
def test_an_ssh_public_key_is_never_used_as_the_hmac_secret(key: str) -> None:
    """The key-confusion guard covers OpenSSH public keys as well as PEM (PyJWT refuses both): a token HMAC-signed
    with a published public key must not verify."""
    token = issue_token("u", key, 600, now=NOW)
    with pytest.raises(AuthFailed) as info:
        verify_token(token, key, now=NOW)
    assert info.value.code == "InvalidToken"


# --- review bs: the bounds above, each at its edge ---------------------------------------------------------------


def _token_of_length(length: int) -> str:
    """A correctly signed PyJWT token exactly ``length`` characters long (a padding claim sets its size)."""
    for pad in range(length):
        token = make({"sub": "u", "exp": NOW + 60, "pad": "p" * pad})
        if len(token) >= length:
            assert len(token) == length, "no token of this length: choose another"
            return token
    raise AssertionError("unreachable")


def test_a_signed_token_of_the_longest_length_verifies() -> None:
    assert verify_token(_token_of_length(4096), SECRET, now=NOW).sub == "u"


def test_a_signed_token_one_character_over_the_longest_length_is_refused_before_it_is_decoded() -> None:
    error = failure(_token_of_length(4097))
    assert (error.code, error.status, error.message) == ("InvalidToken", 401, "token is too long")


DAY = 24 * 3600  # MAX_TOKEN_LIFETIME, written out: a test reading the constant follows it wherever it is moved


@pytest.mark.parametrize("now", [NOW, NOW + 0.5])
def test_a_token_valid_for_a_day_and_the_leeway_is_the_longest_accepted(now: float) -> None:
    assert verify_token(make({"sub": "u", "exp": NOW + DAY + 30}), SECRET, leeway=30, now=now).sub == "u"
    error = failure(make({"sub": "u", "exp": NOW + DAY + 31}), leeway=30, now=now)
    assert (error.code, error.status) == ("InvalidToken", 401)


def test_a_token_minted_for_one_second_more_than_a_day_and_the_leeway_is_refused() -> None:
    iat = NOW - 3600
    accepted = make({"sub": "u", "iat": iat, "exp": iat + DAY + 30})
    assert verify_token(accepted, SECRET, leeway=30, now=NOW).sub == "u"
    error = failure(make({"sub": "u", "iat": iat, "exp": iat + DAY + 31}), leeway=30)
    assert (error.code, error.status) == ("InvalidToken", 401)


@pytest.mark.parametrize("padding", ["==", "==="])
def test_a_signature_padded_to_a_length_that_is_not_a_multiple_of_four_is_malformed(padding: str) -> None:
    """Base64url padding is only ever what fills the segment to a multiple of four: ``sig=`` (44 characters) is the
    one other spelling of a 43-character signature, ``sig==`` is not base64."""
    token = make({"sub": "u", "exp": NOW + 60})
    assert verify_token(token + "=", SECRET, now=NOW).sub == "u"
    error = failure(token + padding)
    assert (error.code, error.message) == ("InvalidToken", "token is malformed")


def test_a_signature_spelled_with_other_unused_trailing_bits_is_malformed() -> None:
    """43 base64url characters carry 258 bits for a 256-bit signature: the last character's two low bits are unused,
    and a token whose last character differs only in them must not verify as a second spelling of the same token."""
    token = make({"sub": "u", "exp": NOW + 60})
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(token[-1])
    assert last % 4 == 0  # canonical: the unused bits are zero
    error = failure(token[:-1] + alphabet[last + 1])
    assert (error.code, error.message) == ("InvalidToken", "token is malformed")


def test_a_header_nested_deeper_than_the_parser_recurses_is_malformed_not_a_crash() -> None:
    nested = b"[" * 2000  # json.loads raises RecursionError (not a ValueError) past ~1000 levels
    error = failure(f"{b64url(nested)}.{b64url(b'{}')}.{b64url(b'x' * 32)}")
    assert (error.code, error.status, error.message) == ("InvalidToken", 401, "token is malformed")


def test_an_empty_sub_is_refused_as_no_user() -> None:
    error = failure(make({"sub": "", "exp": NOW + 60}))
    assert (error.code, error.status) == ("InvalidToken", 401)
    assert "sub" in error.message


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_a_time_claim_that_is_a_boolean_is_not_a_number(claim: str) -> None:
    """JSON ``true`` is an ``int`` to Python: it must not pass as the second 1 of 1970."""
    error = failure(make({"sub": "u", "exp": NOW + 60, claim: True}))
    assert (error.code, error.message) == ("InvalidToken", f"token claim '{claim}' must be a number")


def test_a_pem_public_key_is_never_used_as_the_hmac_secret() -> None:
    """The classic confusion: an HS256 token HMAC-signed with a published PEM public key as the secret."""
    key = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" + "x" * 40
    key += "\n-----END PUBLIC KEY-----\n"
    token = issue_token("u", key, 600, now=NOW)
    with pytest.raises(AuthFailed) as info:
        verify_token(token, key, now=NOW)
    assert info.value.code == "InvalidToken"


@pytest.mark.parametrize("aud", ["*", ["*"]])
def test_an_audience_of_a_star_names_no_audience_but_itself(aud: Any) -> None:
    error = failure(make({"sub": "u", "exp": NOW + 60, "aud": aud}), audience="https://kyc.example.com")
    assert error.code == "InvalidToken"


def test_a_blank_authorization_header_is_a_missing_token() -> None:
    with pytest.raises(AuthFailed) as info:
        bearer_token({"authorization": "   "})
    assert (info.value.code, info.value.status) == ("MissingToken", 401)



def test_hash_user_id_refuses_an_empty_user_id() -> None:
    with pytest.raises(ValueError, match="user_id"):
        hash_user_id("", "pepper")
