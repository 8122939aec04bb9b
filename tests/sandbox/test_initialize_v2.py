"""InitializeV2 in the sandbox: the vendor's rules per product and region, eKYC_PRO and face-only results, the page,
and the official SDK's ``initialize_v2`` and the project's client against it."""

from __future__ import annotations

import http.client
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

from shared import jsonutil
from shared.results import parse_check_result
from tests.sandbox.helpers import (
    AK,
    SECRET,
    FakeClock,
    check,
    complete,
    control,
    init_params,
    sdk_client,
    v3_request,
)
from tools.sandbox import SandboxServer

ALGORITHMS = [pytest.param(None, id="v3-acs3-hmac-sha256"), pytest.param("v2", id="v1-hmac-sha1")]


def v2_params(**overrides: str) -> dict[str, str]:
    """Initialize's parameters for eKYC_PRO (a passport), ``"<absent>"`` leaving one out."""
    defaults = {"ProductCode": "eKYC_PRO", "MetaInfo": '{"bioMetaInfo":"sandbox","deviceType":"h5"}',
                "DocType": "GLB03002"}
    return init_params(**{**defaults, **overrides})


def start(server: SandboxServer, **overrides: str) -> str:
    answer = v3_request(server, "InitializeV2", v2_params(**overrides))
    assert answer.status == 200, answer.body
    return str(answer.body["Result"]["TransactionId"])


def refused(server: SandboxServer, action: str = "InitializeV2", **overrides: str) -> dict[str, Any]:
    answer = v3_request(server, action, v2_params(**overrides))
    assert answer.status == 400, answer.body
    return answer.body


def page(url: str) -> str:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        conn.request("GET", parts.path)
        return conn.getresponse().read().decode()
    finally:
        conn.close()


# --- the vendor's rules -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ProductCode", "MerchantBizId", "MetaInfo", "MerchantUserId", "ReturnUrl", "DocType"])
def test_ekyc_pro_without_a_required_parameter_is_missing_parameter(sandbox: SandboxServer, name: str) -> None:
    body = refused(sandbox, **{name: "<absent>"})
    assert body["Code"] == "MissingParameter" and name in body["Message"]


def test_face_liveness_pro_needs_no_doc_type(sandbox: SandboxServer) -> None:
    start(sandbox, ProductCode="FACE_LIVENESS_PRO", DocType="<absent>")


def test_a_product_started_by_initialize_is_refused_on_initialize_v2(sandbox: SandboxServer) -> None:
    body = refused(sandbox, ProductCode="eKYC", DocType="01000000")
    assert body["Code"] == "InvalidParameter" and "ProductCode" in body["Message"]


def test_face_liveness_pro_is_refused_on_initialize(sandbox: SandboxServer) -> None:
    body = refused(sandbox, "Initialize", ProductCode="FACE_LIVENESS_PRO", DocType="<absent>")
    assert "ProductCode" in body["Message"]


def test_ekyc_pro_refuses_ekyc_codes_and_the_licence_without_a_portrait(sandbox: SandboxServer) -> None:
    for code in ("01000000", "HKG02001", "XYZ01001"):
        body = refused(sandbox, DocType=code)
        assert body["Code"] == "InvalidParameter" and "DocType" in body["Message"] and code not in body["Message"]


@pytest.mark.parametrize(
    "name", ["Mobile", "MRTDInput", "AppQualityCheck", "DocPageConfig", "FacePictureUrl", "TargetFacePictureUrl"]
)
def test_documented_value_rules_hold_on_initialize_v2(sandbox: SandboxServer, name: str) -> None:
    assert name in refused(sandbox, **{name: "bogus"})["Message"]


def test_kuala_lumpur_offers_no_face_liveness_pro(make_sandbox: Callable[..., SandboxServer]) -> None:
    server = make_sandbox(region="ap-southeast-3")
    body = refused(server, ProductCode="FACE_LIVENESS_PRO", DocType="<absent>")
    assert body["Code"] == "InvalidParameter" and "ProductCode" in body["Message"]


def test_kuala_lumpur_takes_mykad_and_the_passport_only(make_sandbox: Callable[..., SandboxServer]) -> None:
    server = make_sandbox(region="ap-southeast-3")
    start(server, DocType="MYS01001")
    start(server, DocType="GLB03002")
    assert "DocType" in refused(server, DocType="CHN01001")["Message"]


def test_jakarta_takes_the_indonesian_id_and_the_passport_only(make_sandbox: Callable[..., SandboxServer]) -> None:
    server = make_sandbox(region="ap-southeast-5")
    start(server, DocType="IDN01001")
    assert "DocType" in refused(server, DocType="MYS01001")["Message"]


def test_ekyc_is_refused_outside_hong_kong(make_sandbox: Callable[..., SandboxServer]) -> None:
    server = make_sandbox(region="ap-southeast-1")
    body = refused(server, "Initialize", ProductCode="eKYC", DocType="01000000")
    assert body["Code"] == "InvalidParameter" and "ProductCode" in body["Message"]


def test_the_region_played_comes_from_the_functions_configuration() -> None:
    from tools.sandbox import SandboxConfig

    assert SandboxConfig.from_env({"CLOUDAUTH_REGION": "ap-southeast-5"}).region == "ap-southeast-5"
    assert SandboxConfig.from_env({"CLOUDAUTH_REGION": "ap-southeast-5", "SANDBOX_REGION": "ap-southeast-1"}).region \
        == "ap-southeast-1"
    with pytest.raises(ValueError, match="region"):
        SandboxConfig(region="eu-central-1")


# --- results ------------------------------------------------------------------------------------------------------


def test_an_ekyc_pro_result_carries_pro_field_names_and_parses_into_the_identity(sandbox: SandboxServer) -> None:
    tid = start(sandbox, DocType="MYS01001")
    complete(sandbox, tid, "pass")
    result = check(sandbox, tid).body
    ocr = jsonutil.loads(result["Result"]["ExtIdInfo"])["ocrIdInfo"]
    ocr = jsonutil.loads(ocr) if isinstance(ocr, str) else ocr
    assert {"firstName", "lastName", "dateOfBirth", "idNumber", "countryCode"} <= set(ocr)
    identity = parse_check_result(result, product_code="eKYC_PRO", doc_type="MYS01001").identity
    assert identity is not None
    assert (identity.full_name, identity.nationality, identity.doc_type) == ("TEST SAMPLE", "MYS", "MYS01001")
    assert identity.birth_date is not None and identity.birth_date[4] == "-"


def test_an_ekyc_pro_passport_prints_slash_dates_that_parse_to_iso(sandbox: SandboxServer) -> None:
    tid = start(sandbox, DocType="GLB03002")
    complete(sandbox, tid, "pass")
    result = check(sandbox, tid).body
    assert "/" in str(result["Result"]["ExtIdInfo"])
    identity = parse_check_result(result, product_code="eKYC_PRO").identity
    assert identity is not None and identity.expiry_date == "2030-01-01" and identity.nationality == "UTO"


def test_a_face_only_result_has_a_liveness_verdict_and_no_document(sandbox: SandboxServer) -> None:
    tid = start(sandbox, ProductCode="FACE_LIVENESS_PRO", DocType="<absent>")
    complete(sandbox, tid, "fail")
    result = check(sandbox, tid, IsReturnImage="Y").body["Result"]
    assert (result["Passed"], result["SubCode"]) == ("N", "205")
    assert "ExtIdInfo" not in result and "EkycResult" not in result
    parsed = parse_check_result({"Result": result}, product_code="FACE_LIVENESS_PRO")
    assert parsed.identity is None and parsed.face.face_attack is True and parsed.face.face_passed is False
    assert parsed.images.face is not None and parsed.images.id_front is None


def test_a_doc_type_sent_for_a_face_only_product_is_ignored(sandbox: SandboxServer) -> None:
    tid = start(sandbox, ProductCode="FACE_LIVENESS_PRO", DocType="GLB03002")
    assert control(sandbox, "GET", f"transactions/{tid}").body["docType"] is None


def test_a_face_only_flow_cannot_end_as_a_document_spoof(sandbox: SandboxServer) -> None:
    tid = start(sandbox, ProductCode="FACE_LIVENESS_PRO", DocType="<absent>")
    answer = control(sandbox, "POST", f"transactions/{tid}/complete", {"outcome": "spoof"})
    assert answer.status == 400 and "spoof" in answer.body["error"]["message"]


# --- the page -------------------------------------------------------------------------------------------------------


def test_the_face_only_page_offers_liveness_outcomes_and_no_identity(sandbox: SandboxServer) -> None:
    answer = v3_request(sandbox, "InitializeV2", v2_params(ProductCode="FACE_LIVENESS_PRO", DocType="<absent>"))
    html = page(answer.body["Result"]["TransactionUrl"])
    for outcome in ("pass", "fail", "pending", "abandon"):
        assert f'id="outcome-{outcome}"' in html
    assert 'id="outcome-spoof"' not in html and "id=identity" not in html and "id=face-only" in html
    assert 'value="205"' in html


def test_the_ekyc_pro_page_names_the_document_and_offers_every_outcome(sandbox: SandboxServer) -> None:
    answer = v3_request(sandbox, "InitializeV2", v2_params(DocType="SGP01001"))
    html = page(answer.body["Result"]["TransactionUrl"])
    for outcome in ("pass", "fail", "spoof", "pending", "abandon"):
        assert f'id="outcome-{outcome}"' in html
    assert "Singapore identity card (NRIC)" in html and 'data-field="idNumber"' in html


# --- the official SDK and the project's client ------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_sdk_initialize_v2_ekyc_pro_with_both_face_pictures(sandbox: SandboxServer, algorithm: str | None) -> None:
    from alibabacloud_cloudauth_intl20220809 import models

    client = sdk_client(sandbox, algorithm=algorithm)
    init = client.initialize_v2(models.InitializeV2Request(
        product_code="eKYC_PRO", merchant_biz_id="sdkv2biz01", meta_info='{"bioMetaInfo":"x"}', merchant_user_id="u-1",
        return_url="https://merchant.example/back", doc_type="GLB03002", doc_page_config=["OCR_ID_BACK"],
        face_picture_base_64="aGVsbG8gd29ybGQ+/=", target_face_picture="dGFyZ2V0IGZhY2U+/=",
    ))  # fmt: skip
    assert init.body.code == "Success"
    tid = init.body.result.transaction_id
    assert init.body.result.transaction_url.startswith(sandbox.base_url + "/verify/")
    seen = control(sandbox, "GET", f"transactions/{tid}").body
    assert seen["action"] == "InitializeV2" and seen["parameters"]["DocPageConfig"] == '["OCR_ID_BACK"]'
    assert "TargetFacePicture" not in seen["parameters"]  # pictures are not echoed back
    complete(sandbox, tid, "pass")
    result = client.check_result(models.CheckResultRequest(merchant_biz_id="sdkv2biz01", transaction_id=tid)).body
    assert (result.result.passed, result.result.sub_code) == ("Y", "200")
    identity = parse_check_result(result.to_map(), product_code="eKYC_PRO", doc_type="GLB03002").identity
    assert identity is not None and identity.surname == "SAMPLE"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_sdk_initialize_v2_face_liveness_pro(sandbox: SandboxServer, algorithm: str | None) -> None:
    from alibabacloud_cloudauth_intl20220809 import models

    client = sdk_client(sandbox, algorithm=algorithm)
    init = client.initialize_v2(models.InitializeV2Request(
        product_code="FACE_LIVENESS_PRO", merchant_biz_id="sdkv2face1", meta_info='{"bioMetaInfo":"x"}',
        merchant_user_id="u-1", return_url="https://merchant.example/back",
    ))  # fmt: skip
    tid = init.body.result.transaction_id
    complete(sandbox, tid, "pass")
    body = client.check_result(models.CheckResultRequest(merchant_biz_id="sdkv2face1", transaction_id=tid)).body
    parsed = parse_check_result(body.to_map(), product_code="FACE_LIVENESS_PRO")
    assert parsed.status.value == "PASSED" and parsed.identity is None and parsed.face.face_passed is True


def test_sdk_initialize_v2_in_a_region_without_the_product_is_refused(
    make_sandbox: Callable[..., SandboxServer],
) -> None:
    from alibabacloud_cloudauth_intl20220809 import models
    from Tea.exceptions import TeaException

    client = sdk_client(make_sandbox(region="ap-southeast-3"))
    with pytest.raises(TeaException) as info:
        client.initialize_v2(models.InitializeV2Request(
            product_code="FACE_LIVENESS_PRO", merchant_biz_id="sdkv2face2", meta_info="{}", merchant_user_id="u-1",
            return_url="https://merchant.example/back",
        ))  # fmt: skip
    assert info.value.code == "InvalidParameter"


@pytest.mark.parametrize(("region", "product", "doc_type"), [("ap-southeast-5", "eKYC_PRO", "IDN01001"),
                                                             ("ap-southeast-1", "FACE_LIVENESS_PRO", None)])
def test_the_project_client_runs_initialize_v2_against_the_sandbox(
    make_sandbox: Callable[..., SandboxServer], region: str, product: str, doc_type: str | None
) -> None:
    from shared.cloudauth import CloudAuthClient, CloudAuthSettings, InitializeV2Request

    server = make_sandbox(region=region)
    client = CloudAuthClient(CloudAuthSettings(endpoint=server.base_url, access_key_id=AK, access_key_secret=SECRET,
                                               region=region, product_code=product))
    init = client.initialize_v2(InitializeV2Request(
        merchant_biz_id="ownv2biz01", meta_info='{"x":1}', merchant_user_id="u-hash",
        return_url="https://merchant.example/back", doc_type=doc_type, target_face_picture="dGFyZ2V0",
    ))  # fmt: skip
    complete(server, init.transaction_id, "pass")
    parsed = parse_check_result(client.check_result("ownv2biz01", init.transaction_id), product_code=product,
                                doc_type=doc_type)
    assert parsed.status.value == "PASSED"
    assert (parsed.identity is None) == (doc_type is None)


# --- the 30 minutes an InitializeV2 flow has to be finished (review ar) ------------------------------------------

V2_PRODUCTS = [pytest.param({"ProductCode": "FACE_LIVENESS_PRO", "DocType": "<absent>"}, id="FACE_LIVENESS_PRO"),
               pytest.param({}, id="eKYC_PRO")]


def _late(make_sandbox: Callable[..., SandboxServer], clock: FakeClock) -> SandboxServer:
    """A sandbox on ``clock`` that still takes requests signed 31 minutes before its time."""
    return make_sandbox(clock=clock, timestamp_skew=3600.0)


def _opened(server: SandboxServer, action: str = "InitializeV2", **overrides: str) -> tuple[str, str, str]:
    """Start a flow and open its page: (TransactionId, the page's path, its session)."""
    from tests.sandbox.test_page import _get

    answer = v3_request(server, action, v2_params(**overrides) if action == "InitializeV2" else init_params())
    assert answer.status == 200, answer.body
    url = answer.body["Result"]["TransactionUrl"]
    status, html, _ = _get(url)
    session = re.search(r'name=session value="([^"]+)"', html)
    assert status == 200 and session is not None, html
    return answer.body["Result"]["TransactionId"], urlsplit(url).path, session.group(1)


def _finish(server: SandboxServer, path: str, session: str) -> int:
    from tests.sandbox.test_page import _post_form

    status, _, _ = _post_form(server, f"{path}/finish", [("session", session), ("outcome", "pass")])
    return status


@pytest.mark.parametrize("overrides", V2_PRODUCTS)
def test_an_initialize_v2_flow_cannot_be_finished_30_minutes_after_it_started(
    make_sandbox: Callable[..., SandboxServer], overrides: dict[str, str]
) -> None:
    clock = FakeClock()
    server = _late(make_sandbox, clock)
    transaction_id, path, session = _opened(server, **overrides)
    clock.advance(31 * 60)
    assert _finish(server, path, session) == 200  # the expired page, not the 302 to ReturnUrl
    assert check(server, transaction_id).body["Code"] == "ProcessNotCompleted"


@pytest.mark.parametrize("overrides", V2_PRODUCTS)
def test_an_initialize_v2_flow_finished_within_30_minutes_is_final(
    make_sandbox: Callable[..., SandboxServer], overrides: dict[str, str]
) -> None:
    clock = FakeClock()
    server = _late(make_sandbox, clock)
    transaction_id, path, session = _opened(server, **overrides)
    clock.advance(29 * 60)
    assert _finish(server, path, session) == 302
    assert check(server, transaction_id).body["Result"]["Passed"] == "Y"


def test_an_initialize_v2_page_opened_30_minutes_after_the_start_says_the_link_expired(
    make_sandbox: Callable[..., SandboxServer]
) -> None:
    clock = FakeClock()
    server = _late(make_sandbox, clock)
    answer = v3_request(server, "InitializeV2", v2_params())
    clock.advance(31 * 60)
    assert "name=session" not in page(answer.body["Result"]["TransactionUrl"])


def test_the_control_api_cannot_finish_an_initialize_v2_flow_after_30_minutes(
    make_sandbox: Callable[..., SandboxServer]
) -> None:
    clock = FakeClock()
    server = _late(make_sandbox, clock)
    transaction_id = start(server)
    clock.advance(31 * 60)
    assert control(server, "POST", f"transactions/{transaction_id}/complete", {"outcome": "pass"}).status == 409


def test_a_flow_started_with_initialize_has_no_30_minute_window(make_sandbox: Callable[..., SandboxServer]) -> None:
    clock = FakeClock()
    server = _late(make_sandbox, clock)
    _, path, session = _opened(server, action="Initialize")
    clock.advance(31 * 60)
    assert _finish(server, path, session) == 302


@pytest.mark.parametrize("mobile", ["+62812345678", "+6281234567890"])
def test_an_indonesian_mobile_of_9_to_11_digits_is_accepted(sandbox: SandboxServer, mobile: str) -> None:
    """``Mobile``: "must start with +62 followed by 9 to 11 digits" (the official SDK's InitializeV2Request comment,
    alibabacloud-cloudauth-intl20220809 3.23.1): both ends of the range are taken."""
    start(sandbox, Mobile=mobile)


@pytest.mark.parametrize("mobile", ["62812345678", "+62812345678901", "+6281234567", "+63812345678"])
def test_a_mobile_without_plus_62_or_of_another_length_is_invalid(sandbox: SandboxServer, mobile: str) -> None:
    """The same SDK comment: no ``+``, 8 or 12 digits after ``+62``, or another country's prefix is refused."""
    body = refused(sandbox, Mobile=mobile)
    assert body["Code"] == "InvalidParameter" and "Mobile" in body["Message"]


def test_ekyc_pro_is_still_started_by_initialize(sandbox: SandboxServer) -> None:
    """eKYC_PRO is started by InitializeV2 on its newest page (pro-init) and by Initialize on older ones, and the
    official SDK (alibabacloud-cloudauth-intl20220809 3.23.1) still has both (tools/sandbox/catalog.py)."""
    answer = v3_request(sandbox, "Initialize", v2_params())
    assert answer.status == 200, answer.body


def test_a_face_only_flow_cannot_be_given_a_document_identity(sandbox: SandboxServer) -> None:
    """A face-only product's result has no ExtIdInfo (tools/sandbox/state.py, after the KYC_GLOBAL sample; which
    keys FACE_LIVENESS_PRO fills is unverified): an identity to show in it is refused, as a spoof is."""
    tid = start(sandbox, ProductCode="FACE_LIVENESS_PRO", DocType="<absent>")
    answer = control(sandbox, "POST", f"transactions/{tid}/complete", {"outcome": "pass", "identity": {"surname": "X"}})
    assert answer.status == 400 and "identity" in answer.body["error"]["message"]


def test_a_face_only_pass_is_a_live_face_without_attack(sandbox: SandboxServer) -> None:
    """A face-only product's passed result: ExtFaceInfo with ``facePassed`` Y and ``faceAttack`` N (the KYC_GLOBAL
    CheckResult sample's keys, tools/sandbox/state.py; which keys FACE_LIVENESS_PRO fills is unverified)."""
    tid = start(sandbox, ProductCode="FACE_LIVENESS_PRO", DocType="<absent>")
    complete(sandbox, tid)
    result = check(sandbox, tid).body["Result"]
    face = jsonutil.loads(result["ExtFaceInfo"])
    assert (result["Passed"], face["facePassed"], face["faceAttack"]) == ("Y", "Y", "N")


def _delete(server: SandboxServer, tid: str, delete_type: str) -> None:
    params = {"TransactionId": tid, "DeleteType": delete_type, "DeleteAfterQuery": "N"}
    assert v3_request(server, "DeleteVerifyResult", params).body["Result"]["DeleteResult"] == "Y"


def test_deleting_a_face_only_result_s_text_empties_its_face_info(sandbox: SandboxServer) -> None:
    """DeleteType ``Text`` (REFERENCE.md §1, DeleteVerifyResult) of a face-only result: its liveness verdict text
    goes as a document result's identity does (tools/sandbox/vendor.py); Passed stays."""
    tid = start(sandbox, ProductCode="FACE_LIVENESS_PRO", DocType="<absent>")
    complete(sandbox, tid)
    _delete(sandbox, tid, "Text")
    result = check(sandbox, tid).body["Result"]
    assert (result["Passed"], jsonutil.loads(result["ExtFaceInfo"])) == ("Y", {})


def test_deleting_a_face_only_result_s_images_stops_the_face_image(sandbox: SandboxServer) -> None:
    """DeleteType ``Img`` (REFERENCE.md §1, DeleteVerifyResult): IsReturnImage=Y returns no face image afterwards,
    for a face-only product as for a document one."""
    tid = start(sandbox, ProductCode="FACE_LIVENESS_PRO", DocType="<absent>")
    complete(sandbox, tid)
    _delete(sandbox, tid, "Img")
    face = jsonutil.loads(check(sandbox, tid, IsReturnImage="Y").body["Result"]["ExtFaceInfo"])
    assert "faceImg" not in face and face["facePassed"] == "Y"
