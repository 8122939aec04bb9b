"""The invocation's time budget (``shared.fc.budget``) and the initializer's use of it: a billed start is made only
when the time left covers it and its row, and the rate-limit claim retries a lost race only while it can afford to."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from shared import jsonutil
from shared.auth import issue_token
from shared.fc.budget import InvocationBudget
from shared.handlers.initializer import InitializerApp
from shared.storage import OutOfTime, SqliteTransactionStore
from shared.verifications import START_MARGIN_SECONDS
from tests.fakes import FAKE_SETTINGS, T0, FakeClock, FakeCloudAuth
from tests.test_initializer_app import META, SECRET, SUB, _settings

STORE_CALL = 11.0  # the call deadline of the store stand-in below (Tablestore's default)
#: What a start's budget checks guarantee: the billed part (the vendor call, the create, the margin) and one more
#: store call (a create's read-back, or a keyed start's give-back).
BILLED_PART = FAKE_SETTINGS.call_deadline + STORE_CALL + START_MARGIN_SECONDS + STORE_CALL


def _context(timeout: Any) -> Any:
    return SimpleNamespace(request_id="req-1", function=SimpleNamespace(name="initializer", timeout=timeout))


# -- the budget ---------------------------------------------------------------------------------------------------


def test_the_budget_is_the_function_s_timeout_counted_from_when_it_is_made() -> None:
    clock = FakeClock(100.0)
    budget = InvocationBudget.from_context(_context(60), clock=clock)
    clock.advance(45.0)
    assert budget.left() == 15.0 and budget.has(15.0) and not budget.has(15.5)
    clock.advance(20.0)
    assert budget.left() == 0.0


@pytest.mark.parametrize("context", [None, SimpleNamespace(request_id="r"), _context(None), _context(0),
                                     _context("60"), _context(True)])  # fmt: skip
def test_without_a_usable_timeout_in_the_context_the_budget_is_unbounded(context: Any) -> None:
    budget = InvocationBudget.from_context(context, clock=FakeClock())
    assert not budget.bounded and budget.has(10**9)


# -- the initializer ------------------------------------------------------------------------------------------------


class TimedStore:
    """The SQLite store with a call deadline, whose rate-counter claim takes ``claim_seconds`` on the budget's clock
    and loses its race ``conflicts`` times (each lost round costing a read and a write at their deadlines)."""

    call_deadline = STORE_CALL

    def __init__(self, inner: SqliteTransactionStore, clock: FakeClock, claim_seconds: float = 0.0,
                 conflicts: int = 0) -> None:  # fmt: skip
        self._inner, self._clock, self.claim_seconds, self.conflicts = inner, clock, claim_seconds, conflicts
        self.rounds = 0
        self.claims = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def increment_rate_counter(
        self, key: str, limit: int, expires_at: float, *, another_round: Callable[[], bool] | None = None
    ) -> bool:
        self.claims += 1
        self._clock.advance(self.claim_seconds)
        for _ in range(self.conflicts):
            self.rounds += 1
            self._clock.advance(2 * STORE_CALL)
            if another_round is not None and not another_round():
                raise OutOfTime("no time for another round")
        return self._inner.increment_rate_counter(key, limit, expires_at)


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[SqliteTransactionStore]:
    store = SqliteTransactionStore(tmp_path / "kyc.sqlite3")
    yield store
    store.close()


def _post(app: InitializerApp, timeout: Any) -> tuple[int, dict[str, str], Any]:
    event = {
        "version": "v1", "rawPath": "/verifications", "isBase64Encoded": False,
        "body": jsonutil.dumps_str({"docType": "01000000", "metaInfo": META}),
        "headers": {"Content-Type": "application/json", "Authorization": f"Bearer {issue_token(SUB, SECRET)}"},
        "requestContext": {"http": {"method": "POST", "path": "/verifications", "sourceIp": "203.0.113.7"}},
    }  # fmt: skip
    response = app.handle(event, _context(timeout))
    return response["statusCode"], response["headers"], jsonutil.loads(response["body"] or "null")


def _app(store: Any, client: FakeCloudAuth, clock: FakeClock, rate_limit: int = 1) -> InitializerApp:
    return InitializerApp(settings=_settings(rate_limit), client=client, store=store, clock=FakeClock(T0),  # type: ignore[arg-type]
                          monotonic=clock)  # fmt: skip


def test_a_timeout_that_cannot_cover_the_billed_start_and_its_row_starts_nothing(
    sqlite: SqliteTransactionStore,
) -> None:
    clock, client = FakeClock(0.0), FakeCloudAuth()
    status, headers, body = _post(_app(TimedStore(sqlite, clock), client, clock), BILLED_PART - 0.5)
    assert (status, body["error"]["code"], headers["retry-after"]) == (503, "TryAgain", "1")
    assert client.initialize_calls == []


def test_a_function_timeout_that_could_never_cover_a_start_is_logged_as_an_error(
    sqlite: SqliteTransactionStore, capsys: pytest.CaptureFixture[str]
) -> None:
    clock, client = FakeClock(0.0), FakeCloudAuth()
    app = _app(TimedStore(sqlite, clock), client, clock)
    assert _post(app, BILLED_PART - 0.5)[0] == 503
    assert "initialize.timeout_too_short" in capsys.readouterr().out
    assert _post(app, 30.0 + BILLED_PART)[0] == 201  # a slow moment of a timeout that can cover it: no such error
    assert "initialize.timeout_too_short" not in capsys.readouterr().out


def test_a_claim_that_leaves_too_little_time_gives_the_slot_back_and_bills_nothing(
    sqlite: SqliteTransactionStore,
) -> None:
    clock, client = FakeClock(0.0), FakeCloudAuth()
    app = _app(TimedStore(sqlite, clock, claim_seconds=30.0), client, clock, rate_limit=1)
    status, _, body = _post(app, 30.0 + BILLED_PART - 0.5)
    assert (status, body["error"]["code"]) == (503, "TryAgain")
    assert client.initialize_calls == []
    assert _post(app, 30.0 + BILLED_PART)[0] == 201  # the one slot of the hour was given back


def test_exactly_enough_time_left_for_the_billed_part_starts_and_stores_the_verification(
    sqlite: SqliteTransactionStore,
) -> None:
    clock, client = FakeClock(0.0), FakeCloudAuth()
    status, _, body = _post(_app(TimedStore(sqlite, clock, claim_seconds=30.0), client, clock), 30.0 + BILLED_PART)
    assert status == 201 and sqlite.get(body["merchantBizId"]) is not None


def test_the_claim_retries_a_lost_race_only_while_another_round_and_the_billed_part_fit(
    sqlite: SqliteTransactionStore,
) -> None:
    clock, client = FakeClock(0.0), FakeCloudAuth()
    store = TimedStore(sqlite, clock, conflicts=8)
    timeout = 3 * 2 * STORE_CALL + BILLED_PART  # three rounds fit; a fourth would eat the billed part
    status, headers, body = _post(_app(store, client, clock), timeout)
    assert (status, body["error"]["code"], headers["retry-after"]) == (503, "TryAgain", "1")
    assert store.rounds == 3 and client.initialize_calls == []  # a fourth round was never started


def test_without_a_timeout_in_the_context_the_claim_retries_as_the_store_allows(
    sqlite: SqliteTransactionStore,
) -> None:
    clock, client = FakeClock(0.0), FakeCloudAuth()
    store = TimedStore(sqlite, clock, conflicts=8)
    assert _post(_app(store, client, clock), None)[0] == 201
    assert store.rounds == 8


# -- the Tablestore claim's rounds ---------------------------------------------------------------------------------


def test_the_tablestore_claim_asks_before_each_retry_and_stops_when_told(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.storage.conftest import tablestore_double, wire_store

    with tablestore_double() as double:
        store = wire_store(double)
        assert store.increment_rate_counter("k", 5, 9e9) is True  # created: a counter to race on
        monkeypatch.setattr(store, "_update", lambda *a, **k: False)  # every conditional write loses its race
        asked: list[int] = []

        def another_round() -> bool:
            asked.append(1)
            return len(asked) < 3

        with pytest.raises(OutOfTime):
            store.increment_rate_counter("k", 5, 9e9, another_round=another_round)
        assert len(asked) == 3  # before the 2nd, 3rd and 4th rounds; never before the first


# -- the sweeper ----------------------------------------------------------------------------------------------------


def test_the_sweeper_function_sweeps_within_the_timeout_its_context_gives(tmp_path: Path) -> None:
    """review bi: the timer's pass is bounded by the function's timeout from FC's context, as the initializer's
    requests are: a pass that ignored it would start CheckResult calls FC then cuts off part-way."""
    from shared.handlers.sweeper import SweeperApp
    from tests.fakes import Stack

    stack = Stack(tmp_path)
    try:
        stack.pending(created_at=T0 - 1000)
        client = FakeCloudAuth()
        timer = {"triggerTime": "2026-01-01T00:00:00Z", "triggerName": "sweep", "payload": ""}
        app = SweeperApp(stack.sweeper(stack.fetcher(client)))
        spent = app.handle(timer, _context(1e-9))  # a timeout already over when the pass starts
        assert spent["checked"] == 0 and "recheck" in spent["stoppedEarly"] and client.check_calls == []
        assert app.handle(timer, _context(None))["checked"] == 1  # no timeout in the context: unbounded
    finally:
        stack.close()


# -- found by mutating shared.verifications (review bp) ------------------------------------------------------------


def test_a_timeout_that_cannot_cover_the_billed_part_counts_nothing_against_the_hour(
    sqlite: SqliteTransactionStore,
) -> None:
    """Refused before the rate claim: no counter write at all (not a claim and its give-back)."""
    clock, client = FakeClock(0.0), FakeCloudAuth()
    store = TimedStore(sqlite, clock)
    assert _post(_app(store, client, clock), BILLED_PART - 0.5)[0] == 503
    assert store.claims == 0


def test_a_slot_whose_release_no_longer_fits_the_invocation_is_kept(
    sqlite: SqliteTransactionStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """Less than a read and a write left after a slow claim: the refusal is answered, the slot stays counted (it only
    lowers the user's limit this hour)."""
    clock, client = FakeClock(0.0), FakeCloudAuth()
    app = _app(TimedStore(sqlite, clock, claim_seconds=100.0), client, clock, rate_limit=1)
    assert _post(app, 100.0 + 2 * STORE_CALL - 1.0)[0] == 503
    assert "initialize.slot_not_released" in capsys.readouterr().out
    assert _post(app, None)[0] == 429
