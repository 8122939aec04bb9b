"""The vendor's product rules as the sandbox plays them: which operation starts which product, in which region,
with which ``DocType`` codes, and what kind of result it produces.

This is the sandbox's **own copy**, typed from the vendor's pages, on purpose not imported from ``shared/``: the
sandbox stands in for the vendor, so a wrong assumption in the client's table must make a test fail here rather than
be agreed with. ``tests/sandbox/test_catalog.py`` checks that the two copies agree where they overlap.

Sources (vendor help pages): product directory "ID Verification" (id-verifcation-dir, zh/en, Mar 10, 2026);
"Face Detection" directory (liveness-and-deepfake-detection, Nov 25, 2025); certificate type table
(certificate-code-table, zh, Mar 11, 2026); "InitializeV2" for eKYC-PRO (pro-init, Nov 02, 2026) and for face
liveness (liveness-initialize-1, Oct 27, 2026); eKYC's document list (return-field). UNVERIFIED, as in the client's
table: eKYC_PRO without a DocType (refused here as MissingParameter), Hong Kong's eKYC_PRO document list (the whole
table here), FACE_LIVENESS_PRO in Kuala Lumpur (refused here), and the error the vendor returns for a product or
document its region does not offer (``InvalidParameter`` here).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

HONG_KONG = "cn-hongkong"
SINGAPORE = "ap-southeast-1"
JAKARTA = "ap-southeast-5"
KUALA_LUMPUR = "ap-southeast-3"
REGIONS = frozenset({HONG_KONG, SINGAPORE, JAKARTA, KUALA_LUMPUR})

# eKYC's document types (8/9-digit codes) and their names: the sandbox's own reading, never the client's
# shared.doctypes (review yy: taken from it, the sandbox agreed with a wrong code-to-document mapping by construction).
PASSPORT = "01000000"
MAINLAND_ID = "00000001"
HK_ID_2003 = "00000006"
HK_MACAO_EXIT_ENTRY_PERMIT = "00000007"
HK_ID_2018 = "00000008"
HK_MACAO_RESIDENT_TRAVEL_PERMIT = "00000009"
MACAO_ID = "000000011"
TAIWAN_RESIDENT_TRAVEL_PERMIT = "000000012"
EKYC_DOCUMENTS: Mapping[str, str] = {
    PASSPORT: "Passport (global)",
    HK_ID_2003: "Hong Kong identity card (2003)",
    HK_ID_2018: "Hong Kong identity card (2018)",
    HK_MACAO_EXIT_ENTRY_PERMIT: "Exit-entry permit to Hong Kong/Macao",
    HK_MACAO_RESIDENT_TRAVEL_PERMIT: "Mainland travel permit for Hong Kong/Macao residents",
    MACAO_ID: "Macao identity card",
    TAIWAN_RESIDENT_TRAVEL_PERMIT: "Mainland travel permit for Taiwan residents",
    MAINLAND_ID: "Mainland China 2nd-generation identity card",
}

# The certificate type table (eKYC_PRO), as far as it could be read.
CERTIFICATES: Mapping[str, str] = {
    "GLB03002": "Global passport (e-passport, MRZ)",
    "GLB03001": "Global passport (OCR of common fields)",
    "CHN01001": "China resident identity card",
    "CHN03001": "China passport",
    "CHN02001": "China driving licence",
    "CHN05003": "Mainland travel permit for Hong Kong/Macao residents",
    "CHN05002": "Mainland travel permit for Taiwan residents",
    "CHN05001": "Exit-entry permit to Hong Kong/Macao",
    "CHN05004": "Exit-entry permit to Taiwan",
    "CHN06001": "Foreigner permanent residence ID card",
    "HKG01001": "Hong Kong identity card (2003)",
    "HKG01002": "Hong Kong identity card (2018)",
    "HKG02001": "Hong Kong driving licence",
    "HKG07001": "Hong Kong taxi driver identity plate",
    "MAC01001": "Macao identity card (2023)",
    "MAC01002": "Macao identity card (2013)",
    "MAC01003": "Macao identity card (2002)",
    "TWN01001": "Taiwan identity card",
    "VNM01001": "Vietnam identity card (2021)",
    "VNM03001": "Vietnam passport",
    "MYS01001": "Malaysia identity card (MyKad)",
    "MYS02001": "Malaysia driving licence",
    "IDN01001": "Indonesia identity card",
    "SGP01001": "Singapore identity card (NRIC)",
    "SGP02001": "Singapore driving licence",
    "SGP03001": "Singapore passport",
    "THA01001": "Thailand identity card",
    "THA02001": "Thailand driving licence",
    "THA03001": "Thailand passport",
    "PHL01001": "Philippines identity card",
    "PHL01002": "Philippines UMID",
    "PHL02001": "Philippines driving licence",
    "PHL03001": "Philippines passport",
    "PHL04001": "Philippines SSS ID",
    "PHL07001": "Philippines voter's ID",
    "PHL07002": "Philippines professional ID",
}
NO_PORTRAIT = frozenset({"HKG02001"})  # "not supported by eKYC_PRO": nothing to compare the face with

DOCUMENT_NAMES: Mapping[str, str] = {**EKYC_DOCUMENTS, **CERTIFICATES}


@dataclass(frozen=True)
class Product:
    code: str
    operations: frozenset[str]  # the start operations the sandbox accepts it on
    regions: frozenset[str]
    document: bool  # True: DocType required, OCR + face result; False: face only, a DocType is ignored
    documents: frozenset[str] = frozenset()  # DocType codes accepted anywhere it is offered ...
    documents_by_region: Mapping[str, frozenset[str]] | None = None  # ... unless a region lists its own


_EKYC_PRO_ALL = frozenset(CERTIFICATES) - NO_PORTRAIT
_HK_ONLY = frozenset({HONG_KONG})
_INITIALIZE = frozenset({"Initialize"})
_EKYC = frozenset(EKYC_DOCUMENTS)

PRODUCTS: Mapping[str, Product] = {
    p.code: p
    for p in (
        Product("eKYC", _INITIALIZE, _HK_ONLY, document=True, documents=_EKYC),
        # Started by InitializeV2 on the newest page, by Initialize on older ones (the SDK still has both).
        Product("eKYC_PRO", frozenset({"Initialize", "InitializeV2"}), REGIONS, document=True,
                documents=_EKYC_PRO_ALL,
                documents_by_region={JAKARTA: frozenset({"IDN01001", "GLB03002"}),
                                     KUALA_LUMPUR: frozenset({"MYS01001", "GLB03002"})}),
        Product("FACE_LIVENESS_PRO", frozenset({"InitializeV2"}), frozenset({HONG_KONG, SINGAPORE, JAKARTA}),
                document=False),
        # Older Initialize products the sandbox keeps answering (Hong Kong only, eKYC's document codes).
        Product("KYC_GLOBAL", _INITIALIZE, _HK_ONLY, document=True, documents=_EKYC),
        Product("ID_OCR", _INITIALIZE, _HK_ONLY, document=True, documents=_EKYC),
        Product("OCR_GLOBAL", _INITIALIZE, _HK_ONLY, document=True, documents=_EKYC),
        Product("IDR_GLOBAL", _INITIALIZE, _HK_ONLY, document=True, documents=_EKYC),
        Product("FACE_LIVENESS", _INITIALIZE, _HK_ONLY, document=False),
        Product("FACE_VERIFY", _INITIALIZE, _HK_ONLY, document=False),
        Product("FV_GLOBAL", _INITIALIZE, _HK_ONLY, document=False),
        Product("FL_GLOBAL", _INITIALIZE, _HK_ONLY, document=False),
    )
}  # fmt: skip


def documents_in(product: Product, region: str) -> frozenset[str]:
    """The DocType codes ``product`` takes in ``region``."""
    if product.documents_by_region is not None and region in product.documents_by_region:
        return product.documents_by_region[region]
    return product.documents
