"""shared.webhook_retries: the notifier's follow-up delays, and the longest retention waits for them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.config import MAX_QUEUE_DELAY_SECONDS
from shared.webhook_retries import (
    DEFAULT_WEBHOOK_RETRY_SCHEDULE,
    MAX_RETRY_AFTER_SECONDS,
    longest_retry_seconds,
    retry_delay,
)

STEPS = st.lists(st.floats(0.0, MAX_QUEUE_DELAY_SECONDS), max_size=12)
DRAWS = st.floats(0.0, 1.0)


def test_a_step_is_jittered_by_a_fifth_either_way() -> None:
    drawn = [retry_delay(100.0, draw, None) for draw in (0.0, 0.5, 1.0)]
    assert drawn == pytest.approx([80.0, 100.0, 120.0])


def test_a_longer_retry_after_is_waited_for_up_to_a_day() -> None:
    assert retry_delay(5.0, 0.5, 900.0) == 900.0
    assert retry_delay(5.0, 0.5, 3 * MAX_RETRY_AFTER_SECONDS) == MAX_RETRY_AFTER_SECONDS


def test_no_delay_passes_the_queues_longest() -> None:
    assert retry_delay(MAX_QUEUE_DELAY_SECONDS, 1.0, None) == MAX_QUEUE_DELAY_SECONDS


@settings(max_examples=200)
@given(STEPS, st.data())
def test_no_run_of_scheduled_follow_ups_outlasts_the_longest_retry(schedule: list[float], data: st.DataObject) -> None:
    drawn = [retry_delay(step, data.draw(DRAWS), None) for step in schedule]
    assert sum(drawn) <= longest_retry_seconds(schedule)


def test_the_longest_retry_of_the_default_schedule_is_its_steps_at_their_longest() -> None:
    assert longest_retry_seconds(DEFAULT_WEBHOOK_RETRY_SCHEDULE) == pytest.approx(1.2 * 99305.0)  # ~33 h
