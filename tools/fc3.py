"""FC 3.0's InvokeFunction on the wire: what ``./scripts/kyc invoke`` sends and the local gateway answers.

Sources: the official SDK ``alibabacloud-fc20230330`` 4.8.3 (``Client.invoke_function_with_options``: ROA
``POST /2023-03-30/functions/{percent-encoded name}/invocations``, ``qualifier`` in the query, the event as an
``application/octet-stream`` body, headers ``x-fc-invocation-type`` / ``x-fc-log-type``, ACS3-HMAC-SHA256 with
``x-acs-action: InvokeFunction`` and ``x-acs-version: 2023-03-30``); "Function Compute:InvokeFunction" (Sync/Async,
``Tail`` = the last 4 KB of the request's logs in ``X-Fc-Log-Result``, ``X-Fc-Error-Type`` for function errors);
"Function Compute:Endpoints" (FC 3.0: ``<account id>.<region>.fc.aliyuncs.com``); "Function Compute:Error"
(API 2023-03-30 error body ``{"Code", "Message", "RequestId"}``, e.g. ``FunctionNotFound``).
"""

from __future__ import annotations

import re

from shared.signing import percent_encode

API_VERSION = "2023-03-30"
ACTION = "InvokeFunction"
PATH_PREFIX = f"/{API_VERSION}/"
EVENT_CONTENT_TYPE = "application/octet-stream"
LOG_TAIL = "Tail"
LOG_TAIL_BYTES = 4096
HEADER_INVOCATION_TYPE = "x-fc-invocation-type"
HEADER_LOG_TYPE = "x-fc-log-type"
HEADER_LOG_RESULT = "x-fc-log-result"
HEADER_ERROR_TYPE = "x-fc-error-type"
HEADER_REQUEST_ID = "x-fc-request-id"
INVOCATIONS_PATH = re.compile(rf"^/{API_VERSION}/functions/(?P<function>[^/]+)/invocations/?$")


def invocations_path(function_name: str) -> str:
    return f"/{API_VERSION}/functions/{percent_encode(function_name)}/invocations"


def public_endpoint(account_id: str, region: str) -> str:
    """FC 3.0's public API endpoint of an account in a region ("Function Compute:Endpoints")."""
    return f"https://{account_id}.{region}.fc.aliyuncs.com"
