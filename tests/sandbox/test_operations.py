"""Initialize / CheckResult / DeleteVerifyResult: validation, errors, result documents, deletion, throttling."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

from shared import doctypes, jsonutil
from tests.sandbox.helpers import FakeClock, check, complete, control, init_params, initialize, v3_request
from tools.sandbox import SandboxServer
from tools.sandbox.synth import OCR_FIELDS


def _ocr(result: dict[str, Any]) -> dict[str, Any]:
    ocr = jsonutil.loads(result["ExtIdInfo"])["ocrIdInfo"]
    return jsonutil.loads(ocr) if isinstance(ocr, str) else ocr  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", ["ProductCode", "MerchantBizId", "MetaInfo", "MerchantUserId", "ReturnUrl", "DocType"])
def test_initialize_without_required_parameter_is_missing_parameter(sandbox: SandboxServer, name: str) -> None:
    answer = v3_request(sandbox, "Initialize", init_params(**{name: "<absent>"}))
    assert (answer.status, answer.body["Code"]) == (400, "MissingParameter")
    assert name in answer.body["Message"]


def test_face_only_product_does_not_need_doc_type(sandbox: SandboxServer) -> None:
    answer = v3_request(sandbox, "Initialize", init_params(ProductCode="FACE_LIVENESS", DocType="<absent>"))
    assert answer.status == 200


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ProductCode", "NOPE"),
        ("MerchantBizId", "a" * 33),
        ("MerchantBizId", "with-dash"),
        ("DocType", "12345678"),
        ("SceneCode", "toolongscene"),
        ("SceneCode", "bad-char"),
        ("IdSpoof", "yes"),
        ("SecurityLevel", "03"),
        ("IdThreshold", "4"),
        ("Model", "SMILE"),
        ("Pages", "02"),
        ("StyleConfig", "[1]"),
        ("ReturnUrl", "merchant.example/return"),
        ("CallbackUrl", "http://merchant.example/cb"),
        ("CallbackUrl", "ftp://127.0.0.1/cb"),
    ],
)
def test_initialize_with_invalid_value_is_invalid_parameter(sandbox: SandboxServer, name: str, value: str) -> None:
    answer = v3_request(sandbox, "Initialize", init_params(**{name: value}))
    assert (answer.status, answer.body["Code"]) == (400, "InvalidParameter")
    assert name in answer.body["Message"]
    assert value not in answer.body["Message"]


@pytest.mark.parametrize("code", sorted(doctypes.DOC_TYPES))
def test_every_documented_doc_type_is_accepted(sandbox: SandboxServer, code: str) -> None:
    assert v3_request(sandbox, "Initialize", init_params(DocType=code)).status == 200


@pytest.mark.parametrize("url", ["https://merchant.example/cb", "http://127.0.0.1:9/cb", "http://localhost/cb"])
def test_https_and_loopback_http_callback_urls_are_accepted(sandbox: SandboxServer, url: str) -> None:
    assert v3_request(sandbox, "Initialize", init_params(CallbackUrl=url)).status == 200


def test_loopback_http_callback_is_rejected_when_disabled(make_sandbox: Callable[..., SandboxServer]) -> None:
    server = make_sandbox(allow_http_loopback_callbacks=False)
    answer = v3_request(server, "Initialize", init_params(CallbackUrl="http://127.0.0.1:9/cb"))
    assert answer.body["Code"] == "InvalidParameter"


def test_check_result_of_unknown_transaction_is_transaction_id_invalid(sandbox: SandboxServer) -> None:
    answer = check(sandbox, "0" * 32)
    assert (answer.status, answer.body["Code"]) == (400, "TransactionIdInvalid")


def test_check_result_with_other_merchant_biz_id_is_transaction_id_invalid(sandbox: SandboxServer) -> None:
    tid = initialize(sandbox)
    complete(sandbox, tid)
    answer = check(sandbox, tid, merchant_biz_id="otherbiz")
    assert (answer.status, answer.body["Code"]) == (400, "TransactionIdInvalid")


def test_check_result_without_transaction_id_is_missing_parameter(sandbox: SandboxServer) -> None:
    answer = v3_request(sandbox, "CheckResult", {"MerchantBizId": "biz0001"})
    assert (answer.status, answer.body["Code"]) == (400, "MissingParameter")


def test_check_result_with_bad_is_return_image_is_invalid_parameter(sandbox: SandboxServer) -> None:
    tid = initialize(sandbox)
    assert check(sandbox, tid, IsReturnImage="yes").body["Code"] == "InvalidParameter"


def test_check_result_before_the_flow_finished_is_process_not_completed(sandbox: SandboxServer) -> None:
    answer = check(sandbox, initialize(sandbox))
    assert (answer.status, answer.body["Code"]) == (404, "ProcessNotCompleted")


def test_abandoned_flow_stays_process_not_completed(sandbox: SandboxServer) -> None:
    tid = initialize(sandbox)
    complete(sandbox, tid, "abandon")
    assert check(sandbox, tid).body["Code"] == "ProcessNotCompleted"


def test_passed_result_has_vendor_shape_with_json_string_ext_fields(sandbox: SandboxServer) -> None:
    tid = initialize(sandbox)
    complete(sandbox, tid, "pass")
    answer = check(sandbox, tid)
    assert set(answer.body) == {"RequestId", "Code", "Message", "Result"}
    result = answer.body["Result"]
    assert (result["Passed"], result["SubCode"]) == ("Y", "200")
    for name in ("ExtIdInfo", "ExtFaceInfo", "ExtBasicInfo", "ExtRiskInfo", "ExtInfo", "EkycResult"):
        assert isinstance(result[name], str)
        jsonutil.loads(result[name])
    face = jsonutil.loads(result["ExtFaceInfo"])
    assert face == {
        "faceAttack": "N", "faceComparisonScore": 92.1, "facePassed": "Y", "authorityComparisonScore": 80.39
    }
    id_info = jsonutil.loads(result["ExtIdInfo"])
    assert id_info["ocrIdPassed"] == "Y"
    assert id_info["spoofInfo"] == {"spoofResult": "N", "spoofType": []}
    assert "idImage" not in id_info


def test_failed_result_carries_the_chosen_sub_code(sandbox: SandboxServer) -> None:
    tid = initialize(sandbox)
    complete(sandbox, tid, "fail", subCode="206")
    result = check(sandbox, tid).body["Result"]
    assert (result["Passed"], result["SubCode"]) == ("N", "206")
    assert jsonutil.loads(result["ExtFaceInfo"])["facePassed"] == "N"


def test_a_failure_for_a_presentation_attack_says_face_attack(sandbox: SandboxServer) -> None:
    tid = initialize(sandbox)
    complete(sandbox, tid, "fail", subCode="205")
    face = jsonutil.loads(check(sandbox, tid).body["Result"]["ExtFaceInfo"])
    assert (face["facePassed"], face["faceAttack"]) == ("N", "Y")


def test_spoof_result_is_212_with_spoof_types(sandbox: SandboxServer) -> None:
    tid = initialize(sandbox, IdSpoof="Y")
    complete(sandbox, tid, "spoof", spoofTypes=["PHOTO_COPY", "TAMPER"])
    result = check(sandbox, tid).body["Result"]
    assert (result["Passed"], result["SubCode"]) == ("N", "212")
    spoof = jsonutil.loads(result["ExtIdInfo"])["spoofInfo"]
    assert spoof == {"spoofResult": "Y", "spoofType": ["PHOTO_COPY", "TAMPER"]}


def test_pending_outcome_answers_p_for_n_checks_then_passes(sandbox: SandboxServer) -> None:
    tid = initialize(sandbox)
    complete(sandbox, tid, "pending", pendingChecks=2)
    answers = [check(sandbox, tid).body["Result"]["Passed"] for _ in range(3)]
    assert answers == ["P", "P", "Y"]


def test_pending_outcome_by_seconds_resolves_once_the_time_passed(make_sandbox: Callable[..., SandboxServer]) -> None:
    clock = FakeClock()
    server = make_sandbox(clock=clock)
    tid = initialize(server)
    complete(server, tid, "pending", pendingChecks=0, pendingSeconds=30)
    assert check(server, tid).body["Result"]["Passed"] == "P"
    clock.advance(31)
    assert check(server, tid).body["Result"]["Passed"] == "Y"


def test_pending_outcome_can_resolve_to_fail(sandbox: SandboxServer) -> None:
    tid = initialize(sandbox)
    complete(sandbox, tid, "pending", pendingChecks=1, resolvesTo="fail", finalSubCode="205")
    assert check(sandbox, tid).body["Result"]["Passed"] == "P"
    result = check(sandbox, tid).body["Result"]
    assert (result["Passed"], result["SubCode"]) == ("N", "205")


@pytest.mark.parametrize("code", sorted(doctypes.DOC_TYPES))
def test_identity_has_the_vendor_ocr_fields_of_each_doc_type(sandbox: SandboxServer, code: str) -> None:
    tid = initialize(sandbox, DocType=code)
    complete(sandbox, tid)
    ocr = _ocr(check(sandbox, tid).body["Result"])
    assert tuple(ocr) == OCR_FIELDS[code]
    text = jsonutil.dumps_str(ocr)
    assert "TEST" in text or "测试" in text


def test_identity_override_replaces_fields(sandbox: SandboxServer) -> None:
    tid = initialize(sandbox, DocType=doctypes.PASSPORT)
    complete(sandbox, tid, identity={"surname": "OVERRIDE", "passportNo": "TEST99999"})
    ocr = _ocr(check(sandbox, tid).body["Result"])
    assert (ocr["surname"], ocr["passportNo"]) == ("OVERRIDE", "TEST99999")


@pytest.mark.parametrize(("mode", "is_string"), [("string", True), ("object", False)])
def test_ocr_id_info_encoding_is_configurable(make_sandbox: Callable[..., SandboxServer], mode: str,
                                              is_string: bool) -> None:
    server = make_sandbox(ocr_info_as=mode)
    tid = initialize(server)
    complete(server, tid)
    ocr = jsonutil.loads(check(server, tid).body["Result"]["ExtIdInfo"])["ocrIdInfo"]
    assert isinstance(ocr, str) is is_string


def test_images_are_deterministic_jpegs_of_the_configured_size(make_sandbox: Callable[..., SandboxServer]) -> None:
    server = make_sandbox(image_bytes=120_000)
    tid = initialize(server)
    complete(server, tid)
    first = check(server, tid, IsReturnImage="Y").body["Result"]
    second = check(server, tid, IsReturnImage="Y").body["Result"]
    id_image = base64.b64decode(jsonutil.loads(first["ExtIdInfo"])["idImage"])
    face_image = base64.b64decode(jsonutil.loads(first["ExtFaceInfo"])["faceImg"])
    for image in (id_image, face_image):
        assert len(image) == 120_000
        assert image[:4] == b"\xff\xd8\xff\xe0"
        assert image[-2:] == b"\xff\xd9"
    assert id_image != face_image
    assert first["ExtIdInfo"] == second["ExtIdInfo"]


def test_delete_all_makes_the_transaction_unknown(sandbox: SandboxServer) -> None:
    tid = initialize(sandbox)
    complete(sandbox, tid)
    params = {"TransactionId": tid, "DeleteType": "All", "DeleteAfterQuery": "N"}
    answer = v3_request(sandbox, "DeleteVerifyResult", params)
    assert (answer.body["Code"], answer.body["Result"]) == ("200", {"TransactionId": tid, "DeleteResult": "Y"})
    assert check(sandbox, tid).body["Code"] == "TransactionIdInvalid"


def test_delete_img_keeps_text_but_drops_images(sandbox: SandboxServer) -> None:
    tid = initialize(sandbox)
    complete(sandbox, tid)
    v3_request(sandbox, "DeleteVerifyResult", {"TransactionId": tid, "DeleteType": "Img", "DeleteAfterQuery": "N"})
    result = check(sandbox, tid, IsReturnImage="Y").body["Result"]
    assert "idImage" not in jsonutil.loads(result["ExtIdInfo"])
    assert "faceImg" not in jsonutil.loads(result["ExtFaceInfo"])
    assert _ocr(result)["surname"] == "SAMPLE"


def test_delete_text_keeps_verdict_and_images_but_drops_identity(sandbox: SandboxServer) -> None:
    tid = initialize(sandbox)
    complete(sandbox, tid)
    v3_request(sandbox, "DeleteVerifyResult", {"TransactionId": tid, "DeleteType": "Text", "DeleteAfterQuery": "N"})
    result = check(sandbox, tid, IsReturnImage="Y").body["Result"]
    assert result["Passed"] == "Y"
    id_info = jsonutil.loads(result["ExtIdInfo"])
    assert "ocrIdInfo" not in id_info
    assert "idImage" in id_info


def test_delete_after_query_refuses_until_the_result_was_read(sandbox: SandboxServer) -> None:
    tid = initialize(sandbox)
    complete(sandbox, tid)
    params = {"TransactionId": tid, "DeleteType": "All", "DeleteAfterQuery": "Y"}
    assert v3_request(sandbox, "DeleteVerifyResult", params).body["Result"]["DeleteResult"] == "N"
    check(sandbox, tid)
    assert v3_request(sandbox, "DeleteVerifyResult", params).body["Result"]["DeleteResult"] == "Y"


def test_delete_of_unknown_transaction_is_transaction_id_invalid(sandbox: SandboxServer) -> None:
    params = {"TransactionId": "f" * 32, "DeleteType": "All", "DeleteAfterQuery": "N"}
    answer = v3_request(sandbox, "DeleteVerifyResult", params)
    assert (answer.status, answer.body["Code"]) == (400, "TransactionIdInvalid")


def test_delete_with_bad_delete_type_is_invalid_parameter(sandbox: SandboxServer) -> None:
    answer = v3_request(sandbox, "DeleteVerifyResult", {"TransactionId": "f" * 32, "DeleteType": "Everything",
                                                            "DeleteAfterQuery": "N"})
    assert (answer.status, answer.body["Code"]) == (400, "InvalidParameter")


@pytest.mark.parametrize("left_out", ["DeleteAfterQuery", "DeleteType"])
def test_delete_without_a_parameter_the_vendor_requires_is_missing_parameter(
    sandbox: SandboxServer, left_out: str
) -> None:
    """"删除认证记录" marks TransactionId, DeleteAfterQuery and DeleteType required (zh Sep 16, 2025)."""
    tid = initialize(sandbox)
    complete(sandbox, tid)
    params = {"TransactionId": tid, "DeleteType": "All", "DeleteAfterQuery": "N"}
    del params[left_out]
    answer = v3_request(sandbox, "DeleteVerifyResult", params)
    assert (answer.status, answer.body["Code"]) == (400, "MissingParameter")
    assert check(sandbox, tid).body["Code"] == "Success"  # nothing was deleted


def test_calls_above_qps_in_one_second_are_throttled(make_sandbox: Callable[..., SandboxServer]) -> None:
    clock = FakeClock()
    server = make_sandbox(qps=2, clock=clock)
    codes = [v3_request(server, "Initialize", init_params()).status for _ in range(3)]
    assert codes == [200, 200, 403]
    throttled = v3_request(server, "Initialize", init_params())
    assert throttled.body["Code"] == "Throttling.Api"


def test_throttling_window_slides_after_one_second(make_sandbox: Callable[..., SandboxServer]) -> None:
    clock = FakeClock()
    server = make_sandbox(qps=1, clock=clock)
    assert v3_request(server, "Initialize", init_params()).status == 200
    assert v3_request(server, "Initialize", init_params()).status == 403
    clock.advance(1.01)
    assert v3_request(server, "Initialize", init_params()).status == 200


def test_throttling_counts_each_operation_separately(make_sandbox: Callable[..., SandboxServer]) -> None:
    clock = FakeClock()
    server = make_sandbox(qps=1, clock=clock)
    tid = initialize(server)
    assert check(server, tid).body["Code"] == "ProcessNotCompleted"


def test_control_complete_twice_is_a_conflict(sandbox: SandboxServer) -> None:
    tid = initialize(sandbox)
    complete(sandbox, tid)
    assert control(sandbox, "POST", f"transactions/{tid}/complete", {"outcome": "fail"}).status == 409
