"""The local servers' RPC HMAC-SHA1 (V1) verifier (``tools/rpc_v1.py``): the page's encoding rule, the published
example, the official SDKs' signers as the oracle on generated requests, then each refusal.

Oracles: ``aliyunsdkcore.auth.composer.rpc_signature_composer`` (``get_signed_url``: the SDK adds its own common
parameters, signs the query with the form body and writes the URL) and
``alibabacloud_openapi_util.client.Client.get_rpcsignature`` (what ``alibabacloud_tea_openapi`` signs V1 with). The
verifier shares no code with the project's signer (``shared/signing.py``), which is checked against the same oracle
in ``tests/test_signing.py``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tools import rpc_v1

PROPERTY = settings(max_examples=300, deadline=None)


def _composer() -> Any:
    from aliyunsdkcore.auth.composer import rpc_signature_composer

    return rpc_signature_composer


def sdk_signed_query(method: str, params: dict[str, str], body: dict[str, str], ak: str, secret: str) -> dict[str, str]:
    """What ``aliyunsdkcore`` sends in the query (decoded), its own common parameters and ``Signature`` included."""
    url, _ = _composer().get_signed_url(dict(params), ak, secret, "JSON", method, dict(body))
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def sdk_string_to_sign(method: str, params: dict[str, str]) -> str:
    result: str = vars(_composer())["__compose_string_to_sign"](method, dict(params))
    return result


def tea_signature(method: str, params: dict[str, str], secret: str) -> str:
    from alibabacloud_openapi_util.client import Client

    result: str = Client.get_rpcsignature(dict(params), method, secret)
    return result


def refusal(call: Any, *args: Any) -> rpc_v1.Refused:
    with pytest.raises(rpc_v1.Refused) as caught:
        call(*args)
    return caught.value


# --- the page's rules and its example ----------------------------------------------------------------------


@pytest.mark.parametrize(("text", "encoded"), [
    ("AZaz09-_.~", "AZaz09-_.~"), (" ", "%20"), ("*", "%2A"), ("+", "%2B"), ("/", "%2F"), ("%", "%25"),
    ("=&", "%3D%26"), ('"', "%22"), ("é", "%C3%A9"), ("中", "%E4%B8%AD"), ("😀", "%F0%9F%98%80"),
])
def test_percent_encoding_keeps_only_the_unreserved_characters(text: str, encoded: str) -> None:
    assert rpc_v1.percent_encode(text) == encoded


VECTOR = {
    "Action": "DescribeDedicatedHosts", "Version": "2014-05-26", "Format": "JSON", "RegionId": "cn-beijing",
    "AccessKeyId": "testid", "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
    "SignatureNonce": "edb2b34af0af9a6d14deaf7c1a5315eb", "Timestamp": "2023-03-13T08:34:30Z",
}
VECTOR_SIGNATURE = "9NaGiOspFP5UPcwX8Iwt2YJXXuk="  # the published example's, secret "testsecret", GET


def test_the_published_example_verifies() -> None:
    rpc_v1.check_signature("testsecret", "GET", {**VECTOR, "Signature": VECTOR_SIGNATURE})


def test_the_published_examples_string_to_sign_is_sorted_and_encoded_twice() -> None:
    assert rpc_v1.string_to_sign("GET", {**VECTOR, "Signature": "left out"}) == (
        "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeDedicatedHosts%26Format%3DJSON%26RegionId%3Dcn-beijing"
        "%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3Dedb2b34af0af9a6d14deaf7c1a5315eb"
        "%26SignatureVersion%3D1.0%26Timestamp%3D2023-03-13T08%253A34%253A30Z%26Version%3D2014-05-26")


# --- against the official SDKs -----------------------------------------------------------------------------

AWKWARD = ["", " ", "*", "~", "/", "+", "%", "%20", "a b", "a+b", "~/*", "=&", "中文", "é", "😀", '{"a": 1}']
values = st.one_of(st.sampled_from(AWKWARD), st.text(max_size=30))
# Names too may hold reserved and non-ASCII characters: they are encoded, and sorted before they are encoded.
names = st.one_of(st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,15}", fullmatch=True),
                  st.sampled_from(["a b", "a*", "a~", "a-", "a.", "a_", "a/", "aé", "a中", "A", "a", "Z~"]),
                  st.text(min_size=1, max_size=8))
parameters = st.dictionaries(names, values, max_size=6)
methods = st.sampled_from(["GET", "POST"])
secrets = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=30)


@PROPERTY
@given(method=methods, params=parameters)
def test_the_string_to_sign_is_aliyunsdkcores(method: str, params: dict[str, str]) -> None:
    assert rpc_v1.string_to_sign(method, params) == sdk_string_to_sign(method, params)


@PROPERTY
@given(method=methods, query=parameters, body=parameters, secret=secrets)
def test_every_request_aliyunsdkcore_signs_verifies_with_its_form_body(
    method: str, query: dict[str, str], body: dict[str, str], secret: str
) -> None:
    sent = sdk_signed_query(method, query, body, "AKID", secret)
    rpc_v1.check_signature_fields(sent)
    rpc_v1.check_signature(secret, method, rpc_v1.signed_parameters(sent, body))


@PROPERTY
@given(method=methods, params=parameters, secret=secrets)
def test_the_signature_is_the_tea_sdks(method: str, params: dict[str, str], secret: str) -> None:
    params = {name: value for name, value in params.items() if name != rpc_v1.SIGNATURE}
    assert rpc_v1.signature(secret, rpc_v1.string_to_sign(method, params)) == tea_signature(method, params, secret)


@PROPERTY
@given(query=st.dictionaries(names, values, min_size=1, max_size=6), replacement=values)
def test_a_changed_query_value_no_longer_verifies(query: dict[str, str], replacement: str) -> None:
    sent = sdk_signed_query("POST", query, {}, "AKID", "secret")
    name = sorted(query)[0]
    if sent[name] == replacement:
        return
    changed = {**sent, name: replacement}
    problem = refusal(rpc_v1.check_signature, "secret", "POST", changed)
    assert (problem.problem, problem.detail) == (rpc_v1.Problem.SIGNATURE, rpc_v1.string_to_sign("POST", changed))


def test_the_form_body_is_signed_with_the_query() -> None:
    sent = sdk_signed_query("POST", {"MerchantBizId": "b1"}, {"FacePictureBase64": "aGk+/="}, "AKID", "secret")
    rpc_v1.check_signature("secret", "POST", rpc_v1.signed_parameters(sent, {"FacePictureBase64": "aGk+/="}))
    for body in ({}, {"FacePictureBase64": "other"}):
        problem = refusal(rpc_v1.check_signature, "secret", "POST", rpc_v1.signed_parameters(sent, body))
        assert problem.problem is rpc_v1.Problem.SIGNATURE


def test_a_form_body_value_wins_over_a_query_value_of_the_same_name() -> None:
    assert rpc_v1.signed_parameters({"A": "query", "B": "b"}, {"A": "body"}) == {"A": "body", "B": "b"}


# --- refusals ----------------------------------------------------------------------------------------------


def test_a_wrong_secret_is_a_signature_refusal() -> None:
    sent = sdk_signed_query("POST", {"A": "1"}, {}, "AKID", "other")
    assert refusal(rpc_v1.check_signature, "secret", "POST", sent).problem is rpc_v1.Problem.SIGNATURE


def test_a_signature_wrong_only_in_its_last_character_is_refused() -> None:
    sent = sdk_signed_query("POST", {"A": "1"}, {}, "AKID", "secret")
    last = sent["Signature"][-2]  # the last before base64's "=" padding (20 bytes: one "=")
    sent["Signature"] = sent["Signature"][:-2] + ("A" if last != "A" else "B") + sent["Signature"][-1]
    assert refusal(rpc_v1.check_signature, "secret", "POST", sent).problem is rpc_v1.Problem.SIGNATURE


def test_a_missing_signature_is_a_signature_refusal() -> None:
    sent = sdk_signed_query("POST", {"A": "1"}, {}, "AKID", "secret")
    del sent["Signature"]
    assert refusal(rpc_v1.check_signature, "secret", "POST", sent).problem is rpc_v1.Problem.SIGNATURE


def test_the_method_is_part_of_the_string_to_sign() -> None:
    sent = sdk_signed_query("POST", {"A": "1"}, {}, "AKID", "secret")
    assert refusal(rpc_v1.check_signature, "secret", "GET", sent).problem is rpc_v1.Problem.SIGNATURE


FIELDS = {"SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0", "Signature": "c2ln"}


def test_the_signature_fields_of_an_sdk_request_pass() -> None:
    rpc_v1.check_signature_fields(FIELDS)
    rpc_v1.check_signature_fields({k: v for k, v in FIELDS.items() if k != "SignatureVersion"})


@pytest.mark.parametrize("method", [None, "", "HMAC-SHA256", "hmac-sha1"])
def test_a_signature_method_other_than_hmac_sha1_is_refused(method: str | None) -> None:
    fields = {k: v for k, v in FIELDS.items() if k != "SignatureMethod"}
    if method is not None:
        fields["SignatureMethod"] = method
    assert refusal(rpc_v1.check_signature_fields, fields).problem is rpc_v1.Problem.OTHER_METHOD


@pytest.mark.parametrize("version", ["", "2.0", "1"])
def test_a_signature_version_other_than_1_0_is_refused(version: str) -> None:
    fields = {**FIELDS, "SignatureVersion": version}
    assert refusal(rpc_v1.check_signature_fields, fields).problem is rpc_v1.Problem.OTHER_VERSION


@pytest.mark.parametrize("fields", [{**FIELDS, "Signature": ""}, {k: v for k, v in FIELDS.items() if k != "Signature"}])
def test_an_empty_or_absent_signature_is_incomplete(fields: dict[str, str]) -> None:
    assert refusal(rpc_v1.check_signature_fields, fields).problem is rpc_v1.Problem.INCOMPLETE
