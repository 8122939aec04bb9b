"""The load test's judgement of the subscribers' retries (tools/loadtest/run.py ``subscriber_guarantees``), on
made-up arrival logs: a flaky subscriber's retry shared with another's pause fails it, a coincidence does not."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from tools.loadtest.receiver import Attempt
from tools.loadtest.run import HELD_BY_CHANCE, Report, subscriber_guarantees

RETRY_AFTER = 8


def _receiver(name: str, log: dict[str, list[Attempt]]) -> Any:
    return SimpleNamespace(name=name, inbox=SimpleNamespace(history=lambda: log))


def _judged(messages: int, held: int) -> str:
    """``messages`` events refused by the flaky subscriber and paused by another at once; ``held`` of them see the
    flaky one's retry arrive with the pausing one's, after the pause, the others on the flaky one's own schedule."""
    ids = [f"msg_{n}" for n in range(messages)]
    pausing = {i: [Attempt(0.0, "retry_after", RETRY_AFTER), Attempt(RETRY_AFTER + 0.05, "accepted")] for i in ids}
    flaky = {i: [Attempt(0.1, "refused"), Attempt(RETRY_AFTER + 0.1 if n < held else 2.1, "accepted")]
             for n, i in enumerate(ids)}  # fmt: skip
    drip = {i: [Attempt(0.0, "accepted")] for i in ids}
    receivers = [_receiver("sub1", flaky), _receiver("drip", drip), _receiver("later", pausing)]
    test = SimpleNamespace(config=SimpleNamespace(retry_after=RETRY_AFTER, webhook_timeout=2.0), flaky=receivers[:1],
                           dripping=receivers[1], pausing=receivers[2], receivers=receivers)
    report = Report()
    subscriber_guarantees(test, report)  # type: ignore[arg-type]
    (verdict,) = [value for _, metric, value in report.rows if metric.startswith("flaky ones not held")]
    return verdict


def test_retries_shared_with_another_s_pause_fail_the_run() -> None:
    assert _judged(20, held=20) == "FAILED"


@pytest.mark.parametrize("held", [0, 1, int(20 * HELD_BY_CHANCE)])
def test_a_few_retries_stretched_onto_another_s_pause_by_a_busy_machine_do_not(held: int) -> None:
    assert _judged(20, held=held) == "ok"


def test_more_than_chance_allows_fails_the_run() -> None:
    assert _judged(20, held=int(20 * HELD_BY_CHANCE) + 1) == "FAILED"
