"""docs/deploy.md's frontend page (section 6), run under node against a simulated initializer (reviews aa, gg, hh).

The simulated initializer honours keys as integration.md says: a key it has started answers its first verification
again (201, no second bill); a new key starts, and bills, another one. The page must never let the user's next try
be a new key while the first start may have happened: not while the first request is under way (409 until it has
surely ended, the initializer's timeout), not after a lost answer, a 503, an expired token, a 201 whose body was
lost, or a reload of the tab. Virtual time: the harness's ``setTimeout`` advances a clock at once.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tools.deployment import function_timeouts

ROOT = Path(__file__).resolve().parents[1]
INITIALIZER_TIMEOUT_MS = 1000 * function_timeouts()["initializer"]  # s.yaml's: the first request has ended by then

PRELUDE = r"""
let now = 0;                                        // virtual milliseconds: setTimeout advances them at once
globalThis.setTimeout = (fn, ms) => { now += ms || 0; fn(); return 0; };
const calls = [], started = new Map();              // key -> the verification it started (each one billed)
const res = (status, body, json) => ({status, ok: status >= 200 && status < 300,
                                      headers: {get: n => n.toLowerCase() === "retry-after" ? "1" : null},
                                      json: json || (async () => body)});
const start = key => {                              // the server: a new key starts, a known one answers again
  if (!started.has(key)) started.set(key, "https://vendor.example/verify/" + started.size);
  return {merchantBizId: "a".repeat(32), transactionUrl: started.get(key)};
};
const store = new Map();                            // sessionStorage survives a reload of the tab
globalThis.sessionStorage = {setItem: (k, v) => store.set(k, String(v)), getItem: k => store.get(k) ?? null,
                             removeItem: k => store.delete(k)};
globalThis.window = {getMetaInfo: () => "{}", location: {assign: url => { globalThis.assigned = url; }},
                     addEventListener: () => {}};
const load = () => { %(script)s; return startVerification; };   // a (re)load of the page: its script runs afresh
const report = outcome => console.log(JSON.stringify({
  outcome, url: globalThis.assigned ?? null, now, calls, billed: started.size,
  keys: new Set(calls.map(c => c.key)).size}));
// The user presses "Verify" up to ``n`` times (with ``tokens[i]``), on a page loaded anew each time when ``reload``;
// ``between`` runs before each press after the first.
const clicks = async (n, {tokens = [], reload = false, between = () => {}} = {}) => {
  let verify = load(), outcome = "none";
  for (let click = 0; click < n; click++) {
    if (click) between();
    if (reload && click) verify = load();
    try { await verify("https://kyc.example", tokens[click] || "token"); outcome = "assigned"; break; }
    catch (e) { outcome = "gave up: " + e.message; }
  }
  report(outcome);
};
"""

#: The first request starts (billed) but its answer is lost; repeats get 409 until ``first_done_at`` ms, then the
#: first start's answer. ``network_down``: no request gets an answer.
WAITING = r"""
globalThis.fetch = async (url, init) => {
  const key = init.headers["Idempotency-Key"];
  calls.push({at: now, key});
  if (calls.length === 1) start(key);
  if (calls.length === 1 || %(network_down)s) throw new TypeError("Failed to fetch");
  if (now < %(first_done_at)d) return res(409, {error: {code: "IdempotencyKeyInUse"}});
  return res(201, start(key));
};
clicks(1);
"""

#: The first request is billed and stored, but answered 503 StorageUnavailable (its create's answer was lost and
#: the read-back failed: the server keeps the key); the user presses "Verify" again (review gg).
AFTER_503 = r"""
globalThis.fetch = async (url, init) => {
  const key = init.headers["Idempotency-Key"];
  calls.push({at: now, key});
  const answer = start(key);
  return calls.length === 1 ? res(503, {error: {code: "StorageUnavailable"}}) : res(201, answer);
};
clicks(2);
"""

#: The user's token expires while the page retries a lost answer: the first request was started, its answer lost;
#: the retry a second later is 401 TokenExpired. The merchant's page gets a fresh token; "Verify" again (review hh).
TOKEN_EXPIRED = r"""
globalThis.fetch = async (url, init) => {
  const key = init.headers["Idempotency-Key"], auth = init.headers["Authorization"];
  calls.push({at: now, key, auth});
  if (auth === "Bearer old" && calls.length > 1) return res(401, {error: {code: "TokenExpired"}});
  const answer = start(key);
  if (calls.length === 1) throw new TypeError("Failed to fetch");
  return res(201, answer);
};
clicks(2, {tokens: ["old", "new"]});
"""

#: The 201's headers arrive, its body does not (res.json() rejects); "Verify" again (review hh).
BODY_LOST = r"""
globalThis.fetch = async (url, init) => {
  const key = init.headers["Idempotency-Key"];
  calls.push({at: now, key});
  const answer = start(key);
  if (calls.length === 1) return res(201, null, async () => { throw new TypeError("network error"); });
  return res(201, answer);
};
clicks(2);
"""

#: The first request starts, but no answer reaches the page until it gives up; the user reloads the tab
#: (sessionStorage survives, script variables do not) and presses "Verify" again (review hh).
RELOADED = r"""
let networkDown = true;
globalThis.fetch = async (url, init) => {
  const key = init.headers["Idempotency-Key"];
  calls.push({at: now, key});
  const answer = start(key);
  if (networkDown) throw new TypeError("Failed to fetch");
  return res(201, answer);
};
clicks(2, {reload: true, between: () => { networkDown = false; }});
"""

#: A refusal of the request itself (400): the next try is a new verification, with a new key.
REFUSED = r"""
globalThis.fetch = async (url, init) => {
  const key = init.headers["Idempotency-Key"];
  calls.push({at: now, key});
  return calls.length === 1 ? res(400, {error: {code: "InvalidParameter"}}) : res(201, start(key));
};
clicks(2);
"""

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


def _start_verification_script() -> str:
    text = (ROOT / "docs" / "deploy.md").read_text()
    section = text[text.index("## 6. The merchant frontend"):]
    block = section[section.index("```html"):]
    block = block[: block.index("```", 7)]
    (script,) = [s for s in re.findall(r"<script>(.*?)</script>", block, re.S) if "startVerification" in s]
    return script


def _run(tmp_path: Path, scenario: str, **values: Any) -> dict[str, Any]:
    """``scenario`` after the prelude, its ``%(name)s`` from ``values``; ``/*SCRIPT*/`` in it: the page's whole
    script (pollVerification too), in the scenario's scope (review ii)."""
    script = _start_verification_script()
    program = tmp_path / "page.mjs"
    program.write_text(PRELUDE % {"script": script} + (scenario % values).replace("/*SCRIPT*/", script))
    run = subprocess.run(["node", str(program)], capture_output=True, text=True, timeout=60, check=True)
    result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("first_takes_ms", [3_000, 60_000, INITIALIZER_TIMEOUT_MS - 1_000])
def test_the_page_waits_out_a_first_request_whose_answer_was_lost_with_the_same_key(
    tmp_path: Path, first_takes_ms: int
) -> None:
    result = _run(tmp_path, WAITING, first_done_at=first_takes_ms, network_down="false")
    assert (result["keys"], result["billed"]) == (1, 1)
    assert result["outcome"] == "assigned", (
        f"deploy.md's page gave up on the key ({result['outcome']}) after {len(result['calls'])} requests over "
        f"{result['now'] / 1000:g} s while the first start ({first_takes_ms / 1000:g} s) was still under way"
    )


def test_the_page_gives_up_on_a_key_held_past_the_first_request_s_end(tmp_path: Path) -> None:
    """A key whose claim outlived its start (a 503 that kept it): a 409 after the initializer's timeout."""
    result = _run(tmp_path, WAITING, first_done_at=10**9, network_down="false")
    assert result["outcome"] == "gave up: verification could not start: 409"
    assert INITIALIZER_TIMEOUT_MS <= result["now"] <= INITIALIZER_TIMEOUT_MS + 15_000
    assert result["keys"] == 1


def test_the_page_gives_up_when_no_answer_comes_past_the_first_request_s_end(tmp_path: Path) -> None:
    result = _run(tmp_path, WAITING, first_done_at=0, network_down="true")
    assert result["outcome"] == "gave up: Failed to fetch"
    assert INITIALIZER_TIMEOUT_MS <= result["now"] <= INITIALIZER_TIMEOUT_MS + 15_000
    assert len(result["calls"]) < 30  # backing off, not hammering


@pytest.mark.parametrize("scenario", [AFTER_503, TOKEN_EXPIRED, BODY_LOST, RELOADED],
                         ids=["after a 503 that kept the key", "a token expired while retrying",
                              "a 201 whose body was lost", "the tab reloaded after a lost answer"])
def test_trying_again_repeats_the_request_instead_of_starting_a_second_verification(
    tmp_path: Path, scenario: str
) -> None:
    """A new key per call (review gg), a key dropped on a 401 or before the 201's body was read, or one kept only
    in a script variable (review hh) made the user's next try a second billed verification."""
    result = _run(tmp_path, scenario)
    assert result["outcome"] == "assigned" and result["url"] is not None, result
    assert (result["billed"], result["keys"]) == (1, 1), result


def test_trying_again_after_the_request_was_refused_is_a_new_verification(tmp_path: Path) -> None:
    result = _run(tmp_path, REFUSED)
    assert result["outcome"] == "assigned" and result["keys"] == 2 and result["billed"] == 1, result


# -- review ii ---------------------------------------------------------------------------------------------------

#: The first press is answered 201; the page sets off to the vendor's page (location.assign), which takes a moment
#: to load (a phone, the vendor's H5 page and its SDK): meanwhile the merchant's page is still shown and live, and
#: the user, seeing nothing happen, presses "Verify" again. In a browser the last location.assign wins.
PRESSED_WHILE_NAVIGATING = r"""
globalThis.fetch = async (url, init) => {
  const key = init.headers["Idempotency-Key"];
  calls.push({at: now, key});
  return res(201, start(key));
};
(async () => {
  const verify = load();
  await verify("https://kyc.example", "token");           // navigating to the vendor's page...
  try { await verify("https://kyc.example", "token"); } catch (e) {}   // ...the user presses again meanwhile
  report("assigned");
})();
"""


def test_a_second_press_while_the_vendor_s_page_loads_is_not_a_second_billed_verification(tmp_path: Path) -> None:
    result = _run(tmp_path, PRESSED_WHILE_NAVIGATING)
    assert result["billed"] == 1, (
        f"a press of 'Verify' after the 201, while the browser was still loading the vendor's page, sent a new "
        f"Idempotency-Key ({result['keys']} keys): {result['billed']} verifications started and billed, the user "
        f"is sent to the last ({result['url']})"
    )


#: The tab's kept start cannot be read: an item that is not JSON (damaged, or another script's under that name),
#: or storage the browser refuses to this page (site data blocked: accessing sessionStorage throws SecurityError).
DAMAGED_ITEM = r"""
store.set("kycPendingStart", '{"key": "3f0c');
globalThis.fetch = async (url, init) => { calls.push({at: now, key: init.headers["Idempotency-Key"]});
                                          return res(201, start(init.headers["Idempotency-Key"])); };
clicks(3);
"""

STORAGE_BLOCKED = r"""
Object.defineProperty(globalThis, "sessionStorage", {configurable: true, get() {
  const error = new Error("Failed to read the 'sessionStorage' property from 'Window': Access is denied");
  error.name = "SecurityError";
  throw error;
}});
globalThis.fetch = async (url, init) => { calls.push({at: now, key: init.headers["Idempotency-Key"]});
                                          return res(201, start(init.headers["Idempotency-Key"])); };
clicks(3);
"""


@pytest.mark.parametrize("scenario", [DAMAGED_ITEM, STORAGE_BLOCKED], ids=["damaged item", "storage blocked"])
def test_a_tab_whose_kept_start_cannot_be_read_can_still_start_a_verification(tmp_path: Path, scenario: str) -> None:
    result = _run(tmp_path, scenario)
    assert result["outcome"] == "assigned", (
        f"three presses of 'Verify', {len(result['calls'])} requests sent: {result['outcome']}; the page can never "
        f"start a verification in this tab"
    )


#: Back on returnUrl the page polls; one poll meets a transient error (503 StorageUnavailable, "try again
#: shortly"), the next the final result.
POLL_THROUGH_A_503 = r"""
let polls = 0;
globalThis.fetch = async (url, init) => {
  polls++;
  return polls === 2 ? res(503, {error: {code: "StorageUnavailable", message: "try again shortly"}})
                     : res(200, {merchantBizId: "a".repeat(32), status: polls < 3 ? "PENDING" : "PASSED"});
};
(async () => {
  /*SCRIPT*/
  const body = await pollVerification("https://kyc.example", "token", "a".repeat(32));
  console.log(JSON.stringify({body, polls}));
})();
"""


def test_polling_goes_on_through_a_transient_error_until_the_result_is_final(tmp_path: Path) -> None:
    result = _run(tmp_path, POLL_THROUGH_A_503)
    assert result["body"].get("status") == "PASSED", (
        f"pollVerification returned {result['body']} after {result['polls']} polls: a 503 'try again shortly' "
        f"ended the polling as if it were the final result"
    )
