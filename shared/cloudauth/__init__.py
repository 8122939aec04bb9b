"""cloudauth-intl (ID Verification, API 2022-08-09) client: typed, validated, retried, stdlib only.

```python
client = CloudAuthClient(CloudAuthSettings.from_env())
resp = client.initialize(InitializeRequest(merchant_biz_id=..., meta_info=..., merchant_user_id=..., return_url=...,
                                            doc_type=..., extra={"IdSpoof": "Y"}))          # eKYC
resp = client.initialize_v2(InitializeV2Request(merchant_biz_id=..., meta_info=..., merchant_user_id=...,
                                                return_url=..., product_code="eKYC_PRO", doc_type="GLB03002"))
body = client.check_result(merchant_biz_id, transaction_id, is_return_image=True)
client.delete_verify_result(transaction_id, delete_type="All")
```
"""

from __future__ import annotations

from shared.doctypes import DOC_TYPES

from .client import API_VERSION, CloudAuthClient
from .errors import (
    AuthError,
    CloudAuthError,
    MalformedResponse,
    ParameterError,
    ProcessNotCompleted,
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
from .switches import INITIALIZE_SWITCHES, INITIALIZE_V2_SWITCHES, SWITCHES, Switch, Switches, switches_for

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
