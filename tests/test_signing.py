"""Request signing: the published vectors, then the official SDKs' own signers as oracles on generated input.

Oracles:
- V3: ``alibabacloud_openapi_util.client.Client.get_authorization`` (what ``alibabacloud_tea_openapi`` calls).
- V1: ``aliyunsdkcore.auth.composer.rpc_signature_composer`` (``__compose_string_to_sign``, ``get_signed_url``)
  and ``aliyunsdkcore.auth.algorithm.sha_hmac1.get_sign_string``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.signing import (
    Credentials,
    acs3_authorization,
    acs3_canonical_request,
    canonical_query_string,
    percent_encode,
    sha256_hex,
    sign_acs3_request,
    sign_v1_params,
    v1_signature,
    v1_string_to_sign,
)

PROPERTY = settings(max_examples=300, deadline=None)

# --- oracles ---------------------------------------------------------------------------------------------


def sdk_v3_authorization(
    method: str, pathname: str, query: dict[str, str], headers: dict[str, str], payload: str, ak: str, secret: str
) -> str:
    from alibabacloud_openapi_util.client import Client
    from Tea.request import TeaRequest

    request = TeaRequest()
    request.method = method
    request.pathname = pathname
    request.query = dict(query)
    request.headers = dict(headers)
    result: str = Client.get_authorization(request, "ACS3-HMAC-SHA256", payload, ak, secret)
    return result


def _rpc_composer() -> Any:
    from aliyunsdkcore.auth.composer import rpc_signature_composer

    return rpc_signature_composer


def sdk_v1_string_to_sign(method: str, params: dict[str, str]) -> str:
    compose: Callable[[str, dict[str, str]], str] = vars(_rpc_composer())["__compose_string_to_sign"]
    return compose(method, dict(params))


def sdk_v1_signature(method: str, params: dict[str, str], secret: str) -> str:
    from aliyunsdkcore.auth.algorithm import sha_hmac1

    signature: str = sha_hmac1.get_sign_string(sdk_v1_string_to_sign(method, params), secret + "&")
    return signature


# --- strategies ------------------------------------------------------------------------------------------

AWKWARD = ["", " ", "*", "~", "/", "+", "%", "%20", "a b", "a+b", "~/*", "=&", "中文", "é", "😀", '{"a": 1}']
json_strings = st.dictionaries(
    st.text(min_size=1, max_size=8), st.one_of(st.integers(), st.text(max_size=10), st.booleans()), max_size=4
).map(lambda d: json.dumps(d, ensure_ascii=False))
values = st.one_of(st.sampled_from(AWKWARD), st.text(max_size=40), json_strings)
keys = st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,19}", fullmatch=True)
queries = st.dictionaries(keys, values, max_size=8)
# Header-safe credentials: AK ids and secrets are ASCII; STS tokens are long base64-ish strings.
key_ids = st.from_regex(r"[A-Za-z0-9]{8,30}", fullmatch=True)
key_secrets = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40)
sts_tokens = st.one_of(
    st.none(), st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", min_size=1)
)
credentials = st.builds(Credentials, key_ids, key_secrets, sts_tokens)
methods = st.sampled_from(["GET", "POST", "PUT", "DELETE"])
nonces = st.from_regex(r"[0-9a-f]{32}", fullmatch=True)
dates = st.from_regex(r"20[23][0-9]-(0[1-9]|1[0-2])-[0-2][1-9]T[01][0-9]:[0-5][0-9]:[0-5][0-9]Z", fullmatch=True)


# --- V3 --------------------------------------------------------------------------------------------------

V3_VECTOR_QUERY = {"ImageId": "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd", "RegionId": "cn-shanghai"}
V3_VECTOR_SIGNATURE = "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"


def _v3_vector_headers() -> dict[str, str]:
    return sign_acs3_request(
        credentials=Credentials("YourAccessKeyId", "YourAccessKeySecret"),
        method="POST",
        host="ecs.cn-shanghai.aliyuncs.com",
        action="RunInstances",
        version="2014-05-26",
        query=V3_VECTOR_QUERY,
        date="2023-10-26T10:22:32Z",
        nonce="3156853299f313e23d1673dc12e1703d",
    )


def test_v3_official_vector_authorization() -> None:
    assert _v3_vector_headers()["Authorization"] == (
        "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,"
        "SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,"
        f"Signature={V3_VECTOR_SIGNATURE}"
    )


def test_v3_official_vector_hashed_canonical_request() -> None:
    headers = {k: v for k, v in _v3_vector_headers().items() if k != "Authorization"}
    request, _ = acs3_canonical_request("POST", "/", V3_VECTOR_QUERY, headers, sha256_hex(b""))
    assert sha256_hex(request.encode()) == "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"


@PROPERTY
@given(
    creds=credentials,
    method=methods,
    query=queries,
    body=st.binary(max_size=200),
    content_type=st.sampled_from([None, "application/x-www-form-urlencoded", "application/json"]),
    date=dates,
    nonce=nonces,
)
def test_v3_sign_acs3_request_matches_official_sdk(
    creds: Credentials, method: str, query: dict[str, str], body: bytes, content_type: str | None, date: str, nonce: str
) -> None:
    headers = sign_acs3_request(
        credentials=creds,
        method=method,
        host="cloudauth-intl.ap-southeast-1.aliyuncs.com",
        action="CheckResult",
        version="2022-08-09",
        query=query,
        body=body,
        content_type=content_type,
        date=date,
        nonce=nonce,
    )
    signed = {k: v for k, v in headers.items() if k != "Authorization"}
    payload = hashlib.sha256(body).hexdigest()
    expected = sdk_v3_authorization(
        method, "/", query, signed, payload, creds.access_key_id, creds.access_key_secret
    )
    assert headers["Authorization"] == expected



@settings(max_examples=100, deadline=None)
@given(
    key_id=key_ids,
    secret=st.one_of(
        st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=63, max_size=200),
        st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=64, max_size=65),
    ),
    query=queries,
    date=dates,
    nonce=nonces,
)
def test_v3_secrets_longer_than_the_hmac_block_sign_as_the_official_sdk_signs_them(
    key_id: str, secret: str, query: dict[str, str], date: str, nonce: str
) -> None:
    """The HMAC is done by hand (precomputed key states, RFC 2104): a key longer than SHA-256's 64-byte block is
    hashed first. ``key_secrets`` above stop at 40 characters, so no SDK comparison reached that branch (review bf:
    skipping the hash passed every test)."""
    headers = sign_acs3_request(
        credentials=Credentials(key_id, secret), method="POST", host="cloudauth-intl.ap-southeast-1.aliyuncs.com",
        action="CheckResult", version="2022-08-09", query=query, date=date, nonce=nonce,
    )
    signed = {k: v for k, v in headers.items() if k != "Authorization"}
    expected = sdk_v3_authorization("POST", "/", query, signed, hashlib.sha256(b"").hexdigest(), key_id, secret)
    assert headers["Authorization"] == expected


@PROPERTY
@given(
    creds=credentials,
    pathname=st.sampled_from(["/", "/api/v1/x", ""]),
    query=queries,
    extra=st.dictionaries(
        st.sampled_from(["user-agent", "Accept", "host", "X-Acs-Version", "x-acs-date", "x-acs-signature-nonce",
                         "x-acs-content-sha256", "x-acs-zz", "content-type", "a"]),
        st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30),
        max_size=4,
    ),
    date=dates,
    nonce=nonces,
)
def test_v3_extra_headers_are_sent_and_signed_as_the_official_sdk_signs_them(
    creds: Credentials, pathname: str, query: dict[str, str], extra: dict[str, str], date: str, nonce: str
) -> None:
    headers = sign_acs3_request(
        credentials=creds,
        method="POST",
        host="cloudauth-intl.ap-southeast-1.aliyuncs.com",
        action="CheckResult",
        version="2022-08-09",
        query=query,
        pathname=pathname,
        date=date,
        nonce=nonce,
        extra_headers=extra,
    )
    signed = {k: v for k, v in headers.items() if k != "Authorization"}
    assert {name.lower(): value for name, value in extra.items()}.items() <= signed.items()
    expected = sdk_v3_authorization(
        "POST", pathname, query, signed, sha256_hex(b""), creds.access_key_id, creds.access_key_secret
    )
    assert headers["Authorization"] == expected


def test_v3_repeated_requests_of_one_shape_each_sign_their_own_date_and_nonce() -> None:
    creds = Credentials("ak", "sk", "sts-token")
    for date, nonce in [("2024-01-01T00:00:00Z", "n1"), ("2024-01-01T00:00:01Z", "n2"), ("2024-01-01T00:00:01Z", "n1")]:
        headers = sign_acs3_request(
            credentials=creds, method="POST", host="h", action="A", version="v", query={"A": "1"}, body=b"x=1",
            content_type="application/x-www-form-urlencoded", date=date, nonce=nonce, extra_headers={"accept": "*/*"},
        )
        signed = {k: v for k, v in headers.items() if k != "Authorization"}
        assert (signed["x-acs-date"], signed["x-acs-signature-nonce"]) == (date, nonce)
        expected = sdk_v3_authorization("POST", "/", {"A": "1"}, signed, sha256_hex(b"x=1"), "ak", "sk")
        assert headers["Authorization"] == expected

@PROPERTY
@given(
    creds=credentials,
    method=methods,
    pathname=st.sampled_from(["/", "/api/v1/x", ""]),
    query=queries,
    headers=st.dictionaries(
        st.from_regex(r"(x-acs-|X-Acs-)[a-z]{1,10}|host|content-type", fullmatch=True),
        st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30),
        max_size=6,
    ),
    body=st.binary(max_size=100),
)
def test_v3_acs3_authorization_matches_official_sdk(
    creds: Credentials, method: str, pathname: str, query: dict[str, str], headers: dict[str, str], body: bytes
) -> None:
    # Header names differing only in case would be merged by the SDK (comma-joined) but not by us; we never
    # send such duplicates, so keep one spelling per lower-cased name.
    unique = {k.lower(): (k, v) for k, v in headers.items()}
    headers = dict(unique.values())
    payload = hashlib.sha256(body).hexdigest()
    ours = acs3_authorization(creds, method, pathname, query, headers, payload)
    ak, sk = creds.access_key_id, creds.access_key_secret
    theirs = sdk_v3_authorization(method, pathname, query, headers, payload, ak, sk)
    assert ours == theirs


def test_v3_each_request_gets_a_fresh_nonce() -> None:
    creds = Credentials("ak", "secret")
    nonces_seen = {
        sign_acs3_request(
            credentials=creds, method="POST", host="h", action="A", version="v", query={}, date="2024-01-01T00:00:00Z"
        )["x-acs-signature-nonce"]
        for _ in range(50)
    }
    assert len(nonces_seen) == 50


def test_v3_sts_token_is_sent_and_signed() -> None:
    common: dict[str, Any] = {
        "method": "POST",
        "host": "h",
        "action": "A",
        "version": "v",
        "query": {"A": "1"},
        "date": "2024-01-01T00:00:00Z",
        "nonce": "n",
    }
    with_token = sign_acs3_request(credentials=Credentials("ak", "sk", "sts-token-1"), **common)
    other_token = sign_acs3_request(credentials=Credentials("ak", "sk", "sts-token-2"), **common)
    assert with_token["x-acs-security-token"] == "sts-token-1"
    assert "x-acs-security-token" in with_token["Authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    assert with_token["Authorization"] != other_token["Authorization"]


def test_v3_without_sts_token_no_security_header() -> None:
    headers = sign_acs3_request(
        credentials=Credentials("ak", "sk"), method="POST", host="h", action="A", version="v", query={}
    )
    assert "x-acs-security-token" not in headers
    assert "x-acs-security-token" not in headers["Authorization"]


def test_v3_empty_query_gives_empty_canonical_query() -> None:
    assert canonical_query_string({}) == ""
    request, _ = acs3_canonical_request("POST", "/", {}, {"host": "h"}, sha256_hex(b""))
    assert request.split("\n")[2] == ""


def test_v3_canonical_query_is_sorted_by_name() -> None:
    assert canonical_query_string({"b": "2", "B": "1", "a": "3"}) == "B=1&a=3&b=2"


def test_v3_body_changes_content_sha256_header() -> None:
    common: dict[str, Any] = {
        "credentials": Credentials("ak", "sk"),
        "method": "POST",
        "host": "h",
        "action": "A",
        "version": "v",
        "query": {},
        "date": "2024-01-01T00:00:00Z",
        "nonce": "n",
    }
    empty = sign_acs3_request(body=b"", **common)
    full = sign_acs3_request(body=b"FacePictureBase64=x", **common)
    assert empty["x-acs-content-sha256"] == hashlib.sha256(b"").hexdigest()
    assert full["x-acs-content-sha256"] == hashlib.sha256(b"FacePictureBase64=x").hexdigest()
    assert empty["Authorization"] != full["Authorization"]


# --- percent encoding ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        (" ", "%20"),
        ("*", "%2A"),
        ("~", "~"),
        ("/", "%2F"),
        ("+", "%2B"),
        ("%", "%25"),
        ("=", "%3D"),
        ("&", "%26"),
        ("-_.", "-_."),
        ("AZaz09", "AZaz09"),
        ("é", "%C3%A9"),
        ("中", "%E4%B8%AD"),
        ('{"a":1}', "%7B%22a%22%3A1%7D"),
    ],
)
def test_percent_encode_rfc3986(raw: str, encoded: str) -> None:
    assert percent_encode(raw) == encoded


@PROPERTY
@given(st.text())
def test_percent_encode_keeps_only_unreserved_characters(value: str) -> None:
    encoded = percent_encode(value)
    assert re.fullmatch(r"(?:[A-Za-z0-9\-_.~]|%[0-9A-F]{2})*", encoded)
    expected = "".join(
        chr(b) if chr(b).isascii() and (chr(b).isalnum() or chr(b) in "-_.~") else f"%{b:02X}"
        for b in value.encode("utf-8")
    )
    assert encoded == expected


# --- V1 --------------------------------------------------------------------------------------------------


def test_v1_official_vector() -> None:
    params = {
        "Action": "DescribeDedicatedHosts",
        "Version": "2014-05-26",
        "Format": "JSON",
        "RegionId": "cn-beijing",
        "AccessKeyId": "testid",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": "edb2b34af0af9a6d14deaf7c1a5315eb",
        "Timestamp": "2023-03-13T08:34:30Z",
    }
    assert v1_signature("testsecret", "GET", params) == "9NaGiOspFP5UPcwX8Iwt2YJXXuk="


def test_v1_official_vector_through_sign_v1_params() -> None:
    signed = sign_v1_params(
        credentials=Credentials("testid", "testsecret"),
        action="DescribeDedicatedHosts",
        version="2014-05-26",
        params={"RegionId": "cn-beijing"},
        method="GET",
        timestamp="2023-03-13T08:34:30Z",
        nonce="edb2b34af0af9a6d14deaf7c1a5315eb",
    )
    assert signed["Signature"] == "9NaGiOspFP5UPcwX8Iwt2YJXXuk="


@PROPERTY
@given(params=queries, method=methods, secret=key_secrets)
def test_v1_string_to_sign_matches_aliyunsdkcore(params: dict[str, str], method: str, secret: str) -> None:
    assert v1_string_to_sign(method, params) == sdk_v1_string_to_sign(method, params)
    assert v1_signature(secret, method, params) == sdk_v1_signature(method, params, secret)


@PROPERTY
@given(creds=credentials, params=queries, method=methods, nonce=nonces, timestamp=dates)
def test_v1_sign_v1_params_matches_aliyunsdkcore(
    creds: Credentials, params: dict[str, str], method: str, nonce: str, timestamp: str
) -> None:
    signed = sign_v1_params(
        credentials=creds,
        action="CheckResult",
        version="2022-08-09",
        params=params,
        method=method,
        nonce=nonce,
        timestamp=timestamp,
    )
    unsigned = {k: v for k, v in signed.items() if k != "Signature"}
    assert signed["Signature"] == sdk_v1_signature(method, unsigned, creds.access_key_secret)
    if creds.security_token:
        assert signed["SecurityToken"] == creds.security_token
    else:
        assert "SecurityToken" not in signed


@PROPERTY
@given(params=queries, method=methods, ak=key_ids, secret=key_secrets, sts=sts_tokens)
def test_v1_verifies_urls_signed_by_aliyunsdkcore(
    params: dict[str, str], method: str, ak: str, secret: str, sts: str | None
) -> None:
    """End to end: the SDK adds its own common parameters and signs; we recompute the same signature."""
    sdk_params = dict(params)
    if sts:
        sdk_params["SecurityToken"] = sts
    url, _ = _rpc_composer().get_signed_url(sdk_params, ak, secret, "JSON", method, {})
    sent = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    signature = sent.pop("Signature")
    assert v1_signature(secret, method, sent) == signature


def test_v1_sts_token_is_signed() -> None:
    common: dict[str, Any] = {
        "action": "A",
        "version": "v",
        "params": {"X": "1"},
        "timestamp": "2024-01-01T00:00:00Z",
        "nonce": "n",
    }
    one = sign_v1_params(credentials=Credentials("ak", "sk", "token-1"), **common)
    two = sign_v1_params(credentials=Credentials("ak", "sk", "token-2"), **common)
    assert one["SecurityToken"] == "token-1"
    assert one["Signature"] != two["Signature"]


def test_v1_signature_ignores_a_stale_signature_parameter() -> None:
    params = {"A": "1", "B": "2"}
    assert v1_signature("sk", "POST", params) == v1_signature("sk", "POST", {**params, "Signature": "old"})


def test_v1_each_call_gets_a_fresh_nonce() -> None:
    creds = Credentials("ak", "sk")
    seen = {sign_v1_params(credentials=creds, action="A", version="v", params={})["SignatureNonce"] for _ in range(50)}
    assert len(seen) == 50


@pytest.mark.parametrize("value", [" v", "v ", "  a b  ", "\tv\t"])
def test_v3_an_extra_header_value_with_surrounding_blanks_is_signed_trimmed_as_the_official_sdk_signs_it(
    value: str,
) -> None:
    creds = Credentials("ak", "sk")
    headers = sign_acs3_request(credentials=creds, method="POST", host="cloudauth-intl.ap-southeast-1.aliyuncs.com",
                                action="CheckResult", version="2022-08-09", query={}, date="2024-01-01T00:00:00Z",
                                nonce="n1", extra_headers={"x-acs-zz": value})  # fmt: skip
    signed = {k: v for k, v in headers.items() if k != "Authorization"}
    assert headers["Authorization"] == sdk_v3_authorization("POST", "/", {}, signed, sha256_hex(b""), "ak", "sk")


def test_the_timestamp_of_a_fractional_second_is_that_second_floored() -> None:
    from shared.signing import utc_timestamp

    assert utc_timestamp(1_700_000_000.9) == "2023-11-14T22:13:20Z"


def test_v3_a_lower_case_method_is_signed_as_its_upper_case() -> None:
    creds = Credentials("ak", "sk")
    kwargs: dict[str, Any] = {"credentials": creds, "host": "h.example", "action": "A", "version": "v", "query": {},
                              "date": "2024-01-01T00:00:00Z", "nonce": "n1"}  # fmt: skip
    headers = sign_acs3_request(method="post", **kwargs)
    signed = {k: v for k, v in headers.items() if k != "Authorization"}
    assert headers["Authorization"] == sdk_v3_authorization("POST", "/", {}, signed, sha256_hex(b""), "ak", "sk")


def test_a_forked_child_never_reuses_a_nonce_its_parent_drew_in_advance() -> None:
    """Nonces are drawn 64 at a time: a child forked with the parent's pool must draw its own (a replayed nonce is a
    refused request)."""
    import os

    from shared.signing import new_nonce

    new_nonce()  # the pool now holds 63 nonces the parent will use
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, new_nonce().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    assert len(child) == 32 and child != new_nonce()


def test_the_caches_of_query_shapes_and_keys_stay_bounded() -> None:
    from shared import signing

    for i in range(100):
        canonical_query_string({f"name{i}": "v"})
        sign_acs3_request(credentials=Credentials("ak", f"secret-{i}"), method="POST", host="h.example", action="A",
                          version="v", query={})  # fmt: skip
    assert len(signing._query_plans) <= 64 and len(signing._hmac_states) <= 8


def test_v3_two_requests_differing_only_in_content_type_each_send_and_sign_their_own() -> None:
    creds = Credentials("ak", "sk")
    kwargs: dict[str, Any] = {"credentials": creds, "method": "POST", "host": "h.example", "action": "A",
                              "version": "v", "query": {}, "date": "2024-01-01T00:00:00Z", "nonce": "n1"}  # fmt: skip
    for content_type in ("application/json", "application/x-www-form-urlencoded"):
        headers = sign_acs3_request(content_type=content_type, **kwargs)
        signed = {k: v for k, v in headers.items() if k != "Authorization"}
        assert signed["content-type"] == content_type
        assert headers["Authorization"] == sdk_v3_authorization("POST", "/", {}, signed, sha256_hex(b""), "ak", "sk")
