"""The Tablestore SDK over ``DeadlineTransport``: the requests and answers of its own urllib3 transport, and one
deadline per call (an answer dripped byte by byte, the SDK's retries, a connection cut off and never reused).

The oracle is the SDK itself: the same ``OTSClient`` calls, once through its own ``tablestore.connection``
``ConnectionPool`` and once through ``DeadlineTransport``, against the Tablestore double (which checks every
request's signature and Content-MD5, as the SDK checks every answer's).
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator
from typing import Any

import pytest
import tablestore

from shared.http_deadline import CallDeadline
from shared.storage import StorageError, TablestoreTransactionStore
from shared.storage.tablestore_store import BoundedRetry
from shared.storage.tablestore_transport import DeadlineTransport

from .conftest import TABLE, tablestore_double, wire_store


@pytest.fixture
def double() -> Iterator[Any]:
    with tablestore_double() as ots:
        yield ots


def _with_deadline_transport(client: Any, seconds: float = 5.0) -> Any:
    client.connection = DeadlineTransport(client.host, client.path, CallDeadline(seconds), connect_timeout=1,
                                          read_timeout=1)  # fmt: skip
    return client


def _exercise(client: Any) -> list[Any]:
    """A write, a failed conditional write, reads (single, range, batch) and a delete, each answer reduced to what
    the SDK decoded (server-assigned timestamps and request ids left out)."""
    key = [("merchant_biz_id", "biz-transport")]
    row = tablestore.Row(key, [("status", "PENDING"), ("check_count", 0)])
    not_there = tablestore.Condition(tablestore.RowExistenceExpectation.EXPECT_NOT_EXIST)
    outcomes: list[Any] = []
    consumed, _ = client.put_row(TABLE, row, not_there)
    outcomes.append(("put", consumed.read, consumed.write))
    try:
        client.put_row(TABLE, row, not_there)
    except tablestore.OTSServiceError as exc:
        outcomes.append(("put again", exc.http_status, exc.code, exc.message))
    _, got, _ = client.get_row(TABLE, key, max_version=1)
    outcomes.append(("get", got.primary_key, [(c[0], c[1]) for c in got.attribute_columns]))
    _, next_start, rows, _ = client.get_range(
        TABLE, tablestore.Direction.FORWARD, [("merchant_biz_id", tablestore.INF_MIN)],
        [("merchant_biz_id", tablestore.INF_MAX)], max_version=1,
    )  # fmt: skip
    outcomes.append(("range", next_start, [r.primary_key for r in rows]))
    batch = tablestore.BatchGetRowRequest()
    batch.add(tablestore.TableInBatchGetRowItem(TABLE, [key, [("merchant_biz_id", "absent")]], max_version=1))
    items = client.batch_get_row(batch).get_result_by_table(TABLE)
    outcomes.append(("batch", [(i.is_ok, i.row.primary_key if i.row else None) for i in items]))
    client.delete_row(TABLE, tablestore.Row(key), tablestore.Condition(tablestore.RowExistenceExpectation.IGNORE))
    return outcomes


def _requests(double: Any, since: int) -> list[tuple[str, str, dict[str, str], bytes]]:
    return [(r.request.method, r.request.path, r.request.headers, r.request.body) for r in double.received()[since:]]


def test_the_sdk_sends_the_same_requests_and_decodes_the_same_answers_as_over_its_own_transport(
    double: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.datetime.now(datetime.timezone.utc)  # one x-ots-date, so that the signatures match too
    monkeypatch.setattr(tablestore.utils, "get_now_utc_datetime", lambda: now)
    first = len(double.received())
    over_urllib3 = _exercise(double.client())
    middle = len(double.received())
    over_deadline = _exercise(_with_deadline_transport(double.client()))

    assert over_deadline == over_urllib3
    assert over_urllib3[1][1:3] == (403, "OTSConditionCheckFail")  # the service's errors decoded alike
    sent_by_urllib3, sent_by_us = _requests(double, first)[: middle - first], _requests(double, middle)
    assert len(sent_by_us) == len(sent_by_urllib3) == 6
    assert sent_by_us == sent_by_urllib3  # method, target, every header (Host, Accept-Encoding...) and the body


def test_calls_share_one_kept_alive_connection(double: Any) -> None:
    store = wire_store(double)
    for _ in range(3):
        assert store.get("nobody") is None
    assert store._client.connection.pool.connections_opened == 1


def test_an_answer_dripped_byte_by_byte_ends_at_the_call_s_deadline_as_a_transient_transport_error(
    double: Any,
) -> None:
    store = wire_store(double, call_deadline=1.0)
    assert store.get("nobody") is None  # the SDK imported and the client built: not part of what is timed
    # The GetRow answer (status line, ~10 headers, the body) is several hundred bytes: over 30 s at 0.1 s a byte, a
    # pace urllib3's read timeout (5 s per wait) never trips.
    double.set_faults({"operations": {"GetRow": {"sequence": ["drip:0.1"]}}})
    started = time.monotonic()
    with pytest.raises(StorageError) as caught:
        store.get("nobody")
    elapsed = time.monotonic() - started

    assert (caught.value.code, caught.value.transient, caught.value.maybe_sent) == ("TransportError", True, True)
    assert elapsed < 2.0, elapsed  # the deadline (1 s) with room for a loaded machine


def test_a_connection_cut_off_at_the_deadline_is_closed_and_never_reused(double: Any) -> None:
    store = wire_store(double, call_deadline=1.0)
    assert store.get("nobody") is None
    pool = store._client.connection.pool
    double.set_faults({"operations": {"GetRow": {"sequence": ["drip:0.1"]}}})
    with pytest.raises(StorageError):
        store.get("nobody")

    assert store.get("nobody") is None  # the next call: a new connection, not the one still dripping
    assert pool.connections_opened == 2
    waited = 0.0
    while double.stats()["faults"].get("drip-cut-off") != 1 and waited < 2:  # the double sees the hang-up
        time.sleep(0.05)
        waited += 0.05
    assert double.stats()["faults"].get("drip-cut-off") == 1


def test_no_sdk_retry_starts_whose_backoff_would_end_past_the_call_s_deadline(double: Any) -> None:
    retry = BoundedRetry(max_retries=10, base_delay=0.4, max_delay=0.4, retry_window=60, jitter=lambda: 1.0)
    store = wire_store(double, retry=retry, call_deadline=1.0)
    assert store.get("nobody") is None
    double.set_faults({"operations": {"GetRow": {"sequence": ["OTSServerBusy"] * 20}}})
    double.reset_stats()
    started = time.monotonic()
    with pytest.raises(StorageError) as caught:
        store.get("nobody")
    elapsed = time.monotonic() - started

    assert (caught.value.code, caught.value.transient) == ("OTSServerBusy", True)
    # Retries at about 0.4 s and 0.8 s; the next backoff (0.4 s) would end past 1 s. Without the deadline: 11
    # requests over 4 s (the window of 60 s allows them all).
    assert 2 <= double.stats()["requests"]["GetRow"] <= 3
    assert elapsed < 1.5, elapsed


def test_schema_calls_each_get_their_own_deadline(double: Any) -> None:
    store = wire_store(double, call_deadline=0.5)
    double.set_faults({"operations": {"*": {"delayRate": 1.0, "delaySeconds": 0.2}}})
    double.reset_stats()
    report = store.check_schema()  # ListTable and a DescribeTable per table: together past 0.5 s, each within it
    assert report.ok
    assert sum(double.stats()["requests"].values()) >= 3


@pytest.mark.parametrize("seconds", [0, -1, float("nan"), float("inf")])
def test_a_call_deadline_that_is_not_a_positive_number_of_seconds_is_refused(seconds: float) -> None:
    with pytest.raises(ValueError, match="call deadline"):
        TablestoreTransactionStore(table=TABLE, client=object(), call_deadline=seconds)


def test_every_exchange_of_a_call_runs_against_that_call_s_one_deadline() -> None:
    """review bi: the transports ask ``current()`` for each exchange's deadline (every attempt the SDK makes, each
    of its retries): inside a call it is the call's, so that attempts and retries together end by it; a fresh one
    per exchange would let a call last its deadline once per attempt."""
    now = [0.0]
    call = CallDeadline(10.0, clock=lambda: now[0])
    with call.running() as deadline:
        now[0] = 7.0  # a first attempt took most of the call
        assert call.current() is deadline and call.current().remaining() == 3.0
    assert call.current() is not deadline and call.current().remaining() == 10.0  # outside any call: its own


def test_a_call_opened_inside_another_keeps_the_outer_call_s_deadline_to_its_end() -> None:
    """review bi: ``OssObjectStore.get`` opens a call around GetObject (itself a call) to read the body under the
    same deadline; the inner call neither starts a new deadline nor ends the outer one when it returns."""
    now = [0.0]
    call = CallDeadline(10.0, clock=lambda: now[0])
    with call.running() as outer:
        now[0] = 4.0
        with call.running() as inner:
            assert inner is outer
        assert call.time_left() == 6.0  # the body is still read against the outer call's deadline
    assert call.time_left() is None
