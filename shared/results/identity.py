"""Identity normalisation: the vendor's per-document OCR fields (``ocrIdInfo``) → one :class:`Identity` schema.

The mapping is by field name, so it covers all eight documented document types and also builds a best-effort
identity for undocumented ones. Rules (see docs in the report / architecture):

* Chinese-script documents (HK ID, the permits, mainland ID): ``nativeName`` = ``name`` (Chinese), ``fullName`` =
  ``englishName`` when present, else ``name``. An English name written ``SURNAME, Given`` (HK ID, permits) is also
  split into ``surname`` / ``givenName``; without a comma it is not split.
* Documents with separate Latin ``surname`` / ``givenname`` (passport, Macao ID): ``fullName`` = ``"GIVEN SURNAME"``
  (given names first, one space; either part alone when the other is missing). Macao ID ``nativeName`` =
  ``surnameCN + givennameCN`` (no space).
* eKYC_PRO's field names (``firstName`` / ``lastName``, ``dateOfBirth``, ``idNumber``, ``countryCode``,
  ``expiryDate``; vendor samples: the KYC_GLOBAL "CheckResult" page and the EkycVerify / DocOcrMax examples of the
  API metadata — the eKYC_PRO response table itself could not be read, UNVERIFIED) map onto the same slots.
* ``documentNumber`` from ``idNumber`` / ``passportNo``; ``nationality`` from ``nationality``, else ``countryCode``
  (the issuing state: a fallback, not the same fact), as an ISO 3166 alpha-3 code: three Latin letters,
  upper-cased (ICAO Doc 9303 prints nationality and issuing state so; Germany's one-letter ``D`` becomes ``DEU``);
  any other text is not a code and gives no nationality (it stays in the raw OCR). ``issuingAuthority`` from
  ``originOfIssue`` / ``issueAuthority``; HK ID ``issueDate`` from ``currentIssueDate`` (``firstIssueDate`` stays in
  the raw OCR).
* Mainland ID back side: a validity period field (``validPeriod``...) such as ``2015.01.01-2035.01.01`` is split into
  ``issueDate`` / ``expiryDate`` when those are not given separately.
* Dates are normalised to ``YYYY-MM-DD`` (:mod:`shared.results.dates`); a date that cannot be parsed keeps its raw text
  and its camelCase field name is listed in ``unparsedDates``.
* ``sex`` is ``"M"`` / ``"F"`` / ``"X"`` (unspecified, as ICAO Doc 9303 documents print it) / ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared import doctypes
from shared.results._frozen import positional_builder
from shared.results.dates import parse_date, split_period
from shared.values import valueclass

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any

# camelCase output name -> vendor field names, first non-empty wins
_DOCUMENT_NUMBER = ("idNumber", "passportNo", "documentNumber", "idNo", "cardNo", "permitNumber")
_BIRTH_DATE = ("birthDate", "dateOfBirth", "birthday")
_SEX = ("sex", "gender")
_NATIONALITY = ("nationality",)
_COUNTRY = ("countryCode",)
_ISSUE_DATE = ("issueDate", "currentIssueDate", "dateOfIssue", "startDate")
_EXPIRY_DATE = ("expiryDate", "expireDate", "expirationDate", "dateOfExpiry", "validUntil", "endDate")
_ADDRESS = ("address", "residentialAddress")
_PLACE_OF_ISSUE = ("placeOfIssue", "issuePlace")
_AUTHORITY = ("originOfIssue", "issueAuthority", "issuingAuthority", "authority")
_PERIOD = ("validPeriod", "validDate", "validity", "periodOfValidity", "validityPeriod")
_NAME = ("name", "nameCN", "chineseName")
_ENGLISH_NAME = ("englishName", "nameEN", "fullName")
_SURNAME = ("surname", "lastName")
_GIVEN = ("givenname", "givenName", "firstName")

_RECOGNISED = frozenset(
    (
        *_DOCUMENT_NUMBER, *_BIRTH_DATE, *_SEX, *_NATIONALITY, *_COUNTRY, *_ISSUE_DATE, *_EXPIRY_DATE, *_ADDRESS,
        *_PLACE_OF_ISSUE, *_AUTHORITY, *_PERIOD, *_NAME, *_ENGLISH_NAME, *_SURNAME, *_GIVEN,
        "surnameCN", "givennameCN",
    )
)  # fmt: skip

_SEX_MAP = {
    "M": "M", "MALE": "M", "男": "M", "MAN": "M",
    "F": "F", "FEMALE": "F", "女": "F", "WOMAN": "F",
    "X": "X", "<": "X",  # ICAO Doc 9303: X (or the MRZ filler) for an unspecified sex
}  # fmt: skip
_ICAO_ONE_LETTER = {"D": "DEU", "D<<": "DEU"}  # ICAO Doc 9303 Part 3: Germany's code in passports


@valueclass(slots=True)
class Identity:
    """The normalised identity. All values are text as printed (stripped) except the normalisations above.

    ``repr`` names the fields that are present, never their values.
    """

    full_name: str | None = None
    given_name: str | None = None
    surname: str | None = None
    native_name: str | None = None
    document_number: str | None = None
    birth_date: str | None = None
    sex: str | None = None
    nationality: str | None = None
    issue_date: str | None = None
    expiry_date: str | None = None
    address: str | None = None
    place_of_issue: str | None = None
    issuing_authority: str | None = None
    doc_type: str | None = None
    unparsed_dates: tuple[str, ...] = ()

    def __repr__(self) -> str:
        present = [key for key, value in self.to_dict().items() if value not in (None, [])]
        return f"Identity(present={present})"

    def to_dict(self) -> dict[str, Any]:
        """camelCase, JSON-ready (``unparsedDates`` as a list)."""
        return {
            "fullName": self.full_name,
            "givenName": self.given_name,
            "surname": self.surname,
            "nativeName": self.native_name,
            "documentNumber": self.document_number,
            "birthDate": self.birth_date,
            "sex": self.sex,
            "nationality": self.nationality,
            "issueDate": self.issue_date,
            "expiryDate": self.expiry_date,
            "address": self.address,
            "placeOfIssue": self.place_of_issue,
            "issuingAuthority": self.issuing_authority,
            "docType": self.doc_type,
            "unparsedDates": list(self.unparsed_dates),
        }


_new_identity = positional_builder(Identity)  # Identity(...) positionally, all fields, without the frozen __init__


def normalize_sex(value: object) -> str | None:
    """``"M"`` / ``"F"`` / ``"X"`` from M/F/X/Male/Female/男/女 (any case, surrounding whitespace), else ``None``."""
    if not isinstance(value, str):
        return None
    return _SEX_MAP.get(value.strip().upper())


def normalize_country(value: object) -> str | None:
    """An ISO 3166 alpha-3 code (``"MYS"``) from three Latin letters in any case, else ``None``."""
    if not isinstance(value, str):
        return None
    code = value.strip().upper()
    if len(code) == 3 and code.isascii() and code.isalpha():
        return code
    return _ICAO_ONE_LETTER.get(code)


def _text(value: object) -> str | None:
    """A field's text: stripped str, or a number's text; ``{"value": ...}`` wrappers unwrapped; else ``None``."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, dict):
        return _text(value.get("value"))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _first(fields: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = fields.get(name)
        if value is not None:
            text = _text(value)
            if text is not None:
                return text
    return None


# One pass over the OCR fields: vendor field name → (slot, rank); a lower rank wins, as in the name tuples above.
_SLOT_NAMES = (
    _NAME, _ENGLISH_NAME, _SURNAME, _GIVEN, ("surnameCN",), ("givennameCN",), _DOCUMENT_NUMBER, _BIRTH_DATE, _SEX,
    _NATIONALITY, _COUNTRY, _ISSUE_DATE, _EXPIRY_DATE, _ADDRESS, _PLACE_OF_ISSUE, _AUTHORITY, _PERIOD,
)  # fmt: skip
_FIELD_SLOT: dict[str, tuple[int, int]] = {
    name: (slot, rank) for slot, names in enumerate(_SLOT_NAMES) for rank, name in enumerate(names)
}
assert len(_FIELD_SLOT) == sum(map(len, _SLOT_NAMES)) and _FIELD_SLOT.keys() == _RECOGNISED  # no name in two slots
_NO_RANK = 1 << 30
_NOTHING_FOUND: list[str | None] = [None] * len(_SLOT_NAMES)
_NO_RANKS = [_NO_RANK] * len(_SLOT_NAMES)


def build_identity(fields: Mapping[str, Any], doc_type: str | None = None) -> Identity | None:
    """The :class:`Identity` read from an ``ocrIdInfo`` mapping, or ``None`` when no field is recognised."""
    if not fields or _RECOGNISED.isdisjoint(fields):
        return None
    found: list[str | None] = _NOTHING_FOUND.copy()
    ranks = _NO_RANKS.copy()
    slot_of = _FIELD_SLOT.get
    for key, value in fields.items():
        where = slot_of(key)
        if where is not None:
            slot, rank = where
            if rank < ranks[slot]:
                text = value.strip() if type(value) is str else _text(value)
                if text:  # None or non-empty (an empty one is no value)
                    found[slot] = text
                    ranks[slot] = rank
    (name, english, surname, given, surname_cn, given_cn, number, birth_raw, sex, nationality_raw, country_raw,
     issue_raw, expiry_raw, address, place, authority, period) = found  # fmt: skip
    nationality = None
    if nationality_raw is not None:
        nationality = normalize_country(nationality_raw)
    if nationality is None and country_raw is not None:
        nationality = normalize_country(country_raw)

    native = name
    if surname_cn or given_cn:
        native = (surname_cn or "") + (given_cn or "")  # found values are None or non-empty
    if surname or given:
        full = f"{given} {surname}" if given and surname else given or surname
    else:
        full = english or name
        if english and "," in english:
            last, _, first = english.partition(",")
            surname, given = last.strip() or None, first.strip() or None

    if (issue_raw is None or expiry_raw is None) and period is not None:
        halves = split_period(period)
        if halves is not None:
            issue_raw = issue_raw or halves[0]
            expiry_raw = expiry_raw or halves[1]

    unparsed: tuple[str, ...] = ()
    birth = issue = expiry = None
    if birth_raw is not None:
        birth = parse_date(birth_raw)
        if birth is None:
            birth, unparsed = birth_raw, ("birthDate",)
    if issue_raw is not None:
        issue = parse_date(issue_raw)
        if issue is None:
            issue, unparsed = issue_raw, (*unparsed, "issueDate")
    if expiry_raw is not None:
        expiry = parse_date(expiry_raw)
        if expiry is None:
            expiry, unparsed = expiry_raw, (*unparsed, "expiryDate")

    return _new_identity(
        full, given, surname, native, number, birth, _SEX_MAP.get(sex.upper()) if sex is not None else None,
        nationality, issue, expiry, address, place, authority, doc_type, unparsed,
    )  # fmt: skip


_HK_ID_MARKERS = ("currentIssueDate", "firstIssueDate", "nameCode", "isPermanent", "symbols")


def guess_doc_type(fields: Mapping[str, Any]) -> str | None:
    """The vendor ``DocType`` the OCR field names point to, or ``None`` when they do not tell.

    Heuristics (used only when the caller gives no hint):

    * ``surnameCN`` / ``givennameCN`` → Macao ID; ``passportNo`` → passport;
    * any HK-ID-only field (``currentIssueDate``, ``nameCode``...) → ``None``: the 2003 and 2018 cards return the same
      fields, so the two codes cannot be told apart;
    * ``ethnicity``, or ``name`` + ``address`` without ``englishName`` → mainland ID;
    * ``name``/``englishName`` + ``originOfIssue``: with ``placeOfIssue`` it is the exit-entry permit or the Taiwan
      residents' permit, which return the same fields: told apart by the number's shape (exit-entry numbers start
      with a letter, Taiwan permit numbers are digits), else ``None``; without ``placeOfIssue`` → the HK/Macao
      residents' permit.
    """
    if not fields:
        return None
    if "surnameCN" in fields or "givennameCN" in fields:
        return doctypes.MACAO_ID
    if "passportNo" in fields:
        return doctypes.PASSPORT
    if any(marker in fields for marker in _HK_ID_MARKERS):
        return None
    if "ethnicity" in fields or ("name" in fields and "address" in fields and "englishName" not in fields):
        return doctypes.MAINLAND_ID
    if "originOfIssue" in fields and ("name" in fields or "englishName" in fields):
        if "placeOfIssue" not in fields:
            return doctypes.HK_MACAO_RESIDENT_TRAVEL_PERMIT
        number = _first(fields, ("idNumber",))
        if number is None:
            return None
        if number[0].isascii() and number[0].isalpha():
            return doctypes.HK_MACAO_EXIT_ENTRY_PERMIT
        if number.isascii() and number.isdigit():
            return doctypes.TAIWAN_RESIDENT_TRAVEL_PERMIT
        return None
    if "surname" in fields and "givenname" in fields:
        return doctypes.PASSPORT
    return None
