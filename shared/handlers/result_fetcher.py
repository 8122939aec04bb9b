"""The result_fetcher function: the vendor's callback (HTTP) and delayed re-checks (queue trigger).

The callback is only a trigger: its ``passed``/``subCode`` are never trusted. It is authenticated by the
callback token chosen at Initialize (only its hash is stored) and must name the stored TransactionId; the truth
comes from CheckResult with the TransactionId stored at Initialize.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.callback import (
    CALLBACK_PATH,
    CALLBACK_ROUTE,
    TOKEN_PARAMETER,
    TRANSACTION_PARAMETER,
    callback_parameters,
    callback_token_matches,
    same_transaction,
)
from shared.fc import BadMessage, HttpError, HttpEvent, Router, http_response, parse_queue_event
from shared.fetcher import FetchOutcome, RecheckNotScheduled, ResultFetcher
from shared.ids import is_merchant_biz_id
from shared.log import get_logger, log_context, security_event
from shared.messages import RecheckMessage
from shared.storage import StorageError
from shared.wiring import build_fetcher

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any

logger = get_logger("kyc.result_fetcher")

#: The largest HTTP event the callback takes: the vendor calls it with GET and five short query parameters
#: (REFERENCE: transactionId, passed, subCode, callbackToken; merchantBizId is ours), no body. Anything larger is
#: 413 before the router parses it: no row read, no token hashed for an anonymous caller.
CALLBACK_MAX_EVENT_BYTES = 64 * 1024
CALLBACK_MAX_BODY_BYTES = 1024
#: A key of every HTTP trigger event (FC writes ``requestContext`` literally) and of no queue event: a CloudEvents
#: envelope has other keys, and the re-check queue carries only this project's messages (``merchantBizId`` and
#: ``attempt``), which never hold the text. So an oversized HTTP event is told from a queue batch without decoding
#: it (found by review: the anonymous callback decoded megabytes to answer 413).
_HTTP_EVENT_KEY = '"requestContext"'


def _oversized_http(event: Any) -> bool:
    """A raw HTTP event larger than the callback takes, told without decoding it (``_HTTP_EVENT_KEY``). A queue
    batch never is one: it is decoded and handled whatever its size."""
    if isinstance(event, str):
        return len(event) > CALLBACK_MAX_EVENT_BYTES and _HTTP_EVENT_KEY in event
    if isinstance(event, (bytes, bytearray)):
        return len(event) > CALLBACK_MAX_EVENT_BYTES and _HTTP_EVENT_KEY.encode() in event
    return False


class RecheckFailed(Exception):
    """Some re-checks of a queue batch failed (each one logged): raised once the others are processed, so that the
    trigger retries the batch."""


class ResultFetcherApp:
    def __init__(self, fetcher: ResultFetcher) -> None:
        self.fetcher = fetcher
        self.router = Router(on_error=self._on_error, max_event_bytes=CALLBACK_MAX_EVENT_BYTES)
        for path in (CALLBACK_ROUTE, CALLBACK_PATH):  # the second: URLs given before the id moved to the path
            self.router.route("GET", path, max_body_bytes=CALLBACK_MAX_BODY_BYTES)(self.callback)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ResultFetcherApp:
        return cls(build_fetcher(env))

    def handle(self, event: Any, context: Any) -> Any:
        """HTTP trigger events are dicts with ``requestContext``; queue trigger events are CloudEvents."""
        request_id = getattr(context, "request_id", None)
        with log_context(request_id=request_id):
            if _oversized_http(event) or HttpEvent.is_http_event(event):
                return self.router.dispatch(event)  # an oversized raw event: 413 before it is parsed
            return self.handle_queue(event)

    # -- the vendor's callback ------------------------------------------------------------------------------

    def callback(self, event: HttpEvent, merchant_biz_id: str | None = None) -> dict[str, Any]:
        query = callback_parameters(event.query, merchant_biz_id)
        mbid = query["merchantBizId"]
        if not is_merchant_biz_id(mbid):
            raise HttpError(400, "InvalidParameter", "merchantBizId is missing or malformed")
        with log_context(merchant_biz_id=mbid):
            try:
                record = self.fetcher.store.get(mbid)
            except StorageError:
                raise HttpError(503, "TryAgain", "the verification could not be read yet") from None
            # An unknown verification and a wrong token answer alike (the log tells them apart): the anonymous
            # callback must not tell whoever holds a merchantBizId whether that verification still exists, e.g.
            # after an erasure (review bb), as the merchant API answers another user's id like a missing one.
            if record is None:
                security_event(logger, "callback.unknown_transaction")
                raise _no_such_verification()
            token = query.get(TOKEN_PARAMETER, "")
            if not callback_token_matches(token, record.callback_token_hash):
                security_event(logger, "callback.bad_token", tokenPresent=bool(token))
                raise _no_such_verification()
            claimed = query.get(TRANSACTION_PARAMETER)
            if claimed is not None and not same_transaction(claimed, record.transaction_id):
                security_event(logger, "callback.transaction_mismatch")
                raise HttpError(403, "TransactionMismatch", "transactionId does not match this verification")
            with log_context(transaction_id=record.transaction_id):
                try:
                    outcome = self.fetcher.fetch(mbid)
                except (RecheckNotScheduled, StorageError):
                    raise HttpError(503, "TryAgain", "the result could not be fetched or scheduled yet") from None
                logger.info("callback.processed", extra={"outcome": outcome.kind})
        return http_response(200, _callback_answer(outcome))

    # -- delayed re-checks ----------------------------------------------------------------------------------

    def handle_queue(self, event: Any) -> dict[str, Any]:
        """Process every re-check message; a malformed message is logged and dropped, never failing the batch.

        Each message is processed on its own: one whose fetch fails in a way nothing foresaw (logged with its
        type) does not keep the messages after it from being processed. Then, if any transaction could not be
        re-scheduled or any fetch failed, raises so the trigger retries the batch (fetching again is safe: a final
        row stays final) and, past its retries, dead-letters it rather than losing the failed one. A
        ``StorageError`` fails the batch at once: the store is failing, not the message."""
        processed, unschedulable, failed = 0, 0, 0
        for message in parse_queue_event(event):
            try:
                parsed = RecheckMessage.from_body(message.json())
            except BadMessage:  # unreadable, or a body that is neither JSON nor base64 JSON
                parsed = None
            if parsed is None:
                logger.error("recheck.malformed_message", extra={"messageId": message.id})
                continue
            mbid, attempt = parsed
            with log_context(merchant_biz_id=mbid):
                try:
                    outcome = self.fetcher.fetch(mbid, attempt=attempt)
                except RecheckNotScheduled:
                    unschedulable += 1
                    continue
                except StorageError:
                    raise
                except Exception as exc:  # one transaction's failure must not hold back the others of the batch
                    logger.error("recheck.failed", extra={"attempt": attempt}, exc_info=exc)
                    failed += 1
                    continue
                logger.info("recheck.processed", extra={"outcome": outcome.kind, "attempt": attempt})
                processed += 1
        if unschedulable:
            raise RecheckNotScheduled(f"{unschedulable} transaction(s) could not be re-scheduled")
        if failed:
            raise RecheckFailed(f"{failed} re-check(s) failed; the others of the batch were processed")
        return {"processed": processed}

    def _on_error(self, exc: BaseException) -> None:
        logger.error("result_fetcher.unhandled", exc_info=exc)


def _callback_answer(outcome: FetchOutcome) -> dict[str, Any]:
    return {"received": True, "outcome": outcome.kind, "status": outcome.status}


def _no_such_verification() -> HttpError:
    """The callback's one answer for a verification it will not act on: unknown, or the token does not match."""
    return HttpError(404, "NotFound", "no such verification")
