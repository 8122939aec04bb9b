"""Client-side validation of request parameters, before anything is sent (and billed).

Rules come from the vendor's documentation, API metadata and the official SDK's parameter comments (REFERENCE.md §1).
A rule belongs to a parameter name, whatever the operation; :class:`OperationParameters` says which names an
operation takes, which are required and which travel in the form body. Messages name the parameter and the rule,
never the value: MetaInfo, user ids, document numbers and tokens must not reach logs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from shared import jsonutil, products
from shared.ids import MERCHANT_BIZ_ID_RULE, TRANSACTION_ID_RULE, is_merchant_biz_id, is_transaction_id
from shared.values import valueclass

from .errors import ParameterError
from .switches import BY_PARAMETER, switches_for

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


@valueclass
class OperationParameters:
    """What one operation takes: its parameter names (the vendor's), those sent in the form body (all others go in
    the query string, as the official SDK sends them), and those every request needs."""

    action: str
    names: frozenset[str]
    body: frozenset[str]
    required: tuple[str, ...]


INITIALIZE = OperationParameters(products.INITIALIZE, INITIALIZE_PARAMETERS, BODY_PARAMETERS, INITIALIZE_REQUIRED)

# The query-only operations (all parameters in the query string, as the official SDK 3.23.1's
# check_result_with_options and delete_verify_result_with_options send them). Names: the API metadata of CheckResult
# and DeleteVerifyResult (cloudauth-intl 2022-08-09), which marks none of them required. CheckResult: requiring the
# ids that name one transaction is this project's rule (whether the vendor accepts a call without them: unverified).
# DeleteVerifyResult: the vendor's page marks all three required ("删除认证记录", help/zh/ekyc/latest/
# delete-certification-record, Sep 16, 2025; the zh-TW copy Dec 09, 2025: TransactionId, DeleteAfterQuery and
# DeleteType "是否必选: Yes"), more than the metadata says: the page wins.
CHECK_RESULT = OperationParameters(
    "CheckResult",
    frozenset({"MerchantBizId", "TransactionId", "IsReturnImage", "ExtraImageControlList",
               "ReturnFiveCategorySpoofResult"}),
    frozenset(),
    ("MerchantBizId", "TransactionId"),
)  # fmt: skip
DELETE_VERIFY_RESULT = OperationParameters(
    "DeleteVerifyResult",
    frozenset({"TransactionId", "DeleteType", "DeleteAfterQuery"}),
    frozenset(),
    ("TransactionId", "DeleteAfterQuery", "DeleteType"),
)

# InitializeV2 (eKYC_PRO, FACE_LIVENESS_PRO, ...): every parameter the official SDK 3.23.1 sends
# (client.initialize_v2with_options): Initialize's 60 plus the file-stream pair, which on this path are the URLs of
# files the SDK's *Advance variant uploaded first. Unlike Initialize it sends TargetFacePicture in the body too.
# Required: the vendor's InitializeV2 parameter table could not be read (UNVERIFIED); ProductCode, MerchantBizId,
# MetaInfo and MerchantUserId are "Required: Yes" on every Initialize page and on the ID_NFC InitializeV2 page;
# ReturnUrl is this project's requirement (the web flow sends the browser back there). DocType depends on the
# product (shared.products).
INITIALIZE_V2 = OperationParameters(
    products.INITIALIZE_V2,
    INITIALIZE_PARAMETERS | {"FacePictureFile", "TargetFacePictureFile"},
    frozenset({"FacePictureBase64", "TargetFacePicture"}),
    ("ProductCode", "MerchantBizId", "MetaInfo", "MerchantUserId", "ReturnUrl"),
)

# Documented values of enumerated parameters: the switches (their tables), then the others.
ENUMS: dict[str, frozenset[str]] = {
    **{switch.parameter: switch.values for switch in BY_PARAMETER.values() if switch.values},
    # official SDK 3.23.1 parameter comments (InitializeRequest / InitializeV2Request)
    "AppQualityCheck": frozenset({"Y", "N"}),
    "MRTDInput": frozenset({"0", "1", "2"}),
    "UpdateFaceIfUserExists": frozenset({"Y", "N"}),
    "IsReturnImage": frozenset({"Y", "N"}),
    "DeleteType": frozenset({"Img", "Text", "All"}),
    "DeleteAfterQuery": frozenset({"Y", "N"}),
}

# Full-match patterns, compiled by their first use (cold start).
_PRODUCT_CODE = r"[A-Za-z0-9_]{1,32}"
_MOBILE = r"\+62[0-9]{9,11}"  # SDK: "must start with +62 followed by 9 to 11 digits" (Indonesia)
_URL_PARAMETERS = frozenset({"ReturnUrl", "FacePictureUrl", "TargetFacePictureUrl", "FacePictureFile",
                             "TargetFacePictureFile"})  # fmt: skip
MAX_VALUE_LENGTH = 16 * 1024 * 1024  # a base64 image is the largest thing we send


def missing(name: str) -> ParameterError:
    return ParameterError(f"{name} is required", parameter=name, code="MissingParameter")


def invalid(name: str, rule: str) -> ParameterError:
    return ParameterError(f"{name} {rule}", parameter=name, code="InvalidParameter")


def _check_url(name: str, value: str, *, https_only: bool) -> None:
    """The vendor's shape (absolute, http(s), a host). The client sends the string as given, percent-encoded like
    the SDK (nothing is dropped here); the project's stricter rule (shared.urls.check_url) guards where URLs enter:
    returnUrl at POST /verifications, the callback URL at start."""
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
    name: str,
    value: object,
    *,
    allow_undocumented_doc_types: bool = False,
    https_callback: bool = True,
    doc_types: products.DocTypeTable | None = products.EKYC_DOC_TYPES,
    region: str | None = None,
) -> str:
    """Validate one parameter value and return it. Raises :class:`ParameterError` naming ``name``.

    ``DocType`` is checked against ``doc_types`` (default: eKYC's table) in ``region`` (``None``: any region).
    """
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
    switch = BY_PARAMETER.get(name)
    if switch is not None:
        if switch.pattern is not None and not re.fullmatch(switch.pattern, value):
            raise invalid(name, switch.rule)
        if switch.json_object:
            _check_json(name, value, dict)
    elif name == "MerchantBizId" and not is_merchant_biz_id(value):
        raise invalid(name, f"must be {MERCHANT_BIZ_ID_RULE}")
    elif name == "ProductCode" and not re.fullmatch(_PRODUCT_CODE, value):
        raise invalid(name, "must be letters, digits or _")
    elif name == "TransactionId" and not is_transaction_id(value):
        raise invalid(name, f"must be {TRANSACTION_ID_RULE}")
    elif name == "DocType" and doc_types is not None:
        problem = doc_types.problem(value, region, allow_undocumented=allow_undocumented_doc_types)
        if problem is not None:
            raise invalid(name, problem)
    elif name == "Mobile" and not re.fullmatch(_MOBILE, value):
        raise invalid(name, "must be +62 followed by 9 to 11 digits")
    elif name == "DocPageConfig":
        _check_json(name, value, list)
    elif name in _URL_PARAMETERS:
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


def validate_initialize_v2(
    params: Mapping[str, str],
    *,
    region: str,
    allow_undocumented_doc_types: bool = False,
    https_callback: bool = True,
) -> dict[str, str]:
    """Check a complete InitializeV2 parameter set (vendor names) for the product it names, in ``region``.

    The product must be supported, started by InitializeV2 and offered in ``region``; its ``DocType`` rule and
    document-type table (:mod:`shared.products`) decide whether a DocType is required, refused, and which codes
    pass. Returns a copy.
    """
    for name in INITIALIZE_V2.required:
        if name not in params:
            raise missing(name)
    for name in params:
        if name not in INITIALIZE_V2.names:
            raise ParameterError(f"{name} is not an InitializeV2 parameter", parameter=name)
    product_code = check_value("ProductCode", params["ProductCode"])
    try:
        product = products.check_product(product_code, region, operation=INITIALIZE_V2.action)
    except products.ProductError as exc:
        raise invalid("ProductCode", f"cannot be used here: {exc}") from None
    if product.doc_type is products.DocTypeUse.REQUIRED and "DocType" not in params:
        raise ParameterError(f"DocType is required by {product.code}", parameter="DocType", code="MissingParameter")
    if product.doc_type is products.DocTypeUse.NOT_ACCEPTED and "DocType" in params:
        raise invalid("DocType", f"is not a parameter of {product.code}, which verifies no document")
    accepted = switches_for(product).by_parameter
    for name in params:
        switch = BY_PARAMETER.get(name)
        if switch is not None and name not in accepted:
            raise invalid(name, f"is not a parameter of {product.code}, which verifies no document")
    return {
        name: check_value(
            name,
            value,
            allow_undocumented_doc_types=allow_undocumented_doc_types,
            https_callback=https_callback,
            doc_types=product.doc_types,
            region=region,
        )
        for name, value in params.items()
    }
