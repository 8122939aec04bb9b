"""The local servers' ACS3-HMAC-SHA256 verifier (``tools/acs3.py``): the published vector, the official SDK's signer
as the oracle on generated requests, then each refusal.

Oracle: ``alibabacloud_openapi_util.client.Client.get_authorization`` (what ``alibabacloud_tea_openapi`` signs with).
The verifier shares no code with the project's signer (``shared/signing.py``), which is checked against the same
oracle in ``tests/test_signing.py``.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tools import acs3

PROPERTY = settings(max_examples=300, deadline=None)


def sdk_authorization(method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes,
                      ak: str, secret: str) -> str:
    from alibabacloud_openapi_util.client import Client
    from Tea.request import TeaRequest

    request = TeaRequest()
    request.method, request.pathname, request.query, request.headers = method, path, dict(query), dict(headers)
    result: str = Client.get_authorization(request, "ACS3-HMAC-SHA256", hashlib.sha256(body).hexdigest(), ak, secret)
    return result


def verify(method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes, secret: str) -> None:
    """Every step in one order (the servers each add their own checks between them)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    authorization = acs3.parse_authorization(lowered["authorization"])
    acs3.check_signed_headers(authorization, lowered)
    payload_hash = acs3.hashed_payload(lowered, body)
    acs3.check_signature(authorization, secret, method=method, path=path, query=query, headers=lowered,
                         payload_hash=payload_hash)


def refusal(call: Any, *args: Any, **kwargs: Any) -> acs3.Refused:
    with pytest.raises(acs3.Refused) as caught:
        call(*args, **kwargs)
    return caught.value


# --- against the vector and the SDK ------------------------------------------------------------------------

VECTOR_QUERY = {"ImageId": "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd", "RegionId": "cn-shanghai"}
VECTOR_HEADERS = {
    "host": "ecs.cn-shanghai.aliyuncs.com", "x-acs-action": "RunInstances", "x-acs-version": "2014-05-26",
    "x-acs-date": "2023-10-26T10:22:32Z", "x-acs-signature-nonce": "3156853299f313e23d1673dc12e1703d",
    "x-acs-content-sha256": hashlib.sha256(b"").hexdigest(),
}
VECTOR_SIGNATURE = "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"


def test_the_published_vector_verifies() -> None:
    authorization = (f"ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders={';'.join(sorted(VECTOR_HEADERS))},"
                     f"Signature={VECTOR_SIGNATURE}")
    verify("POST", "/", VECTOR_QUERY, {**VECTOR_HEADERS, "authorization": authorization}, b"", "YourAccessKeySecret")


def test_the_published_vectors_hashed_canonical_request() -> None:
    canonical = acs3.canonical_request("POST", "/", VECTOR_QUERY, VECTOR_HEADERS, tuple(VECTOR_HEADERS),
                                       hashlib.sha256(b"").hexdigest())
    assert hashlib.sha256(canonical.encode()).hexdigest() == (
        "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259")


AWKWARD = ["", " ", "*", "~", "/", "+", "%", "%20", "a b", "a+b", "~/*", "=&", "中文", "é", "😀", '{"a": 1}']
values = st.one_of(st.sampled_from(AWKWARD), st.text(max_size=30))
names = st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,15}", fullmatch=True)  # the SDK sends names as they are
header_values = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)


@PROPERTY
@given(
    method=st.sampled_from(["GET", "POST", "PUT"]),
    path=st.sampled_from(["/", "/2023-03-30/functions/kyc-sweeper/invocations"]),
    query=st.dictionaries(names, values, max_size=6),
    extra=st.dictionaries(st.sampled_from(["x-acs-zz", "content-type", "user-agent", "X-Acs-Security-Token"]),
                          header_values, max_size=3),
    body=st.binary(max_size=100),
    secret=st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=30),
)
def test_every_request_the_sdk_signs_verifies(method: str, path: str, query: dict[str, str], extra: dict[str, str],
                                              body: bytes, secret: str) -> None:
    headers = {"host": "example.aliyuncs.com", "x-acs-action": "Act", "x-acs-version": "2022-08-09",
               "x-acs-date": "2024-01-01T00:00:00Z", "x-acs-signature-nonce": "n" * 32,
               "x-acs-content-sha256": hashlib.sha256(body).hexdigest(), **extra}
    headers["authorization"] = sdk_authorization(method, path, query, headers, body, "AKID", secret)
    verify(method, path, query, headers, body, secret)


@PROPERTY
@given(query=st.dictionaries(names, values, min_size=1, max_size=6), replacement=values)
def test_a_changed_query_value_no_longer_verifies(query: dict[str, str], replacement: str) -> None:
    headers = {"host": "h", "x-acs-date": "2024-01-01T00:00:00Z"}
    headers["authorization"] = sdk_authorization("POST", "/", query, headers, b"", "AKID", "secret")
    name = sorted(query)[0]
    if query[name] == replacement:
        return
    problem = refusal(verify, "POST", "/", {**query, name: replacement}, headers, b"", "secret")
    assert problem.problem is acs3.Problem.SIGNATURE and len(problem.detail) == 64


# --- refusals ----------------------------------------------------------------------------------------------


def signed(headers: dict[str, str], *, names: str | None = None, secret: str = "secret") -> dict[str, str]:
    headers = {"host": "h", "x-acs-date": "2024-01-01T00:00:00Z", **headers}
    authorization = sdk_authorization("POST", "/", {}, headers, b"", "AKID", secret)
    if names is not None:
        authorization = authorization.replace(f"SignedHeaders={';'.join(sorted(headers))}", f"SignedHeaders={names}")
    return {**headers, "authorization": authorization}


def test_a_wrong_secret_is_a_signature_refusal() -> None:
    assert refusal(verify, "POST", "/", {}, signed({}, secret="other"), b"", "secret").problem is acs3.Problem.SIGNATURE


def test_a_signature_wrong_only_in_its_last_digit_is_refused() -> None:
    headers = signed({})
    last = headers["authorization"][-1]
    headers["authorization"] = headers["authorization"][:-1] + ("0" if last != "0" else "1")
    assert refusal(verify, "POST", "/", {}, headers, b"", "secret").problem is acs3.Problem.SIGNATURE


def test_an_empty_path_is_signed_as_the_root() -> None:
    """The SDK signs an empty pathname as "/" (``get_authorization``: ``request.pathname if request.pathname else
    '/'``)."""
    headers = {"host": "h", "x-acs-date": "2024-01-01T00:00:00Z"}
    headers["authorization"] = sdk_authorization("POST", "", {}, headers, b"", "AKID", "secret")
    verify("POST", "", {}, headers, b"", "secret")


def test_another_algorithm_is_refused() -> None:
    assert refusal(acs3.parse_authorization, "HMAC-SHA1 Credential=a,SignedHeaders=host,Signature=00").problem is (
        acs3.Problem.OTHER_ALGORITHM)


@pytest.mark.parametrize("value", ["ACS3-HMAC-SHA256 SignedHeaders=host,Signature=00",
                                   "ACS3-HMAC-SHA256 Credential=a,Signature=00",
                                   "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=;,Signature=00",
                                   "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host"])
def test_an_authorization_without_one_of_its_fields_is_incomplete(value: str) -> None:
    assert refusal(acs3.parse_authorization, value).problem is acs3.Problem.INCOMPLETE


def test_the_authorization_fields_are_read_with_their_header_names_lower_cased() -> None:
    parsed = acs3.parse_authorization(" ACS3-HMAC-SHA256 Credential=AK, SignedHeaders=Host;X-Acs-Date, Signature=AB ")
    assert parsed == acs3.Authorization("AK", ("host", "x-acs-date"), "ab")


@pytest.mark.parametrize("unsigned", ["host", "x-acs-date", "x-acs-extra"])
def test_host_and_every_x_acs_header_must_be_signed(unsigned: str) -> None:
    headers = signed({"x-acs-extra": "1"})
    names = ";".join(sorted(set(headers) - {"authorization", unsigned}))
    authorization = acs3.parse_authorization(signed({"x-acs-extra": "1"}, names=names)["authorization"])
    problem = refusal(acs3.check_signed_headers, authorization, headers)
    assert (problem.problem, problem.detail) == (acs3.Problem.UNSIGNED_HEADERS, unsigned)


def test_every_unsigned_header_is_named() -> None:
    headers = signed({"x-acs-extra": "1"})
    authorization = acs3.parse_authorization(signed({"x-acs-extra": "1"}, names="x-acs-date")["authorization"])
    problem = refusal(acs3.check_signed_headers, authorization, headers)
    assert (problem.problem, problem.detail) == (acs3.Problem.UNSIGNED_HEADERS, "host, x-acs-extra")


def test_other_headers_may_go_unsigned() -> None:
    headers = signed({})
    acs3.check_signed_headers(acs3.parse_authorization(headers["authorization"]), {**headers, "user-agent": "x"})


def test_a_signed_header_must_be_sent() -> None:
    headers = signed({"user-agent": "x"})
    authorization = acs3.parse_authorization(headers["authorization"])
    del headers["user-agent"]
    problem = refusal(acs3.check_signed_headers, authorization, headers)
    assert (problem.problem, problem.detail) == (acs3.Problem.ABSENT_HEADERS, "user-agent")


def test_every_signed_header_not_sent_is_named() -> None:
    headers = signed({"user-agent": "x", "content-type": "y"})
    authorization = acs3.parse_authorization(headers["authorization"])
    del headers["user-agent"], headers["content-type"]
    problem = refusal(acs3.check_signed_headers, authorization, headers)
    assert (problem.problem, problem.detail) == (acs3.Problem.ABSENT_HEADERS, "content-type, user-agent")


def test_the_content_hash_must_be_the_bodys() -> None:
    assert acs3.hashed_payload({}, b"abc") == hashlib.sha256(b"abc").hexdigest()
    assert acs3.hashed_payload({"x-acs-content-sha256": hashlib.sha256(b"abc").hexdigest()}, b"abc")
    assert refusal(acs3.hashed_payload, {"x-acs-content-sha256": "0" * 64}, b"abc").problem is (
        acs3.Problem.PAYLOAD_HASH)


def test_a_timestamp_within_the_window_is_its_time() -> None:
    assert acs3.check_timestamp("2024-01-01T00:00:00Z", 1704067200 + 899, 900) == 1704067200


def test_a_timestamp_exactly_at_the_window_edge_is_within_it() -> None:
    assert acs3.check_timestamp("2024-01-01T00:00:00Z", 1704067200 + 900, 900) == 1704067200


def test_a_timestamp_is_read_as_utc_whatever_the_local_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    try:
        assert acs3.check_timestamp("2024-01-01T00:00:00Z", 1704067200, 900) == 1704067200
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize("skew", [-901, 901])
def test_a_timestamp_beyond_the_window_is_skewed(skew: int) -> None:
    assert refusal(acs3.check_timestamp, "2024-01-01T00:00:00Z", 1704067200 + skew, 900).problem is (
        acs3.Problem.TIMESTAMP_SKEWED)


@pytest.mark.parametrize("value", ["2024-01-01 00:00:00", "2024-01-01T00:00:00+08:00", "yesterday", ""])
def test_a_timestamp_of_another_form_is_refused(value: str) -> None:
    assert refusal(acs3.check_timestamp, value, time.time(), 900).problem is acs3.Problem.TIMESTAMP_FORMAT
