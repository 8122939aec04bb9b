"""The vendor's products (Alibaba Cloud ID Verification, cloudauth-intl API 2022-08-09) as data.

One :class:`Product` row per product code the vendor documents: the operation that starts it, the regions where the
vendor offers it, whether it takes a ``DocType`` and which codes in which region, which ``CheckResult`` sections it
fills, whether it verifies a document at all, and whether this project supports it. Rows this project does not
support are listed anyway, so a refusal can say "documented by the vendor, not supported here" instead of "unknown".

Adding a product means adding a row (and tests), never a new code path: the client's validation, the configuration
check at instance start and the result parser (whether a result can carry an identity) all read this table.

Sources are vendor help pages, named by title, address and "Last Updated" date in a comment on each row (the
project's research notes hold the excerpts). Where pages disagree the newest wins. ``UNVERIFIED`` marks what no page
that could be read states; the value there is this project's choice and says why.

Regions and endpoints (every API page lists both forms; e.g. "InitializeV2" eKYC-PRO, help/en/ekyc/latest/pro-init,
Nov 02, 2026, and "Server-side API reference", help/en/ekyc/latest/api-overview, Oct 20, 2026): public
``cloudauth-intl.<region>.aliyuncs.com``, VPC ("internal network", same region only)
``cloudauth-intl-vpc.<region>.aliyuncs.com``. The API metadata (2025-12-19) still lacks ap-southeast-3 and InitializeV2.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import Enum

from shared import doctypes
from shared.values import field, valueclass

HONG_KONG = "cn-hongkong"
SINGAPORE = "ap-southeast-1"
JAKARTA = "ap-southeast-5"
KUALA_LUMPUR = "ap-southeast-3"

REGION_NAMES: Mapping[str, str] = {
    HONG_KONG: "China (Hong Kong)",
    SINGAPORE: "Singapore",
    JAKARTA: "Indonesia (Jakarta)",
    KUALA_LUMPUR: "Malaysia (Kuala Lumpur)",
}

INITIALIZE = "Initialize"
INITIALIZE_V2 = "InitializeV2"

# A vendor host is cloudauth-intl(-vpc).<region>.aliyuncs.com, <region> of [a-z0-9-]+: read with string methods,
# not a regex, which every start would compile to check its endpoint (docs/performance.md, "Phase 7").
_ENDPOINT_PREFIXES = ("cloudauth-intl.", "cloudauth-intl-vpc.")
_ENDPOINT_SUFFIX = ".aliyuncs.com"
_REGION_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def public_endpoint(region: str) -> str:
    """The vendor's public host in ``region``."""
    return f"cloudauth-intl.{region}.aliyuncs.com"


def vpc_endpoint(region: str) -> str:
    """The vendor's VPC host in ``region`` (reachable only from a VPC in that region)."""
    return f"cloudauth-intl-vpc.{region}.aliyuncs.com"


def region_of_endpoint(host: str) -> str | None:
    """The region a vendor host (public or VPC) belongs to, ``None`` for any other host (e.g. a local sandbox)."""
    host = host.lower().rstrip(".")
    if not host.endswith(_ENDPOINT_SUFFIX):
        return None
    for prefix in _ENDPOINT_PREFIXES:
        if host.startswith(prefix):
            region = host[len(prefix) : len(host) - len(_ENDPOINT_SUFFIX)]
            if region and _REGION_CHARACTERS.issuperset(region):
                return region
    return None


def describe_regions(regions: tuple[str, ...]) -> str:
    """``"cn-hongkong (China (Hong Kong)), ap-southeast-1 (Singapore)"`` for messages."""
    return ", ".join(f"{r} ({REGION_NAMES[r]})" if r in REGION_NAMES else r for r in regions)


class DocTypeUse(str, Enum):
    REQUIRED = "required"  # every request names its document type
    NOT_ACCEPTED = "not accepted"  # no document in the flow: a DocType is refused, never forwarded
    UNVERIFIED = "unverified"  # the vendor's parameter table could not be read (unsupported products only)


@valueclass
class DocTypeTable:
    """The ``DocType`` codes a product accepts.

    ``codes`` are the documented codes; ``by_region`` narrows them where the vendor lists the exact codes a region
    takes (such a list is complete: nothing else is accepted there, documented or not). ``undocumented`` is the
    shape of codes beyond the table, accepted only where no region list applies and only when the deployment allows
    undocumented codes (``CLOUDAUTH_ALLOW_UNDOCUMENTED_DOC_TYPES``: for rows of the vendor's table that could not be
    read, or added after this table was written).
    """

    codes: frozenset[str]
    by_region: Mapping[str, frozenset[str]] = field(default_factory=dict)
    undocumented: str | None = None  # a regular expression (full match)

    def codes_in(self, region: str) -> frozenset[str]:
        return self.by_region.get(region, self.codes)

    def problem(self, code: str, region: str | None, *, allow_undocumented: bool = False) -> str | None:
        """``None`` when ``code`` is accepted in ``region`` (``None``: anywhere), else why not (never echoes it)."""
        listed = self.by_region.get(region) if region is not None else None
        if listed is not None:
            if code in listed:
                return None
            return f"must be one of {', '.join(sorted(listed))} in {region}"
        if code in self.codes:
            return None
        if not allow_undocumented or self.undocumented is None:
            return "must be a documented document type code of the product"
        if not re.fullmatch(self.undocumented, code):
            return "does not have the shape of the product's document type codes"
        return None


@valueclass
class Product:
    code: str
    summary: str
    supported: bool  # whether this project runs it end to end
    start_operation: str | None  # the API that starts a flow; None: UNVERIFIED
    regions: tuple[str, ...] | None  # where the vendor offers it; None: UNVERIFIED
    doc_type: DocTypeUse
    doc_types: DocTypeTable | None = None
    # CheckResult.Result fields besides Passed/SubCode that carry this product's result: for readers (the parser keeps
    # every section of every answer, whichever the product); tests/test_products.py checks each against the SDK
    result_sections: tuple[str, ...] = ()
    has_document: bool | None = None  # False: face only, a result never carries an identity; None: UNVERIFIED

    def offered_in(self, region: str) -> bool:
        return self.regions is not None and region in self.regions


_EKYC_SECTIONS = ("ExtIdInfo", "ExtFaceInfo", "ExtBasicInfo", "ExtRiskInfo", "ExtInfo", "EkycResult")

# eKYC's 8/9-digit codes. Codes beyond the table: digits only, of either length (the vendor calls them "8-digit"
# but prints two with 9 digits).
EKYC_DOC_TYPES = DocTypeTable(codes=frozenset(doctypes.DOC_TYPES), undocumented=r"[0-9]{8,9}")

# eKYC_PRO's certificate codes: the whole certificate type table except documents without a portrait
# ("certificate-code-table", zh, Mar 11, 2026: HKG02001 "has no face photo, not supported by eKYC_PRO").
# Region lists: "ID Verification:实人认证(ID Verification)" product directory, help/zh/ekyc/latest/id-verifcation-dir,
# Mar 10, 2026 — Singapore: every type in the table; Indonesia (Jakarta): only IDN01001 and GLB03002; Malaysia (Kuala
# Lumpur): only MYS01001 and GLB03002 (the English page of the same date omits the Malaysia sentence; the Chinese
# one, and "ID_OCR_MAX" en Feb 10, 2026 for the same document model, state it). China (Hong Kong): no page states a
# restriction, so the whole table applies there — UNVERIFIED. The pages say the lists apply "in the specified document
# recognition mode", i.e. when DocType is given.
EKYC_PRO_DOC_TYPES = DocTypeTable(
    codes=frozenset(code for code, c in doctypes.CERTIFICATE_TYPES.items() if c.face_photo),
    by_region={
        JAKARTA: frozenset({doctypes.INDONESIA_ID, doctypes.GLOBAL_PASSPORT}),
        KUALA_LUMPUR: frozenset({doctypes.MALAYSIA_ID, doctypes.GLOBAL_PASSPORT}),
    },
    undocumented=r"[A-Z]{3}[0-9]{5}",  # country/GLB + type + variant, the shape of every row (inferred)
)

_ROWS = (
    # --- supported ------------------------------------------------------------------------------------------------
    # Regions: product directory "ID Verification:ID Verification", help/en/ekyc/latest/id-verifcation-dir, Mar 10,
    # 2026 (Hong Kong only; the older "ekyc-checkresult" page of Jan 14, 2026 also lists Singapore: superseded).
    # Start: "ekyc initialize", help/zh/ekyc/latest/ekyc-initialize, Jan 30, 2026 (DocType "Required: Yes" on the
    # Initialize pages). Result sections: "CheckResult" (eKYC), help/en/ekyc/latest/oce0nqzn6tkr2qqq, Dec 25, 2025.
    Product(
        "eKYC", "Document OCR + liveness + face comparison for Chinese documents (incl. HK, Macao, Taiwan)",
        supported=True, start_operation=INITIALIZE, regions=(HONG_KONG,), doc_type=DocTypeUse.REQUIRED,
        doc_types=EKYC_DOC_TYPES, result_sections=_EKYC_SECTIONS, has_document=True,
    ),
    # Regions: product directory (id-verifcation-dir, zh/en, Mar 10, 2026). Start: "InitializeV2 ... initiate an
    # eKYC-PRO request", help/en/ekyc/latest/pro-init, Nov 02, 2026 — the newest page; older pages (doc-detail
    # 2929689, en, Feb 07, 2026; doc-detail 2928814, zh, Mar 11, 2026) start it with Initialize, which the SDK still
    # has. We use InitializeV2. DocType REQUIRED is this project's choice — UNVERIFIED: the request-parameter table
    # could not be read; the directory's region lists apply "in the specified document recognition mode", so a mode
    # without DocType may exist; requiring it keeps the region lists enforceable before a billed call.
    # Result sections: the SDK's CheckResult model (ExtSourceInfo: data-source checks); which ones eKYC_PRO fills
    # is UNVERIFIED ("CheckResult" eKYC_PRO, help/en/ekyc/latest/oce0nqzn6tkr2qqq-1, Feb 07, 2026: table unread).
    Product(
        "eKYC_PRO", "Global document OCR + liveness + face comparison",
        supported=True, start_operation=INITIALIZE_V2, regions=(HONG_KONG, SINGAPORE, JAKARTA, KUALA_LUMPUR),
        doc_type=DocTypeUse.REQUIRED, doc_types=EKYC_PRO_DOC_TYPES,
        result_sections=(*_EKYC_SECTIONS, "ExtSourceInfo"), has_document=True,
    ),
    # Regions: "ID Verification:Face Detection", help/ekyc/latest/liveness-and-deepfake-detection, Nov 25, 2025, and
    # "支持的地域" (supported regions), help/zh/ekyc/latest/supported-regions, Dec 17, 2025: Hong Kong, Singapore,
    # Jakarta. Kuala Lumpur is UNVERIFIED (its InitializeV2 page lists a KL endpoint, but that list is the same on
    # every InitializeV2 page) and refused until a page offers it. Start: "InitializeV2",
    # help/en/ekyc/latest/liveness-initialize-1, Oct 27, 2026 (the product is named by the page's place in the
    # FACE_LIVENESS_PRO section; the ProductCode row was not readable). No document: DocType is refused rather than
    # forwarded (what the vendor does with one is UNVERIFIED). Result sections UNVERIFIED (response table unread):
    # ExtFaceInfo carries the liveness verdict in every face product's samples.
    Product(
        "FACE_LIVENESS_PRO", "Camera liveness with interactive actions and Qwen-VL forgery detection",
        supported=True, start_operation=INITIALIZE_V2, regions=(HONG_KONG, SINGAPORE, JAKARTA),
        doc_type=DocTypeUse.NOT_ACCEPTED, result_sections=("ExtFaceInfo", "ExtRiskInfo", "ExtInfo"),
        has_document=False,
    ),
    # --- documented by the vendor, not supported by this project ----------------------------------------------------
    # Product directory (id-verifcation-dir, Mar 10, 2026) unless noted; start operations from each product's API page
    # or the official SDK's operation list (3.23.1).
    Product("eKYC_MIN", "Server-side eKYC on uploaded images (EkycVerify)", supported=False,
            start_operation="EkycVerify", regions=(HONG_KONG,), doc_type=DocTypeUse.REQUIRED, has_document=True),
    # Start operation UNVERIFIED (a web "jump page" page exists, en Mar 10, 2026).
    Product("eKYC_NDI", "No-document-image eKYC for mainland China users", supported=False,
            start_operation=None, regions=(HONG_KONG,), doc_type=DocTypeUse.UNVERIFIED),
    # "Identity Document Recognition" directory, help/ekyc/latest/id-ocr, Feb 07, 2026; "ocr-initialize" page.
    Product("ID_OCR", "Document OCR + anti-forgery for Chinese documents", supported=False,
            start_operation=INITIALIZE, regions=(HONG_KONG,), doc_type=DocTypeUse.UNVERIFIED, has_document=True),
    Product("ID_OCR_MIN", "Server-side document OCR (DocOcr)", supported=False,
            start_operation="DocOcr", regions=(HONG_KONG,), doc_type=DocTypeUse.UNVERIFIED, has_document=True),
    # "ID Verification:ID_OCR_MAX", help/en/ekyc/latest/id-ocr-max, Feb 10, 2026.
    Product("ID_OCR_MAX", "Server-side Qwen-VL OCR of global documents (DocOcrMax)", supported=False,
            start_operation="DocOcrMax", regions=(SINGAPORE, JAKARTA, KUALA_LUMPUR), doc_type=DocTypeUse.UNVERIFIED,
            has_document=True),
    # "InitializeV2" (ID_OCR_PRO), help/en/ekyc/latest/initializev2, Nov 02, 2026. Regions UNVERIFIED (no directory).
    Product("ID_OCR_PRO", "Document OCR flow started by InitializeV2", supported=False,
            start_operation=INITIALIZE_V2, regions=None, doc_type=DocTypeUse.UNVERIFIED, has_document=True),
    # "nfc-init", help/zh/ekyc/latest/nfc-init, Sep 03, 2026 (App SDK only); regions: id-ocr directory, Feb 07, 2026.
    Product("ID_NFC", "NFC reading of e-passports (App SDK)", supported=False,
            start_operation=INITIALIZE_V2, regions=(HONG_KONG, SINGAPORE, JAKARTA, KUALA_LUMPUR),
            doc_type=DocTypeUse.UNVERIFIED, has_document=True),
    # "liveness-initialize-2", help/en/ekyc/latest/liveness-initialize-2, Oct 27, 2026; regions: Face Detection
    # directory, Nov 25, 2025.
    Product("FACE_IDU", "Liveness + 1:1 compare / 1:N search against stored faces", supported=False,
            start_operation=INITIALIZE_V2, regions=(HONG_KONG, SINGAPORE, JAKARTA), doc_type=DocTypeUse.NOT_ACCEPTED,
            has_document=False),
    # Regions: supported-regions, zh, Dec 17, 2025.
    Product("FACE_IDU_MIN", "Server-side face verification (FaceVerifyIntl)", supported=False,
            start_operation="FaceVerifyIntl", regions=(HONG_KONG, SINGAPORE, JAKARTA),
            doc_type=DocTypeUse.NOT_ACCEPTED, has_document=False),
    # "liveness-initialize", help/zh/ekyc/latest/liveness-initialize, Jan 30, 2026.
    Product("FACE_LIVENESS", "Camera liveness with interactive actions", supported=False,
            start_operation=INITIALIZE, regions=(HONG_KONG,), doc_type=DocTypeUse.NOT_ACCEPTED, has_document=False),
    Product("FACE_LIVENESS_MIN", "Server-side passive liveness (FaceLiveness)", supported=False,
            start_operation="FaceLiveness", regions=(HONG_KONG,), doc_type=DocTypeUse.NOT_ACCEPTED,
            has_document=False),
    # "FACE_LIVENESS_MIN_PRO", help/en/ekyc/latest/face-liveness-min-pro, Jun 24, 2026: endpoints of four regions
    # listed, availability per region UNVERIFIED.
    Product("FACE_LIVENESS_MIN_PRO", "Server-side Qwen-VL liveness (FaceLivenessV2)", supported=False,
            start_operation="FaceLivenessV2", regions=None, doc_type=DocTypeUse.NOT_ACCEPTED, has_document=False),
    # "ekyc-face-verify-initialize", help/tc/ekyc/latest/ekyc-face-verify-initialize, Nov 08, 2025.
    Product("FACE_VERIFY", "Liveness + compare with a previously stored face", supported=False,
            start_operation=INITIALIZE, regions=(HONG_KONG,), doc_type=DocTypeUse.NOT_ACCEPTED, has_document=False),
    # Regions: supported-regions, tc, Nov 26, 2025.
    Product("FACE_GUARD", "Device risk from collected device features (FaceGuardRisk)", supported=False,
            start_operation="FaceGuardRisk", regions=(HONG_KONG,), doc_type=DocTypeUse.NOT_ACCEPTED,
            has_document=False),
    # Legacy "ID Verification - KYC (Global)" plans: "Initialize", help/en/ekyc/latest/whs3z07gbay8gf8x, May 22, 2024
    # (Hong Kong endpoint only); API metadata Initialize.ProductCode ("DocType required only for KYC_GLOBAL,
    # OCR_GLOBAL, IDR_GLOBAL").
    Product("KYC_GLOBAL", "Legacy global eKYC plan", supported=False, start_operation=INITIALIZE,
            regions=(HONG_KONG,), doc_type=DocTypeUse.REQUIRED, has_document=True),
    Product("FV_GLOBAL", "Legacy face verification plan", supported=False, start_operation=INITIALIZE,
            regions=(HONG_KONG,), doc_type=DocTypeUse.NOT_ACCEPTED, has_document=False),
    Product("FL_GLOBAL", "Legacy face liveness plan", supported=False, start_operation=INITIALIZE,
            regions=(HONG_KONG,), doc_type=DocTypeUse.NOT_ACCEPTED, has_document=False),
    Product("IDR_GLOBAL", "Legacy document recognition plan", supported=False, start_operation=INITIALIZE,
            regions=(HONG_KONG,), doc_type=DocTypeUse.REQUIRED, has_document=True),
    Product("OCR_GLOBAL", "Legacy document OCR plan", supported=False, start_operation=INITIALIZE,
            regions=(HONG_KONG,), doc_type=DocTypeUse.REQUIRED, has_document=True),
)  # fmt: skip
# Not listed: the data-verification products of the same API (ID_2META, MOBILE_3META, BANK_CARD_N_META, ...), which
# are not identity-verification flows.

PRODUCTS: Mapping[str, Product] = {p.code: p for p in _ROWS}
SUPPORTED: tuple[str, ...] = tuple(p.code for p in _ROWS if p.supported)

# The RAM actions the functions need: every operation they call, in ID Verification's RAM namespace
# "antcloudauth" (the vendor's answer to a missing grant, Forbidden.RAMUserAccessDenied on "ID Verification:
# 服务端返回HTTP状态码说明", names the system policy AliyunAntCloudAuthFullAccess, whose statement is
# "antcloudauth:*"). UNVERIFIED: that each action is named after its API (RAM's <service>:<Action> convention); no
# vendor page we could read lists them. template.yml's role grants exactly these (tests/test_deploy_config.py).
RAM_NAMESPACE = "antcloudauth"
CALLED_OPERATIONS: tuple[str, ...] = (
    *sorted({p.start_operation for p in _ROWS if p.supported and p.start_operation}),
    "CheckResult",
    "DeleteVerifyResult",
)
RAM_ACTIONS: tuple[str, ...] = tuple(f"{RAM_NAMESPACE}:{operation}" for operation in CALLED_OPERATIONS)
# DeleteVerifyResult for every supported product and region: UNVERIFIED (review ar). "ID Verification:删除认证记录"
# (help/en/ekyc/latest/delete-certification-record, Sep 2026) says it "supports only the following solutions:", a list
# we could not read; its zh/ja/zh-TW copies (2025) list endpoints in Singapore, Jakarta and Hong Kong, not Kuala Lumpur.
# Where the vendor refuses it, `kyc erase` reports the vendor's error and the deletions are retried and logged
# (fetch.vendor_copy_not_deleted, fetch.erasure_not_finished): nothing is lost or claimed deleted.


def supported_in(region: str) -> tuple[str, ...]:
    """The supported products the vendor offers in ``region``, in table order."""
    return tuple(code for code in SUPPORTED if PRODUCTS[code].offered_in(region))


class ProductError(ValueError):
    """A product code this project cannot use where it was asked for. The message names the product (unless it is
    not a documented code, which is not repeated), the region or operation involved, and what would work;
    ``reason`` is ``unknown``, ``unsupported``, ``operation`` or ``region``."""

    def __init__(self, message: str, *, product: str, reason: str, region: str | None = None) -> None:
        super().__init__(message)
        self.product = product
        self.reason = reason
        self.region = region


def check_product(code: str, region: str, *, operation: str | None = None) -> Product:
    """The supported :class:`Product` ``code``, offered in ``region`` (and started by ``operation`` when given).

    Raises :class:`ProductError` with one message naming the product and the region (or operation), and the regions
    (or operation) that would work.
    """
    supported = ", ".join(SUPPORTED)
    product = PRODUCTS.get(code)
    if product is None:
        raise ProductError(
            f"the product code is not one the vendor documents (supported here: {supported})",
            product=code, reason="unknown", region=region,
        )
    if not product.supported:
        raise ProductError(
            f"{code} is documented by the vendor but not supported by this project (supported: {supported})",
            product=code, reason="unsupported", region=region,
        )
    if operation is not None and product.start_operation != operation:
        raise ProductError(
            f"{code} is started with {product.start_operation}, not {operation}",
            product=code, reason="operation", region=region,
        )
    if not product.offered_in(region):
        where = describe_regions(product.regions or ())
        raise ProductError(
            f"{code} is not offered in {describe_regions((region,))}; the vendor offers it in {where}",
            product=code, reason="region", region=region,
        )
    return product
