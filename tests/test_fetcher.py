"""ResultFetcher on the real local backends (SQLite rows, directory objects, SQLite queues) with a fake vendor."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared import jsonutil
from shared.cloudauth import (
    AuthError,
    CloudAuthError,
    MalformedResponse,
    ParameterError,
    ProcessNotCompleted,
    ServerError,
    ThrottlingError,
    TransactionIdInvalid,
    TransportError,
)
from shared.fetcher import MAX_PARALLEL_PUTS, RecheckNotScheduled, answer_digest, delete_kept_result
from shared.ids import result_prefix
from shared.messages import RecheckMessage
from shared.storage import StorageError
from tests.fakes import IDENTITY, JPEG, PNG, FakeCloudAuth, Stack, check_result_body, delays, peek


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path)
    yield s
    s.close()


class _Recorder:
    """Wraps a store / object store / queue and logs every call into a shared list (the order of effects)."""

    def __init__(self, inner: Any, name: str, log: list[str]) -> None:
        self._inner, self._name, self._log = inner, name, log

    def __getattr__(self, attr: str) -> Any:
        target = getattr(self._inner, attr)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            self._log.append(f"{self._name}.{attr}")
            return target(*args, **kwargs)

        return call


def test_final_answer_writes_objects_then_the_row_then_one_notify_message(stack: Stack) -> None:
    record = stack.pending()
    log: list[str] = []
    fetcher = stack.fetcher(
        FakeCloudAuth(),
        store=_Recorder(stack.store, "store", log),
        objects=_Recorder(stack.objects, "objects", log),
        notify=_Recorder(stack.notify, "notify", log),
    )
    outcome = fetcher.fetch(record.merchant_biz_id)
    assert outcome.kind == "finalized" and outcome.status == "PASSED"
    assert log == [
        "store.get",
        "objects.put",
        "objects.put",
        "objects.put",
        "store.finalize",
        "notify.send",
        "store.mark_notification_enqueued",
    ]
    assert peek(stack.notify) == [{"merchantBizId": record.merchant_biz_id, "attempt": 0}]


def test_finalize_keeps_images_and_full_result_under_the_transaction_prefix(stack: Stack) -> None:
    record = stack.pending()
    stack.fetcher(FakeCloudAuth()).fetch(record.merchant_biz_id)
    key = stack.kept_result_key(record.merchant_biz_id)
    own = key.removesuffix("result.json")
    assert own.startswith(f"results/{record.merchant_biz_id}/") and own.count("/") == 3  # results/<id>/<answer>/
    assert stack.objects.list(result_prefix(record.merchant_biz_id)) == [
        f"{own}faceImg.png", f"{own}idImage.jpg", f"{own}result.json"
    ]
    assert stack.objects.get(f"{own}idImage.jpg") == JPEG
    assert stack.objects.get(f"{own}faceImg.png") == PNG
    document = jsonutil.loads(stack.objects.get(key))
    assert document["images"] == {"idImage": f"{own}idImage.jpg", "faceImg": f"{own}faceImg.png"}
    assert document["transactionId"] == record.transaction_id
    assert document["result"]["identity"]["documentNumber"] == IDENTITY["passportNo"]


class _MeetingImagePuts:
    """The stack's objects, whose image puts wait for each other: each fails (``BrokenBarrierError``) unless
    ``images`` of them are being written at once."""

    def __init__(self, inner: Any, images: int, fail: str | None = None) -> None:
        self._inner, self.fail = inner, fail
        self._meeting = threading.Barrier(images, timeout=5)
        self.ended: list[str] = []
        self.put_after_images: list[str] = []

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._inner, attr)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        if key.endswith("result.json"):
            self.put_after_images.append(key)
            return self._inner.put(key, data, content_type)
        self._meeting.wait()
        try:
            if self.fail is not None and key.endswith(self.fail):
                raise StorageError("oss PutObject failed: InternalError (500)", transient=True, code="InternalError")
            time.sleep(0.05)  # the other put is still writing when this one fails
            return self._inner.put(key, data, content_type)
        finally:
            self.ended.append(key)


def test_a_result_s_images_are_put_side_by_side_then_its_document(stack: Stack) -> None:
    record = stack.pending()
    objects = _MeetingImagePuts(stack.objects, images=2)
    outcome = stack.fetcher(FakeCloudAuth(), objects=objects).fetch(record.merchant_biz_id)
    assert outcome.kind == "finalized"
    assert len(objects.ended) == 2 and len(objects.put_after_images) == 1


def test_a_failed_image_put_leaves_no_document_and_no_verdict_and_waits_for_the_other_put(stack: Stack) -> None:
    record = stack.pending()
    objects = _MeetingImagePuts(stack.objects, images=2, fail="idImage.jpg")
    outcome = stack.fetcher(FakeCloudAuth(), objects=objects).fetch(record.merchant_biz_id)
    assert (outcome.kind, outcome.error) == ("retry_later", "InternalError")
    assert len(objects.ended) == 2  # the face image's put ended before the fetch went on
    assert objects.put_after_images == []
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and row.status == "PENDING"


FETCHES = 5  # each with two images: ten puts, more than the pool's eight threads


class _AllPutsAtOnce:
    def __init__(self, inner: Any, puts: int) -> None:
        self._inner = inner
        self._meeting = threading.Barrier(puts, timeout=3)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._inner, attr)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        if not key.endswith("result.json"):
            self._meeting.wait()  # broken unless every fetch's image puts are under way at once
        self._inner.put(key, data, content_type)


def test_concurrent_fetches_image_puts_do_not_wait_for_each_other_s(tmp_path: Path) -> None:
    """Found by review ax: one ``ResultFetcher`` (one per process: the local worker runs up to 8 re-checks at once in
it) had one pool of ``MAX_PARALLEL_PUTS`` threads for every fetch it runs. Concurrent fetches' image puts queued
behind each other's, each put's deadline starting only when it left the queue: a fetch's puts then took several put
deadlines, not the one the time budget counts. The pool has room for ``MAX_CONCURRENT_CALLERS`` invocations."""
    stack = Stack(tmp_path)
    try:
        assert FETCHES * 2 > MAX_PARALLEL_PUTS
        records = [stack.pending() for _ in range(FETCHES)]
        fetcher = stack.fetcher(FakeCloudAuth(), objects=_AllPutsAtOnce(stack.objects, FETCHES * 2))
        outcomes: list[str] = []

        def fetch(mbid: str) -> None:
            try:
                outcomes.append(fetcher.fetch(mbid).kind)
            except Exception as exc:  # a put that waited for another fetch's: BrokenBarrierError
                outcomes.append(type(exc).__name__)

        threads = [threading.Thread(target=fetch, args=(r.merchant_biz_id,)) for r in records]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["finalized"] * FETCHES
    finally:
        stack.close()


def test_finalized_row_holds_only_the_masked_identity(stack: Stack) -> None:
    record = stack.pending()
    stack.fetcher(FakeCloudAuth()).fetch(record.merchant_biz_id)
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and row.status == "PASSED" and row.notification_enqueued
    assert row.identity_masked is not None
    assert IDENTITY["passportNo"] not in jsonutil.dumps_str(row.identity_masked)
    assert row.result_key is not None and row.result_key.endswith("/result.json")
    assert stack.objects.exists(row.result_key)


def test_check_result_uses_the_stored_transaction_id(stack: Stack) -> None:
    record = stack.pending()
    client = FakeCloudAuth()
    stack.fetcher(client).fetch(record.merchant_biz_id)
    assert client.check_calls == [(record.merchant_biz_id, record.transaction_id)]


def test_pending_answer_schedules_a_recheck_with_the_schedule_delay_and_next_attempt(stack: Stack) -> None:
    record = stack.pending()
    fetcher = stack.fetcher(FakeCloudAuth(check_result_body("P")), schedule=(10.0, 30.0, 60.0))
    outcome = fetcher.fetch(record.merchant_biz_id, attempt=1)
    assert outcome.kind == "pending" and outcome.next_check_in == 30.0  # jitter 1.0 → the full delay
    assert peek(stack.recheck) == [{"merchantBizId": record.merchant_biz_id, "attempt": 2}]
    assert delays(stack.recheck) == [30.0]
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and row.status == "PENDING" and row.check_count == 1
    assert row.next_check_at == stack.clock() + 30.0
    assert peek(stack.notify) == []


def test_zero_jitter_halves_the_recheck_delay(stack: Stack) -> None:
    record = stack.pending()
    fetcher = stack.fetcher(FakeCloudAuth(check_result_body("P")), schedule=(10.0,))
    fetcher.jitter = lambda: 0.0
    assert fetcher.fetch(record.merchant_biz_id).next_check_in == 5.0
    assert delays(stack.recheck) == [5.0]


def test_process_not_completed_is_pending(stack: Stack) -> None:
    record = stack.pending()
    outcome = stack.fetcher(FakeCloudAuth(ProcessNotCompleted("not yet"))).fetch(record.merchant_biz_id)
    assert outcome.kind == "pending" and outcome.error is None
    assert peek(stack.recheck) == [{"merchantBizId": record.merchant_biz_id, "attempt": 1}]


@pytest.mark.parametrize("error", [ThrottlingError("slow down"), ServerError("boom", status=503)])
def test_transient_vendor_error_is_retried_later(stack: Stack, error: Exception) -> None:
    record = stack.pending()
    outcome = stack.fetcher(FakeCloudAuth(error)).fetch(record.merchant_biz_id)
    assert outcome.kind == "retry_later" and outcome.error == getattr(error, "code", None)
    assert len(peek(stack.recheck)) == 1
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and row.error == outcome.error


def test_unknown_transaction_id_fails_without_a_recheck(stack: Stack) -> None:
    record = stack.pending()
    outcome = stack.fetcher(FakeCloudAuth(TransactionIdInvalid("gone"))).fetch(record.merchant_biz_id)
    assert outcome.kind == "failed" and outcome.error == "TransactionIdInvalid"
    assert peek(stack.recheck) == []
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and row.status == "PENDING" and row.next_check_at is None
    assert row.error == "TransactionIdInvalid"


def _unknown_lines(out: str) -> list[dict[str, Any]]:
    lines = [jsonutil.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [line for line in lines if line["message"] == "fetch.transaction_unknown_to_vendor"]


def test_a_transaction_unknown_to_the_vendor_is_an_error_the_first_time_and_a_warning_after(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    record = stack.pending()
    fetcher = stack.fetcher(FakeCloudAuth(TransactionIdInvalid("gone"), TransactionIdInvalid("gone")))
    fetcher.fetch(record.merchant_biz_id)
    fetcher.fetch(record.merchant_biz_id)
    lines = _unknown_lines(capsys.readouterr().out)
    assert [(line["level"], line["firstSeen"], line["checkCount"]) for line in lines] == [
        ("ERROR", True, 0), ("WARNING", False, 1)]


def test_a_fetch_whose_rival_won_and_deleted_the_vendor_s_copy_meanwhile_is_already_final_not_an_alarm(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by review: with KYC_DELETE_VENDOR_COPY, a second callback whose CheckResult came after the first
    fetch had kept the verdict and deleted the vendor's copy logged the ERROR meant for a misconfigured
    deployment."""
    record = stack.pending()
    late = FakeCloudAuth(TransactionIdInvalid("gone"))
    late.before_check = lambda: stack.fetcher(FakeCloudAuth(), delete_vendor_copy=True).fetch(record.merchant_biz_id)

    outcome = stack.fetcher(late, delete_vendor_copy=True).fetch(record.merchant_biz_id)

    assert (outcome.kind, outcome.status) == ("already_final", "PASSED")
    assert _unknown_lines(capsys.readouterr().out) == []
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and row.error is None


def test_exhausted_schedule_queues_no_recheck(stack: Stack) -> None:
    record = stack.pending()
    outcome = stack.fetcher(FakeCloudAuth(check_result_body("P")), schedule=(10.0,)).fetch(
        record.merchant_biz_id, attempt=1
    )
    assert outcome.kind == "pending" and outcome.next_check_in is None
    assert peek(stack.recheck) == []


def test_already_final_row_is_not_checked_again(stack: Stack) -> None:
    record = stack.pending()
    stack.fetcher(FakeCloudAuth()).fetch(record.merchant_biz_id)
    client = FakeCloudAuth()
    outcome = stack.fetcher(client).fetch(record.merchant_biz_id)
    assert outcome.kind == "already_final" and outcome.status == "PASSED"
    assert client.check_calls == []
    assert len(peek(stack.notify)) == 1


def test_unknown_transaction_is_reported_as_unknown(stack: Stack) -> None:
    client = FakeCloudAuth()
    assert stack.fetcher(client).fetch("nosuch").kind == "unknown"
    assert client.check_calls == []


def test_the_vendor_copy_is_deleted_only_as_a_result_already_read(stack: Stack) -> None:
    """DeleteAfterQuery Y: the vendor refuses to delete a result nobody read with CheckResult ("删除认证记录"), a
    guard of the fetcher's own order (it deletes only after keeping the CheckResult answer)."""
    record = stack.pending()
    client = FakeCloudAuth()
    stack.fetcher(client, delete_vendor_copy=True).fetch(record.merchant_biz_id)
    assert (client.delete_calls, client.deletes_after_query) == ([record.transaction_id], [True])


def test_delete_vendor_copy_runs_after_the_result_is_stored(stack: Stack) -> None:
    record = stack.pending()
    client = FakeCloudAuth()
    stored_when_deleted: list[bool] = []
    original = client.delete_verify_result

    def delete(transaction_id: str, **kwargs: Any) -> Any:
        row = stack.store.get(record.merchant_biz_id)
        stored_when_deleted.append(
            row is not None and row.status == "PASSED" and stack.objects.exists(row.result_key or "missing")
        )
        return original(transaction_id, **kwargs)

    client.delete_verify_result = delete  # type: ignore[method-assign]
    stack.fetcher(client, delete_vendor_copy=True).fetch(record.merchant_biz_id)
    assert client.delete_calls == [record.transaction_id]
    assert stored_when_deleted == [True]
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and row.vendor_copy_deleted


def test_vendor_copy_is_kept_by_default(stack: Stack) -> None:
    record = stack.pending()
    client = FakeCloudAuth()
    stack.fetcher(client).fetch(record.merchant_biz_id)
    assert client.delete_calls == []


class _BrokenQueue:
    def send(self, body: bytes, *, delay_seconds: int = 0) -> str:
        raise StorageError("queue down", transient=True, code="QueueDown")


def test_storage_error_while_scheduling_raises_recheck_not_scheduled(stack: Stack) -> None:
    record = stack.pending()
    fetcher = stack.fetcher(FakeCloudAuth(check_result_body("P")), recheck=_BrokenQueue())
    with pytest.raises(RecheckNotScheduled):
        fetcher.fetch(record.merchant_biz_id)


def test_notify_enqueue_failure_leaves_the_outbox_flag_unset(stack: Stack) -> None:
    record = stack.pending()
    outcome = stack.fetcher(FakeCloudAuth(), notify=_BrokenQueue()).fetch(record.merchant_biz_id)
    assert outcome.kind == "finalized"
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and row.status == "PASSED" and not row.notification_enqueued


def test_unparseable_vendor_answer_is_retried_later(stack: Stack) -> None:
    record = stack.pending()
    outcome = stack.fetcher(FakeCloudAuth({"Result": {"Passed": "maybe"}})).fetch(record.merchant_biz_id)
    assert outcome.kind == "retry_later"
    assert len(peek(stack.recheck)) == 1


def test_an_unparseable_answer_is_a_permanent_failure_of_the_transaction(stack: Stack) -> None:
    record = stack.pending()
    outcome = stack.fetcher(FakeCloudAuth({"Result": {"Passed": "maybe"}})).fetch(record.merchant_biz_id)
    assert outcome.permanent


@pytest.mark.parametrize(
    ("error", "permanent"),
    [
        (ParameterError("TransactionId is invalid", parameter="TransactionId"), True),
        (MalformedResponse("response body is not JSON", status=200), True),
        (CloudAuthError("refused", status=400, code="SomethingNew"), True),
        (ServerError("boom", status=500), False),
        (ThrottlingError("slow down"), False),
        (TransportError("timed out", maybe_sent=True), False),
        (AuthError("key disabled", status=403, code="InvalidAccessKeyId.Inactive"), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_a_vendor_error_is_permanent_only_when_it_refuses_this_transaction(
    stack: Stack, error: Exception, permanent: bool
) -> None:
    record = stack.pending()
    outcome = stack.fetcher(FakeCloudAuth(error)).fetch(record.merchant_biz_id)
    assert (outcome.kind, outcome.permanent) == ("retry_later", permanent)


def test_failed_verification_is_finalized_as_failed(stack: Stack) -> None:
    record = stack.pending()
    outcome = stack.fetcher(FakeCloudAuth(check_result_body("N", "205"))).fetch(record.merchant_biz_id)
    assert outcome.kind == "finalized" and outcome.status == "FAILED"
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and row.passed == "N" and row.sub_code == "205"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"merchantBizId": "abc123", "attempt": 2}, ("abc123", 2)),
        ({"merchantBizId": "abc123"}, ("abc123", 0)),
        ({"merchantBizId": "../etc", "attempt": 0}, None),
        ({"merchantBizId": "a" * 33}, None),
        ({"merchantBizId": "abc", "attempt": -1}, None),
        ({"merchantBizId": "abc", "attempt": True}, None),
        (["abc"], None),
    ],
)
def test_parse_recheck_message_accepts_only_well_formed_bodies(body: Any, expected: Any) -> None:
    assert RecheckMessage.from_body(body) == expected


# --- the product decides what a result can carry -----------------------------------------------------------------


def test_a_face_only_products_result_is_kept_without_an_identity_even_with_stray_ocr_fields(stack: Stack) -> None:
    # the vendor's answer carries an ExtIdInfo (as an eKYC answer would): the product says there is no document
    record = stack.pending(doc_type="", product_code="FACE_LIVENESS_PRO")
    outcome = stack.fetcher(FakeCloudAuth(check_result_body())).fetch(record.merchant_biz_id)
    assert outcome.kind == "finalized"
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and row.identity_masked is None
    assert row.face is not None and row.face["facePassed"] is True
    document = jsonutil.loads(stack.objects.get(stack.kept_result_key(record.merchant_biz_id)))
    assert (document["productCode"], document["docType"]) == ("FACE_LIVENESS_PRO", None)
    assert document["result"]["identity"] is None
    assert document["result"]["ocrIdInfo"]["passportNo"] == IDENTITY["passportNo"]  # kept raw, never dropped


def test_a_document_products_result_keeps_its_identity_and_face_verdicts(stack: Stack) -> None:
    record = stack.pending(doc_type="GLB03002", product_code="eKYC_PRO")
    stack.fetcher(FakeCloudAuth(check_result_body())).fetch(record.merchant_biz_id)
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and row.identity_masked is not None
    assert row.face == {"facePassed": True, "faceAttack": None, "faceComparisonScore": 97.5,
                        "authorityComparisonScore": None, "faceQualityScore": None, "faceOcclusion": None,
                        "faceAttackScore": None}
    document = jsonutil.loads(stack.objects.get(stack.kept_result_key(record.merchant_biz_id)))
    assert (document["productCode"], document["docType"]) == ("eKYC_PRO", "GLB03002")


def test_a_fetch_that_lost_to_a_rival_s_verdict_answers_with_the_stored_verdict_not_its_own(stack: Stack) -> None:
    """Found by review zz (suspected): the outcome carried the losing answer's status, so a callback or ``kyc
    refetch`` could show a verdict other than the one kept."""
    record = stack.pending()
    client = FakeCloudAuth(check_result_body("Y"))
    client.before_check = lambda: stack.store.finalize(
        record.merchant_biz_id, status="FAILED", passed="N", sub_code="205", result_key=None, identity_masked=None,
        result_version=1, now=stack.clock(),
    )
    outcome = stack.fetcher(client).fetch(record.merchant_biz_id)
    assert (outcome.kind, outcome.status) == ("already_final", "FAILED")


# --- a fetch racing an erasure or retention --------------------------------------------------------------------


def test_a_fetch_whose_row_is_erased_meanwhile_deletes_the_objects_it_wrote(stack: Stack) -> None:
    record = stack.pending()
    client = FakeCloudAuth(check_result_body("Y"))
    client.before_check = lambda: delete_kept_result(stack.store, stack.objects, record.merchant_biz_id)

    outcome = stack.fetcher(client).fetch(record.merchant_biz_id)

    assert outcome.kind == "unknown"
    assert stack.store.get(record.merchant_biz_id) is None
    assert stack.objects.list(result_prefix(record.merchant_biz_id)) == []
    assert peek(stack.notify) == []


class _FetchAfterFirstDeletion:
    """An object store whose first ``delete_prefix`` is followed by a whole fetch: the fetch read the row before the
    erasure began and keeps its result between the erasure's object and row deletions."""

    def __init__(self, inner: Any, fetch: Any) -> None:
        self._inner, self._fetch, self.deletions = inner, fetch, 0

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._inner, attr)

    def delete_prefix(self, prefix: str) -> int:
        deleted: int = self._inner.delete_prefix(prefix)
        self.deletions += 1
        if self.deletions == 1:
            self._fetch()
        return deleted


def test_deleting_a_kept_result_removes_what_a_fetch_finalized_between_its_steps(stack: Stack) -> None:
    record = stack.pending()
    fetcher = stack.fetcher(FakeCloudAuth(check_result_body("Y")))
    objects = _FetchAfterFirstDeletion(stack.objects, lambda: fetcher.fetch(record.merchant_biz_id))

    delete_kept_result(stack.store, objects, record.merchant_biz_id)

    assert stack.store.get(record.merchant_biz_id) is None
    assert stack.objects.list(result_prefix(record.merchant_biz_id)) == []


class DeletionFailsOnce:
    """An object store whose first ``delete_prefix`` fails as OSS does when it is unavailable."""

    def __init__(self, inner: Any) -> None:
        self._inner, self.failed = inner, False

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._inner, attr)

    def delete_prefix(self, prefix: str) -> int:
        if not self.failed:
            self.failed = True
            raise StorageError("oss DeleteObject 503", transient=True, code="ServiceUnavailable")
        return int(self._inner.delete_prefix(prefix))


def _erased_while_fetching(stack: Stack, *, chain_started: bool) -> tuple[str, FakeCloudAuth]:
    record = stack.pending()
    if chain_started:  # a re-check chain runs already: a callback then queues no re-check of its own
        now = stack.clock()
        assert stack.store.record_check(record.merchant_biz_id, now=now, next_check_at=None, recheck_attempt=3)
    client = FakeCloudAuth(check_result_body("Y"))
    client.before_check = lambda: delete_kept_result(stack.store, stack.objects, record.merchant_biz_id)
    return record.merchant_biz_id, client


@pytest.mark.parametrize("chain_started", [False, True])
def test_objects_a_fetch_could_not_delete_after_an_erasure_are_deleted_by_its_re_check(
    stack: Stack, chain_started: bool
) -> None:
    mbid, client = _erased_while_fetching(stack, chain_started=chain_started)
    stack.fetcher(client, objects=DeletionFailsOnce(stack.objects)).fetch(mbid)
    assert stack.objects.list(result_prefix(mbid)) != []  # left behind for now

    for body in peek(stack.recheck):
        message = RecheckMessage.from_body(body)
        assert message is not None
        stack.fetcher(client).fetch(message.merchant_biz_id, attempt=message.attempt)

    assert stack.objects.list(result_prefix(mbid)) == []


def test_a_fetch_that_can_neither_delete_its_objects_nor_queue_their_deletion_asks_for_its_trigger_again(
    stack: Stack,
) -> None:
    mbid, client = _erased_while_fetching(stack, chain_started=True)
    fetcher = stack.fetcher(client, objects=DeletionFailsOnce(stack.objects), recheck=_BrokenQueue())
    with pytest.raises(RecheckNotScheduled):
        fetcher.fetch(mbid)


# --- where a result is kept ------------------------------------------------------------------------------------


def test_a_fetch_that_loses_with_the_winners_answer_leaves_the_winners_document_byte_for_byte(stack: Stack) -> None:
    """Its own RequestId and a later clock (found by review q: both were written into result.json)."""
    mbid = stack.pending().merchant_biz_id
    winner = stack.fetcher(FakeCloudAuth(check_result_body("Y")))
    late = FakeCloudAuth({**check_result_body("Y"), "RequestId": "req-late"})
    kept: dict[str, bytes] = {}

    def winner_first() -> None:
        assert winner.fetch(mbid).kind == "finalized"
        kept["document"] = stack.objects.get(stack.kept_result_key(mbid))
        stack.clock.advance(5.0)

    late.before_check = winner_first
    assert stack.fetcher(late).fetch(mbid).kind == "already_final"

    assert stack.objects.get(stack.kept_result_key(mbid)) == kept["document"]


def test_the_vendor_s_request_id_of_the_winning_call_is_logged_not_kept(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    mbid = stack.pending().merchant_biz_id
    stack.fetcher(FakeCloudAuth(check_result_body("Y"))).fetch(mbid)

    document = jsonutil.loads(stack.objects.get(stack.kept_result_key(mbid)))
    assert "requestId" not in document["result"] and "fetchedAt" not in document
    (finalized,) = [line for line in capsys.readouterr().out.splitlines() if '"fetch.finalized"' in line]
    assert jsonutil.loads(finalized)["vendorRequestId"] == "req-1"


def test_an_answer_s_digest_does_not_depend_on_the_order_the_vendor_wrote_its_keys_in() -> None:
    """Suspected by review q, not shown of the vendor: the same answer with its keys in another order."""
    images = [("idImage", "image/jpeg", JPEG)]
    one = {"passed": "Y", "ocrIdInfo": {"surname": "DOE", "givenname": "JANE"}}
    other = {"ocrIdInfo": {"givenname": "JANE", "surname": "DOE"}, "passed": "Y"}
    assert answer_digest(one, images) == answer_digest(other, images)


@pytest.mark.parametrize(
    "other",
    [
        ({"passed": "N"}, [("idImage", "image/jpeg", JPEG)]),
        ({"passed": "Y"}, [("idImage", "image/jpeg", JPEG + b"\0")]),
        ({"passed": "Y"}, [("idImage", "image/jpeg", JPEG[:-1] + bytes([JPEG[-1] ^ 1]))]),
        ({"passed": "Y"}, [("faceImg", "image/jpeg", JPEG)]),
        ({"passed": "Y"}, []),
    ],
    ids=["verdict", "image bytes", "image bytes of the same length", "image name", "no image"],
)
def test_another_answer_has_another_digest(other: Any) -> None:
    assert answer_digest(*other) != answer_digest({"passed": "Y"}, [("idImage", "image/jpeg", JPEG)])


def test_a_losing_answer_whose_objects_cannot_be_deleted_is_left_with_a_warning(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    record = stack.pending()
    winner = stack.fetcher(FakeCloudAuth(check_result_body("Y")))
    late = FakeCloudAuth(check_result_body("Y", images=False))
    late.before_check = lambda: winner.fetch(record.merchant_biz_id)

    outcome = stack.fetcher(late, objects=DeletionFailsOnce(stack.objects)).fetch(record.merchant_biz_id)

    assert outcome.kind == "already_final"
    assert '"fetch.losing_answer_not_deleted"' in capsys.readouterr().out
    kept = jsonutil.loads(stack.objects.get(stack.kept_result_key(record.merchant_biz_id)))
    assert set(kept["images"]) == {"idImage", "faceImg"}
    assert len(stack.objects.list(result_prefix(record.merchant_biz_id))) == 4  # the winner's 3, the loser's document



# -- found by mutating shared.fetcher (review bp) ------------------------------------------------------------------


@pytest.mark.parametrize("answer", [ProcessNotCompleted("not yet"), check_result_body("P")],
                         ids=["ProcessNotCompleted", "Passed P"])
def test_a_re_check_of_an_abandoned_row_still_unfinished_ends_its_chain(stack: Stack, answer: Any) -> None:
    """record_check moves PENDING rows only: a re-check queued here could never advance the row's number, so each
    redelivery would fork the chain. A late verdict still comes by callback."""
    record = stack.pending(status="ABANDONED", recheck_attempt=1)
    outcome = stack.fetcher(FakeCloudAuth(answer)).fetch(record.merchant_biz_id, attempt=1)
    assert outcome.kind == "pending" and peek(stack.recheck) == []


def test_a_kept_verdict_s_version_is_the_fetch_s_time_in_milliseconds(stack: Stack) -> None:
    """``result_version``: the epoch milliseconds the answer was fetched at (records.TransactionRecord)."""
    record = stack.pending()
    stack.clock.advance(12.345)
    stack.fetcher(FakeCloudAuth()).fetch(record.merchant_biz_id)
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and row.result_version == int(stack.clock() * 1000)



def test_retention_of_a_verdict_deletes_its_objects_before_its_row_and_again_after(stack: Stack) -> None:
    """A verdict's objects are its own: a crash after the objects step leaves a row that still leads to what is left,
    so running retention again finishes the job."""
    record = stack.pending()
    stack.fetcher(FakeCloudAuth()).fetch(record.merchant_biz_id)
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None
    log: list[str] = []
    deleted = delete_kept_result(_Recorder(stack.store, "store", log), _Recorder(stack.objects, "objects", log),
                                 record.merchant_biz_id, as_read=row)  # type: ignore[arg-type]
    assert log == ["objects.delete_prefix", "store.delete_unchanged", "objects.delete_prefix"]
    assert deleted == 3 and stack.objects.list(result_prefix(record.merchant_biz_id)) == []


class _DeletionAnsweredBusyButApplied:
    """A conditional deletion the SDK re-sent after a busy answer: the row is gone, the call says it was not."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def delete_unchanged(self, merchant_biz_id: str, **kwargs: Any) -> bool:
        self._inner.delete(merchant_biz_id)
        return False


def test_retention_whose_row_deletion_failed_but_applied_deletes_its_objects_too(stack: Stack) -> None:
    record = stack.pending()
    stack.fetcher(FakeCloudAuth()).fetch(record.merchant_biz_id)
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None
    deleted = delete_kept_result(_DeletionAnsweredBusyButApplied(stack.store), stack.objects,  # type: ignore[arg-type]
                                 record.merchant_biz_id, as_read=row)
    assert deleted == 3 and stack.objects.list(result_prefix(record.merchant_biz_id)) == []


def test_retention_of_an_abandoned_row_deletes_what_a_failed_fetch_left_after_its_row(stack: Stack) -> None:
    record = stack.pending()
    assert stack.store.mark_abandoned(record.merchant_biz_id, now=stack.clock())
    stack.store.mark_notification_enqueued(record.merchant_biz_id, "ABANDONED", vendor_copy_pending=False)
    left = f"{result_prefix(record.merchant_biz_id)}0123456789abcdef0123/idImage.jpg"
    stack.objects.put(left, JPEG, "image/jpeg")
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None
    assert delete_kept_result(stack.store, stack.objects, record.merchant_biz_id, as_read=row) == 1
    assert stack.store.get(record.merchant_biz_id) is None
    assert stack.objects.list(result_prefix(record.merchant_biz_id)) == []


def test_the_clean_up_re_check_of_objects_left_after_an_erasure_waits_the_schedule_s_first_step(stack: Stack) -> None:
    """The object store just failed: the re-check that deletes what it could not comes a step later, as re-check 1."""
    mbid, client = _erased_while_fetching(stack, chain_started=True)
    stack.fetcher(client, objects=DeletionFailsOnce(stack.objects), schedule=(10.0, 30.0)).fetch(mbid)
    assert peek(stack.recheck) == [{"merchantBizId": mbid, "attempt": 1}]
    assert delays(stack.recheck) == [10.0]


def test_a_kept_document_names_the_document_type_the_answer_shows_when_the_row_names_none(stack: Stack) -> None:
    """A row without a docType (an optional one not sent): the type the vendor declares or its OCR fields show is
    kept with the result (the notifier announces the kept one)."""
    record = stack.pending(doc_type="")
    stack.fetcher(FakeCloudAuth()).fetch(record.merchant_biz_id)
    document = jsonutil.loads(stack.objects.get(stack.kept_result_key(record.merchant_biz_id)))
    assert document["docType"] == document["result"]["docType"] and document["docType"]


def test_a_result_whose_object_write_failed_is_checked_again_by_the_next_re_check(stack: Stack) -> None:
    record = stack.pending()
    objects = _MeetingImagePuts(stack.objects, images=2, fail="idImage.jpg")
    outcome = stack.fetcher(FakeCloudAuth(), objects=objects).fetch(record.merchant_biz_id)
    assert outcome.kind == "retry_later" and outcome.next_check_in == 10.0
    assert peek(stack.recheck) == [{"merchantBizId": record.merchant_biz_id, "attempt": 1}]
