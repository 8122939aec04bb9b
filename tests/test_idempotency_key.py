"""POST /verifications with an ``Idempotency-Key`` (IETF draft "The Idempotency-Key HTTP Header Field"): a start the
user's browser sent twice (a double click, a retry after a lost answer) is one verification, started and billed
once, whose answer the repeat gets again."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared import jsonutil, values
from shared.auth import hash_user_id, issue_token
from shared.cloudauth import ThrottlingError
from shared.fc.budget import InvocationBudget
from shared.handlers.initializer import InitializerApp
from shared.ids import (
    IDEMPOTENCY_CLOCK_SKEW_SECONDS,
    IDEMPOTENCY_WINDOW_SECONDS,
    idempotency_claim_key,
    idempotency_key,
    is_merchant_biz_id,
    merchant_biz_id_for_key,
)
from shared.ratelimit import WINDOW_SECONDS, counter_key
from shared.storage import OutOfTime, RecordExists, SqliteTransactionStore, StorageError, TransactionRecord
from shared.verifications import START_MARGIN_SECONDS, Refused, Verifications, request_fingerprint
from tests.fakes import T0, FakeClock, FakeCloudAuth, RecordingSender, Stack, drain
from tests.test_initializer_app import PEPPER, SECRET, SUB, _settings, _start
from tools.deployment import function_timeouts

KEY = "8e03978e-40d5-43e8-bc93-6894a57f9324"
MIDNIGHT = T0 - T0 % 86400 + 86400  # 00:00:00 UTC of a day


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteTransactionStore]:
    s = SqliteTransactionStore(tmp_path / "kyc.sqlite3")
    yield s
    s.close()


class NumberedVendor(FakeCloudAuth):
    """Each Initialize starts a transaction of its own, whatever its MerchantBizId."""

    def initialize(self, request: Any) -> Any:
        answer = super().initialize(request)
        number = len(self.initialize_calls)
        answer.transaction_id = f"hksb{number:028d}"
        answer.transaction_url = f"https://vendor.example/verify/{number}"
        return answer


def rate_counter_key() -> str:
    """The hourly counter of SUB's starts at the tests' clock (T0)."""
    return counter_key(hash_user_id(SUB, PEPPER), int(T0 // WINDOW_SECONDS))


@pytest.fixture
def vendor() -> NumberedVendor:
    return NumberedVendor()


def _app(store: Any, vendor: FakeCloudAuth, rate_limit: int = 10, cors: tuple[str, ...] = ()) -> InitializerApp:
    return InitializerApp(settings=_settings(rate_limit, cors), client=vendor, store=store,  # type: ignore[arg-type]
                          clock=FakeClock(T0))


def _post(app: InitializerApp, body: Any, key: str | None = KEY, sub: str = SUB,
          headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {issue_token(sub, SECRET)}",
               **(headers or {})}
    if key is not None:
        headers["Idempotency-Key"] = key
    event = {
        "version": "v1", "rawPath": "/verifications", "body": jsonutil.dumps_str(body), "isBase64Encoded": False,
        "headers": headers,
        "requestContext": {"http": {"method": "POST", "path": "/verifications", "sourceIp": "203.0.113.7"}},
    }
    response = InitializerApp.handle(app, event, None)
    return response["statusCode"], response["headers"], jsonutil.loads(response["body"] or "null")


def test_a_start_sent_again_with_its_key_gets_the_first_answer_without_a_second_vendor_call(
    store: SqliteTransactionStore, vendor: NumberedVendor
) -> None:
    app = _app(store, vendor)
    first = _post(app, _start())
    again = _post(app, _start())

    assert first[0] == again[0] == 201
    assert again[2] == first[2] and first[2]["transactionUrl"] == "https://vendor.example/verify/1"
    assert again[1].get("idempotent-replayed") == "true" and "idempotent-replayed" not in first[1]
    assert len(vendor.initialize_calls) == 1


def test_a_start_sent_again_with_its_key_takes_no_second_rate_slot(
    store: SqliteTransactionStore, vendor: NumberedVendor
) -> None:
    app = _app(store, vendor, rate_limit=1)
    assert _post(app, _start())[0] == 201
    assert _post(app, _start())[0] == 201
    assert _post(app, _start(), key="another-key")[0] == 429


def test_the_same_key_with_another_request_is_refused(store: SqliteTransactionStore, vendor: NumberedVendor) -> None:
    app = _app(store, vendor)
    _post(app, _start())
    status, _, body = _post(app, _start(docType="00000001"))
    assert (status, body["error"]["code"]) == (422, "IdempotencyKeyReused")
    assert len(vendor.initialize_calls) == 1


def test_a_key_is_the_user_s_own(store: SqliteTransactionStore, vendor: NumberedVendor) -> None:
    app = _app(store, vendor)
    mine, theirs = _post(app, _start()), _post(app, _start(), sub="someone-else@example.com")
    assert mine[2]["merchantBizId"] != theirs[2]["merchantBizId"] and len(vendor.initialize_calls) == 2


def test_starts_without_a_key_are_separate_verifications(store: SqliteTransactionStore, vendor: NumberedVendor) -> None:
    app = _app(store, vendor)
    assert _post(app, _start(), key=None)[2] != _post(app, _start(), key=None)[2]


@pytest.mark.parametrize("key", ['"' + KEY + '"', "order-1234", "a", "x" * 128])
def test_a_key_may_be_quoted_as_the_draft_writes_it_or_bare(
    store: SqliteTransactionStore, vendor: NumberedVendor, key: str
) -> None:
    app = _app(store, vendor)
    assert _post(app, _start(), key=key)[2] == _post(app, _start(), key=key.strip('"'))[2]


@pytest.mark.parametrize("key", ["", " ", "x" * 129, "two words", "caf\u00e9", '"unclosed', "a\tb"])
def test_a_malformed_key_is_refused_before_anything_starts(
    store: SqliteTransactionStore, vendor: NumberedVendor, key: str
) -> None:
    status, _, body = _post(_app(store, vendor), _start(), key=key)
    assert (status, body["error"]["code"]) == (400, "InvalidIdempotencyKey") and vendor.initialize_calls == []


@pytest.mark.parametrize("key", [*"-_.:~+/=", "x" * 128, '"' + "x" * 128 + '"'])
def test_every_character_the_rule_allows_and_the_longest_key_are_keys(key: str) -> None:
    """The rule: 1-128 ASCII letters, digits or -_.:~+/= (a base64 key ends in '='), bare or in double quotes."""
    assert idempotency_key(key) == key.strip('"')


class RacingStore:
    """A store whose first ``create`` lets a second start with the same key run to its end first: two starts that
    both found no row, both called the vendor."""

    def __init__(self, inner: SqliteTransactionStore) -> None:
        self._inner = inner
        self.rival: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def create(self, record: Any) -> None:
        rival, self.rival = self.rival, None
        if rival is not None:
            rival()
        self._inner.create(record)


def test_a_start_sent_again_while_the_first_is_in_flight_is_told_to_try_again_and_calls_nothing(
    store: SqliteTransactionStore, vendor: NumberedVendor
) -> None:
    """The repeat arrives while the first waits on the vendor (before its row is stored): the key's claim is held."""
    racing = RacingStore(store)
    app = _app(racing, vendor)
    answers: list[Any] = []
    racing.rival = lambda: answers.append(_post(app, _start()))

    first = _post(app, _start())

    ((status, headers, body),) = answers
    assert (status, body["error"]["code"], headers["retry-after"]) == (409, "IdempotencyKeyInUse", "1")
    assert first[0] == 201 and len(vendor.initialize_calls) == 1
    assert _post(app, _start())[2] == first[2]  # tried again: the first answer


def test_a_double_click_on_either_side_of_midnight_utc_starts_one_verification(
    store: SqliteTransactionStore, vendor: NumberedVendor
) -> None:
    """The two requests derive two days' ids; the claim is the key's whatever the day (found by review t)."""
    racing = RacingStore(store)
    before = InitializerApp(settings=_settings(), client=vendor, store=racing,  # type: ignore[arg-type]
                            clock=FakeClock(MIDNIGHT - 0.2))
    after = InitializerApp(settings=_settings(), client=vendor, store=store,  # type: ignore[arg-type]
                           clock=FakeClock(MIDNIGHT + 0.2))
    answers: list[Any] = []
    racing.rival = lambda: answers.append(_post(after, _start()))

    first = _post(before, _start())

    ((status, _, _),) = answers
    assert (first[0], status, len(vendor.initialize_calls)) == (201, 409, 1)


def test_a_key_sent_again_the_day_its_verification_was_erased_starts_nothing_under_the_erased_id(
    store: SqliteTransactionStore, vendor: NumberedVendor
) -> None:
    """``kyc erase`` deletes rows at any time (found by review t): the key's claim outlives the row."""
    app = _app(store, vendor)
    first = _post(app, _start())
    store.delete(first[2]["merchantBizId"])
    status, _, body = _post(app, _start())
    assert (status, body["error"]["code"], len(vendor.initialize_calls)) == (409, "IdempotencyKeyInUse", 1)


@pytest.mark.parametrize("failure", ["vendor busy", "rate limited"])
def test_a_keyed_start_that_was_refused_leaves_its_key_free_for_the_repeat(
    store: SqliteTransactionStore, vendor: NumberedVendor, failure: str
) -> None:
    app = _app(store, vendor, rate_limit=1)
    if failure == "vendor busy":
        vendor.initialize_error = ThrottlingError("busy")
    else:
        assert _post(app, _start(), key="another")[0] == 201  # the user's one start this hour
    assert _post(app, _start())[0] in (429, 503)
    vendor.initialize_error = None
    if failure == "rate limited":
        store.decrement_rate_counter(rate_counter_key())  # the hour has passed
    assert _post(app, _start())[0] == 201


def test_a_browser_may_send_the_key_across_origins(store: SqliteTransactionStore, vendor: NumberedVendor) -> None:
    app = _app(store, vendor, cors=("https://shop.example",))
    event = {
        "version": "v1", "rawPath": "/verifications", "body": "", "isBase64Encoded": False,
        "headers": {"Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "authorization, content-type, idempotency-key"},
        "requestContext": {"http": {"method": "OPTIONS", "path": "/verifications", "sourceIp": "203.0.113.7"}},
    }
    response = app.handle(event, None)
    assert response["statusCode"] == 204
    assert "idempotency-key" in response["headers"]["access-control-allow-headers"]


def test_the_url_kept_for_a_repeat_is_never_logged(
    store: SqliteTransactionStore, vendor: NumberedVendor, capsys: pytest.CaptureFixture[str]
) -> None:
    app = _app(store, vendor)
    _post(app, _start())
    _post(app, _start())
    assert "vendor.example/verify" not in capsys.readouterr().out


def test_a_cross_origin_page_can_read_that_a_start_was_answered_again(
    store: SqliteTransactionStore, vendor: NumberedVendor
) -> None:
    """Found by review s: only retry-after was exposed, so a browser hid Idempotent-Replayed from the page."""
    app = _app(store, vendor, cors=("https://shop.example",))
    headers = {"Origin": "https://shop.example"}
    _post(app, _start(), headers=headers)
    status, answer_headers, _ = _post(app, _start(), headers=headers)
    exposed = {h.strip() for h in answer_headers["access-control-expose-headers"].split(",")}
    assert status == 201 and {"idempotent-replayed", "retry-after"} <= exposed


def test_a_repeat_the_next_day_is_still_answered_again(store: SqliteTransactionStore, vendor: NumberedVendor) -> None:
    clock = FakeClock(T0 - T0 % 86400 + 86400 - 1)  # a second before midnight UTC
    app = InitializerApp(settings=_settings(), client=vendor, store=store, clock=clock)  # type: ignore[arg-type]
    first = _post(app, _start())
    clock.advance(2.0)
    again = _post(app, _start())
    assert again[2] == first[2] and again[1].get("idempotent-replayed") == "true"


def test_a_repeat_late_the_same_utc_day_is_still_answered_again(
    store: SqliteTransactionStore, vendor: NumberedVendor
) -> None:
    """A keyed id names the UTC day: a repeat the same day, however many hours later, finds the first one's row."""
    clock = FakeClock(MIDNIGHT + 1)
    app = InitializerApp(settings=_settings(), client=vendor, store=store, clock=clock)  # type: ignore[arg-type]
    first = _post(app, _start())
    clock.advance(86400 - 3)  # 23:59:58 the same day
    again = _post(app, _start())
    assert again[2] == first[2] and again[1].get("idempotent-replayed") == "true"
    assert len(vendor.initialize_calls) == 1


def test_a_key_sent_again_once_its_window_has_passed_starts_a_verification_under_a_new_id(
    store: SqliteTransactionStore, vendor: NumberedVendor
) -> None:
    """Found by review s: the id was the key's for good, so a key sent again after retention (or an erasure) had
    deleted the row started a second verification under the first one's merchantBizId (and webhook-ids). A row is
    kept at least a day; the id now also names the day."""
    clock = FakeClock(T0)
    app = InitializerApp(settings=_settings(), client=vendor, store=store, clock=clock)  # type: ignore[arg-type]
    first = _post(app, _start())
    store.delete(first[2]["merchantBizId"])  # retention, two days on
    clock.advance(2 * 86400.0)  # the claim has lapsed: free before any sweep forgets it (review w)
    later = _post(app, _start())
    assert later[0] == 201 and later[2]["merchantBizId"] != first[2]["merchantBizId"]
    assert "idempotent-replayed" not in later[1] and len(vendor.initialize_calls) == 2



@pytest.mark.parametrize("behind", [1.0, 2.0, 299.0])
def test_a_repeat_served_by_an_instance_whose_clock_is_behind_gets_the_first_answer(
    store: SqliteTransactionStore, vendor: NumberedVendor, behind: float
) -> None:
    """The first start on an instance at 00:00:01 UTC (its id names the new day), the repeat on one whose clock is
    ``behind`` (found by review t: only the day and the day before were looked up)."""
    def instance(now: float) -> InitializerApp:
        return InitializerApp(settings=_settings(), client=vendor, store=store, clock=FakeClock(now))  # type: ignore[arg-type]

    first = _post(instance(MIDNIGHT + 1), _start())
    again = _post(instance(MIDNIGHT + 1 - behind), _start())
    assert again[2] == first[2] and again[1].get("idempotent-replayed") == "true"
    assert len(vendor.initialize_calls) == 1


# -- the key's claim when a start fails (review u) -----------------------------------------------------------------


def lost_answer(operation: str) -> StorageError:
    """What TablestoreTransactionStore raises for a write whose answer never came (a timeout, a reset)."""
    return StorageError(f"tablestore {operation} transport error: ReadTimeout", transient=True,
                        code="TransportError", maybe_sent=True)


class ClaimAnswerLost:
    """The first take of an Idempotency-Key's claim is applied, but its answer is lost; ``give_back_fails``: so is
    every give-back's."""

    def __init__(self, inner: SqliteTransactionStore, *, give_back_fails: bool = False) -> None:
        self._inner = inner
        self.armed = True
        self.give_back_fails = give_back_fails

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def take_claim(self, key: str, holder: str, expires_at: float, now: float, **kwargs: Any) -> bool:
        taken = self._inner.take_claim(key, holder, expires_at, now, **kwargs)
        if self.armed:
            self.armed = False
            raise lost_answer("PutRow")
        return taken

    def give_back_claim(self, key: str, holder: str) -> bool:
        if self.give_back_fails:
            raise lost_answer("UpdateRow")
        return self._inner.give_back_claim(key, holder)


def test_a_claim_whose_take_lost_its_answer_is_given_back_so_a_retry_starts(
    store: SqliteTransactionStore, vendor: NumberedVendor, capsys: pytest.CaptureFixture[str]
) -> None:
    """The give-back frees only this start's claim, so it is safe after a take whose answer was lost (before
    holders, such a claim held the key for a day: review v)."""
    app = _app(ClaimAnswerLost(store), vendor)  # type: ignore[arg-type]
    first = _post(app, _start())
    assert (first[0], first[2]["error"]["code"], vendor.initialize_calls) == (503, "StorageUnavailable", [])
    assert "initialize.key_claim_unconfirmed" not in capsys.readouterr().out
    assert _post(app, _start())[0] == 201 and len(vendor.initialize_calls) == 1


def test_a_claim_whose_take_and_give_back_lost_their_answers_is_held_and_logged(
    store: SqliteTransactionStore, vendor: NumberedVendor, capsys: pytest.CaptureFixture[str]
) -> None:
    app = _app(ClaimAnswerLost(store, give_back_fails=True), vendor)  # type: ignore[arg-type]
    assert _post(app, _start())[0] == 503
    assert '"initialize.key_claim_unconfirmed"' in capsys.readouterr().out
    assert _post(app, _start())[0] == 409 and vendor.initialize_calls == []


class ClaimWriteLost:
    """``lose_next_claim``: the next take of an Idempotency-Key's claim is not applied, and its answer is lost."""

    def __init__(self, inner: SqliteTransactionStore) -> None:
        self._inner = inner
        self.lose_next_claim = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def take_claim(self, key: str, holder: str, expires_at: float, now: float, **kwargs: Any) -> bool:
        if self.lose_next_claim:
            self.lose_next_claim = False
            raise lost_answer("PutRow")
        return self._inner.take_claim(key, holder, expires_at, now, **kwargs)


class InFlightVendor(NumberedVendor):
    """While the first Initialize waits for the vendor, ``during_first`` runs (requests that arrive meanwhile)."""

    during_first: Any = None

    def initialize(self, request: Any) -> Any:
        during, self.during_first = self.during_first, None
        if during is not None:
            during()
        return super().initialize(request)


def test_a_claim_write_that_lost_its_answer_never_frees_the_key_another_start_holds(
    store: SqliteTransactionStore,
) -> None:
    """Found by review v: B's lost claim write was given back, which took A's claim; B's retry then called the
    vendor again while A was in flight. B's give-back now names B: A's claim stays."""
    vendor = InFlightVendor()
    racing = ClaimWriteLost(store)
    app = _app(racing, vendor)  # type: ignore[arg-type]
    answers: list[Any] = []

    def double_click_while_a_waits() -> None:
        racing.lose_next_claim = True
        answers.append(_post(app, _start()))  # B: 503, its claim's answer lost
        answers.append(_post(app, _start()))  # B's retry, A still in flight

    vendor.during_first = double_click_while_a_waits
    first = _post(app, _start())

    (b_status, _, _), (retry_status, _, _) = answers
    assert (first[0], b_status, retry_status, len(vendor.initialize_calls)) == (201, 503, 409, 1)


class CreateAnswerLost:
    """The row's create is applied but answers ``error`` (a lost answer, or RecordExists from the store's retry),
    and the read-back fails too."""

    def __init__(self, inner: SqliteTransactionStore, error: StorageError) -> None:
        self._inner, self._error = inner, error
        self.armed, self.reading_back = True, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def create(self, record: Any) -> None:
        self._inner.create(record)
        if self.armed:
            self.armed, self.reading_back = False, True
            raise self._error

    def get(self, merchant_biz_id: str) -> Any:
        if self.reading_back:
            self.reading_back = False
            raise lost_answer("GetRow")
        return self._inner.get(merchant_biz_id)


@pytest.mark.parametrize("lost", ["maybe sent", "record exists"])
def test_a_key_whose_row_may_be_stored_keeps_its_claim_past_the_row_s_erasure(
    store: SqliteTransactionStore, vendor: NumberedVendor, lost: str
) -> None:
    """The create's answer lost, or the store's retry finding the row (RecordExists: review v), then no read-back."""
    app = _app(CreateAnswerLost(store, RecordExists() if lost == "record exists" else lost_answer("PutRow")),
               vendor)  # type: ignore[arg-type]
    assert _post(app, _start())[0] == 503
    retry = _post(app, _start())
    assert retry[0] == 201 and retry[1].get("idempotent-replayed") == "true"  # the row was there all along
    store.delete(retry[2]["merchantBizId"])  # kyc erase
    assert _post(app, _start())[0] == 409 and len(vendor.initialize_calls) == 1


def test_a_keyed_start_that_failed_unforeseen_gives_its_key_back(
    store: SqliteTransactionStore, vendor: NumberedVendor
) -> None:
    app = _app(store, vendor)
    vendor.initialize_error = RuntimeError("an SDK error nobody mapped")
    assert _post(app, _start())[0] == 500
    vendor.initialize_error = None
    assert _post(app, _start())[0] == 201


def test_a_keyed_start_without_time_for_the_rest_claims_no_key(store: SqliteTransactionStore) -> None:
    calls: list[str] = []

    class Recording:
        def __getattr__(self, name: str) -> Any:
            calls.append(name)
            return getattr(store, name)

    service = Verifications(settings=_settings(), client=FakeCloudAuth(), store=Recording(),  # type: ignore[arg-type]
                            clock=FakeClock(T0))
    with pytest.raises(Refused) as refused:
        service.start("f" * 64, _start(), budget=InvocationBudget(10.0, clock=lambda: 0.0), idempotency_key=KEY)
    assert refused.value.code == "TryAgain" and "take_claim" not in calls



# -- what a keyed id gives away (review y) -----------------------------------------------------------------------

USER_ID = "48151623"  # the merchant's own user id: PII, "nobody in clear" (docs/security.md)
GUESSABLE_KEY = f"checkout-{USER_ID}-1"  # a frontend's key that embeds it


def _guess_user_id(owner: str, merchant_biz_id: str, day: int) -> str | None:
    """An offline guess over a small range of user ids, with nothing but what one webhook event (or the vendor's
    Initialize request) carries: the owner's peppered hash, the id and its day."""
    for candidate in range(48_150_000, 48_160_000):
        for window in (day, day - 1):
            guess = hashlib.sha256(f"{owner}\ncheckout-{candidate}-1\n{window}".encode()).hexdigest()[:32]
            if guess == merchant_biz_id:
                return str(candidate)
    return None


def test_a_subscriber_shown_the_outcome_only_cannot_test_guesses_of_the_key_against_a_keyed_id(
    tmp_path: Path,
) -> None:
    clock = FakeClock(T0)
    stack = Stack(tmp_path, clock=clock)
    try:
        vendor = NumberedVendor()
        app = InitializerApp(settings=_settings(), client=vendor, store=stack.store,  # type: ignore[arg-type]
                             clock=clock)
        status, _, started = _post(app, _start(), key=GUESSABLE_KEY, sub=USER_ID)
        assert status == 201
        stack.fetcher(vendor).fetch(started["merchantBizId"])
        sender = RecordingSender()
        drain(stack.notify, stack.notifier(sender).handle_body, clock)
        event = jsonutil.loads(sender.delivered_to("https://a.example/hook")[0].body)  # includePii: false
        data = event["data"]
        assert data["identity"] is None and data["merchantBizId"] == started["merchantBizId"]
        assert _guess_user_id(data["merchantUserId"], data["merchantBizId"], int(T0 // 86400)) is None
    finally:
        stack.close()


def test_the_vendor_cannot_test_guesses_of_the_key_against_a_keyed_id(
    store: SqliteTransactionStore, vendor: NumberedVendor
) -> None:
    assert _post(_app(store, vendor), _start(), key=GUESSABLE_KEY, sub=USER_ID)[0] == 201
    sent = vendor.initialize_calls[0]
    assert _guess_user_id(sent.merchant_user_id, sent.merchant_biz_id, int(T0 // 86400)) is None


def test_a_keyed_id_and_its_claim_are_keyed_by_the_pepper() -> None:
    owner = hash_user_id(USER_ID, PEPPER)
    assert merchant_biz_id_for_key(owner, KEY, 1, PEPPER) != merchant_biz_id_for_key(owner, KEY, 1, PEPPER + "x")
    assert idempotency_claim_key(owner, KEY, PEPPER) != idempotency_claim_key(owner, KEY, PEPPER + "x")
    assert is_merchant_biz_id(merchant_biz_id_for_key(owner, KEY, 1, PEPPER))
    assert is_merchant_biz_id(idempotency_claim_key(owner, KEY, PEPPER))


# -- the time a keyed start keeps for its key's give-back (reviews aa, bb) ------------------------------------------
# _claim_key claims the key only with time for the claim, a rate claim, the billed part and a give-back. Every check
# after it must keep the give-back too, and nothing unbudgeted may run before it: a rate claim that retried at its
# deadlines (review aa), or the rate slot's release after a throttled vendor (review bb), left 3 s
# (START_MARGIN_SECONDS) for a give-back whose deadline is the store's (11 s on Tablestore). And s.yaml's timeout
# must let a keyed start start whatever the hour: near midnight it reads three ids' rows (review bb).

STORE_CALL = 11.0  # the Tablestore adapter's default call deadline
VENDOR_CALL = 25.0  # CLOUDAUTH_CALL_DEADLINE's default
#: Exactly what _claim_key asks for before it claims: the claim, a rate claim, the billed part, a give-back.
CLAIM_RESERVE = 5 * STORE_CALL + VENDOR_CALL + STORE_CALL + START_MARGIN_SECONDS + 0.5
S_YAML_TIMEOUT = float(function_timeouts()["initializer"])


class Elapsed:
    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds


class SlowStore:
    """SQLite with Tablestore's call deadline, each write taking it: a slow but working store. Records the budget
    left when the key's give-back starts. ``reads_slow``: reads take theirs too; ``rate_race_lost``: the rate
    counter's first round loses its race (then ``another_round`` is asked, as on Tablestore); ``create_fails``: the
    row's create fails with an answer (not ``maybe_sent``)."""

    call_deadline = STORE_CALL

    def __init__(self, inner: SqliteTransactionStore, elapsed: Elapsed, *, reads_slow: bool = False,
                 rate_race_lost: bool = False, create_fails: bool = False) -> None:
        self._inner, self._elapsed = inner, elapsed
        self._reads_slow, self._rate_race_lost, self._create_fails = reads_slow, rate_race_lost, create_fails
        self.budget: InvocationBudget | None = None
        self.left_at_give_back: float | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def get(self, merchant_biz_id: str) -> Any:
        self._elapsed.seconds += STORE_CALL if self._reads_slow else 0.0
        return self._inner.get(merchant_biz_id)

    def take_claim(self, *args: Any, **kwargs: Any) -> bool:
        self._elapsed.seconds += 2 * STORE_CALL  # one round: its read and its write at their deadlines
        return self._inner.take_claim(*args, **kwargs)

    def increment_rate_counter(self, key: str, limit: int, expires_at: float, *, another_round: Any = None) -> bool:
        if self._rate_race_lost:
            self._elapsed.seconds += STORE_CALL  # round 1: read, write lost its race
            if another_round is not None and not another_round():
                raise OutOfTime("no time for another round")
        self._elapsed.seconds += 2 * STORE_CALL
        return self._inner.increment_rate_counter(key, limit, expires_at)

    def decrement_rate_counter(self, key: str, **kwargs: Any) -> None:
        self._elapsed.seconds += 2 * STORE_CALL
        self._inner.decrement_rate_counter(key, **kwargs)

    def create(self, record: Any) -> None:
        self._elapsed.seconds += STORE_CALL
        if self._create_fails:
            raise StorageError("tablestore PutRow failed: OTSQuotaExhausted", transient=True,
                               code="OTSQuotaExhausted", status=403)
        self._inner.create(record)

    def give_back_claim(self, key: str, holder: str) -> bool:
        assert self.budget is not None
        self.left_at_give_back = self.budget.left()
        self._elapsed.seconds += STORE_CALL
        return self._inner.give_back_claim(key, holder)


class SlowVendor(NumberedVendor):
    """Each Initialize takes the call's deadline; ``throttled``: and is refused (the vendor did nothing)."""

    def __init__(self, elapsed: Elapsed, *, throttled: bool = False) -> None:
        super().__init__()
        self._elapsed, self._throttled = elapsed, throttled

    def initialize(self, request: Any) -> Any:
        self._elapsed.seconds += VENDOR_CALL
        if self._throttled:
            raise ThrottlingError("HTTP 429 (Throttling.Api)", status=429, code="Throttling.Api")
        return super().initialize(request)


def _slow_keyed_start(tmp_path: Path, seconds: float, *, now: float = T0, throttled: bool = False,
                      **slow: bool) -> tuple[str, float | None]:
    """A keyed start with every call at its deadline in an invocation of ``seconds``: its answer ("201" or the
    refusal's code) and the time left when its key's give-back started (None: none)."""
    elapsed = Elapsed()
    vendor = SlowVendor(elapsed, throttled=throttled)
    assert vendor.settings.call_deadline == VENDOR_CALL
    inner = SqliteTransactionStore(tmp_path / f"{now}-{seconds}.sqlite3")
    try:
        store = SlowStore(inner, elapsed, **slow)
        service = Verifications(settings=_settings(), client=vendor, store=store,  # type: ignore[arg-type]
                                clock=FakeClock(now))
        store.budget = budget = InvocationBudget(seconds, clock=elapsed)
        try:
            service.start(hash_user_id(SUB, PEPPER), _start(), budget=budget, idempotency_key=KEY)
            return "201", store.left_at_give_back
        except Refused as refused:
            return refused.code, store.left_at_give_back
    finally:
        inner.close()


@pytest.mark.parametrize("more", [0.0, STORE_CALL, 3 * STORE_CALL])
def test_a_keyed_start_refused_after_a_retried_rate_claim_still_has_time_to_give_its_key_back(
    tmp_path: Path, more: float
) -> None:
    """``more``: beyond _claim_key's reserve: none (the rate claim may not retry), enough for it to retry."""
    answer, left = _slow_keyed_start(tmp_path, CLAIM_RESERVE + more, rate_race_lost=True, create_fails=True)
    assert answer in {"StorageUnavailable", "TryAgain"}
    assert left is not None and left >= STORE_CALL, f"the key's give-back started with {left} s left"


@pytest.mark.parametrize(("seconds", "reads_slow"), [(CLAIM_RESERVE, False), (S_YAML_TIMEOUT, True)],
                         ids=["exactly the claim's reserve", "s.yaml's timeout, slow reads"])
def test_a_keyed_start_the_vendor_throttled_gives_its_key_back_before_the_rate_slot(
    tmp_path: Path, seconds: float, reads_slow: bool
) -> None:
    """The slot's release (a read and a write, unbudgeted) ran first and left 3 s for the key's give-back."""
    answer, left = _slow_keyed_start(tmp_path, seconds, throttled=True, reads_slow=reads_slow)
    assert answer == "VendorBusy"
    assert left is not None and left >= STORE_CALL, f"the key's give-back started with {left} s left"


@pytest.mark.parametrize("now", [MIDNIGHT - 43200.0, MIDNIGHT - 120.0], ids=["noon", "two minutes to midnight"])
def test_s_yaml_s_timeout_lets_a_keyed_start_start_at_any_hour_with_every_call_at_its_deadline(
    tmp_path: Path, now: float
) -> None:
    assert _slow_keyed_start(tmp_path, S_YAML_TIMEOUT, now=now, reads_slow=True)[0] == "201"


def test_starts_refused_one_after_another_with_fresh_keys_leave_no_rows_behind(
    tmp_path: Path, vendor: NumberedVendor
) -> None:
    """Found by review ap: each key's claim is taken before the rate slot, and a given-back claim stayed as a row
    (count 0) until the end of the next UTC day: a user at their hourly limit sending fresh keys made the store
    grow by a row per refused request."""
    import sqlite3

    path = tmp_path / "kyc.sqlite3"
    store = SqliteTransactionStore(path)
    try:
        app = _app(store, vendor, rate_limit=1)
        assert _post(app, _start(), key=None)[0] == 201  # the hour's one start
        with sqlite3.connect(path) as conn:
            before = conn.execute("SELECT count(*) FROM rate_counters").fetchone()[0]
        statuses = {_post(app, _start(), key=f"fresh-key-{n}")[0] for n in range(20)}
        with sqlite3.connect(path) as conn:
            after = conn.execute("SELECT count(*) FROM rate_counters").fetchone()[0]
    finally:
        store.close()
    assert statuses == {429}
    assert after == before


# -- found by mutating shared.verifications (review bp) ------------------------------------------------------------


def test_a_keyed_start_without_time_for_its_claim_s_own_rounds_claims_no_key(tmp_path: Path) -> None:
    """The claim needs the billed part and a give-back, and also a round of its own and a rate claim's: a budget
    just short of that takes no claim (and so gives none back)."""
    assert _slow_keyed_start(tmp_path, CLAIM_RESERVE - 1.0) == ("TryAgain", None)


class ClaimOutOfTime:
    """The key's claim lost its race and had no time for another round (``OutOfTime``)."""

    def __init__(self, inner: SqliteTransactionStore) -> None:
        self._inner = inner
        self.given_back: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def take_claim(self, *args: Any, **kwargs: Any) -> bool:
        raise OutOfTime("no time for another round")

    def give_back_claim(self, key: str, holder: str) -> bool:
        self.given_back.append(key)
        return self._inner.give_back_claim(key, holder)


def test_a_key_claim_out_of_time_is_try_again_and_gives_the_claim_back(
    store: SqliteTransactionStore, vendor: NumberedVendor
) -> None:
    racing = ClaimOutOfTime(store)
    status, headers, body = _post(_app(racing, vendor), _start())
    assert (status, body["error"]["code"], headers.get("retry-after")) == (503, "TryAgain", "1")
    assert len(racing.given_back) == 1 and vendor.initialize_calls == []


def test_a_row_under_a_keyed_id_that_kept_no_url_is_never_answered_as_a_start(
    store: SqliteTransactionStore, vendor: NumberedVendor
) -> None:
    """A row without the vendor's page (written before keyed rows kept it) has no answer to give again."""
    owner = hash_user_id(SUB, PEPPER)
    mbid = merchant_biz_id_for_key(owner, KEY, int(T0 // IDEMPOTENCY_WINDOW_SECONDS), PEPPER)
    store.create(TransactionRecord(merchant_biz_id=mbid, transaction_id="hksb" + "0" * 28, merchant_user_id=owner,
                                   doc_type="01000000", request_fingerprint=request_fingerprint(_start())))
    status, _, body = _post(_app(store, vendor), _start())
    assert (status, body["error"]["code"]) == (422, "IdempotencyKeyReused") and vendor.initialize_calls == []


class AnotherStartStoredFirst:
    """The row's create finds another start's row under the keyed id (its claim lapsed), for another request."""

    def __init__(self, inner: SqliteTransactionStore) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def create(self, record: Any) -> None:
        self._inner.create(values.replace(record, transaction_id="hksb" + "9" * 28, request_fingerprint="other"))
        raise RecordExists()


def test_a_keyed_start_that_meets_another_request_s_row_keeps_its_claim(
    store: SqliteTransactionStore, vendor: NumberedVendor
) -> None:
    """``IdempotencyKeyReused`` from the create's race: the key's claim must outlive that row (an erasure of it must
    not free the id for a second verification)."""
    first = _post(_app(AnotherStartStoredFirst(store), vendor), _start())
    assert (first[0], first[2]["error"]["code"]) == (422, "IdempotencyKeyReused")
    day = int(T0 // IDEMPOTENCY_WINDOW_SECONDS)
    store.delete(merchant_biz_id_for_key(hash_user_id(SUB, PEPPER), KEY, day, PEPPER))  # kyc erase
    again = _post(_app(store, vendor), _start())
    assert (again[0], again[2]["error"]["code"], len(vendor.initialize_calls)) == (409, "IdempotencyKeyInUse", 1)


def test_a_start_within_the_clock_skew_of_midnight_reads_the_next_day_s_id(
    store: SqliteTransactionStore, vendor: NumberedVendor
) -> None:
    """"Within" includes the bound: exactly ``IDEMPOTENCY_CLOCK_SKEW_SECONDS`` before midnight."""
    def instance(now: float) -> InitializerApp:
        return InitializerApp(settings=_settings(), client=vendor, store=store, clock=FakeClock(now))  # type: ignore[arg-type]

    first = _post(instance(MIDNIGHT + 1), _start())
    again = _post(instance(MIDNIGHT - IDEMPOTENCY_CLOCK_SKEW_SECONDS), _start())
    assert again[2] == first[2] and len(vendor.initialize_calls) == 1


class EarlierRowUnreadable:
    """The read of the keyed ids' rows fails."""

    def __init__(self, inner: SqliteTransactionStore) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def get(self, merchant_biz_id: str) -> Any:
        raise lost_answer("GetRow")


def test_a_keyed_start_that_cannot_read_its_earlier_rows_starts_nothing(
    store: SqliteTransactionStore, vendor: NumberedVendor
) -> None:
    """An unread row is not an absent one: starting would bill a second verification for a repeat."""
    status, _, body = _post(_app(EarlierRowUnreadable(store), vendor), _start())
    assert (status, body["error"]["code"], vendor.initialize_calls) == (503, "StorageUnavailable", [])


def test_another_owner_s_row_under_a_keyed_id_is_never_answered_again(
    store: SqliteTransactionStore, vendor: NumberedVendor
) -> None:
    """The id is derived from the owner's hash: another owner's row there (a collision) is refused, not shown."""
    mbid = merchant_biz_id_for_key(hash_user_id(SUB, PEPPER), KEY, int(T0 // IDEMPOTENCY_WINDOW_SECONDS), PEPPER)
    store.create(TransactionRecord(merchant_biz_id=mbid, transaction_id="hksb" + "0" * 28, merchant_user_id="f" * 64,
                                   doc_type="01000000", transaction_url="https://vendor.example/verify/theirs",
                                   request_fingerprint=request_fingerprint(_start())))
    status, _, body = _post(_app(store, vendor), _start())
    assert (status, body["error"]["code"]) == (422, "IdempotencyKeyReused")
    assert "theirs" not in jsonutil.dumps_str(body)
