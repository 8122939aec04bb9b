"""One rule for merchantBizId and TransactionId (shared.ids), and every door that takes an id applies it."""

from __future__ import annotations

import argparse
import re

import pytest

from shared.cloudauth import ParameterError
from shared.cloudauth.params import check_value
from shared.ids import (
    idempotency_claim_key,
    is_merchant_biz_id,
    is_result_document_key,
    is_transaction_id,
    merchant_biz_id_for_key,
    new_merchant_biz_id,
    validate_merchant_biz_id,
)
from shared.messages import NotifyMessage, RecheckMessage
from shared.storage import TransactionRecord
from tools.ops.common import merchant_biz_id_arg

VALID = ["0f8fad5bd9cb469fa16570867728950e", "a", "Z9", "x" * 32]
# The old storage regex let "_-." through; str.isalnum lets non-ASCII letters and digits through.
INVALID = ["", "x" * 33, "a_b", "a-b", "a.b", "../etc", "has space", "é", "abc٣", "ａｂｃ", "a\x00", None, 7]


@pytest.mark.parametrize("value", VALID)
def test_our_ids_are_valid_merchant_biz_ids(value: str) -> None:
    assert is_merchant_biz_id(value) and validate_merchant_biz_id(value) == value


@pytest.mark.parametrize("value", INVALID)
def test_the_vendor_rule_refuses_everything_but_1_to_32_ascii_letters_or_digits(value: object) -> None:
    assert not is_merchant_biz_id(value)
    with pytest.raises(ValueError, match="1-32 letters or digits"):
        validate_merchant_biz_id(value)


@pytest.mark.parametrize("value", [v for v in INVALID if isinstance(v, str)])
def test_every_door_refuses_the_same_ids(value: str) -> None:
    with pytest.raises(ValueError):
        TransactionRecord(merchant_biz_id=value, transaction_id="t", merchant_user_id="u", doc_type="01000000")
    if value:  # an empty parameter is "missing" to the client, not "invalid"
        with pytest.raises(ParameterError) as info:
            check_value("MerchantBizId", value)
        assert info.value.code == "InvalidParameter"
    assert RecheckMessage.from_body({"merchantBizId": value}) is None
    assert NotifyMessage.from_body({"merchantBizId": value}) is None
    with pytest.raises(argparse.ArgumentTypeError):
        merchant_biz_id_arg(value)


@pytest.mark.parametrize("value", ["08573be80f944d95ac812e019e3655a8", "hksb7ba1b-015d694361bee4", "!" * 128])
def test_transaction_ids_of_printable_ascii_are_accepted(value: str) -> None:
    assert is_transaction_id(value) and check_value("TransactionId", value) == value


@pytest.mark.parametrize("value", ["", "a b", "x" * 129, "tx\n", "tx\x7f", "交易", None])
def test_transaction_ids_outside_the_bound_are_refused(value: object) -> None:
    assert not is_transaction_id(value)


@pytest.mark.parametrize(
    ("key", "is_one"),
    [
        ("results/{m}/0123abcd/result.json", True),
        ("results/{m}/result.json", True),  # where releases before answer folders kept it
        ("results/{m}/0123abcd/image1.jpg", False),
        ("results/{m}/0123abcd/more/result.json", False),
        ("results/{m}//result.json", False),
        ("results/{m}x/0123abcd/result.json", False),  # another verification's
        ("results/other/0123abcd/result.json", False),
        ("", False),
    ],
)
def test_a_result_document_key_is_under_its_own_verification_s_results(key: str, is_one: bool) -> None:
    mbid = "0123456789abcdef0123456789abcdef"
    assert is_result_document_key(mbid, key.format(m=mbid)) is is_one


def test_a_new_merchant_biz_id_is_32_hex_digits_of_its_own() -> None:
    """128 random bits: the vendor's longest id, never one a rate-limit counter ("rl"...) or a claim ("ik"...) has."""
    ids = {new_merchant_biz_id() for _ in range(100)}
    assert len(ids) == 100 and all(re.fullmatch("[0-9a-f]{32}", mbid) for mbid in ids)


def test_a_keyed_merchant_biz_id_is_32_hex_digits_and_its_claim_is_ik_and_30() -> None:
    assert re.fullmatch("[0-9a-f]{32}", merchant_biz_id_for_key("owner", "key", 19000, "pepper" * 4))
    assert re.fullmatch("ik[0-9a-f]{30}", idempotency_claim_key("owner", "key", "pepper" * 4))
