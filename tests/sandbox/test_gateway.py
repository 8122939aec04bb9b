"""Gateway-level checks: signatures (V3 and V1), keys, STS tokens, nonces, timestamps, action/version."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from urllib.parse import urlencode

import pytest

from shared.signing import Credentials, sign_acs3_request, sign_v1_params, utc_timestamp
from tests.sandbox.helpers import AK, SECRET, VERSION, FakeClock, init_params, raw, v1_request, v3_request
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
