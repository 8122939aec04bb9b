"""The official SDK (alibabacloud_cloudauth_intl20220809 on alibabacloud-tea-openapi 0.4.6) against the sandbox."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shared import jsonutil
from tests.sandbox.helpers import complete, sdk_client
from tools.sandbox import SandboxServer, vendor

ALGORITHMS = [pytest.param(None, id="v3-acs3-hmac-sha256"), pytest.param("v2", id="v1-hmac-sha1")]


def _models() -> Any:
    from alibabacloud_cloudauth_intl20220809 import models

    return models


def _initialize(client: Any, **extra: Any) -> Any:
    m = _models()
    request = m.InitializeRequest(
        product_code="eKYC", merchant_biz_id="sdkbiz01", meta_info='{"bioMetaInfo":"x"}', merchant_user_id="u-1",
        return_url="https://merchant.example/back", doc_type="00000008", **extra,
    )
    return client.initialize(request)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_sdk_initialize_complete_check_result_passes(sandbox: SandboxServer, algorithm: str | None) -> None:
    client = sdk_client(sandbox, algorithm=algorithm)
    init = _initialize(client, face_picture_base_64="aGVsbG8gd29ybGQ+/= with spaces")
    assert init.status_code == 200
    assert init.body.code == "Success"
    tid = init.body.result.transaction_id
    assert init.body.result.transaction_url.startswith(sandbox.base_url + "/verify/")
    complete(sandbox, tid, "pass")
    result = client.check_result(
        _models().CheckResultRequest(merchant_biz_id="sdkbiz01", transaction_id=tid, is_return_image="N")
    ).body.result
    assert (result.passed, result.sub_code) == ("Y", "200")
    id_info = jsonutil.loads(result.ext_id_info)
    ocr = id_info["ocrIdInfo"]
    ocr = jsonutil.loads(ocr) if isinstance(ocr, str) else ocr
    assert ocr["englishName"] == "TEST SAMPLE"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_sdk_delete_verify_result_answers_code_200(sandbox: SandboxServer, algorithm: str | None) -> None:
    client = sdk_client(sandbox, algorithm=algorithm)
    tid = _initialize(client).body.result.transaction_id
    complete(sandbox, tid, "fail", subCode="205")
    body = client.delete_verify_result(
        _models().DeleteVerifyResultRequest(transaction_id=tid, delete_type="All", delete_after_query="N")
    ).body
    assert (body.code, body.result.delete_result, body.result.transaction_id) == ("200", "Y", tid)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_sdk_with_wrong_secret_gets_signature_does_not_match(sandbox: SandboxServer, algorithm: str | None) -> None:
    from Tea.exceptions import TeaException

    client = sdk_client(sandbox, secret="not-the-secret", algorithm=algorithm)
    with pytest.raises(TeaException) as info:
        _initialize(client)
    assert info.value.code == "SignatureDoesNotMatch"
    assert info.value.data["Recommend"].startswith("https://")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_sdk_with_listed_sts_token_is_accepted(
    make_sandbox: Callable[..., SandboxServer], algorithm: str | None
) -> None:
    server = make_sandbox(security_tokens=frozenset({"sts-token-1", "sts-token-2"}))
    client = sdk_client(server, algorithm=algorithm, token="sts-token-2")
    assert _initialize(client).body.code == "Success"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_sdk_with_unknown_sts_token_is_rejected(
    make_sandbox: Callable[..., SandboxServer], algorithm: str | None
) -> None:
    from Tea.exceptions import TeaException

    server = make_sandbox(security_tokens=frozenset({"sts-token-1"}))
    client = sdk_client(server, algorithm=algorithm, token="forged-token")
    with pytest.raises(TeaException) as info:
        _initialize(client)
    assert info.value.code == "InvalidSecurityToken.Malformed"


def test_sdk_sees_process_not_completed_as_404_client_error(sandbox: SandboxServer) -> None:
    from Tea.exceptions import TeaException

    client = sdk_client(sandbox)
    tid = _initialize(client).body.result.transaction_id
    with pytest.raises(TeaException) as info:
        client.check_result(_models().CheckResultRequest(merchant_biz_id="sdkbiz01", transaction_id=tid))
    assert info.value.code == "ProcessNotCompleted"
    assert info.value.status_code == 404


@pytest.mark.parametrize(("action", "model"), [("Initialize", "InitializeRequest"),
                                               ("InitializeV2", "InitializeV2Request"),
                                               ("CheckResult", "CheckResultRequest"),
                                               ("DeleteVerifyResult", "DeleteVerifyResultRequest")])
def test_the_sandbox_takes_exactly_the_parameters_of_the_sdk_s_request_model(action: str, model: str) -> None:
    """The sandbox refuses a parameter its operation does not take: its lists must be the official SDK's, so that
    what it refuses is a client's misspelling, never a real parameter."""
    request = getattr(_models(), model)()
    for attribute in vars(request):
        setattr(request, attribute, "x")
    assert set(request.to_map()) == vendor.PARAMETERS[action]
