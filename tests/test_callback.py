"""The callback's URL and token (shared.callback)."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, urlencode, urlsplit

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.callback import (
    callback_parameters,
    callback_token_matches,
    callback_url,
    hash_callback_token,
    new_callback_token,
    same_transaction,
)
from shared.config import ConfigError
from shared.ids import is_merchant_biz_id
from shared.urls import check_url
from shared.verifications import FrontendSettings
from tests.test_urls import safe_urls, unsafe_chars


def test_callback_url_names_the_verification_in_its_path_and_has_no_query_for_the_vendor_to_join() -> None:
    url = callback_url("https://kyc.example.com/", "abc123")
    assert url == "https://kyc.example.com/callback/abc123"
    assert urlsplit(url).query == ""


VENDOR = {"callbackToken": "tok", "transactionId": "tx1", "passed": "Y", "subCode": "200"}


def test_the_callback_s_parameters_come_from_the_path_form() -> None:
    assert callback_parameters(VENDOR, "abc123") == {**VENDOR, "merchantBizId": "abc123"}


def test_the_callback_s_parameters_come_from_the_earlier_query_form() -> None:
    assert callback_parameters({"merchantBizId": "abc123", **VENDOR}, None) == {**VENDOR, "merchantBizId": "abc123"}


def test_parameters_glued_on_with_a_question_mark_after_the_earlier_query_are_read() -> None:
    """``/callback?merchantBizId=abc123?callbackToken=tok&transactionId=tx1...``: FC reads the id as
    ``abc123?callbackToken=tok``."""
    url = "https://kyc.example.com/callback?merchantBizId=abc123?" + urlencode(VENDOR)
    query = dict(parse_qsl(urlsplit(url).query))
    assert query["merchantBizId"] == "abc123?callbackToken=tok"
    assert callback_parameters(query, None) == {**VENDOR, "merchantBizId": "abc123"}


def test_parameters_glued_on_with_an_ampersand_after_the_path_are_read() -> None:
    assert callback_parameters({}, "abc123&" + urlencode(VENDOR)) == {**VENDOR, "merchantBizId": "abc123"}


def test_a_glued_parameter_never_overrides_one_of_the_real_query() -> None:
    assert callback_parameters({"callbackToken": "real"}, "abc123&callbackToken=glued")["callbackToken"] == "real"


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


@st.composite
def public_urls(draw: st.DrawFn) -> str:
    """Any URL an operator might configure: safe ones, and safe ones with an unsafe character put anywhere."""
    url = draw(safe_urls())
    if draw(st.booleans()):
        at = draw(st.integers(0, len(url)))
        url = url[:at] + draw(unsafe_chars) + url[at:]
    return url


@settings(max_examples=300)
@given(public_url=public_urls(), merchant_biz_id=st.text("abcdefABCDEF0123456789", min_size=1, max_size=32))
def test_a_callback_url_built_from_any_accepted_public_url_is_a_safe_url(public_url: str, merchant_biz_id: str) -> None:
    env = {"KYC_PUBLIC_URL": public_url, "KYC_JWT_SECRET": "j" * 32, "KYC_USER_ID_PEPPER": "p" * 16,
           "KYC_RETURN_URL_ALLOWLIST": "https://shop.example/"}  # fmt: skip
    try:
        settings_ = FrontendSettings.from_env(env)
    except ConfigError:
        return
    assert is_merchant_biz_id(merchant_biz_id)
    built = callback_url(settings_.public_url, merchant_biz_id)
    parts = check_url(built)  # never raises: nothing a header or a request line could be split with
    assert parts.path.endswith(f"/callback/{merchant_biz_id}") and parts.query == ""


def test_a_vendor_parameter_sent_in_another_casing_is_read_under_its_documented_name() -> None:
    """Initialize's metadata says "the CallbackToken field will be displayed in the callback address" while its
    example shows ``callbackToken=``: the casing is unverified, so both are read."""
    query = callback_parameters({"CallbackToken": "tok", "TransactionId": "tx1"}, "abc123")
    assert (query["callbackToken"], query["transactionId"]) == ("tok", "tx1")


def test_the_documented_casing_wins_over_another() -> None:
    query = callback_parameters({"CallbackToken": "other", "callbackToken": "tok"}, "abc123")
    assert query["callbackToken"] == "tok"
