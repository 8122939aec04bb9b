"""The three cloudauth-intl operations: parameter validation and answers in the vendor's JSON shapes.

Decisions where the vendor's behaviour is not documented:
* ``DeleteVerifyResult`` with ``DeleteType=All`` erases the transaction: later calls answer ``TransactionIdInvalid``.
  ``Text`` keeps ``Passed``/``SubCode`` but empties ``ExtIdInfo``/``ExtFaceInfo``/``ExtBasicInfo`` text; ``Img``
  only stops images from being returned. ``DeleteAfterQuery=Y`` refuses (``DeleteResult: N``) until a final
  CheckResult answer was given. Deleting an unfinished flow answers ``DeleteResult: N``.
* A pending (``P``) answer carries only ``Passed``; the callback for a pending outcome says ``passed=P`` and an
  empty ``subCode``.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from shared import doctypes, jsonutil
from tools.sandbox import state
from tools.sandbox.config import SandboxConfig
from tools.sandbox.errors import VendorError, invalid, missing

ACTIONS = frozenset({"Initialize", "CheckResult", "DeleteVerifyResult"})
# product codes from the metadata (current) and the older documentation
DOC_PRODUCTS = frozenset({"eKYC", "eKYC_PRO", "KYC_GLOBAL", "ID_OCR", "OCR_GLOBAL", "IDR_GLOBAL"})
FACE_PRODUCTS = frozenset({"FACE_LIVENESS", "FV_GLOBAL", "FL_GLOBAL", "FACE_VERIFY"})
PRODUCT_CODES = DOC_PRODUCTS | FACE_PRODUCTS

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
}
YES_NO = frozenset({"Y", "N"})


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


def validate_initialize(params: Mapping[str, str], config: SandboxConfig) -> None:
    product = _required(params, "ProductCode")
    if product not in PRODUCT_CODES:
        raise invalid("ProductCode")
    if not MERCHANT_BIZ_ID.fullmatch(_required(params, "MerchantBizId")):
        raise invalid("MerchantBizId", "It must be at most 32 letters or digits.")
    _required(params, "MetaInfo")
    _required(params, "MerchantUserId")
    _http_url("ReturnUrl", _required(params, "ReturnUrl"))
    if product in DOC_PRODUCTS:
        _required(params, "DocType")
    doc_type = params.get("DocType")
    if doc_type is not None and not doctypes.is_documented(doc_type):
        raise invalid("DocType")
    scene = params.get("SceneCode")
    if scene is not None and not SCENE_CODE.fullmatch(scene):
        raise invalid("SceneCode", "It must be at most 10 letters, digits or underscores.")
    for name, allowed in INITIALIZE_ENUMS.items():
        if name in params and params[name] not in allowed:
            raise invalid(name)
    if "StyleConfig" in params:
        try:
            style = jsonutil.loads(params["StyleConfig"])
        except ValueError:
            raise invalid("StyleConfig", "It must be a JSON object.") from None
        if not isinstance(style, dict):
            raise invalid("StyleConfig", "It must be a JSON object.")
    if "CallbackUrl" in params:
        url = params["CallbackUrl"]
        _http_url("CallbackUrl", url)
        parts = urlsplit(url)
        loopback_ok = config.allow_http_loopback_callbacks and _is_loopback(parts.hostname)
        if parts.scheme != "https" and not loopback_ok:
            raise invalid("CallbackUrl", "It must start with https.")
    if "CallbackToken" in params and not (0 < len(params["CallbackToken"]) <= 128):
        raise invalid("CallbackToken")


def initialize(
    params: Mapping[str, str], config: SandboxConfig, store: state.Store, base_url: str, now: float
) -> dict[str, Any]:
    validate_initialize(params, config)
    tid = state.new_transaction_id()
    token = state.new_page_token()
    doc_type = params.get("DocType", doctypes.PASSPORT)
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
        params={k: v for k, v in params.items() if k != "FacePictureBase64"},
        page_token=token,
        transaction_url=f"{base_url}/verify/{token}",
        created_at=now,
        ocr_as_string=as_string,
        identity=state.identity_for(tid, doc_type, params.get("Pages")),
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
    transaction_id = _required(params, "TransactionId")
    delete_type = params.get("DeleteType", "All")
    if delete_type not in ("Img", "Text", "All"):
        raise invalid("DeleteType")
    after_query = params.get("DeleteAfterQuery", "N")
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
