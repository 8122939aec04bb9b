"""shared.results: masking identity data for logs."""

from __future__ import annotations

import pytest

from shared import doctypes
from shared.results import Identity, mask_identity, mask_value, parse_check_result
from tests.test_results_support import OCR_BY_DOC_TYPE, make_body

SAMPLE = Identity(
    full_name="Chan Tai Man",
    given_name="Tai Man",
    surname="Chan",
    native_name="陳大文",
    document_number="H1234562",
    birth_date="1990-01-05",
    sex="M",
    nationality="UTO",
    issue_date="2018-06-15",
    expiry_date="2028-06-14",
    address="Flat 0, Fake Street",
    place_of_issue="Nowhere",
    issuing_authority="Fake Authority",
    doc_type=doctypes.HK_ID_2018,
)


def test_document_number_keeps_first_and_last_character() -> None:
    assert mask_identity(SAMPLE)["documentNumber"] == "H******2"  # type: ignore[index]


@pytest.mark.parametrize(("text", "masked"), [("", ""), ("A", "*"), ("AB", "**"), ("ABCD", "****"), ("ABCDE", "A***E")])
def test_short_values_are_fully_starred(text: str, masked: str) -> None:
    assert mask_value(text) == masked


def test_mask_value_of_none_is_none() -> None:
    assert mask_value(None) is None


def test_names_keep_their_first_letter() -> None:
    masked = mask_identity(SAMPLE)
    assert masked is not None
    assert (masked["fullName"], masked["givenName"], masked["surname"], masked["nativeName"]) == (
        "C*",
        "T*",
        "C*",
        "陳*",
    )


def test_a_name_of_one_character_is_fully_starred() -> None:
    masked = mask_identity(Identity(full_name="李四", surname="李", given_name="四", native_name="李四"))
    assert masked is not None
    names = (masked["fullName"], masked["surname"], masked["givenName"], masked["nativeName"])
    assert names == ("李*", "*", "*", "李*")


def test_birth_date_keeps_the_year_only() -> None:
    assert mask_identity(SAMPLE)["birthDate"] == "1990-**-**"  # type: ignore[index]


def test_unparsed_birth_date_is_fully_masked() -> None:
    masked = mask_identity(Identity(birth_date="30 Feb 90", unparsed_dates=("birthDate",)))
    assert masked is not None and masked["birthDate"] == "***"


def test_address_is_starred() -> None:
    assert mask_identity(SAMPLE)["address"] == "***"  # type: ignore[index]


def test_non_identifying_fields_are_kept() -> None:
    masked = mask_identity(SAMPLE)
    assert masked is not None
    for key in ("sex", "nationality", "issueDate", "expiryDate", "docType", "placeOfIssue", "issuingAuthority"):
        assert masked[key] == SAMPLE.to_dict()[key]


def test_missing_fields_stay_none() -> None:
    masked = mask_identity(Identity())
    assert masked is not None
    assert masked["fullName"] is None and masked["documentNumber"] is None and masked["address"] is None


def test_masked_identity_contains_no_original_pii() -> None:
    encoded = str(mask_identity(SAMPLE))
    for secret in ("Chan", "Tai Man", "H1234562", "01-05", "Fake Street", "大文"):
        assert secret not in encoded


def test_mapping_input_is_masked_like_the_identity() -> None:
    assert mask_identity(SAMPLE.to_dict()) == mask_identity(SAMPLE)


def test_mapping_input_drops_unknown_keys() -> None:
    masked = mask_identity({**SAMPLE.to_dict(), "idNumber": "H1234562"})
    assert masked is not None and "idNumber" not in masked


def test_mask_identity_of_none_is_none() -> None:
    assert mask_identity(None) is None


def test_parsed_identity_masks_for_every_doc_type() -> None:
    for doc_type, ocr in OCR_BY_DOC_TYPE.items():
        identity = parse_check_result(make_body(ocr=ocr), doc_type=doc_type).identity
        masked = mask_identity(identity)
        assert masked is not None
        assert identity is not None and identity.document_number is not None
        assert masked["documentNumber"] != identity.document_number


# --- the disclosure policy's vocabulary and selection (shared.disclosure) -----------------------------------------


def test_the_disclosure_vocabulary_is_exactly_the_identity_fields_in_order() -> None:
    from shared.disclosure import IDENTITY_FIELDS
    from shared.results import Identity

    assert tuple(Identity().to_dict()) == IDENTITY_FIELDS


def test_a_disclosure_selects_its_fields_masked_or_in_clear_and_nothing_by_default() -> None:
    from shared.disclosure import EVERYTHING, MINIMAL, Disclosure

    masked, full = {"surname": "C*", "sex": "M"}, {"surname": "CHAN", "sex": "M"}
    assert MINIMAL.identity(masked, full) is None
    assert Disclosure(frozenset({"surname"})).identity(masked, full) == {"surname": "C*"}
    assert Disclosure(frozenset({"surname"}), clear=True).identity(masked, full) == {"surname": "CHAN"}
    assert EVERYTHING.identity(masked, None) is None  # no stored result: nothing, never the masked one instead
    assert Disclosure(frozenset({"surname"})).identity(None) is None  # a face-only product reads no identity


def test_a_disclosure_shows_its_fields_in_the_vocabulary_s_order_whatever_order_they_were_named_in() -> None:
    from shared.disclosure import IDENTITY_FIELDS, Disclosure, identity_fields

    masked = {name: f"{name}-masked" for name in IDENTITY_FIELDS}
    shown = Disclosure(identity_fields(reversed(IDENTITY_FIELDS))).identity(masked)
    assert shown is not None and list(shown) == list(IDENTITY_FIELDS)


def test_a_selected_field_the_stored_identity_lacks_is_shown_as_null() -> None:
    """A row's masked identity holds the fields of the release that wrote it: a field selected since shows null."""
    from shared.disclosure import Disclosure

    selected = Disclosure(frozenset({"surname", "unparsedDates"}))
    assert selected.identity({"surname": "C*"}) == {"surname": "C*", "unparsedDates": None}


def test_unknown_identity_fields_are_refused_naming_the_known_ones() -> None:
    from shared.disclosure import UnknownField, identity_fields

    assert identity_fields(["surname", "sex"]) == frozenset({"surname", "sex"})
    with pytest.raises(UnknownField, match="fullName"):
        identity_fields(["surname", "shoeSize"])


@pytest.mark.parametrize(
    "value", [["CHAN", "TAI MAN"], {"line1": "Flat 0", "city": "Fake City"}, 19900105, 12345678.0],
    ids=["list", "object", "int", "float"],
)
def test_a_mapping_s_personal_fields_that_are_not_strings_are_dropped_not_passed_through(value: object) -> None:
    """A kept document's identity is read back as JSON (the notifier masks it for every subscriber without
    ``includePii``): whatever shape a name, number, birth date or address has there, it never comes out in clear
    (review bf: the names' and the address's type guards were untested; a structured address passed through)."""
    personal = ("fullName", "givenName", "surname", "nativeName", "documentNumber", "birthDate", "address")
    masked = mask_identity(dict.fromkeys(personal, value))
    assert masked is not None
    assert {key: masked[key] for key in personal if masked[key] not in (None, "***")} == {}
