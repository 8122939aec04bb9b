"""The vendor's document types (``DocType``): codes, names and the OCR field family each one returns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DocType:
    code: str
    key: str  # a stable short name used in our records and fixtures
    name: str


PASSPORT = "01000000"
HK_ID_2003 = "00000006"
HK_ID_2018 = "00000008"
HK_MACAO_EXIT_ENTRY_PERMIT = "00000007"
HK_MACAO_RESIDENT_TRAVEL_PERMIT = "00000009"
MACAO_ID = "000000011"  # 9 digits in the vendor's own table
TAIWAN_RESIDENT_TRAVEL_PERMIT = "000000012"  # 9 digits in the vendor's own table
MAINLAND_ID = "00000001"

DOC_TYPES: dict[str, DocType] = {
    d.code: d
    for d in (
        DocType(PASSPORT, "passport", "Passport (global)"),
        DocType(HK_ID_2003, "hk_id_2003", "Hong Kong identity card (2003)"),
        DocType(HK_ID_2018, "hk_id_2018", "Hong Kong identity card (2018)"),
        DocType(HK_MACAO_EXIT_ENTRY_PERMIT, "hk_macao_exit_entry_permit", "Exit-entry permit to Hong Kong/Macao"),
        DocType(
            HK_MACAO_RESIDENT_TRAVEL_PERMIT,
            "hk_macao_resident_travel_permit",
            "Mainland travel permit for Hong Kong/Macao residents",
        ),
        DocType(MACAO_ID, "macao_id", "Macao identity card"),
        DocType(
            TAIWAN_RESIDENT_TRAVEL_PERMIT,
            "taiwan_resident_travel_permit",
            "Mainland travel permit for Taiwan residents",
        ),
        DocType(MAINLAND_ID, "mainland_id", "Mainland China 2nd-generation identity card"),
    )
}


def is_documented(code: str) -> bool:
    return code in DOC_TYPES
