"""FC 3.0's InvokeFunction API on the local gateway (dev only): ``POST /2023-03-30/functions/{name}/invocations``.

Every function is served under the name ``s.yaml`` deploys it with (``kyc-result-fetcher`` for
``functions/result_fetcher``, :mod:`tools.deployment`), so the official SDK ``alibabacloud-fc20230330`` and
``./scripts/kyc invoke`` work against ``./scripts/dev`` exactly as against Function Compute. The wire format is in
:mod:`tools.fc3`. Behaviour:

* the body is the event, handed to ``handler(event: bytes, context)``; ``qualifier`` may be absent or ``LATEST``;
* ``x-fc-invocation-type: Sync`` (default): 200 with the return value as the body; a function error gives 200 with
  ``x-fc-error-type: UnhandledInvocationError`` and ``{"errorMessage", "errorType", "stackTrace"}`` (as the FC 2.0
  route, :mod:`tools.devstack.invoke_api`, whose runner this class reuses; FC 3.0's status code for a function error
  is UNVERIFIED: the pages we read document the header, not the status);
* ``x-fc-log-type: Tail``: what the function wrote to stdout/stderr during this invocation (and the error, when it
  raised), its last 4 KB base64 in ``x-fc-log-result``;
* ``Async``: 202 at once, run in the background and retried as FC would (s.yaml's ``maxAsyncRetryAttempts``, else 3;
  same runner);
* API errors: JSON ``{"Code", "Message", "RequestId"}``: 400 ``PathNotSupported`` / ``InvalidArgument`` /
  ``MissingRequiredHeader``, 403 ``InvalidAccessKeyID`` / ``SignatureNotMatch``, 404 ``FunctionNotFound`` /
  ``AliasNotFound`` / ``VersionNotFound`` (codes from "Function Compute:Error codes"; a clock-skew refusal has no
  documented code: ``RequestTimeTooSkewed`` is ours, as on the FC 2.0 route).

Authentication is ACS3-HMAC-SHA256 verified with :mod:`tools.acs3` over the headers named in SignedHeaders,
against the stack's keys (``ALIBABA_CLOUD_ACCESS_KEY_ID``/``_SECRET``, the sandbox's key under ``./scripts/dev``);
``host`` and every ``x-acs-*`` header must be signed, ``x-acs-content-sha256`` must be the body's hash and
``x-acs-date`` within 15 minutes. With no key configured only the shape is checked. An STS token is accepted as it
comes (there is no STS locally).
"""

from __future__ import annotations

import base64
import contextlib
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TextIO
from urllib.parse import parse_qsl, unquote, urlsplit

from shared import jsonutil
from tools import acs3, fc3
from tools.deployment import deployed_functions

from .invoke_api import MAX_CLOCK_SKEW, InvokeApi, Response, environment_keys
from .runtime import FunctionHost, new_request_id

_QUALIFIERS = frozenset({"", "LATEST"})
_AUTHORIZATION_SHAPE = f"Authorization must be '{acs3.ALGORITHM} Credential=...,SignedHeaders=...,Signature=...'"
_SIGNATURE_NOT_MATCH = (
    "The request signature we calculated does not match the signature you provided. Check your access key and "
    "signing method"
)
#: FC's answer to each ACS3 refusal (status, code, message; ``{detail}``: what :class:`tools.acs3.Refused` names).
_REFUSALS: dict[acs3.Problem, tuple[int, str, str]] = {
    acs3.Problem.OTHER_ALGORITHM: (400, "InvalidArgument", _AUTHORIZATION_SHAPE),
    acs3.Problem.INCOMPLETE: (400, "InvalidArgument", _AUTHORIZATION_SHAPE),
    acs3.Problem.UNSIGNED_HEADERS: (403, "SignatureNotMatch", "headers not signed: {detail}"),
    acs3.Problem.ABSENT_HEADERS: (403, "SignatureNotMatch", "a signed header is missing from the request"),
    acs3.Problem.PAYLOAD_HASH: (403, "SignatureNotMatch", "x-acs-content-sha256 does not match the body"),
    acs3.Problem.SIGNATURE: (403, "SignatureNotMatch", _SIGNATURE_NOT_MATCH),
    acs3.Problem.TIMESTAMP_FORMAT: (400, "InvalidArgument", "x-acs-date must look like 2024-01-01T00:00:00Z"),
    acs3.Problem.TIMESTAMP_SKEWED: (403, "RequestTimeTooSkewed", "x-acs-date is more than 15 minutes off"),
}


def _error(status: int, code: str, message: str, request_id: str) -> Response:
    body = jsonutil.dumps({"Code": code, "Message": message, "RequestId": request_id})
    return status, [("content-type", "application/json")], body, request_id


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# --- log capture -------------------------------------------------------------------------------------------


class _ThreadTee:
    """Stands in for sys.stdout/sys.stderr while some invocation captures its logs: everything still goes to the
    real stream; what the capturing thread writes is also kept for that invocation."""

    def __init__(self, target: TextIO, buffers: dict[int, list[str]]) -> None:
        self.target = target
        self._buffers = buffers

    def write(self, text: str) -> int:
        buffer = self._buffers.get(threading.get_ident())
        if buffer is not None:
            buffer.append(text)
        return self.target.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


class _LogCapture:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffers: dict[int, list[str]] = {}
        self._installed: tuple[_ThreadTee, _ThreadTee] | None = None

    @contextlib.contextmanager
    def capture(self) -> Iterator[list[str]]:
        """Collects what this thread writes to stdout/stderr inside the block."""
        lines: list[str] = []
        with self._lock:
            self._buffers[threading.get_ident()] = lines
            if self._installed is None:
                self._installed = (_ThreadTee(sys.stdout, self._buffers), _ThreadTee(sys.stderr, self._buffers))
                sys.stdout, sys.stderr = self._installed
        try:
            yield lines
        finally:
            with self._lock:
                del self._buffers[threading.get_ident()]
                if not self._buffers and self._installed is not None:
                    out, err = self._installed
                    # put back the real streams unless someone replaced ours meanwhile
                    if sys.stdout is out:
                        sys.stdout = out.target
                    if sys.stderr is err:
                        sys.stderr = err.target
                    self._installed = None


def log_tail(lines: Iterable[str]) -> str:
    """The ``x-fc-log-result`` value: base64 of the last 4 KB of the invocation's output."""
    data = "".join(lines).encode("utf-8", "replace")[-fc3.LOG_TAIL_BYTES :]
    return base64.b64encode(data).decode("ascii")


# --- the API -----------------------------------------------------------------------------------------------


class Fc3InvokeApi(InvokeApi):
    """Answers FC 3.0's InvokeFunction for the functions of a :class:`~tools.devstack.runtime.FunctionHost`."""

    def __init__(
        self,
        gateway: FunctionHost,
        *,
        names: Callable[[], Mapping[str, str]] = deployed_functions,
        keys: Callable[[], Mapping[str, str]] = environment_keys,
        **options: Any,
    ) -> None:
        super().__init__(gateway, keys=keys, **options)
        self.names = dict(names())
        self._logs = _LogCapture()

    def handle(self, method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes) -> Response:
        request_id = new_request_id()
        try:
            return self._handle(method, target, {k.lower(): v for k, v in headers}, body, request_id)
        except _Refused as refused:
            return _error(refused.status, refused.code, refused.message, request_id)

    def _handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes, request_id: str) -> Response:
        split = urlsplit(target)
        match = fc3.INVOCATIONS_PATH.match(split.path)
        if match is None or method.upper() != "POST":
            raise _Refused(400, "PathNotSupported", f"'{method.upper()[:10]}' against '{split.path[:120]}' is not "
                           "supported (only InvokeFunction is served locally)")
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        self._authenticate_acs3(method, split.path, query, headers, body)
        function = unquote(match["function"])
        folder = self.names.get(function)
        if folder is None or not (self.gateway.functions_dir / folder / "index.py").is_file():
            raise _Refused(404, "FunctionNotFound", f"function '{function[:64]}' does not exist.")
        qualifier = query.get("qualifier", "")
        if qualifier not in _QUALIFIERS:
            code = "VersionNotFound" if qualifier.isdigit() else "AliasNotFound"
            raise _Refused(404, code, f"qualifier '{qualifier[:64]}' of function '{function}' does not exist "
                           "(only LATEST exists locally)")
        invocation_type = headers.get(fc3.HEADER_INVOCATION_TYPE, "Sync").strip().lower()
        log_type = headers.get(fc3.HEADER_LOG_TYPE, "None").strip().lower()
        if invocation_type not in ("sync", "async"):
            raise _Refused(400, "InvalidArgument", "x-fc-invocation-type must be Sync or Async")
        if log_type not in ("none", "tail"):
            raise _Refused(400, "InvalidArgument", "x-fc-log-type must be Tail or None")
        if invocation_type == "async":
            return self._start_async(folder, body, request_id)
        if log_type == "none":
            return self._invoke_sync(folder, body, request_id)
        with self._logs.capture() as lines:
            status, response_headers, data, _ = self._invoke_sync(folder, body, request_id)
        if any(name == fc3.HEADER_ERROR_TYPE for name, _ in response_headers):
            lines.append(data.decode("utf-8", "replace") + "\n")  # the runtime logs an unhandled error too
        return status, [*response_headers, (fc3.HEADER_LOG_RESULT, log_tail(lines))], data, request_id

    def _authenticate_acs3(
        self, method: str, raw_path: str, query: Mapping[str, str], headers: Mapping[str, str], body: bytes
    ) -> None:
        """FC's checks in FC's order; the signature itself with :mod:`tools.acs3` (its refusals: ``_REFUSALS``)."""
        if not headers.get("authorization"):
            raise _Refused(400, "MissingRequiredHeader", "required HTTP header authorization was not specified")
        try:
            authorization = acs3.parse_authorization(headers["authorization"])
            acs3.check_signed_headers(authorization, headers)
            for needed in ("x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce"):
                if needed not in headers:
                    raise _Refused(400, "MissingRequiredHeader", f"required HTTP header {needed} was not specified")
            if headers["x-acs-action"] != fc3.ACTION or headers["x-acs-version"] != fc3.API_VERSION:
                raise _Refused(400, "InvalidArgument", f"x-acs-action/x-acs-version must be {fc3.ACTION}/"
                               f"{fc3.API_VERSION}")
            acs3.check_timestamp(headers["x-acs-date"], self.clock(), MAX_CLOCK_SKEW)
            payload_hash = acs3.hashed_payload(headers, body)
            keys = self.keys()
            if not keys:
                return
            secret = keys.get(authorization.access_key_id)
            if secret is None:
                raise _Refused(403, "InvalidAccessKeyID", f"invalid access key ID '{authorization.access_key_id[:32]}'")
            acs3.check_signature(authorization, secret, method=method, path=raw_path, query=query, headers=headers,
                                 payload_hash=payload_hash)
        except acs3.Refused as refused:
            status, code, message = _REFUSALS[refused.problem]
            raise _Refused(status, code, message.format(detail=refused.detail)) from None
