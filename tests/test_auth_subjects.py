"""A validly signed token whose ``sub`` is not a string of Unicode scalar values (JSON lets ``"\\ud800"`` through as
a lone surrogate) is an invalid token — 401 ``invalid_token`` — and never reaches the code that encodes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import jsonutil
from shared.auth import AuthFailed, hash_user_id, issue_token, verify_token
from shared.handlers.initializer import InitializerApp
from shared.storage import SqliteTransactionStore
from shared.verifications import FrontendSettings
from tests.fakes import T0, FakeClock, FakeCloudAuth

SECRET = "s" * 40
PEPPER = "pepper-pepper-pepper"
NOW = 1_700_000_000


def _is_scalar_string(text: str) -> bool:
    return not any(0xD800 <= ord(c) <= 0xDFFF for c in text)


# st.text() never yields surrogates and st.characters() only rarely: surrogates are drawn on purpose here, lone,
# paired or next to any other character.
any_text = st.lists(
    st.characters() | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=30
).map("".join)


@settings(max_examples=400)
@given(sub=any_text)
def test_a_subject_is_accepted_only_if_it_can_be_encoded(sub: str) -> None:
    token = issue_token(sub, SECRET, now=NOW)  # JSON escapes surrogates; a high+low pair decodes as one character
    try:
        claims = verify_token(token, SECRET, now=NOW)
    except AuthFailed as exc:
        assert not _is_scalar_string(sub)
        assert exc.status == 401 and exc.code == "InvalidToken"
        assert 'error="invalid_token"' in exc.headers["www-authenticate"]
        return
    assert _is_scalar_string(claims.sub)
    assert claims.sub == sub or not _is_scalar_string(sub)
    assert len(hash_user_id(claims.sub, PEPPER)) == 64  # what the initializer does next never raises


@pytest.mark.parametrize("sub", ["\ud800", "user-\udfff", "\udc00\ud800", "ok\ud83d"])
def test_a_lone_surrogate_subject_is_an_invalid_token(sub: str) -> None:
    with pytest.raises(AuthFailed) as info:
        verify_token(issue_token(sub, SECRET, now=NOW), SECRET, now=NOW)
    assert info.value.code == "InvalidToken"


def test_hashing_a_user_id_that_cannot_be_encoded_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="Unicode"):  # e.g. an operator's argv decoded with surrogateescape
        hash_user_id("user-\udcff", PEPPER)


def test_a_surrogate_pair_escaped_in_json_is_one_scalar_value_and_accepted() -> None:
    sub = "\U0001f600-user"  # JSON carries it as "\ud83d\ude00-user": a pair, not lone surrogates
    assert verify_token(issue_token(sub, SECRET, now=NOW), SECRET, now=NOW).sub == sub


def _app(tmp_path: Path) -> InitializerApp:
    settings = FrontendSettings(
        public_url="https://kyc.example", jwt_secret=SECRET, user_id_pepper=PEPPER,
        return_url_allowlist=("https://shop.example/",), cors_origins=(), rate_limit_per_hour=10,
        max_body_bytes=64 * 1024, max_meta_info_bytes=16 * 1024, jwt_leeway_seconds=30,
    )  # fmt: skip
    store = SqliteTransactionStore(tmp_path / "kyc.sqlite3")
    return InitializerApp(settings=settings, client=FakeCloudAuth(), store=store, clock=FakeClock(T0))  # type: ignore[arg-type]


def _request(app: InitializerApp, method: str, path: str, token: str, body: Any = None) -> dict[str, Any]:
    event = {
        "version": "v1",
        "rawPath": path,
        "body": "" if body is None else jsonutil.dumps_str(body),
        "isBase64Encoded": False,
        "headers": {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        "requestContext": {"http": {"method": method, "path": path, "sourceIp": "203.0.113.7"}},
    }
    response: dict[str, Any] = app.handle(event, None)
    return response


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/verifications", {"docType": "01000000", "metaInfo": '{"apdidToken":"x"}'}),
        ("GET", "/verifications/tx000000000000000000000000000001", None),
    ],
)
def test_the_api_answers_401_invalid_token_for_a_lone_surrogate_subject(
    tmp_path: Path, method: str, path: str, body: Any
) -> None:
    token = issue_token("user-\ud800", SECRET)  # the app checks expiry against the real clock
    response = _request(_app(tmp_path), method, path, token, body)
    assert response["statusCode"] == 401
    assert jsonutil.loads(response["body"])["error"]["code"] == "InvalidToken"
    assert 'error="invalid_token"' in response["headers"]["www-authenticate"]
