"""The vendor's document types (``DocType``): two code families, each a table with its source.

* :data:`DOC_TYPES` — the 8/9-digit codes of the ``eKYC`` product (started by ``Initialize``).
  Source: ID Verification "return field" page (help/zh/ekyc/latest/return-field) and the SDK's ``UseNFC`` comment
  ("DocType 01000000 (global passport)"). ``000000011`` (Macao ID) and ``00000001`` (mainland ID) come from the
  project's seed reference only: UNVERIFIED against a vendor page.
* :data:`CERTIFICATE_TYPES` — the certificate-type codes of ``eKYC_PRO`` (and ``ID_OCR_MAX``), country (ISO 3166
  alpha-3, or ``GLB`` for global) + type + variant. Source: "ID Verification:证件类型表" (certificate type table),
  https://www.alibabacloud.com/help/zh/ekyc/latest/certificate-code-table, Last Updated Mar 11, 2026 (en "Certificate
  type table", doc-detail 2928820, Dec 17, 2025). The page lists more rows than could be read (the search corpus
  shows only its beginning): rows after ``PHL07002`` are UNVERIFIED and therefore absent here.

Which product accepts which codes in which region is in :mod:`shared.products`.
"""

from __future__ import annotations

from shared.values import valueclass


@valueclass
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


@valueclass
class CertificateType:
    """One row of the vendor's certificate type table.

    ``pages`` is the table's "supported pages" column (``01`` portrait side, ``02`` back/second page); ``None`` where
    the column could not be read. ``face_photo`` is False for documents without a portrait, which the vendor
    excludes from eKYC_PRO (face comparison needs one).
    """

    code: str
    name: str
    pages: tuple[str, ...] | None = ("01",)
    face_photo: bool = True

    @property
    def country(self) -> str:
        """ISO 3166 alpha-3 of the issuing country, ``GLB`` for the global (ICAO) passport."""
        return self.code[:3]


GLOBAL_PASSPORT = "GLB03002"  # MRZ-based e-passport; works in every eKYC_PRO region
MALAYSIA_ID = "MYS01001"  # MyKad
INDONESIA_ID = "IDN01001"
HK_DRIVING_LICENCE = "HKG02001"  # no portrait: ID_OCR_MAX only, not eKYC_PRO

_FRONT_BACK = ("01", "02")

CERTIFICATE_TYPES: dict[str, CertificateType] = {
    c.code: c
    for c in (
        CertificateType(GLOBAL_PASSPORT, "Global passport (e-passport, MRZ)"),
        # The table marks GLB03001 "to be taken offline soon, not recommended"; it is still listed, so accepted.
        CertificateType("GLB03001", "Global passport (OCR of common fields; being retired)"),
        CertificateType("CHN01001", "China resident identity card", _FRONT_BACK),
        CertificateType("CHN03001", "China passport"),
        CertificateType("CHN02001", "China driving licence"),
        CertificateType("CHN05003", "Mainland travel permit for Hong Kong/Macao residents"),
        CertificateType("CHN05002", "Mainland travel permit for Taiwan residents"),
        CertificateType("CHN05001", "Exit-entry permit to Hong Kong/Macao"),
        CertificateType("CHN05004", "Exit-entry permit to Taiwan"),
        CertificateType("CHN06001", "Foreigner permanent residence ID card"),
        CertificateType("HKG01001", "Hong Kong identity card (2003)"),
        CertificateType("HKG01002", "Hong Kong identity card (2018)"),
        CertificateType(HK_DRIVING_LICENCE, "Hong Kong driving licence", face_photo=False),
        CertificateType("HKG07001", "Hong Kong taxi driver identity plate"),
        CertificateType("MAC01001", "Macao identity card (2023)"),
        CertificateType("MAC01002", "Macao identity card (2013)"),
        CertificateType("MAC01003", "Macao identity card (2002)"),
        CertificateType("TWN01001", "Taiwan identity card", _FRONT_BACK),
        CertificateType("VNM01001", "Vietnam identity card (2021, chip)", _FRONT_BACK),
        CertificateType("VNM03001", "Vietnam passport (e-passport)"),
        CertificateType(MALAYSIA_ID, "Malaysia identity card (MyKad)", _FRONT_BACK),
        CertificateType("MYS02001", "Malaysia driving licence"),
        CertificateType(INDONESIA_ID, "Indonesia identity card"),
        CertificateType("SGP01001", "Singapore identity card (NRIC)", _FRONT_BACK),
        CertificateType("SGP02001", "Singapore driving licence"),
        CertificateType("SGP03001", "Singapore passport"),
        CertificateType("THA01001", "Thailand identity card"),
        CertificateType("THA02001", "Thailand private car driving licence"),
        CertificateType("THA03001", "Thailand passport"),
        CertificateType("PHL01001", "Philippines identity card"),
        CertificateType("PHL01002", "Philippines UMID"),
        CertificateType("PHL02001", "Philippines driving licence"),
        CertificateType("PHL03001", "Philippines passport"),
        CertificateType("PHL04001", "Philippines SSS (Social Security System) ID"),
        CertificateType("PHL07001", "Philippines voter's ID"),
        CertificateType("PHL07002", "Philippines professional ID", pages=None),  # pages column not read: UNVERIFIED
    )
}


def document_name(code: str) -> str | None:
    """The English name of a document type of either family, ``None`` for a code in neither table."""
    doc = DOC_TYPES.get(code)
    if doc is not None:
        return doc.name
    certificate = CERTIFICATE_TYPES.get(code)
    return certificate.name if certificate is not None else None


def in_table_order(codes: frozenset[str]) -> list[str]:
    """``codes`` in the order of the tables above (eKYC's, then the certificate table), unlisted codes last, sorted."""
    listed = [code for code in (*DOC_TYPES, *CERTIFICATE_TYPES) if code in codes]
    return listed + sorted(codes - set(listed))
