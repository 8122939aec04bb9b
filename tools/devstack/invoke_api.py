"""FC's InvokeFunction API on the local gateway (dev only): ``POST /2016-08-15/services/{s}/functions/{f}/invocations``.

What the official ``fc2`` client (and ``./scripts/kyc invoke``) needs, with FC 2.0's behaviour where it is
documented or visible in the client:

* the request body is the event, handed to ``handler(event: bytes, context)`` as FC does;
* synchronous (default, or ``x-fc-invocation-type: Sync``): 200 with the handler's return value as the body
  (bytes/str as they are, anything else JSON-encoded); a function error gives 200 with
  ``x-fc-error-type: UnhandledInvocationError`` and ``{"errorMessage", "errorType", "stackTrace"}`` (the client
  raises ``FcError`` on that header);
* asynchronous (``x-fc-invocation-type: Async``): 202 at once, the function runs in a background thread and a
  function error is retried as FC would: s.yaml's ``asyncInvokeConfig.maxAsyncRetryAttempts`` for the function, else
  FC's default, 3 retries (``ASYNC_MAX_RETRIES``), after ``retry_delays``;
* API errors are JSON ``{"ErrorCode", "ErrorMessage"}``: 404 ``ServiceNotFound``/``FunctionNotFound``, 401/403
  for a missing or wrong signature; every answer carries ``x-fc-request-id``.

Authentication is FC's ``Authorization: FC <AccessKeyId>:base64(hmac_sha256(secret, VERB\\nContent-MD5\\n
Content-Type\\nDate\\n<sorted "x-fc-*:value\\n" lines><unescaped path>))``, checked against the keys the stack uses
(``ALIBABA_CLOUD_ACCESS_KEY_ID``/``_SECRET`` from the environment, i.e. the sandbox's key under ``./scripts/dev``).
With no key configured only the presence and shape of the header are checked. ``Date`` must be within 15 minutes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote

from shared import jsonutil
from shared.config import ConfigError
from tools.credentials import key_from_env

from .runtime import FunctionHost, new_request_id

log = logging.getLogger("tools.devstack.invoke_api")

API_VERSION = "2016-08-15"
API_PREFIX = f"/{API_VERSION}/"
_INVOKE_RE = re.compile(rf"^/{API_VERSION}/services/(?P<service>[^/]+)/functions/(?P<function>[^/]+)/invocations/?$")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")
_AUTH_RE = re.compile(r"^FC (?P<key>[^:\s]+):(?P<signature>[A-Za-z0-9+/=]+)$")
MAX_CLOCK_SKEW = 15 * 60
#: FC's default retries of a failed asynchronous invocation ("Configure a retry mechanism", FC 3.0: "retried up to
#: three times by default"; REFERENCE.md section 3): it runs up to four times.
ASYNC_MAX_RETRIES = 3
MAX_ERROR_MESSAGE = 1000

Response = tuple[int, list[tuple[str, str]], bytes, str]


def fc_string_to_sign(method: str, unescaped_path: str, headers: Mapping[str, str]) -> str:
    lowered = {k.lower(): v for k, v in headers.items()}
    fc_headers = "".join(f"{k}:{lowered[k]}\n" for k in sorted(lowered) if k.startswith("x-fc-"))
    return "\n".join(
        [method.upper(), lowered.get("content-md5", ""), lowered.get("content-type", ""), lowered.get("date", "")]
    ) + f"\n{fc_headers}{unescaped_path}"


def fc_signature(secret: str, method: str, unescaped_path: str, headers: Mapping[str, str]) -> str:
    digest = hmac.new(
        secret.encode(), fc_string_to_sign(method, unescaped_path, headers).encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()


def environment_keys() -> dict[str, str]:
    """The key the stack's functions use (read per request: DevStack sets it when it starts the sandbox)."""
    try:
        key = key_from_env(os.environ)
    except ConfigError:  # a key no signature can carry: no request is accepted (the functions refuse it too)
        return {}
    return {} if key is None else {key.access_key_id: key.access_key_secret}


@dataclass
class AsyncInvocation:
    request_id: str
    function: str
    status: str = "Running"  # Running | Succeeded | Failed
    attempts: int = 0
    result: Any = None
    error_type: str | None = None
    done: threading.Event = field(default_factory=threading.Event, repr=False)


def _api_error(status: int, code: str, message: str, request_id: str) -> Response:
    body = jsonutil.dumps({"ErrorCode": code, "ErrorMessage": message})
    return status, [("content-type", "application/json")], body, request_id


def _encode_result(result: Any) -> tuple[bytes, str]:
    if isinstance(result, bytes | bytearray):
        return bytes(result), "application/octet-stream"
    if isinstance(result, str):
        return result.encode("utf-8", "surrogatepass"), "text/plain; charset=utf-8"
    return jsonutil.dumps(result), "application/json"


def _error_body(exc: BaseException) -> bytes:
    """FC's unhandled-error shape. Our exceptions never carry PII in messages (a project rule); the stack trace
    is file/line/function only."""
    frames = [f"{f.filename}:{f.lineno} in {f.name}" for f in traceback.extract_tb(exc.__traceback__)][-20:]
    return jsonutil.dumps(
        {"errorMessage": str(exc)[:MAX_ERROR_MESSAGE], "errorType": type(exc).__name__, "stackTrace": frames}
    )


class InvokeApi:
    """Answers the InvokeFunction API for the functions of a :class:`~tools.devstack.runtime.FunctionHost`."""

    def __init__(
        self,
        gateway: FunctionHost,
        *,
        keys: Callable[[], Mapping[str, str]] = environment_keys,
        retry_delays: Sequence[float] = (1.0, 2.0),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.gateway = gateway
        self.keys = keys
        self.retry_delays = tuple(retry_delays)
        self.clock = clock
        self._invocations: dict[str, AsyncInvocation] = {}
        self._lock = threading.Lock()
        self._retries: dict[str, int] | None = None  # s.yaml's, read at the first async invocation

    # -- async bookkeeping (tests and the dev banner use it)
    def invocation(self, request_id: str) -> AsyncInvocation | None:
        with self._lock:
            return self._invocations.get(request_id)

    def wait(self, request_id: str, timeout: float = 30.0) -> AsyncInvocation:
        invocation = self.invocation(request_id)
        if invocation is None:
            raise KeyError("no such asynchronous invocation")
        invocation.done.wait(timeout)
        return invocation

    # -- HTTP
    def handle(self, method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes) -> Response:
        request_id = new_request_id()
        path = target.split("?", 1)[0]
        lowered = {k.lower(): v for k, v in headers}
        match = _INVOKE_RE.match(path)
        if match is None:
            return _api_error(404, "PathNotSupported", "only InvokeFunction is served locally", request_id)
        if method.upper() != "POST":
            return _api_error(405, "MethodNotAllowed", "InvokeFunction is POST", request_id)
        denied = self._authenticate(method, unquote(path), lowered, request_id)
        if denied is not None:
            return denied
        service, _, qualifier = unquote(match["service"]).partition(".")
        function = unquote(match["function"])
        if service != self.gateway.service.name:
            return _api_error(404, "ServiceNotFound", f"service '{service[:64]}' does not exist", request_id)
        if qualifier not in ("", "LATEST"):
            return _api_error(404, "AliasNotFound", "only LATEST exists locally", request_id)
        if not _NAME_RE.match(function) or not (self.gateway.functions_dir / function / "index.py").is_file():
            message = f"function '{function[:64]}' does not exist in service '{service}'"
            return _api_error(404, "FunctionNotFound", message, request_id)
        invocation_type = lowered.get("x-fc-invocation-type", "Sync").strip().lower()
        if invocation_type == "async":
            return self._start_async(function, body, request_id)
        if invocation_type != "sync":
            return _api_error(400, "InvalidArgument", "x-fc-invocation-type must be Sync or Async", request_id)
        return self._invoke_sync(function, body, request_id)

    def _authenticate(
        self, method: str, unescaped_path: str, headers: Mapping[str, str], request_id: str
    ) -> Response | None:
        authorization = headers.get("authorization", "")
        if not authorization:
            return _api_error(401, "MissingAuthorization", "the Authorization header is required", request_id)
        match = _AUTH_RE.match(authorization.strip())
        if match is None:
            return _api_error(401, "InvalidAuthorization", "Authorization must be 'FC <AccessKeyId>:<signature>'",
                              request_id)
        try:
            skew = abs(parsedate_to_datetime(headers.get("date", "")).timestamp() - self.clock())
        except (TypeError, ValueError):
            return _api_error(400, "InvalidDate", "the Date header is missing or malformed", request_id)
        if skew > MAX_CLOCK_SKEW:
            return _api_error(403, "RequestTimeTooSkewed", "the Date header is more than 15 minutes off", request_id)
        keys = self.keys()
        if not keys:
            return None
        secret = keys.get(match["key"])
        if secret is None:
            return _api_error(403, "InvalidAccessKeyId", "the AccessKeyId is not accepted here", request_id)
        expected = fc_signature(secret, method, unescaped_path, headers)
        if not hmac.compare_digest(expected, match["signature"]):
            return _api_error(403, "SignatureNotMatch", "the request signature does not match", request_id)
        return None

    def _call(self, function: str, body: bytes, request_id: str) -> Any:
        module = self.gateway.function(function)
        return module.handler(body, self.gateway.context(function, request_id))

    def _invoke_sync(self, function: str, body: bytes, request_id: str) -> Response:
        try:
            result = self._call(function, body, request_id)
        except Exception as exc:  # FunctionLoadError too: FC reports a failed initializer the same way
            log.warning("function %s failed (request %s): %s", function, request_id, type(exc).__name__)
            headers = [
                ("content-type", "application/json"),
                ("x-fc-error-type", "UnhandledInvocationError"),
                ("x-fc-status", "500"),
            ]
            return 200, headers, _error_body(exc), request_id
        data, content_type = _encode_result(result)
        return 200, [("content-type", content_type), ("x-fc-status", "200")], data, request_id

    def _start_async(self, function: str, body: bytes, request_id: str) -> Response:
        invocation = AsyncInvocation(request_id, function)
        with self._lock:
            self._invocations[request_id] = invocation
        thread = threading.Thread(
            target=self._run_async, args=(invocation, body), name=f"fc-async-{function}", daemon=True
        )
        thread.start()
        return 202, [("content-type", "application/json")], b"", request_id

    def _async_retries(self, function: str) -> int:
        """How often FC retries a failed async invocation of ``function``: s.yaml's setting, else FC's default."""
        if self._retries is None:
            from tools.deployment import DeploymentError, function_async_retries  # noqa: PLC0415 - s.yaml, once

            try:
                self._retries = function_async_retries()
            except DeploymentError:
                self._retries = {}
        return self._retries.get(function, ASYNC_MAX_RETRIES)

    def _run_async(self, invocation: AsyncInvocation, body: bytes) -> None:
        retries = self._async_retries(invocation.function)
        try:
            for attempt in range(retries + 1):
                invocation.attempts = attempt + 1
                try:
                    invocation.result = self._call(invocation.function, body, invocation.request_id)
                except Exception as exc:
                    invocation.error_type = type(exc).__name__
                    log.warning("async %s attempt %d failed: %s", invocation.function, attempt + 1, type(exc).__name__)
                    if attempt < retries:
                        delays = self.retry_delays or (0.0,)
                        time.sleep(delays[min(attempt, len(delays) - 1)])
                    continue
                invocation.status = "Succeeded"
                invocation.error_type = None
                return
            invocation.status = "Failed"
        finally:
            invocation.done.set()
