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


@pytest.mark.parametrize(
    ("action", "extra"),
    [
        ("CheckResult", {"ReturnImage": "Y"}),  # IsReturnImage misspelt: read as N, the images would just not come
        ("DeleteVerifyResult", {"DeleteData": "Y"}),
        ("Initialize", {"IsReturnImage": "Y"}),  # another operation's parameter
        ("InitializeV2", {"Callbackurl": "https://merchant.example/cb"}),
    ],
)
def test_a_parameter_the_operation_does_not_take_is_invalid_parameter_naming_it(
    sandbox: SandboxServer, action: str, extra: dict[str, str]
) -> None:
    transaction_id = initialize(sandbox)
    params = {
        "Initialize": init_params(),
        "InitializeV2": init_params(ProductCode="eKYC_PRO", DocType="GLB03002"),
        "CheckResult": {"MerchantBizId": "biz0001", "TransactionId": transaction_id, "IsReturnImage": "Y"},
        "DeleteVerifyResult": {"TransactionId": transaction_id, "DeleteAfterQuery": "N", "DeleteType": "All"},
    }[action]
    answer = v3_request(sandbox, action, {**params, **extra})
    assert (answer.status, answer.body["Code"]) == (400, "InvalidParameter")
    assert f'"{next(iter(extra))}"' in answer.body["Message"] and action in answer.body["Message"]


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
        # http is the sandbox's allowance for loopback receivers only (the vendor: "must start with https",
        # Initialize's API metadata): not a name that merely ends in localhost, not a private address
        ("CallbackUrl", "http://notlocalhost/cb"),
        ("CallbackUrl", "http://10.0.0.1/cb"),
        ("CallbackUrl", "https:///cb"),  # no host: nowhere to call back
        ("ReturnUrl", "https:///return"),
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


def test_initialize_result_has_the_vendor_s_four_fields(sandbox: SandboxServer) -> None:
    """REFERENCE.md §1, Initialize: "Response ``Result``: ``TransactionId``, ``TransactionUrl`` (single use),
    ``Protocol``, ``ClientCfg``" (the last two strings the vendor's client SDK takes)."""
    result = v3_request(sandbox, "Initialize", init_params()).body["Result"]
    assert set(result) == {"TransactionId", "TransactionUrl", "Protocol", "ClientCfg"}
    assert all(isinstance(result[name], str) and result[name] for name in ("Protocol", "ClientCfg"))


def test_check_result_with_bad_five_category_spoof_switch_is_invalid_parameter(sandbox: SandboxServer) -> None:
    """``ReturnFiveCategorySpoofResult`` (REFERENCE.md §1, CheckResult; API metadata: "Whether to return
    anti-fraud detection results", example ``Y``): a switch like ``IsReturnImage``, Y or N (the N is unverified)."""
    tid = initialize(sandbox)
    complete(sandbox, tid)
    answer = check(sandbox, tid, ReturnFiveCategorySpoofResult="yes")
    assert (answer.status, answer.body["Code"]) == (400, "InvalidParameter")
    assert "ReturnFiveCategorySpoofResult" in answer.body["Message"]
    assert check(sandbox, tid, ReturnFiveCategorySpoofResult="N").status == 200


def test_check_result_without_merchant_biz_id_is_missing_parameter(sandbox: SandboxServer) -> None:
    """REFERENCE.md §1, CheckResult: "Request: ``MerchantBizId``, ``TransactionId`` (required)"."""
    tid = initialize(sandbox)
    complete(sandbox, tid)
    answer = v3_request(sandbox, "CheckResult", {"TransactionId": tid})
    assert (answer.status, answer.body["Code"]) == (400, "MissingParameter")
    assert "MerchantBizId" in answer.body["Message"]


@pytest.mark.parametrize("merchant_biz_id", ["a" * 33, "biz-0001"])
def test_check_result_with_a_malformed_merchant_biz_id_is_invalid_parameter(
    sandbox: SandboxServer, merchant_biz_id: str
) -> None:
    """CheckResult's MerchantBizId is Initialize's: "letters and numbers, with a maximum length of 32 characters"
    (API metadata, CheckResult; REFERENCE.md §1): refused for its form, before any transaction is looked up."""
    tid = initialize(sandbox)
    complete(sandbox, tid)
    answer = check(sandbox, tid, merchant_biz_id=merchant_biz_id)
    assert (answer.status, answer.body["Code"]) == (400, "InvalidParameter")
    assert "MerchantBizId" in answer.body["Message"]


def test_delete_with_bad_delete_after_query_is_invalid_parameter(sandbox: SandboxServer) -> None:
    """DeleteVerifyResult's ``DeleteAfterQuery`` is Y or N (API metadata: example "Y / N"; REFERENCE.md §1)."""
    tid = initialize(sandbox)
    complete(sandbox, tid)
    params = {"TransactionId": tid, "DeleteType": "All", "DeleteAfterQuery": "Yes"}
    answer = v3_request(sandbox, "DeleteVerifyResult", params)
    assert (answer.status, answer.body["Code"]) == (400, "InvalidParameter")
    assert "DeleteAfterQuery" in answer.body["Message"]
    assert check(sandbox, tid).body["Code"] == "Success"  # nothing was deleted


def test_a_mainland_id_read_on_both_sides_adds_the_back_side_dates(sandbox: SandboxServer) -> None:
    """REFERENCE.md §1, ocrIdInfo of the mainland ID: "name, sex, ethnicity, birthDate, idNumber, address
    (+ issue/expiry on the back side)"; ``Pages=01,02`` asks for both sides (Initialize's documented values). One
    side: no dates."""
    both = initialize(sandbox, DocType=doctypes.MAINLAND_ID, Pages="01,02")
    front = initialize(sandbox, DocType=doctypes.MAINLAND_ID, Pages="01")
    for tid in (both, front):
        complete(sandbox, tid)
    assert {"issueDate", "expiryDate"} <= set(_ocr(check(sandbox, both).body["Result"]))
    assert not {"issueDate", "expiryDate"} & set(_ocr(check(sandbox, front).body["Result"]))


def test_by_default_ocr_id_info_comes_both_as_an_object_and_as_a_json_string(
    make_sandbox: Callable[..., SandboxServer],
) -> None:
    """REFERENCE.md §1, CheckResult: ``ocrIdInfo`` "may itself be a JSON string". The default sandbox answers either
    form, per transaction, so a client that reads only one of them fails here (20 flows: both forms but for a chance
    of 2 in a million)."""
    server = make_sandbox(qps=1000)  # the default encoding, without the throttle of 10 calls a second
    kinds = set()
    for _ in range(20):
        tid = initialize(server)
        complete(server, tid)
        kinds.add(type(jsonutil.loads(check(server, tid).body["Result"]["ExtIdInfo"])["ocrIdInfo"]))
    assert kinds == {str, dict}


def test_a_throttled_call_does_not_count_against_the_next_second(make_sandbox: Callable[..., SandboxServer]) -> None:
    """The sandbox's throttle (server.Throttle): a sliding one-second window of the calls it let through, the
    refused ones not counted, so a client retrying a Throttling.Api half a second later is not kept out longer.
    Whether the vendor counts refused calls is unverified."""
    clock = FakeClock()
    server = make_sandbox(qps=1, clock=clock)
    assert v3_request(server, "Initialize", init_params()).status == 200
    clock.advance(0.5)
    assert v3_request(server, "Initialize", init_params()).status == 403
    clock.advance(0.51)
    assert v3_request(server, "Initialize", init_params()).status == 200


def test_a_successful_answer_has_the_documented_envelope(sandbox: SandboxServer) -> None:
    """The API metadata's response examples (reference/cloudauth-intl-2022-08-09.api.json, ``responseDemo``):
    ``{"RequestId", "Code": "Success", "Message": "success", "Result"}`` for Initialize and CheckResult, ``"Code":
    "200"`` for DeleteVerifyResult."""
    start = v3_request(sandbox, "Initialize", init_params()).body
    tid = start["Result"]["TransactionId"]
    complete(sandbox, tid)
    params = {"TransactionId": tid, "DeleteType": "All", "DeleteAfterQuery": "N"}
    answers = [start, check(sandbox, tid).body, v3_request(sandbox, "DeleteVerifyResult", params).body]
    assert [(set(a), a["Code"], a["Message"]) for a in answers] == [
        ({"RequestId", "Code", "Message", "Result"}, code, "success") for code in ("Success", "Success", "200")
    ]


def test_an_abandoned_flow_cannot_be_finished_afterwards(sandbox: SandboxServer) -> None:
    """An abandoned flow is over: its TransactionUrl is single use (REFERENCE.md §1, Initialize), so no later
    outcome reaches it and CheckResult keeps answering ProcessNotCompleted."""
    tid = initialize(sandbox)
    complete(sandbox, tid, "abandon")
    assert control(sandbox, "POST", f"transactions/{tid}/complete", {"outcome": "pass"}).status == 409
    assert check(sandbox, tid).body["Code"] == "ProcessNotCompleted"


@pytest.mark.parametrize(
    ("product", "reads_a_document"),
    [("KYC_GLOBAL", True), ("ID_OCR", True), ("OCR_GLOBAL", True), ("IDR_GLOBAL", True),
     ("FACE_LIVENESS", False), ("FACE_VERIFY", False), ("FV_GLOBAL", False), ("FL_GLOBAL", False)],
)  # fmt: skip
def test_an_older_initialize_product_needs_a_doc_type_only_if_it_reads_a_document(
    sandbox: SandboxServer, product: str, reads_a_document: bool
) -> None:
    """The older products Initialize starts in Hong Kong: REFERENCE.md §1 ("older metadata also ``KYC_GLOBAL``,
    ``ID_OCR``, ``FACE_LIVENESS``") and §7 (the API metadata's ``KYC_GLOBAL``, ``FV_GLOBAL``, ``FL_GLOBAL``,
    ``IDR_GLOBAL``, ``OCR_GLOBAL``; the current docs' ``FACE_VERIFY``). A document product requires DocType, a
    face-only one is started without."""
    without = v3_request(sandbox, "Initialize", init_params(ProductCode=product, DocType="<absent>"))
    if reads_a_document:
        assert (without.status, without.body["Code"]) == (400, "MissingParameter")
        assert "DocType" in without.body["Message"]
    else:
        assert without.status == 200, without.body
    assert v3_request(sandbox, "Initialize", init_params(ProductCode=product)).status == 200


def test_a_document_flow_failed_without_a_sub_code_is_a_stand_in_code_and_no_attack(sandbox: SandboxServer) -> None:
    """A document flow that fails without a chosen SubCode answers the stand-in 201 (state.DEFAULT_FAIL_SUB_CODE: its
    cloudauth-intl meaning is unverified, deliberately not in shared/subcodes.py), with a failed comparison and no
    presentation attack; 205, the liveness failure the FaceLiveness sample pairs with faceAttack Y, is the face-only
    products' default."""
    tid = initialize(sandbox)
    complete(sandbox, tid, "fail")
    result = check(sandbox, tid).body["Result"]
    assert (result["Passed"], result["SubCode"]) == ("N", "201")
    face = jsonutil.loads(result["ExtFaceInfo"])
    assert (face["facePassed"], face["faceAttack"]) == ("N", "N")


def test_a_spoof_without_chosen_types_still_names_one(sandbox: SandboxServer) -> None:
    """REFERENCE.md §1, CheckResult: ``spoofInfo`` is ``spoofResult`` Y/N with a ``spoofType`` list such as
    ``SCREEN_REMARK``: a spoof found names what it found, even when the tester chose no type."""
    tid = initialize(sandbox)
    complete(sandbox, tid, "spoof")
    spoof = jsonutil.loads(check(sandbox, tid).body["Result"]["ExtIdInfo"])["spoofInfo"]
    assert spoof["spoofResult"] == "Y" and spoof["spoofType"]


def test_pending_for_some_seconds_alone_is_final_on_the_first_check_after_them(
    make_sandbox: Callable[..., SandboxServer],
) -> None:
    """Control API (GET /_sandbox/, complete): ``pendingSeconds`` alone makes CheckResult answer P for that long,
    not also for a number of checks (Passed P "later becomes Y or N", REFERENCE.md §1)."""
    clock = FakeClock()
    server = make_sandbox(clock=clock)
    early, late = initialize(server), initialize(server)
    complete(server, early, "pending", pendingSeconds=30)
    complete(server, late, "pending", pendingSeconds=30)
    assert check(server, early).body["Result"]["Passed"] == "P"
    clock.advance(31)
    assert check(server, late).body["Result"]["Passed"] == "Y"  # its first check, once the 30 seconds passed


def test_an_identity_override_keeps_the_document_s_other_fields(sandbox: SandboxServer) -> None:
    """The override changes the fields it names; ocrIdInfo still has every field of the document (REFERENCE.md §1,
    "OCR fields (ocrIdInfo) by document": the passport's eight)."""
    tid = initialize(sandbox, DocType=doctypes.PASSPORT)
    complete(sandbox, tid, identity={"surname": "OVERRIDE"})
    ocr = _ocr(check(sandbox, tid).body["Result"])
    assert tuple(ocr) == OCR_FIELDS[doctypes.PASSPORT] and ocr["surname"] == "OVERRIDE"


def test_delete_text_also_empties_the_basic_info(sandbox: SandboxServer) -> None:
    """DeleteType ``Text`` erases the vendor's text copy (REFERENCE.md §1, DeleteVerifyResult): ExtBasicInfo, which
    names the document and the product, is emptied with the identity; the verdict stays."""
    tid = initialize(sandbox)
    complete(sandbox, tid)
    v3_request(sandbox, "DeleteVerifyResult", {"TransactionId": tid, "DeleteType": "Text", "DeleteAfterQuery": "N"})
    result = check(sandbox, tid).body["Result"]
    assert (result["Passed"], jsonutil.loads(result["ExtBasicInfo"])) == ("Y", {})


def test_a_pending_answer_carries_only_passed(sandbox: SandboxServer) -> None:
    """A P answer is "pending, later becomes Y or N" (REFERENCE.md §1, CheckResult): the sandbox answers it with
    ``Passed`` alone, no SubCode or Ext* documents, the least a client must cope with (what else the vendor sends
    with P is unverified: tools/sandbox/vendor.py)."""
    tid = initialize(sandbox)
    complete(sandbox, tid, "pending", pendingChecks=1)
    assert check(sandbox, tid).body["Result"] == {"Passed": "P"}


def test_a_result_the_person_could_edit_names_the_edited_fields(sandbox: SandboxServer) -> None:
    """REFERENCE.md §1, CheckResult: ExtIdInfo's ``ocrIdEditInfo`` holds the fields the user edited
    (``EditOcrResult=1`` lets them edit)."""
    tid = initialize(sandbox, EditOcrResult="1")
    complete(sandbox, tid)
    assert "ocrIdEditInfo" in jsonutil.loads(check(sandbox, tid).body["Result"]["ExtIdInfo"])


# REFERENCE.md §1, "OCR fields (ocrIdInfo) by document", typed here from it (not the sandbox's synth.OCR_FIELDS, which
# the test above reads back and so could not find a wrong name in it).
REFERENCE_OCR_FIELDS = {
    "00000006": ("name", "englishName", "nameCode", "sex", "birthDate", "idNumber", "currentIssueDate",
                 "firstIssueDate", "isPermanent", "symbols"),
    "00000008": ("name", "englishName", "nameCode", "sex", "birthDate", "idNumber", "currentIssueDate",
                 "firstIssueDate", "isPermanent", "symbols"),
    "00000007": ("name", "englishName", "sex", "birthDate", "idNumber", "issueDate", "expiryDate", "placeOfIssue",
                 "originOfIssue"),
    "00000009": ("name", "englishName", "sex", "birthDate", "idNumber", "issueDate", "expiryDate", "originOfIssue"),
    "01000000": ("surname", "givenname", "sex", "birthDate", "passportNo", "nationality", "expiryDate",
                 "countryCode"),
    "000000011": ("surnameCN", "givennameCN", "surname", "givenname", "sex", "birthDate", "idNumber", "expiryDate",
                  "placeOfBirth"),
    "000000012": ("name", "englishName", "sex", "birthDate", "idNumber", "issueDate", "expiryDate", "originOfIssue",
                  "placeOfIssue"),
    "00000001": ("name", "sex", "ethnicity", "birthDate", "idNumber", "address"),
}  # fmt: skip


@pytest.mark.parametrize("code", sorted(REFERENCE_OCR_FIELDS))
def test_each_document_s_ocr_id_info_has_the_field_names_reference_md_lists(sandbox: SandboxServer, code: str) -> None:
    """REFERENCE.md §1, "OCR fields (ocrIdInfo) by document": the names, each document's and no other."""
    tid = initialize(sandbox, DocType=code)
    complete(sandbox, tid)
    assert set(_ocr(check(sandbox, tid).body["Result"])) == set(REFERENCE_OCR_FIELDS[code])


def test_the_default_sandbox_allows_ten_calls_a_second(make_sandbox: Callable[..., SandboxServer]) -> None:
    """REFERENCE.md §1: "QPS per account per product: 10 for eKYC and ID_OCR": the eleventh Initialize within one
    second is Throttling.Api."""
    server = make_sandbox(clock=FakeClock())
    codes = [v3_request(server, "Initialize", init_params()).status for _ in range(11)]
    assert codes == [200] * 10 + [403]
