"""The control API under /_sandbox/ and the command line entry point."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sandbox.helpers import check, complete, control, initialize
from tools.sandbox import SandboxServer

ROOT = Path(__file__).resolve().parents[2]


def test_list_transactions_shows_initialized_ones(sandbox: SandboxServer) -> None:
    first, second = initialize(sandbox), initialize(sandbox)
    listed = control(sandbox, "GET", "transactions").body["transactions"]
    assert [t["transactionId"] for t in listed] == [first, second]
    assert {t["status"] for t in listed} == {"INITIALIZED"}


def test_get_transaction_returns_detail_with_identity(sandbox: SandboxServer) -> None:
    tid = initialize(sandbox)
    complete(sandbox, tid, "fail", subCode="204")
    detail = control(sandbox, "GET", f"transactions/{tid}").body
    assert (detail["status"], detail["outcome"], detail["subCode"]) == ("FINISHED", "fail", "204")
    assert detail["identity"]["surname"] == "SAMPLE"
    assert "CallbackToken" not in detail["parameters"] or detail["hasCallbackToken"]


def test_get_unknown_transaction_is_404(sandbox: SandboxServer) -> None:
    assert control(sandbox, "GET", "transactions/nope").status == 404


def test_complete_unknown_transaction_is_404(sandbox: SandboxServer) -> None:
    assert control(sandbox, "POST", "transactions/nope/complete", {"outcome": "pass"}).status == 404


def test_complete_with_unknown_outcome_is_400(sandbox: SandboxServer) -> None:
    tid = initialize(sandbox)
    assert control(sandbox, "POST", f"transactions/{tid}/complete", {"outcome": "maybe"}).status == 400


def test_reset_forgets_transactions(sandbox: SandboxServer) -> None:
    tid = initialize(sandbox)
    control(sandbox, "POST", "reset")
    assert control(sandbox, "GET", "transactions").body["transactions"] == []
    assert check(sandbox, tid).body["Code"] == "TransactionIdInvalid"


def test_health_names_the_access_key_id_and_the_region_played(sandbox: SandboxServer) -> None:
    body = control(sandbox, "GET", "health").body
    assert body == {"ok": True, "accessKeyId": "sandbox", "baseUrl": sandbox.base_url, "region": "cn-hongkong"}


def test_unknown_control_route_is_404(sandbox: SandboxServer) -> None:
    assert control(sandbox, "GET", "nothing-here").status == 404


def test_python_m_sandbox_serves_on_the_requested_port() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SANDBOX_ACCESS_KEY_ID": "cli-ak"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tools.sandbox", "--host", "127.0.0.1", "--port", "0", "--quiet"],
        cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "cloudauth-intl sandbox on http://127.0.0.1:" in line
        port = int(line.split("http://127.0.0.1:")[1].split()[0])
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/_sandbox/health")
        assert b'"accessKeyId":"cli-ak"' in conn.getresponse().read()
        conn.close()
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_scripts_sandbox_is_an_executable_wrapper() -> None:
    script = ROOT / "scripts" / "sandbox"
    assert os.access(script, os.X_OK)
    text = script.read_text()
    assert '. "$(dirname "$0")/_venv.sh"' in text
    assert 'exec python -m tools.sandbox "$@"' in text


def test_the_control_api_lists_its_endpoints_and_each_one_answers(sandbox: SandboxServer) -> None:
    listed = control(sandbox, "GET", "").body
    assert listed["accessKeyId"] == "sandbox" and listed["baseUrl"] == sandbox.base_url
    tid = initialize(sandbox)
    bodies = {"complete": {"outcome": "pass"}, "faults": {}}
    for endpoint in listed["endpoints"]:
        path = endpoint["path"].replace("{transactionId}", tid).removeprefix("/_sandbox/")
        body = bodies.get(path.rsplit("/", 1)[-1]) if endpoint["method"] == "POST" else None
        answer = control(sandbox, endpoint["method"], path, body)
        assert answer.status == 200, (endpoint, answer.body)


def test_the_control_api_list_is_a_page_for_a_browser(sandbox: SandboxServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=10)
    try:
        conn.request("GET", "/_sandbox/", headers={"Accept": "text/html"})
        response = conn.getresponse()
        status, html = response.status, response.read().decode()
    finally:
        conn.close()
    assert status == 200 and "<table id=endpoints>" in html
    assert "/_sandbox/transactions/{transactionId}/complete" in html


def test_an_unknown_control_route_points_at_the_list(sandbox: SandboxServer) -> None:
    assert "GET /_sandbox/ lists" in control(sandbox, "GET", "nope").body["error"]["message"]


def test_every_control_api_refusal_has_a_machine_readable_code_and_a_message(sandbox: SandboxServer) -> None:
    """The project's error shape (docs/architecture.md), so that a script can tell the refusals apart."""
    tid = initialize(sandbox)
    complete(sandbox, tid, "pass")
    refusals = {
        "UnknownTransaction": control(sandbox, "GET", "transactions/nope"),
        "InvalidOutcome": control(sandbox, "POST", f"transactions/{initialize(sandbox)}/complete", {"outcome": "x"}),
        "TransactionClosed": control(sandbox, "POST", f"transactions/{tid}/complete", {"outcome": "pass"}),
        "InvalidFaultPlan": control(sandbox, "POST", "faults", {"errorRates": "all"}),
        "NotFound": control(sandbox, "GET", "nope"),
    }
    for code, answer in refusals.items():
        assert 400 <= answer.status < 500 and set(answer.body) == {"error"}, code
        assert answer.body["error"]["code"] == code and answer.body["error"]["message"], code



def test_complete_with_a_sub_code_of_other_characters_is_400(sandbox: SandboxServer) -> None:
    """A SubCode is a code (REFERENCE.md §1: ``200``, ``212``, ...): the control API takes letters and digits only,
    so what it appends to the callback URL and prints in the page is never markup or another parameter."""
    tid = initialize(sandbox)
    answer = control(sandbox, "POST", f"transactions/{tid}/complete", {"outcome": "fail", "subCode": "20&passed=Y"})
    assert (answer.status, answer.body["error"]["code"]) == (400, "InvalidOutcome")



@pytest.mark.parametrize("fields", [{"pendingChecks": 1001}, {"resolvesTo": "spoof"}])
def test_complete_with_a_pending_field_out_of_its_range_is_400(
    sandbox: SandboxServer, fields: dict[str, object]
) -> None:
    """GET /_sandbox/ documents the pending fields: ``pendingChecks`` up to 1000, ``resolvesTo`` pass or fail (a
    pending answer "later becomes Y or N", REFERENCE.md §1: never a spoof)."""
    tid = initialize(sandbox)
    answer = control(sandbox, "POST", f"transactions/{tid}/complete", {"outcome": "pending", **fields})
    assert (answer.status, answer.body["error"]["code"]) == (400, "InvalidOutcome")
