"""MNS error codes the double answers with: HTTP status and message, and the XML error body.

Source: "Simple Message Queue (formerly MNS): Error codes" (status, code, message), "DeleteMessage" (its error
table: ``ReceiptHandleError`` 400 "The receipt handle you provide is not valid."), "QueueMessage" (a receipt
handle used after its NextVisibleTime → ``MessageNotExist``) and the troubleshooting page "Message not exist
appears when you delete a message in MNS". The body (same pages)::

    <?xml version="1.0" encoding="UTF-8"?>
    <Error xmlns="http://mns.aliyuncs.com/doc/v1/"><Code/><Message/><RequestId/><HostId/></Error>

``QpsLimitExceeded``'s status (the table was cut off where it was read) and ``ServiceUnavailable`` (503) are
unverified; ``InvalidDegist`` is spelled as the error-code table spells it.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

XMLNS = "http://mns.aliyuncs.com/doc/v1/"

ERRORS: dict[str, tuple[int, str]] = {
    "AccessDenied": (403, "The OwnerId that your Access Key Id associated to is forbidden for this operation."),
    "InvalidAccessKeyId": (403, "The AccessKey Id you provided is not exist."),
    "SignatureDoesNotMatch": (
        403,
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
    ),
    "TimeExpired": (408, "The http request you sent is expired."),
    "InvalidAuthorizationHeader": (400, "The Authorization header format is invalid."),
    "MissingAuthorizationHeader": (400, "Authorization header is required."),
    "InvalidDateHeader": (400, "The Date header format is invalid."),
    "MissingDateHeader": (400, "Date header is required."),
    "InvalidArgument": (400, "The value of an element is not valid."),
    "InvalidDegist": (400, "The Content-MD5 you specified is invalid."),
    "InvalidRequestURL": (400, "Http request URL format invalid."),
    "InvalidQueryString": (400, "Http request URL contains invalid querystring item."),
    "MalformedXML": (400, "The XML you provided was not well-formed."),
    "MissingReceiptHandle": (400, "ReceiptHandle is required."),
    "MissingVisibilityTimeout": (400, "VisibilityTimeout is required."),
    "ReceiptHandleError": (400, "The receipt handle you provide is not valid."),
    "InvalidQueueName": (400, "The queue name you provided is not valid."),
    "QueueNameLengthError": (400, "The length of queue name should be between 1 and 256."),
    "MessageNotExist": (404, "Message not exist."),
    "QueueNotExist": (404, "The queue name you provided is not exist."),
    "QueueAlreadyExist": (409, "The queue you want to create is already exist."),
    "QpsLimitExceeded": (403, "The queue's QPS limit is exceeded."),
    "InternalError": (500, "Interal error."),
    "InternalServerError": (500, "Interal error."),
    "ServiceUnavailable": (503, "The service is temporarily unavailable."),
}


class MnsError(Exception):
    def __init__(self, code: str, message: str | None = None) -> None:
        status, default = ERRORS[code]
        super().__init__(code)
        self.code = code
        self.status = status
        self.message = message or default


def error_xml(err: MnsError, request_id: str, host_id: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error xmlns="{XMLNS}"><Code>{err.code}</Code>'
        f"<Message>{escape(err.message)}</Message><RequestId>{request_id}</RequestId>"
        f"<HostId>{escape(host_id)}</HostId></Error>"
    ).encode()
