"""Hypothesis fuzzing of everything that parses outside input: FC events, the vendor's callback query,
queue messages, the handlers' entry points and CheckResult bodies.

The contract under test: each parser returns a value or raises its own typed error (``BadEvent``,
``ResultParseError``, ...); each HTTP entry point always answers an FC response with a documented status and a
JSON error body, never a 500; each queue entry point returns its summary or raises a documented exception.
"""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note_event
from hypothesis import strategies as st

from shared import jsonutil
from shared.auth import issue_token
from shared.callback import hash_callback_token
from shared.cloudauth import (
    CloudAuthClient,
    CloudAuthError,
    InitializeResponse,
    MalformedResponse,
    ProcessNotCompleted,
    ServerError,
    ThrottlingError,
    TransactionIdInvalid,
    TransportError,
)
from shared.delivery import DeliveryResult
from shared.fc import BadEvent, HttpEvent, parse_queue_event
from shared.fetch_settings import FetchSettings
from shared.fetcher import RecheckNotScheduled, ResultFetcher
from shared.handlers.initializer import InitializerApp
from shared.handlers.notifier import NotifierApp
from shared.handlers.result_fetcher import ResultFetcherApp
from shared.notifications import Notifier, Subscriber, WebhookSettings
from shared.results import CheckResultResponse, ImageDecodeError, ResultParseError, parse_check_result
from shared.storage import (
    StorageSettings,
    TransactionRecord,
    TransactionStore,
    open_object_store,
    open_queue,
    open_transaction_store,
)
from shared.verifications import FrontendSettings
from shared.webhooks import generate_secret
from tests.fakes import FAKE_SETTINGS

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
FUZZ_SLOW = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

JWT_SECRET = "j" * 40
PEPPER = "p" * 20
PUBLIC_URL = "http://127.0.0.1:9"

# --- strategies -----------------------------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=12), json_values, max_size=6)


def _json_text(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[str]:
    return strategy.map(jsonutil.dumps_str)


base64_texts = st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode())
image_texts = base64_texts | st.text(max_size=30) | st.just("data:image/jpeg;base64,/9j/4AAQ") | st.just("!!!!")
flags = st.sampled_from(["Y", "N", "P", "y", "", "maybe"]) | scalars

id_info = st.fixed_dictionaries(
    {},
    optional={
        "ocrIdPassed": flags,
        "ocrIdInfo": json_objects | _json_text(json_objects) | st.text(max_size=10),
        "spoofInfo": st.fixed_dictionaries({}, optional={"spoofResult": flags, "spoofType": json_values}) | scalars,
        "ocrIdEditInfo": json_objects | _json_text(json_objects) | scalars,
        "idImage": image_texts | scalars,
        "idBackImage": image_texts,
        "idFrontImage": image_texts,
    },
)
face_info = st.fixed_dictionaries(
    {},
    optional={
        "facePassed": flags,
        "faceAttack": flags,
        "faceComparisonScore": scalars | st.just("NaN") | st.just("1e999"),
        "authorityComparisonScore": scalars,
        "faceImg": image_texts,
        "facePicture": image_texts,
    },
)


def _ext(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A vendor ``Ext*`` field: usually a JSON string, sometimes junk text, null or an already-decoded value."""
    return _json_text(strategy) | strategy | st.sampled_from(["", "null", "{", "[1,", "not json"]) | scalars


result_objects = st.fixed_dictionaries(
    {},
    optional={
        "Passed": flags,
        "SubCode": scalars,
        "ExtIdInfo": _ext(id_info),
        "ExtFaceInfo": _ext(face_info),
        "ExtBasicInfo": _ext(json_objects),
        "ExtRiskInfo": _ext(json_objects),
        "ExtInfo": _ext(json_objects),
        "EkycResult": _ext(json_objects),
        "ExtSourceInfo": _ext(json_values),
    },
)
final_results = st.fixed_dictionaries(
    {"RequestId": st.just("req"), "Result": st.fixed_dictionaries(
        {"Passed": st.sampled_from(["Y", "N"]), "SubCode": st.sampled_from(["200", "212", "999"]),
         "ExtIdInfo": _json_text(id_info), "ExtFaceInfo": _json_text(face_info)},
    )},
)
check_result_bodies = (
    final_results
    | st.fixed_dictionaries(
        {"Result": result_objects | json_values},
        optional={"RequestId": scalars, "Code": scalars, "Message": scalars},
    )
    | json_values
)

vendor_errors = st.sampled_from(
    [
        ProcessNotCompleted("not yet", status=404),
        ThrottlingError("busy", status=403),
        ServerError("boom", status=500),
        TransactionIdInvalid("gone", status=400),
        TransportError("timeout", maybe_sent=True),
        MalformedResponse("bad"),
    ]
)


# --- fakes and local stores -----------------------------------------------------------------------------------


class FakeVendor:
    """Stands in for CloudAuthClient: answers CheckResult with whatever the example chose."""

    settings = FAKE_SETTINGS

    def __init__(self) -> None:
        self.answer: Any = {"Result": {"Passed": "P"}}
        self.initialized = 0

    def check_result(self, merchant_biz_id: str, transaction_id: str, *, is_return_image: bool = False) -> Any:
        if isinstance(self.answer, CloudAuthError):
            raise self.answer
        return self.answer

    def initialize_v2(self, request: Any) -> InitializeResponse:
        return self.initialize(request)

    def initialize(self, request: Any) -> InitializeResponse:
        self.initialized += 1
        return InitializeResponse(transaction_id=f"tx{self.initialized}", transaction_url="https://vendor.example/p")

    def delete_verify_result(self, transaction_id: str, **kwargs: Any) -> Any:
        raise ServerError("not in this test")


class Local:
    def __init__(self, data_dir: Path) -> None:
        self.storage = StorageSettings.from_env({"KYC_BACKEND": "local", "KYC_DATA_DIR": str(data_dir)})
        self.store: TransactionStore = open_transaction_store(self.storage)
        self.vendor = FakeVendor()
        self.fetcher = ResultFetcher(
            client=cast(CloudAuthClient, self.vendor),
            store=self.store,
            objects=open_object_store(self.storage),
            recheck_queue=open_queue(self.storage, "recheck"),
            notify_queue=open_queue(self.storage, "notify"),
            settings=FetchSettings(recheck_schedule=(1.0, 2.0), delete_vendor_copy=False),
        )
        self.counter = 0

    def new_transaction(self, token: str) -> TransactionRecord:
        self.counter += 1
        now = time.time()
        record = TransactionRecord(
            merchant_biz_id=f"fuzz{self.counter:08d}",
            transaction_id=f"tx{self.counter}",
            merchant_user_id="user-hash",
            doc_type="01000000",
            callback_token_hash=hash_callback_token(token),
            created_at=now,
            updated_at=now,
        )
        self.store.create(record)
        return record


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    yield Local(tmp_path_factory.mktemp("fuzz-local"))


# --- FC event adapters --------------------------------------------------------------------------------------

raw_events = st.binary(max_size=200) | _json_text(json_values).map(str.encode) | st.text(max_size=100)
http_like_events = st.fixed_dictionaries(
    {},
    optional={
        "version": json_values,
        "rawPath": st.text(max_size=30) | scalars,
        "body": st.text(max_size=50) | base64_texts | scalars,
        "isBase64Encoded": st.booleans() | scalars,
        "headers": st.dictionaries(st.text(max_size=15), st.text(max_size=30) | json_values, max_size=4) | scalars,
        "queryParameters": st.dictionaries(st.text(max_size=10), st.text(max_size=20) | json_values, max_size=4)
        | scalars,
        "requestContext": st.fixed_dictionaries(
            {},
            optional={
                "requestId": scalars,
                "http": st.fixed_dictionaries(
                    {},
                    optional={
                        "method": st.sampled_from(["GET", "POST", "OPTIONS", "PUT", ""]) | scalars,
                        "path": st.text(max_size=30) | scalars,
                        "sourceIp": scalars,
                    },
                )
                | scalars,
            },
        )
        | scalars,
    },
)
queue_items = st.fixed_dictionaries(
    {},
    optional={
        "id": scalars,
        "specversion": st.just("1.0"),
        "type": st.just("mns:Queue:SendMessage"),
        "data": st.fixed_dictionaries(
            {},
            optional={
                "messageId": scalars,
                "requestId": scalars,
                "messageBody": st.text(max_size=40)
                | _json_text(json_values)
                | _json_text(json_values).map(lambda t: base64.b64encode(t.encode()).decode())
                | json_values,
            },
        )
        | _json_text(json_objects)
        | scalars,
        "MessageBody": st.text(max_size=20) | json_values,
    },
)
queue_events = queue_items | st.lists(queue_items | json_values, max_size=4) | json_values


@FUZZ
@given(event=raw_events | http_like_events)
def test_http_event_parsing_yields_an_event_or_bad_event(event: Any) -> None:
    try:
        parsed = HttpEvent.from_bytes(event)
    except BadEvent as exc:
        assert exc.status == 400
        return
    # every accessor of a parsed event is total, except the body's own typed errors
    assert isinstance(parsed.method, str) and isinstance(parsed.path, str) and isinstance(parsed.raw_path, str)
    assert all(isinstance(v, str) for v in parsed.headers.values())
    assert all(isinstance(v, str) for v in parsed.query.values())
    _ = parsed.request_id, parsed.source_ip, parsed.user_agent, parsed.domain_name, repr(parsed)
    with contextlib.suppress(BadEvent):
        assert isinstance(parsed.body, bytes)


@FUZZ
@given(event=raw_events | queue_events)
def test_queue_event_parsing_yields_messages_or_bad_event(event: Any) -> None:
    try:
        messages = parse_queue_event(event)
    except BadEvent:
        return
    for message in messages:
        assert isinstance(message.id, str) and isinstance(message.body, bytes)
        assert (message.error is None) == message.ok
        repr(message)


# --- CheckResult ------------------------------------------------------------------------------------------------


def _read_everything(result: CheckResultResponse) -> None:
    """Touch every lazily parsed part; only an image's ``data`` may raise (ImageDecodeError)."""
    _ = (result.status, result.passed, result.sub_code, result.sub_code_description, result.ocr_raw, result.doc_type)
    _ = (result.identity, result.ocr_id_passed, result.spoof, result.face, result.ocr_id_edit_info)
    _ = (result.ext_id_extra, result.ext_basic_info, result.ext_risk_info, result.ext_info, result.ekyc_result)
    _ = (result.ext_source_info, repr(result), result.images.metadata())
    jsonutil.dumps(result.to_record())
    jsonutil.dumps(result.summary())
    if result.identity is not None:
        jsonutil.dumps(result.identity.to_dict())
    for image in result.images:
        assert isinstance(image.content_type, str) and image.size >= 0
        with contextlib.suppress(ImageDecodeError):
            assert isinstance(image.data, bytes)


@FUZZ
@given(
    body=check_result_bodies,
    doc_type=st.none() | st.sampled_from(["01000000", "00000008", "00000001", "GLB03002", "MYS01001", "x"]),
    product_code=st.none() | st.sampled_from(["eKYC", "eKYC_PRO", "FACE_LIVENESS_PRO", "FACE_IDU", "x"]),
)
def test_check_result_parsing_yields_a_result_or_result_parse_error(
    body: Any, doc_type: str | None, product_code: str | None
) -> None:
    try:
        result = parse_check_result(body, doc_type=doc_type, product_code=product_code)
    except ResultParseError as exc:
        assert not isinstance(exc, ImageDecodeError)
        return
    _read_everything(result)
    if product_code == "FACE_LIVENESS_PRO":
        assert result.identity is None and result.doc_type is None


@FUZZ
@given(data=st.binary(max_size=300) | check_result_bodies.map(jsonutil.dumps))
def test_check_result_parsing_of_raw_bytes_yields_a_result_or_result_parse_error(data: bytes) -> None:
    try:
        result = parse_check_result(data)
    except ResultParseError:
        return
    _read_everything(result)


# --- the vendor's callback ------------------------------------------------------------------------------------

CALLBACK_STATUSES = {200, 400, 403, 404, 503}
query_values = st.text(max_size=40) | st.sampled_from(["", "Y", "N", "P", "200", "%00", "a" * 33])


def _callback_event(query: dict[str, str]) -> bytes:
    return jsonutil.dumps({"version": "v1", "rawPath": "/callback", "body": "", "isBase64Encoded": False,
                           "headers": {}, "queryParameters": query,
                           "requestContext": {"requestId": "r", "http": {"method": "GET", "path": "/callback"}}})


@FUZZ_SLOW
@given(
    query=st.dictionaries(
        st.sampled_from(["merchantBizId", "callbackToken", "transactionId", "passed", "subCode"]) | st.text(max_size=8),
        query_values, max_size=6,
    ),
    use_real=st.sampled_from(["none", "mbid", "mbid+token", "all"]),
    answer=check_result_bodies | vendor_errors,
)
def test_callback_answers_a_documented_status_for_any_query(
    local: Local, query: dict[str, str], use_real: str, answer: Any
) -> None:
    token = "tok-" + str(local.counter)
    record = local.new_transaction(token)
    if use_real != "none":
        query["merchantBizId"] = record.merchant_biz_id
    if use_real in ("mbid+token", "all"):
        query["callbackToken"] = token
    if use_real == "all":
        query["transactionId"] = record.transaction_id
    local.vendor.answer = answer
    response = ResultFetcherApp(local.fetcher).handle(_callback_event(query), None)
    assert response["statusCode"] in CALLBACK_STATUSES, response
    body = jsonutil.loads(response["body"])
    note_event(f"{response['statusCode']} {body.get('outcome') or body['error']['code']}")
    if response["statusCode"] == 200:
        assert body["received"] is True
    else:
        assert set(body["error"]) == {"code", "message"}


# --- the handlers' entry points -------------------------------------------------------------------------------

INITIALIZER_STATUSES = {201, 200, 204, 400, 401, 403, 404, 405, 413, 415, 429, 502, 503}


@pytest.fixture(scope="module")
def initializer(local: Local) -> InitializerApp:
    frontend = FrontendSettings(
        public_url=PUBLIC_URL, jwt_secret=JWT_SECRET, user_id_pepper=PEPPER,
        return_url_allowlist=("https://shop.example/",), cors_origins=("https://shop.example",),
        rate_limit_per_hour=0, max_body_bytes=4096, max_meta_info_bytes=512, jwt_leeway_seconds=30,
    )
    return InitializerApp(settings=frontend, client=cast(CloudAuthClient, local.vendor), store=local.store)


valid_token = issue_token("fuzz-user", JWT_SECRET, ttl=24 * 3600)
initializer_bodies = (
    st.fixed_dictionaries(
        {},
        optional={
            "productCode": st.sampled_from(["eKYC", "eKYC_PRO", "FACE_LIVENESS_PRO", "ID_NFC", "nope", ""]) | scalars,
            "docType": st.sampled_from(["01000000", "GLB03002", ""]) | scalars,
            "metaInfo": st.text(max_size=20) | json_objects | scalars | st.just("m" * 600),
            "returnUrl": st.sampled_from(["https://shop.example/", "https://shop.example.evil/", "javascript:x"])
            | scalars,
            "idSpoof": scalars,
            "styleConfig": json_objects | scalars,
        },
    ).map(jsonutil.dumps_str)
    | st.text(max_size=40)
)
initializer_events = st.builds(
    lambda method, path, auth, ctype, body, origin: {
        "version": "v1", "rawPath": path, "body": body, "isBase64Encoded": False,
        "headers": {k: v for k, v in {"Authorization": auth, "Content-Type": ctype, "Origin": origin,
                                      "Access-Control-Request-Method": "POST" if origin else None}.items() if v},
        "requestContext": {"requestId": "r", "http": {"method": method, "path": path}},
    },
    st.sampled_from(["GET", "POST", "OPTIONS", "DELETE", "PATCH"]),
    st.sampled_from(["/verifications", "/verifications", "/verifications", "/verifications/", "/verifications/abc",
                     "/verifications/products",
                     "/verifications/fuzz00000001", "/verifications/a%2Fb", "/verifications/x/y", "/other", "/"]),
    st.sampled_from([f"Bearer {valid_token}", "Bearer", "Bearer a b", "Basic xyz", "", f"bearer {valid_token}x"])
    | st.text(max_size=20),
    st.sampled_from(["application/json", "text/plain", "application/merge+json", ""]),
    initializer_bodies,
    st.sampled_from(["https://shop.example", "https://evil.example", ""]),
)


valid_starts = st.builds(
    lambda body, method: {
        "version": "v1", "rawPath": "/verifications", "body": jsonutil.dumps_str(body), "isBase64Encoded": False,
        "headers": {"authorization": f"Bearer {valid_token}", "content-type": "application/json"},
        "requestContext": {"requestId": "r", "http": {"method": method, "path": "/verifications"}},
    },
    st.fixed_dictionaries(
        {"docType": st.just("01000000"), "metaInfo": st.text(min_size=1, max_size=20) | json_objects},
        optional={"productCode": st.sampled_from(["eKYC", "eKYC_PRO", "FACE_LIVENESS_PRO"]),
                  "returnUrl": st.just("https://shop.example/x"), "idSpoof": st.text(max_size=3) | scalars,
                  "styleConfig": json_objects | st.text(max_size=5), "pages": st.just("01"),
                  "bogus": json_values},
    ),
    st.sampled_from(["POST", "POST", "GET"]),
)


@FUZZ_SLOW
@given(event=valid_starts | initializer_events | http_like_events | raw_events)
def test_initializer_handler_answers_a_documented_status_for_any_event(
    initializer: InitializerApp, event: Any
) -> None:
    payload = event if isinstance(event, (bytes, str)) else jsonutil.dumps(event)
    response = initializer.handle(payload, None)
    assert response["statusCode"] in INITIALIZER_STATUSES, response
    note_event(str(response["statusCode"]))
    if response["statusCode"] >= 400:
        error = jsonutil.loads(response["body"])["error"]
        # an unknown product's answer also lists the allowed ones (machine-readable), nothing else adds members
        assert set(error) == ({"code", "message", "allowed"} if error["code"] == "ProductNotAllowed"
                              else {"code", "message"})


@FUZZ
@given(event=queue_events | raw_events)
def test_result_fetcher_queue_entry_returns_a_summary_or_a_documented_error(local: Local, event: Any) -> None:
    local.vendor.answer = ProcessNotCompleted("not yet")
    payload = event if isinstance(event, (bytes, str)) else jsonutil.dumps(event)
    try:
        answer = ResultFetcherApp(local.fetcher).handle(payload, None)
    except (BadEvent, RecheckNotScheduled):
        return
    assert isinstance(answer, dict)
    assert "processed" in answer or "statusCode" in answer


@pytest.fixture(scope="module")
def notifier(local: Local) -> NotifierApp:
    webhooks = WebhookSettings(
        subscribers=(Subscriber("http://127.0.0.1:9/hook", generate_secret()),), retry_schedule=(1.0,),
        allow_private_targets=True, require_https=False, timeout_seconds=1.0,
    )
    return NotifierApp(
        Notifier(
            store=local.store, objects=local.fetcher.objects, notify_queue=open_queue(local.storage, "notify"),
            deadletter_queue=open_queue(local.storage, "deadletter"), settings=webhooks,
            sender=lambda url, body, headers: DeliveryResult(ok=True, status=204),
        )
    )


@FUZZ
@given(event=queue_events | raw_events)
def test_notifier_entry_returns_a_summary_or_a_documented_error(notifier: NotifierApp, event: Any) -> None:
    payload = event if isinstance(event, (bytes, str)) else jsonutil.dumps(event)
    try:
        answer = notifier.handle(payload, None)
    except BadEvent:
        return
    assert isinstance(answer, dict) and isinstance(answer["handled"], int)
