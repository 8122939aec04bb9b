"""The error codes the sandbox answers with, their HTTP statuses and the vendor's / gateway's message style.

Statuses follow the vendor's documentation (business errors) and the Alibaba Cloud API gateway (signature,
key, nonce and timestamp errors). Messages name parameters, never their values.
"""

from __future__ import annotations

from dataclasses import dataclass

# code -> (HTTP status, default message)
ERRORS: dict[str, tuple[int, str]] = {
    # business errors (cloudauth-intl documentation)
    "MissingParameter": (400, "The input parameter that is mandatory for processing this request is not supplied."),
    "InvalidParameter": (400, "The specified parameter is not valid."),
    "TransactionIdInvalid": (400, "The TransactionId is invalid."),
    # "Server-side HTTP status codes" (help/en/ekyc/latest/http-status-code-returned-by-the-server, Jun 24, 2026)
    "Forbidden.ExceptionRepeatedInvoke": (401, "The maximum number of repeated exception invocations is exceeded."),
    "Forbidden.RAMUserAccessDenied": (403, "You are not authorized to perform this action. Grant the RAM user access."),
    "Forbidden.AccountAccessDenied": (403, "Your account is not authorized to use this service."),
    "Throttling.Api": (403, "Request was denied due to api flow control."),
    "ProcessNotCompleted": (404, "The verification process is not completed."),
    "InternalError": (500, "The request processing has failed due to some unknown error."),
    "ServiceUnavailable": (503, "The request has failed due to a temporary failure of the server."),
    # gateway errors (Alibaba Cloud POP gateway)
    "SignatureDoesNotMatch": (400, "Specified signature does not match our calculation."),
    "IncompleteSignature": (400, "The request signature does not conform to Aliyun standards."),
    "MissingSignature": (400, "The input parameter Signature that is mandatory for processing is not supplied."),
    "InvalidSignatureMethod": (400, "Specified signature method is not supported."),
    "InvalidAccessKeyId.NotFound": (404, "Specified access key is not found."),
    "InvalidSecurityToken.Malformed": (400, "Specified SecurityToken is malformed."),
    # "Common errors when you access OSS by using STS" (doc-detail 42775): an STS AccessKey without its token; a POP
    # gateway answers the same (denverdino/aliyungo#236, "Status Code: 400 Code: MissingSecurityToken").
    "MissingSecurityToken": (400, "SecurityToken is mandatory for this action."),
    "InvalidSecurityToken.MismatchWithAccessKey": (400, "Specified SecurityToken mismatch with the AccessKey."),
    "SignatureNonceUsed": (400, "Specified signature nonce was used already."),
    "InvalidTimeStamp.Expired": (400, "Specified time stamp or date value is expired."),
    "InvalidTimeStamp.Format": (400, "Specified time stamp or date value is not well formatted."),
    "MissingTimestamp": (400, "The input parameter Timestamp that is mandatory for processing is not supplied."),
    "InvalidVersion": (400, "Specified parameter Version is not valid."),
    "InvalidAction.NotFound": (404, "Specified api is not found, please check your url and method."),
    "Throttling.User": (400, "Request was denied due to user flow control."),
}


@dataclass
class VendorError(Exception):
    """An error answer: ``{"RequestId","HostId","Code","Message","Recommend"}`` with ``status``."""

    code: str
    message: str | None = None
    status: int | None = None

    def __post_init__(self) -> None:
        default_status, default_message = ERRORS.get(self.code, (400, "The request has failed."))
        if self.status is None:
            self.status = default_status
        if self.message is None:
            self.message = default_message
        super().__init__(self.code)

    @property
    def http_status(self) -> int:
        assert self.status is not None
        return self.status

    @property
    def text(self) -> str:
        assert self.message is not None
        return self.message


def missing(parameter: str) -> VendorError:
    return VendorError(
        "MissingParameter",
        f'The input parameter "{parameter}" that is mandatory for processing this request is not supplied.',
    )


def invalid(parameter: str, why: str = "") -> VendorError:
    suffix = f" {why}" if why else ""
    return VendorError("InvalidParameter", f'The specified parameter "{parameter}" is not valid.{suffix}')


def body(code: str, message: str, request_id: str, host: str) -> dict[str, str]:
    """The gateway's error document (``Recommend`` points at the troubleshooting page for the request)."""
    return {
        "RequestId": request_id,
        "HostId": host,
        "Code": code,
        "Message": message,
        "Recommend": f"https://api.alibabacloud.com/troubleshoot?q={code}&product=Cloudauth-intl&requestId={request_id}",
    }
