"""The sandbox's own copy of the vendor's rules and the client's table say the same thing.

They are written independently on purpose (the sandbox checks the client against a second reading of the vendor's
documentation); this keeps the two readings from drifting apart unnoticed."""

from __future__ import annotations

import pytest

from shared import values
from shared.cloudauth import ENUMS, INITIALIZE_PARAMETERS, INITIALIZE_SWITCHES, SWITCHES, InitializeRequest
from shared.ids import is_merchant_biz_id
from tools.sandbox import vendor

SAMPLE_IDS = ["0f8fad5bd9cb469fa16570867728950e", "a", "x" * 32, "x" * 33, "", "a_b", "a-b", "é", "ａ", "rl" + "0" * 30]


@pytest.mark.parametrize("operation", sorted(SWITCHES))
def test_every_enumerated_switch_has_the_sandbox_s_values(operation: str) -> None:
    assert operation in vendor.START_ACTIONS
    for switch in SWITCHES[operation]:
        assert switch.values == vendor.INITIALIZE_ENUMS.get(switch.parameter, frozenset()), switch


def test_the_client_and_the_sandbox_enumerate_the_same_initialize_parameters() -> None:
    assert {name: values for name, values in ENUMS.items() if name in INITIALIZE_PARAMETERS} == vendor.INITIALIZE_ENUMS


def test_scene_code_format_is_the_same() -> None:
    scene = INITIALIZE_SWITCHES.by_parameter["SceneCode"]
    assert scene.pattern is not None and scene.pattern == vendor.SCENE_CODE.pattern


@pytest.mark.parametrize("value", SAMPLE_IDS)
def test_merchant_biz_id_rule_is_the_same(value: str) -> None:
    assert is_merchant_biz_id(value) == bool(vendor.MERCHANT_BIZ_ID.fullmatch(value))


def test_every_switch_is_an_initialize_request_field_sent_under_its_vendor_name() -> None:
    fields = {f.name for f in values.fields(InitializeRequest)}
    base = InitializeRequest(merchant_biz_id="b1", meta_info="m", merchant_user_id="u", return_url="https://r/",
                             doc_type="01000000")
    for switch in INITIALIZE_SWITCHES:
        assert switch.field in fields
        params = values.replace(base, **{switch.field: "v"}).to_params("eKYC")
        assert params[switch.parameter] == "v"


@pytest.mark.parametrize(("parameter", "sandbox_values"), [("DeleteType", vendor.DELETE_TYPES),
                                                           ("DeleteAfterQuery", vendor.YES_NO),
                                                           ("IsReturnImage", vendor.YES_NO)])
def test_the_client_and_the_sandbox_take_the_same_values_of_the_result_operations(
    parameter: str, sandbox_values: frozenset[str]
) -> None:
    assert ENUMS[parameter] == sandbox_values
