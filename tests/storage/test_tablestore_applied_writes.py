"""Tablestore writes the service applied but answered with an error: an Idempotency-Key's claim (reviews z, aa),
a verification's row (reviews bb, cc) and the hourly rate counter (review cc).

The Tablestore SDK retries every operation, writes included, on throttling and busy answers
(``tablestore.retry.RetryUtil.should_retry_no_matter_which_api``: OTSServerBusy, OTSPartitionUnavailable,
OTSRowOperationConflict, ...; ``BoundedRetry`` keeps that rule). The 503s come from a partition being moved or split
("Why a few 500 errors occur when using Tablestore"), so a write may be applied and still answered with one; the
SDK then sends it again, and the conditional write fails against its own first attempt: ``take_claim`` reads the
claim again and finds its own holder (``create`` reads back for the same reason: ``RecordExists`` on a retry).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import tablestore

from shared.auth import hash_user_id
from shared.fc.budget import InvocationBudget
from shared.ids import idempotency_claim_key
from shared.ratelimit import WINDOW_SECONDS, counter_key
from shared.storage import OutOfTime, StorageError, TablestoreTransactionStore
from shared.storage.tablestore_store import RATE_ATTEMPTS, RATE_WRITES_KEPT
from shared.verifications import Refused, Verifications
from tests.fakes import T0, FakeClock, FakeCloudAuth, Stack, peek
from tests.test_idempotency_key import (
    KEY,
    S_YAML_TIMEOUT,
    STORE_CALL,
    Elapsed,
    NumberedVendor,
    SlowVendor,
    _app,
    _post,
)
from tests.test_initializer_app import PEPPER, SUB, _settings, _start

from .conftest import make_record, tablestore_double, wire_store


class AppliedThenBusy:
    """The store's transport: the first request to ``operation`` reaches the service (applied), but its answer is
    replaced by a 503 ``code`` (OTSServerBusy: the SDK sends the same request again; OTSTimeout: it does not)."""

    def __init__(self, inner: Any, operation: str, code: str = "OTSServerBusy") -> None:
        self._inner = inner
        self.operation = operation
        self.code = code
        self.armed = False
        self.sent: list[str] = []
        #: Called with each request's operation before it is forwarded (what happens meanwhile elsewhere).
        self.before: Callable[[str], None] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def send_receive(self, url: str, headers: dict[str, str], body: bytes) -> Any:
        self.sent.append(url.rsplit("/", 1)[-1])
        if self.before is not None:
            self.before(self.sent[-1])
        answer = self._inner.send_receive(url, headers, body)
        if self.armed and url.endswith("/" + self.operation):
            self.armed = False
            raise tablestore.OTSServiceError(503, self.code, "answered after the write was applied", "req-review-z")
        return answer


@pytest.fixture
def wire() -> Iterator[tuple[TablestoreTransactionStore, Any]]:
    with tablestore_double() as double:
        store = wire_store(double)
        store.get("warm" + "0" * 28)  # builds the SDK client and its transport
        yield store, double


def _flaky(store: TablestoreTransactionStore, operation: str, code: str = "OTSServerBusy") -> AppliedThenBusy:
    client = store._client  # the seam the SDK sends every attempt through
    flaky = AppliedThenBusy(client.connection, operation, code)
    client.connection = flaky
    return flaky


def test_a_new_claim_whose_take_the_sdk_sent_twice_is_held_by_that_take(
    wire: tuple[TablestoreTransactionStore, Any],
) -> None:
    store, _ = wire
    flaky = _flaky(store, "PutRow")
    flaky.armed = True

    taken = store.take_claim("ikreviewz", "holder-a", 900.0, 50.0)

    assert flaky.sent.count("PutRow") == 2, flaky.sent  # the SDK did re-send the applied take
    # The claim is holder-a's (it can give it back, nobody else can take it), so this take took it.
    assert taken is True, "take_claim answered False for a claim that this very call holds"


def test_an_expired_claim_whose_retake_the_sdk_sent_twice_is_held_by_that_take(
    wire: tuple[TablestoreTransactionStore, Any],
) -> None:
    store, _ = wire
    assert store.take_claim("ikreviewz", "earlier", 45.0, 40.0) is True  # held until 45: free again at 50
    flaky = _flaky(store, "UpdateRow")
    flaky.armed = True

    taken = store.take_claim("ikreviewz", "holder-a", 900.0, 50.0)

    assert flaky.sent.count("UpdateRow") == 2, flaky.sent
    assert taken is True, "take_claim answered False for a claim that this very call holds"


def test_a_take_the_sdk_sent_twice_leaves_no_claim_nobody_will_give_back(
    wire: tuple[TablestoreTransactionStore, Any],
) -> None:
    """What the caller does with a False take: 409 IdempotencyKeyInUse, no give-back (it holds nothing). The claim
    must then be free for the user's repeat, not held for a day by a holder nobody knows."""
    store, _ = wire
    flaky = _flaky(store, "PutRow")
    flaky.armed = True
    if store.take_claim("ikreviewz", "holder-a", 900.0, 50.0):
        store.give_back_claim("ikreviewz", "holder-a")  # a correct take: the start failed later and gave it back

    assert store.take_claim("ikreviewz", "repeat", 900.0, 51.0) is True, (
        "the key stays claimed by a start that was told 409 and will never give it back"
    )


def test_a_keyed_start_whose_claim_the_sdk_sent_twice_starts_and_is_not_refused_as_in_use(
    wire: tuple[TablestoreTransactionStore, Any],
) -> None:
    """End to end through POST /verifications: the user's first and only request must not be told that a request
    with its key is in progress, nor its repeat for the rest of the day."""
    store, _ = wire
    vendor = NumberedVendor()
    app = _app(store, vendor)
    flaky = _flaky(store, "PutRow")
    flaky.armed = True
    first = _post(app, _start())
    flaky.armed = False  # nothing else is lost
    repeat = _post(app, _start())

    assert flaky.sent.count("PutRow") >= 2, flaky.sent
    assert (first[0], repeat[0]) == (201, 201), (first[2], repeat[2])


def test_a_claim_whose_take_timed_out_at_the_service_is_given_back_so_the_repeat_starts(
    wire: tuple[TablestoreTransactionStore, Any],
) -> None:
    """OTSTimeout (503 "Operation timeout") on a write is not retried by the SDK (only reads are); the service timed
    out waiting for the write, which may have been applied (a ``maybe_sent`` StorageError since review bb). The
    give-back names its holder, so it is safe whatever became of the take (review z)."""
    store, _ = wire
    vendor = NumberedVendor()
    app = _app(store, vendor)
    flaky = _flaky(store, "PutRow", "OTSTimeout")
    flaky.armed = True
    first = _post(app, _start())
    repeat = _post(app, _start())

    assert (first[0], first[2]["error"]["code"]) == (503, "StorageUnavailable")
    assert repeat[0] == 201, repeat[2]


# -- a take stopped for time after its own write was applied (review aa) ----------------------------------------


def test_a_take_that_stops_for_time_after_its_own_write_was_applied_is_freed_by_its_give_back(
    wire: tuple[TablestoreTransactionStore, Any],
) -> None:
    """OutOfTime after a round whose write was applied, answered busy and re-sent (the copy lost its condition):
    the claim is this holder's, and its give-back frees it (what the service does after any failed take)."""
    store, _ = wire
    hooked = _flaky(store, "PutRow")
    hooked.armed = True

    with pytest.raises(OutOfTime):
        store.take_claim("ikreviewaa", "holder-a", 900.0, 50.0, another_round=lambda: False)

    assert hooked.sent.count("PutRow") == 2, hooked.sent  # applied, answered busy, re-sent, condition failed
    assert store.give_back_claim("ikreviewaa", "holder-a") is True
    assert store.take_claim("ikreviewaa", "someone-else", 900.0, 51.0) is True


def test_a_keyed_start_out_of_time_after_its_claim_was_applied_leaves_the_key_free_for_the_repeat(
    wire: tuple[TablestoreTransactionStore, Any],
) -> None:
    """Through Verifications.start, every call at most at its deadline. The claim was given back by an earlier
    start; round 1 of this take loses its race to a concurrent start with the key that takes and gives it back
    (refused quickly); round 2's write is applied and answered busy (SDK re-send, condition fails); both rounds took
    their deadlines, so the budget refuses round 3. The user is told 503 TryAgain ("nothing was started, try
    again"): the try again must not be 409 IdempotencyKeyInUse for the rest of the day. (Since review ap a claim is
    given back by deleting it: round 1 updates an expired claim, and the give-back's deletion is the applied write
    answered busy.)"""
    store, double = wire
    rival = wire_store(double)
    clock = FakeClock(T0)
    service = Verifications(settings=_settings(rate_limit=0), client=NumberedVendor(), store=store,  # type: ignore[arg-type]
                            clock=clock)
    owner = hash_user_id(SUB, PEPPER)
    claim = idempotency_claim_key(owner, KEY, PEPPER)
    assert store.take_claim(claim, "earlier", T0 - 5, T0 - 10)  # expired at T0: round 1 updates it

    store_call = service.store_call_seconds
    seconds = [0.0]
    budget = InvocationBudget(5 * store_call + service.billed_part_seconds + 0.5, clock=lambda: seconds[0])
    hooked = _flaky(store, "DeleteRow")
    updates = []

    def before(operation: str) -> None:
        if operation not in ("UpdateRow", "DeleteRow"):
            return
        updates.append(operation)
        if len(updates) == 1:  # round 1: a concurrent start takes the claim and gives it back before our write
            assert rival.take_claim(claim, "rival", T0 + 86401, T0) and rival.give_back_claim(claim, "rival")
            seconds[0] += 2 * store_call  # the round's read and write, each at its deadline
        elif len(updates) == 2:  # round 2: applied, answered busy, re-sent (below)
            hooked.armed = True
            seconds[0] += 2 * store_call

    hooked.before = before
    with pytest.raises(Refused) as first:
        service.start(owner, _start(), budget=budget, idempotency_key=KEY)
    hooked.before = None
    assert first.value.code == "TryAgain", first.value.code
    assert hooked.sent.count("UpdateRow") >= 1 and hooked.sent.count("DeleteRow") >= 2, hooked.sent  # re-sent

    try:  # the repeat a moment later, with all the time it needs
        service.start(owner, _start(), budget=InvocationBudget(600.0, clock=lambda: 0.0), idempotency_key=KEY)
        repeat = "201"
    except Refused as exc:
        repeat = exc.code
    assert repeat == "201", (
        "a start answered 503 TryAgain kept its Idempotency-Key's claim (OutOfTime after its own applied write): "
        "the repeat is 409 IdempotencyKeyInUse until the claim lapses"
    )


# -- a row create applied but answered OTSTimeout (review bb) -----------------------------------------------------


def test_a_write_answered_with_a_5xx_may_have_been_applied(wire: tuple[TablestoreTransactionStore, Any]) -> None:
    """OTSTimeout (503 "Operation timeout"): the SDK does not re-send a write on it."""
    store, _ = wire
    flaky = _flaky(store, "PutRow", "OTSTimeout")
    flaky.armed = True
    record = make_record()
    with pytest.raises(StorageError) as failed:
        store.create(record)
    assert failed.value.maybe_sent and failed.value.status == 503
    assert store.get(record.merchant_biz_id) == record  # it was


def test_a_start_whose_create_was_applied_but_answered_otstimeout_answers_with_its_verification(
    wire: tuple[TablestoreTransactionStore, Any],
) -> None:
    """The create's answer is read back, as for a lost one: the vendor billed the start and its row is stored (it
    was a 503 StorageUnavailable: the user started, and paid, again)."""
    store, _ = wire
    vendor = NumberedVendor()
    app = _app(store, vendor, rate_limit=0)
    flaky = _flaky(store, "PutRow", "OTSTimeout")

    def arm_on_the_create(operation: str) -> None:
        # With the rate limit off, a keyed start's PutRows are the claim's take, then the row's create.
        if operation == "PutRow" and flaky.sent.count("PutRow") == 2:
            flaky.armed = True

    flaky.before = arm_on_the_create

    status, _, body = _post(app, _start())

    assert flaky.sent.count("PutRow") == 2 and len(vendor.initialize_calls) == 1
    assert status == 201, body
    stored = store.get(body["merchantBizId"])
    assert stored is not None and stored.transaction_id == body["transactionId"]


@pytest.mark.parametrize(("extra", "work"), [(-8.0, 0.0), (0.0, 0.0), (0.0, 0.5)],
                         ids=["less than the guarantee", "exactly the guarantee", "the margin spent on work"])
def test_a_start_whose_create_the_sdk_sent_twice_is_answered_with_its_row_or_never_billed(
    wire: tuple[TablestoreTransactionStore, Any], extra: float, work: float
) -> None:
    """Every call at its deadline, ``work`` seconds of the start's own work (signing: what the 3 s margin is for);
    the create applied, answered busy, re-sent: RecordExists. The read-back is part of every start's guarantee
    (review cc: without a key, a start at its deadlines skipped it and answered 503 over its stored, billed row) and
    needs only its own deadline then (review ee: it asked for the margin again): with less time left nothing is
    billed, with that time the row is answered."""
    store, _ = wire
    elapsed = Elapsed()

    class WorkingVendor(SlowVendor):
        def initialize(self, request: Any) -> Any:
            elapsed.seconds += work
            return super().initialize(request)

    vendor = WorkingVendor(elapsed)  # Initialize takes its deadline (25 s) and starts a billed transaction
    service = Verifications(settings=_settings(rate_limit=0), client=vendor, store=store,  # type: ignore[arg-type]
                            clock=FakeClock(T0))
    flaky = _flaky(store, "PutRow")  # with the rate limit off, the only PutRow is the row's create

    def the_create_takes_its_deadline(operation: str) -> None:
        if operation == "PutRow" and flaky.sent.count("PutRow") == 1:
            flaky.armed = True
            elapsed.seconds += STORE_CALL

    flaky.before = the_create_takes_its_deadline
    budget = InvocationBudget(service.billed_part_seconds + STORE_CALL + extra, clock=elapsed)
    try:
        started = service.start(hash_user_id(SUB, PEPPER), _start(), budget=budget)
        answer = "201"
    except Refused as refused:
        answer = refused.code
    if answer == "TryAgain":
        assert vendor.initialize_calls == []
        return
    assert answer == "201", f"{answer} over this start's stored, billed row with {budget.left():g} s left"
    stored = store.get(vendor.initialize_calls[0].merchant_biz_id)
    assert stored is not None and stored.transaction_id == started.transaction_id


# -- the hourly rate counter (review cc) ---------------------------------------------------------------------------

EXPIRES = 10_000_000_000.0


def test_a_rate_claim_the_sdk_sent_twice_counts_one_start(wire: tuple[TablestoreTransactionStore, Any]) -> None:
    store, _ = wire
    flaky = _flaky(store, "PutRow")  # the window's first claim creates the counter
    flaky.armed = True
    assert store.increment_rate_counter("rlreviewcc", 2, EXPIRES) is True
    assert flaky.sent[:3] == ["GetRow", "PutRow", "PutRow"], flaky.sent  # applied, busy, re-sent (condition failed)
    assert store.increment_rate_counter("rlreviewcc", 2, EXPIRES) is True  # the second of two


def test_a_rate_slot_release_the_sdk_sent_twice_gives_back_one_start(
    wire: tuple[TablestoreTransactionStore, Any],
) -> None:
    store, _ = wire
    assert store.increment_rate_counter("rlreviewcc", 2, EXPIRES) is True
    assert store.increment_rate_counter("rlreviewcc", 2, EXPIRES) is True  # 2 of 2
    flaky = _flaky(store, "UpdateRow")
    flaky.armed = True
    store.decrement_rate_counter("rlreviewcc")  # one start the vendor never billed: 1 of 2
    assert flaky.sent[:3] == ["GetRow", "UpdateRow", "UpdateRow"], flaky.sent  # applied, busy, re-sent
    assert store.increment_rate_counter("rlreviewcc", 2, EXPIRES) is True  # 2 of 2
    assert store.increment_rate_counter("rlreviewcc", 2, EXPIRES) is False


def test_a_user_whose_first_start_was_counted_through_a_busy_answer_may_start_a_second_under_a_limit_of_two(
    wire: tuple[TablestoreTransactionStore, Any],
) -> None:
    store, _ = wire
    app = _app(store, NumberedVendor(), rate_limit=2)
    flaky = _flaky(store, "PutRow")
    flaky.armed = True  # the first PutRow of a start without a key: the rate counter's create
    first = _post(app, _start(), key=None)
    second = _post(app, _start(), key=None)
    assert (first[0], second[0]) == (201, 201), (first[2], second[2])


def test_a_throttled_start_s_slot_release_ends_within_the_invocation_s_time(
    wire: tuple[TablestoreTransactionStore, Any],
) -> None:
    """The release's first write loses its race to the same user's second click on another instance: a second
    round only while the budget allows one (it ran unbudgeted, and FC ended the invocation before the 503 left)."""
    store, double = wire
    rival = wire_store(double)
    elapsed = Elapsed()
    service = Verifications(settings=_settings(rate_limit=10), client=SlowVendor(elapsed, throttled=True),  # type: ignore[arg-type]
                            store=store, clock=FakeClock(T0))
    owner = hash_user_id(SUB, PEPPER)
    counter = counter_key(owner, int(T0 // WINDOW_SECONDS))
    hooked = _flaky(store, "UpdateRow")
    updates: list[str] = []

    def each_call_at_its_deadline(operation: str) -> None:
        elapsed.seconds += STORE_CALL
        if operation == "UpdateRow":
            updates.append(operation)
            if len(updates) == 1:  # the release's first write: the rival's claim moves the counter just before
                assert rival.increment_rate_counter(counter, 10, T0 + 7200)

    hooked.before = each_call_at_its_deadline
    timeout = 2 * STORE_CALL + service.billed_part_seconds + STORE_CALL  # a rate claim, then what is guaranteed
    budget = InvocationBudget(timeout, clock=elapsed)
    with pytest.raises(Refused) as refused:
        service.start(owner, _start(), budget=budget)
    assert refused.value.code == "VendorBusy"
    assert elapsed.seconds <= timeout, f"the 503 left {elapsed.seconds - timeout:g} s after the invocation's end"


def _rival_writes_before_the_resend(store: TablestoreTransactionStore, double: Any, write: Any) -> Any:
    """Arm the store's next UpdateRow (applied, answered busy, re-sent by the SDK) and run ``write`` on another
    instance (same user, another click) just before the SDK's re-sent copy."""
    rival = wire_store(double)
    rival.get("warm" + "0" * 28)
    flaky = _flaky(store, "UpdateRow")
    flaky.armed = True

    def before(operation: str) -> None:
        if operation == "UpdateRow" and flaky.sent.count("UpdateRow") == 2:  # the SDK's re-sent copy
            write(rival)

    flaky.before = before
    return flaky


def test_a_rate_claim_whose_applied_write_a_rival_counted_over_is_admitted_not_refused(
    wire: tuple[TablestoreTransactionStore, Any],
) -> None:
    """Limit 3, one start counted. This start's write (1 -> 2) is applied and answered busy; before the SDK's
    re-sent copy, the same user's other click counts (2 -> 3). The copy fails its condition; round 2 no longer
    finds this call's mark (the rival's replaced it) and reads 3 of 3: the start is refused 429 with its own
    count kept, two starts made and three counted."""
    store, double = wire
    assert store.increment_rate_counter("rlreviewee", 3, EXPIRES) is True  # 1 of 3
    rival_admitted: list[bool] = []
    flaky = _rival_writes_before_the_resend(
        store, double, lambda rival: rival_admitted.append(rival.increment_rate_counter("rlreviewee", 3, EXPIRES)))

    admitted = store.increment_rate_counter("rlreviewee", 3, EXPIRES)

    assert flaky.sent[:3] == ["GetRow", "UpdateRow", "UpdateRow"], flaky.sent
    assert rival_admitted == [True]
    assert admitted is True, (
        "a start whose count was applied (1 -> 2) was refused 429 after a rival's count replaced its mark: "
        "2 starts made, 3 of 3 counted"
    )


def test_a_slot_release_the_sdk_re_sent_after_a_rival_s_count_gives_back_one_start_not_two(
    wire: tuple[TablestoreTransactionStore, Any],
) -> None:
    """Limit 2, two starts counted; one was never billed and gives its slot back (2 -> 1, applied, answered busy).
    Before the SDK's re-sent copy the user's next start counts (1 -> 2): the copy's condition ``count == 2``
    holds again (ABA), so it is applied too (2 -> 1). Two starts stand (the first and the rival), one is counted:
    the user gets a third start under a limit of two."""
    store, double = wire
    assert store.increment_rate_counter("rlreviewee", 2, EXPIRES) is True
    assert store.increment_rate_counter("rlreviewee", 2, EXPIRES) is True  # 2 of 2
    rival_admitted: list[bool] = []
    flaky = _rival_writes_before_the_resend(
        store, double, lambda rival: rival_admitted.append(rival.increment_rate_counter("rlreviewee", 2, EXPIRES)))

    store.decrement_rate_counter("rlreviewee")  # the start the vendor never billed

    assert flaky.sent[:3] == ["GetRow", "UpdateRow", "UpdateRow"], flaky.sent  # applied, answered busy, re-sent
    assert rival_admitted == [True]  # 2 of 2 again: the first start and the rival's
    flaky.before = None
    assert store.increment_rate_counter("rlreviewee", 2, EXPIRES) is False, (
        "a third start was admitted under a limit of 2: the re-sent release was applied a second time over the "
        "rival's count (the condition checks the count only)"
    )


@pytest.mark.parametrize("burst", [RATE_WRITES_KEPT - 1, RATE_WRITES_KEPT])
def test_a_rate_claim_re_sent_after_a_burst_of_the_user_s_clicks_counts_once_or_says_it_cannot_tell(
    wire: tuple[TablestoreTransactionStore, Any], burst: int
) -> None:
    """This start's write (1 -> 2) is applied and answered busy; before the SDK's re-sent copy, ``burst`` other
    clicks count. Its mark among the counter's last ``RATE_WRITES_KEPT``: counted once, admitted. Pushed out (found
    by review ff: with 8 kept, the round counted the start again): a transient error, never a second count."""
    store, double = wire
    assert store.increment_rate_counter("rlreviewff", 100, EXPIRES) is True  # 1
    _rival_writes_before_the_resend(
        store, double, lambda rival: [rival.increment_rate_counter("rlreviewff", 100, EXPIRES) for _ in range(burst)])
    if burst < RATE_WRITES_KEPT:
        assert store.increment_rate_counter("rlreviewff", 100, EXPIRES) is True
    else:
        with pytest.raises(StorageError) as unknown:
            store.increment_rate_counter("rlreviewff", 100, EXPIRES)
        assert unknown.value.transient and unknown.value.code == "Conflict"
    counter = store._read_counter("rlreviewff")
    assert counter is not None and counter[0] == 2 + burst  # counted once


@pytest.mark.parametrize("burst", [RATE_WRITES_KEPT - 1, RATE_WRITES_KEPT])
def test_a_slot_release_re_sent_after_a_burst_of_the_user_s_clicks_gives_back_one_start_at_most(
    wire: tuple[TablestoreTransactionStore, Any], burst: int
) -> None:
    store, double = wire
    assert store.increment_rate_counter("rlreviewff", 100, EXPIRES) is True
    assert store.increment_rate_counter("rlreviewff", 100, EXPIRES) is True  # 2
    _rival_writes_before_the_resend(
        store, double, lambda rival: [rival.increment_rate_counter("rlreviewff", 100, EXPIRES) for _ in range(burst)])
    if burst < RATE_WRITES_KEPT:
        store.decrement_rate_counter("rlreviewff")
    else:
        with pytest.raises(StorageError):  # release_slot logs initialize.slot_not_released
            store.decrement_rate_counter("rlreviewff")
    counter = store._read_counter("rlreviewff")
    assert counter is not None and counter[0] == 1 + burst  # given back once


def test_a_start_whose_rate_count_was_re_sent_with_no_time_for_another_round_uses_its_count_or_frees_it(
    wire: tuple[TablestoreTransactionStore, Any],
) -> None:
    """s.yaml's timeout, every call at its deadline, a limit of 1 an hour. A keyed start reads its ids' rows, takes
    its key; the rate counter's create is applied, answered busy and re-sent (the copy fails its condition), and no
    time is left for another round. The round's read still says whether the count was applied (found by review gg:
    OutOfTime came first, "nothing was started" while the count stood, and the user's try again was 429)."""
    store, _ = wire
    elapsed = Elapsed()
    service = Verifications(settings=_settings(rate_limit=1), client=NumberedVendor(), store=store,  # type: ignore[arg-type]
                            clock=FakeClock(T0))
    owner = hash_user_id(SUB, PEPPER)
    flaky = _flaky(store, "PutRow")
    puts: list[str] = []

    def each_call_at_its_deadline(operation: str) -> None:
        if operation == "PutRow":
            puts.append(operation)
            if len(puts) == 2:  # the claim's take was the first PutRow; this is the rate counter's create
                flaky.armed = True
            if len(puts) == 3:  # the SDK's re-sent copy: the same call, within its deadline
                return
        elapsed.seconds += STORE_CALL

    flaky.before = each_call_at_its_deadline
    try:
        service.start(owner, _start(), budget=InvocationBudget(S_YAML_TIMEOUT, clock=elapsed), idempotency_key=KEY)
        first = "201"
    except Refused as refused:
        first = refused.code
    flaky.before = None
    assert puts[:3] == ["PutRow"] * 3, flaky.sent  # the take, the counter's create and its re-sent copy
    if first == "201":
        return  # the start used its own count
    assert first == "TryAgain"
    again = service.start(owner, _start(), budget=InvocationBudget(600.0, clock=lambda: 0.0), idempotency_key=KEY)
    assert again.transaction_id  # the refused start's count was not kept


def test_a_rate_claim_whose_last_round_s_write_was_applied_and_re_sent_is_counted_or_admitted(
    wire: tuple[TablestoreTransactionStore, Any],
) -> None:
    """Review hh: all rounds used, the last one's write applied and re-sent, raised Conflict over a count that
    stood. The same user's other clicks win the first ``RATE_ATTEMPTS - 1`` rounds (each writes just before this call's
    write); the last round's write is applied, answered busy and re-sent by the SDK (the copy fails its
    condition). Either this call is admitted (its count stands), or nothing of it is counted."""
    store, double = wire
    assert store.increment_rate_counter("rlreviewhh", 100, EXPIRES) is True  # 1
    rival = wire_store(double)
    rival.get("warm" + "0" * 28)
    flaky = _flaky(store, "UpdateRow")
    rivals: list[bool] = []

    def before(operation: str) -> None:
        if operation != "UpdateRow":
            return
        sent = flaky.sent.count("UpdateRow")
        if sent < RATE_ATTEMPTS:  # this round's write: another click counts just before it (a lost race)
            rivals.append(rival.increment_rate_counter("rlreviewhh", 100, EXPIRES))
        elif sent == RATE_ATTEMPTS:  # the last round's write: applied, answered busy; the SDK sends it again
            flaky.armed = True

    flaky.before = before
    try:
        admitted: bool | str = store.increment_rate_counter("rlreviewhh", 100, EXPIRES)
    except StorageError as error:
        admitted = f"StorageError {error.code}"
    flaky.before = None

    assert rivals == [True] * (RATE_ATTEMPTS - 1)
    assert flaky.sent.count("UpdateRow") == RATE_ATTEMPTS + 1, flaky.sent  # the last one re-sent by the SDK
    counter = store._read_counter("rlreviewhh")
    assert counter is not None
    counted = counter[0] - 1 - len(rivals)  # this call's count in the counter
    assert admitted is True or counted == 0, (
        f"the rate claim answered {admitted} (the start is refused 503, nothing was started) while its count "
        f"stands in the counter ({counted}): the user's hourly limit is one lower, never given back"
    )


# -- a rate-counter write applied but answered OTSTimeout (review ii) ----------------------------------------


@pytest.mark.parametrize("write", ["PutRow", "UpdateRow"], ids=["the counter's create", "its update"])
def test_a_rate_count_whose_write_was_applied_but_answered_otstimeout_is_used_not_raised(
    wire: tuple[TablestoreTransactionStore, Any], write: str
) -> None:
    """OTSTimeout: the SDK does not re-send a write on it, and it may have been applied (``maybe_sent``)."""
    store, _ = wire
    counted_before = 0 if write == "PutRow" else 1
    if counted_before:
        assert store.increment_rate_counter("rlreviewii", 2, EXPIRES) is True  # 1 of 2
    flaky = _flaky(store, write, "OTSTimeout")
    flaky.armed = True
    try:
        counted: bool | str = store.increment_rate_counter("rlreviewii", 2, EXPIRES)
    except StorageError as error:
        counted = f"StorageError {error.code} (maybe_sent={error.maybe_sent})"
    counter = store._read_counter("rlreviewii")
    assert flaky.sent.count(write) == 1, flaky.sent  # not re-sent
    assert counter is not None and counter[0] == counted_before + 1  # the write was applied
    assert counted is True, f"increment_rate_counter raised ({counted}) although its own count stands"


def test_a_start_refused_after_its_rate_count_s_answer_was_lost_does_not_lock_the_user_out_for_the_hour(
    wire: tuple[TablestoreTransactionStore, Any],
) -> None:
    """End to end, a limit of 1 an hour, no Idempotency-Key: the first PutRow is the rate counter's create."""
    store, _ = wire
    app = _app(store, NumberedVendor(), rate_limit=1)
    flaky = _flaky(store, "PutRow", "OTSTimeout")
    flaky.armed = True
    first = _post(app, _start(), key=None)
    again = _post(app, _start(), key=None)
    assert first[0] == 201 or again[0] == 201, (
        f"first answered {first[0]} {first[2]}, the try again {again[0]} {again[2]}: no verification was started, "
        f"yet the user is rate-limited for the rest of the hour"
    )


# -- a final write the SDK sent twice (review kk) ------------------------------------------------------------------


@pytest.fixture
def wired(tmp_path: Path) -> Iterator[tuple[Stack, Any]]:
    with tablestore_double() as double:
        store = wire_store(double)
        store.get("warm" + "0" * 28)  # builds the SDK client and its transport
        stack = Stack(tmp_path, store=store)
        try:
            yield stack, store
        finally:
            stack.close()


def test_a_verdict_whose_finalize_the_sdk_sent_twice_is_finalized_and_announced_by_its_fetch(
    wired: tuple[Stack, Any],
) -> None:
    stack, store = wired
    record = stack.pending()
    flaky = _flaky(store, "UpdateRow")  # the fetch's first UpdateRow is its finalize
    flaky.armed = True

    outcome = stack.fetcher(FakeCloudAuth()).fetch(record.merchant_biz_id)

    assert flaky.sent.count("UpdateRow") >= 2, flaky.sent  # applied, answered busy, re-sent
    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and row.status == "PASSED"  # this fetch's write
    assert (outcome.kind, peek(stack.notify)) == (
        "finalized", [{"merchantBizId": record.merchant_biz_id, "attempt": 0}]
    ), f"its own verdict reported {outcome.kind!r}, its notification left to the outbox"


def test_a_verdict_whose_finalize_the_sdk_sent_twice_has_the_vendor_copy_deleted_by_its_fetch(
    wired: tuple[Stack, Any],
) -> None:
    stack, store = wired
    record = stack.pending()
    flaky = _flaky(store, "UpdateRow")
    flaky.armed = True
    client = FakeCloudAuth()

    stack.fetcher(client, delete_vendor_copy=True).fetch(record.merchant_biz_id)

    assert client.delete_calls == [record.transaction_id], "the vendor's copy (the person's images) left for the outbox"


def test_a_row_whose_abandonment_the_sdk_sent_twice_is_announced_by_the_sweeper_that_abandoned_it(
    wired: tuple[Stack, Any],
) -> None:
    stack, store = wired
    record = stack.pending()
    sweeper = stack.sweeper(stack.fetcher(FakeCloudAuth()))
    flaky = _flaky(store, "UpdateRow")  # mark_abandoned's UpdateRow
    flaky.armed = True

    abandoned = sweeper.abandon(record.merchant_biz_id, stack.clock())

    row = stack.store.get(record.merchant_biz_id)
    assert row is not None and row.status == "ABANDONED"  # this sweeper's write
    assert (abandoned, peek(stack.notify)) == (
        True, [{"merchantBizId": record.merchant_biz_id, "attempt": 0}]
    ), "its own abandonment reported as another's, its announcement left to the next pass's outbox"


def test_a_final_write_refused_over_another_s_verdict_is_still_refused(wired: tuple[Stack, Any]) -> None:
    stack, store = wired
    record = stack.pending()
    assert stack.fetcher(FakeCloudAuth()).fetch(record.merchant_biz_id).kind == "finalized"
    stack.clock.advance(1)
    assert not store.finalize(record.merchant_biz_id, status="FAILED", passed="N", sub_code="205", result_key=None,
                              identity_masked=None, result_version=2, now=stack.clock())
    assert not store.mark_abandoned(record.merchant_biz_id, stack.clock())


def test_a_late_verdict_whose_write_over_the_abandonment_the_sdk_sent_twice_is_finalized_by_its_fetch(
    wired: tuple[Stack, Any],
) -> None:
    stack, store = wired
    record = stack.pending()
    assert store.mark_abandoned(record.merchant_biz_id, stack.clock())
    stack.clock.advance(60)
    flaky = _flaky(store, "UpdateRow")

    def arm_after_the_abandoned_row_is_read(operation: str) -> None:
        if operation == "GetRow" and flaky.sent.count("UpdateRow") == 1:  # finalize read the ABANDONED row
            flaky.armed = True

    flaky.before = arm_after_the_abandoned_row_is_read
    outcome = stack.fetcher(FakeCloudAuth()).fetch(record.merchant_biz_id)

    assert flaky.sent.count("UpdateRow") >= 3, flaky.sent  # PENDING refused, then the write over ABANDONED, re-sent
    assert outcome.kind == "finalized"
    assert peek(stack.notify) == [{"merchantBizId": record.merchant_biz_id, "attempt": 0}]


def test_an_abandoned_row_whose_deletion_the_sdk_sent_twice_has_its_objects_deleted_by_retention(
    wired: tuple[Stack, Any],
) -> None:
    """Found by review (suspected): the re-sent DeleteRow failed its condition against the row it had deleted, so
    retention took the row for one that moved on and skipped its objects (a failed fetch's), leaving them unled."""
    stack, store = wired
    record = stack.pending(created_at=T0)
    assert store.mark_abandoned(record.merchant_biz_id, T0 + 60)
    store.mark_notification_enqueued(record.merchant_biz_id, "ABANDONED", now=T0 + 60)
    left_by_a_failed_fetch = f"results/{record.merchant_biz_id}/0123456789abcdef0123/idImage.jpg"
    stack.objects.put(left_by_a_failed_fetch, b"image", "image/jpeg")
    sweeper = stack.sweeper(stack.fetcher(FakeCloudAuth()), retention_days=1)
    stack.clock.advance(3 * 86400)
    flaky = _flaky(store, "DeleteRow")
    flaky.armed = True

    assert sweeper.sweep().expired == 1
    assert flaky.sent.count("DeleteRow") >= 2, flaky.sent
    assert store.get(record.merchant_biz_id) is None and stack.objects.list(f"results/{record.merchant_biz_id}/") == []


# -- a check the SDK sent twice (review xx) --------------------------------------------------------------------------


def test_a_check_whose_write_the_sdk_sent_twice_is_counted_once(wire: tuple[TablestoreTransactionStore, Any]) -> None:
    """The re-sent copy of an applied ``record_check`` failed its condition against it and was taken for a rival's
    write: the check was written again, counted twice, and the sweeper's backoff (``2 ** check_count``) doubled."""
    store, _ = wire
    record = make_record()
    store.create(record)
    flaky = _flaky(store, "UpdateRow")
    flaky.armed = True

    recorded = store.record_check(record.merchant_biz_id, now=2_000.0, next_check_at=2_600.0, error="HTTP503")

    assert flaky.sent.count("UpdateRow") >= 2, flaky.sent  # the SDK did re-send the applied write
    after = store.get(record.merchant_biz_id)
    assert recorded is True and after is not None
    assert after.check_count == record.check_count + 1


def test_a_given_back_claim_leaves_no_row_in_the_rate_table(wire: tuple[TablestoreTransactionStore, Any]) -> None:
    """Found by review ap: a give-back set the claim's count to 0 and the row stayed for the table's day-long TTL,
    one per keyed start refused after its claim."""
    store, _ = wire
    assert store.take_claim("ikgone", "a", 900.0, 50.0) is True
    assert store.give_back_claim("ikgone", "a") is True
    _, row, _ = store._client.get_row(store._schema.rate_table, store._rate_key("ikgone"), max_version=1)
    assert row is None or not row.primary_key
