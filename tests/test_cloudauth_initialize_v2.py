"""InitializeV2 in our client: the request the official SDK sends is the oracle; validation by product and region.

The oracle test sends the same parameters through the official SDK (``initialize_v2``) and through our client to the
same scripted endpoint, and compares what arrived: query string, form body, and that both signatures verify.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared import doctypes, jsonutil, products
from shared.cloudauth import (
    ENUMS,
    INITIALIZE_V2,
    CloudAuthClient,
    CloudAuthSettings,
    InitializeRequest,
    InitializeV2Request,
    ParameterError,
    switches_for,
)
from shared.cloudauth.params import validate_initialize_v2
from shared.cloudauth.switches import BY_PARAMETER
from tests.test_cloudauth_fakeserver import AK, SECRET, FakeCloudAuth, Seen

META_INFO = '{"bioMetaInfo":"4.1.0:2916352,0","deviceType":"h5","ua":"Mozilla/5.0"}'
SECRET_VALUE = "PII-Tan-Ah-Kow-880101-14-5678"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[FakeCloudAuth]:
    with FakeCloudAuth() as server:
        yield server


def our_client(endpoint: FakeCloudAuth, region: str = products.HONG_KONG, **overrides: Any) -> CloudAuthClient:
    return CloudAuthClient(endpoint.settings(region=region, **overrides), sleep=lambda _: None)


def sdk_client(endpoint: FakeCloudAuth) -> Any:
    from alibabacloud_cloudauth_intl20220809.client import Client
    from alibabacloud_tea_openapi.models import Config

    port = endpoint.url.rsplit(":", 1)[1]
    config = Config(access_key_id=AK, access_key_secret=SECRET, endpoint=f"127.0.0.1:{port}", protocol="http",
                    no_proxy="127.0.0.1", read_timeout=10_000, connect_timeout=5_000)
    return Client(config)


def last_request(endpoint: FakeCloudAuth) -> Seen:
    seen = endpoint.requests[-1]
    assert seen.action == "InitializeV2" and seen.signature_ok
    return seen


def send_both(endpoint: FakeCloudAuth, params: dict[str, Any]) -> tuple[Seen, Seen]:
    """``params`` by vendor name (DocPageConfig as a list, as the SDK takes it) through the SDK, then through us."""
    from alibabacloud_cloudauth_intl20220809.models import InitializeV2Request as SdkRequest

    response = sdk_client(endpoint).initialize_v2(SdkRequest().from_map(dict(params)))
    assert response.body.result.transaction_id
    by_sdk = last_request(endpoint)
    rest = dict(params)
    ours = InitializeV2Request(
        merchant_biz_id=rest.pop("MerchantBizId"), meta_info=rest.pop("MetaInfo"),
        merchant_user_id=rest.pop("MerchantUserId"), return_url=rest.pop("ReturnUrl"),
        product_code=rest.pop("ProductCode"), doc_page_config=rest.pop("DocPageConfig", None), extra=rest,
    )
    assert our_client(endpoint).initialize_v2(ours).transaction_id
    return by_sdk, last_request(endpoint)


# --- the SDK as the oracle ------------------------------------------------------------------------------------------

TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=30
).filter(lambda s: s.strip() != "")
HOSTS = st.from_regex(r"[a-z][a-z0-9-]{0,12}\.(example|test)", fullmatch=True)
URLS = st.builds(lambda scheme, host, path: f"{scheme}://{host}/{path}", st.sampled_from(["https", "http"]),
                 HOSTS, st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=20))
BASE64 = st.binary(min_size=1, max_size=64).map(lambda b: base64.b64encode(b).decode())
HTTPS_URLS = URLS.map(lambda url: "https" + url[url.index(":"):])


def value_for(name: str) -> st.SearchStrategy[Any]:
    """A valid value of an optional InitializeV2 parameter (the rules are shared.cloudauth.params')."""
    if name in ENUMS:
        return st.sampled_from(sorted(ENUMS[name]))
    special: dict[str, st.SearchStrategy[Any]] = {
        "CallbackUrl": HTTPS_URLS,
        "FacePictureUrl": URLS, "TargetFacePictureUrl": URLS, "FacePictureFile": URLS, "TargetFacePictureFile": URLS,
        "StyleConfig": st.dictionaries(TEXT, TEXT, max_size=3).map(jsonutil.dumps_str),
        "DocPageConfig": st.lists(TEXT, max_size=4),
        "Mobile": st.from_regex(r"\+62[0-9]{9,11}", fullmatch=True),
        "SceneCode": st.from_regex(r"[A-Za-z0-9_]{1,10}", fullmatch=True),
        "FacePictureBase64": BASE64,
        "TargetFacePicture": BASE64,
    }  # fmt: skip
    return special.get(name, TEXT)


OPTIONAL = sorted(INITIALIZE_V2.names - set(INITIALIZE_V2.required) - {"DocType", "ProductCode"})
# A product that verifies no document takes no document switch (the switches' table).
DOCUMENT_SWITCHES = frozenset(name for name, switch in BY_PARAMETER.items() if switch.document)
EKYC_PRO_CODES = sorted(products.EKYC_PRO_DOC_TYPES.codes_in(products.HONG_KONG))


@st.composite
def initialize_v2_params(draw: st.DrawFn) -> dict[str, Any]:
    product = draw(st.sampled_from(["eKYC_PRO", "FACE_LIVENESS_PRO"]))
    params: dict[str, Any] = {
        "ProductCode": product,
        "MerchantBizId": draw(st.from_regex(r"[A-Za-z0-9]{1,32}", fullmatch=True)),
        "MetaInfo": draw(TEXT),
        "MerchantUserId": draw(TEXT),
        "ReturnUrl": draw(URLS),
    }
    if product == "eKYC_PRO":
        params["DocType"] = draw(st.sampled_from(EKYC_PRO_CODES))
    accepted = switches_for(products.PRODUCTS[product]).by_parameter
    optional = [name for name in OPTIONAL if name not in DOCUMENT_SWITCHES or name in accepted]
    for name in draw(st.lists(st.sampled_from(optional), unique=True, max_size=12)):
        params[name] = draw(value_for(name))
    return params


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(params=initialize_v2_params())
def test_our_initialize_v2_request_is_the_official_sdks(endpoint: FakeCloudAuth, params: dict[str, Any]) -> None:
    by_sdk, ours = send_both(endpoint, params)
    assert ours.query == by_sdk.query
    assert ours.form == by_sdk.form
    if by_sdk.form:  # without a body the SDK still names a form content type; we send none (the vendor takes both)
        assert ours.headers["content-type"] == by_sdk.headers["content-type"]


def test_our_initialize_v2_parameters_are_the_sdk_models_fields() -> None:
    import inspect

    from alibabacloud_cloudauth_intl20220809.models import InitializeV2Request as SdkRequest

    attrs = [name for name in inspect.signature(SdkRequest.__init__).parameters if name != "self"]
    every = SdkRequest(**{attr: ["x"] if attr == "doc_page_config" else "x" for attr in attrs})
    assert set(every.to_map()) == INITIALIZE_V2.names
    assert len(INITIALIZE_V2.names) == 62


def sample(name: str) -> Any:
    """One fixed valid value per parameter."""
    fixed = {"CallbackUrl": "https://merchant.example/cb", "StyleConfig": '{"guidePage":{"title":"é"}}',
             "DocPageConfig": ["OCR_ID_BACK"], "Mobile": "+62812345678", "SceneCode": "S_1",
             "FacePictureBase64": "aGk+/w==", "TargetFacePicture": "dGFyZ2V0"}
    if name in fixed:
        return fixed[name]
    if name in ENUMS:
        return sorted(ENUMS[name])[-1]
    if name.endswith(("Url", "File")):
        return f"https://files.example/{name}.jpg"
    return f"{name} value ✓"


def test_with_every_parameter_set_our_request_is_the_sdks(endpoint: FakeCloudAuth) -> None:
    params = {"ProductCode": "eKYC_PRO", "MerchantBizId": "biz0001", "MetaInfo": META_INFO, "MerchantUserId": "u1",
              "ReturnUrl": "https://merchant.example/back?x=1 2&y=*", "DocType": "CHN01001",
              **{name: sample(name) for name in OPTIONAL}}
    by_sdk, ours = send_both(endpoint, params)
    assert (ours.query, ours.form) == (by_sdk.query, by_sdk.form)
    assert set(ours.form) == INITIALIZE_V2.body
    assert set(ours.query) | set(ours.form) == INITIALIZE_V2.names


@pytest.mark.parametrize(
    ("ours", "product", "doc_type"),
    [(InitializeRequest, "eKYC", "01000000"), (InitializeV2Request, "eKYC_PRO", "GLB03002")],
    ids=["Initialize", "InitializeV2"],
)
def test_each_typed_field_of_our_start_requests_is_sent_as_the_sdk_models_field_of_that_name(
    endpoint: FakeCloudAuth, ours: type[Any], product: str, doc_type: str
) -> None:
    """Review bh: the oracle tests above pass every parameter through ``extra`` by its vendor name, so the typed
    fields' own mapping (field -> parameter, which the initializer uses) was checked by nothing: swapping
    ``face_picture_base64`` and ``target_face_picture`` went unnoticed (the user's face sent as the target).
    Here each typed field is set, the SDK model's field of the same name names the parameter, and what the SDK
    sends for them is what we send."""
    from alibabacloud_cloudauth_intl20220809 import models

    from shared.values import fields

    sdk_type = getattr(models, ours.__name__)

    def sdk_name(attr: str) -> str:
        return "face_picture_base_64" if attr == "face_picture_base64" else attr  # the SDK's spelling

    attrs = [f.name for f in fields(ours) if f.name != "extra"]
    vendor = {attr: next(iter(sdk_type(**{sdk_name(attr): "x"}).to_map())) for attr in attrs}
    fixed = {"ProductCode": product, "DocType": doc_type, "MerchantBizId": "biz0001", "MetaInfo": META_INFO,
             "ReturnUrl": "https://merchant.example/back"}  # fmt: skip
    values = {attr: fixed.get(name, sample(name)) for attr, name in vendor.items()}
    operation = "initialize" if ours is InitializeRequest else "initialize_v2"

    getattr(sdk_client(endpoint), operation)(sdk_type(**{sdk_name(a): v for a, v in values.items()}))
    by_sdk = endpoint.requests[-1]
    getattr(our_client(endpoint), operation)(ours(**values))
    seen = endpoint.requests[-1]
    assert seen.signature_ok and seen.action == by_sdk.action == ours.__name__.removesuffix("Request")
    assert (seen.query, seen.form) == (by_sdk.query, by_sdk.form)
    assert set(seen.query) | set(seen.form) == set(vendor.values())


def test_both_face_pictures_go_in_the_form_body_and_the_doc_page_config_is_json(endpoint: FakeCloudAuth) -> None:
    params = {"ProductCode": "eKYC_PRO", "MerchantBizId": "biz0001", "MetaInfo": META_INFO, "MerchantUserId": "u1",
              "ReturnUrl": "https://merchant.example/back", "DocType": "GLB03002",
              "FacePictureBase64": "aGVsbG8+/w==", "TargetFacePicture": "dGFyZ2V0+/w==",
              "DocPageConfig": ["OCR_ID_BACK", "页"]}
    by_sdk, ours = send_both(endpoint, params)
    assert ours.form == by_sdk.form == {"FacePictureBase64": "aGVsbG8+/w==", "TargetFacePicture": "dGFyZ2V0+/w=="}
    assert ours.query["DocPageConfig"] == by_sdk.query["DocPageConfig"] == '["OCR_ID_BACK","页"]'
    assert "TargetFacePicture" not in ours.query


def test_initialize_still_sends_the_target_face_picture_in_the_query(endpoint: FakeCloudAuth) -> None:
    request = InitializeRequest(merchant_biz_id="biz0001", meta_info=META_INFO, merchant_user_id="u1",
                                return_url="https://merchant.example/back", doc_type="01000000",
                                extra={"TargetFacePicture": "dGFyZ2V0"})
    our_client(endpoint).initialize(request)
    seen = endpoint.requests[-1]
    assert seen.action == "Initialize" and seen.query["TargetFacePicture"] == "dGFyZ2V0" and seen.form == {}


def test_initialize_v2_is_not_resent_after_a_server_error(endpoint: FakeCloudAuth) -> None:
    from shared.cloudauth import ServerError
    from tests.test_cloudauth_fakeserver import Reply, error_body

    before = len(endpoint.requests)
    endpoint.reply(Reply(500, error_body("InternalError")))
    with pytest.raises(ServerError):
        our_client(endpoint).initialize_v2(v2_request())
    assert len(endpoint.requests) == before + 1


# --- validation: required parameters, product, region, DocType --------------------------------------------------------


def v2_request(**overrides: Any) -> InitializeV2Request:
    values: dict[str, Any] = {"merchant_biz_id": "biz0001", "meta_info": META_INFO, "merchant_user_id": "u1",
                              "return_url": "https://merchant.example/back", "product_code": "eKYC_PRO",
                              "doc_type": "GLB03002"}
    values.update(overrides)
    return InitializeV2Request(**values)


def offline(region: str = products.HONG_KONG, **overrides: Any) -> CloudAuthClient:
    """A client whose endpoint nothing listens on: validation errors must come before any connection."""
    values: dict[str, Any] = {"endpoint": "https://127.0.0.1:9", "access_key_id": "ak", "access_key_secret": "sk",
                              "max_attempts": 1, "connect_timeout": 0.5, "region": region}
    values.update(overrides)
    return CloudAuthClient(CloudAuthSettings(**values))


def refusal(request: InitializeV2Request, region: str = products.HONG_KONG, **settings_: Any) -> ParameterError:
    with pytest.raises(ParameterError) as info:
        offline(region, **settings_).initialize_v2(request)
    return info.value


@pytest.mark.parametrize("field", ["merchant_biz_id", "meta_info", "merchant_user_id", "return_url", "product_code"])
def test_a_missing_required_parameter_is_named(field: str) -> None:
    error = refusal(v2_request(**{field: ""}))
    assert error.code == "MissingParameter"
    assert error.parameter == "".join(part.capitalize() for part in field.split("_"))


def test_ekyc_pro_needs_a_doc_type() -> None:
    error = refusal(v2_request(doc_type=None))
    assert (error.code, error.parameter) == ("MissingParameter", "DocType")


def test_face_liveness_pro_refuses_a_doc_type() -> None:
    error = refusal(v2_request(product_code="FACE_LIVENESS_PRO"))
    assert (error.code, error.parameter) == ("InvalidParameter", "DocType")
    assert "verifies no document" in error.message


@pytest.mark.parametrize("parameter", sorted(DOCUMENT_SWITCHES))
def test_face_liveness_pro_refuses_a_document_switch(parameter: str) -> None:
    request = v2_request(product_code="FACE_LIVENESS_PRO", doc_type=None, extra={parameter: sample(parameter)})
    error = refusal(request, products.SINGAPORE)
    assert (error.code, error.parameter) == ("InvalidParameter", parameter)


def test_face_liveness_pro_takes_the_face_switches() -> None:
    face = {s.parameter: sample(s.parameter) for s in switches_for(products.PRODUCTS["FACE_LIVENESS_PRO"])}
    assert {"Model", "SecurityLevel", "LanguageConfig"} <= set(face)
    params = validate_initialize_v2(
        v2_request(product_code="FACE_LIVENESS_PRO", doc_type=None, extra=face).to_params("eKYC"),
        region=products.SINGAPORE,
    )
    assert set(face) <= set(params)


def test_face_liveness_pro_without_a_doc_type_passes_validation() -> None:
    params = validate_initialize_v2(v2_request(product_code="FACE_LIVENESS_PRO", doc_type=None).to_params("eKYC"),
                                    region=products.SINGAPORE)
    assert params["ProductCode"] == "FACE_LIVENESS_PRO" and "DocType" not in params


@pytest.mark.parametrize(("region", "doc_type"), [(products.JAKARTA, "MYS01001"), (products.KUALA_LUMPUR, "IDN01001"),
                                                  (products.KUALA_LUMPUR, "CHN01001")])
def test_ekyc_pro_refuses_a_document_its_region_does_not_take(region: str, doc_type: str) -> None:
    error = refusal(v2_request(doc_type=doc_type), region)
    assert error.parameter == "DocType" and region in error.message


@pytest.mark.parametrize(("region", "doc_type"), [(products.JAKARTA, "IDN01001"), (products.JAKARTA, "GLB03002"),
                                                  (products.KUALA_LUMPUR, "MYS01001"),
                                                  (products.SINGAPORE, "PHL07002"), (products.HONG_KONG, "HKG01002")])
def test_ekyc_pro_takes_the_documents_of_its_region(region: str, doc_type: str) -> None:
    params = validate_initialize_v2(v2_request(doc_type=doc_type).to_params("eKYC"), region=region)
    assert params["DocType"] == doc_type


def test_ekyc_pro_refuses_the_hong_kong_driving_licence_which_has_no_portrait() -> None:
    assert refusal(v2_request(doc_type=doctypes.HK_DRIVING_LICENCE)).parameter == "DocType"


def test_ekyc_codes_are_not_ekyc_pro_codes() -> None:
    assert refusal(v2_request(doc_type="01000000"), allow_undocumented_doc_types=True).parameter == "DocType"


def test_an_undocumented_certificate_code_passes_only_when_allowed() -> None:
    assert refusal(v2_request(doc_type="PHL09001")).parameter == "DocType"
    params = validate_initialize_v2(v2_request(doc_type="PHL09001").to_params("eKYC"), region=products.SINGAPORE,
                                    allow_undocumented_doc_types=True)
    assert params["DocType"] == "PHL09001"


def test_a_product_not_offered_in_the_region_is_refused_naming_where_it_is() -> None:
    error = refusal(v2_request(product_code="FACE_LIVENESS_PRO", doc_type=None), products.KUALA_LUMPUR)
    assert error.parameter == "ProductCode"
    assert "ap-southeast-3" in error.message and "ap-southeast-1" in error.message


def test_a_product_started_by_initialize_is_refused() -> None:
    error = refusal(v2_request(product_code="eKYC", doc_type="01000000"))
    assert error.parameter == "ProductCode" and "started with Initialize" in error.message


def test_a_documented_but_unsupported_product_is_refused_as_such() -> None:
    error = refusal(v2_request(product_code="FACE_IDU", doc_type=None))
    assert error.parameter == "ProductCode" and "not supported by this project" in error.message


def test_the_default_product_comes_from_the_settings() -> None:
    client = offline(product_code="FACE_LIVENESS_PRO")
    params = v2_request(product_code=None, doc_type=None).to_params(client.settings.product_code)
    assert params["ProductCode"] == "FACE_LIVENESS_PRO"


def test_an_unknown_parameter_is_refused_by_name() -> None:
    assert refusal(v2_request(extra={"NotAVendorParam": "x"})).parameter == "NotAVendorParam"


@pytest.mark.parametrize(("name", "value"), [("Mobile", "+6281234"), ("Mobile", "081234567890"),
                                             ("MRTDInput", "3"), ("AppQualityCheck", "yes"),
                                             ("FacePictureUrl", "/relative.jpg"), ("SecurityLevel", "03")])
def test_documented_value_rules_apply(name: str, value: str) -> None:
    assert refusal(v2_request(extra={name: value})).parameter == name


def test_doc_page_config_must_be_a_list_of_strings() -> None:
    assert refusal(v2_request(doc_page_config="OCR_ID_BACK")).parameter == "DocPageConfig"
    assert refusal(v2_request(doc_page_config=["a", 1])).parameter == "DocPageConfig"


def test_the_callback_must_be_https_for_the_real_service() -> None:
    assert refusal(v2_request(callback_url="http://merchant.example/cb")).parameter == "CallbackUrl"


def test_refusals_never_echo_values() -> None:
    cases = [v2_request(merchant_biz_id=SECRET_VALUE), v2_request(doc_type=SECRET_VALUE),
             v2_request(extra={"Mobile": SECRET_VALUE}), v2_request(callback_url=SECRET_VALUE),
             v2_request(product_code=SECRET_VALUE.replace("-", "_"), doc_type=None)]
    for request in cases:
        error = refusal(request)
        assert SECRET_VALUE not in str(error) and SECRET_VALUE.replace("-", "_") not in str(error)
        assert error.parameter and error.parameter in str(error)


def test_the_request_repr_hides_pii() -> None:
    text = repr(v2_request(meta_info=SECRET_VALUE, merchant_user_id=SECRET_VALUE,
                           face_picture_base64=SECRET_VALUE, extra={"DocNo": SECRET_VALUE}))
    assert SECRET_VALUE not in text and "biz0001" in text
