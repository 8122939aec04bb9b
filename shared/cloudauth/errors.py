"""Typed errors of the cloudauth-intl client.

Every error carries ``status`` (HTTP status or ``None``), ``code`` (the vendor's ``Code`` or a client-side code),
``message``, ``request_id`` and ``transient`` (whether trying again *later* may succeed). Messages never contain
request values: client-side messages name the parameter; the vendor's ``Message`` is kept (it describes the
problem, not the data) but stripped of control characters, cut where the gateway starts repeating the request
("server string to sign is:…", every signed parameter's value: a V1 SignatureDoesNotMatch), and cut to 200 characters.
"""

from __future__ import annotations

MESSAGE_LIMIT = 200


_ECHO = "string to sign"  # where a signature error's message starts echoing the request's parameters


def _clean(message: str) -> str:
    text = "".join(ch if ch.isprintable() else " " for ch in message).strip()
    echo = text.lower().find(_ECHO)
    if echo >= 0:
        text = text[: echo + len(_ECHO)] + " withheld"
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


class CloudAuthError(Exception):
    """Base class. ``log_safe`` tells :mod:`shared.log` that the message may be printed."""

    log_safe = True
    default_code = "CloudAuthError"
    default_transient = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        transient: bool | None = None,
    ) -> None:
        self.message = _clean(message)
        self.status = status
        self.code = code or self.default_code
        self.request_id = request_id
        self.transient = self.default_transient if transient is None else transient
        super().__init__(f"{self.code}: {self.message}")

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, status={self.status!r}, "
            f"request_id={self.request_id!r}, message={self.message!r})"
        )


class ParameterError(CloudAuthError):
    """A request parameter is missing or invalid (client-side check, or the vendor's 400 of the same name).

    ``parameter`` names the parameter (``None`` when the vendor did not say which one).
    """

    default_code = "InvalidParameter"

    def __init__(
        self,
        message: str,
        *,
        parameter: str | None = None,
        code: str = "InvalidParameter",
        status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, code=code, status=status, request_id=request_id)
        self.parameter = parameter


class ProcessNotCompleted(CloudAuthError):
    """The user has not finished the flow yet (404 ProcessNotCompleted): check again later."""

    default_code = "ProcessNotCompleted"
    default_transient = True


class ThrottlingError(CloudAuthError):
    """``Throttling.*``: the QPS limit was hit."""

    default_code = "Throttling"
    default_transient = True


class RepeatedFailuresLimited(ThrottlingError):
    """``Forbidden.ExceptionRepeatedInvoke`` (HTTP 401): "The maximum number of repeated exception invocations is
    exceeded". A limit on calls, backed off as throttling by the caller, but never retried within the call: another
    try right away is one more repeated invocation."""

    default_code = "Forbidden.ExceptionRepeatedInvoke"


class TransactionIdInvalid(CloudAuthError):
    """The TransactionId is unknown to the vendor. Its pages say only "The Transaction ID is invalid" ("服务端返回HTTP
    状态码说明"); that it is also the answer for a transaction deleted or past the vendor's 30 days is *unverified*
    (the sandbox answers so, among its documented decisions), and callers treat it so only past those 30 days or
    after a deletion of their own (``shared.fetch_settings.vendor_may_still_keep``)."""

    default_code = "TransactionIdInvalid"


class AuthError(CloudAuthError):
    """Signature, AccessKey, STS token, clock skew or RAM permission problem: fix the deployment, not the request."""

    default_code = "Forbidden"


class ServerError(CloudAuthError):
    """``InternalError`` or an HTTP 5xx from the vendor or its gateway."""

    default_code = "InternalError"
    default_transient = True


class TransportError(CloudAuthError):
    """Connection failure or timeout. ``maybe_sent`` is True when the complete request may have reached the server."""

    default_code = "TransportError"
    default_transient = True

    def __init__(self, message: str, *, maybe_sent: bool, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.maybe_sent = maybe_sent


class MalformedResponse(CloudAuthError):
    """The answer is not the documented JSON shape. The message says what is wrong, never shows the body."""

    default_code = "MalformedResponse"


# Documented codes (REFERENCE.md §1) and the gateway's common ones; families are matched by prefix below.
_EXACT: dict[str, type[CloudAuthError]] = {
    "MissingParameter": ParameterError,
    "InvalidParameter": ParameterError,
    "TransactionIdInvalid": TransactionIdInvalid,
    "ProcessNotCompleted": ProcessNotCompleted,
    "InternalError": ServerError,
    "ServiceUnavailable": ServerError,
    "SignatureDoesNotMatch": AuthError,
    "SignatureNonceUsed": AuthError,
    "IncompleteSignature": AuthError,
    # HTTP 401, "The maximum number of repeated exception invocations is exceeded" ("ID Verification: Server-side
    # HTTP status codes", help/en/ekyc/latest/http-status-code-returned-by-the-server, Jun 24, 2026; the RAM and
    # account codes are listed apart, under 403): a limit on calls, not our credentials (found by review: the
    # "Forbidden" prefix made it an AuthError, and the operator was sent to RAM). Backed off and retried as a limit.
    "Forbidden.ExceptionRepeatedInvoke": RepeatedFailuresLimited,
}
_PREFIXES: tuple[tuple[str, type[CloudAuthError]], ...] = (
    ("Throttling", ThrottlingError),  # Throttling.Api, Throttling.User, ...
    ("Forbidden", AuthError),  # Forbidden.RAMUserAccessDenied, Forbidden.AccountAccessDenied, ...
    ("InvalidAccessKeyId", AuthError),  # InvalidAccessKeyId.NotFound, .Inactive
    ("InvalidTimeStamp", AuthError),  # InvalidTimeStamp.Expired (> 15 min clock skew)
    ("InvalidSecurityToken", AuthError),  # expired or malformed STS token
    ("MissingSecurityToken", AuthError),
    ("SignatureDoesNotMatch", AuthError),
)


def error_class_for(code: str, status: int | None) -> type[CloudAuthError]:
    """The error type for a vendor ``Code`` (unknown codes: :class:`ServerError` for 5xx, else the base class)."""
    cls = _EXACT.get(code)
    if cls is not None:
        return cls
    for prefix, cls in _PREFIXES:
        if code.startswith(prefix):
            return cls
    if status == 429:
        return ThrottlingError
    if status is not None and status >= 500:
        return ServerError
    return CloudAuthError


def error_from_response(status: int, code: str, message: str, request_id: str | None) -> CloudAuthError:
    cls = error_class_for(code, status)
    if cls is ParameterError:
        return ParameterError(message or code, code=code, status=status, request_id=request_id)
    return cls(message or code, status=status, code=code, request_id=request_id)
