"""shared.products: the vendor's product table, its invariants, and the product/region check."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared import doctypes, products
from shared.products import (
    HONG_KONG,
    JAKARTA,
    KUALA_LUMPUR,
    PRODUCTS,
    SINGAPORE,
    SUPPORTED,
    DocTypeUse,
    ProductError,
    check_product,
)


def test_the_project_supports_ekyc_ekyc_pro_and_face_liveness_pro() -> None:
    assert set(SUPPORTED) == {"eKYC", "eKYC_PRO", "FACE_LIVENESS_PRO"}


@pytest.mark.parametrize("code", SUPPORTED)
def test_a_supported_row_leaves_nothing_undecided(code: str) -> None:
    row = PRODUCTS[code]
    assert row.start_operation in {products.INITIALIZE, products.INITIALIZE_V2}
    assert row.regions and row.has_document is not None and row.result_sections
    assert row.doc_type is not DocTypeUse.UNVERIFIED
    assert (row.doc_types is not None) == (row.doc_type is DocTypeUse.REQUIRED)
    assert (row.doc_type is DocTypeUse.REQUIRED) == row.has_document


@pytest.mark.parametrize("code", SUPPORTED)
def test_every_result_section_of_a_supported_product_is_a_check_result_field_of_the_official_sdk(code: str) -> None:
    from alibabacloud_cloudauth_intl20220809.models import CheckResultResponseBodyResult

    result = CheckResultResponseBodyResult()
    for attribute in vars(result):
        setattr(result, attribute, "x")
    assert set(PRODUCTS[code].result_sections) <= set(result.to_map()) - {"Passed", "SubCode"}


def test_every_region_named_in_the_table_is_a_known_region() -> None:
    for row in PRODUCTS.values():
        assert set(row.regions or ()) <= set(products.REGION_NAMES), row.code


def test_every_start_operation_is_an_operation_of_the_official_sdk() -> None:
    from alibabacloud_cloudauth_intl20220809.client import Client

    for row in PRODUCTS.values():
        if row.start_operation is not None:
            method = re.sub(r"(?<!^)(?=[A-Z])", "_", row.start_operation).lower()
            assert hasattr(Client, method), (row.code, method)


@pytest.mark.parametrize("region", sorted(products.REGION_NAMES))
def test_endpoints_are_the_official_sdks_regional_endpoints(region: str) -> None:
    from alibabacloud_tea_openapi.utils import Utils

    assert products.public_endpoint(region) == Utils.get_endpoint_rules("cloudauth-intl", region, "regional", "", "")
    assert products.vpc_endpoint(region) == Utils.get_endpoint_rules("cloudauth-intl", region, "regional", "vpc", "")


@pytest.mark.parametrize("region", sorted(products.REGION_NAMES))
def test_the_region_of_a_vendor_host_is_read_back(region: str) -> None:
    assert products.region_of_endpoint(products.public_endpoint(region)) == region
    assert products.region_of_endpoint(products.vpc_endpoint(region).upper()) == region


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "cloudauth.cn-hongkong.aliyuncs.com",
                                  "cloudauth-intl.cn-hongkong.aliyuncs.com.evil.example"])
def test_other_hosts_have_no_vendor_region(host: str) -> None:
    assert products.region_of_endpoint(host) is None


# --- document types ---------------------------------------------------------------------------------------------


def test_ekyc_pro_takes_every_certificate_type_with_a_portrait_in_singapore_and_hong_kong() -> None:
    table = PRODUCTS["eKYC_PRO"].doc_types
    assert table is not None
    expected = set(doctypes.CERTIFICATE_TYPES) - {doctypes.HK_DRIVING_LICENCE}
    assert table.codes_in(SINGAPORE) == expected == table.codes_in(HONG_KONG)
    assert table.problem(doctypes.HK_DRIVING_LICENCE, SINGAPORE) is not None


def test_ekyc_pro_in_jakarta_takes_only_the_indonesian_id_and_the_global_passport() -> None:
    table = PRODUCTS["eKYC_PRO"].doc_types
    assert table is not None
    assert table.codes_in(JAKARTA) == {"IDN01001", "GLB03002"}
    assert table.problem("MYS01001", JAKARTA) == "must be one of GLB03002, IDN01001 in ap-southeast-5"


def test_ekyc_pro_in_kuala_lumpur_takes_only_mykad_and_the_global_passport() -> None:
    table = PRODUCTS["eKYC_PRO"].doc_types
    assert table is not None
    assert table.codes_in(KUALA_LUMPUR) == {"MYS01001", "GLB03002"}
    assert table.problem("CHN01001", KUALA_LUMPUR) is not None


def test_undocumented_certificate_codes_pass_only_when_allowed_and_only_where_no_region_list_applies() -> None:
    table = PRODUCTS["eKYC_PRO"].doc_types
    assert table is not None
    assert table.problem("PHL09001", SINGAPORE) is not None
    assert table.problem("PHL09001", SINGAPORE, allow_undocumented=True) is None
    assert table.problem("PHL09001", JAKARTA, allow_undocumented=True) is not None
    assert table.problem("01000000", SINGAPORE, allow_undocumented=True) is not None  # eKYC's code family


def test_ekyc_keeps_its_eight_and_nine_digit_codes() -> None:
    table = PRODUCTS["eKYC"].doc_types
    assert table is not None and table.codes == set(doctypes.DOC_TYPES)
    assert table.problem("01560000", HONG_KONG, allow_undocumented=True) is None
    assert table.problem("GLB03002", HONG_KONG, allow_undocumented=True) is not None


def test_certificate_codes_have_the_country_type_variant_shape() -> None:
    for code, row in doctypes.CERTIFICATE_TYPES.items():
        assert re.fullmatch(r"[A-Z]{3}[0-9]{5}", code) and row.code == code
        assert row.pages in (("01",), ("01", "02"), None)


@given(code=st.text(max_size=12))
def test_a_doc_type_problem_does_not_depend_on_the_code_given(code: str) -> None:
    """The message is one of the table's fixed texts, so it can never carry a caller's value."""
    table = PRODUCTS["eKYC_PRO"].doc_types
    assert table is not None
    for region in (SINGAPORE, JAKARTA):
        for allow in (False, True):
            problem = table.problem(code, region, allow_undocumented=allow)
            fixed = {table.problem(probe, region, allow_undocumented=allow) for probe in ("", "ZZZ9999", "ZZZ99999")}
            assert problem is None or problem in fixed


# --- the product/region check -------------------------------------------------------------------------------------


def test_a_supported_product_in_its_region_is_returned() -> None:
    assert check_product("eKYC_PRO", KUALA_LUMPUR, operation="InitializeV2") is PRODUCTS["eKYC_PRO"]


def test_a_product_outside_its_regions_names_both_and_where_it_works() -> None:
    with pytest.raises(ProductError) as info:
        check_product("eKYC", SINGAPORE)
    assert info.value.reason == "region"
    assert str(info.value) == (
        "eKYC is not offered in ap-southeast-1 (Singapore); the vendor offers it in cn-hongkong (China (Hong Kong))"
    )


def test_a_product_asked_of_the_wrong_operation_says_which_one_starts_it() -> None:
    with pytest.raises(ProductError) as info:
        check_product("eKYC", HONG_KONG, operation="InitializeV2")
    assert (info.value.reason, str(info.value)) == ("operation", "eKYC is started with Initialize, not InitializeV2")


def test_a_documented_product_this_project_does_not_run_is_called_so() -> None:
    with pytest.raises(ProductError) as info:
        check_product("FACE_IDU", HONG_KONG)
    assert info.value.reason == "unsupported"
    assert "FACE_IDU is documented by the vendor but not supported" in str(info.value)


def test_an_unknown_product_code_is_not_repeated() -> None:
    with pytest.raises(ProductError) as info:
        check_product("SECRET_LOOKING_CODE", HONG_KONG)
    assert info.value.reason == "unknown" and "SECRET_LOOKING_CODE" not in str(info.value)


@given(st.from_regex(r"(cloudauth-intl(-vpc)?\.)?[a-zA-Z0-9.-]{0,12}(\.aliyuncs\.com)?\.?", fullmatch=True))
def test_a_host_s_region_is_the_one_the_endpoint_pattern_reads(host: str) -> None:
    """String methods in place of the regex every start compiled (docs/performance.md, "Phase 7")."""
    match = re.fullmatch(r"cloudauth-intl(?:-vpc)?\.([a-z0-9-]+)\.aliyuncs\.com", host.lower().rstrip("."))
    assert products.region_of_endpoint(host) == (match.group(1) if match else None)
