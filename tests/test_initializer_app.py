"""InitializerApp (POST /verifications) with a fake vendor client and the real SQLite store."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared import jsonutil, values
from shared.auth import AuthFailed, hash_user_id, issue_token
from shared.cloudauth import AuthError, MalformedResponse, ParameterError, ThrottlingError, TransportError
from shared.cloudauth.errors import error_from_response
from shared.fc import HttpEvent
from shared.handlers.initializer import InitializerApp
from shared.storage import RecordExists, SqliteTransactionStore, StorageError
from shared.verifications import FrontendSettings, return_url_allowed
from tests.fakes import T0, FakeClock, FakeCloudAuth
from tests.test_urls import unsafe_chars

SECRET = "s" * 40
PEPPER = "pepper-pepper-pepper"
SUB = "user-42@example.com"
ALLOW = ("https://shop.example", "https://shop.example/kyc/")
META = '{"apdidToken":"x","appName":"web"}'


def _settings(rate_limit: int = 10, cors_origins: tuple[str, ...] = ()) -> FrontendSettings:
    return FrontendSettings(
        public_url="https://kyc.example",
        jwt_secret=SECRET,
        user_id_pepper=PEPPER,
        return_url_allowlist=ALLOW,
        cors_origins=cors_origins,
        rate_limit_per_hour=rate_limit,
        max_body_bytes=64 * 1024,
        max_meta_info_bytes=16 * 1024,
        jwt_leeway_seconds=30,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteTransactionStore]:
    s = SqliteTransactionStore(tmp_path / "kyc.sqlite3")
    yield s
    s.close()


@pytest.fixture
def client() -> FakeCloudAuth:
    return FakeCloudAuth()


def _app(store: Any, client: FakeCloudAuth, rate_limit: int = 10, cors_origins: tuple[str, ...] = ()) -> InitializerApp:
    settings = _settings(rate_limit, cors_origins)
    return InitializerApp(settings=settings, client=client, store=store, clock=FakeClock(T0))  # type: ignore[arg-type]


def _post(app: InitializerApp, body: Any) -> tuple[int, dict[str, str], Any]:
    event = {
        "version": "v1",
        "rawPath": "/verifications",
        "body": body if isinstance(body, str) else jsonutil.dumps_str(body),
        "isBase64Encoded": False,
        "headers": {"Content-Type": "application/json", "Authorization": f"Bearer {issue_token(SUB, SECRET)}"},
        "requestContext": {"http": {"method": "POST", "path": "/verifications", "sourceIp": "203.0.113.7"}},
    }
    response = app.handle(event, None)
    return response["statusCode"], response["headers"], jsonutil.loads(response["body"] or "null")


def _start(**fields: Any) -> dict[str, Any]:
    return {"docType": "01000000", "metaInfo": META, **fields}


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example",
        "https://shop.example/",
        "https://shop.example/done?x=1",
        "https://shop.example#frag",
        "https://shop.example/kyc/step",
    ],
)
def test_allowed_return_urls(url: str) -> None:
    assert return_url_allowed(url, ALLOW)


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example.evil.com",
        "https://shop.example.evil.com/",
        "https://shop.example:444/",
        "https://shop.example@evil.com/",
        "https://user:pw@shop.example/",
        "https://shop.example\\@evil.com",
        "https://shop.example/\\evil.com",
        "http://shop.example/",
        "javascript:alert(1)",
        "//shop.example/",
        "https://evil.com/https://shop.example",
    ],
)
def test_disallowed_return_urls(url: str) -> None:
    assert not return_url_allowed(url, ALLOW)


def test_prefix_ending_with_slash_admits_deeper_paths_only() -> None:
    assert return_url_allowed("https://shop.example/kyc/x", ("https://shop.example/kyc/",))
    assert not return_url_allowed("https://shop.example/kycx", ("https://shop.example/kyc/",))


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example/kyc/done/..;/..;/account/delete",  # a servlet container drops ";..", then resolves
        "https://shop.example/kyc/done/%2e%2e;x=1/account/delete",
        "https://shop.example/kyc/done/../../account/delete",
        "https://shop.example/kyc/done/%2e%2e/%2e%2e/account/delete",
        "https://shop.example/kyc/done/.%2E/.%2e/account/delete",
        "https://shop.example/kyc/done/./x",
        "https://shop.example/kyc/done/..",
    ],
)
def test_a_return_url_with_dot_segments_is_refused_as_the_browser_would_leave_the_allowed_path(url: str) -> None:
    """A browser resolves ``..`` and ``%2e%2e`` (WHATWG URL's dot segments) before it navigates: the raw string
    starts with the allowed prefix, the page it lands on does not."""
    assert not return_url_allowed(url, ("https://shop.example/kyc/done",))


def test_dots_that_are_not_whole_segments_are_allowed() -> None:
    assert return_url_allowed("https://shop.example/kyc/done/v1.2/..x/file.html?next=../a#../b",
                              ("https://shop.example/kyc/done",))


def test_a_return_url_climbing_out_of_the_allowed_path_is_refused_before_the_vendor(
    store: SqliteTransactionStore, client: FakeCloudAuth
) -> None:
    status, _, body = _post(_app(store, client), _start(returnUrl="https://shop.example/kyc/../admin/logout"))
    assert (status, body["error"]["code"]) == (400, "ReturnUrlNotAllowed")
    assert client.initialize_calls == []


def test_a_refused_return_url_names_the_setting_that_allows_it(
    store: SqliteTransactionStore, client: FakeCloudAuth
) -> None:
    """A developer who exported their own allowlist over the dev stack's learns why the demo page stopped working
    (a newcomer's review); the message names the setting, never the allowed prefixes."""
    status, _, body = _post(_app(store, client), _start(returnUrl="https://elsewhere.example/"))
    assert (status, body["error"]["code"]) == (400, "ReturnUrlNotAllowed")
    assert "KYC_RETURN_URL_ALLOWLIST" in body["error"]["message"] and "shop.example" not in body["error"]["message"]


def test_start_creates_a_pending_row_and_returns_the_vendor_url(
    store: SqliteTransactionStore, client: FakeCloudAuth
) -> None:
    status, _, body = _post(_app(store, client), _start(returnUrl="https://shop.example/done"))
    assert status == 201
    assert body["transactionUrl"].startswith("https://vendor.example/verify/")
    row = store.get(body["merchantBizId"])
    assert row is not None and row.status == "PENDING" and row.transaction_id == body["transactionId"]
    assert client.initialize_calls[0].return_url == "https://shop.example/done"


def test_disallowed_return_url_is_rejected_before_the_vendor(
    store: SqliteTransactionStore, client: FakeCloudAuth
) -> None:
    status, _, body = _post(_app(store, client), _start(returnUrl="https://shop.example.evil.com/"))
    assert status == 400 and body["error"]["code"] == "ReturnUrlNotAllowed"
    assert client.initialize_calls == []


def test_unknown_fields_are_rejected(store: SqliteTransactionStore, client: FakeCloudAuth) -> None:
    status, _, body = _post(_app(store, client), _start(callbackUrl="https://evil.example/"))
    assert status == 400 and body["error"]["code"] == "UnknownField"
    assert client.initialize_calls == []


def test_style_config_object_is_sent_as_a_json_string(store: SqliteTransactionStore, client: FakeCloudAuth) -> None:
    style = {"color": "#ff0000", "radius": 4}
    status, _, _ = _post(_app(store, client), _start(styleConfig=style))
    assert status == 201
    sent = client.initialize_calls[0].extra["StyleConfig"]
    assert isinstance(sent, str) and jsonutil.loads(sent) == style


def test_non_string_switch_is_rejected(store: SqliteTransactionStore, client: FakeCloudAuth) -> None:
    status, _, body = _post(_app(store, client), _start(idSpoof=True))
    assert status == 400 and body["error"]["code"] == "InvalidParameter"


class _BrokenStore:
    def __init__(self, inner: SqliteTransactionStore) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def create(self, record: Any) -> None:
        raise StorageError("down", transient=True, code="Down")


def test_a_store_failure_is_logged_with_the_store_s_error_code(
    store: SqliteTransactionStore, client: FakeCloudAuth, caplog: pytest.LogCaptureFixture
) -> None:
    """The runbook's fix (the table's status, or the role's grants) needs the store's code, not the class name."""
    _post(_app(_BrokenStore(store), client), _start())
    [failed] = [r for r in caplog.records if r.getMessage() == "initialize.store_failed"]
    assert failed.errorCode == "Down"  # type: ignore[attr-defined]


def test_store_failure_is_503_without_the_vendor_url(store: SqliteTransactionStore, client: FakeCloudAuth) -> None:
    status, _, body = _post(_app(_BrokenStore(store), client), _start())
    assert status == 503 and body["error"]["code"] == "StorageUnavailable"
    text = jsonutil.dumps_str(body)
    assert "vendor.example" not in text and "transactionUrl" not in text


class _AppliedButUnanswered(_BrokenStore):
    """A create that reaches the table but whose answer is lost (Tablestore: the PutRow was sent, then a read
    timeout): ``StorageError(maybe_sent=True)``."""

    def create(self, record: Any) -> None:
        self._inner.create(record)
        raise StorageError("tablestore PutRow: timed out", transient=True, code="TransportError", maybe_sent=True)


class _LostBeforeTheTable(_BrokenStore):
    def create(self, record: Any) -> None:
        raise StorageError("tablestore PutRow: timed out", transient=True, code="TransportError", maybe_sent=True)


def test_a_row_stored_although_its_write_went_unanswered_is_a_started_verification(
    store: SqliteTransactionStore, client: FakeCloudAuth
) -> None:
    """The vendor billed the transaction and the row is there: the user gets the URL, not a 503 that leaves the row
    behind for the sweeper to abandon while the user starts (and pays) again."""
    status, _, body = _post(_app(_AppliedButUnanswered(store), client), _start())
    assert status == 201, body
    row = store.get(body["merchantBizId"])
    assert row is not None and row.transaction_id == body["transactionId"]


class _AppliedButUnansweredSlowly(_AppliedButUnanswered):
    """The same, after ``seconds`` on ``clock``: a create that timed out has used its whole deadline."""

    call_deadline = 11.0  # a Tablestore call's deadline

    def __init__(self, inner: SqliteTransactionStore, clock: FakeClock, seconds: float) -> None:
        super().__init__(inner)
        self.clock, self.seconds = clock, seconds

    def create(self, record: Any) -> None:
        self.clock.advance(self.seconds)
        super().create(record)


@pytest.mark.parametrize(("create_seconds", "started"), [(5.0, True), (50.0, False)])
def test_a_row_written_without_an_answer_is_read_back_only_while_the_invocation_can_afford_it(
    store: SqliteTransactionStore, create_seconds: float, started: bool
) -> None:
    """The check before the vendor call reserves the call, one create and the answer; the read-back is one more
    store call, made only if the invocation still has time for it and the answer, so FC never ends it first."""
    from shared.fc.budget import InvocationBudget
    from shared.verifications import Refused, Verifications

    clock = FakeClock(T0)
    service = Verifications(settings=_settings(), client=FakeCloudAuth(), clock=clock,  # type: ignore[arg-type]
                            store=_AppliedButUnansweredSlowly(store, clock, create_seconds))  # type: ignore[arg-type]
    budget = InvocationBudget(60.0, clock=clock)
    body = {"docType": "01000000", "metaInfo": META}
    if started:
        assert service.start(hash_user_id(SUB, PEPPER), body, budget=budget).transaction_url
    else:
        with pytest.raises(Refused, match="could not be saved"):
            service.start(hash_user_id(SUB, PEPPER), body, budget=budget)


def test_a_write_that_may_have_been_sent_but_left_no_row_is_503(
    store: SqliteTransactionStore, client: FakeCloudAuth
) -> None:
    status, _, body = _post(_app(_LostBeforeTheTable(store), client), _start())
    assert (status, body["error"]["code"]) == (503, "StorageUnavailable")
    assert store.get(client.initialize_calls[0].merchant_biz_id) is None


def test_vendor_throttling_is_503_with_retry_after(store: SqliteTransactionStore, client: FakeCloudAuth) -> None:
    client.initialize_error = ThrottlingError("slow down", code="Throttling.User", status=400)
    status, headers, body = _post(_app(store, client), _start())
    assert status == 503 and body["error"]["code"] == "VendorBusy"
    assert headers["retry-after"] == "2"


def test_a_start_refused_for_repeated_failing_calls_is_503_not_blamed_on_our_credentials(
    store: SqliteTransactionStore, client: FakeCloudAuth
) -> None:
    """Found by review ww: the vendor's 401 ``Forbidden.ExceptionRepeatedInvoke`` ("the maximum number of repeated
    exception invocations is exceeded") answered 502 "refused our credentials" and logged a credentials ERROR."""
    client.initialize_error = error_from_response(
        401, "Forbidden.ExceptionRepeatedInvoke", "The maximum number of repeated exception invocations is exceeded.",
        "REQ-ERR",
    )
    status, _, body = _post(_app(store, client), _start())
    assert (status, body["error"]["code"]) == (503, "VendorBusy")
    assert "credentials" not in jsonutil.dumps_str(body)


def test_starts_refused_for_repeated_failing_calls_count_against_the_user_s_hourly_limit(
    store: SqliteTransactionStore, client: FakeCloudAuth
) -> None:
    """Found by review ap: the refusal is of the caller's calls, not the account's load; its slot went back like
    throttling's, so a user in that state called Initialize without any bound (20 calls with a limit of 2)."""
    client.initialize_error = error_from_response(
        401, "Forbidden.ExceptionRepeatedInvoke", "The maximum number of repeated exception invocations is exceeded.",
        "REQ-ERR",
    )
    app = _app(store, client, rate_limit=2)
    statuses = [_post(app, _start())[0] for _ in range(5)]
    assert statuses == [503, 503, 429, 429, 429]
    assert len(client.initialize_calls) == 2


def test_a_vendor_answer_with_an_unusable_transaction_id_is_a_502_and_stores_nothing(
    store: SqliteTransactionStore, client: FakeCloudAuth
) -> None:
    # What the client raises for an Initialize answer whose TransactionId CheckResult could never send back.
    client.initialize_error = MalformedResponse("Result.TransactionId is not 1-128 printable characters")
    status, _, body = _post(_app(store, client), _start())
    assert status == 502 and body["error"]["code"] == "VendorError"
    assert "transactionUrl" not in jsonutil.dumps_str(body)
    assert store.list_created()[0] == []


def test_rate_limit_answers_429_once_the_hourly_limit_is_reached(
    store: SqliteTransactionStore, client: FakeCloudAuth
) -> None:
    app = _app(store, client, rate_limit=2)
    assert [_post(app, _start())[0] for _ in range(2)] == [201, 201]
    status, headers, body = _post(app, _start())
    assert status == 429 and body["error"]["code"] == "RateLimited" and "retry-after" in headers
    assert len(client.initialize_calls) == 2


def test_rate_limited_retry_after_is_when_the_next_hour_s_count_starts_and_a_start_then_succeeds(
    store: SqliteTransactionStore, client: FakeCloudAuth
) -> None:
    """``Retry-After`` of a 429 says when the user's next start is counted in a new hour: not sooner (the frontend
    would retry into 429s), not later (review bf: any value passed, only the header's presence was checked)."""
    clock = FakeClock(T0)
    app = InitializerApp(settings=_settings(1), client=client, store=store, clock=clock)  # type: ignore[arg-type]
    assert _post(app, _start())[0] == 201
    status, headers, _ = _post(app, _start())
    next_hour = (T0 // 3600 + 1) * 3600
    wait = int(headers["retry-after"])
    assert status == 429 and next_hour <= T0 + wait <= next_hour + 2
    clock.advance(wait - 2)
    assert _post(app, _start())[0] == 429  # still this hour
    clock.advance(2)
    assert _post(app, _start())[0] == 201


def test_vendor_gets_the_hashed_user_id_never_the_raw_sub(store: SqliteTransactionStore, client: FakeCloudAuth) -> None:
    _, _, body = _post(_app(store, client), _start())
    sent = client.initialize_calls[0].merchant_user_id
    assert sent == hash_user_id(SUB, PEPPER) and SUB not in sent
    row = store.get(body["merchantBizId"])
    assert row is not None and row.merchant_user_id == sent


def test_callback_url_points_at_our_callback_with_the_merchant_biz_id(
    store: SqliteTransactionStore, client: FakeCloudAuth
) -> None:
    _, _, body = _post(_app(store, client), _start())
    request = client.initialize_calls[0]
    assert request.callback_url == f"https://kyc.example/callback/{body['merchantBizId']}"
    assert request.merchant_biz_id == body["merchantBizId"]


def test_only_the_callback_tokens_hash_is_stored(store: SqliteTransactionStore, client: FakeCloudAuth) -> None:
    _, _, body = _post(_app(store, client), _start())
    token = client.initialize_calls[0].callback_token
    assert token
    row = store.get(body["merchantBizId"])
    assert row is not None and row.callback_token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(row.to_item())


def _bearer_event(token: str) -> HttpEvent:
    path = "/verifications/x"
    return HttpEvent.from_bytes(
        {"requestContext": {"http": {"method": "GET", "path": path}}, "rawPath": path,
         "headers": {"authorization": f"Bearer {token}"}}
    )  # fmt: skip


def test_tokens_signed_with_a_previous_jwt_secret_are_accepted_while_rotating(store: SqliteTransactionStore) -> None:
    old_secret = "o" * 40
    settings = values.replace(_settings(), jwt_previous_secrets=(old_secret,))
    app = InitializerApp(settings=settings, client=FakeCloudAuth(), store=store)  # type: ignore[arg-type]
    assert app._user(_bearer_event(issue_token("alice", old_secret))) == app._user(
        _bearer_event(issue_token("alice", SECRET))
    )
    with pytest.raises(AuthFailed):
        app._user(_bearer_event(issue_token("alice", "z" * 40)))


def test_a_return_url_python_cannot_even_split_is_refused_not_a_crash() -> None:
    assert return_url_allowed("https://[x", ("https://shop.example/",)) is False


def test_storage_down_while_reading_a_verification_is_a_503(store: SqliteTransactionStore) -> None:
    class DownStore:
        def get(self, merchant_biz_id: str) -> None:
            raise StorageError("down", transient=True, code="Unavailable")

    app = InitializerApp(settings=_settings(), client=FakeCloudAuth(), store=DownStore())  # type: ignore[arg-type]
    answer = app.router.dispatch(_bearer_event(issue_token("alice", SECRET)).raw)
    assert answer["statusCode"] == 503
    assert jsonutil.loads(answer["body"])["error"]["code"] == "StorageUnavailable"


def test_a_parallel_burst_cannot_overshoot_the_rate_limit(tmp_path: Path) -> None:
    import threading

    shared_store = SqliteTransactionStore(tmp_path / "kyc.sqlite3")
    client = FakeCloudAuth()
    barrier = threading.Barrier(8)
    answers: list[int] = []

    def one_request() -> None:
        app = InitializerApp(settings=_settings(rate_limit=3), client=client, store=shared_store)  # type: ignore[arg-type]
        barrier.wait()  # all eight count their slots at the same moment
        answers.append(_post(app, {"docType": "01000000", "metaInfo": "{}"})[0])

    threads = [threading.Thread(target=one_request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [201, 201, 201, 429, 429, 429, 429, 429]
    assert len(client.initialize_calls) == 3  # billed vendor calls never exceed the limit
    shared_store.close()


def test_an_attempt_the_vendor_never_saw_does_not_use_up_the_limit(store: SqliteTransactionStore) -> None:
    client = FakeCloudAuth()
    app = _app(store, client, rate_limit=1)
    client.initialize_error = ThrottlingError("busy", code="Throttling.Api")
    assert _post(app, {"docType": "01000000", "metaInfo": "{}"})[0] == 503
    client.initialize_error = None
    assert _post(app, {"docType": "01000000", "metaInfo": "{}"})[0] == 201


def test_a_start_refused_for_our_own_credentials_gives_the_users_slot_back(store: SqliteTransactionStore) -> None:
    """The gateway refused our signature (or AccessKey, STS token, RAM policy): nothing was started, and it is the
    deployment's fault; once the operator fixes it, the users who tried meanwhile are not locked out for the hour."""
    client = FakeCloudAuth()
    app = _app(store, client, rate_limit=2)
    client.initialize_error = AuthError("signature mismatch", status=400, code="SignatureDoesNotMatch")
    assert [_post(app, _start())[0] for _ in range(2)] == [502, 502]
    client.initialize_error = None
    status, _, body = _post(app, _start())
    assert status == 201, body


class _ReleaseFails:
    """The SQLite store, whose rate slots cannot be given back (the store failing at that moment)."""

    def __init__(self, inner: SqliteTransactionStore) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def decrement_rate_counter(self, key: str, **kwargs: Any) -> None:
        raise StorageError("tablestore UpdateRow failed: OTSServerBusy", transient=True, code="OTSServerBusy")


def test_a_slot_that_cannot_be_given_back_leaves_the_refusal_s_answer_as_it_is(store: SqliteTransactionStore) -> None:
    """review bi: giving a slot back is best effort (a slot kept only lowers the user's limit this hour); the store
    failing then must not turn the refusal the user is owed into a 500."""
    client = FakeCloudAuth()
    client.initialize_error = AuthError("signature mismatch", status=400, code="SignatureDoesNotMatch")
    status, _, body = _post(_app(_ReleaseFails(store), client), _start())
    assert (status, body["error"]["code"]) == (502, "VendorError")


@pytest.mark.parametrize("meta_info", ["", "   ", "\t\n"])
def test_a_blank_meta_info_is_missing_and_never_reaches_the_vendor(
    store: SqliteTransactionStore, client: FakeCloudAuth, meta_info: str
) -> None:
    status, _, body = _post(_app(store, client), _start(metaInfo=meta_info))
    assert (status, body["error"]["code"]) == (400, "MissingParameter")
    assert client.initialize_calls == []


def test_the_vendors_missing_parameter_keeps_its_code(store: SqliteTransactionStore, client: FakeCloudAuth) -> None:
    """openapi.yaml documents both MissingParameter and InvalidParameter: the one the vendor (or the client's own
    check) named is the one the frontend gets."""
    client.initialize_error = ParameterError("MetaInfo is required", code="MissingParameter", status=400)
    status, _, body = _post(_app(store, client), _start())
    assert (status, body["error"]["code"]) == (400, "MissingParameter")


# --- URL hygiene of returnUrl (issue 14, item 1) ------------------------------------------------------------


#: A lone surrogate never gets this far: a JSON body carrying one is InvalidJson.
unsafe_json_chars = unsafe_chars.filter(lambda c: not "\ud800" <= c <= "\udfff")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), char=st.sampled_from(["\r", "\n", "\t", "\r\n"]) | unsafe_json_chars)
def test_a_return_url_with_an_unsafe_character_anywhere_is_refused_before_the_vendor(
    store: SqliteTransactionStore, data: st.DataObject, char: str
) -> None:
    allowed = data.draw(st.sampled_from(["https://shop.example/done?x=1#top", "https://shop.example/kyc/step"]))
    at = data.draw(st.integers(0, len(allowed)))
    client = FakeCloudAuth()
    status, _, body = _post(_app(store, client), _start(returnUrl=allowed[:at] + char + allowed[at:]))
    assert status == 400 and body["error"]["code"] == "InvalidReturnUrl"
    assert client.initialize_calls == []


# --- the owner's view shows the identity the policy selects (issue 14, item 7) -----------------------------------

MASKED = {"surname": "C*", "documentNumber": "K*******8", "birthDate": "1990-**-**", "sex": "M",
          "nationality": "CHN", "expiryDate": "2030-01-01"}  # fmt: skip


def _view(store: SqliteTransactionStore, settings: FrontendSettings) -> dict[str, Any]:
    app = InitializerApp(settings=settings, client=FakeCloudAuth(), store=store, clock=FakeClock(T0))  # type: ignore[arg-type]
    _, _, started = _post(app, _start())
    mbid = started["merchantBizId"]
    store.finalize(mbid, status="PASSED", passed="Y", sub_code="200", result_key=None, identity_masked=MASKED,
                   result_version=1, now=T0)
    event = {
        "version": "v1",
        "rawPath": f"/verifications/{mbid}",
        "headers": {"Authorization": f"Bearer {issue_token(SUB, SECRET)}"},
        "requestContext": {"http": {"method": "GET", "path": f"/verifications/{mbid}", "sourceIp": "203.0.113.7"}},
    }
    response = app.handle(event, None)
    assert response["statusCode"] == 200
    view: dict[str, Any] = jsonutil.loads(response["body"])
    return view


def test_the_owners_view_shows_the_outcome_and_no_identity_by_default(store: SqliteTransactionStore) -> None:
    view = _view(store, _settings())
    assert (view["status"], view["passed"], view["subCode"], view["docType"]) == ("PASSED", "Y", "200", "01000000")
    assert view["identity"] is None


def test_the_owners_view_shows_exactly_the_configured_identity_fields_masked(store: SqliteTransactionStore) -> None:
    settings = values.replace(_settings(), identity_fields=frozenset({"surname", "birthDate"}))
    assert _view(store, settings)["identity"] == {"surname": "C*", "birthDate": "1990-**-**"}


# --- large bodies: refused before they are read, and never before the token (issue 14, item 6) --------------------


def _raw_post(app: InitializerApp, body: str, headers: dict[str, str], *, b64: bool = False) -> tuple[int, Any]:
    event = {
        "version": "v1",
        "rawPath": "/verifications",
        "body": body,
        "isBase64Encoded": b64,
        "headers": {"Content-Type": "application/json", **headers},
        "requestContext": {"http": {"method": "POST", "path": "/verifications", "sourceIp": "203.0.113.7"}},
    }
    response = app.handle(jsonutil.dumps(event), None)
    return response["statusCode"], jsonutil.loads(response["body"])["error"]["code"]


def _bearer() -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SUB, SECRET)}"}


def test_a_declared_body_over_the_limit_is_refused_before_the_token_or_the_body_is_read(
    store: SqliteTransactionStore, client: FakeCloudAuth
) -> None:
    app = _app(store, client)
    assert _raw_post(app, "", {"Content-Length": str(64 * 1024 + 1)}) == (413, "PayloadTooLarge")
    assert _raw_post(app, "not even json", {"Content-Length": "10000000", **_bearer()}) == (413, "PayloadTooLarge")


def test_a_declared_length_of_thousands_of_digits_is_a_413_not_a_500(
    store: SqliteTransactionStore, client: FakeCloudAuth
) -> None:
    assert _raw_post(_app(store, client), "{}", {"Content-Length": "9" * 5000, **_bearer()}) == (413, "PayloadTooLarge")


def test_a_declared_length_with_leading_zeros_is_its_value(
    store: SqliteTransactionStore, client: FakeCloudAuth
) -> None:
    padded = _raw_post(_app(store, client), "{}", {"Content-Length": "0" * 5000 + "2", **_bearer()})
    assert padded == _raw_post(_app(store, client), "{}", {"Content-Length": "2", **_bearer()})
    assert padded[0] == 400


def test_an_oversized_body_is_refused_before_it_is_decoded(
    store: SqliteTransactionStore, client: FakeCloudAuth
) -> None:
    not_base64 = "!" * (100 * 1024)  # decoding it would fail: a 413 proves it was never decoded
    assert _raw_post(_app(store, client), not_base64, _bearer(), b64=True) == (413, "PayloadTooLarge")
    assert _raw_post(_app(store, client), "{" * (100 * 1024), _bearer()) == (413, "PayloadTooLarge")


def test_an_event_larger_than_any_accepted_request_is_refused_before_it_is_parsed(
    store: SqliteTransactionStore, client: FakeCloudAuth
) -> None:
    not_json = b"{" + b"x" * (1024 * 1024)  # parsing it would answer BadEvent: a 413 proves it was never parsed
    response = _app(store, client).handle(not_json, None)
    assert response["statusCode"] == 413
    assert jsonutil.loads(response["body"])["error"]["code"] == "PayloadTooLarge"


def test_the_token_is_checked_before_the_body_is_read(store: SqliteTransactionStore, client: FakeCloudAuth) -> None:
    not_base64 = "!" * 1024  # within the limit, but decoding it would answer 400
    assert _raw_post(_app(store, client), not_base64, {}, b64=True) == (401, "MissingToken")


# --- products --------------------------------------------------------------------------------------------------


def _get(app: InitializerApp, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    event = {"version": "v1", "rawPath": path, "body": "", "isBase64Encoded": False, "headers": headers or {},
             "requestContext": {"http": {"method": "GET", "path": path, "sourceIp": "203.0.113.7"}}}
    response = app.handle(event, None)
    return response["statusCode"], response["headers"], jsonutil.loads(response["body"] or "null")


def test_an_unknown_product_is_400_product_not_allowed_with_the_allowed_list(
    store: SqliteTransactionStore, client: FakeCloudAuth
) -> None:
    status, _, body = _post(_app(store, client), _start(productCode="KYC_GLOBAL"))
    assert status == 400
    assert body["error"]["code"] == "ProductNotAllowed"
    assert body["error"]["allowed"] == list(client.settings.allowed_products)
    assert set(body["error"]) == {"code", "message", "allowed"}


def test_the_products_are_listed_without_a_token_and_may_be_cached(
    store: SqliteTransactionStore, client: FakeCloudAuth
) -> None:
    status, headers, body = _get(_app(store, client), "/verifications/products")
    assert status == 200 and headers["cache-control"] == "public, max-age=300"
    assert [p["productCode"] for p in body["products"]] == list(client.settings.allowed_products)
    assert body["defaultProduct"] == client.settings.product_code


def test_a_start_s_answer_leaves_the_page_to_the_back_forward_cache(
    store: SqliteTransactionStore, client: FakeCloudAuth
) -> None:
    """No cache reuses a POST's answer; a no-store one would keep the merchant's page out of the browser's
    back/forward cache (the way back from the vendor's page)."""
    status, headers, _ = _post(_app(store, client), _start())
    assert status == 201 and "cache-control" not in headers


def test_a_verification_shown_to_its_owner_is_not_stored_by_caches(
    store: SqliteTransactionStore, client: FakeCloudAuth
) -> None:
    app = _app(store, client)
    _, _, started = _post(app, _start())
    token = issue_token(SUB, SECRET)
    status, headers, _ = _get(app, f"/verifications/{started['merchantBizId']}", {"authorization": f"Bearer {token}"})
    assert status == 200 and headers["cache-control"] == "no-store"


def test_the_products_route_does_not_shadow_a_verification(
    store: SqliteTransactionStore, client: FakeCloudAuth
) -> None:
    app = _app(store, client)
    _, _, started = _post(app, _start(productCode="FACE_LIVENESS_PRO", docType=None))
    token = issue_token(SUB, SECRET)
    status, _, view = _get(app, f"/verifications/{started['merchantBizId']}", {"authorization": f"Bearer {token}"})
    assert status == 200
    assert (view["productCode"], view["docType"], view["identity"], view["face"]) == (
        "FACE_LIVENESS_PRO", None, None, None)


# -- found by mutating shared.verifications (review bp) ------------------------------------------------------------


def test_meta_info_of_exactly_the_limit_is_taken_and_one_byte_more_is_too_large(
    store: SqliteTransactionStore, client: FakeCloudAuth
) -> None:
    limit = _settings().max_meta_info_bytes
    padded = '{"appName":"' + "w" * (limit - len('{"appName":""}')) + '"}'
    assert len(padded.encode()) == limit
    assert _post(_app(store, client), _start(metaInfo=padded))[0] == 201
    status, _, body = _post(_app(store, client), _start(metaInfo=padded[:-2] + 'w"}'))
    assert (status, body["error"]["code"]) == (413, "PayloadTooLarge") and len(client.initialize_calls) == 1


def test_a_start_without_an_idempotency_key_keeps_no_vendor_page_in_its_row(
    store: SqliteTransactionStore, client: FakeCloudAuth
) -> None:
    """The vendor's page is kept only to answer a keyed repeat; a row without a key has no use for it."""
    _, _, body = _post(_app(store, client), _start())
    row = store.get(body["merchantBizId"])
    assert row is not None and row.transaction_url is None and row.request_fingerprint is None


def test_a_malformed_id_is_not_found_without_reading_the_store(store: SqliteTransactionStore) -> None:
    reads: list[str] = []

    class Reading:
        def get(self, merchant_biz_id: str) -> None:
            reads.append(merchant_biz_id)

    app = InitializerApp(settings=_settings(), client=FakeCloudAuth(), store=Reading())  # type: ignore[arg-type]
    path = "/verifications/" + "a" * 33  # one character longer than a merchantBizId may be
    event = {"requestContext": {"http": {"method": "GET", "path": path}}, "rawPath": path,
             "headers": {"authorization": f"Bearer {issue_token('alice', SECRET)}"}}
    answer = app.router.dispatch(event)
    assert (answer["statusCode"], jsonutil.loads(answer["body"])["error"]["code"]) == (404, "NotFound")
    assert reads == []


def test_a_rate_limit_of_zero_is_no_limit(store: SqliteTransactionStore, client: FakeCloudAuth) -> None:
    app = _app(store, client, rate_limit=0)
    assert [_post(app, _start())[0] for _ in range(3)] == [201, 201, 201]


def test_a_retry_after_a_429_sent_at_a_fraction_of_a_second_is_counted_in_the_next_hour(
    store: SqliteTransactionStore, client: FakeCloudAuth
) -> None:
    """Retry-After is whole seconds: rounded down, a 429 at hh:mm:ss.5 would send the retry into the same hour."""
    now = T0 + 0.5
    app = InitializerApp(settings=_settings(1), client=client, store=store, clock=FakeClock(now))  # type: ignore[arg-type]
    assert _post(app, _start())[0] == 201
    _, headers, _ = _post(app, _start())
    assert now + int(headers["retry-after"]) >= (T0 // 3600 + 1) * 3600


def test_a_start_the_client_refused_before_sending_gives_the_user_s_slot_back(
    store: SqliteTransactionStore, client: FakeCloudAuth
) -> None:
    """The client's own check (no HTTP status) never reached the vendor's QPS: it does not count."""
    app = _app(store, client, rate_limit=1)
    client.initialize_error = ParameterError("MetaInfo is too long", code="InvalidParameter")
    status, _, body = _post(app, _start())
    assert (status, body["error"]["code"]) == (400, "InvalidParameter")
    client.initialize_error = None
    assert _post(app, _start())[0] == 201


def test_a_start_without_a_key_whose_create_meets_another_transaction_s_row_is_not_answered_with_it(
    store: SqliteTransactionStore, client: FakeCloudAuth
) -> None:
    """Only a keyed start answers with a row another start stored (the same key's): without a key it is a failed
    save (503), never another verification's answer."""

    class AnotherRowThere:
        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

        def create(self, record: Any) -> None:
            store.create(values.replace(record, transaction_id="hksb" + "9" * 28))
            raise RecordExists()

    status, _, body = _post(_app(AnotherRowThere(), client), _start())  # type: ignore[arg-type]
    assert (status, body["error"]["code"]) == (503, "StorageUnavailable")


def test_a_request_the_vendor_rejected_is_a_400_naming_the_vendor_s_code(
    store: SqliteTransactionStore, client: FakeCloudAuth
) -> None:
    """The vendor's own 400 (not one of its parameter errors): the frontend's developer needs its code to fix it."""
    client.initialize_error = error_from_response(400, "InvalidProductCode", "no such product", "REQ-ERR")
    status, _, body = _post(_app(store, client), _start())
    assert (status, body["error"]["code"]) == (400, "VendorRejected")
    assert "InvalidProductCode" in body["error"]["message"]


@pytest.mark.parametrize(("maybe_sent", "next_status"), [(True, 429), (False, 201)],
                         ids=["may have reached the vendor", "certainly never sent"])
def test_an_unanswered_start_keeps_the_user_s_slot_only_when_it_may_have_reached_the_vendor(
    store: SqliteTransactionStore, client: FakeCloudAuth, maybe_sent: bool, next_status: int
) -> None:
    """A request that may have reached the vendor may have been billed: it counts. One never sent gives it back."""
    app = _app(store, client, rate_limit=1)
    client.initialize_error = TransportError("read timeout", maybe_sent=maybe_sent)
    status, _, body = _post(app, _start())
    assert (status, body["error"]["code"]) == (502, "VendorUnavailable")
    client.initialize_error = None
    assert _post(app, _start())[0] == next_status
