"""The verification page (without a browser) and the callback it triggers."""

from __future__ import annotations

import http.client
import re
from urllib.parse import urlencode, urlsplit

import pytest

from tests.sandbox.helpers import Receiver, check, control, init_params, initialize, v3_request
from tools.sandbox import SandboxServer, pages


def _get(url: str) -> tuple[int, str, dict[str, str]]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        conn.request("GET", parts.path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode(), {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


def _post_form(server: SandboxServer, path: str, fields: list[tuple[str, str]]) -> tuple[int, str, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("POST", path, urlencode(fields), {"Content-Type": "application/x-www-form-urlencoded"})
        resp = conn.getresponse()
        return resp.status, resp.read().decode(), {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


def _open_page(server: SandboxServer, **params: str) -> tuple[str, str, str]:
    answer = v3_request(server, "Initialize", init_params(**params))
    url = answer.body["Result"]["TransactionUrl"]
    status, html, _ = _get(url)
    assert status == 200
    session = re.search(r'name=session value="([^"]+)"', html)
    assert session is not None
    return answer.body["Result"]["TransactionId"], urlsplit(url).path, session.group(1)


def test_page_offers_every_outcome_and_shows_the_fake_identity(sandbox: SandboxServer) -> None:
    answer = v3_request(sandbox, "Initialize", init_params(DocType="00000001"))
    _, html, _ = _get(answer.body["Result"]["TransactionUrl"])
    for element in ("outcome-pass", "outcome-fail", "outcome-spoof", "outcome-pending", "outcome-abandon", "finish"):
        assert f'id="{element}"' in html or f"id={element}" in html
    assert 'data-field="idNumber"' in html
    assert "测试样本" in html
    assert "<script src" not in html and "<link" not in html


def test_transaction_url_is_single_use(sandbox: SandboxServer) -> None:
    answer = v3_request(sandbox, "Initialize", init_params())
    url = answer.body["Result"]["TransactionUrl"]
    _get(url)
    status, html, _ = _get(url)
    assert status == 200
    assert 'id="expired"' in html


def test_unknown_page_token_is_not_found(sandbox: SandboxServer) -> None:
    status, html, _ = _get(f"{sandbox.base_url}/verify/nope")
    assert status == 404
    assert 'id="not-found"' in html


def test_finishing_redirects_to_return_url_and_sends_the_callback(sandbox: SandboxServer, receiver: Receiver) -> None:
    tid, path, session = _open_page(
        sandbox, ReturnUrl=f"{receiver.base_url}/back", CallbackUrl=f"{receiver.base_url}/cb?tenant=t1",
        CallbackToken="tok-123",
    )
    status, _, headers = _post_form(sandbox, f"{path}/finish", [("session", session), ("outcome", "fail"),
                                                                 ("subCode", "207")])
    assert status == 302
    assert headers["location"] == f"{receiver.base_url}/back"
    (callback,) = receiver.wait_for("/cb")
    assert callback.query == {"tenant": "t1", "transactionId": tid, "passed": "N", "subCode": "207",
                              "callbackToken": "tok-123"}


def test_callback_without_token_has_no_callback_token(sandbox: SandboxServer, receiver: Receiver) -> None:
    tid = initialize(sandbox, CallbackUrl=f"{receiver.base_url}/cb")
    control(sandbox, "POST", f"transactions/{tid}/complete", {"outcome": "pass"})
    (callback,) = receiver.wait_for("/cb")
    assert callback.query == {"transactionId": tid, "passed": "Y", "subCode": "200"}


def test_callback_log_records_delivery_status(sandbox: SandboxServer, receiver: Receiver) -> None:
    tid = initialize(sandbox, CallbackUrl=f"{receiver.base_url}/cb")
    control(sandbox, "POST", f"transactions/{tid}/complete", {"outcome": "pass"})
    receiver.wait_for("/cb")
    for _ in range(100):
        (entry,) = control(sandbox, "GET", "callbacks").body["callbacks"]
        if entry["status"] != "sending":
            break
    assert (entry["status"], entry["httpStatus"], entry["transactionId"]) == ("delivered", 200, tid)


def test_unreachable_callback_is_logged_as_failed(sandbox: SandboxServer) -> None:
    tid = initialize(sandbox, CallbackUrl="http://127.0.0.1:1/cb")
    control(sandbox, "POST", f"transactions/{tid}/complete", {"outcome": "pass"})
    for _ in range(200):
        (entry,) = control(sandbox, "GET", "callbacks").body["callbacks"]
        if entry["status"] not in ("scheduled", "sending"):
            break
    assert entry["status"] == "failed"
    assert entry["error"]


def test_spoof_from_the_page_records_the_chosen_spoof_types(sandbox: SandboxServer) -> None:
    tid, path, session = _open_page(sandbox)
    fields = [("session", session), ("outcome", "spoof"), ("spoofType", "TAMPER"), ("spoofType", "PHOTO_COPY")]
    assert _post_form(sandbox, f"{path}/finish", fields)[0] == 302
    detail = control(sandbox, "GET", f"transactions/{tid}").body
    assert (detail["subCode"], detail["spoofTypes"]) == (None, ["TAMPER", "PHOTO_COPY"])
    assert check(sandbox, tid).body["Result"]["SubCode"] == "212"


def test_pending_from_the_page_answers_p_first(sandbox: SandboxServer) -> None:
    tid, path, session = _open_page(sandbox)
    fields = [("session", session), ("outcome", "pending"), ("pendingChecks", "1"), ("pendingSeconds", "0")]
    _post_form(sandbox, f"{path}/finish", fields)
    assert [check(sandbox, tid).body["Result"]["Passed"] for _ in range(2)] == ["P", "Y"]


def test_abandon_from_the_page_sends_no_callback_and_never_finishes(sandbox: SandboxServer, receiver: Receiver) -> None:
    tid, path, session = _open_page(sandbox, CallbackUrl=f"{receiver.base_url}/cb")
    status, html, _ = _post_form(sandbox, f"{path}/finish", [("session", session), ("outcome", "abandon")])
    assert status == 200
    assert 'id="abandoned"' in html
    assert control(sandbox, "GET", "callbacks").body["callbacks"] == []
    assert check(sandbox, tid).body["Code"] == "ProcessNotCompleted"


def test_finish_with_wrong_session_shows_expired(sandbox: SandboxServer) -> None:
    tid, path, _ = _open_page(sandbox)
    _, html, _ = _post_form(sandbox, f"{path}/finish", [("session", "forged"), ("outcome", "pass")])
    assert 'id="expired"' in html
    assert control(sandbox, "GET", f"transactions/{tid}").body["status"] == "VISITED"


def test_finishing_twice_is_refused(sandbox: SandboxServer) -> None:
    _, path, session = _open_page(sandbox)
    fields = [("session", session), ("outcome", "pass")]
    assert _post_form(sandbox, f"{path}/finish", fields)[0] == 302
    assert 'id="expired"' in _post_form(sandbox, f"{path}/finish", fields)[1]


def test_the_abandoned_page_links_back_to_the_transaction_s_own_return_url(sandbox: SandboxServer) -> None:
    _, path, session = _open_page(sandbox)
    _, html, _ = _post_form(sandbox, f"{path}/finish", [("session", session), ("outcome", "abandon")])
    assert '<a id=return href="https://merchant.example/return">' in html


def test_the_expired_page_links_back_to_the_transaction_s_own_return_url(sandbox: SandboxServer) -> None:
    answer = v3_request(sandbox, "Initialize", init_params(ReturnUrl="https://merchant.example/back?a=1&b=2"))
    url = answer.body["Result"]["TransactionUrl"]
    _get(url)
    _, html, _ = _get(url)
    assert 'id="expired"' in html and '<a id=return href="https://merchant.example/back?a=1&amp;b=2">' in html


@pytest.mark.parametrize("url", ["javascript:alert(1)", "https://m.example/\u200bx", "https://m.example/ x", ""])
def test_an_end_page_never_links_to_an_unsafe_return_url(url: str) -> None:
    assert pages.return_link(url) == ""
    assert "id=return" not in pages.abandoned_page(url) and "id=return" not in pages.expired_page(url)



def test_pending_from_the_page_answers_p_as_many_times_as_chosen(sandbox: SandboxServer) -> None:
    """The page's pending choice takes its number of P answers ("P for N CheckResult calls") as the control API
    does; Passed P "later becomes Y or N" (REFERENCE.md §1)."""
    tid, path, session = _open_page(sandbox)
    fields = [("session", session), ("outcome", "pending"), ("pendingChecks", "3"), ("pendingSeconds", "0")]
    _post_form(sandbox, f"{path}/finish", fields)
    assert [check(sandbox, tid).body["Result"]["Passed"] for _ in range(4)] == ["P", "P", "P", "Y"]



def test_the_callback_of_a_pending_result_says_p_with_an_empty_sub_code(
    sandbox: SandboxServer, receiver: Receiver
) -> None:
    """Passed P is "pending, later becomes Y or N" (REFERENCE.md §1, CheckResult): the callback of a result pending
    for some seconds carries ``passed=P`` and no SubCode yet, the final answer coming from CheckResult (the vendor's
    callback for a pending result is unverified: tools/sandbox/vendor.py)."""
    tid = initialize(sandbox, CallbackUrl=f"{receiver.base_url}/cb")
    control(sandbox, "POST", f"transactions/{tid}/complete", {"outcome": "pending", "pendingSeconds": 30})
    (callback,) = receiver.wait_for("/cb")
    assert (callback.query["passed"], callback.query["subCode"]) == ("P", "")



def test_a_callback_url_with_a_fragment_still_gets_the_parameters(sandbox: SandboxServer, receiver: Receiver) -> None:
    """The callback is a GET to CallbackUrl with ``transactionId``, ``passed`` and ``subCode`` appended to its query
    (REFERENCE.md §1, The callback); a fragment is never sent over HTTP, so parameters after it would be lost."""
    tid = initialize(sandbox, CallbackUrl=f"{receiver.base_url}/cb#section")
    control(sandbox, "POST", f"transactions/{tid}/complete", {"outcome": "pass"})
    (callback,) = receiver.wait_for("/cb")
    assert callback.query == {"transactionId": tid, "passed": "Y", "subCode": "200"}



def test_the_page_is_not_reached_by_the_transaction_id(sandbox: SandboxServer) -> None:
    """The page lives at the TransactionUrl Initialize returned (REFERENCE.md §1: "single use"); the TransactionId,
    which the merchant's server stores and the callback carries, does not open it."""
    tid = initialize(sandbox)
    status, _, _ = _get(f"{sandbox.base_url}/verify/{tid}")
    assert status == 404
