"""Fault injection through the control API: errors, delays, dropped connections, callback faults, forced P."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Callable

import pytest

from tests.sandbox.helpers import Receiver, check, complete, control, init_params, initialize, v3_request
from tools.sandbox import SandboxServer


def _faults(server: SandboxServer, plan: dict[str, object]) -> None:
    answer = control(server, "POST", "faults", plan)
    assert answer.status == 200, answer.body


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("InternalError", 500),
        ("Throttling.Api", 403),
        ("Forbidden.RAMUserAccessDenied", 403),
        ("Forbidden.AccountAccessDenied", 403),
        # "Server-side HTTP status codes" (help/en/ekyc/latest/http-status-code-returned-by-the-server, Jun 24, 2026)
        ("Forbidden.ExceptionRepeatedInvoke", 401),
        ("ServiceUnavailable", 503),
    ],
)
def test_sequence_injects_the_error_then_answers_normally(sandbox: SandboxServer, code: str, status: int) -> None:
    _faults(sandbox, {"operations": {"Initialize": {"sequence": [code]}}})
    first = v3_request(sandbox, "Initialize", init_params())
    second = v3_request(sandbox, "Initialize", init_params())
    assert (first.status, first.body["Code"]) == (status, code)
    assert second.status == 200


def test_injected_error_has_no_side_effect(sandbox: SandboxServer) -> None:
    _faults(sandbox, {"operations": {"Initialize": {"sequence": ["InternalError"]}}})
    v3_request(sandbox, "Initialize", init_params())
    assert control(sandbox, "GET", "transactions").body["transactions"] == []


def test_faults_apply_only_to_their_operation(sandbox: SandboxServer) -> None:
    _faults(sandbox, {"operations": {"CheckResult": {"errorRates": {"InternalError": 1.0}}}})
    tid = initialize(sandbox)
    complete(sandbox, tid)
    assert check(sandbox, tid).body["Code"] == "InternalError"


def test_wildcard_faults_apply_to_every_operation(sandbox: SandboxServer) -> None:
    _faults(sandbox, {"operations": {"*": {"errorRates": {"InternalError": 1.0}}}})
    assert v3_request(sandbox, "Initialize", init_params()).status == 500


def _codes_with_seed(server: SandboxServer, seed: int) -> list[int]:
    _faults(server, {"seed": seed, "operations": {"Initialize": {"errorRates": {"InternalError": 0.5}}}})
    return [v3_request(server, "Initialize", init_params()).status for _ in range(12)]


def test_error_rates_are_deterministic_with_a_seed(make_sandbox: Callable[..., SandboxServer]) -> None:
    server = make_sandbox(qps=1000)
    first = _codes_with_seed(server, 1234)
    second = _codes_with_seed(server, 1234)
    assert first == second
    assert set(first) == {200, 500}  # rate 0.5 over 12 calls with this seed gives both


def test_zero_rate_never_injects(sandbox: SandboxServer) -> None:
    _faults(sandbox, {"seed": 1, "operations": {"Initialize": {"errorRates": {"InternalError": 0.0}}}})
    assert {v3_request(sandbox, "Initialize", init_params()).status for _ in range(5)} == {200}


def test_delayed_answer_outlasts_a_short_client_timeout(sandbox: SandboxServer) -> None:
    _faults(sandbox, {"operations": {"Initialize": {"sequence": ["delay:1.0"]}}})
    with pytest.raises(TimeoutError):
        v3_request(sandbox, "Initialize", init_params(), timeout=0.2)


def test_delay_rate_answers_late_but_correctly(sandbox: SandboxServer) -> None:
    _faults(sandbox, {"operations": {"Initialize": {"delayRate": 1.0, "delaySeconds": 0.05}}})
    assert v3_request(sandbox, "Initialize", init_params()).status == 200


def test_drop_before_closes_without_answer_and_creates_nothing(sandbox: SandboxServer) -> None:
    _faults(sandbox, {"operations": {"Initialize": {"sequence": ["drop-before"]}}})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError, socket.error)):
        v3_request(sandbox, "Initialize", init_params())
    assert control(sandbox, "GET", "transactions").body["transactions"] == []


def test_drop_after_closes_without_answer_but_the_operation_happened(sandbox: SandboxServer) -> None:
    _faults(sandbox, {"operations": {"Initialize": {"sequence": ["drop-after"]}}})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError, socket.error)):
        v3_request(sandbox, "Initialize", init_params())
    assert len(control(sandbox, "GET", "transactions").body["transactions"]) == 1


def test_drop_rate_with_drop_when_after(sandbox: SandboxServer) -> None:
    _faults(sandbox, {"operations": {"Initialize": {"dropRate": 1.0, "dropWhen": "after"}}})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError, socket.error)):
        v3_request(sandbox, "Initialize", init_params())
    assert len(control(sandbox, "GET", "transactions").body["transactions"]) == 1


def test_pending_checks_fault_answers_p_before_the_final_answer(sandbox: SandboxServer) -> None:
    _faults(sandbox, {"pendingChecks": 2})
    tid = initialize(sandbox)
    complete(sandbox, tid, "fail", subCode="203")
    answers = [check(sandbox, tid).body["Result"] for _ in range(3)]
    assert [a["Passed"] for a in answers] == ["P", "P", "N"]
    assert answers[2]["SubCode"] == "203"


def _callback_tx(server: SandboxServer, receiver: Receiver, token: str = "cb-token") -> str:
    return initialize(server, CallbackUrl=f"{receiver.base_url}/cb?tenant=t1", CallbackToken=token)


def test_duplicate_callbacks_are_sent_n_times(sandbox: SandboxServer, receiver: Receiver) -> None:
    _faults(sandbox, {"callbacks": {"duplicates": 3}})
    tid = _callback_tx(sandbox, receiver)
    complete(sandbox, tid)
    got = receiver.wait_for("/cb", count=3)
    assert len(got) == 3
    assert all(r.query["transactionId"] == tid for r in got)


def test_delayed_callback_is_scheduled_then_sent_after_the_delay(sandbox: SandboxServer, receiver: Receiver) -> None:
    _faults(sandbox, {"callbacks": {"delaySeconds": 0.3}})
    tid = _callback_tx(sandbox, receiver)
    complete(sandbox, tid)
    log = control(sandbox, "GET", "callbacks").body["callbacks"]
    assert [e["status"] for e in log] == ["scheduled"]
    assert receiver.at("/cb") == []
    assert len(receiver.wait_for("/cb")) == 1
    entry = control(sandbox, "GET", "callbacks").body["callbacks"][0]
    assert entry["sentAt"] - entry["scheduledAt"] >= 0.3


def test_dropped_callback_is_never_sent(sandbox: SandboxServer, receiver: Receiver) -> None:
    _faults(sandbox, {"callbacks": {"drop": True}})
    dropped = _callback_tx(sandbox, receiver)
    complete(sandbox, dropped)
    _faults(sandbox, {})
    delivered = _callback_tx(sandbox, receiver)
    complete(sandbox, delivered)
    receiver.wait_for("/cb")
    assert [r.query["transactionId"] for r in receiver.at("/cb")] == [delivered]
    statuses = {e["transactionId"]: e["status"] for e in control(sandbox, "GET", "callbacks").body["callbacks"]}
    assert statuses[dropped] == "dropped"


def test_callback_drop_rate_loses_every_duplicate_of_a_dropped_callback(
    sandbox: SandboxServer, receiver: Receiver
) -> None:
    _faults(sandbox, {"seed": 3, "callbacks": {"dropRate": 0.5, "duplicates": 2}})
    tids = [_callback_tx(sandbox, receiver) for _ in range(8)]
    for tid in tids:
        complete(sandbox, tid)
    log = control(sandbox, "GET", "callbacks").body["callbacks"]
    by_tx: dict[str, set[str]] = {}
    for entry in log:
        by_tx.setdefault(entry["transactionId"], set()).add("dropped" if entry["status"] == "dropped" else "sent")
    assert all(len(kinds) == 1 for kinds in by_tx.values())  # a lost callback loses all its duplicates
    dropped = [tid for tid in tids if by_tx[tid] == {"dropped"}]
    assert 0 < len(dropped) < len(tids)


@pytest.mark.parametrize(
    "plan",
    [
        {"operations": {"Initialize": {"sequence": ["explode"]}}},
        {"operations": {"Initialize": {"errorRates": {"InternalError": 1.5}}}},
        {"operations": {"Initialize": {"errorRates": {"NotACode": 0.1}}}},
        {"operations": {"Initialize": {"dropWhen": "during"}}},
        {"callbacks": {"duplicates": 0}},
        {"callbacks": {"dropRate": 2}},
        {"seed": "abc"},
        {"surprise": 1},
    ],
)
def test_malformed_fault_plan_is_rejected(sandbox: SandboxServer, plan: dict[str, object]) -> None:
    assert control(sandbox, "POST", "faults", plan).status == 400


def test_reset_clears_faults(sandbox: SandboxServer) -> None:
    _faults(sandbox, {"operations": {"*": {"errorRates": {"InternalError": 1.0}}}})
    assert control(sandbox, "POST", "reset").status == 200
    assert control(sandbox, "GET", "faults").body == {"faults": {}}
    assert v3_request(sandbox, "Initialize", init_params()).status == 200


def test_a_foreign_answer_is_a_page_of_that_status_and_reaches_no_operation(sandbox: SandboxServer) -> None:
    """tools/faultplan.py, ``foreign:<status>``: what a load balancer or proxy in front of the service answers, that
    status and an HTML page, none of the service's headers or body, without the request being processed (the sandbox
    took the plan and answered as if none was set: review bo)."""
    _faults(sandbox, {"operations": {"Initialize": {"sequence": ["foreign:503"]}}})
    answer = v3_request(sandbox, "Initialize", init_params())
    assert answer.status == 503
    assert answer.headers["content-type"].startswith("text/html")
    assert "x-acs-request-id" not in answer.headers
    assert control(sandbox, "GET", "transactions").body["transactions"] == []


def test_the_pending_checks_fault_makes_the_callback_say_p(sandbox: SandboxServer, receiver: Receiver) -> None:
    """``pendingChecks`` makes every finished result pending first (tools/sandbox/faults.py): its callback says
    ``passed=P`` like any pending result's, not the verdict CheckResult does not give yet."""
    _faults(sandbox, {"pendingChecks": 2})
    tid = _callback_tx(sandbox, receiver)
    complete(sandbox, tid)
    (callback,) = receiver.wait_for("/cb")
    assert (callback.query["passed"], callback.query["subCode"]) == ("P", "")
