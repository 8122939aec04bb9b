"""FC's InvokeFunction API on the local gateway, driven by the official ``fc2`` client (in-process DevStack)."""

from __future__ import annotations

import base64
import copy
import http.client
import os
import random
import string
import time
from collections.abc import Callable, Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

import fc2
import pytest
from fc2.auth import Auth as Fc2Auth
from fc2.fc_exceptions import FcError

from shared import jsonutil
from shared.storage import StorageSettings, open_transaction_store
from tests.sandbox.helpers import control
from tools.devstack.dev import DevConfig, DevStack
from tools.devstack.invoke_api import fc_signature

EVENTS = Path(__file__).parent / "events"
SERVICE = "ekyc-dev"
#: Every variable DevStack writes (it fills os.environ with defaults): removed again after each test.
STACK_VARIABLES = (
    "CLOUDAUTH_ENDPOINT", "CLOUDAUTH_REGION", "CLOUDAUTH_PRODUCT_CODE", "CLOUDAUTH_PRODUCTS",
    "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    "ALIBABA_CLOUD_SECURITY_TOKEN", "KYC_BACKEND", "KYC_DATA_DIR", "KYC_PUBLIC_URL", "KYC_JWT_SECRET",
    "KYC_USER_ID_PEPPER", "KYC_RETURN_URL_ALLOWLIST", "KYC_CORS_ORIGINS", "KYC_WEBHOOKS",
    "KYC_WEBHOOK_ALLOW_PRIVATE", "KYC_WEBHOOK_RETRY_SCHEDULE", "KYC_RECHECK_SCHEDULE", "KYC_SWEEP_AFTER",
    "KYC_ABANDON_AFTER", "KYC_RETENTION_DAYS", "KYC_DELETE_VENDOR_COPY", "KYC_LOG_LEVEL", "KYC_HTTP_PORT",
    "KYC_FC_ENDPOINT", "KYC_FC_SERVICE", "KYC_MNS_ENDPOINT",
)


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DevStack]:
    for name in STACK_VARIABLES:
        monkeypatch.setenv(name, "")  # recorded, so whatever DevStack writes is undone afterwards
        monkeypatch.delenv(name)
    monkeypatch.setenv("KYC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KYC_RECHECK_SCHEDULE", "3600")  # re-checks stay queued: tests drive the fetch themselves
    monkeypatch.setenv("KYC_LOG_LEVEL", "WARNING")
    dev = DevStack(DevConfig(http_port=0, sandbox_port=0, sweep_interval=0, poll_interval=0.05))
    dev.start()
    assert dev.gateway is not None
    dev.gateway.invoke_api.retry_delays = (0.01, 0.01)
    try:
        yield dev
    finally:
        dev.stop()


def gateway_url(dev: DevStack) -> str:
    assert dev.gateway is not None
    return dev.gateway.url


def client(dev: DevStack, secret: str | None = None) -> Any:
    return fc2.Client(endpoint=gateway_url(dev), accessKeyID=os.environ["ALIBABA_CLOUD_ACCESS_KEY_ID"],
                      accessKeySecret=secret or os.environ["ALIBABA_CLOUD_ACCESS_KEY_SECRET"], Timeout=30)


def http_event(dev: DevStack, method: str, path: str, body: Any = None, user: str = "alice") -> dict[str, Any]:
    """An FC 3.0 HTTP trigger event, from tests/events/http-post-verifications.json, with a real token."""
    event: dict[str, Any] = jsonutil.loads((EVENTS / "http-post-verifications.json").read_bytes())
    event["rawPath"] = path
    event["requestContext"]["http"].update(method=method, path=path)
    event["headers"]["Authorization"] = f"Bearer {dev.demo_token(user)}"
    event["headers"]["Origin"] = gateway_url(dev)
    event["body"] = jsonutil.dumps_str(body) if body is not None else ""
    return event


def verification_body(dev: DevStack) -> dict[str, Any]:
    return {"docType": "01000000", "metaInfo": '{"bioMetaInfo":"sandbox"}', "returnUrl": f"{gateway_url(dev)}/"}


def queue_event(name: str, merchant_biz_id: str, attempt: int = 0) -> list[Any]:
    """tests/events/mns-<name>.json (a batch of MNS CloudEvents) naming this transaction."""
    events: list[Any] = jsonutil.loads((EVENTS / f"mns-{name}.json").read_bytes())
    events = copy.deepcopy(events)
    body = jsonutil.dumps({"merchantBizId": merchant_biz_id, "attempt": attempt})
    events[0]["data"]["messageBody"] = base64.b64encode(body).decode()
    return events


def start_verification(dev: DevStack, user: str = "alice", *, drop_callbacks: bool = True) -> dict[str, Any]:
    """POST /verifications through the gateway; the sandbox drops callbacks so the row stays PENDING."""
    assert dev.sandbox is not None
    if drop_callbacks:
        assert control(dev.sandbox, "POST", "faults", {"callbacks": {"drop": True}}).status == 200
    assert dev.gateway is not None
    conn = http.client.HTTPConnection("127.0.0.1", dev.gateway.port, timeout=10)
    try:
        conn.request("POST", "/verifications", body=jsonutil.dumps(verification_body(dev)),
                     headers={"Authorization": f"Bearer {dev.demo_token(user)}", "Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    assert response.status == 201, data
    created: dict[str, Any] = jsonutil.loads(data)
    return created


def complete(dev: DevStack, transaction_id: str, outcome: str = "pass") -> None:
    assert dev.sandbox is not None
    answer = control(dev.sandbox, "POST", f"transactions/{transaction_id}/complete", {"outcome": outcome})
    assert answer.status == 200, answer.body


def row_status(merchant_biz_id: str) -> str | None:
    record = open_transaction_store(StorageSettings.from_env()).get(merchant_biz_id)
    return record.status if record else None


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def invoke_sync(dev: DevStack, function: str, event: Any) -> Any:
    response = client(dev).invoke_function(SERVICE, function, payload=jsonutil.dumps(event))
    return jsonutil.loads(response.data)


def invoke_async(dev: DevStack, function: str, event: Any) -> str:
    response = client(dev).invoke_function(SERVICE, function, payload=jsonutil.dumps(event),
                                           headers={"x-fc-invocation-type": "Async"})
    request_id = response.headers["x-fc-request-id"]
    assert request_id
    return str(request_id)


def wait_async(dev: DevStack, request_id: str) -> Any:
    assert dev.gateway is not None
    return dev.gateway.invoke_api.wait(request_id, timeout=20)


# --- synchronous -------------------------------------------------------------------------------------------


def test_sync_initializer_with_an_http_event_returns_the_fc_http_response(stack: DevStack) -> None:
    answer = invoke_sync(stack, "initializer", http_event(stack, "POST", "/verifications", verification_body(stack)))
    assert answer["statusCode"] == 201
    created = jsonutil.loads(answer["body"])
    assert row_status(created["merchantBizId"]) == "PENDING"


def test_sync_result_fetcher_with_a_recheck_event_finalizes_the_row(stack: DevStack) -> None:
    created = start_verification(stack)
    complete(stack, created["transactionId"])
    answer = invoke_sync(stack, "result_fetcher", queue_event("recheck", created["merchantBizId"], attempt=1))
    assert answer == {"processed": 1}
    assert row_status(created["merchantBizId"]) == "PASSED"


def test_sync_notifier_with_a_notify_event_delivers_the_webhook(stack: DevStack) -> None:
    created = start_verification(stack)
    complete(stack, created["transactionId"])
    invoke_sync(stack, "result_fetcher", queue_event("recheck", created["merchantBizId"]))
    stack.demo.inbox.received.clear()
    answer = invoke_sync(stack, "notifier", queue_event("notify", created["merchantBizId"]))
    assert answer == {"handled": 1}
    assert any(r.verified and created["merchantBizId"].encode() in r.body for r in stack.demo.inbox.received)


def test_sync_sweeper_with_the_timer_event_returns_its_report(stack: DevStack) -> None:
    answer = invoke_sync(stack, "sweeper", jsonutil.loads((EVENTS / "timer.json").read_bytes()))
    assert {"checked", "finalized", "abandoned", "stillPending", "renotified", "expired", "errors"} <= set(answer)


def test_sync_function_error_is_reported_as_unhandled_invocation_error(stack: DevStack) -> None:
    with pytest.raises(FcError) as info:
        client(stack).invoke_function(SERVICE, "result_fetcher", payload=b"42")
    detail = jsonutil.loads(info.value.message)
    assert detail["errorType"] == "BadEvent" and info.value.status_code == 200
    assert detail["RequestId"].startswith("1-")


def test_unknown_function_is_a_404_function_not_found(stack: DevStack) -> None:
    with pytest.raises(FcError) as info:
        client(stack).invoke_function(SERVICE, "no_such_function", payload=b"{}")
    assert info.value.status_code == 404 and jsonutil.loads(info.value.message)["ErrorCode"] == "FunctionNotFound"


def test_unknown_service_is_a_404_service_not_found(stack: DevStack) -> None:
    with pytest.raises(FcError) as info:
        client(stack).invoke_function("other-service", "sweeper", payload=b"{}")
    assert info.value.status_code == 404 and jsonutil.loads(info.value.message)["ErrorCode"] == "ServiceNotFound"


def test_a_wrong_secret_is_refused_with_signature_not_match(stack: DevStack) -> None:
    with pytest.raises(FcError) as info:
        client(stack, secret="not-the-secret").invoke_function(SERVICE, "sweeper", payload=b"{}")
    assert info.value.status_code == 403 and jsonutil.loads(info.value.message)["ErrorCode"] == "SignatureNotMatch"


def test_a_request_without_authorization_is_refused(stack: DevStack) -> None:
    assert stack.gateway is not None
    conn = http.client.HTTPConnection("127.0.0.1", stack.gateway.port, timeout=10)
    try:
        conn.request("POST", f"/2016-08-15/services/{SERVICE}/functions/sweeper/invocations", body=b"{}",
                     headers={"Date": formatdate(usegmt=True), "Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    assert response.status == 401 and jsonutil.loads(data)["ErrorCode"] == "MissingAuthorization"
    assert response.getheader("x-fc-request-id")


# --- asynchronous ------------------------------------------------------------------------------------------


def test_async_initializer_runs_in_the_background(stack: DevStack) -> None:
    request_id = invoke_async(stack, "initializer",
                              http_event(stack, "POST", "/verifications", verification_body(stack), user="bob"))
    invocation = wait_async(stack, request_id)
    assert invocation.status == "Succeeded" and invocation.result["statusCode"] == 201


def test_async_result_fetcher_finalizes_the_row_in_the_background(stack: DevStack) -> None:
    created = start_verification(stack)
    complete(stack, created["transactionId"])
    request_id = invoke_async(stack, "result_fetcher", queue_event("recheck", created["merchantBizId"]))
    invocation = wait_async(stack, request_id)
    assert invocation.status == "Succeeded"
    assert row_status(created["merchantBizId"]) == "PASSED"


def test_async_notifier_delivers_in_the_background(stack: DevStack) -> None:
    created = start_verification(stack)
    complete(stack, created["transactionId"])
    invoke_sync(stack, "result_fetcher", queue_event("recheck", created["merchantBizId"]))
    invocation = wait_async(stack, invoke_async(stack, "notifier", queue_event("notify", created["merchantBizId"])))
    assert invocation.status == "Succeeded" and invocation.result == {"handled": 1}


def test_async_sweeper_runs_in_the_background(stack: DevStack) -> None:
    timer = jsonutil.loads((EVENTS / "timer.json").read_bytes())
    invocation = wait_async(stack, invoke_async(stack, "sweeper", timer))
    assert invocation.status == "Succeeded" and invocation.attempts == 1


def test_async_function_error_is_retried_as_s_yaml_says_then_fails(stack: DevStack) -> None:
    from tools.deployment import function_async_retries

    response = client(stack).invoke_function(SERVICE, "result_fetcher", payload=b"42",
                                             headers={"x-fc-invocation-type": "Async"})
    assert response.headers["x-fc-request-id"]
    invocation = wait_async(stack, response.headers["x-fc-request-id"])
    attempts = 1 + function_async_retries()["result_fetcher"]
    assert (invocation.status, invocation.attempts, invocation.error_type) == ("Failed", attempts, "BadEvent")


# --- the signature ----------------------------------------------------------------------------------------


def test_local_signature_check_agrees_with_the_fc2_client_signer() -> None:
    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits + "-_."
    for _ in range(50):
        secret = "".join(rng.choices(alphabet, k=rng.randint(8, 40)))
        path = f"/2016-08-15/services/{''.join(rng.choices(alphabet, k=8))}/functions/f{rng.randint(0, 99)}/invocations"
        headers = {"content-type": "application/json", "date": formatdate(rng.randint(0, 2**31), usegmt=True),
                   "x-fc-invocation-type": rng.choice(["Sync", "Async"]), "host": "127.0.0.1:9000"}
        if rng.random() < 0.5:
            headers["x-fc-security-token"] = "".join(rng.choices(alphabet, k=20))
        if rng.random() < 0.3:
            headers["content-md5"] = "".join(rng.choices(alphabet, k=24))
        oracle = Fc2Auth("key-id", secret).sign_request("POST", path, headers)
        assert oracle == f"FC key-id:{fc_signature(secret, 'POST', path, headers)}"
