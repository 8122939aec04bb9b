"""The service's errors: code → HTTP status and message, and the exception that carries one through the double.

An error answer is the protobuf ``Error`` message (``code``, ``message``) with the HTTP status below; the SDK parses
it and raises ``OTSServiceError(http_status, code, message, request_id)`` (``tablestore/protocol.py``).

Where each status and message comes from:

- ``[doc]``: the Tablestore "Error codes" page (help/en/tablestore/developer-reference/error-codes), its
  permission-verification and HTTP-message tables;
- ``[5xx]``: the Tablestore FAQ on 5xx errors (faq-detail/59899): OTSPartitionUnavailable, OTSServerUnavailable,
  OTSServerBusy and OTSTimeout are 503 with the messages below;
- ``[sdk-it]``: the official Python SDK's integration tests, which run against the service and assert status, code
  and message (aliyun/aliyun-tablestore-python-sdk ``tests/row_op_test.py``, ``tests/table_operation_test.py``,
  ``tests/filter_and_condition_update_unitttest.py``, ``tests/lib/api_test_base.py``);
- ``[sdk-retry]``: the SDK's ``tablestore/retry.py``, which retries OTSQuotaExhausted only with this exact message;
- ``unverified``: the status is not in any page we could read; chosen to match the code's meaning.
"""

from __future__ import annotations

from dataclasses import dataclass

from tools.doubles.tablestore._sdk import pb2


@dataclass(frozen=True)
class ErrorSpec:
    status: int
    message: str


ERRORS: dict[str, ErrorSpec] = {
    "OTSAuthFailed": ErrorSpec(403, "Signature mismatch."),  # [doc]
    "OTSParameterInvalid": ErrorSpec(400, "The input parameter is invalid."),  # [doc] status; message per case
    "OTSInvalidPK": ErrorSpec(400, "Primary key is invalid."),  # [sdk-it] status; message per case
    "OTSConditionCheckFail": ErrorSpec(403, "Condition check failed."),  # [sdk-it]
    "OTSObjectNotExist": ErrorSpec(404, "Requested table does not exist."),  # [sdk-it]
    "OTSObjectAlreadyExist": ErrorSpec(409, "Requested table already exists."),  # [sdk-it]
    "OTSNotEnoughCapacityUnit": ErrorSpec(403, "Remaining capacity unit is not enough."),  # [sdk-it]
    "OTSServerBusy": ErrorSpec(503, "Server is busy."),  # [5xx]
    "OTSPartitionUnavailable": ErrorSpec(503, "The partition is not available."),  # [5xx]
    "OTSServerUnavailable": ErrorSpec(503, "Server is not available."),  # [5xx]
    "OTSTimeout": ErrorSpec(503, "Operation timeout."),  # [5xx]
    "OTSQuotaExhausted": ErrorSpec(403, "Too frequent table operations."),  # status unverified; message [sdk-retry]
    "OTSInternalServerError": ErrorSpec(500, "Internal server error."),  # unverified
    "OTSRowOperationConflict": ErrorSpec(409, "Data is being modified by the other request."),  # unverified
    "OTSMethodNotAllowed": ErrorSpec(405, "OTSMethodNotAllowedOnly POST method for requests is supported."),  # [doc]
    "OTSRequestBodyTooLarge": ErrorSpec(413, "The size of POST data is too large."),  # [doc]
}


class ServiceError(Exception):
    """Raised anywhere in the double to answer with the service's error ``code`` (and a specific message)."""

    def __init__(self, code: str, message: str | None = None) -> None:
        spec = ERRORS[code]
        self.code = code
        self.status = spec.status
        self.message = message if message is not None else spec.message
        super().__init__(f"{code}: {self.message}")


def condition_failed() -> ServiceError:
    return ServiceError("OTSConditionCheckFail")


def table_missing() -> ServiceError:
    return ServiceError("OTSObjectNotExist")


def invalid(message: str) -> ServiceError:
    return ServiceError("OTSParameterInvalid", message)


def invalid_pk(message: str) -> ServiceError:
    return ServiceError("OTSInvalidPK", message)


def error_body(code: str, message: str) -> bytes:
    """The protobuf ``Error`` message the SDK parses from an error answer."""
    return bytes(pb2.Error(code=code, message=message).SerializeToString())
