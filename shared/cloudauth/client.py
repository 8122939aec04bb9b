"""The cloudauth-intl (API 2022-08-09) client: Initialize, InitializeV2, CheckResult, DeleteVerifyResult.

Standard library ``http.client`` and ``shared.jsonutil``: no vendor SDK (≈ 400 ms of cold start). RPC style as
the official SDK sends it: ``POST /``, business parameters in the query string, the face pictures (Initialize:
``FacePictureBase64``; InitializeV2: also ``TargetFacePicture``) in an ``application/x-www-form-urlencoded`` body,
signed with ACS3-HMAC-SHA256 headers (V3, default) or the V1 signed query.

Retries (full-jitter exponential backoff, a fresh nonce and timestamp per attempt):

* ``Throttling*`` answers: always, the vendor did nothing.
* connection failures before the request was completely written: always, the vendor cannot have processed it.
* HTTP 5xx / ``InternalError`` and failures after the request was written (reset, read timeout): only for the
  idempotent CheckResult and DeleteVerifyResult. Never for Initialize: every Initialize the vendor processes is a
  billed transaction, so an Initialize that may have arrived is reported (``TransportError.maybe_sent``) instead.

One deadline per call (``CLOUDAUTH_CALL_DEADLINE``), attempts and backoffs included: every blocking step of an
attempt (connect, TLS handshake, sending, the status line, headers and the whole body) waits at most for what is
left of it (:mod:`shared.http_deadline`), so an endpoint dripping its answer cannot hold a call past it; a call cut
off by it is a ``TransportError`` mentioning the timeout, and no retry (nor its backoff) starts that would end past it.
"""

from __future__ import annotations

import http.client
import random
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from shared import jsonutil
from shared.config import Env
from shared.http_deadline import Deadline, close_exchange, read_at_most
from shared.ids import TRANSACTION_ID_RULE, is_transaction_id
from shared.log import get_logger
from shared.signing import Credentials, canonical_query_string, percent_encode, sign_acs3_request, sign_v1_params

from .errors import (
    CloudAuthError,
    MalformedResponse,
    RepeatedFailuresLimited,
    ServerError,
    ThrottlingError,
    TransportError,
    error_from_response,
)
from .models import DeleteVerifyResultResponse, InitializeRequest, InitializeResponse, InitializeV2Request
from .params import (
    CHECK_RESULT,
    DELETE_VERIFY_RESULT,
    INITIALIZE,
    INITIALIZE_V2,
    OperationParameters,
    check_value,
    validate_initialize,
    validate_initialize_v2,
)
from .settings import CloudAuthSettings

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any

API_VERSION = "2022-08-09"
SUCCESS_CODES = frozenset({"Success", "200"})  # DeleteVerifyResult answers "200", the others "Success"
MAX_RESPONSE_BYTES = 64 * 1024 * 1024  # CheckResult with images is a few MB
USER_AGENT = "fc-ekyc-cloudauth/1"

log = get_logger(__name__)

def _yes_no(name: str, value: bool | str) -> str:
    if isinstance(value, bool):
        return "Y" if value else "N"
    return check_value(name, value)


class CloudAuthClient:
    """Thread-safe client. ``sleep``, ``rand`` and ``clock`` are injectable (tests); backoff comes from the settings.

    Every call has a deadline (``call_deadline``, ``CLOUDAUTH_CALL_DEADLINE``, on ``clock``): each step of each
    attempt waits at most for what is left of it (the connect and read timeouts cap single steps within it), and
    no retry starts (nor its backoff) that would end past it."""

    def __init__(
        self,
        settings: CloudAuthSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
        idle_timeout: float = 30.0,
    ) -> None:
        from shared.http_pool import ConnectionPool  # noqa: PLC0415 - keeps `import shared.cloudauth.errors` tiny

        self.settings = settings
        parts = urlsplit(settings.endpoint)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("CloudAuthSettings.endpoint must be an http(s) base URL")
        self._host_header = parts.netloc
        self._credentials = Credentials(
            settings.access_key_id, settings.access_key_secret, settings.security_token or None
        )
        self._pool = ConnectionPool(
            parts.scheme,
            parts.hostname,
            parts.port,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            idle_timeout=idle_timeout,
        )
        self._https = parts.scheme == "https"
        self._sleep = sleep
        self._rand = rand
        self._clock = clock

    @classmethod
    def from_env(cls, env: Env | None = None) -> CloudAuthClient:
        return cls(CloudAuthSettings.from_env(env))

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> CloudAuthClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connections_opened(self) -> int:
        return self._pool.connections_opened

    # --- operations -------------------------------------------------------------------------------------

    def initialize(self, request: InitializeRequest) -> InitializeResponse:
        """Start a verification. Never retried once it may have reached the vendor (each one is billed)."""
        params = validate_initialize(
            request.to_params(self.settings.product_code),
            allow_undocumented_doc_types=self.settings.allow_undocumented_doc_types,
            # The real service requires https callbacks; a plain-http endpoint is a local sandbox.
            https_callback=self._https,
        )
        return _initialize_response(self._call(INITIALIZE, params, idempotent=False))

    def initialize_v2(self, request: InitializeV2Request) -> InitializeResponse:
        """Start a verification of a product started by InitializeV2, checked against the vendor's rules for the
        product in the client's region first. Never retried once it may have reached the vendor (each is billed)."""
        params = validate_initialize_v2(
            request.to_params(self.settings.product_code),
            region=self.settings.region,
            allow_undocumented_doc_types=self.settings.allow_undocumented_doc_types,
            https_callback=self._https,  # as for Initialize: a plain-http endpoint is a local sandbox
        )
        return _initialize_response(self._call(INITIALIZE_V2, params, idempotent=False))

    def check_result(
        self,
        merchant_biz_id: str,
        transaction_id: str,
        *,
        is_return_image: bool | str = False,
        extra_image_control_list: str | None = None,
        return_five_category_spoof_result: bool | str | None = None,
    ) -> dict[str, Any]:
        """The whole decoded response body (``Result`` is guaranteed to be an object); parse it with shared.results."""
        params = {
            "MerchantBizId": check_value("MerchantBizId", merchant_biz_id),
            "TransactionId": check_value("TransactionId", transaction_id),
            "IsReturnImage": _yes_no("IsReturnImage", is_return_image),
        }
        if extra_image_control_list is not None:
            params["ExtraImageControlList"] = check_value("ExtraImageControlList", extra_image_control_list)
        if return_five_category_spoof_result is not None:
            params["ReturnFiveCategorySpoofResult"] = _yes_no(
                "ReturnFiveCategorySpoofResult", return_five_category_spoof_result
            )
        body = self._call(CHECK_RESULT, params, idempotent=True)
        _result_object(body)
        return body

    def delete_verify_result(
        self, transaction_id: str, *, delete_after_query: bool | str, delete_type: str = "All"
    ) -> DeleteVerifyResultResponse:
        """Erase the vendor's copy of a verification. ``delete_after_query``: the vendor deletes only a verification
        whose result was read with CheckResult ("Y: 需要。如果需成功删除相关数据,必须已通过CheckResult接口获取处理结果";
        "N: 不需要(默认)", "删除认证记录"); the page marks it required, so it is always sent."""
        params = {
            "TransactionId": check_value("TransactionId", transaction_id),
            "DeleteAfterQuery": _yes_no("DeleteAfterQuery", delete_after_query),
            "DeleteType": check_value("DeleteType", delete_type),
        }
        body = self._call(DELETE_VERIFY_RESULT, params, idempotent=True)
        result = _result_object(body)
        delete_result = _opt_str(result.get("DeleteResult"))
        return DeleteVerifyResultResponse(
            deleted=delete_result == "Y",
            delete_result=delete_result,
            transaction_id=_opt_str(result.get("TransactionId")),
            request_id=_opt_str(body.get("RequestId")),
        )

    # --- retries ----------------------------------------------------------------------------------------

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**(attempt-1)))."""
        ceiling = min(self.settings.backoff_cap, self.settings.backoff_base * (2 ** (attempt - 1)))
        return float(self._rand() * ceiling)

    @staticmethod
    def should_retry(error: CloudAuthError, *, idempotent: bool) -> bool:
        if isinstance(error, ThrottlingError):
            return not isinstance(error, RepeatedFailuresLimited)
        if isinstance(error, TransportError):
            return idempotent or not error.maybe_sent
        if isinstance(error, ServerError):
            return idempotent
        return False

    def _call(self, operation: OperationParameters, params: Mapping[str, str], *, idempotent: bool) -> dict[str, Any]:
        action = operation.action
        query = {k: v for k, v in params.items() if k not in operation.body}
        form = {k: v for k, v in params.items() if k in operation.body}
        deadline = Deadline(self.settings.call_deadline, clock=self._clock)
        attempt = 0
        while True:
            attempt += 1
            try:
                status, data = self._send(action, query, form, deadline=deadline)
                return _decode(status, data)
            except CloudAuthError as err:
                if attempt >= self.settings.max_attempts or not self.should_retry(err, idempotent=idempotent):
                    raise
                delay = self.backoff(attempt)
                if self._clock() + delay >= deadline.expires_at:  # no time left for another attempt: it stands
                    raise
                log.warning(
                    "cloudauth call failed; retrying",
                    extra={"action": action, "attempt": attempt, "code": err.code, "status": err.status,
                           "retryInS": round(delay, 3)},
                )
                self._sleep(delay)

    # --- one attempt ------------------------------------------------------------------------------------

    def _signed(
        self, action: str, query: Mapping[str, str], form: Mapping[str, str]
    ) -> tuple[str, bytes | None, dict[str, str]]:
        """``(path, body, headers)`` with a fresh nonce and timestamp."""
        body = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in form.items()).encode() if form else None
        content_type = "application/x-www-form-urlencoded" if form else None
        if self.settings.signature_version == "v1":
            signed = sign_v1_params(
                credentials=self._credentials, action=action, version=API_VERSION, params={**query, **form}
            )
            query_string = canonical_query_string({k: v for k, v in signed.items() if k not in form})
            headers = {"host": self._host_header}
            if content_type:
                headers["content-type"] = content_type
        else:
            # The canonical query string is also the query string we send: encode it once.
            query_string = canonical_query_string(query)
            headers = sign_acs3_request(
                credentials=self._credentials,
                method="POST",
                host=self._host_header,
                action=action,
                version=API_VERSION,
                query=query,
                body=body or b"",
                content_type=content_type,
                canonical_query=query_string,
            )
        headers["user-agent"] = USER_AGENT
        headers["accept"] = "application/json"
        return ("/?" + query_string) if query_string else "/", body, headers

    def _send(
        self, action: str, query: Mapping[str, str], form: Mapping[str, str], *, deadline: Deadline
    ) -> tuple[int, bytes]:
        """One attempt under the call's ``deadline``. Order of effects: a connection taken from the pool (bound to
        ``deadline``) or opened, the signed request sent, the status line, headers and whole body read; then the
        connection goes back to the pool only if the answer was read to the end and the server keeps it open; a
        failed exchange closes it, so a connection cut off mid-answer (deadline, timeout, reset) is never reused."""
        path, body, headers = self._signed(action, query, form)
        conn = self._pool.acquire(deadline)
        try:
            self._pool.connect(conn)
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise TransportError(f"could not connect to the endpoint ({_describe(exc)})", maybe_sent=False) from None
        try:
            # Content-Length framing: a request that was not completely handed to the OS cannot be processed.
            conn.request("POST", path, body=body, headers=headers)
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise TransportError(
                f"connection failed while sending the request ({_describe(exc)})", maybe_sent=False
            ) from None
        response: http.client.HTTPResponse | None = None
        try:
            response = conn.getresponse()
            data = read_at_most(response, MAX_RESPONSE_BYTES)  # a body cut off mid-way: IncompleteRead
        except TimeoutError:
            close_exchange(conn, response)
            raise TransportError(
                "timed out waiting for the response (read timeout or the call's deadline)", maybe_sent=True
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            close_exchange(conn, response)
            raise TransportError(
                f"connection failed after the request was sent ({_describe(exc)})", maybe_sent=True
            ) from None
        if len(data) > MAX_RESPONSE_BYTES:
            close_exchange(conn, response)
            raise MalformedResponse("response body is too large", status=response.status)
        self._pool.finish(conn, response)
        return response.status, data


def _describe(exc: BaseException) -> str:
    """The exception's type only: messages of OS errors can include host names, never request data, but keep it lean."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    return type(exc).__name__


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _malformed(problem: str, body: Mapping[str, Any] | None = None, status: int | None = None) -> MalformedResponse:
    request_id = _opt_str(body.get("RequestId")) if body is not None else None
    return MalformedResponse(problem, status=status, request_id=request_id)


def _initialize_response(body: Mapping[str, Any]) -> InitializeResponse:
    """Initialize's and InitializeV2's ``Result``: a TransactionId and the TransactionUrl the browser is sent to
    (returned for the web SDK's MetaInfo, which is the flow this project runs)."""
    result = _result_object(body)
    transaction_id = result.get("TransactionId")
    transaction_url = result.get("TransactionUrl")
    if not isinstance(transaction_id, str) or not transaction_id:
        raise _malformed("Result.TransactionId is missing or not a string", body)
    if not is_transaction_id(transaction_id):
        # Stored, it could never be fetched: CheckResult's own check (params) refuses it. A vendor error, not ours.
        raise _malformed(f"Result.TransactionId is not {TRANSACTION_ID_RULE}", body)
    if not isinstance(transaction_url, str) or not transaction_url:
        raise _malformed("Result.TransactionUrl is missing or not a string", body)
    return InitializeResponse(
        transaction_id=transaction_id,
        transaction_url=transaction_url,
        protocol=_opt_str(result.get("Protocol")),
        client_cfg=_opt_str(result.get("ClientCfg")),
        request_id=_opt_str(body.get("RequestId")),
    )


def _result_object(body: Mapping[str, Any]) -> dict[str, Any]:
    result = body.get("Result")
    if not isinstance(result, dict):
        raise _malformed("Result is missing or not an object", body, 200)
    return result


def _is_error_code(code: str) -> bool:
    """Whether ``code`` has the shape of the vendor's codes (``InvalidParameter``, ``Throttling.Api``,
    ``Forbidden.RAMUserAccessDenied``, ``200``): up to 64 ASCII letters, digits, ``.``, ``_`` and ``-``. A code goes
    into logs, the row's ``error`` and a 400's message as it is, so anything else (text that could carry what the
    request held, or break a log line) is not taken for one."""
    return 0 < len(code) <= 64 and code.isascii() and all(c.isalnum() or c in "._-" for c in code)


def _decode(status: int, data: bytes) -> dict[str, Any]:
    """The decoded body of a successful answer, or the typed error the answer stands for."""
    try:
        body = jsonutil.loads(data) if data else None
    except ValueError:
        body = None
        problem = "response body is not JSON"
    else:
        problem = "response body is empty" if body is None else "response body is not a JSON object"
    if not isinstance(body, dict):
        if status == 429:
            raise ThrottlingError(f"HTTP {status} ({problem})", status=status, code="Throttling")
        if status >= 500:
            raise ServerError(f"HTTP {status} ({problem})", status=status, code=f"HTTP{status}")
        raise MalformedResponse(f"HTTP {status}: {problem}", status=status)
    code = body.get("Code")
    if isinstance(code, int) and not isinstance(code, bool):
        code = str(code)
    request_id = _opt_str(body.get("RequestId"))
    message = _opt_str(body.get("Message")) or ""
    if not isinstance(code, str) or not _is_error_code(code):
        if status == 429:  # throttled, whatever the Code says (as for an answer that is not JSON)
            raise ThrottlingError(f"HTTP {status} without a Code", status=status, code="Throttling")
        if status >= 500:
            raise ServerError(
                f"HTTP {status} without a Code", status=status, code=f"HTTP{status}", request_id=request_id
            )
        raise _malformed(f"HTTP {status}: response has no Code of the documented shape", body, status)
    if code in SUCCESS_CODES:
        if status == 200:
            return body
        if status >= 500:
            raise ServerError(
                f"HTTP {status} with Code {code}", status=status, code=f"HTTP{status}", request_id=request_id
            )
        raise _malformed(f"HTTP {status} with a success Code", body, status)
    raise error_from_response(status, code, message, request_id)
