"""shared.results against oracles: the official SDK model, the vendor's API metadata, and arbitrary input."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared import doctypes
from shared.results import CheckResultResponse, ResultParseError, mask_identity, parse_check_result
from tests.conftest import vendor_api_metadata
from tests.test_results_support import FAKE_JPEG, OCR_BY_DOC_TYPE, b64, make_body


def _sdk_round_trip(body: dict[str, Any]) -> dict[str, Any]:
    from alibabacloud_cloudauth_intl20220809.models import CheckResultResponseBody

    mapped: dict[str, Any] = CheckResultResponseBody().from_map(body).to_map()
    return mapped


def _full_body(doc_type: str) -> dict[str, Any]:
    return make_body(
        passed="N",
        sub_code="212",
        ocr=OCR_BY_DOC_TYPE[doc_type],
        nested_ocr_string=True,
        id_info={
            "idImage": b64(FAKE_JPEG),
            "spoofInfo": {"spoofResult": "Y", "spoofType": ["TAMPER"]},
            "ocrIdEditInfo": '{"name": "edited"}',
        },
        face_info={"facePassed": "N", "faceAttack": "Y", "faceComparisonScore": 12.5, "faceImg": b64(FAKE_JPEG)},
        ExtBasicInfo='{"basic": 1}',
        ExtRiskInfo='{"risk": 2}',
        ExtInfo='{"ext": 3}',
        EkycResult='{"ekyc": 4}',
        ExtSourceInfo='{"source": 5}',
    )


@pytest.mark.parametrize("doc_type", sorted(doctypes.DOC_TYPES))
def test_sdk_model_round_trip_parses_identically(doc_type: str) -> None:
    body = _full_body(doc_type)
    ours = parse_check_result(body, doc_type=doc_type)
    via_sdk = parse_check_result(_sdk_round_trip(body), doc_type=doc_type)
    assert via_sdk.to_record() == ours.to_record()
    assert via_sdk.images.face is not None and via_sdk.images.face.data == FAKE_JPEG


def test_sdk_model_round_trip_keeps_every_field_we_record() -> None:
    record = parse_check_result(_sdk_round_trip(_full_body(doctypes.PASSPORT))).to_record()
    assert record["extSourceInfo"] == {"source": 5}
    assert record["ekycResult"] == {"ekyc": 4}
    assert record["spoof"] == {"spoofResult": True, "spoofTypes": ["TAMPER"]}


def test_every_result_field_in_the_api_metadata_reaches_the_record() -> None:
    metadata = vendor_api_metadata()
    properties = metadata["apis"]["CheckResult"]["responses"]["200"]["schema"]["properties"]
    result_fields = set(properties["Result"]["properties"])
    assert {"Passed", "SubCode"} <= result_fields
    body = make_body(sub_code="200")
    for name in result_fields - {"Passed", "SubCode"}:
        body["Result"][name] = orjson.dumps({f"probe{name}": 1}).decode()
    encoded = orjson.dumps(parse_check_result(body).to_record())
    for name in result_fields - {"Passed", "SubCode"}:
        assert f"probe{name}".encode() in encoded, name
    assert set(properties) == {"RequestId", "Code", "Message", "Result"}


# -- property: any JSON-like input gives a result or a ResultParseError ------------------------------------------------

TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
SCALARS = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | TEXT
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=12,
)
KNOWN_OCR_KEYS = sorted({key for ocr in OCR_BY_DOC_TYPE.values() for key in ocr} | {"validPeriod", "gender"})
DATE_LIKE = st.sampled_from(["1990-01-05", "05 JAN 1990", "1990年1月5日", "2015.01.01-长期", "1990-02-30", "x"])
OCR = st.dictionaries(st.sampled_from(KNOWN_OCR_KEYS) | TEXT, DATE_LIKE | JSON_VALUES, max_size=8)


def _maybe_string(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The value itself, or as a JSON string (the vendor nests JSON in strings), or an arbitrary string."""
    return strategy | strategy.map(lambda v: orjson.dumps(v).decode()) | TEXT


ID_OPTIONAL: dict[str, st.SearchStrategy[Any]] = {
    "ocrIdPassed": JSON_VALUES,
    "spoofInfo": _maybe_string(
        st.fixed_dictionaries({}, optional={"spoofResult": JSON_VALUES, "spoofType": JSON_VALUES})
    ),
    "ocrIdEditInfo": _maybe_string(JSON_VALUES),
    "idImage": JSON_VALUES | st.binary(max_size=24).map(lambda b: b64(FAKE_JPEG[:4] + b)),
    "idBackImage": JSON_VALUES,
}
ID_INFO = st.fixed_dictionaries({}, optional={"ocrIdInfo": _maybe_string(OCR), **ID_OPTIONAL})
FACE_INFO = st.dictionaries(
    st.sampled_from(["facePassed", "faceAttack", "faceComparisonScore", "authorityComparisonScore", "faceImg"]) | TEXT,
    JSON_VALUES,
    max_size=5,
)
RESULT = st.fixed_dictionaries(
    {},
    optional={
        "Passed": st.sampled_from(["Y", "N", "P"]) | JSON_VALUES,
        "SubCode": JSON_VALUES,
        "ExtIdInfo": _maybe_string(ID_INFO) | JSON_VALUES,
        "ExtFaceInfo": _maybe_string(FACE_INFO) | JSON_VALUES,
        "ExtBasicInfo": _maybe_string(JSON_VALUES),
        "ExtRiskInfo": _maybe_string(JSON_VALUES),
        "ExtInfo": _maybe_string(JSON_VALUES),
        "EkycResult": _maybe_string(JSON_VALUES),
    },
)
BODY = st.fixed_dictionaries(
    {},
    optional={"RequestId": JSON_VALUES, "Code": JSON_VALUES, "Message": JSON_VALUES, "Result": RESULT | JSON_VALUES},
)

# mostly well-formed responses, so the nested parsing (identity, dates, images) is exercised too
WELL_FORMED = st.fixed_dictionaries(
    {
        "Result": st.fixed_dictionaries(
            {
                "Passed": st.sampled_from(["Y", "N", "P"]),
                "ExtIdInfo": _maybe_string(
                    st.fixed_dictionaries({"ocrIdInfo": _maybe_string(OCR)}, optional=ID_OPTIONAL)
                ),
            },
            optional={"ExtFaceInfo": _maybe_string(FACE_INFO), "SubCode": JSON_VALUES},
        )
    },
    optional={"RequestId": JSON_VALUES},
)


def _exercise(result: CheckResultResponse) -> None:
    """Touch every lazily parsed part: none of them may raise."""
    record = result.to_record()
    orjson.dumps(record)  # JSON-ready
    orjson.dumps(result.summary())
    mask_identity(result.identity)
    for image in result.images:
        _ = (image.size, image.content_type)
    _ = (result.ocr_id_passed, result.sub_code_description, repr(result), repr(result.identity))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=WELL_FORMED | BODY | JSON_VALUES,
    as_bytes=st.booleans(),
    doc_type=st.none() | st.sampled_from(sorted(doctypes.DOC_TYPES)),
)
def test_any_json_like_body_parses_or_raises_result_parse_error(
    body: Any, as_bytes: bool, doc_type: str | None
) -> None:
    payload: Any = orjson.dumps(body) if as_bytes else body
    try:
        result = parse_check_result(payload, doc_type=doc_type)
    except ResultParseError:
        return
    _exercise(result)


@settings(max_examples=200)
@given(raw=st.binary(max_size=64) | st.text(max_size=64))
def test_any_raw_input_parses_or_raises_result_parse_error(raw: bytes | str) -> None:
    try:
        result = parse_check_result(raw)
    except ResultParseError:
        return
    _exercise(result)
