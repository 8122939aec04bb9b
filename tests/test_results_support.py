"""Synthetic CheckResult responses for the shared.results tests. All data is clearly fake."""

from __future__ import annotations

import base64
from typing import Any

import orjson

from shared import doctypes

FAKE_PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40 + b"FAKE-PNG"
FAKE_JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 40 + b"FAKE-JPEG"
FAKE_GIF = b"GIF89a" + b"\x00" * 20
FAKE_WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 20
FAKE_BMP = b"BM" + b"\x00" * 30
FAKE_OTHER = b"%PDF-1.4 not an image"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# ocrIdInfo for each documented DocType, with the field names listed in REFERENCE.md
OCR_BY_DOC_TYPE: dict[str, dict[str, Any]] = {
    doctypes.HK_ID_2003: {
        "name": "陳大文",
        "englishName": "CHAN, Tai Man",
        "nameCode": "7115 1129 2429",
        "sex": "M",
        "birthDate": "01-01-1990",
        "idNumber": "Z1234560",
        "currentIssueDate": "2018-06-15",
        "firstIssueDate": "2005-01-01",
        "isPermanent": "***AZ",
        "symbols": "***AZ",
    },
    doctypes.HK_ID_2018: {
        "name": "陳小文",
        "englishName": "CHAN, Siu Man",
        "nameCode": "7115 1420 2429",
        "sex": "女",
        "birthDate": "02-02-1992",
        "idNumber": "Z7654321",
        "currentIssueDate": "20200315",
        "firstIssueDate": "2010/01/01",
        "isPermanent": "Y",
        "symbols": "***AZ",
    },
    doctypes.HK_MACAO_EXIT_ENTRY_PERMIT: {
        "name": "张测试",
        "englishName": "ZHANG, CESHI",
        "sex": "男",
        "birthDate": "1988.03.04",
        "idNumber": "C00000000",
        "issueDate": "2019.05.06",
        "expiryDate": "2029.05.05",
        "placeOfIssue": "广东",
        "originOfIssue": "公安部出入境管理局",
    },
    doctypes.HK_MACAO_RESIDENT_TRAVEL_PERMIT: {
        "name": "李测试",
        "englishName": "LI, CESHI",
        "sex": "F",
        "birthDate": "1985年7月8日",
        "idNumber": "H00000000",
        "issueDate": "2016-09-10",
        "expiryDate": "2026-09-09",
        "originOfIssue": "公安部出入境管理局",
    },
    doctypes.PASSPORT: {
        "surname": "TESTER",
        "givenname": "JANE FAKE",
        "sex": "Female",
        "birthDate": "05 JAN 1990",
        "passportNo": "X00000000",
        "nationality": "UTO",
        "expiryDate": "31 DEC 2030",
        "countryCode": "UTO",
    },
    doctypes.MACAO_ID: {
        "surnameCN": "陳",
        "givennameCN": "測試",
        "surname": "CHAN",
        "givenname": "CHI SI",
        "sex": "M",
        "birthDate": "12/11/1970",
        "idNumber": "1000000(0)",
        "expiryDate": "12/11/2030",
        "placeOfBirth": "澳門",
    },
    doctypes.TAIWAN_RESIDENT_TRAVEL_PERMIT: {
        "name": "林测试",
        "englishName": "LIN, CESHI",
        "sex": "male",
        "birthDate": "19800101",
        "idNumber": "00000000",
        "issueDate": "2020.01.01",
        "expiryDate": "2025.01.01",
        "originOfIssue": "公安部出入境管理局",
        "placeOfIssue": "福建",
    },
    doctypes.MAINLAND_ID: {
        "name": "王测试",
        "sex": "女",
        "ethnicity": "汉",
        "birthDate": "1975年12月31日",
        "idNumber": "000000197512310000",
        "address": "测试省测试市测试路1号",
    },
}


def make_body(
    *,
    passed: str = "Y",
    sub_code: Any = "200",
    ocr: Any = None,
    id_info: dict[str, Any] | None = None,
    face_info: dict[str, Any] | str | None = None,
    nested_ocr_string: bool = False,
    **result_extra: Any,
) -> dict[str, Any]:
    """A whole decoded CheckResult response, with Ext*Info encoded as JSON strings as the vendor does."""
    result: dict[str, Any] = {"Passed": passed}
    if sub_code is not None:
        result["SubCode"] = sub_code
    if ocr is not None or id_info is not None:
        info: dict[str, Any] = {"ocrIdPassed": "Y"}
        if ocr is not None:
            info["ocrIdInfo"] = orjson.dumps(ocr).decode() if nested_ocr_string else ocr
        info.update(id_info or {})
        result["ExtIdInfo"] = orjson.dumps(info).decode()
    if face_info is not None:
        result["ExtFaceInfo"] = face_info if isinstance(face_info, str) else orjson.dumps(face_info).decode()
    result.update(result_extra)
    return {"RequestId": "FAKE-REQUEST-0001", "Code": "Success", "Message": "success", "Result": result}
