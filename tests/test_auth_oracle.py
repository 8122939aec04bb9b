"""shared.auth verifies HS256 by hand; PyJWT is the oracle.

Properties: tokens PyJWT issues verify to the same claims; tokens PyJWT rejects are rejected; tokens we accept
PyJWT accepts too (with the same pinned options); tokens we issue are byte-identical to PyJWT's.
"""

from __future__ import annotations

import base64
import datetime
import json
import warnings
from typing import Any

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.auth import MAX_TOKEN_LIFETIME, AuthFailed, TokenClaims, issue_token, verify_token

NOW = 1_700_000_000
OPTIONS = {"require": ["exp", "sub"], "verify_exp": False, "verify_iat": False, "verify_nbf": False}

secrets_st = st.text(min_size=1, max_size=80).filter(lambda s: "-----BEGIN " not in s and not s.startswith("ssh-"))
subs = st.text(min_size=1, max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
extra_claims = st.dictionaries(
    st.text(max_size=10).filter(lambda k: k not in {"sub", "exp", "iat", "nbf", "jti", "iss", "aud"}),
    json_values,
    max_size=4,
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def pyjwt_decode(token: str, secret: str) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyJWT warns about short HMAC keys; irrelevant to the verdict
        claims: dict[str, Any] = jwt.decode(token, secret, algorithms=["HS256"], options=OPTIONS)  # type: ignore[arg-type]
    return claims


def pyjwt_encode(claims: dict[str, Any], secret: str, algorithm: str = "HS256") -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return jwt.encode(claims, secret, algorithm=algorithm)


def pyjwt_accepts(token: str, secret: str) -> bool:
    try:
        pyjwt_decode(token, secret)
    except jwt.PyJWTError:
        return False
    return True


def we_accept(token: str, secret: str) -> bool:
    try:
        verify_token(token, secret, now=NOW)
    except AuthFailed:
        return False
    return True


@SETTINGS
@given(secret=secrets_st, sub=subs, ttl=st.integers(31, MAX_TOKEN_LIFETIME - 3600),
       iat=st.none() | st.integers(NOW - 3600, NOW), extra=extra_claims)  # minted for at most MAX_TOKEN_LIFETIME
def test_tokens_pyjwt_issues_verify_to_the_same_claims(
    secret: str, sub: str, ttl: int, iat: int | None, extra: dict[str, Any]
) -> None:
    claims = {**extra, "sub": sub, "exp": NOW + ttl}
    if iat is not None:
        claims["iat"] = iat
    token = pyjwt_encode(claims, secret)
    assert verify_token(token, secret, now=NOW) == TokenClaims(sub=sub, exp=NOW + ttl, iat=iat)


@SETTINGS
@given(ttl=st.integers(MAX_TOKEN_LIFETIME + 31, 10**12))
def test_a_token_pyjwt_takes_for_longer_than_a_day_is_refused_here_on_purpose(ttl: int) -> None:
    """The one difference in what is accepted besides ``sub``'s: a token that would stay valid for more than
    ``MAX_TOKEN_LIFETIME`` is a credential that never expires in practice (no revocation)."""
    token = pyjwt_encode({"sub": "u", "exp": NOW + ttl}, SECRET)
    assert pyjwt_accepts(token, SECRET)
    assert not we_accept(token, SECRET)


@SETTINGS
@given(secret=secrets_st, sub=subs, ttl=st.integers(1, 10**6), extra=extra_claims)
def test_tokens_we_issue_are_byte_identical_to_pyjwt_tokens(
    secret: str, sub: str, ttl: int, extra: dict[str, Any]
) -> None:
    claims = {**extra, "sub": sub, "iat": NOW, "exp": NOW + ttl}
    assert issue_token(sub, secret, ttl, now=NOW, extra_claims=extra) == pyjwt_encode(claims, secret)


@SETTINGS
@given(secret=secrets_st, other=secrets_st, sub=subs)
def test_a_token_signed_with_another_secret_is_rejected_by_both(secret: str, other: str, sub: str) -> None:
    token = pyjwt_encode({"sub": sub, "exp": NOW + 60}, other)
    assert we_accept(token, secret) == pyjwt_accepts(token, secret) == (secret.encode() == other.encode())


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_other_hmac_algorithms_are_rejected_by_both(algorithm: str) -> None:
    token = pyjwt_encode({"sub": "u", "exp": NOW + 60}, "k" * 64, algorithm=algorithm)
    assert not pyjwt_accepts(token, "k" * 64)
    with pytest.raises(AuthFailed) as info:
        verify_token(token, "k" * 64, now=NOW)
    assert info.value.message == "token algorithm not allowed"


def test_rs256_token_with_the_public_key_as_secret_is_rejected_by_both() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    token = jwt.encode({"sub": "u", "exp": NOW + 60}, key, algorithm="RS256")
    assert not pyjwt_accepts(token, public.decode())
    assert not we_accept(token, public.decode())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forge(header: Any, payload: Any, secret: str, raw_payload: bytes | None = None) -> str:
    """A token with an arbitrary header, correctly HMAC-SHA256-signed with ``secret``."""
    import hashlib
    import hmac

    signing_input = _b64(json.dumps(header).encode()) + "." + _b64(
        raw_payload if raw_payload is not None else json.dumps(payload).encode()
    )
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64(signature)


SECRET = "oracle-secret-" + "0123456789abcdef" * 3
GOOD = {"sub": "u", "exp": NOW + 60}


@pytest.mark.parametrize(
    ("header", "payload", "raw"),
    [
        ({"alg": "none"}, GOOD, None),
        ({"typ": "JWT"}, GOOD, None),
        ({"alg": "hs256"}, GOOD, None),
        ({"alg": ["HS256"]}, GOOD, None),
        ({"alg": "HS256", "kid": 7}, GOOD, None),
        ({"alg": "HS256", "crit": ["exp"]}, GOOD, None),
        ({"alg": "HS256", "crit": []}, GOOD, None),
        ({"alg": "HS256", "crit": "b64"}, GOOD, None),
        ({"alg": "HS256", "crit": ["b64"]}, GOOD, None),  # a critical extension the header does not carry (review bs)
        ({"alg": "HS256", "crit": ["exp"], "exp": 1}, GOOD, None),  # one it carries, but not one supported (review bs)
        ({"alg": "HS256", "b64": False, "crit": ["b64"]}, GOOD, None),
        (["alg", "HS256"], GOOD, None),
        ({"alg": "HS256"}, ["sub", "u"], None),
        ({"alg": "HS256"}, None, b"not json"),
        ({"alg": "HS256"}, None, b"\xff\xfe{}"),
        ({"alg": "HS256"}, {"sub": "u"}, None),
        ({"alg": "HS256"}, {"exp": NOW + 60}, None),
        ({"alg": "HS256"}, {"sub": None, "exp": NOW + 60}, None),
        ({"alg": "HS256"}, {"sub": "u", "exp": None}, None),
        ({"alg": "HS256"}, {"sub": 5, "exp": NOW + 60}, None),
        ({"alg": "HS256"}, {"sub": "u", "exp": NOW + 60, "jti": 1}, None),
    ],
)
def test_correctly_signed_tokens_pyjwt_rejects_are_rejected(header: Any, payload: Any, raw: bytes | None) -> None:
    token = _forge(header, payload, SECRET, raw)
    assert not pyjwt_accepts(token, SECRET)
    assert not we_accept(token, SECRET)


@pytest.mark.parametrize("header", [{"alg": "HS256"}, {"alg": "HS256", "kid": "k1"}, {"alg": "HS256", "typ": "at"},
                                    {"alg": "HS256", "crit": ["b64"], "b64": True}])
def test_correctly_signed_tokens_with_other_valid_headers_are_accepted_by_both(header: dict[str, Any]) -> None:
    token = _forge(header, GOOD, SECRET)
    assert pyjwt_accepts(token, SECRET)
    assert we_accept(token, SECRET)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_time_claims_are_an_invalid_token_not_a_crash(value: str) -> None:
    token = _forge({"alg": "HS256"}, None, SECRET, raw_payload=f'{{"sub": "u", "exp": {value}}}'.encode())
    with pytest.raises(AuthFailed) as info:
        verify_token(token, SECRET, now=NOW)
    assert info.value.code == "InvalidToken"


@st.composite
def mutated_tokens(draw: st.DrawFn) -> str:
    token = pyjwt_encode({"sub": draw(subs), "exp": NOW + 60}, SECRET)
    chars = list(token)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["replace", "insert", "delete"]))
        at = draw(st.integers(0, len(chars) - 1))
        char = draw(st.sampled_from("AQgw_-=.+/!é \x00"))
        if kind == "replace":
            chars[at] = char
        elif kind == "insert":
            chars.insert(at, char)
        elif len(chars) > 1:
            del chars[at]
    return "".join(chars)


@settings(max_examples=300, deadline=None)
@given(token=mutated_tokens())
def test_a_mutated_token_is_accepted_only_if_pyjwt_accepts_it_with_the_same_claims(token: str) -> None:
    try:
        ours = verify_token(token, SECRET, now=NOW)
    except AuthFailed:
        assert not pyjwt_accepts(token, SECRET) or len(token) > 4096
        return
    theirs = pyjwt_decode(token, SECRET)
    assert (ours.sub, ours.exp) == (theirs["sub"], theirs["exp"])


@SETTINGS
@given(secret=secrets_st, sub=subs, aud=json_values)
def test_a_token_naming_an_audience_is_rejected_as_pyjwt_rejects_it(secret: str, sub: str, aud: Any) -> None:
    """No audience is configured here: PyJWT refuses a token whose ``aud`` is set (not empty), so do we."""
    token = pyjwt_encode({"sub": sub, "exp": NOW + 600, "aud": aud}, secret)
    assert we_accept(token, secret) == pyjwt_accepts(token, secret) == (not aud)


audiences = st.sampled_from(["https://kyc.example.com", "kyc-api", ""])


@SETTINGS
@given(secret=secrets_st, sub=subs, audience=audiences.filter(bool),
       aud=st.none() | json_values | audiences | st.lists(audiences | st.text(max_size=8), max_size=3))
def test_with_an_audience_configured_a_token_is_accepted_exactly_when_pyjwt_accepts_it(
    secret: str, sub: str, audience: str, aud: Any
) -> None:
    """``KYC_JWT_AUDIENCE``: ``aud`` must name it (a string, or a list holding it), as PyJWT's ``audience=``."""
    claims: dict[str, Any] = {"sub": sub, "exp": NOW + 600}
    if aud is not None:
        claims["aud"] = aud
    token = pyjwt_encode(claims, secret)
    try:
        verify_token(token, secret, now=NOW, audience=audience)
    except AuthFailed:
        ours = False
    else:
        ours = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            jwt.decode(token, secret, algorithms=["HS256"], options=OPTIONS, audience=audience)  # type: ignore[arg-type]
    except jwt.PyJWTError:
        theirs = False
    else:
        theirs = True
    assert ours == theirs


# --- review bf: the time claims at their boundaries, against PyJWT's own checks on a frozen clock -------------------

LEEWAY = 30


class _FrozenDatetime(datetime.datetime):
    """What ``jwt.api_jwt`` reads the time from, stopped at ``NOW`` (PyJWT takes no ``now`` argument)."""

    @classmethod
    def now(cls, tz: datetime.tzinfo | None = None) -> datetime.datetime:  # type: ignore[override]
        return datetime.datetime.fromtimestamp(NOW, tz)


@pytest.mark.parametrize("offset", [-1, -0.5, 0, 0.5, 1])  # fractions: PyJWT counts a time claim from its whole second
@pytest.mark.parametrize(
    "claims",
    [
        lambda offset: {"sub": "u", "exp": NOW - LEEWAY + offset},  # expired once exp + leeway <= now
        lambda offset: {"sub": "u", "exp": NOW + 600, "nbf": NOW + LEEWAY + offset},
        lambda offset: {"sub": "u", "exp": NOW + 600, "iat": NOW + LEEWAY + offset},
    ],
    ids=["exp", "nbf", "iat"],
)
def test_time_claims_at_the_leeway_boundary_are_judged_as_pyjwt_judges_them(
    monkeypatch: pytest.MonkeyPatch, claims: Any, offset: float
) -> None:
    """The time checks were compared with PyJWT only with its time checks off (``OPTIONS``): an ``exp`` accepted one
    second past PyJWT's (and RFC 7519's) end passed every test."""
    import jwt.api_jwt

    token = pyjwt_encode(claims(offset), SECRET)
    monkeypatch.setattr(jwt.api_jwt, "datetime", _FrozenDatetime)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            jwt.decode(token, SECRET, algorithms=["HS256"], leeway=LEEWAY, options={"require": ["exp", "sub"]})
        pyjwt_verdict = True
    except jwt.PyJWTError:
        pyjwt_verdict = False
    try:
        verify_token(token, SECRET, leeway=LEEWAY, now=NOW)
        our_verdict = True
    except AuthFailed:
        our_verdict = False
    assert our_verdict == pyjwt_verdict
