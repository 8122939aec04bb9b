"""The cloudauth-intl operations: parameter validation and answers in the vendor's JSON shapes.

Initialize and InitializeV2 start a flow of a product the sandbox's catalog (:mod:`tools.sandbox.catalog`) offers on
that operation in the region it plays; CheckResult and DeleteVerifyResult work on any flow.

Decisions where the vendor's behaviour is not documented:
* A product, or a document type, its region does not offer answers ``InvalidParameter`` naming ``ProductCode`` or
  ``DocType`` (the vendor's code for this is UNVERIFIED). A product unknown to the catalog, or not started by the
  operation called, answers ``InvalidParameter`` too.
* A face-only product ignores a ``DocType`` (the client never sends one).
* ``DeleteVerifyResult`` with ``DeleteType=All`` erases the transaction: later calls answer ``TransactionIdInvalid``.
  ``Text`` keeps ``Passed``/``SubCode`` but empties ``ExtIdInfo``/``ExtFaceInfo``/``ExtBasicInfo`` text; ``Img``
  only stops images from being returned. ``DeleteAfterQuery=Y`` refuses (``DeleteResult: N``) until a final
  CheckResult answer was given. Deleting an unfinished flow answers ``DeleteResult: N``.
* A pending (``P``) answer carries only ``Passed``; the callback for a pending outcome says ``passed=P`` and an
  empty ``subCode``.
* A parameter the operation does not take (:data:`PARAMETERS`) answers ``InvalidParameter`` naming it. What the
  vendor does with one is UNVERIFIED (a gateway may well ignore it); refusing it is what makes a misspelt name in a
  client fail here (``ReturnImage`` for ``IsReturnImage`` would otherwise read as ``N``: no images, no error).
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from shared import jsonutil
from tools.sandbox import catalog, state
from tools.sandbox.config import SandboxConfig
from tools.sandbox.errors import VendorError, invalid, missing

START_ACTIONS = frozenset({"Initialize", "InitializeV2"})
ACTIONS = START_ACTIONS | {"CheckResult", "DeleteVerifyResult"}

# The vendor's rules, written here from its documentation rather than imported from shared.cloudauth: the sandbox
# stands in for the vendor, so the client's own validation is tested against an independent copy.
MERCHANT_BIZ_ID = re.compile(r"[A-Za-z0-9]{1,32}")
SCENE_CODE = re.compile(r"[A-Za-z0-9_]{1,10}")
INITIALIZE_ENUMS: dict[str, frozenset[str]] = {
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
    # The next three and MOBILE: the parameter comments of the official SDK alibabacloud-cloudauth-intl20220809
    # 3.23.1 (InitializeRequest / InitializeV2Request), the vendor's only readable description of them.
    "AppQualityCheck": frozenset({"Y", "N"}),
    "MRTDInput": frozenset({"0", "1", "2"}),
    "UpdateFaceIfUserExists": frozenset({"Y", "N"}),
}
# The parameters of each operation, a second reading apart from the client's (shared.cloudauth.params). Initialize,
# CheckResult and DeleteVerifyResult: the vendor's API metadata (cloudauth-intl 2022-08-09), plus the Initialize
# parameters only the official SDK alibabacloud-cloudauth-intl20220809 3.23.1 sends (InitializeRequest: "SDK" below);
# InitializeV2, which the metadata does not describe: the SDK's InitializeV2Request, Initialize's plus the file pair.
# tests/sandbox/test_official_sdk.py checks each against the SDK's request models.
_INITIALIZE_PARAMETERS = frozenset(
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
PARAMETERS: dict[str, frozenset[str]] = {
    "Initialize": _INITIALIZE_PARAMETERS,
    "InitializeV2": _INITIALIZE_PARAMETERS | {"FacePictureFile", "TargetFacePictureFile"},
    "CheckResult": frozenset({"MerchantBizId", "TransactionId", "IsReturnImage", "ExtraImageControlList",
                              "ReturnFiveCategorySpoofResult"}),
    "DeleteVerifyResult": frozenset({"TransactionId", "DeleteAfterQuery", "DeleteType"}),
}
MOBILE = re.compile(r"\+62[0-9]{9,11}")  # SDK: "must start with +62 followed by 9 to 11 digits" (Indonesia)
# Parameters that carry a picture's address (the SDK's *Url fields; the *File pair holds the URL of a file its
# *Advance variant uploaded first): checked as absolute http(s) URLs.
URL_PARAMETERS = ("FacePictureUrl", "TargetFacePictureUrl", "FacePictureFile", "TargetFacePictureFile")
YES_NO = frozenset({"Y", "N"})
DELETE_TYPES = frozenset({"Img", "Text", "All"})  # the page "删除认证记录" (zh, Sep 16, 2025): DeleteType


def check_names(action: str, params: Mapping[str, str]) -> None:
    """Refuse a parameter ``action`` does not take (the module's decisions: the vendor's answer is UNVERIFIED)."""
    unknown = sorted(set(params) - PARAMETERS[action])
    if unknown:
        raise invalid(unknown[0][:64], f"It is not a parameter of {action}.")


def _required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name, "")
    if not value.strip():
        raise missing(name)
    return value


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _http_url(name: str, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid(name, "It must be an absolute http(s) URL.")


def _json(name: str, value: str, kind: type) -> None:
    try:
        decoded = jsonutil.loads(value)
    except ValueError:
        decoded = None
    if not isinstance(decoded, kind):
        raise invalid(name, f"It must be a JSON {'object' if kind is dict else 'array'}.")


def validate_start(params: Mapping[str, str], config: SandboxConfig, action: str) -> catalog.Product:
    """Initialize / InitializeV2: the product it starts, after the vendor's checks."""
    product = catalog.PRODUCTS.get(_required(params, "ProductCode"))
    if product is None or action not in product.operations:
        raise invalid("ProductCode")
    if config.region not in product.regions:
        raise invalid("ProductCode", "The product is not available in this region.")
    if not MERCHANT_BIZ_ID.fullmatch(_required(params, "MerchantBizId")):
        raise invalid("MerchantBizId", "It must be at most 32 letters or digits.")
    _required(params, "MetaInfo")
    _required(params, "MerchantUserId")
    _http_url("ReturnUrl", _required(params, "ReturnUrl"))
    if product.document and _required(params, "DocType") not in catalog.documents_in(product, config.region):
        raise invalid("DocType", "It is not a document type of this product in this region.")
    scene = params.get("SceneCode")
    if scene is not None and not SCENE_CODE.fullmatch(scene):
        raise invalid("SceneCode", "It must be at most 10 letters, digits or underscores.")
    for name, allowed in INITIALIZE_ENUMS.items():
        if name in params and params[name] not in allowed:
            raise invalid(name)
    if "StyleConfig" in params:
        _json("StyleConfig", params["StyleConfig"], dict)
    if "DocPageConfig" in params:
        _json("DocPageConfig", params["DocPageConfig"], list)
    if "Mobile" in params and not MOBILE.fullmatch(params["Mobile"]):
        raise invalid("Mobile", "It must be +62 followed by 9 to 11 digits.")
    for name in URL_PARAMETERS:
        if name in params:
            _http_url(name, params[name])
    if "CallbackUrl" in params:
        url = params["CallbackUrl"]
        _http_url("CallbackUrl", url)
        parts = urlsplit(url)
        loopback_ok = config.allow_http_loopback_callbacks and _is_loopback(parts.hostname)
        if parts.scheme != "https" and not loopback_ok:
            raise invalid("CallbackUrl", "It must start with https.")
    if "CallbackToken" in params and not (0 < len(params["CallbackToken"]) <= 128):
        raise invalid("CallbackToken")
    return product


def initialize(
    params: Mapping[str, str],
    config: SandboxConfig,
    store: state.Store,
    base_url: str,
    now: float,
    action: str = "Initialize",
) -> dict[str, Any]:
    """Initialize or InitializeV2 (``action``): the same answer shape (``Result`` of TransactionId, TransactionUrl,
    Protocol, ClientCfg)."""
    product = validate_start(params, config, action)
    tid = state.new_transaction_id()
    token = state.new_page_token()
    doc_type = params["DocType"] if product.document else None
    mode = config.ocr_info_as
    as_string = mode == "string" or (mode == "mixed" and int(tid[-1], 16) % 2 == 1)
    tx = state.Transaction(
        transaction_id=tid,
        merchant_biz_id=params["MerchantBizId"],
        merchant_user_id=params["MerchantUserId"],
        product_code=params["ProductCode"],
        doc_type=doc_type,
        return_url=params["ReturnUrl"],
        callback_url=params.get("CallbackUrl"),
        callback_token=params.get("CallbackToken"),
        params={k: v for k, v in params.items() if k not in ("FacePictureBase64", "TargetFacePicture")},
        page_token=token,
        transaction_url=f"{base_url}/verify/{token}",
        created_at=now,
        ocr_as_string=as_string,
        identity=state.identity_for(tid, doc_type, params.get("Pages")),
        action=action,
    )
    store.add(tx)
    return {
        "TransactionId": tid,
        "TransactionUrl": tx.transaction_url,
        "Protocol": "hksb" + secrets.token_hex(16),
        "ClientCfg": jsonutil.dumps_str({"sandbox": True, "transactionId": tid}),
    }


def _transaction(store: state.Store, transaction_id: str) -> state.Transaction:
    tx = store.get(transaction_id)
    if tx is None:
        raise VendorError("TransactionIdInvalid")
    return tx


def check_result(
    params: Mapping[str, str], config: SandboxConfig, store: state.Store, now: float
) -> dict[str, Any]:
    merchant_biz_id = _required(params, "MerchantBizId")
    transaction_id = _required(params, "TransactionId")
    if not MERCHANT_BIZ_ID.fullmatch(merchant_biz_id):
        raise invalid("MerchantBizId", "It must be at most 32 letters or digits.")
    is_return_image = params.get("IsReturnImage", "N")
    if is_return_image not in YES_NO:
        raise invalid("IsReturnImage")
    if "ReturnFiveCategorySpoofResult" in params and params["ReturnFiveCategorySpoofResult"] not in YES_NO:
        raise invalid("ReturnFiveCategorySpoofResult")
    with store.lock:
        tx = _transaction(store, transaction_id)
        if tx.merchant_biz_id != merchant_biz_id:
            raise VendorError("TransactionIdInvalid", "The TransactionId does not belong to this MerchantBizId.")
        if not tx.finished:
            raise VendorError("ProcessNotCompleted")
        return state.check_result(tx, config, return_image=is_return_image == "Y", now=now)


def delete_verify_result(params: Mapping[str, str], store: state.Store) -> dict[str, Any]:
    # All three required: the page "删除认证记录" (zh Sep 16, 2025; zh-TW Dec 09, 2025) says "Yes" for each (its API
    # metadata marks none).
    transaction_id = _required(params, "TransactionId")
    after_query = _required(params, "DeleteAfterQuery")
    delete_type = _required(params, "DeleteType")
    if delete_type not in DELETE_TYPES:
        raise invalid("DeleteType")
    if after_query not in YES_NO:
        raise invalid("DeleteAfterQuery")
    with store.lock:
        tx = _transaction(store, transaction_id)
        deleted = tx.finished and (after_query == "N" or tx.queried)
        if deleted:
            if delete_type == "All":
                store.remove(transaction_id)
            elif delete_type == "Img":
                tx.images_deleted = True
            else:
                tx.text_deleted = True
    return {"TransactionId": transaction_id, "DeleteResult": "Y" if deleted else "N"}
