"""The callback's URL and token (shared.callback)."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs, urlsplit

from shared.callback import (
    callback_token_matches,
    callback_url,
    hash_callback_token,
    new_callback_token,
    same_transaction,
)


def test_callback_url_names_the_verification_under_the_public_url() -> None:
    url = callback_url("https://kyc.example.com", "abc123")
    assert url == "https://kyc.example.com/callback?merchantBizId=abc123"
    assert parse_qs(urlsplit(url).query) == {"merchantBizId": ["abc123"]}


def test_tokens_are_fresh_and_url_safe() -> None:
    tokens = {new_callback_token() for _ in range(50)}
    assert len(tokens) == 50
    assert all(len(t) >= 43 and t.replace("-", "").replace("_", "").isalnum() for t in tokens)


def test_only_the_hash_is_kept_and_it_is_sha256_hex() -> None:
    assert hash_callback_token("tok") == hashlib.sha256(b"tok").hexdigest()


def test_token_matches_only_its_own_hash() -> None:
    token = new_callback_token()
    stored = hash_callback_token(token)
    assert callback_token_matches(token, stored)
    assert not callback_token_matches(token + "x", stored)
    assert not callback_token_matches("", stored)


def test_no_stored_hash_matches_no_token() -> None:
    assert not callback_token_matches("", None) and not callback_token_matches("", "")


def test_transaction_must_be_the_stored_one() -> None:
    assert same_transaction("tx1", "tx1") and not same_transaction("tx2", "tx1")
