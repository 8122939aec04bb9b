"""The sandbox's gateway checks for RPC HMAC-SHA1 (V1) requests: a request the official ``aliyunsdkcore`` signs is
accepted, the project's signer is not trusted, and each refusal has its code (see also ``test_gateway.py``)."""

from __future__ import annotations

import re
from urllib.parse import quote, urlencode

import pytest

from shared import signing
from shared.signing import Credentials, sign_v1_params
from tests.sandbox.helpers import AK, SECRET, VERSION, Answer, control, init_params, raw
from tools.sandbox import SandboxServer

FORM = {"FacePictureBase64": "aGVsbG8+/= with spaces"}
FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


def sdk_request(server: SandboxServer, params: dict[str, str], form: dict[str, str], *, secret: str = SECRET,
                send_form: dict[str, str] | None = None) -> Answer:
    """Signed by ``aliyunsdkcore`` (query and form body), sent as it writes the URL (``send_form``: another body)."""
    from aliyunsdkcore.auth.composer import rpc_signature_composer

    query = {"Action": "Initialize", "Version": VERSION, **params}
    url, _ = rpc_signature_composer.get_signed_url(query, AK, secret, "JSON", "POST", dict(form))
    body = urlencode(form if send_form is None else send_form).encode()
    return raw(server, "POST", url, body, FORM_HEADERS)


def signed(**overrides: str | None) -> dict[str, str]:
    """The project's V1 parameters for Initialize, with ``overrides`` applied after signing (``None``: removed)."""
    params = sign_v1_params(credentials=Credentials(AK, SECRET), action="Initialize", version=VERSION,
                            params=init_params())
    for name, value in overrides.items():
        if value is None:
            params.pop(name, None)
        else:
            params[name] = value
    return params


def resigned(params: dict[str, str]) -> dict[str, str]:
    """``params`` signed anew by ``aliyunsdkcore``'s composer (for a request that lacks a common parameter)."""
    from aliyunsdkcore.auth.algorithm import sha_hmac1
    from aliyunsdkcore.auth.composer import rpc_signature_composer

    unsigned = {name: value for name, value in params.items() if name != "Signature"}
    to_sign = vars(rpc_signature_composer)["__compose_string_to_sign"]("POST", unsigned)
    return {**unsigned, "Signature": sha_hmac1.get_sign_string(to_sign, SECRET + "&")}


def send(server: SandboxServer, params: dict[str, str]) -> Answer:
    return raw(server, "POST", "/?" + urlencode(params))


def test_a_request_signed_by_aliyunsdkcore_with_a_form_body_is_accepted(sandbox: SandboxServer) -> None:
    answer = sdk_request(sandbox, init_params(), FORM)
    assert (answer.status, answer.body["Code"]) == (200, "Success")


def test_a_changed_form_body_gets_signature_does_not_match(sandbox: SandboxServer) -> None:
    answer = sdk_request(sandbox, init_params(), FORM, send_form={"FacePictureBase64": "b3RoZXI="})
    assert (answer.status, answer.body["Code"]) == (400, "SignatureDoesNotMatch")


def test_a_form_body_left_out_of_the_signature_gets_signature_does_not_match(sandbox: SandboxServer) -> None:
    answer = sdk_request(sandbox, init_params(), {}, send_form=FORM)
    assert (answer.status, answer.body["Code"]) == (400, "SignatureDoesNotMatch")


def test_a_changed_query_value_gets_signature_does_not_match(sandbox: SandboxServer) -> None:
    answer = send(sandbox, signed(MerchantUserId="someone-else"))
    assert (answer.status, answer.body["Code"]) == (400, "SignatureDoesNotMatch")


def test_a_signature_mismatch_echoes_the_servers_string_to_sign(sandbox: SandboxServer) -> None:
    answer = sdk_request(sandbox, {"MerchantBizId": "biz 1*~"}, {}, secret="wrong")
    assert (answer.status, answer.body["Code"]) == (400, "SignatureDoesNotMatch")
    echoed = re.search(r"server string to sign is:(POST&%2F&\S+)$", answer.body["Message"])
    assert echoed is not None
    # the page's double encoding: a space is %20, then %2520; '*' is %2A, then %252A; '~' stays
    assert "%26MerchantBizId%3Dbiz%25201%252A~%26" in echoed.group(1)


def test_a_client_signer_that_leaves_star_unencoded_is_refused(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sandbox does not recompute with the project's signer: a mistake there is a refusal, not a pass."""
    monkeypatch.setattr(signing, "percent_encode", lambda text: quote(text, safe="-_.~*"))
    params = sign_v1_params(credentials=Credentials(AK, SECRET), action="Initialize", version=VERSION,
                            params=init_params(MerchantBizId="biz*1"))
    answer = send(sandbox, params)
    assert (answer.status, answer.body["Code"]) == (400, "SignatureDoesNotMatch")


def test_an_empty_signature_is_incomplete_signature(sandbox: SandboxServer) -> None:
    answer = send(sandbox, signed(Signature=""))
    assert (answer.status, answer.body["Code"]) == (400, "IncompleteSignature")


def test_a_request_without_a_signature_gets_missing_signature(sandbox: SandboxServer) -> None:
    answer = send(sandbox, signed(Signature=None))
    assert (answer.status, answer.body["Code"]) == (400, "MissingSignature")


def test_a_request_without_a_signature_method_gets_invalid_signature_method(sandbox: SandboxServer) -> None:
    answer = send(sandbox, signed(SignatureMethod=None))
    assert (answer.status, answer.body["Code"]) == (400, "InvalidSignatureMethod")


def test_a_signature_version_other_than_1_0_is_invalid(sandbox: SandboxServer) -> None:
    answer = send(sandbox, signed(SignatureVersion="2.0"))
    assert (answer.status, answer.body["Code"]) == (400, "InvalidParameter")
    assert "SignatureVersion" in answer.body["Message"]


@pytest.mark.parametrize(("missing", "code"), [
    ("AccessKeyId", "MissingParameter"), ("Timestamp", "MissingTimestamp"), ("SignatureNonce", "MissingParameter"),
])
def test_a_request_without_a_signed_common_parameter_is_refused(sandbox: SandboxServer, missing: str,
                                                                code: str) -> None:
    answer = send(sandbox, resigned(signed(**{missing: None})))
    assert (answer.status, answer.body["Code"]) == (400, code)
    if code == "MissingParameter":
        assert missing in answer.body["Message"]


def test_a_timestamp_of_another_form_is_invalid_format(sandbox: SandboxServer) -> None:
    answer = send(sandbox, signed(Timestamp="2024-01-01 00:00:00"))
    assert (answer.status, answer.body["Code"]) == (400, "InvalidTimeStamp.Format")


def test_a_business_parameter_in_the_signed_form_body_reaches_the_operation(sandbox: SandboxServer) -> None:
    """Both official SDKs sign the form body's parameters with the query's (``aliyunsdkcore``'s ``get_signed_url``,
    tools/rpc_v1.py): the gateway takes them as the request's parameters, so one sent only in the body is the
    operation's (here MerchantUserId, read back from the transaction)."""
    answer = sdk_request(sandbox, init_params(MerchantUserId="<absent>"), {"MerchantUserId": "user-in-the-body"})
    assert answer.status == 200, answer.body
    detail = control(sandbox, "GET", f"transactions/{answer.body['Result']['TransactionId']}").body
    assert detail["merchantUserId"] == "user-in-the-body"
