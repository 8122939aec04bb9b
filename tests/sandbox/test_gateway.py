"""Gateway-level checks: signatures (V3 and V1), keys, STS tokens, nonces, timestamps, action/version."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from urllib.parse import urlencode

import pytest

from shared.signing import Credentials, sign_acs3_request, sign_v1_params, utc_timestamp
from tests.sandbox.helpers import (
    AK,
    SECRET,
    VERSION,
    FakeClock,
    control,
    init_params,
    raw,
    v1_request,
    v3_request,
)
from tools.sandbox import SandboxServer


def test_v3_signed_request_is_accepted(sandbox: SandboxServer) -> None:
    answer = v3_request(sandbox, "Initialize", init_params())
    assert answer.status == 200
    assert answer.body["Code"] == "Success"
    assert answer.headers["x-acs-request-id"] == answer.body["RequestId"]


def test_v3_tampered_query_gets_signature_does_not_match(sandbox: SandboxServer) -> None:
    params = init_params()
    headers = sign_acs3_request(
        credentials=Credentials(AK, SECRET), method="POST", host=f"127.0.0.1:{sandbox.port}", action="Initialize",
        version=VERSION, query=params,
    )
    params["MerchantUserId"] = "someone-else"
    answer = raw(sandbox, "POST", "/?" + urlencode(params), b"", headers)
    assert answer.status == 400
    assert answer.body["Code"] == "SignatureDoesNotMatch"


def test_gateway_error_body_has_request_id_host_id_and_recommend(sandbox: SandboxServer) -> None:
    answer = v3_request(sandbox, "Initialize", init_params(), secret="wrong")
    assert set(answer.body) == {"RequestId", "HostId", "Code", "Message", "Recommend"}
    assert answer.body["HostId"] == f"127.0.0.1:{sandbox.port}"
    assert answer.body["RequestId"] in answer.body["Recommend"]


def test_v3_body_not_matching_content_sha256_is_rejected(sandbox: SandboxServer) -> None:
    def swap_hash(headers: dict[str, str]) -> None:
        headers["x-acs-content-sha256"] = "0" * 64

    answer = v3_request(sandbox, "Initialize", init_params(), form={"FacePictureBase64": "abc"}, mutate=swap_hash)
    assert (answer.status, answer.body["Code"]) == (400, "SignatureDoesNotMatch")


def test_v3_form_body_is_covered_by_the_signature(sandbox: SandboxServer) -> None:
    answer = v3_request(sandbox, "Initialize", init_params(), form={"FacePictureBase64": "aGVsbG8+/="})
    assert answer.status == 200


def test_v3_unsigned_x_acs_header_is_incomplete_signature(sandbox: SandboxServer) -> None:
    def add_unsigned(headers: dict[str, str]) -> None:
        headers["x-acs-extra"] = "1"

    answer = v3_request(sandbox, "Initialize", init_params(), mutate=add_unsigned)
    assert (answer.status, answer.body["Code"]) == (400, "IncompleteSignature")


def test_v3_signed_header_not_sent_is_incomplete_signature(sandbox: SandboxServer) -> None:
    def drop_signed(headers: dict[str, str]) -> None:
        del headers["x-acs-signature-nonce"]

    answer = v3_request(sandbox, "Initialize", init_params(), mutate=drop_signed)
    assert (answer.status, answer.body["Code"]) == (400, "IncompleteSignature")


def test_v3_other_algorithm_is_incomplete_signature(sandbox: SandboxServer) -> None:
    def other(headers: dict[str, str]) -> None:
        headers["Authorization"] = headers["Authorization"].replace("ACS3-HMAC-SHA256", "ACS3-HMAC-SM3")

    answer = v3_request(sandbox, "Initialize", init_params(), mutate=other)
    assert (answer.status, answer.body["Code"]) == (400, "IncompleteSignature")


def test_v3_wrong_secret_echoes_the_servers_string_to_sign(sandbox: SandboxServer) -> None:
    answer = v3_request(sandbox, "Initialize", init_params(), secret="wrong")
    assert (answer.status, answer.body["Code"]) == (400, "SignatureDoesNotMatch")
    assert re.search(r"server string to sign is:ACS3-HMAC-SHA256\n[0-9a-f]{64}$", answer.body["Message"])


def test_v3_timestamp_of_another_form_is_invalid_format(sandbox: SandboxServer) -> None:
    answer = v3_request(sandbox, "Initialize", init_params(), date="2024-01-01 00:00:00")
    assert (answer.status, answer.body["Code"]) == (400, "InvalidTimeStamp.Format")


def test_v3_unknown_access_key_gets_not_found_404(sandbox: SandboxServer) -> None:
    answer = v3_request(sandbox, "Initialize", init_params(), ak="someone")
    assert (answer.status, answer.body["Code"]) == (404, "InvalidAccessKeyId.NotFound")


def test_v3_nonce_replay_gets_signature_nonce_used(sandbox: SandboxServer) -> None:
    first = v3_request(sandbox, "Initialize", init_params(), nonce="fixed-nonce-1")
    second = v3_request(sandbox, "Initialize", init_params(), nonce="fixed-nonce-1")
    assert first.status == 200
    assert (second.status, second.body["Code"]) == (400, "SignatureNonceUsed")


def test_v1_nonce_replay_gets_signature_nonce_used(sandbox: SandboxServer) -> None:
    first = v1_request(sandbox, "Initialize", init_params(), nonce="fixed-nonce-2")
    second = v1_request(sandbox, "Initialize", init_params(), nonce="fixed-nonce-2")
    assert first.status == 200
    assert (second.status, second.body["Code"]) == (400, "SignatureNonceUsed")


def test_nonce_is_forgotten_after_the_window(make_sandbox: Callable[..., SandboxServer]) -> None:
    clock = FakeClock()
    server = make_sandbox(nonce_ttl=60.0, clock=clock)
    assert v3_request(server, "Initialize", init_params(), nonce="n-3").status == 200
    clock.advance(61)
    assert v3_request(server, "Initialize", init_params(), nonce="n-3").status == 200


@pytest.mark.parametrize("skew", [-16 * 60, 16 * 60])
def test_v3_timestamp_beyond_15_minutes_is_expired(sandbox: SandboxServer, skew: int) -> None:
    answer = v3_request(sandbox, "Initialize", init_params(), date=utc_timestamp(time.time() + skew))
    assert (answer.status, answer.body["Code"]) == (400, "InvalidTimeStamp.Expired")


def test_v3_timestamp_within_15_minutes_is_accepted(sandbox: SandboxServer) -> None:
    answer = v3_request(sandbox, "Initialize", init_params(), date=utc_timestamp(time.time() - 14 * 60))
    assert answer.status == 200


def test_v1_timestamp_beyond_15_minutes_is_expired(sandbox: SandboxServer) -> None:
    answer = v1_request(sandbox, "Initialize", init_params(), timestamp=utc_timestamp(time.time() - 20 * 60))
    assert (answer.status, answer.body["Code"]) == (400, "InvalidTimeStamp.Expired")


def test_v1_signed_request_is_accepted(sandbox: SandboxServer) -> None:
    assert v1_request(sandbox, "Initialize", init_params()).status == 200


def test_v1_wrong_secret_gets_signature_does_not_match(sandbox: SandboxServer) -> None:
    answer = v1_request(sandbox, "Initialize", init_params(), secret="wrong")
    assert (answer.status, answer.body["Code"]) == (400, "SignatureDoesNotMatch")


def test_v1_other_signature_method_is_rejected(sandbox: SandboxServer) -> None:
    signed = sign_v1_params(credentials=Credentials(AK, SECRET), action="Initialize", version=VERSION,
                            params=init_params())
    signed["SignatureMethod"] = "HMAC-SHA256"
    answer = raw(sandbox, "POST", "/?" + urlencode(signed))
    assert (answer.status, answer.body["Code"]) == (400, "InvalidSignatureMethod")


def test_v1_unknown_access_key_gets_not_found_404(sandbox: SandboxServer) -> None:
    answer = v1_request(sandbox, "Initialize", init_params(), ak="nobody")
    assert (answer.status, answer.body["Code"]) == (404, "InvalidAccessKeyId.NotFound")


def test_v1_listed_security_token_is_accepted(make_sandbox: Callable[..., SandboxServer]) -> None:
    server = make_sandbox(security_tokens=frozenset({"tok-a"}))
    assert v1_request(server, "Initialize", init_params(), token="tok-a").status == 200


def test_v3_unknown_security_token_is_rejected(make_sandbox: Callable[..., SandboxServer]) -> None:
    server = make_sandbox(security_tokens=frozenset({"tok-a"}))
    answer = v3_request(server, "Initialize", init_params(), token="tok-b")
    assert (answer.status, answer.body["Code"]) == (400, "InvalidSecurityToken.Malformed")


def test_any_security_token_is_rejected_when_none_is_configured(sandbox: SandboxServer) -> None:
    answer = v3_request(sandbox, "Initialize", init_params(), token="tok-a")
    assert answer.body["Code"] == "InvalidSecurityToken.Malformed"


def test_unsigned_request_gets_missing_signature(sandbox: SandboxServer) -> None:
    answer = raw(sandbox, "POST", "/?" + urlencode({"Action": "Initialize", **init_params()}))
    assert (answer.status, answer.body["Code"]) == (400, "MissingSignature")


def test_unknown_action_gets_invalid_action_404(sandbox: SandboxServer) -> None:
    answer = v3_request(sandbox, "DescribeEverything", {})
    assert (answer.status, answer.body["Code"]) == (404, "InvalidAction.NotFound")


def test_other_api_version_gets_invalid_version(sandbox: SandboxServer) -> None:
    def old_version(headers: dict[str, str]) -> None:
        headers["x-acs-version"] = "2019-03-07"

    answer = v3_request(sandbox, "Initialize", init_params(), mutate=old_version)
    assert (answer.status, answer.body["Code"]) == (400, "InvalidVersion")


def test_credentials_come_from_sandbox_environment_variables() -> None:
    from tools.sandbox import SandboxConfig

    config = SandboxConfig.from_env(
        {"SANDBOX_ACCESS_KEY_ID": "ak2", "SANDBOX_ACCESS_KEY_SECRET": "sk2", "SANDBOX_SECURITY_TOKENS": "a, b,"}
    )
    assert (config.access_key_id, config.access_key_secret) == ("ak2", "sk2")
    assert config.security_tokens == frozenset({"a", "b"})


def test_v3_sts_token_sent_for_another_access_key_id_is_mismatch(make_sandbox: Callable[..., SandboxServer]) -> None:
    """With STS credentials the SDK sends ``x-acs-accesskey-id`` next to ``x-acs-security-token``
    (alibabacloud-tea-openapi 0.4.6, ``Client.do_request``); a header naming another key than the Authorization's
    Credential is the gateway's ``InvalidSecurityToken.MismatchWithAccessKey`` (errors.py; unverified which check
    the real gateway runs first), never a signature mismatch."""
    server = make_sandbox(security_tokens=frozenset({"tok-a"}))

    def other_key(headers: dict[str, str]) -> None:
        headers["x-acs-accesskey-id"] = "someone-else"

    answer = v3_request(server, "Initialize", init_params(), token="tok-a", mutate=other_key)
    assert (answer.status, answer.body["Code"]) == (400, "InvalidSecurityToken.MismatchWithAccessKey")


def test_v3_content_sha256_of_another_body_is_refused_even_when_signed(sandbox: SandboxServer) -> None:
    """REFERENCE.md §2 (V3): the canonical request ends with hex(sha256(body)), and ``x-acs-content-sha256`` is that
    hash. A signer that hashes another body than it sends (here: none) and signs that hash consistently is refused
    for the hash, not let through because its signature matches its own header."""
    params = init_params()
    headers = sign_acs3_request(
        credentials=Credentials(AK, SECRET), method="POST", host=f"127.0.0.1:{sandbox.port}", action="Initialize",
        version=VERSION, query=params, body=b"", content_type="application/x-www-form-urlencoded",
    )
    body = urlencode({"FacePictureBase64": "aGVsbG8="}).encode()
    answer = raw(sandbox, "POST", "/?" + urlencode(params), body, headers)
    assert (answer.status, answer.body["Code"]) == (400, "SignatureDoesNotMatch")
    assert "x-acs-content-sha256" in answer.body["Message"]


def test_v3_a_business_parameter_in_the_form_body_reaches_the_operation(sandbox: SandboxServer) -> None:
    """REFERENCE.md §1: an RPC operation's parameters travel in the query, ``FacePictureBase64`` in an
    ``application/x-www-form-urlencoded`` body; the gateway reads both (the SDK signs the body's hash, REFERENCE.md
    §2). A parameter sent only in the body is the operation's as much as one in the query."""
    answer = v3_request(sandbox, "Initialize", init_params(MerchantUserId="<absent>"),
                        form={"MerchantUserId": "user-in-the-body"})
    assert answer.status == 200, answer.body
    detail = control(sandbox, "GET", f"transactions/{answer.body['Result']['TransactionId']}").body
    assert detail["merchantUserId"] == "user-in-the-body"


def test_v1_common_parameters_are_not_business_parameters(make_sandbox: Callable[..., SandboxServer]) -> None:
    """REFERENCE.md §2 (V1): ``Format, Version, AccessKeyId, SignatureMethod, SignatureVersion, SignatureNonce,
    Timestamp`` (+ ``SecurityToken``) and ``Signature`` are the signature's common parameters, not the operation's:
    none of them, the STS token least of all, is kept among the transaction's parameters."""
    server = make_sandbox(security_tokens=frozenset({"tok-a"}))
    answer = v1_request(server, "Initialize", init_params(), token="tok-a")
    assert answer.status == 200, answer.body
    detail = control(server, "GET", f"transactions/{answer.body['Result']['TransactionId']}").body
    assert set(detail["parameters"]) == set(init_params())


def test_v3_action_named_only_in_the_query_is_missing_parameter(sandbox: SandboxServer) -> None:
    """REFERENCE.md §2 (V3): the operation and its version travel in the ``x-acs-action`` and ``x-acs-version``
    headers; ``Action``/``Version`` query parameters are V1's. A V3 request without the headers names no action."""
    params = {"Action": "Initialize", "Version": VERSION, **init_params()}

    def no_action_headers(headers: dict[str, str]) -> None:
        del headers["x-acs-action"], headers["x-acs-version"]

    answer = v3_request(sandbox, "Initialize", params, mutate=no_action_headers)
    assert (answer.status, answer.body["Code"]) == (400, "MissingParameter")
    assert "Action" in answer.body["Message"]


def test_v3_a_body_that_is_not_a_form_carries_no_parameters(sandbox: SandboxServer) -> None:
    """REFERENCE.md §1: an RPC operation's parameters are the query's and, for ``FacePictureBase64``, an
    ``application/x-www-form-urlencoded`` body's. A body of another type (signed with its hash) is not read as
    parameters, however it looks: the operation misses the one only that body named."""
    params = init_params(MerchantUserId="<absent>")
    body = b"MerchantUserId=user-in-the-body"
    headers = sign_acs3_request(
        credentials=Credentials(AK, SECRET), method="POST", host=f"127.0.0.1:{sandbox.port}", action="Initialize",
        version=VERSION, query=params, body=body, content_type="application/octet-stream",
    )
    answer = raw(sandbox, "POST", "/?" + urlencode(params), body, headers)
    assert (answer.status, answer.body["Code"]) == (400, "MissingParameter")
    assert "MerchantUserId" in answer.body["Message"]


def test_a_nonce_is_remembered_for_the_whole_timestamp_window_by_default(
    make_sandbox: Callable[..., SandboxServer],
) -> None:
    """``x-acs-signature-nonce`` is "unique per request" (REFERENCE.md §2) and a timestamp is good for 15 minutes
    (REFERENCE.md §1, InvalidTimeStamp.Expired): a nonce replayed 14 minutes later, with a fresh timestamp, is
    still refused (the gateway's exact nonce window is unverified; the sandbox keeps it 15 minutes)."""
    clock = FakeClock()
    server = make_sandbox(clock=clock)
    assert v3_request(server, "Initialize", init_params(), nonce="n-14", date=utc_timestamp(clock.now)).status == 200
    clock.advance(14 * 60)
    replay = v3_request(server, "Initialize", init_params(), nonce="n-14", date=utc_timestamp(clock.now))
    assert (replay.status, replay.body["Code"]) == (400, "SignatureNonceUsed")
