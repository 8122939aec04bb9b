"""cloudauth-intl (ID Verification, API 2022-08-09) client: typed, validated, retried, stdlib only.

```python
client = CloudAuthClient(CloudAuthSettings.from_env())
resp = client.initialize(InitializeRequest(merchant_biz_id=..., meta_info=..., merchant_user_id=..., return_url=...,
                                            doc_type=..., extra={"IdSpoof": "Y"}))
body = client.check_result(merchant_biz_id, transaction_id, is_return_image=True)
client.delete_verify_result(transaction_id, delete_type="All")
```
"""

from __future__ import annotations

from shared.config import CloudAuthSettings
from shared.doctypes import DOC_TYPES

from .client import (
    API_VERSION,
    CloudAuthClient,
    DeleteVerifyResultResponse,
    InitializeRequest,
    InitializeResponse,
)
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
from .params import ENUMS, INITIALIZE_PARAMETERS, INITIALIZE_REQUIRED

__all__ = [
    "API_VERSION",
    "DOC_TYPES",
    "ENUMS",
    "INITIALIZE_PARAMETERS",
    "INITIALIZE_REQUIRED",
    "AuthError",
    "CloudAuthClient",
    "CloudAuthError",
    "CloudAuthSettings",
    "DeleteVerifyResultResponse",
    "InitializeRequest",
    "InitializeResponse",
    "MalformedResponse",
    "ParameterError",
    "ProcessNotCompleted",
    "ServerError",
    "ThrottlingError",
    "TransactionIdInvalid",
    "TransportError",
    "error_class_for",
]
