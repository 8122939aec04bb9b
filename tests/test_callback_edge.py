"""The anonymous vendor callback's edge: what an outsider's oversized request costs the result_fetcher, which also
takes the re-check queue's batches (found by review: it decoded megabytes to tell the two apart before its 413)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared import jsonutil
from shared.callback import hash_callback_token
from shared.handlers.result_fetcher import CALLBACK_MAX_EVENT_BYTES, ResultFetcherApp
from shared.messages import RecheckMessage
from shared.storage import StorageError
from tests.fakes import FakeCloudAuth, Stack
from tests.test_races import TOKEN, callback_event
from tests.test_recheck_chains import queue_event


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path)
    yield s
    s.close()


@pytest.mark.parametrize("as_text", [False, True], ids=["bytes", "text"])
def test_an_oversized_callback_event_is_refused_before_any_of_it_is_decoded(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, as_text: bool
) -> None:
    """FC passes the event as bytes; the handler takes text as well (review bh: only bytes were tested, and the
    text branch's removal went unnoticed: a megabyte string decoded for an anonymous caller)."""
    record = stack.pending(callback_token_hash=hash_callback_token(TOKEN))
    event = callback_event(record.merchant_biz_id)
    event["body"] = "a" * (8 * 1024 * 1024)  # a GET with a body: FC hands it over as it came
    raw: bytes | str = jsonutil.dumps(event)
    if as_text:
        raw = raw.decode()
    decoded: list[int] = []
    real_loads = jsonutil.loads

    def counting_loads(data: Any, *args: Any, **kwargs: Any) -> Any:
        decoded.append(len(data))
        return real_loads(data, *args, **kwargs)

    monkeypatch.setattr(jsonutil, "loads", counting_loads)

    response = ResultFetcherApp(stack.fetcher(FakeCloudAuth())).handle(raw, None)

    assert response["statusCode"] == 413
    too_large = [size for size in decoded if size > CALLBACK_MAX_EVENT_BYTES]
    assert too_large == [], (
        f"result_fetcher JSON-decoded an anonymous event of {too_large} bytes before answering 413 "
        f"(limit {CALLBACK_MAX_EVENT_BYTES})"
    )


def test_a_queue_batch_larger_than_a_callback_may_be_is_handled_not_refused(stack: Stack) -> None:
    records = [stack.pending() for _ in range(3)]
    batch = queue_event(*(RecheckMessage(r.merchant_biz_id, 1) for r in records))
    batch[0]["data"]["padding"] = "p" * (CALLBACK_MAX_EVENT_BYTES + 1)  # what an envelope may carry besides
    raw = jsonutil.dumps(batch)
    assert len(raw) > CALLBACK_MAX_EVENT_BYTES

    answer = ResultFetcherApp(stack.fetcher(FakeCloudAuth())).handle(raw, None)

    assert "statusCode" not in answer  # a queue batch's answer, never a 413 that would drop its messages
    assert all(stack.store.get(r.merchant_biz_id).status == "PASSED" for r in records)  # type: ignore[union-attr]


def test_a_callback_whose_token_comes_as_CallbackToken_is_processed(stack: Stack) -> None:
    record = stack.pending(callback_token_hash=hash_callback_token(TOKEN))
    event = callback_event(record.merchant_biz_id)
    event["queryParameters"]["CallbackToken"] = event["queryParameters"].pop("callbackToken")

    response = ResultFetcherApp(stack.fetcher(FakeCloudAuth())).handle(event, None)

    assert response["statusCode"] == 200, response
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and row.status == "PASSED"


@pytest.mark.parametrize("token", ["a-guess", None], ids=["wrong token", "no token"])
def test_a_callback_with_a_bad_token_answers_exactly_as_one_for_an_unknown_verification(
    stack: Stack, token: str | None
) -> None:
    """Whoever holds a merchantBizId learns nothing from the anonymous callback about whether that verification
    (still) exists: the same status and body either way (the logs tell them apart)."""
    app = ResultFetcherApp(stack.fetcher(FakeCloudAuth()))
    existing = stack.pending(callback_token_hash=hash_callback_token(TOKEN))
    answers = []
    for mbid in (existing.merchant_biz_id, "0" * 32):
        event = callback_event(mbid)
        event["queryParameters"].pop("callbackToken")
        if token is not None:
            event["queryParameters"]["callbackToken"] = token
        answers.append(app.handle(event, None))

    known, unknown = answers
    assert (known["statusCode"], known["body"]) == (unknown["statusCode"], unknown["body"])
    assert known["statusCode"] == 404
    assert stack.store.get(existing.merchant_biz_id) == existing


def _store_fails_from_read(stack: Stack, monkeypatch: pytest.MonkeyPatch, failing_read: int) -> None:
    """The store answers its reads until read number ``failing_read`` (1-based), which fails as a busy Tablestore."""
    read = stack.store.get
    reads = itertools.count(1)

    def get(merchant_biz_id: str) -> Any:
        if next(reads) >= failing_read:
            raise StorageError("tablestore GetRow failed: OTSServerBusy", transient=True, code="OTSServerBusy")
        return read(merchant_biz_id)

    monkeypatch.setattr(stack.store, "get", get)


@pytest.mark.parametrize(
    "failing_read", [1, 2], ids=["the callback's own read of the row", "the fetch's read of the row"]
)
def test_a_callback_the_store_cannot_serve_is_told_to_try_again_not_a_500(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, failing_read: int
) -> None:
    """review bi: a failing store is the vendor's cue to call back later (503 ``TryAgain``), as openapi.yaml says;
    a 500 ``InternalError`` would read as this deployment's bug, and logs the failure as an unhandled one."""
    record = stack.pending(callback_token_hash=hash_callback_token(TOKEN))
    _store_fails_from_read(stack, monkeypatch, failing_read)
    response = ResultFetcherApp(stack.fetcher(FakeCloudAuth())).handle(callback_event(record.merchant_biz_id), None)
    assert (response["statusCode"], jsonutil.loads(response["body"])["error"]["code"]) == (503, "TryAgain")


@pytest.mark.parametrize("mbid", ["a" * 33, "biz-0001", "biz 0001", "ｂｉｚ0001"])
def test_a_callback_naming_a_malformed_merchant_biz_id_is_a_400_and_reads_no_row(
    stack: Stack, mbid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review bh: an id no verification can have (the vendor's 1-32 letters or digits) is refused as such before the
    store is read for an anonymous caller; no test sent one, and reading it (then a 404) went unnoticed."""
    reads: list[str] = []
    real_get = stack.store.get

    def counting_get(merchant_biz_id: str) -> Any:
        reads.append(merchant_biz_id)
        return real_get(merchant_biz_id)

    monkeypatch.setattr(stack.store, "get", counting_get)

    response = ResultFetcherApp(stack.fetcher(FakeCloudAuth())).handle(callback_event(mbid), None)

    assert response["statusCode"] == 400
    assert jsonutil.loads(response["body"])["error"]["code"] == "InvalidParameter"
    assert reads == []


def test_a_failing_store_fails_a_re_check_batch_at_once(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review bh: when the store fails the batch stops at that message and the StorageError reaches the trigger (which
    retries the batch): the other messages would meet the same store, each after a CheckResult for nothing (the
    handler's docstring; no test failed the store inside a batch, and catching it as one message's failure went
    unnoticed)."""
    records = [stack.pending() for _ in range(3)]
    app = ResultFetcherApp(stack.fetcher(FakeCloudAuth()))
    fetched: list[str] = []

    def failing_fetch(merchant_biz_id: str, **_: Any) -> Any:
        fetched.append(merchant_biz_id)
        raise StorageError("the table is unavailable", transient=True)

    monkeypatch.setattr(app.fetcher, "fetch", failing_fetch)

    with pytest.raises(StorageError):
        app.handle(queue_event(*(RecheckMessage(r.merchant_biz_id, 1) for r in records)), None)
    assert fetched == [records[0].merchant_biz_id]


# -- found by mutating the callback's handler (review bp) ----------------------------------------------------------


@pytest.mark.parametrize("token", ["a-guess", None], ids=["wrong token", "no token"])
def test_a_callback_with_a_bad_token_is_logged_as_a_security_event_that_never_shows_the_token(
    stack: Stack, token: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    """The answer is the unknown verification's; the log tells the operator it was a token that did not match."""
    app = ResultFetcherApp(stack.fetcher(FakeCloudAuth()))
    existing = stack.pending(callback_token_hash=hash_callback_token(TOKEN))
    event = callback_event(existing.merchant_biz_id)
    event["queryParameters"].pop("callbackToken")
    if token is not None:
        event["queryParameters"]["callbackToken"] = token
    assert app.handle(event, None)["statusCode"] == 404
    out = capsys.readouterr().out
    assert '"callback.bad_token"' in out and "a-guess" not in out


def test_a_queue_batch_larger_than_a_callback_may_be_is_handled_when_it_comes_as_text(stack: Stack) -> None:
    """The handler takes text as well as bytes: an oversized text is refused only when it is an HTTP event."""
    records = [stack.pending() for _ in range(2)]
    batch = queue_event(*(RecheckMessage(r.merchant_biz_id, 1) for r in records))
    batch[0]["data"]["padding"] = "p" * (CALLBACK_MAX_EVENT_BYTES + 1)
    answer = ResultFetcherApp(stack.fetcher(FakeCloudAuth())).handle(jsonutil.dumps(batch).decode(), None)
    assert "statusCode" not in answer
    assert all(stack.store.get(r.merchant_biz_id).status == "PASSED" for r in records)  # type: ignore[union-attr]
