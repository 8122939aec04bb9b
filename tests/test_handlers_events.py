"""The real FC handlers (functions/<name>/index.py, loaded by path like FC does) fed recorded event shapes.

HTTP trigger events, MNS-trigger CloudEvents (batch list and single, plain and base64 message bodies) and the timer
event, against the local backend in a temporary directory and the cloudauth-intl sandbox.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from shared import jsonutil
from shared.auth import hash_user_id, issue_token
from shared.callback import hash_callback_token
from shared.ids import RESULT_DOCUMENT, answer_prefix
from shared.storage import DirectoryObjectStore, SqliteQueue, SqliteTransactionStore, TransactionRecord
from shared.webhooks import generate_secret
from tests.sandbox.helpers import control, initialize
from tools.devstack.gateway import FcContext, FunctionMeta
from tools.sandbox import SandboxConfig, SandboxServer

ROOT = Path(__file__).resolve().parent.parent
EVENTS = Path(__file__).resolve().parent / "events"
JWT_SECRET = "handler-events-jwt-secret-0123456789abcdef"
PEPPER = "handler-events-pepper-0123"
CALLBACK_TOKEN = "cbtok_sample"  # the token in tests/events/http-callback.json
PASSPORT = "01000000"
_loaded = itertools.count()


def event(name: str) -> Any:
    return jsonutil.loads((EVENTS / name).read_bytes())


def as_bytes(value: Any) -> bytes:
    return jsonutil.dumps(value)


@dataclass
class Posted:
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    url: str
    received: list[Posted] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    holder: dict[str, WebhookReceiver] = {}

    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            rec = holder["r"]
            with rec.lock:
                rec.received.append(Posted({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["r"] = WebhookReceiver(f"http://127.0.0.1:{httpd.server_address[1]}/hooks")
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield holder["r"]
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def vendor() -> Iterator[SandboxServer]:
    server = SandboxServer(SandboxConfig(port=0, image_bytes=2048))
    server.start()
    control(server, "POST", "faults", {"callbacks": {"drop": True}})  # these tests deliver events themselves
    yield server
    server.stop()


@dataclass
class Env:
    data_dir: Path
    vendor: SandboxServer
    receiver: WebhookReceiver
    webhook_secret: str

    def store(self) -> SqliteTransactionStore:
        return SqliteTransactionStore(self.data_dir / "kyc.sqlite3")

    def objects(self) -> DirectoryObjectStore:
        return DirectoryObjectStore(self.data_dir / "objects")

    def queue(self, name: str) -> SqliteQueue:
        return SqliteQueue(self.data_dir / "queues.sqlite3", f"kyc-{name}")

    def row(self, merchant_biz_id: str) -> TransactionRecord:
        record = self.store().get(merchant_biz_id)
        assert record is not None
        return record

    def pending_row(self, merchant_biz_id: str, transaction_id: str, *, user: str = "alice") -> None:
        now = time.time() - 5
        self.store().create(
            TransactionRecord(
                merchant_biz_id=merchant_biz_id,
                transaction_id=transaction_id,
                merchant_user_id=hash_user_id(user, PEPPER),
                doc_type=PASSPORT,
                status="PENDING",
                callback_token_hash=hash_callback_token(CALLBACK_TOKEN),
                created_at=now,
                updated_at=now,
            )
        )

    def vendor_transaction(self, merchant_biz_id: str, outcome: str = "pass", **extra: Any) -> str:
        """A transaction the person finished at the vendor, with its PENDING row stored as at Initialize."""
        transaction_id = initialize(
            self.vendor,
            MerchantBizId=merchant_biz_id,
            CallbackUrl=f"https://ekyc.example/callback/{merchant_biz_id}",
            CallbackToken=CALLBACK_TOKEN,
        )
        answer = control(self.vendor, "POST", f"transactions/{transaction_id}/complete", {"outcome": outcome, **extra})
        assert answer.status == 200
        self.pending_row(merchant_biz_id, transaction_id)
        return transaction_id

    def final_row(self, merchant_biz_id: str) -> None:
        """A PASSED row and its kept result, as a fetch leaves them (the notifier checks one against the other)."""
        self.pending_row(merchant_biz_id, f"tx{merchant_biz_id}")
        key = f"{answer_prefix(merchant_biz_id, 'd' * 20)}{RESULT_DOCUMENT}"
        document = {"merchantBizId": merchant_biz_id, "result": {"status": "PASSED", "passed": "Y", "subCode": "200"}}
        self.objects().put(key, jsonutil.dumps(document), "application/json")
        assert self.store().finalize(
            merchant_biz_id, status="PASSED", passed="Y", sub_code="200", result_key=key,
            identity_masked={"surname": "S*"}, result_version=1, now=time.time(),
        )


@pytest.fixture
def env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vendor: SandboxServer, receiver: WebhookReceiver
) -> Env:
    for name in [n for n in os.environ if n.startswith(("KYC_", "CLOUDAUTH_", "ALIBABA_CLOUD_"))]:
        monkeypatch.delenv(name)
    secret = generate_secret()
    settings = {
        "KYC_BACKEND": "local",
        "KYC_DATA_DIR": str(tmp_path / "data"),
        "CLOUDAUTH_ENDPOINT": vendor.base_url,
        "ALIBABA_CLOUD_ACCESS_KEY_ID": vendor.config.access_key_id,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": vendor.config.access_key_secret,
        "KYC_PUBLIC_URL": "https://ekyc.example",
        "KYC_JWT_SECRET": JWT_SECRET,
        "KYC_USER_ID_PEPPER": PEPPER,
        "KYC_RETURN_URL_ALLOWLIST": "https://merchant.example/",
        "KYC_CORS_ORIGINS": "https://merchant.example",
        "KYC_WEBHOOKS": jsonutil.dumps_str([{"url": receiver.url, "secret": secret, "includePii": False}]),
        "KYC_WEBHOOK_ALLOW_PRIVATE": "Y",
        "KYC_RECHECK_SCHEDULE": "0,0,1",
        "KYC_WEBHOOK_RETRY_SCHEDULE": "0,0,1",
        "KYC_SWEEP_AFTER": "0",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    return Env(tmp_path / "data", vendor, receiver, secret)


Handler = Callable[[Any], Any]


@pytest.fixture
def function(env: Env) -> Callable[[str], Handler]:
    """``function("notifier")(event)``: load functions/<name>/index.py by path, run its initializer, invoke."""

    def load(name: str) -> Handler:
        module_name = f"fc_events_{name}_{next(_loaded)}"
        spec = importlib.util.spec_from_file_location(module_name, ROOT / "functions" / name / "index.py")
        assert spec is not None and spec.loader is not None
        module: ModuleType = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)

        def context() -> FcContext:
            return FcContext(request_id=f"1-{int(time.time()):08x}-test", region="cn-hongkong",
                             function=FunctionMeta(name=name))

        module.initialize(context())

        def invoke(event: Any) -> Any:
            return module.handler(event if isinstance(event, bytes) else as_bytes(event), context())

        return invoke

    return load


def response_json(response: dict[str, Any]) -> Any:
    assert response["isBase64Encoded"] is False
    return jsonutil.loads(response["body"])


def error_code(response: dict[str, Any]) -> str:
    body = response_json(response)
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    return str(body["error"]["code"])


def with_token(http_event: dict[str, Any], user: str = "alice") -> dict[str, Any]:
    headers = {**http_event["headers"], "Authorization": f"Bearer {issue_token(user, JWT_SECRET, ttl=600)}"}
    return {**http_event, "headers": headers}


# --- initializer: HTTP trigger --------------------------------------------------------------------------------


def test_recorded_post_with_its_sample_token_is_refused_with_401(function: Callable[[str], Handler]) -> None:
    response = function("initializer")(event("http-post-verifications.json"))

    assert response["statusCode"] == 401
    assert error_code(response) == "InvalidToken"
    assert response["headers"]["access-control-allow-origin"] == "https://merchant.example"


def test_recorded_post_cannot_choose_its_own_merchant_biz_id(
    env: Env, function: Callable[[str], Handler]
) -> None:
    response = function("initializer")(with_token(event("http-post-verifications.json")))

    assert response["statusCode"] == 400
    assert error_code(response) == "UnknownField"
    assert "merchantBizId" in response_json(response)["error"]["message"]
    assert env.store().list_created()[0] == []


def test_recorded_post_without_the_extra_field_starts_a_pending_verification(
    env: Env, function: Callable[[str], Handler]
) -> None:
    recorded = event("http-post-verifications.json")
    body = jsonutil.loads(recorded["body"])
    del body["merchantBizId"]

    response = function("initializer")(with_token({**recorded, "body": jsonutil.dumps_str(body)}))

    assert response["statusCode"] == 201
    created = response_json(response)
    row = env.row(created["merchantBizId"])
    assert (row.status, row.transaction_id, row.doc_type) == ("PENDING", created["transactionId"], PASSPORT)
    assert row.merchant_user_id == hash_user_id("alice", PEPPER)


def test_base64_encoded_body_is_decoded_before_it_is_validated(function: Callable[[str], Handler]) -> None:
    response = function("initializer")(with_token(event("http-base64-body.json")))

    assert response["statusCode"] == 400
    assert error_code(response) == "UnknownField"  # it read the decoded JSON, which names merchantBizId
    assert "merchantBizId" in response_json(response)["error"]["message"]


def test_recorded_get_returns_the_owners_masked_view(env: Env, function: Callable[[str], Handler]) -> None:
    env.final_row("demo0001")
    initializer = function("initializer")

    mine = initializer(with_token(event("http-get-verification.json"), user="alice"))
    sample = initializer(event("http-get-verification.json"))

    assert mine["statusCode"] == 200
    view = response_json(mine)
    assert (view["merchantBizId"], view["status"], view["identity"]) == ("demo0001", "PASSED", None)
    assert sample["statusCode"] == 401


# --- result_fetcher: HTTP callback and MNS re-checks -----------------------------------------------------------


def test_recorded_callback_fetches_stores_and_enqueues_the_notification(
    env: Env, function: Callable[[str], Handler]
) -> None:
    transaction_id = env.vendor_transaction("demo0001", "pass")
    recorded = event("http-callback.json")
    recorded["queryParameters"]["transactionId"] = transaction_id

    response = function("result_fetcher")(recorded)

    assert response["statusCode"] == 200
    assert response_json(response) == {"received": True, "outcome": "finalized", "status": "PASSED"}
    assert env.row("demo0001").status == "PASSED"
    assert env.row("demo0001").result_key in env.objects().list("results/demo0001/")
    (message,) = env.queue("notify").receive()
    assert jsonutil.loads(message.body) == {"merchantBizId": "demo0001", "attempt": 0}


def _as_given_to_the_vendor(recorded: dict[str, Any], form: str) -> dict[str, Any]:
    """The recorded callback as the vendor sends it for each URL form: ``path`` (``/callback/<id>``, the form given
    now), ``query`` (``/callback?merchantBizId=<id>``, given before) and ``glued`` (the earlier form with the
    vendor's parameters glued on by a second ``?``: FC reads ``merchantBizId=demo0001?callbackToken=...``)."""
    query = recorded["queryParameters"]
    if form == "path":
        mbid = query.pop("merchantBizId")
        recorded["rawPath"] = recorded["requestContext"]["http"]["path"] = f"/callback/{mbid}"
    elif form == "glued":
        query["merchantBizId"] += "?callbackToken=" + query.pop("callbackToken")
    return recorded


@pytest.mark.parametrize("form", ["path", "query", "glued"])
def test_a_callback_to_either_url_form_is_taken(env: Env, function: Callable[[str], Handler], form: str) -> None:
    transaction_id = env.vendor_transaction("demo0001", "pass")
    recorded = event("http-callback.json")
    recorded["queryParameters"]["transactionId"] = transaction_id

    response = function("result_fetcher")(_as_given_to_the_vendor(recorded, form))

    assert (response["statusCode"], response_json(response)["outcome"]) == (200, "finalized")
    assert env.row("demo0001").status == "PASSED"


@pytest.mark.parametrize("oversized", ["queryParameters", "body"])
def test_a_callback_larger_than_the_vendor_ever_sends_is_refused_unread(
    env: Env, function: Callable[[str], Handler], oversized: str
) -> None:
    """An anonymous caller's megabytes are a 413 before any row is read or any token hashed."""
    env.vendor_transaction("demo0001", "pass")
    recorded = event("http-callback.json")
    if oversized == "body":
        recorded["body"] = "a" * (8 * 1024 * 1024)
    else:
        recorded["queryParameters"]["callbackToken"] = "x" * (4 * 1024 * 1024)

    response = function("result_fetcher")(recorded)

    assert (response["statusCode"], error_code(response)) == (413, "PayloadTooLarge")
    assert env.row("demo0001").status == "PENDING"


def test_recorded_callback_naming_another_transaction_is_refused(
    env: Env, function: Callable[[str], Handler]
) -> None:
    env.vendor_transaction("demo0001", "pass")  # the recorded event names a TransactionId of its own

    response = function("result_fetcher")(event("http-callback.json"))

    assert response["statusCode"] == 403
    assert error_code(response) == "TransactionMismatch"
    assert env.row("demo0001").status == "PENDING"
    assert env.objects().list("results/demo0001/") == []


@pytest.mark.parametrize(
    ("recorded", "merchant_biz_id"),
    [
        ("mns-single.json", "demo0001"),  # one CloudEvent, plain JSON messageBody
        ("mns-base64.json", "demo0003"),  # one CloudEvent, base64 messageBody
        ("mns-recheck.json", "demo0001"),  # a batch of one, base64 messageBody
    ],
)
def test_recheck_message_finalizes_the_transaction(
    env: Env, function: Callable[[str], Handler], recorded: str, merchant_biz_id: str
) -> None:
    env.vendor_transaction(merchant_biz_id, "fail", subCode="203")

    result = function("result_fetcher")(event(recorded))

    assert result == {"processed": 1}
    row = env.row(merchant_biz_id)
    assert (row.status, row.sub_code) == ("FAILED", "203")
    assert env.queue("notify").size() == 1


def test_recheck_batch_skips_a_malformed_message_and_processes_the_rest(
    env: Env, function: Callable[[str], Handler], capfd: pytest.CaptureFixture[str]
) -> None:
    env.vendor_transaction("demo0001", "pass")
    env.vendor_transaction("demo0002", "fail")

    result = function("result_fetcher")(event("mns-batch.json"))

    assert result == {"processed": 2}
    assert (env.row("demo0001").status, env.row("demo0002").status) == ("PASSED", "FAILED")
    assert env.queue("notify").size() == 2
    logged = [jsonutil.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{")]
    (malformed,) = [line for line in logged if line["message"] == "recheck.malformed_message"]
    assert malformed["messageId"] == "A3F5C1D2E4B6A8C0-1-18F2D3C4B5A-200000003"


def test_recheck_of_a_still_pending_result_schedules_the_next_attempt(
    env: Env, function: Callable[[str], Handler]
) -> None:
    env.vendor_transaction("demo0001", "pending", pendingChecks=5)

    result = function("result_fetcher")(event("mns-single.json"))  # attempt 1

    assert result == {"processed": 1}
    row = env.row("demo0001")
    assert (row.status, row.check_count) == ("PENDING", 1)
    (message,) = env.queue("recheck").receive()
    assert jsonutil.loads(message.body) == {"merchantBizId": "demo0001", "attempt": 2}


# --- notifier: MNS trigger --------------------------------------------------------------------------------------


def verify_delivery(env: Env, posted: Posted) -> Any:
    from standardwebhooks.webhooks import Webhook

    return Webhook(env.webhook_secret).verify(posted.body, posted.headers)


@pytest.mark.parametrize(
    ("recorded", "merchant_biz_id"),
    [("mns-single.json", "demo0001"), ("mns-base64.json", "demo0003"), ("mns-notify.json", "demo0001")],
)
def test_notify_message_delivers_one_signed_webhook(
    env: Env, function: Callable[[str], Handler], recorded: str, merchant_biz_id: str
) -> None:
    env.final_row(merchant_biz_id)

    result = function("notifier")(event(recorded))

    assert result == {"handled": 1}
    (posted,) = env.receiver.received
    assert posted.headers["webhook-id"] == f"msg_{merchant_biz_id}_passed"
    delivered = verify_delivery(env, posted)
    assert (delivered["type"], delivered["data"]["merchantBizId"]) == ("verification.completed", merchant_biz_id)


def test_notify_batch_dead_letters_a_malformed_message_and_delivers_the_rest(
    env: Env, function: Callable[[str], Handler]
) -> None:
    env.final_row("demo0001")
    env.final_row("demo0002")

    result = function("notifier")(event("mns-batch.json"))

    assert result == {"handled": 3}
    assert sorted(p.headers["webhook-id"] for p in env.receiver.received) == [
        "msg_demo0001_passed", "msg_demo0002_passed",
    ]
    for posted in env.receiver.received:
        verify_delivery(env, posted)
    (dead,) = env.queue("deadletter").receive()
    letter = jsonutil.loads(dead.body)
    assert (letter["kind"], letter["reason"]) == ("notify", "malformed_message")
    assert b"not json" not in dead.body  # the message itself is not copied


# --- sweeper: timer trigger ------------------------------------------------------------------------------------


def test_timer_event_sweeps_a_transaction_whose_callback_never_came(
    env: Env, function: Callable[[str], Handler]
) -> None:
    env.vendor_transaction("demo0001", "pass")

    report = function("sweeper")(event("timer.json"))

    assert (report["checked"], report["finalized"], report["abandoned"], report["errors"]) == (1, 1, 0, [])
    assert env.row("demo0001").status == "PASSED"
    assert env.queue("notify").size() == 1
