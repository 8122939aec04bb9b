"""``./scripts/dev`` against the sandbox is made for trying things: one user can try every outcome, and each one
settles within a minute (issue 13, "Done when"). Driven as a person would: start, then finish (or not) on the page."""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

import pytest

from tests.e2e.support import E2EStack, MakeStack, request
from tools.devstack.dev import EXPLORING, DevConfig, QuietIdleSweeps

SETTLES_WITHIN = 60.0
#: What a person does on the sandbox page (its default values), and where that ends.
OUTCOMES = {
    "pass": ({"outcome": "pass"}, "PASSED"),
    "fail": ({"outcome": "fail", "subCode": "205"}, "FAILED"),
    "spoof": ({"outcome": "spoof"}, "FAILED"),
    "pending": ({"outcome": "pending", "pendingChecks": 2, "pendingSeconds": 0}, "PASSED"),
    "abandon": ({"outcome": "abandon"}, "ABANDONED"),
    "expired": (None, "ABANDONED"),  # the page opened twice (single-use link), never finished
}


@pytest.fixture
def exploring(make_stack: MakeStack) -> E2EStack:
    """The stack as ``./scripts/dev`` starts it (exploring timings, the sweeper on its timer)."""
    return make_stack(DevConfig(http_port=0, sandbox_port=0, explore=True, poll_interval=0.05))


def test_exploring_timings_apply_only_with_the_sandbox_and_are_in_the_banner(exploring: E2EStack) -> None:
    assert exploring.dev.exploring
    assert all(exploring.dev.env[name] == value for name, value in EXPLORING.items())
    banner = exploring.dev.banner()
    assert "rate limit         off" in banner and "every 2 s" in banner
    assert "abandoned at its first check once 30 s old" in banner
    assert "webhook retries    after 2,5,10,30,60 s, then a dead letter" in banner


def test_one_user_tries_every_outcome_and_each_settles_within_a_minute(exploring: E2EStack) -> None:
    started_at: dict[str, float] = {}
    ids: dict[str, str] = {}
    for name, (completion, _) in OUTCOMES.items():
        started = exploring.start_verification(user="demo-user")
        started_at[name], ids[name] = time.monotonic(), started.merchant_biz_id
        if completion is None:
            path = urlsplit(started.transaction_url).path
            for _ in range(2):
                page = request(started.transaction_url, "GET", path)
            assert b'id="expired"' in page.body
        else:
            exploring.complete(started.transaction_id, **completion)
    token = exploring.token("demo-user")
    settled: dict[str, tuple[str, float]] = {}
    while len(settled) < len(OUTCOMES) and time.monotonic() - min(started_at.values()) < SETTLES_WITHIN + 5:
        for name, mbid in ids.items():
            if name in settled:
                continue
            status = exploring.call("GET", f"/verifications/{mbid}", token=token).json()["status"]
            if status != "PENDING":
                settled[name] = (status, time.monotonic() - started_at[name])
        time.sleep(0.5)
    assert {name: status for name, (status, _) in settled.items()} == {n: s for n, (_, s) in OUTCOMES.items()}
    took = {name: round(seconds, 1) for name, (_, seconds) in settled.items()}
    assert max(took.values()) < SETTLES_WITHIN, f"settled later than a minute: {took}"
    print(f"settled after (s): {took}")


def test_one_user_is_never_rate_limited_while_exploring(exploring: E2EStack) -> None:
    for _ in range(12):  # the deployed limit is 10 an hour
        exploring.start_verification(user="demo-user")
        time.sleep(0.15)  # a person's pace: the sandbox holds the vendor's 10 calls a second


def test_a_sweep_every_2_s_logs_only_when_it_did_something() -> None:
    def record(**fields: object) -> logging.LogRecord:
        made = logging.LogRecord("kyc.sweeper", logging.INFO, __file__, 1, "sweep.done", None, None)
        made.__dict__.update(fields)
        return made

    idle = {"checked": 0, "finalized": 0, "abandoned": 0, "stillPending": 0, "renotified": 0, "expired": 0,
            "errors": []}  # fmt: skip
    quiet = QuietIdleSweeps()
    assert not quiet.filter(record(**idle))
    assert quiet.filter(record(**{**idle, "abandoned": 1}))
    assert quiet.filter(logging.LogRecord("kyc.sweeper", logging.INFO, __file__, 1, "sweep.abandoned", None, None))
