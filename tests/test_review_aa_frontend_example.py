"""Review aa: docs/deploy.md's frontend page (section 6), run under node against a simulated initializer.

integration.md: a repeat sent while the first request is still waiting for the vendor is 409 ``IdempotencyKeyInUse``
with ``Retry-After: 1``: "try again a second later and it gets the first answer"; only "a 409 that follows a 503, or
that outlasts the first request's answer, means use a new key". The example's comment promises the same ("A 409 that
outlasts the first request ... means: let the user try again (a new call, a new key)"). A merchant copying it gets a
page that gives up after two 409s, one second apart, however long the first request may legitimately run (the
vendor's Initialize alone may take its 25 s deadline; the initializer's timeout is 120 s): the user is told to try
again, the retry is a new key, and the first start, which still succeeds, is a second billed verification.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

HARNESS = r"""
let now = 0;                                       // virtual milliseconds: setTimeout advances them at once
globalThis.setTimeout = (fn, ms) => { now += ms || 0; fn(); return 0; };
const FIRST_DONE_AT = %(first_done_at)d;           // when the first request's start is stored (its answer is lost)
const calls = [];
globalThis.fetch = async (url, init) => {
  calls.push({at: now, key: init.headers["Idempotency-Key"]});
  if (calls.length === 1) throw new TypeError("Failed to fetch");   // the answer is lost; the start goes on
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
  () => console.log(JSON.stringify({outcome: "assigned", url: globalThis.assigned, calls})),
  e => console.log(JSON.stringify({outcome: "gave up: " + e.message, calls})));
"""


def _start_verification_script() -> str:
    text = (ROOT / "docs" / "deploy.md").read_text()
    section = text[text.index("## 6. The merchant frontend"):]
    block = section[section.index("```html"):]
    block = block[: block.index("```", 7)]
    (script,) = [s for s in re.findall(r"<script>(.*?)</script>", block, re.S) if "startVerification" in s]
    return script


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_frontend_example_waits_out_a_first_request_that_takes_a_few_seconds_with_the_same_key(
    tmp_path: Path,
) -> None:
    program = tmp_path / "page.mjs"
    program.write_text(HARNESS % {"first_done_at": 3000, "script": _start_verification_script()})
    run = subprocess.run(["node", str(program)], capture_output=True, text=True, timeout=60, check=True)
    result = json.loads(run.stdout.strip().splitlines()[-1])

    assert len({c["key"] for c in result["calls"]}) == 1
    assert result["outcome"] == "assigned", (
        f"deploy.md's page gave up on the key ({result['outcome']}) after {len(result['calls'])} requests over "
        f"{result['calls'][-1]['at'] / 1000:g} s while the first start (3 s) was still under way: the user's next "
        "try is a new key and a second billed verification"
    )
