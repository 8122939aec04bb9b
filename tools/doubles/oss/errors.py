"""OSS error codes the double answers with: HTTP status and message, and the XML body OSS sends.

Sources (OSS documentation, by page title):
- "HTTP status code 503": ``ServiceUnavailable`` ("Thread pool is almost full, please retry later"),
  ``TotalQpsLimitExceeded``, ``MetaOperationQpsLimitExceeded``, ``ActiveRequestLimitExceeded``,
  ``UploadTrafficRateLimitExceeded``, ``DownloadTrafficRateLimitExceeded``, all 503.
- "Add signatures to headers" (quoted in the vendor's Q&A "上传文件报RequestTimeTooSkewed错误"): unknown or inactive
  AccessKey → 403 ``InvalidAccessKeyId``; malformed ``Authorization`` → 400 ``InvalidArgument``; missing or malformed
  date → 403 ``AccessDenied``; a request time more than 15 minutes off → 403 ``RequestTimeTooSkewed``; a wrong
  signature → 403 ``SignatureDoesNotMatch`` with the string to sign in the body.
- "0026-00000002" / PutObject: ``x-oss-forbid-overwrite: true`` on an existing object → 409 ``FileAlreadyExists``;
  "0017-00000279": a value other than true/false → 400 ``InvalidArgument``.
- "0005-00000205": an empty ``x-oss-server-side-encryption-key-id`` with KMS → 400 (code unverified:
  ``InvalidArgument``).
- "GetBucketEncryption" and "0005-00000004" ("The bucket does not have a server-side encryption configuration",
  returned for ``GET /?encryption`` on a bucket without a rule): 404; the code's name is not on the page we could
  read (unverified: ``NoSuchServerSideEncryptionRule``). ``kyc doctor`` relies only on the status and on the code
  not being ``NoSuchBucket``.
- "HTTP status code 412": a conditional GetObject/HeadObject whose If-Match or If-Unmodified-Since does not hold →
  412 ``PreconditionFailed`` "At least one of the pre-conditions you specified did not hold".
- ``NoSuchKey``/``NoSuchBucket`` 404, ``InvalidDigest`` 400 (Content-MD5 does not match the body),
  ``MethodNotAllowed`` 405, ``EntityTooLarge`` 400, ``InternalError`` 500: OSS's common error codes.
Unverified here (the docs were not found; chosen to read naturally): ``InvalidEncryptionAlgorithmError`` 400 for an
unknown ``x-oss-server-side-encryption`` value, ``NotImplemented`` 501 for operations the double lacks, and the
exact wording of messages the pages do not quote.

Error bodies are ``<Error><Code/><Message/><RequestId/><HostId/>…</Error>`` (``application/xml``); a HEAD answer has
no body, so the XML travels base64-encoded in the ``x-oss-err`` header, which is where ``alibabacloud_oss_v2``
(``_client._to_service_error``) reads it.
"""

from __future__ import annotations

import base64
from xml.sax.saxutils import escape

ERRORS: dict[str, tuple[int, str]] = {
    "AccessDenied": (403, "You have no right to access this object."),
    "InvalidAccessKeyId": (403, "The OSS Access Key Id you provided does not exist in our records."),
    "SignatureDoesNotMatch": (
        403,
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
    ),
    "RequestTimeTooSkewed": (403, "The difference between the request time and the current time is too large."),
    "InvalidArgument": (400, "The request is not valid."),
    "InvalidDigest": (400, "The Content-MD5 you specified is not valid."),
    "InvalidEncryptionAlgorithmError": (400, "The encryption algorithm specified is not valid."),
    "EntityTooLarge": (400, "Your proposed upload exceeds the maximum allowed size."),
    "NoSuchBucket": (404, "The specified bucket does not exist."),
    "NoSuchKey": (404, "The specified key does not exist."),
    "NoSuchServerSideEncryptionRule": (404, "The server side encryption configuration was not found."),
    "MethodNotAllowed": (405, "The specified method is not allowed against this resource."),
    "PreconditionFailed": (412, "At least one of the pre-conditions you specified did not hold"),
    "FileAlreadyExists": (409, "The object you specified already exists and can not be overwritten."),
    "InternalError": (500, "We encountered an internal error. Please try again."),
    "NotImplemented": (501, "This operation is not implemented by the OSS double."),
    "ServiceUnavailable": (503, "Thread pool is almost full, please retry later"),
    "TotalQpsLimitExceeded": (503, "Max total qps limit is exceeded"),
    "MetaOperationQpsLimitExceeded": (503, "Qps limit for the meta operation is exceeded"),
    "ActiveRequestLimitExceeded": (503, "Max active request limit is exceeded"),
    "UploadTrafficRateLimitExceeded": (503, "Please reduce your upload request traffic"),
    "DownloadTrafficRateLimitExceeded": (503, "Please reduce your download request traffic"),
}


class OssError(Exception):
    """An error answer; ``extra`` adds elements to the XML body (e.g. ``StringToSign``)."""

    def __init__(self, code: str, message: str | None = None, *, extra: dict[str, str] | None = None) -> None:
        status, default = ERRORS[code]
        super().__init__(code)
        self.code = code
        self.status = status
        self.message = message or default
        self.extra = dict(extra or {})


def error_xml(err: OssError, request_id: str, host_id: str) -> bytes:
    parts = [
        f"<Code>{err.code}</Code>",
        f"<Message>{escape(err.message)}</Message>",
        f"<RequestId>{request_id}</RequestId>",
        f"<HostId>{escape(host_id)}</HostId>",
        *(f"<{name}>{escape(value)}</{name}>" for name, value in err.extra.items()),
    ]
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Error>' + "".join(parts) + "</Error>").encode()


def head_error_header(body: bytes) -> str:
    """``x-oss-err``: the error XML of a body-less (HEAD) answer."""
    return base64.b64encode(body).decode("ascii")
