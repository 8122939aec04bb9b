"""docs/deploy.md's frontend page (section 6), run under node against a simulated initializer (found by review aa).

integration.md: a repeat sent while the first request is still waiting for the vendor is 409 ``IdempotencyKeyInUse``
with ``Retry-After: 1``; only a 409 that outlasts the first request's answer means use a new key. A page that gave
up on its key sooner told the user to try again while the first start was still under way: the next try was a new
key, and a second billed verification. Virtual time: the harness's ``setTimeout`` advances a clock at once.
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

HARNESS = r"""
let now = 0;                                       // virtual milliseconds: setTimeout advances them at once
globalThis.setTimeout = (fn, ms) => { now += ms || 0; fn(); return 0; };
const FIRST_DONE_AT = %(first_done_at)d;           // when the first request's start is stored (its answer is lost)
const NETWORK_DOWN = %(network_down)s;             // every request is lost
const calls = [];
globalThis.fetch = async (url, init) => {
  calls.push({at: now, key: init.headers["Idempotency-Key"]});
  if (calls.length === 1 || NETWORK_DOWN) throw new TypeError("Failed to fetch");  // the start goes on
  const headers = new Map([["retry-after", "1"]]);
  const res = (status, body) => ({status, ok: status < 300, headers: {get: n => headers.get(n.toLowerCase()) ?? null},
                                  json: async () => body});
  if (now < FIRST_DONE_AT) return res(409, {error: {code: "IdempotencyKeyInUse"}});
  return res(201, {merchantBizId: "a".repeat(32), transactionUrl: "https://vendor.example/verify/1"});
};
globalThis.window = {getMetaInfo: () => "{}", location: {assign: url => { globalThis.assigned = url; }}};
globalThis.sessionStorage = {setItem() {}};
%(script)s
startVerification("https://kyc.example", "token").then(
  () => console.log(JSON.stringify({outcome: "assigned", url: globalThis.assigned, calls, now})),
  e => console.log(JSON.stringify({outcome: "gave up: " + e.message, calls, now})));
"""

#: The first request is billed and stored, but answered 503 StorageUnavailable (its create's answer was lost and
#: the read-back failed: the server keeps the key); the user presses "Verify" again (review gg).
TRY_AGAIN_HARNESS = r"""
let now = 0;
globalThis.setTimeout = (fn, ms) => { now += ms || 0; fn(); return 0; };
const calls = [], billed = new Set();
globalThis.fetch = async (url, init) => {
  const key = init.headers["Idempotency-Key"];
  calls.push({at: now, key});
  const res = (status, body) => ({status, ok: status < 300, headers: {get: () => null}, json: async () => body});
  if (calls.length === 1) {  // billed and stored, but the create's answer was lost and its read-back failed
    billed.add(key);
    return res(503, {error: {code: "StorageUnavailable"}});
  }
  billed.add(key);  // the first key again: its stored row is answered (no new bill); a new key: a second start
  return res(201, {merchantBizId: "a".repeat(32),
                   transactionUrl: "https://vendor.example/verify/" + [...billed].indexOf(key)});
};
globalThis.window = {getMetaInfo: () => "{}", location: {assign: url => { globalThis.assigned = url; }}};
globalThis.sessionStorage = {setItem() {}};
%(script)s
(async () => {
  for (let click = 0; click < 2; click++) {   // the user presses "Verify" again after the error
    try { await startVerification("https://kyc.example", "token"); break; } catch (e) {}
  }
  console.log(JSON.stringify({url: globalThis.assigned, calls, billed: billed.size}));
})();
"""


pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


def _start_verification_script() -> str:
    text = (ROOT / "docs" / "deploy.md").read_text()
    section = text[text.index("## 6. The merchant frontend"):]
    block = section[section.index("```html"):]
    block = block[: block.index("```", 7)]
    (script,) = [s for s in re.findall(r"<script>(.*?)</script>", block, re.S) if "startVerification" in s]
    return script


def _run_page(tmp_path: Path, *, first_done_at: int, network_down: bool = False) -> dict[str, Any]:
    return _run(tmp_path, HARNESS % {"first_done_at": first_done_at, "network_down": str(network_down).lower(),
                                     "script": _start_verification_script()})


def _run(tmp_path: Path, program_text: str) -> dict[str, Any]:
    program = tmp_path / "page.mjs"
    program.write_text(program_text)
    run = subprocess.run(["node", str(program)], capture_output=True, text=True, timeout=60, check=True)
    result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("first_takes_ms", [3_000, 60_000, INITIALIZER_TIMEOUT_MS - 1_000])
def test_the_page_waits_out_a_first_request_whose_answer_was_lost_with_the_same_key(
    tmp_path: Path, first_takes_ms: int
) -> None:
    result = _run_page(tmp_path, first_done_at=first_takes_ms)
    assert len({c["key"] for c in result["calls"]}) == 1
    assert result["outcome"] == "assigned", (
        f"deploy.md's page gave up on the key ({result['outcome']}) after {len(result['calls'])} requests over "
        f"{result['now'] / 1000:g} s while the first start ({first_takes_ms / 1000:g} s) was still under way"
    )


def test_the_page_gives_up_on_a_key_held_past_the_first_request_s_end(tmp_path: Path) -> None:
    """A key whose claim outlived its start (a 503 that kept it): a 409 after the initializer's timeout."""
    result = _run_page(tmp_path, first_done_at=10**9)
    assert result["outcome"] == "gave up: verification could not start: 409"
    assert INITIALIZER_TIMEOUT_MS <= result["now"] <= INITIALIZER_TIMEOUT_MS + 15_000
    assert len({c["key"] for c in result["calls"]}) == 1


def test_the_page_gives_up_when_no_answer_comes_past_the_first_request_s_end(tmp_path: Path) -> None:
    result = _run_page(tmp_path, first_done_at=0, network_down=True)
    assert result["outcome"] == "gave up: Failed to fetch"
    assert INITIALIZER_TIMEOUT_MS <= result["now"] <= INITIALIZER_TIMEOUT_MS + 15_000
    assert len(result["calls"]) < 30  # backing off, not hammering


def test_trying_again_after_a_503_repeats_the_request_instead_of_starting_a_second_verification(
    tmp_path: Path,
) -> None:
    """A 503 that kept the key: the repeat with the same key is answered with the stored verification. The page
    drew a new key per call (found by review gg): the user's try again was a second billed verification."""
    result = _run(tmp_path, TRY_AGAIN_HARNESS % {"script": _start_verification_script()})
    assert result["url"] is not None, result
    assert result["billed"] == 1 and len({c["key"] for c in result["calls"]}) == 1, result
