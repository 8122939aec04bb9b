"""shared.results hot-path shortcuts: they give exactly what the ordinary paths give."""

from __future__ import annotations

import pickle

import pytest

from shared import values
from shared.results import FaceInfo, Identity, SpoofInfo, parse_check_result, parse_date
from shared.results._frozen import positional_builder
from tests.test_results_support import make_body

PASSPORT = {"surname": "TESTER", "givenname": "ALEX", "sex": "M", "birthDate": "1990-01-05",
            "passportNo": "X00000000", "expiryDate": "2030/12/31"}


@values.valueclass(slots=True)
class _Point:
    x: int
    y: int = 0


def test_builder_makes_an_instance_of_the_value_class_itself() -> None:
    point = positional_builder(_Point)(1, 2)
    assert type(point) is _Point


def test_built_instance_equals_and_hashes_like_the_constructed_one() -> None:
    point = positional_builder(_Point)(1, 2)
    assert point == _Point(1, 2)
    assert hash(point) == hash(_Point(1, 2))
    assert values.replace(point, y=3) == _Point(1, 3)


def test_built_instance_refuses_mutation_and_deletion() -> None:
    point = positional_builder(_Point)(1, 2)
    with pytest.raises(values.FrozenInstanceError):
        point.x = 5  # type: ignore[misc]
    with pytest.raises(values.FrozenInstanceError):
        del point.x


def test_builder_rejects_a_value_class_without_slots() -> None:
    @values.valueclass
    class Plain:
        x: int

    with pytest.raises(TypeError):
        positional_builder(Plain)


def test_parsed_parts_are_the_public_frozen_types() -> None:
    result = parse_check_result(make_body(ocr=PASSPORT, id_info={"spoofInfo": {"spoofResult": "N", "spoofType": []}},
                                          face_info={"facePassed": "Y", "faceComparisonScore": 91.5}))
    identity, spoof, face = result.identity, result.spoof, result.face
    assert (type(identity), type(spoof), type(face)) == (Identity, SpoofInfo, FaceInfo)
    for part, field in ((identity, "sex"), (spoof, "spoof_result"), (face, "face_passed")):
        with pytest.raises(values.FrozenInstanceError):
            setattr(part, field, None)


def test_parsed_identity_equals_the_one_built_by_its_constructor() -> None:
    identity = parse_check_result(make_body(ocr=PASSPORT), doc_type="01000000").identity
    assert identity == Identity(
        full_name="ALEX TESTER", given_name="ALEX", surname="TESTER", document_number="X00000000",
        birth_date="1990-01-05", sex="M", expiry_date="2030-12-31", doc_type="01000000",
    )
    assert pickle.loads(pickle.dumps(identity)) == identity


def test_parsed_face_equals_the_one_built_by_its_constructor() -> None:
    face_info = {"facePassed": "Y", "faceAttack": "N", "faceComparisonScore": 91.5}
    face = parse_check_result(make_body(face_info=face_info)).face
    assert face == FaceInfo(True, False, 91.5, None, face_info)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2000/02/29", "2000-02-29"),
        ("2024.02.29", "2024-02-29"),
        ("1999-12-31", "1999-12-31"),
        ("1900/02/29", None),  # not a leap year
        ("2023.02.29", None),
        ("0990-01-01", None),  # years before 1000 are not accepted
        ("19a0-01-01", None),
        ("1990-04-31", None),
    ],
)
def test_year_first_ten_character_dates(text: str, expected: str | None) -> None:
    assert parse_date(text) == expected


def test_a_pickled_or_copied_response_still_parses_its_parts_on_first_access() -> None:
    import copy

    body = make_body(ocr=PASSPORT)
    for copied in (pickle.loads(pickle.dumps(parse_check_result(body))), copy.deepcopy(parse_check_result(body))):
        assert copied.identity == parse_check_result(body).identity
        assert copied.ocr_raw == parse_check_result(body).ocr_raw
