"""Client-side validation of request parameters, before anything is sent (and billed).

Rules come from the vendor's documentation and API metadata (REFERENCE.md §1). Messages name the parameter and
the rule, never the value: MetaInfo, user ids, document numbers and tokens must not reach logs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from shared import jsonutil
from shared.doctypes import DOC_TYPES

from .errors import ParameterError

# Every Initialize parameter in the vendor's API metadata (2022-08-09), plus those the official Python SDK 3.23.1
# sends that the metadata does not list yet (marked "SDK"). FacePictureBase64 is the only one sent in the body.
INITIALIZE_PARAMETERS: frozenset[str] = frozenset(
    {
        "ProductCode", "MerchantBizId", "MetaInfo", "DocType", "MerchantUserId", "SceneCode", "Pages",
        "FacePictureBase64", "FacePictureUrl", "Crop", "Ocr", "IdFaceQuality", "IdSpoof", "ReturnUrl", "Authorize",
        "DocScanMode", "ProductFlow", "CallbackUrl", "CallbackToken", "LanguageConfig", "SecurityLevel",
        "StyleConfig", "ExperienceCode", "DocVideo", "Model", "IdThreshold", "ShowAlbumIcon", "ShowOcrResult",
        "ShowGuidePage", "ProcedurePriority", "AppQualityCheck", "DocPageConfig", "MRTDInput", "DocumentNumber",
        "DateOfBirth", "DateOfExpiry", "UseNFC", "ChameleonFrameEnable", "DocNo", "DocName", "EditOcrResult",
        "VerifyModel", "FaceGroupCodes", "TargetFacePicture", "TargetFacePictureUrl", "AutoRegistration",
        "FaceRegisterGroupCode", "SaveFacePicture", "FaceVerifyThreshold", "ReturnFaces",
        # SDK
        "AutoDocPageConfig", "Email", "FaceAttributeCheck", "Mobile", "NeedMultiFaceCheck", "OcrValueStandard",
        "TemplateConfig", "TemplateRanCount", "TemplateType", "UpdateFaceIfUserExists",
    }
)  # fmt: skip
BODY_PARAMETERS = frozenset({"FacePictureBase64"})
INITIALIZE_REQUIRED = ("ProductCode", "MerchantBizId", "MetaInfo", "MerchantUserId", "ReturnUrl", "DocType")

# Documented values of enumerated parameters (Initialize, CheckResult, DeleteVerifyResult).
ENUMS: dict[str, frozenset[str]] = {
    "IdSpoof": frozenset({"Y", "N"}),
    "Authorize": frozenset({"T", "F"}),
    "SecurityLevel": frozenset({"01", "02"}),
    "IdThreshold": frozenset({"0", "1", "2", "3"}),
    "Model": frozenset({"LIVENESS", "PHOTINUS_LIVENESS"}),
    "DocVideo": frozenset({"Y", "N"}),
    "ShowAlbumIcon": frozenset({"1", "0"}),
    "ShowOcrResult": frozenset({"1", "0"}),
    "ShowGuidePage": frozenset({"1", "0"}),
    "EditOcrResult": frozenset({"1", "0"}),
    "DocScanMode": frozenset({"manual", "auto"}),
    "ProductFlow": frozenset({"DOC_FACE", "FACE_DOC"}),
    "Pages": frozenset({"01", "01,02"}),
    "ProcedurePriority": frozenset({"url", "keep"}),
    "UseNFC": frozenset({"Y", "N"}),
    "IsReturnImage": frozenset({"Y", "N"}),
    "DeleteType": frozenset({"Img", "Text", "All"}),
    "DeleteAfterQuery": frozenset({"Y", "N"}),
}

_MERCHANT_BIZ_ID = re.compile(r"[A-Za-z0-9]{1,32}")
_SCENE_CODE = re.compile(r"[A-Za-z0-9_]{1,10}")
_PRODUCT_CODE = re.compile(r"[A-Za-z0-9_]{1,32}")
_DOC_TYPE_UNDOCUMENTED = re.compile(r"[0-9]{8,9}")
_TRANSACTION_ID = re.compile(r"[\x21-\x7e]{1,128}")  # printable ASCII, no spaces
MAX_VALUE_LENGTH = 16 * 1024 * 1024  # a base64 image is the largest thing we send


def missing(name: str) -> ParameterError:
    return ParameterError(f"{name} is required", parameter=name, code="MissingParameter")


def invalid(name: str, rule: str) -> ParameterError:
    return ParameterError(f"{name} {rule}", parameter=name, code="InvalidParameter")


def _check_url(name: str, value: str, *, https_only: bool) -> None:
    try:
        parts = urlsplit(value)
        ok = parts.scheme in {"http", "https"} and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        raise invalid(name, "must be an absolute http(s) URL")
    if https_only and parts.scheme != "https":
        raise invalid(name, "must be an https URL")


def _check_json(name: str, value: str, kind: type) -> None:
    try:
        decoded = jsonutil.loads(value)
    except ValueError:
        raise invalid(name, "must be valid JSON") from None
    if not isinstance(decoded, kind):
        raise invalid(name, f"must be a JSON {'array' if kind is list else 'object'}")


def check_value(
    name: str, value: object, *, allow_undocumented_doc_types: bool = False, https_callback: bool = True
) -> str:
    """Validate one parameter value and return it. Raises :class:`ParameterError` naming ``name``."""
    if not isinstance(value, str):
        raise invalid(name, "must be a string")
    if value == "" or value.strip() == "":
        raise missing(name)
    if len(value) > MAX_VALUE_LENGTH:
        raise invalid(name, "is too long")
    if "\x00" in value:
        raise invalid(name, "must not contain NUL characters")
    allowed = ENUMS.get(name)
    if allowed is not None and value not in allowed:
        raise invalid(name, "must be one of " + "/".join(sorted(allowed)))
    if name == "MerchantBizId" and not _MERCHANT_BIZ_ID.fullmatch(value):
        raise invalid(name, "must be 1-32 letters or digits")
    elif name == "SceneCode" and not _SCENE_CODE.fullmatch(value):
        raise invalid(name, "must be 1-10 letters, digits or _")
    elif name == "ProductCode" and not _PRODUCT_CODE.fullmatch(value):
        raise invalid(name, "must be letters, digits or _")
    elif name == "TransactionId" and not _TRANSACTION_ID.fullmatch(value):
        raise invalid(name, "must be 1-128 printable characters without spaces")
    elif name == "DocType" and value not in DOC_TYPES:
        if not allow_undocumented_doc_types:
            raise invalid(name, "must be a documented document type code (see shared.doctypes)")
        if not _DOC_TYPE_UNDOCUMENTED.fullmatch(value):
            raise invalid(name, "must be an 8- or 9-digit document type code")
    elif name == "StyleConfig":
        _check_json(name, value, dict)
    elif name == "DocPageConfig":
        _check_json(name, value, list)
    elif name == "ReturnUrl":
        _check_url(name, value, https_only=False)
    elif name == "CallbackUrl":
        _check_url(name, value, https_only=https_callback)
    return value


def validate_initialize(
    params: Mapping[str, str], *, allow_undocumented_doc_types: bool = False, https_callback: bool = True
) -> dict[str, str]:
    """Check a complete Initialize parameter set (vendor names); returns a copy."""
    for name in INITIALIZE_REQUIRED:
        if name not in params:
            raise missing(name)
    for name in params:
        if name not in INITIALIZE_PARAMETERS:
            raise ParameterError(f"{name} is not an Initialize parameter", parameter=name)
    return {
        name: check_value(
            name, value, allow_undocumented_doc_types=allow_undocumented_doc_types, https_callback=https_callback
        )
        for name, value in params.items()
    }
