"""cloudauth-intl (ID Verification, API 2022-08-09) client: typed, validated, retried, stdlib only.

```python
client = CloudAuthClient(CloudAuthSettings.from_env())
resp = client.initialize(InitializeRequest(merchant_biz_id=..., meta_info=..., merchant_user_id=..., return_url=...,
                                            doc_type=..., extra={"IdSpoof": "Y"}))          # eKYC
resp = client.initialize_v2(InitializeV2Request(merchant_biz_id=..., meta_info=..., merchant_user_id=...,
                                                return_url=..., product_code="eKYC_PRO", doc_type="GLB03002"))
body = client.check_result(merchant_biz_id, transaction_id, is_return_image=True)
client.delete_verify_result(transaction_id, delete_after_query=True)  # DeleteType All
```
"""

from __future__ import annotations

from shared.lazy import lazy_attributes

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from shared.doctypes import DOC_TYPES

    from .client import API_VERSION, CloudAuthClient
    from .errors import (
        AuthError,
        CloudAuthError,
        MalformedResponse,
        ParameterError,
        ProcessNotCompleted,
        RepeatedFailuresLimited,
        ServerError,
        ThrottlingError,
        TransactionIdInvalid,
        TransportError,
        error_class_for,
    )
    from .models import DeleteVerifyResultResponse, InitializeRequest, InitializeResponse, InitializeV2Request
    from .params import (
        ENUMS,
        INITIALIZE,
        INITIALIZE_PARAMETERS,
        INITIALIZE_REQUIRED,
        INITIALIZE_V2,
        OperationParameters,
    )
    from .settings import CloudAuthSettings, VendorTarget
    from .switches import (
        INITIALIZE_SWITCHES,
        INITIALIZE_V2_SWITCHES,
        STRICT_BASELINE,
        SWITCHES,
        Switch,
        Switches,
        switches_for,
    )

# Each name loads its module on first use (PEP 562): the notifier checks the vendor target (settings) at start
# without importing the client and its models.
__getattr__ = lazy_attributes(
    globals(),
    {
        "DOC_TYPES": "shared.doctypes",
        "API_VERSION": "shared.cloudauth.client",
        "CloudAuthClient": "shared.cloudauth.client",
        "AuthError": "shared.cloudauth.errors",
        "CloudAuthError": "shared.cloudauth.errors",
        "MalformedResponse": "shared.cloudauth.errors",
        "ParameterError": "shared.cloudauth.errors",
        "ProcessNotCompleted": "shared.cloudauth.errors",
        "RepeatedFailuresLimited": "shared.cloudauth.errors",
        "ServerError": "shared.cloudauth.errors",
        "ThrottlingError": "shared.cloudauth.errors",
        "TransactionIdInvalid": "shared.cloudauth.errors",
        "TransportError": "shared.cloudauth.errors",
        "error_class_for": "shared.cloudauth.errors",
        "DeleteVerifyResultResponse": "shared.cloudauth.models",
        "InitializeRequest": "shared.cloudauth.models",
        "InitializeResponse": "shared.cloudauth.models",
        "InitializeV2Request": "shared.cloudauth.models",
        "ENUMS": "shared.cloudauth.params",
        "INITIALIZE": "shared.cloudauth.params",
        "INITIALIZE_PARAMETERS": "shared.cloudauth.params",
        "INITIALIZE_REQUIRED": "shared.cloudauth.params",
        "INITIALIZE_V2": "shared.cloudauth.params",
        "OperationParameters": "shared.cloudauth.params",
        "CloudAuthSettings": "shared.cloudauth.settings",
        "VendorTarget": "shared.cloudauth.settings",
        "INITIALIZE_SWITCHES": "shared.cloudauth.switches",
        "INITIALIZE_V2_SWITCHES": "shared.cloudauth.switches",
        "STRICT_BASELINE": "shared.cloudauth.switches",
        "SWITCHES": "shared.cloudauth.switches",
        "Switch": "shared.cloudauth.switches",
        "Switches": "shared.cloudauth.switches",
        "switches_for": "shared.cloudauth.switches",
    },
)

__all__ = [
    "API_VERSION",
    "DOC_TYPES",
    "ENUMS",
    "INITIALIZE",
    "INITIALIZE_PARAMETERS",
    "INITIALIZE_REQUIRED",
    "INITIALIZE_SWITCHES",
    "INITIALIZE_V2",
    "INITIALIZE_V2_SWITCHES",
    "STRICT_BASELINE",
    "SWITCHES",
    "AuthError",
    "CloudAuthClient",
    "CloudAuthError",
    "CloudAuthSettings",
    "DeleteVerifyResultResponse",
    "InitializeRequest",
    "InitializeResponse",
    "InitializeV2Request",
    "MalformedResponse",
    "OperationParameters",
    "ParameterError",
    "ProcessNotCompleted",
    "RepeatedFailuresLimited",
    "ServerError",
    "Switch",
    "Switches",
    "ThrottlingError",
    "TransactionIdInvalid",
    "TransportError",
    "VendorTarget",
    "error_class_for",
    "switches_for",
]
