"""Fetch a verification's result from the vendor and keep it, exactly once in effect.

The order of effects is what makes retries safe (every step may be repeated after a crash):

1. ``CheckResult`` with the TransactionId stored at Initialize (never one from a request);
2. images and the full parsed result → object store under ``results/<merchantBizId>/<answer>/``
   (:func:`answer_prefix`), where ``<answer>`` is a digest of what the vendor answered (:func:`answer_digest`):
   the same answer (a retry after a crash: the vendor's copy goes only after a fetch wins) rewrites the same keys
   with the same content, and another answer never overwrites the first one's objects;
3. the row PENDING → PASSED/FAILED with its document's key, conditionally: only one fetch wins, a final row is
   never overwritten. A fetch that loses with another answer than the winner's (one read after the winner
   deleted the vendor's copy, say) deletes what it wrote in step 2, so the row's document and images stay the
   winner's; one that finds the row gone (erased, or expired, while it fetched) deletes everything under
   ``results/<merchantBizId>/``;
4. only the winner enqueues the notification, then flags the row (outbox: a final row whose flag is still
   unset after a crash is re-enqueued by the sweeper).

An erased flow (``kyc erase`` left an ERASED tombstone: the vendor would not delete an unfinished flow) is never
kept nor announced, whenever the person finishes it: a fetch that finds the tombstone, or loses its step 3 to one,
deletes the vendor's copy and then the row and everything under its prefix (:meth:`ResultFetcher.finish_erasure`;
the sweeper tries it too, hourly, should no callback come).

Pending answers and failed fetches schedule a delayed re-check on the re-check queue: one chain of re-checks per
transaction (``KYC_RECHECK_SCHEDULE``), each message numbered, the row recording the latest number scheduled
(``recheck_attempt``). A re-check message behind the row is a duplicate (a redelivered batch, a second callback's
chain) and stops without calling the vendor or queueing anything, so duplicate chains merge instead of
multiplying; a callback (or ``kyc refetch``) fetches at once but starts the chain only if none was ever scheduled.
Past the chain, the sweeper owns the transaction (:mod:`shared.sweeper`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Callable
from functools import partial

from shared import jsonutil
from shared.cloudauth import AuthError, CloudAuthClient, CloudAuthError, ProcessNotCompleted, TransactionIdInvalid
from shared.fetch_settings import FetchSettings, vendor_may_still_keep
from shared.ids import RESULT_DOCUMENT, answer_prefix, result_prefix
from shared.log import get_logger
from shared.messages import NotifyMessage, RecheckMessage
from shared.parallel import MAX_CONCURRENT_CALLERS, ThreadPool, run_all
from shared.results import (
    CheckResultResponse,
    ImageDecodeError,
    ResultParseError,
    mask_identity,
    parse_check_result,
)
from shared.results.images import images_by_content
from shared.status import Status
from shared.storage import StorageError, TransactionRecord
from shared.storage.queueing import queue_delay
from shared.storage.records import face_verdicts
from shared.values import valueclass

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any, Literal

    from shared.storage import ObjectStore, Queue, TransactionStore

    #: ``duplicate`` only answers a re-check message (never a callback): see :meth:`ResultFetcher.fetch`.
    #: ``erased``: an erasure's tombstone, finished now (the vendor's copy and the row are gone);
    #: ``erasure_pending``: the tombstone stays (the vendor keeps the flow, or failed: ``error``).
    OutcomeKind = Literal[
        "finalized", "already_final", "pending", "retry_later", "unknown", "failed", "duplicate", "erased",
        "erasure_pending",
    ]

logger = get_logger("kyc.fetcher")

@valueclass
class FetchOutcome:
    """What one fetch came to. ``permanent`` (with ``retry_later``): the failure is this transaction's own —
    retrying it is not expected to help (:func:`refuses_transaction`, an unparseable answer); the sweeper abandons
    such a row once it is past ``KYC_ABANDON_AFTER``, while transient failures are retried longer."""

    kind: OutcomeKind
    status: str | None = None
    error: str | None = None
    next_check_in: float | None = None
    permanent: bool = False
    #: With ``pending``: the vendor says the person has not finished the flow (``ProcessNotCompleted``), not that a
    #: finished flow's result is still being worked out (``Passed`` P).
    unfinished: bool = False


def refuses_transaction(exc: CloudAuthError) -> bool:
    """Whether a failed CheckResult says that retrying *this transaction* cannot help: a parameter error (the only
    parameters that vary are the row's own ids, so the client's own check or the vendor's refuses this row), an
    answer not of the documented shape, any other refusal the vendor does not mark transient (a 4xx).

    Not a transient failure (5xx, timeouts, throttling: the service recovers), nor an :class:`AuthError`: the
    deployment's key, signature or permissions fail every transaction alike, and the operator's fix must find
    them still waiting rather than abandoned."""
    return not exc.transient and not isinstance(exc, AuthError)


class RecheckNotScheduled(Exception):
    """A pending transaction could not be put back on the re-check queue; the caller must not ack its trigger."""

    log_safe = True


def answer_digest(record: dict[str, Any], images: list[tuple[str, str, bytes]]) -> str:
    """80 bits of SHA-256 over a parsed answer (the document's ``result``: ``CheckResultResponse.to_record`` less
    its ``requestId``) with its keys sorted, whatever order the vendor wrote them in, and its decoded images as
    ``(name, content type, data)``. Equal answers, equal digests; should the vendor's bytes vary between two calls
    (unverified either way), the second is kept beside the first."""
    digest = hashlib.sha256(json.dumps(record, sort_keys=True).encode())
    for name, content_type, data in images:
        digest.update(f"\0{name}\0{content_type}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()[:20]


def delete_kept_result(
    store: TransactionStore, objects: ObjectStore, merchant_biz_id: str, *, as_read: TransactionRecord | None = None
) -> int | None:
    """Delete what is kept of one verification: its objects and its row. Returns the number of objects deleted;
    None when ``as_read`` is given and the row has moved on since (nothing deleted). Safe to repeat after a crash at
    any step.

    Erasure (no ``as_read``): objects, the row, then objects again. Objects first: a crash then leaves a row that
    still leads to them, so running this again finishes the job. Again after the row: a fetch that read the row
    before it went may have written the result in between; once the row is gone, a fetch that finalizes nothing
    removes what it wrote itself (:meth:`ResultFetcher._keep`).

    Retention (``as_read``: the row it decided on): the row goes only if it is still as read
    (:meth:`TransactionStore.delete_unchanged`), and the order depends on whether a fetch can still change it:

    * a verdict (PASSED/FAILED) never changes, so its objects are its own: objects, the row (conditionally), then
      objects again, as for an erasure, and for the same reasons;
    * an ABANDONED row is replaced by a late verdict, whose fetch writes the verdict's objects before it finalizes
      the row. Deleting objects first could delete that verdict's result just before it wins the row, so the row
      goes first (conditionally: a failed condition leaves the row and the late verdict's objects alone), then the
      objects. An ABANDONED row owns no objects: all a crash between the two can leave is what a fetch wrote and
      has not finalized, which that fetch deletes when its finalize finds the row gone (``_discard_written``, or
      its re-check), and whatever a failed fetch left earlier is deleted by the objects step here.

    A row whose conditional deletion failed but which is gone all the same (the SDK re-sent a deletion answered
    busy, and the copy found no row; an erasure meanwhile) has its objects deleted too: nothing else leads to them."""
    prefix = result_prefix(merchant_biz_id)
    if as_read is None:
        deleted = objects.delete_prefix(prefix)
        store.delete(merchant_biz_id)
        return deleted + objects.delete_prefix(prefix)
    status, updated_at = as_read.status.value, as_read.updated_at
    deleted = objects.delete_prefix(prefix) if as_read.status.is_verdict else 0
    if not store.delete_unchanged(merchant_biz_id, status=status, updated_at=updated_at) and (
        store.get(merchant_biz_id) is not None  # gone all the same (its deletion re-sent by the SDK, an erasure)
    ):
        return None
    return deleted + objects.delete_prefix(prefix)


#: Image puts one fetch runs at once: every image a result carries by name, and a few found by their content.
MAX_PARALLEL_PUTS = 8
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp", "image/bmp": "bmp"}


class ResultFetcher:
    def __init__(
        self,
        *,
        client: CloudAuthClient,
        store: TransactionStore,
        objects: ObjectStore,
        recheck_queue: Queue,
        notify_queue: Queue,
        settings: FetchSettings,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.client = client
        self.store = store
        self.objects = objects
        self.recheck_queue = recheck_queue
        self.notify_queue = notify_queue
        self.settings = settings
        self.clock = clock
        self.jitter = jitter
        self._put_pool = ThreadPool(MAX_PARALLEL_PUTS * MAX_CONCURRENT_CALLERS, "object-put")

    # -- the whole pipeline ---------------------------------------------------------------------------------

    @property
    def deletes_vendor_copy(self) -> bool:
        """Whether a kept result is followed by deleting the vendor's copy (``KYC_DELETE_VENDOR_COPY``)."""
        return self.settings.delete_vendor_copy

    def fetch(self, merchant_biz_id: str, *, attempt: int | None = None, recheck: bool = True) -> FetchOutcome:
        """Fetch and keep the result of one transaction. Raises :class:`RecheckNotScheduled` only when a
        transaction that still needs work could not be scheduled again (so the trigger must be retried).

        ``attempt``: the number of the re-check message this is. One behind the row's ``recheck_attempt`` is a
        duplicate (the row has scheduled a later re-check since): it returns ``duplicate`` having called nothing.
        Otherwise, still unfinished, the next re-check is queued (``_schedule_recheck``). None: a trigger outside
        the chain (the callback, ``kyc refetch``), which fetches at once and starts the chain (re-check number 1)
        only when the row records none scheduled: a repeated callback never starts a second chain.
        ``recheck=False``: never queue a re-check (the sweeper reschedules what it fetched itself)."""
        record = self.store.get(merchant_biz_id)
        if record is None:
            if attempt is not None:
                # A re-check of a row that is gone (erased, expired): a fetch that raced its deletion may have left
                # objects it could not delete itself (``_discard_written``); deleting an empty prefix costs a list.
                self.objects.delete_prefix(result_prefix(merchant_biz_id))
            return FetchOutcome("unknown")
        if record.status is Status.ERASED:
            if attempt is not None:  # a re-check (a raced fetch's cleanup, say): a tombstone owns no objects
                self.objects.delete_prefix(result_prefix(merchant_biz_id))
            return self.finish_erasure(record)
        if record.is_final:  # a verdict; an ABANDONED row is fetched: a late real result replaces it
            return FetchOutcome("already_final", status=record.status.value)
        if attempt is not None and attempt < record.recheck_attempt:
            logger.info("fetch.duplicate_recheck", extra={"attempt": attempt, "scheduled": record.recheck_attempt})
            return FetchOutcome("duplicate")
        chain_started = attempt is None and record.recheck_attempt > 0
        # None: no re-check is queued (the sweeper reschedules itself; a callback leaves a started chain alone)
        next_attempt = None if not recheck or chain_started else (attempt or 0)
        # An ABANDONED row's chain ends at an answer that it is still unfinished: its number cannot advance any more
        # (record_check moves PENDING rows only), so each redelivery would fork the chain. A failure to answer is
        # still tried again (a late verdict also comes by callback).
        unfinished_next = None if record.status is Status.ABANDONED else next_attempt
        try:
            body = self.client.check_result(merchant_biz_id, record.transaction_id, is_return_image=True)
        except ProcessNotCompleted:
            return self._schedule_recheck(record, unfinished_next, error=None, pending=True, unfinished=True)
        except TransactionIdInvalid as exc:
            # A fetch that won meanwhile (a second callback, a re-check) may have deleted the vendor's copy already
            # (KYC_DELETE_VENDOR_COPY): not the alarm below.
            current = self.store.get(merchant_biz_id)
            if current is not None and current.is_final:
                return FetchOutcome("already_final", status=current.status.value)
            self._unknown_to_vendor(record, exc.code, recheck=recheck)
            return FetchOutcome("failed", error=exc.code)
        except CloudAuthError as exc:
            logger.warning("fetch.vendor_error", extra={"errorCode": exc.code, "transient": exc.transient})
            permanent = refuses_transaction(exc)
            return self._schedule_recheck(record, next_attempt, error=exc.code, pending=False, permanent=permanent)
        try:
            # The product decides what the result can carry: a face-only product's never has an identity.
            result = parse_check_result(body, doc_type=record.doc_type or None, product_code=record.product_code)
        except ResultParseError as exc:
            logger.error("fetch.unparseable_result", extra={"errorCode": exc.code})
            return self._schedule_recheck(record, next_attempt, error=exc.code, pending=False, permanent=True)
        if result.status is Status.PENDING:
            return self._schedule_recheck(record, unfinished_next, error=None, pending=True)
        try:
            return self._keep(record, result)
        except StorageError as exc:
            logger.error("fetch.storage_error", extra={"errorCode": exc.code, "transient": exc.transient})
            self._discard_written_if_gone(merchant_biz_id)
            return self._schedule_recheck(record, next_attempt, error=exc.code, pending=False)

    # -- steps ---------------------------------------------------------------------------------------------

    def _unknown_to_vendor(self, record: TransactionRecord, code: str, *, recheck: bool) -> None:
        """The vendor does not know a TransactionId it gave us at Initialize. Within its 30-day retention that
        should not happen: the deployment calls another account, region or endpoint than the one that started the
        transaction (unverified: that the vendor answers TransactionIdInvalid, not another code, for a transaction
        of another account or region), or the vendor lost it (or the local sandbox restarted: it keeps them in
        memory). It needs a person, once: an ERROR the first time a row is found so, a WARNING at each later check
        of the same row (its ``error`` already says so). The row stays PENDING and is checked again at the sweeper's
        backoff, in case the settings are put right, until the sweeper abandons it (``KYC_ABANDON_AFTER``) and
        announces that. Off the sweeper (``recheck``), the row is handed to the sweeper (no next check: due as NEW); the
        sweeper records its own checks (recording here too would count each of its checks twice)."""
        first = record.error != code
        level = logging.ERROR if first else logging.WARNING
        logger.log(level, "fetch.transaction_unknown_to_vendor",
                   extra={"errorCode": code, "firstSeen": first, "checkCount": record.check_count})
        if recheck:
            self.store.record_check(record.merchant_biz_id, now=self.clock(), next_check_at=None, error=code)

    def _keep(self, record: TransactionRecord, result: CheckResultResponse) -> FetchOutcome:
        mbid = record.merchant_biz_id
        now = self.clock()
        decoded: list[tuple[str, str, bytes]] = []
        unreadable: list[str] = []
        for image in result.images:
            try:
                decoded.append((image.name, image.content_type, image.data))
            except ImageDecodeError:
                # A corrupt image must not cost us the verdict: keep the result, name the image that was lost.
                logger.error("fetch.image_unreadable", extra={"image": image.name})
                unreadable.append(image.name)
        kept = result.to_record(unsaved=unreadable)  # an image not saved stays where it came
        decoded.extend(images_by_content(kept))  # and one under a name nobody documented is found by its content
        # Nothing of this call's own goes under the answer's keys (its RequestId, its time: the row's finalizedAt
        # is the winner's): a fetch that loses with the same answer rewrites them with the same bytes.
        vendor_request_id = kept.pop("requestId", None)
        own = answer_prefix(mbid, answer_digest(kept, decoded))
        image_keys = {name: f"{own}{name}.{_EXTENSIONS.get(content_type, 'bin')}" for name, content_type, _ in decoded}
        # Side by side (shared.parallel: every put ended before the document is written or a failure raised).
        puts = [partial(self.objects.put, image_keys[name], data, content_type) for name, content_type, data in decoded]
        run_all(self._put_pool, puts, MAX_PARALLEL_PUTS)
        document = {
            "merchantBizId": mbid,
            "transactionId": record.transaction_id,
            # Whose verification it is (the peppered hash, as in the row): the notifier checks the row's against it,
            # as code run in the initializer could move a genuine verdict's row to another user (review ac).
            "merchantUserId": record.merchant_user_id,
            "productCode": record.product_code,
            "docType": result.doc_type or record.doc_type or None,
            "images": image_keys,
            "unreadableImages": unreadable,
            "result": kept,
        }
        key = f"{own}{RESULT_DOCUMENT}"
        self.objects.put(key, jsonutil.dumps(document), "application/json")
        won = self.store.finalize(
            mbid,
            status=result.status.value,
            passed=result.passed,
            sub_code=result.sub_code,
            result_key=key,
            identity_masked=mask_identity(result.identity) if result.identity else None,
            result_version=int(now * 1000),  # ms of the fetch: a later fetch never loses to an older one
            now=now,
            face=face_verdicts(result.face.to_dict()),
        )
        if not won:
            current = self.store.get(mbid)
            if current is None:
                # The row went while we fetched (an erasure, or retention): what was just written goes with it.
                logger.info("fetch.row_gone")
                self._discard_written(mbid)
                return FetchOutcome("unknown")
            if current.status is Status.ERASED:  # erased while we fetched: the answer goes, and the vendor's copy
                self._discard_written(mbid)
                return self.finish_erasure(current)
            logger.info("fetch.already_final")
            if current.result_key != key:  # another answer won: ours leads nowhere
                self._discard_answer(own)
            return FetchOutcome("already_final", status=current.status.value)  # the kept verdict, not ours
        logger.info("fetch.finalized", extra={"status": result.status.value, "subCode": result.sub_code,
                                              "vendorRequestId": vendor_request_id})
        self.enqueue_notification(mbid, result.status.value)
        if self.settings.delete_vendor_copy:
            self.delete_vendor_copy(record)
        return FetchOutcome("finalized", status=result.status.value)

    def enqueue_notification(
        self, merchant_biz_id: str, status: str, *, vendor_copy_pending: bool | None = None
    ) -> bool:
        """Enqueue the notification of ``status`` and flag the row, only if it still has that status. A failure
        here is repaired by the sweeper's outbox pass. ``vendor_copy_pending``: whether a deletion of the vendor's
        copy follows (default: whenever this deployment deletes copies of verdicts); without one the outbox is done
        once the flag is set, and the row stops being due in the same write."""
        if vendor_copy_pending is None:
            vendor_copy_pending = self.settings.delete_vendor_copy and Status(status).is_verdict
        try:
            self.notify_queue.send(NotifyMessage(merchant_biz_id).to_body())
            self.store.mark_notification_enqueued(merchant_biz_id, status, vendor_copy_pending=vendor_copy_pending,
                                                  now=self.clock())
        except StorageError as exc:
            logger.error("fetch.notification_not_enqueued", extra={"errorCode": exc.code})
            return False
        return True

    def delete_vendor_copy(self, record: TransactionRecord) -> bool:
        try:
            try:
                # Y: the vendor refuses to delete a result nobody read, a guard of our own order of effects (only a
                # verdict's copy is deleted, after its CheckResult answer is kept).
                answer = self.client.delete_verify_result(record.transaction_id, delete_after_query=True)
            except TransactionIdInvalid:
                pass  # the vendor no longer has it (deleted already, or past its 30 days): nothing left to delete
            else:
                if not answer.deleted:  # DeleteResult N: the vendor kept its copy; do not claim otherwise
                    logger.warning("fetch.vendor_copy_not_deleted", extra={"errorCode": "DeleteResultN"})
                    return False
            self.store.mark_vendor_copy_deleted(record.merchant_biz_id)
        except (CloudAuthError, StorageError) as exc:
            logger.warning("fetch.vendor_copy_not_deleted", extra={"errorCode": getattr(exc, "code", None)})
            return False
        return True

    def finish_erasure(self, record: TransactionRecord) -> FetchOutcome:
        """The rest of an erasure whose flow was unfinished when ``kyc erase`` ran (``record`` is its ERASED
        tombstone): ``erased`` once done, ``erasure_pending`` while the tombstone stays. Order of effects: the
        vendor's copy (``DeleteAfterQuery`` N, as the erasure: read or not), the row's ``vendor_copy_deleted``
        (so that a ``kyc erase`` after a failure below takes the vendor's "unknown" for this deletion), then the
        objects and the row (:func:`delete_kept_result`). The vendor keeping its copy (the flow still unfinished),
        failing, or not knowing a flow it should still hold (``fetch.erasure_unknown_to_vendor``: another region or
        account, as for ``kyc erase``) leaves the tombstone as it is: the sweeper's erasure step tries again hourly,
        and nothing is kept or announced meanwhile. A ``StorageError`` propagates (the trigger is retried)."""
        try:
            answer = self.client.delete_verify_result(record.transaction_id, delete_after_query=False)
            deleted = answer.deleted
        except TransactionIdInvalid as exc:
            if vendor_may_still_keep(record, self.clock()):
                # Within its 30 days and not deleted by us: more likely this deployment calls another region,
                # endpoint or account than the one that started the flow. The tombstone holds the only TransactionId
                # that can delete the person's data: kept until the settings are put right (or the sweeper's
                # retention or the vendor's 30 days end it: sweep.vendor_copy_left).
                logger.error("fetch.erasure_unknown_to_vendor", extra={"errorCode": exc.code})
                return FetchOutcome("erasure_pending", status=record.status.value, error=exc.code)
            deleted = True  # the vendor no longer has it (deleted already, or past its 30 days)
        except CloudAuthError as exc:
            logger.warning("fetch.erasure_not_finished", extra={"errorCode": exc.code})
            return FetchOutcome("erasure_pending", status=record.status.value, error=exc.code)
        if not deleted:  # N for a flow not finished: *unverified* (the delete page is silent; an error waits too)
            logger.info("fetch.erasure_waits_for_vendor")
            return FetchOutcome("erasure_pending", status=record.status.value)
        try:
            self.store.mark_vendor_copy_deleted(record.merchant_biz_id)
        except StorageError:
            # Deleting the row makes the record moot: try that all the same (review ao: one failed write here left
            # the tombstone to the vendor's "unknown", kept as a wrong region's for 30 days). Should it fail too,
            # the next try meets that "unknown" (fetch.erasure_unknown_to_vendor).
            logger.warning("fetch.erasure_not_recorded")
        delete_kept_result(self.store, self.objects, record.merchant_biz_id)
        logger.info("fetch.erasure_finished")
        return FetchOutcome("erased")

    def _discard_answer(self, prefix: str) -> None:
        """Delete the objects of an answer that lost to another: the row leads to the winner's. A failure leaves
        them under the row's prefix, deleted with the row (retention, erasure)."""
        try:
            self.objects.delete_prefix(prefix)
        except StorageError as exc:
            logger.warning("fetch.losing_answer_not_deleted", extra={"errorCode": exc.code})

    def _discard_written(self, merchant_biz_id: str) -> None:
        """Delete the objects this fetch wrote for a row that is gone. When the deletion fails, a re-check message
        is queued instead: :meth:`fetch` deletes the prefix of a re-check whose row is gone (nothing else leads to
        these objects any more: retention and erasure walk rows). Raises :class:`RecheckNotScheduled` when neither
        works, so the trigger is retried."""
        try:
            self.objects.delete_prefix(result_prefix(merchant_biz_id))
            return
        except StorageError as exc:
            logger.error("fetch.orphans_not_deleted", extra={"errorCode": exc.code})
        self._queue_cleanup(merchant_biz_id)

    def _discard_written_if_gone(self, merchant_biz_id: str) -> None:
        """After a write of :meth:`_keep` failed: if the row went meanwhile (an erasure), or is an erasure's tombstone
        now, the objects already written lead nowhere, and the re-check that follows a failed write may never come
        (the sweeper's fetch, a callback behind a started chain queue none). Deleted as :meth:`_discard_written`
        does; when the row cannot be read, a re-check finds out (:meth:`fetch` deletes the prefix of a re-check whose
        row is gone or a tombstone). A row still there keeps everything: another fetch may have kept its result
        under the same prefix."""
        try:
            current = self.store.get(merchant_biz_id)
        except StorageError:
            self._queue_cleanup(merchant_biz_id)
            return
        if current is None or current.status is Status.ERASED:  # a tombstone owns no objects
            logger.info("fetch.row_gone")
            self._discard_written(merchant_biz_id)

    def _queue_cleanup(self, merchant_biz_id: str) -> None:
        """A re-check message whose fetch deletes the row's objects if the row is gone (re-check 1: on a row still
        there, one more check, or a duplicate behind a chain past it). Raises :class:`RecheckNotScheduled` when it
        cannot be sent, so the trigger is retried."""
        delay = int(self.settings.recheck_schedule[0]) if self.settings.recheck_schedule else 0
        try:
            self.recheck_queue.send(RecheckMessage(merchant_biz_id, 1).to_body(), delay_seconds=delay)
        except StorageError as exc:
            raise RecheckNotScheduled(exc.code) from exc

    def _schedule_recheck(
        self, record: TransactionRecord, attempt: int | None, *, error: str | None, pending: bool,
        permanent: bool = False, unfinished: bool = False,
    ) -> FetchOutcome:
        """After re-check number ``attempt`` (0: the first fetch), queue the next one and record it on the row
        (None: none; the caller reschedules, or a chain is running already).

        Order of effects: the message first, then the row's conditional write (``record_check`` with the new
        ``recheck_attempt``), so that a chain is never lost. A crash or a failed write after the send leaves a
        message *ahead* of the row, which :meth:`fetch` accepts (only a message behind the row is a duplicate);
        the other order would leave the row naming a re-check that no message carries, and the redelivered trigger
        would be dropped as a duplicate of it (the sweeper would find the row only once it is silent). The price:
        two fetches of one step at once (a redelivery racing the original, two simultaneous callbacks) may both
        send; the row records one of them, and at the next step whichever copy comes second finds the row past it
        and stops: chains merge instead of multiplying. A failed send raises :class:`RecheckNotScheduled` (the
        trigger is retried; the row was not changed, so its redelivery is not a duplicate)."""
        schedule = self.settings.recheck_schedule
        now = self.clock()
        kind: OutcomeKind = "pending" if pending else "retry_later"
        if attempt is None or attempt >= len(schedule):
            # Out of quick re-checks: the sweeper owns this transaction's schedule from here on.
            return FetchOutcome(kind, error=error, permanent=permanent, unfinished=unfinished)
        # Full jitter on the upper half keeps a burst of pending transactions from re-checking in lockstep.
        delay = schedule[attempt] * (0.5 + 0.5 * self.jitter())
        message = RecheckMessage(record.merchant_biz_id, attempt + 1)
        try:
            self.recheck_queue.send(message.to_body(), delay_seconds=queue_delay(delay))
        except StorageError as exc:
            logger.error("fetch.recheck_not_scheduled", extra={"errorCode": exc.code})
            raise RecheckNotScheduled(exc.code) from exc
        try:
            recorded = self.store.record_check(
                record.merchant_biz_id, now=now, next_check_at=now + delay, error=error, recheck_attempt=message.attempt
            )
        except StorageError as exc:
            # The message is out and ahead of the row, so it will be accepted: the chain goes on.
            logger.warning("fetch.recheck_not_recorded", extra={"errorCode": exc.code, "attempt": message.attempt})
        else:
            if not recorded:  # another fetch of this step recorded it first (or the row is no longer pending)
                logger.info("fetch.recheck_already_recorded", extra={"attempt": message.attempt})
        return FetchOutcome(kind, error=error, next_check_in=delay, permanent=permanent, unfinished=unfinished)

