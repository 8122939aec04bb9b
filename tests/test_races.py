"""Races: one final record and one notification, whoever gets there first.

Two callbacks for one transaction at the same moment, a callback racing the sweeper, an older re-check finishing
after a newer one — with real threads against SQLite and against the Tablestore adapter over HTTP with the real
SDK and the Tablestore double (``tablestore-wire``, which serialises row writes as the service does), and once with
two processes.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from shared import jsonutil
from shared.fetcher import FetchOutcome
from shared.handlers.result_fetcher import ResultFetcherApp
from shared.ids import result_prefix
from tests.fakes import ROW_BACKENDS, T0, FakeCloudAuth, Stack, check_result_body, peek, stack_on

TOKEN = "callback-token-for-the-race"
WAIT = 30.0


@pytest.fixture(params=ROW_BACKENDS)
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    with stack_on(request.param, tmp_path) as s:
        yield s


def _pending(stack: Stack, **overrides: Any) -> str:
    token_hash = hashlib.sha256(TOKEN.encode()).hexdigest()
    return stack.pending(callback_token_hash=token_hash, **overrides).merchant_biz_id


def callback_event(mbid: str) -> dict[str, Any]:
    return {
        "version": "v1",
        "rawPath": "/callback",
        "body": "",
        "isBase64Encoded": False,
        "headers": {},
        "queryParameters": {"merchantBizId": mbid, "callbackToken": TOKEN, "passed": "Y", "subCode": "200"},
        "requestContext": {"http": {"method": "GET", "path": "/callback", "sourceIp": "198.51.100.1"}},
    }


def _meet_inside_check_result(client: FakeCloudAuth, parties: int) -> None:
    """Every caller waits inside CheckResult until all have read the row as PENDING: a true photo finish."""
    barrier = threading.Barrier(parties, timeout=WAIT)
    client.before_check = barrier.wait


def _assert_one_final_record_and_one_notification(stack: Stack, mbid: str) -> None:
    row = stack.store.get(mbid)
    assert row is not None and row.status == "PASSED" and row.notification_enqueued
    assert stack.objects.exists(stack.kept_result_key(mbid))
    assert peek(stack.notify) == [{"merchantBizId": mbid, "attempt": 0}]


def test_two_simultaneous_callbacks_make_one_final_record_and_one_notification(stack: Stack) -> None:
    mbid = _pending(stack)
    client = FakeCloudAuth()
    _meet_inside_check_result(client, 2)
    app = ResultFetcherApp(stack.fetcher(client))
    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(lambda _: app.handle(callback_event(mbid), None), range(2)))
    assert [r["statusCode"] for r in responses] == [200, 200]
    outcomes = sorted('"finalized"' in r["body"] for r in responses)
    assert outcomes == [False, True]
    assert len(client.check_calls) == 2
    _assert_one_final_record_and_one_notification(stack, mbid)


def test_many_simultaneous_fetches_have_exactly_one_winner(stack: Stack) -> None:
    mbid = _pending(stack)
    client = FakeCloudAuth()
    _meet_inside_check_result(client, 6)
    fetcher = stack.fetcher(client)
    with ThreadPoolExecutor(6) as pool:
        kinds = [o.kind for o in pool.map(lambda _: fetcher.fetch(mbid), range(6))]
    assert sorted(kinds) == ["already_final"] * 5 + ["finalized"]
    _assert_one_final_record_and_one_notification(stack, mbid)


def test_callback_racing_the_sweeper_makes_one_final_record_and_one_notification(stack: Stack) -> None:
    mbid = _pending(stack, created_at=T0 - 1000)  # old enough for the sweeper
    client = FakeCloudAuth()
    _meet_inside_check_result(client, 2)
    fetcher = stack.fetcher(client)
    sweeper = stack.sweeper(fetcher)
    with ThreadPoolExecutor(2) as pool:
        callback = pool.submit(ResultFetcherApp(fetcher).handle, callback_event(mbid), None)
        sweep = pool.submit(sweeper.sweep)
        response, report = callback.result(WAIT), sweep.result(WAIT)
    assert response["statusCode"] == 200
    assert report.checked == 1 and report.abandoned == 0 and report.still_pending == 0
    assert int('"finalized"' in response["body"]) + report.finalized == 1
    _assert_one_final_record_and_one_notification(stack, mbid)


def test_older_recheck_finishing_after_a_newer_one_changes_nothing(stack: Stack) -> None:
    mbid = _pending(stack)
    client = FakeCloudAuth(check_result_body("Y", "200"))
    older_inside, newer_done = threading.Event(), threading.Event()
    fetcher = stack.fetcher(client)

    def hold_the_older_one() -> None:
        if threading.current_thread().name == "older":
            older_inside.set()
            assert newer_done.wait(WAIT)

    client.before_check = hold_the_older_one
    result: dict[str, FetchOutcome] = {}
    older = threading.Thread(target=lambda: result.update(older=fetcher.fetch(mbid, attempt=1)), name="older")
    older.start()
    assert older_inside.wait(WAIT)
    result["newer"] = fetcher.fetch(mbid, attempt=2)
    finalized = stack.store.get(mbid)
    newer_done.set()
    older.join(WAIT)

    assert result["newer"].kind == "finalized" and result["older"].kind == "already_final"
    row = stack.store.get(mbid)
    assert row is not None and finalized is not None
    assert (row.finalized_at, row.result_version, row.status) == (
        finalized.finalized_at,
        finalized.result_version,
        finalized.status,
    )
    _assert_one_final_record_and_one_notification(stack, mbid)


def test_a_fetch_that_loses_the_race_leaves_the_winners_result_and_images_as_they_were_kept(stack: Stack) -> None:
    """The losing fetch read the row as PENDING, then got another answer than the winner's: here one without its
    images, as the vendor might answer after the winner deleted its copy (unverified: our sandbox answers
    TransactionIdInvalid then). The row's document and images stay the winner's; the loser's are gone."""
    mbid = _pending(stack)
    winner = stack.fetcher(FakeCloudAuth(check_result_body("Y")))
    late = FakeCloudAuth(check_result_body("Y", images=False))
    late.before_check = lambda: winner.fetch(mbid)

    outcome = stack.fetcher(late).fetch(mbid)

    assert outcome.kind == "already_final"
    row = stack.store.get(mbid)
    assert row is not None and row.result_key is not None
    document = jsonutil.loads(stack.objects.get(row.result_key))
    assert set(document["images"]) == {"idImage", "faceImg"}
    assert sorted(stack.objects.list(result_prefix(mbid))) == sorted([row.result_key, *document["images"].values()])


def test_a_fetch_that_loses_with_the_winners_answer_leaves_the_winners_objects(stack: Stack) -> None:
    """The same answer (its own RequestId, as every call has) is kept under the same keys: the loser rewrote them
    with the same content, and must not delete them."""
    mbid = _pending(stack)
    winner = stack.fetcher(FakeCloudAuth(check_result_body("Y")))
    late = FakeCloudAuth({**check_result_body("Y"), "RequestId": "req-late"})
    late.before_check = lambda: winner.fetch(mbid)

    assert stack.fetcher(late).fetch(mbid).kind == "already_final"

    key = stack.kept_result_key(mbid)
    document = jsonutil.loads(stack.objects.get(key))
    assert sorted(stack.objects.list(result_prefix(mbid))) == sorted([key, *document["images"].values()])


def test_sweeper_abandoning_while_the_real_result_arrives_ends_with_the_real_result(stack: Stack) -> None:
    mbid = _pending(stack, created_at=T0 - 90_000)  # past abandon_after
    sweeper_client = FakeCloudAuth(check_result_body("P"))  # the sweeper saw "still pending"
    callback_client = FakeCloudAuth()  # the callback sees the final answer
    _meet_sweeper = threading.Barrier(2, timeout=WAIT)
    sweeper_client.before_check = _meet_sweeper.wait
    callback_client.before_check = _meet_sweeper.wait
    sweeper = stack.sweeper(stack.fetcher(sweeper_client))
    with ThreadPoolExecutor(2) as pool:
        sweep = pool.submit(sweeper.sweep)
        fetch = pool.submit(stack.fetcher(callback_client).fetch, mbid)
        sweep.result(WAIT)
        fetch.result(WAIT)
    row = stack.store.get(mbid)
    assert row is not None and row.status == "PASSED"  # the vendor's answer beats the sweeper's guess
    assert row.notification_enqueued
    assert {"merchantBizId": mbid, "attempt": 0} in peek(stack.notify)


# -- two processes on one SQLite database ----------------------------------------------------------------------


def _fetch_in_process(root: str, mbid: str, barrier: Any, out: Any) -> None:
    stack = Stack(Path(root))
    client = FakeCloudAuth()
    client.before_check = lambda: barrier.wait(WAIT)  # both processes have read the row as PENDING
    out.put(stack.fetcher(client).fetch(mbid).kind)
    stack.close()


def test_two_processes_fetching_one_transaction_finalize_once(tmp_path: Path) -> None:
    stack = Stack(tmp_path)
    mbid = _pending(stack)
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_fetch_in_process, args=(str(tmp_path), mbid, barrier, out)) for _ in range(2)]
    for p in procs:
        p.start()
    kinds = sorted(out.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert kinds == ["already_final", "finalized"]
    _assert_one_final_record_and_one_notification(stack, mbid)
    stack.close()
