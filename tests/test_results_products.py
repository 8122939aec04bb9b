"""Results of the InitializeV2 products: eKYC_PRO's OCR field names into the identity schema; face-only results.

The fixtures are the vendor's documented samples (research notes §5.3): the eKYC_PRO response table itself could not
be read, so eKYC_PRO's field names are assumed from the vendor's samples of the same family — the EkycVerify sample
(``firstName``/``lastName``/``dateOfBirth``, dates YYYY-MM-DD), the DocOcrMax sample (same document model as
eKYC_PRO; ``surname``/``givenname``/``passportNo``, dates YYYY/MM/DD) and the KYC_GLOBAL CheckResult sample
(``faceQuality``, ``faceOcclusion``). The FaceLiveness sample gives the PascalCase face object.
"""

from __future__ import annotations

import datetime
import math
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.results import mask_identity, parse_check_result

# "EkycVerify" response sample of the vendor's API metadata, verbatim except the trailing comma after "Y", which
# makes the documented text invalid JSON (the malformed original is tested separately below).
EKYC_VERIFY_SAMPLE = {
    "RequestId": "130A2C10-B9EE-4D84-88E3-5384FF039795", "Code": "Success", "Message": "success",
    "Result": {
        "TransactionId": "4ab0b***cbde97", "SubCode": "205", "Passed": "Y",
        "ExtFaceInfo": '{"faceAttack":"N","faceComparisonScore":52.57,"facePassed":"N",'
                       '"authorityComparisonScore":80.39}',
        "ExtIdInfo": '{"ocrIdInfo":{"firstName":"**龙","lastName":"**","countryCode":"CHN","docType":"01560001",'
                     '"dateOfBirth":"2002-08-04","idNumber":"410************19"},"ocrIdPassed":"N",'
                     '"spoofInfo":{"spoofResult":"Y"}}',
    },
}  # fmt: skip
EKYC_VERIFY_AS_DOCUMENTED = EKYC_VERIFY_SAMPLE["Result"]["ExtIdInfo"].replace('"Y"}}', '"Y",}}')  # type: ignore[index]

# "DocOcrMax" response sample (ID_OCR_MAX: the eKYC_PRO document model), verbatim.
DOC_OCR_MAX_SAMPLE = {
    "RequestId": "R-MAX", "Code": "Success",
    "Result": {
        "Passed": "Y", "SubCode": "200", "TransactionId": "hk573be80f944d95ac812e0*******a8",
        "ExtIdInfo": '{"docType":"PPTW01","ocrIdInfo":{"passportNo":"36*******","expiryDate":"2032/02/10",'
                     '"placeOfBirth":"TAIWAN","surname":"CHEN","givenname":"LIN-CHUN","countryCode":"TWN","sex":"F",'
                     '"personalNo":"S22********","issueDate":"2022/02/10","birthDate":"1988/10/04"}}',
    },
}  # fmt: skip

# "FaceLiveness" response sample: ExtFaceInfo as an object with PascalCase keys, verbatim.
FACE_LIVENESS_SAMPLE = {
    "RequestId": "R-FL", "Code": "Success",
    "Result": {"Passed": "N", "SubCode": "205",
               "ExtFaceInfo": {"FaceQualityScore": 87.19, "OcclusionResult": "Y", "FaceAttack": "Y",
                               "FaceGender": "M", "FaceAge": 18}},
}  # fmt: skip

# ExtFaceInfo of the KYC_GLOBAL "CheckResult" page (help/en/ekyc/latest/gsz1q5nkto9u0acn, Jan 22, 2024), images out.
KYC_GLOBAL_FACE = {"faceAttack": "N", "faceComparisonScore": 99.99, "facePassed": "Y", "faceQuality": 95.45,
                   "faceOcclusion": "N"}  # fmt: skip


def body(result: dict[str, Any]) -> dict[str, Any]:
    return {"RequestId": "R", "Code": "Success", "Message": "success", "Result": result}


# --- eKYC_PRO: the identity schema --------------------------------------------------------------------------------


def test_ekyc_pro_first_and_last_name_fields_fill_the_identity() -> None:
    identity = parse_check_result(EKYC_VERIFY_SAMPLE, product_code="eKYC_PRO").identity
    assert identity is not None
    assert identity.to_dict() == {
        "fullName": "**龙 **", "givenName": "**龙", "surname": "**", "nativeName": None,
        "documentNumber": "410************19", "birthDate": "2002-08-04", "sex": None, "nationality": "CHN",
        "issueDate": None, "expiryDate": None, "address": None, "placeOfIssue": None, "issuingAuthority": None,
        "docType": "01560001", "unparsedDates": [],
    }  # fmt: skip


def test_slash_dates_of_the_ocr_max_model_become_iso_dates() -> None:
    result = parse_check_result(DOC_OCR_MAX_SAMPLE, product_code="eKYC_PRO")
    identity = result.identity
    assert identity is not None
    assert (identity.birth_date, identity.issue_date, identity.expiry_date) == ("1988-10-04", "2022-02-10",
                                                                                "2032-02-10")
    assert (identity.full_name, identity.document_number, identity.sex) == ("LIN-CHUN CHEN", "36*******", "F")
    assert identity.nationality == "TWN"
    assert result.doc_type == "PPTW01"  # declared in ExtIdInfo


def test_fields_outside_the_identity_schema_stay_in_the_record() -> None:
    record = parse_check_result(DOC_OCR_MAX_SAMPLE, product_code="eKYC_PRO").to_record()
    assert record["ocrIdInfo"]["personalNo"] == "S22********"
    assert record["ocrIdInfo"]["placeOfBirth"] == "TAIWAN"
    assert record["extIdInfo"] == {"docType": "PPTW01"}
    assert record["productCode"] == "eKYC_PRO"


def test_the_doc_type_given_at_initialize_wins_over_the_declared_one() -> None:
    result = parse_check_result(DOC_OCR_MAX_SAMPLE, product_code="eKYC_PRO", doc_type="GLB03002")
    assert result.doc_type == "GLB03002"
    assert result.identity is not None and result.identity.doc_type == "GLB03002"


def test_the_documented_malformed_sample_still_parses_and_keeps_its_text() -> None:
    result = parse_check_result(body({**EKYC_VERIFY_SAMPLE["Result"], "ExtIdInfo": EKYC_VERIFY_AS_DOCUMENTED}),  # type: ignore[dict-item]
                                product_code="eKYC_PRO")
    assert result.identity is None  # nothing readable: no identity rather than a guessed one
    record = result.to_record()
    assert record["extIdInfo"] == EKYC_VERIFY_AS_DOCUMENTED
    assert record["face"]["faceComparisonScore"] == 52.57


@pytest.mark.parametrize(("raw", "expected"), [("chn", "CHN"), (" MYS ", "MYS"), ("D", "DEU"), ("D<<", "DEU"),
                                               ("CHINESE", None), ("中国", None), ("CN", None), ("", None)])
def test_nationality_is_an_alpha3_code_or_nothing(raw: str, expected: str | None) -> None:
    ocr = {"firstName": "TEST", "lastName": "SAMPLE", "nationality": raw}
    result = parse_check_result(body({"Passed": "Y", "ExtIdInfo": orjson.dumps({"ocrIdInfo": ocr}).decode()}))
    assert result.identity is not None and result.identity.nationality == expected
    assert result.to_record()["ocrIdInfo"]["nationality"] == raw  # the vendor's text is kept


def test_an_unreadable_nationality_falls_back_to_the_issuing_country() -> None:
    ocr = {"firstName": "TEST", "nationality": "MALAYSIAN", "countryCode": "mys"}
    result = parse_check_result(body({"Passed": "Y", "ExtIdInfo": orjson.dumps({"ocrIdInfo": ocr}).decode()}))
    assert result.identity is not None and result.identity.nationality == "MYS"


# --- face-only products ---------------------------------------------------------------------------------------------


def test_a_face_liveness_pro_result_has_a_face_section_and_no_identity() -> None:
    result = parse_check_result(FACE_LIVENESS_SAMPLE, product_code="FACE_LIVENESS_PRO")
    assert (result.identity, result.doc_type) == (None, None)
    record = result.to_record()
    assert record["identity"] is None and record["docType"] is None
    assert record["face"] == {"facePassed": None, "faceAttack": True, "faceComparisonScore": None,
                              "authorityComparisonScore": None, "faceQualityScore": 87.19, "faceOcclusion": True,
                              "faceAttackScore": None}  # fmt: skip
    assert record["extFaceInfo"]["FaceGender"] == "M" and record["extFaceInfo"]["FaceAge"] == 18


def test_camel_case_quality_and_occlusion_are_read() -> None:
    face = parse_check_result(body({"Passed": "Y", "ExtFaceInfo": orjson.dumps(KYC_GLOBAL_FACE).decode()})).face
    assert (face.face_passed, face.face_attack, face.face_quality_score, face.face_occlusion) == (True, False, 95.45,
                                                                                                  False)


@pytest.mark.parametrize(
    ("key", "value", "attribute", "expected"),
    [
        ("faceQuality", 95.45, "face_quality_score", 95.45),
        ("faceQualityScore", "87.19", "face_quality_score", 87.19),
        ("FaceQualityScore", 87.19, "face_quality_score", 87.19),
        ("faceOcclusion", "Y", "face_occlusion", True),
        ("occlusionResult", "Y", "face_occlusion", True),
        ("OcclusionResult", "N", "face_occlusion", False),
        ("faceAttackScore", "0.12", "face_attack_score", 0.12),
        ("FaceAttackScore", 0.12, "face_attack_score", 0.12),
    ],
)
def test_each_spelling_the_face_section_is_read_under_fills_its_field(
    key: str, value: object, attribute: str, expected: object
) -> None:
    """Review bh: FaceInfo reads each verdict under every spelling its docstring names (the vendor writes the same key
    camelCase or PascalCase; the PascalCase ones are the API metadata's). The camelCase ``faceQualityScore`` and
    ``occlusionResult`` were read by no test: dropping either from the parser went unnoticed."""
    face = parse_check_result(body({"Passed": "Y", "ExtFaceInfo": {key: value}}), product_code="FACE_LIVENESS_PRO").face
    assert getattr(face, attribute) == expected


def test_stray_ocr_fields_never_give_a_face_only_result_an_identity() -> None:
    stray = {**EKYC_VERIFY_SAMPLE["Result"], "Passed": "Y"}  # type: ignore[dict-item]
    result = parse_check_result(body(stray), product_code="FACE_LIVENESS_PRO")
    assert result.identity is None and result.doc_type is None
    assert result.to_record()["ocrIdInfo"]["idNumber"] == "410************19"  # kept, not interpreted
    assert parse_check_result(body(stray), product_code="eKYC_PRO").identity is not None


def test_without_a_product_a_result_without_ocr_has_no_identity() -> None:
    assert parse_check_result(FACE_LIVENESS_SAMPLE).identity is None


# --- hypothesis: eKYC_PRO-shaped OCR and face-only results ----------------------------------------------------------

INTEGERS = st.integers(min_value=-(2**63), max_value=2**63 - 1)  # what JSON from the vendor can hold
DATES = st.dates(min_value=datetime.date(1900, 1, 1), max_value=datetime.date(2099, 12, 31))
TEXT = st.text(max_size=20)
NAME_FIELDS = ("firstName", "lastName", "surname", "givenname", "fullName", "idNumber", "passportNo", "countryCode",
               "nationality", "sex", "personalNo", "placeOfBirth", "docType")  # fmt: skip
DATE_FIELDS = ("dateOfBirth", "birthDate", "expiryDate", "issueDate")


@st.composite
def ekyc_pro_ocr(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, datetime.date]]:
    ocr: dict[str, Any] = {name: draw(TEXT | INTEGERS | st.none()) for name in
                           draw(st.lists(st.sampled_from(NAME_FIELDS), unique=True))}
    dates: dict[str, datetime.date] = {}
    for name in draw(st.lists(st.sampled_from(DATE_FIELDS), unique=True)):
        day = draw(DATES)
        separator = draw(st.sampled_from(["-", "/"]))  # the vendor's samples use both
        ocr[name] = day.strftime(f"%Y{separator}%m{separator}%d")
        dates[name] = day
    ocr.update(draw(st.dictionaries(st.from_regex(r"x_[0-9]{1,3}", fullmatch=True), TEXT, max_size=3)))  # unknown
    return ocr, dates


@settings(max_examples=300, deadline=None)
@given(case=ekyc_pro_ocr(), nested=st.booleans())
def test_ekyc_pro_ocr_normalises_dates_sex_and_nationality_and_keeps_every_field(
    case: tuple[dict[str, Any], dict[str, datetime.date]], nested: bool
) -> None:
    ocr, dates = case
    info = {"ocrIdInfo": orjson.dumps(ocr).decode() if nested else ocr}
    result = parse_check_result(body({"Passed": "Y", "ExtIdInfo": orjson.dumps(info).decode()}),
                                product_code="eKYC_PRO")
    identity = result.identity
    record = result.to_record()
    assert set(record["ocrIdInfo"]) == set(ocr)  # nothing dropped (no image-named keys generated)
    orjson.dumps(record)
    if identity is None:
        return
    mask_identity(identity)
    assert identity.sex in {"M", "F", "X", None}
    assert identity.nationality is None or (len(identity.nationality) == 3 and identity.nationality.isupper()
                                            and identity.nationality.isascii() and identity.nationality.isalpha())
    birth = dates.get("birthDate", dates.get("dateOfBirth"))  # birthDate ranks first when both are present
    assert identity.birth_date == (birth.isoformat() if birth else None)
    if "expiryDate" in dates:
        assert identity.expiry_date == dates["expiryDate"].isoformat()
    if "issueDate" in dates:
        assert identity.issue_date == dates["issueDate"].isoformat()
    assert identity.unparsed_dates == ()


FACE_VALUES = st.none() | st.booleans() | st.sampled_from(["Y", "N", "y", ""]) | st.floats() | INTEGERS | TEXT
FACE_KEYS = ("facePassed", "faceAttack", "FaceAttack", "faceQuality", "FaceQualityScore", "faceOcclusion",
             "OcclusionResult", "faceAttackScore", "livenessScore", "FaceAge")  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(face=st.dictionaries(st.sampled_from(FACE_KEYS) | st.from_regex(r"x_[0-9]{1,3}", fullmatch=True), FACE_VALUES,
                            max_size=8),
       ocr=st.dictionaries(st.sampled_from(NAME_FIELDS), TEXT, max_size=4), as_text=st.booleans())
def test_a_face_only_result_never_has_an_identity_and_keeps_its_face_fields(
    face: dict[str, Any], ocr: dict[str, Any], as_text: bool
) -> None:
    result_object: dict[str, Any] = {"Passed": "N", "ExtIdInfo": orjson.dumps({"ocrIdInfo": ocr}).decode(),
                                     "ExtFaceInfo": orjson.dumps(face).decode() if as_text else face}
    result = parse_check_result(body(result_object), product_code="FACE_LIVENESS_PRO")
    assert result.identity is None and result.doc_type is None
    record = result.to_record()
    assert record["identity"] is None
    for flag in ("facePassed", "faceAttack", "faceOcclusion"):
        assert record["face"][flag] in (True, False, None)
    for score in ("faceComparisonScore", "faceQualityScore", "faceAttackScore"):
        value = record["face"][score]
        assert value is None or (isinstance(value, float) and math.isfinite(value))
    assert set(record["extFaceInfo"]) == set(face)  # every key the vendor sent, interpreted or not
