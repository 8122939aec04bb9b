"""Synthetic, clearly fake identity data and placeholder JPEG images, deterministic per transaction.

Every name reads TEST SAMPLE / 测试样本, every document number is mostly zeros, the passport nationality is ICAO's
test state ``UTO`` (Utopia): nothing here can be mistaken for a real person.
"""

from __future__ import annotations

import base64
import hashlib
import random
import struct

from tools.sandbox.catalog import (  # the sandbox's own codes (review yy: not the client's shared.doctypes)
    HK_ID_2003,
    HK_ID_2018,
    HK_MACAO_EXIT_ENTRY_PERMIT,
    HK_MACAO_RESIDENT_TRAVEL_PERMIT,
    MACAO_ID,
    MAINLAND_ID,
    PASSPORT,
    TAIWAN_RESIDENT_TRAVEL_PERMIT,
)

# OCR field names per document (REFERENCE.md, "OCR fields (ocrIdInfo) by document")
# fmt: off
OCR_FIELDS: dict[str, tuple[str, ...]] = {
    HK_ID_2003: (
        "name", "englishName", "nameCode", "sex", "birthDate", "idNumber",
        "currentIssueDate", "firstIssueDate", "isPermanent", "symbols",
    ),
    HK_MACAO_EXIT_ENTRY_PERMIT: (
        "name", "englishName", "sex", "birthDate", "idNumber", "issueDate", "expiryDate",
        "placeOfIssue", "originOfIssue",
    ),
    HK_MACAO_RESIDENT_TRAVEL_PERMIT: (
        "name", "englishName", "sex", "birthDate", "idNumber", "issueDate", "expiryDate", "originOfIssue",
    ),
    PASSPORT: (
        "surname", "givenname", "sex", "birthDate", "passportNo", "nationality", "expiryDate", "countryCode",
    ),
    MACAO_ID: (
        "surnameCN", "givennameCN", "surname", "givenname", "sex", "birthDate", "idNumber", "expiryDate",
        "placeOfBirth",
    ),
    TAIWAN_RESIDENT_TRAVEL_PERMIT: (
        "name", "englishName", "sex", "birthDate", "idNumber", "issueDate", "expiryDate",
        "originOfIssue", "placeOfIssue",
    ),
    MAINLAND_ID: ("name", "sex", "ethnicity", "birthDate", "idNumber", "address"),
}
# fmt: on
OCR_FIELDS[HK_ID_2018] = OCR_FIELDS[HK_ID_2003]
# The back side of the mainland ID (Pages=01,02): field names are not documented; these are our guess.
MAINLAND_ID_BACK_FIELDS = ("issueDate", "expiryDate")

# eKYC_PRO's certificate codes (country + 2-digit type + variant): its response field table could not be read, so
# the shapes are assumed from the vendor's samples of the same family. Passports (type 03) as in the DocOcrMax
# sample (ID_OCR_MAX shares eKYC_PRO's document model), dates YYYY/MM/DD; other documents as in the EkycVerify
# sample, dates YYYY-MM-DD. Between them they exercise both date formats the vendor prints (fake_pro_identity).
SPOOF_TYPES = ("SCREEN_REMARK", "PHOTO_COPY", "TAMPER")


def _rng(transaction_id: str, purpose: str) -> random.Random:
    return random.Random(hashlib.sha256(f"{purpose}:{transaction_id}".encode()).digest())


def _is_certificate_code(doc_type: str) -> bool:
    return len(doc_type) == 8 and doc_type[:3].isalpha() and doc_type[3:].isdigit()


def fake_pro_identity(transaction_id: str, doc_type: str) -> dict[str, str]:
    """eKYC_PRO's ``ocrIdInfo`` for a certificate code, obviously fake (ICAO's test state UTO for global ones)."""
    rng = _rng(transaction_id, "identity")
    serial = rng.randrange(1, 999)
    year = rng.randrange(1960, 1999)
    country = "UTO" if doc_type.startswith("GLB") else doc_type[:3]
    if doc_type[3:5] == "03":
        return {
            "surname": "SAMPLE", "givenname": "TEST", "sex": rng.choice(("M", "F")), "birthDate": f"{year}/01/01",
            "passportNo": f"TEST{serial:05d}", "countryCode": country, "issueDate": "2020/01/01",
            "expiryDate": "2030/01/01", "placeOfBirth": "TEST CITY",
        }  # fmt: skip
    return {
        "firstName": "TEST", "lastName": "SAMPLE", "sex": rng.choice(("M", "F")), "dateOfBirth": f"{year}-01-01",
        "idNumber": f"{country}000000{serial:03d}", "countryCode": country, "expiryDate": "2030-01-01",
    }  # fmt: skip


def fake_identity(transaction_id: str, doc_type: str, *, back_side: bool = False) -> dict[str, str]:
    """The ``ocrIdInfo`` fields for ``doc_type`` with obviously fake values."""
    if _is_certificate_code(doc_type):
        return fake_pro_identity(transaction_id, doc_type)
    rng = _rng(transaction_id, "identity")
    serial = rng.randrange(1, 999)
    male = rng.random() < 0.5
    sex_en = "M" if male else "F"
    sex_cn = "男" if male else "女"
    birth = f"19{rng.randrange(60, 99):02d}-01-01"
    issue, expiry = "2020-01-01", "2030-01-01"
    values: dict[str, str] = {
        "name": "测试样本",
        "englishName": "TEST SAMPLE",
        "nameCode": "0000 0000 0000 0000",
        "sex": sex_en,
        "birthDate": birth,
        "currentIssueDate": issue,
        "firstIssueDate": "2003-01-01",
        "isPermanent": "Y",
        "symbols": "***AZ",
        "issueDate": issue,
        "expiryDate": expiry,
        "placeOfIssue": "TEST CITY",
        "originOfIssue": "TEST AUTHORITY",
        "surname": "SAMPLE",
        "givenname": "TEST",
        "surnameCN": "测试",
        "givennameCN": "样本",
        "nationality": "UTO",
        "countryCode": "UTO",
        "placeOfBirth": "TEST CITY",
        "ethnicity": "测试",
        "address": "测试地址 TEST ADDRESS 0号",
    }
    numbers = {
        HK_ID_2003: f"Z000{serial:03d}(0)",
        HK_ID_2018: f"Z000{serial:03d}(0)",
        HK_MACAO_EXIT_ENTRY_PERMIT: f"C00000{serial:03d}",
        HK_MACAO_RESIDENT_TRAVEL_PERMIT: f"H00000{serial:03d}",
        MACAO_ID: f"0000{serial:03d}(0)",
        TAIWAN_RESIDENT_TRAVEL_PERMIT: f"00000{serial:03d}",
        MAINLAND_ID: f"000000{birth.replace('-', '')}0{serial:03d}",
    }
    if doc_type == MAINLAND_ID:
        values["sex"] = sex_cn
    fields = OCR_FIELDS.get(doc_type, OCR_FIELDS[PASSPORT])
    identity = {name: values.get(name, "TEST") for name in fields}
    if "idNumber" in identity:
        identity["idNumber"] = numbers.get(doc_type, f"TEST{serial:05d}")
    if "passportNo" in identity:
        identity["passportNo"] = f"TEST{serial:05d}"
    if back_side and doc_type == MAINLAND_ID:
        identity.update({name: values[name] for name in MAINLAND_ID_BACK_FIELDS})
    return identity


def placeholder_jpeg(transaction_id: str, kind: str, size: int) -> bytes:
    """A JPEG of exactly ``size`` bytes: SOI, a JFIF APP0, COM segments of deterministic padding, EOI.

    It has a valid header and trailer (parsers and magic-byte sniffers accept it) but no image data: it is a
    stand-in for the vendor's 100 KB - 2 MB photos, cheap to produce.
    """
    soi, eoi = b"\xff\xd8", b"\xff\xd9"
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    pattern = hashlib.sha256(f"jpeg:{kind}:{transaction_id}".encode()).digest()
    remaining = size - len(soi) - len(app0) - len(eoi)
    segments: list[bytes] = []
    first = True
    while remaining > 0:
        # every COM segment costs 4 bytes of marker+length; its payload is at most 65533 bytes
        payload_len = min(65533, remaining - 4)
        if 0 < remaining - payload_len - 4 < 4:  # never leave less than a segment header behind
            payload_len -= 4
        if first:
            text = b"SANDBOX PLACEHOLDER - NOT A REAL DOCUMENT "
            payload = (text + pattern * (payload_len // len(pattern) + 1))[:payload_len]
            first = False
        else:
            payload = (pattern * (payload_len // len(pattern) + 1))[:payload_len]
        segments.append(b"\xff\xfe" + struct.pack(">H", payload_len + 2) + payload)
        remaining -= payload_len + 4
    return soi + app0 + b"".join(segments) + eoi


def placeholder_jpeg_b64(transaction_id: str, kind: str, size: int) -> str:
    return base64.b64encode(placeholder_jpeg(transaction_id, kind, size)).decode()
