"""The requests and answers of the cloudauth-intl operations, as typed values (the client sends and parses them).

Initialize (eKYC) and InitializeV2 (eKYC_PRO, FACE_LIVENESS_PRO, ...) each have their request; both answer an
:class:`InitializeResponse`. Initialize's switches come from their table (:mod:`shared.cloudauth.switches`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from shared import jsonutil
from shared.values import field, valueclass

from .params import invalid
from .switches import INITIALIZE_SWITCHES

# InitializeRequest field → vendor parameter name: the fixed parameters, then one field per switch (the table's).
_INITIALIZE_FIELDS: dict[str, str] = {
    "merchant_biz_id": "MerchantBizId",
    "meta_info": "MetaInfo",
    "merchant_user_id": "MerchantUserId",
    "return_url": "ReturnUrl",
    "doc_type": "DocType",
    "product_code": "ProductCode",
    "callback_url": "CallbackUrl",
    "callback_token": "CallbackToken",
    **{switch.field: switch.parameter for switch in INITIALIZE_SWITCHES},
    "face_picture_base64": "FacePictureBase64",
}


@valueclass
class InitializeRequest:
    """One Initialize call. Fields left ``None`` are not sent; ``extra`` takes any other vendor parameter by name.

    Between ``callback_token`` and ``face_picture_base64``: one field per switch of
    :data:`~shared.cloudauth.switches.INITIALIZE_SWITCHES` (a test keeps the two in step).

    ``product_code`` defaults to the client's setting (``CLOUDAUTH_PRODUCT_CODE``). PII-bearing fields are kept
    out of ``repr``.
    """

    merchant_biz_id: str
    meta_info: str = field(repr=False)
    merchant_user_id: str = field(repr=False)
    return_url: str
    doc_type: str
    product_code: str | None = None
    callback_url: str | None = None
    callback_token: str | None = field(default=None, repr=False)
    scene_code: str | None = None
    id_spoof: str | None = None
    authorize: str | None = None
    security_level: str | None = None
    id_threshold: str | None = None
    model: str | None = None
    doc_video: str | None = None
    show_album_icon: str | None = None
    show_ocr_result: str | None = None
    show_guide_page: str | None = None
    edit_ocr_result: str | None = None
    doc_scan_mode: str | None = None
    product_flow: str | None = None
    pages: str | None = None
    procedure_priority: str | None = None
    use_nfc: str | None = None
    language_config: str | None = None
    style_config: str | None = None
    face_picture_base64: str | None = field(default=None, repr=False)
    extra: Mapping[str, str] = field(default_factory=dict, repr=False)

    def to_params(self, default_product_code: str) -> dict[str, str]:
        """The vendor parameters (not yet validated). A parameter given twice raises :class:`ParameterError`."""
        return _to_params(self, _INITIALIZE_FIELDS, default_product_code, {}, self.extra)


# InitializeV2Request field → vendor parameter name (doc_page_config is encoded separately).
_INITIALIZE_V2_FIELDS: dict[str, str] = {
    "merchant_biz_id": "MerchantBizId",
    "meta_info": "MetaInfo",
    "merchant_user_id": "MerchantUserId",
    "return_url": "ReturnUrl",
    "product_code": "ProductCode",
    "doc_type": "DocType",
    "callback_url": "CallbackUrl",
    "callback_token": "CallbackToken",
    "face_picture_base64": "FacePictureBase64",
    "target_face_picture": "TargetFacePicture",
}


@valueclass
class InitializeV2Request:
    """One InitializeV2 call (eKYC_PRO, FACE_LIVENESS_PRO). Fields left ``None`` are not sent; ``extra`` takes any
    other InitializeV2 parameter by its vendor name (``IdSpoof``, ``SecurityLevel``, ``LanguageConfig``...).

    ``product_code`` defaults to the client's setting (``CLOUDAUTH_PRODUCT_CODE``). ``doc_type`` is required or
    refused depending on the product (:mod:`shared.products`). ``doc_page_config`` is a list of strings, sent as the
    JSON array text the official SDK makes of it. PII-bearing fields are kept out of ``repr``.
    """

    merchant_biz_id: str
    meta_info: str = field(repr=False)
    merchant_user_id: str = field(repr=False)
    return_url: str
    product_code: str | None = None
    doc_type: str | None = None
    callback_url: str | None = None
    callback_token: str | None = field(default=None, repr=False)
    face_picture_base64: str | None = field(default=None, repr=False)
    target_face_picture: str | None = field(default=None, repr=False)
    doc_page_config: Sequence[str] | None = None
    extra: Mapping[str, str] = field(default_factory=dict, repr=False)

    def to_params(self, default_product_code: str) -> dict[str, str]:
        """The vendor parameters (not yet validated). A parameter given twice raises :class:`ParameterError`."""
        encoded = {}
        if self.doc_page_config is not None:
            encoded["DocPageConfig"] = encode_doc_page_config(self.doc_page_config)
        return _to_params(self, _INITIALIZE_V2_FIELDS, default_product_code, encoded, self.extra)


def encode_doc_page_config(pages: Sequence[str]) -> str:
    """The JSON array text of ``pages``, as the official SDK encodes ``DocPageConfig`` (compact, non-ASCII kept)."""
    if isinstance(pages, str) or not all(isinstance(page, str) for page in pages):
        raise invalid("DocPageConfig", "must be a list of strings")
    return jsonutil.dumps_str(list(pages))


@valueclass
class InitializeResponse:
    transaction_id: str
    transaction_url: str = field(repr=False)  # single-use link into the user's flow
    protocol: str | None = field(default=None, repr=False)
    client_cfg: str | None = field(default=None, repr=False)
    request_id: str | None = None


@valueclass
class DeleteVerifyResultResponse:
    deleted: bool  # Result.DeleteResult == "Y"
    delete_result: str | None
    transaction_id: str | None
    request_id: str | None = None


def _to_params(
    request: object,
    fields: Mapping[str, str],
    default_product_code: str,
    encoded: Mapping[str, str],
    extra: Mapping[str, str],
) -> dict[str, str]:
    """A start request's vendor parameters: its fields that are set (``fields``: attribute → parameter), the
    product code (the client's default unless given), the parameters encoded from other fields, then ``extra``;
    a parameter given twice raises :class:`ParameterError`."""
    params: dict[str, str] = {}
    for attr, name in fields.items():
        value = getattr(request, attr)
        if value is not None:
            params[name] = value
    params.setdefault("ProductCode", default_product_code)
    params.update(encoded)
    for name, value in extra.items():
        if name in params:
            raise invalid(name, "is given both as a field and in extra")
        params[name] = value
    return params
