"""End to end over HTTP: forged callbacks, other users, bad tokens, bad bodies and the rate limit."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared import jsonutil
from shared.auth import issue_token
from tests.e2e.support import PASSPORT, E2EStack, MakeStack, Reply

SECURITY_EVENT = '"security":true'


def assert_error(reply: Reply, status: int, code: str) -> dict[str, Any]:
    assert reply.status == status, (reply.status, reply.body[:300])
    assert reply.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = reply.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body


def security_events(out: str) -> list[dict[str, Any]]:
    lines = [jsonutil.loads(line) for line in out.splitlines() if line.startswith("{") and SECURITY_EVENT in line]
    return [line for line in lines if isinstance(line, dict)]


def finished_without_callback(stack: E2EStack) -> tuple[str, str, dict[str, str]]:
    """A verification the person finished whose callback the vendor logged but never sent: (mbid, txid, query)."""
    stack.faults({"callbacks": {"drop": True}})
    started = stack.start_verification()
    stack.complete(started.transaction_id, "pass")
    return started.merchant_biz_id, started.transaction_id, stack.callback_query(started.transaction_id)


def test_callback_with_a_forged_token_is_refused_stores_nothing_and_logs_a_security_event(
    stack: E2EStack, capfd: pytest.CaptureFixture[str]
) -> None:
    mbid, _, query = finished_without_callback(stack)
    forged = {**query, "callbackToken": "forged-" + query["callbackToken"][::-1]}
    stack.guard.forbid("the forged callback token", forged["callbackToken"])
    capfd.readouterr()

    assert_error(stack.callback(forged), 404, "NotFound")

    out, err = capfd.readouterr()
    stack.guard.observe("stdout", out)
    stack.guard.observe("stderr", err)
    (event,) = security_events(out)
    assert (event["event"], event["merchantBizId"], event["tokenPresent"]) == ("callback.bad_token", mbid, True)
    assert stack.row(mbid).status == "PENDING"
    assert stack.row(mbid).check_count == 0
    assert stack.objects().list(f"results/{mbid}/") == []
    assert stack.queue_size("notify") == 0
    assert stack.control("GET", f"transactions/{query['transactionId']}")["checks"] == 0  # no CheckResult at all
    assert stack.callback(query).status == 200  # while the real token still works


def test_callback_naming_another_transaction_is_refused(stack: E2EStack, capfd: pytest.CaptureFixture[str]) -> None:
    mbid, _, query = finished_without_callback(stack)
    other = stack.start_verification(user="bob")
    capfd.readouterr()

    assert_error(stack.callback({**query, "transactionId": other.transaction_id}), 403, "TransactionMismatch")

    out, err = capfd.readouterr()
    stack.guard.observe("stdout", out)
    stack.guard.observe("stderr", err)
    assert [e["event"] for e in security_events(out)] == ["callback.transaction_mismatch"]
    assert stack.row(mbid).status == "PENDING"
    assert stack.objects().list(f"results/{mbid}/") == []


def test_verification_of_another_user_answers_404_like_a_missing_one(stack: E2EStack) -> None:
    started = stack.start_verification(user="alice")
    mallory = stack.token("mallory")

    theirs = stack.call("GET", f"/verifications/{started.merchant_biz_id}", token=mallory)
    missing = stack.call("GET", "/verifications/0123456789abcdef0123456789abcdef", token=mallory)

    assert_error(theirs, 404, "NotFound")
    assert theirs.body == missing.body
    assert stack.call("GET", f"/verifications/{started.merchant_biz_id}", token=started.token).status == 200


def _bad_tokens(stack: E2EStack) -> dict[str, str | None]:
    secret = stack.dev.env["KYC_JWT_SECRET"]
    tokens: dict[str, str | None] = {
        "missing": None,
        "garbage": "not-a-jwt",
        "other secret": issue_token("alice", "x" * 48, ttl=600),
        "expired": issue_token("alice", secret, ttl=60, now=time.time() - 3600),
    }
    for value in tokens.values():
        stack.guard.forbid("a JWT", value)
    return tokens


@pytest.mark.parametrize(
    ("kind", "code"),
    [("missing", "MissingToken"), ("garbage", "InvalidToken"), ("other secret", "InvalidToken"),
     ("expired", "TokenExpired")],
)
def test_invalid_jwt_gets_401_json_error(stack: E2EStack, kind: str, code: str) -> None:
    token = _bad_tokens(stack)[kind]
    body = {"docType": PASSPORT, "metaInfo": stack.meta_info()}

    reply = stack.call("POST", "/verifications", body, token=token)

    assert_error(reply, 401, code)
    assert reply.headers["www-authenticate"].startswith("Bearer")
    assert stack.store().list_created()[0] == []


BAD_BODIES: dict[str, tuple[Any, int, str]] = {
    "not json": (b"{not json", 400, "InvalidJson"),
    "json array": ([1, 2], 400, "InvalidJson"),
    "unknown field": ({"docType": PASSPORT, "metaInfo": "M", "merchantBizId": "mine"}, 400, "UnknownField"),
    "no docType": ({"metaInfo": "M"}, 400, "MissingParameter"),
    "no metaInfo": ({"docType": PASSPORT}, 400, "MissingParameter"),
    "foreign returnUrl": ({"docType": PASSPORT, "metaInfo": "M", "returnUrl": "https://evil.example/"}, 400,
                          "ReturnUrlNotAllowed"),
    "switch not a string": ({"docType": PASSPORT, "metaInfo": "M", "idSpoof": True}, 400, "InvalidParameter"),
    "unknown docType": ({"docType": "99999999", "metaInfo": "M"}, 400, "InvalidParameter"),
    "huge metaInfo": ({"docType": PASSPORT, "metaInfo": "M" * 20_000}, 413, "PayloadTooLarge"),
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_bad_body_gets_a_4xx_json_error_that_does_not_echo_it(stack: E2EStack, case: str) -> None:
    body, status, code = BAD_BODIES[case]
    if isinstance(body, dict) and body.get("metaInfo") == "M":
        body = {**body, "metaInfo": stack.meta_info()}  # the guard fails the test if the answer repeats it
    elif isinstance(body, dict) and isinstance(body.get("metaInfo"), str):
        body = {**body, "metaInfo": stack.marker + body["metaInfo"]}

    reply = stack.call("POST", "/verifications", body, token=stack.token())

    assert_error(reply, status, code)
    assert stack.store().list_created()[0] == []
    assert stack.control("GET", "transactions")["transactions"] == []


def test_rate_limit_refuses_the_third_verification_in_an_hour(make_stack: MakeStack) -> None:
    stack = make_stack(KYC_RATE_LIMIT_PER_HOUR="2")
    stack.start_verification(user="alice")
    stack.start_verification(user="alice")
    body = {"docType": PASSPORT, "metaInfo": stack.meta_info()}

    third = stack.call("POST", "/verifications", body, token=stack.token("alice"))

    assert_error(third, 429, "RateLimited")
    assert int(third.headers["retry-after"]) > 0
    assert len(stack.store().list_created(status="PENDING")[0]) == 2
    assert stack.call("POST", "/verifications", body, token=stack.token("bob")).status == 201  # per user


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), char=st.sampled_from(["\r", "\n", "\t", "\r\n"]))
def test_a_return_url_with_cr_lf_or_tab_anywhere_is_refused_and_never_reaches_the_vendor(
    stack: E2EStack, data: st.DataObject, char: str
) -> None:
    allowed = f"{stack.url}/done?step=2#top"
    at = data.draw(st.integers(0, len(allowed)), label="at")
    body = {"docType": PASSPORT, "metaInfo": stack.meta_info(), "returnUrl": allowed[:at] + char + allowed[at:]}

    reply = stack.call("POST", "/verifications", body, stack.token())

    assert_error(reply, 400, "InvalidReturnUrl")
    assert stack.control("GET", "transactions")["transactions"] == []  # the vendor saw no Initialize


def _raw_exchange(stack: E2EStack, head: str, timeout: float = 5.0) -> tuple[int, dict[str, Any]]:
    """Send only ``head`` (request line and headers, no body) and read the answer until the gateway closes."""
    port = int(stack.url.rsplit(":", 1)[1])
    head = head.replace("{HOST}", f"127.0.0.1:{port}")  # the gateway answers only its own names
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode())
        data = b""
        while chunk := sock.recv(65536):  # a gateway waiting for the body times out here
            data += chunk
    head_bytes, _, body = data.partition(b"\r\n\r\n")
    status = int(head_bytes.split(b" ", 2)[1])
    stack.guard.observe("raw answer", body.decode("utf-8", "replace"))
    return status, jsonutil.loads(body)


def test_an_unauthenticated_post_is_answered_before_its_body_is_read(stack: E2EStack) -> None:
    within_the_limit = 60 * 1024  # (beyond it the answer is 413, also unread)
    head = ("POST /verifications HTTP/1.1\nHost: {HOST}\nContent-Type: application/json\n"
            f"Content-Length: {within_the_limit}\n\n")  # fmt: skip
    status, body = _raw_exchange(stack, head)
    assert (status, body["error"]["code"]) == (401, "MissingToken")


def test_a_declared_body_over_the_limit_is_answered_413_before_it_is_read(stack: E2EStack) -> None:
    head = (f"POST /verifications HTTP/1.1\nHost: {{HOST}}\nAuthorization: Bearer {stack.token()}\n"
            f"Content-Type: application/json\nContent-Length: {64 * 1024 + 1}\n\n")  # fmt: skip
    status, body = _raw_exchange(stack, head)
    assert (status, body["error"]["code"]) == (413, "PayloadTooLarge")


def test_a_client_sending_its_body_regardless_still_reads_the_refusal(stack: E2EStack) -> None:
    within, beyond = (b'{"docType": "' + b"x" * (n * 1024) + b'"}' for n in (60, 200))
    for _ in range(5):  # closing a socket with unread data would reset the connection before the answer is read
        assert_error(stack.call("POST", "/verifications", within, token="not-a-token"), 401, "InvalidToken")
        assert_error(stack.call("POST", "/verifications", beyond, token=stack.token()), 413, "PayloadTooLarge")
