"""shared.webhook_retries: the notifier's follow-up delays, and the longest retention waits for them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.config import (
    MAX_SCHEDULE_STEP_SECONDS,
    MAX_USEFUL_DELAY_SECONDS,
    QUEUE_CONSUME_WINDOW_SECONDS,
    QUEUE_RETENTION_SECONDS,
)
from shared.storage.queueing import queue_delay
from shared.webhook_retries import (
    DEFAULT_WEBHOOK_RETRY_SCHEDULE,
    JITTER,
    MAX_RETRY_AFTER_SECONDS,
    longest_retry_seconds,
    retry_delay,
)

STEPS = st.lists(st.floats(0.0, MAX_SCHEDULE_STEP_SECONDS), max_size=12)
DRAWS = st.floats(0.0, 1.0)


def test_a_step_is_jittered_by_a_fifth_either_way() -> None:
    drawn = [retry_delay(100.0, draw, None) for draw in (0.0, 0.5, 1.0)]
    assert drawn == pytest.approx([80.0, 100.0, 120.0])


def test_a_longer_retry_after_is_waited_for_up_to_a_day() -> None:
    assert retry_delay(5.0, 0.5, 900.0) == 900.0
    assert retry_delay(5.0, 0.5, 3 * MAX_RETRY_AFTER_SECONDS) == MAX_RETRY_AFTER_SECONDS


@given(st.floats(0.0, MAX_SCHEDULE_STEP_SECONDS), DRAWS, st.none() | st.floats(0.0, 1e9))
def test_a_follow_up_is_visible_for_a_day_before_its_queue_deletes_it(
    step: float, draw: float, retry_after: float | None
) -> None:
    """MNS deletes a message seven days after it was sent, its delay included (review bg: a step near seven days was
    sent at seven days, and died as it became visible, unsent and never dead-lettered)."""
    assert queue_delay(retry_delay(step, draw, retry_after)) + QUEUE_CONSUME_WINDOW_SECONDS <= QUEUE_RETENTION_SECONDS


def test_the_longest_step_at_the_top_of_its_jitter_is_the_longest_useful_delay() -> None:
    assert round(MAX_SCHEDULE_STEP_SECONDS * (1 + JITTER)) == MAX_USEFUL_DELAY_SECONDS
    assert retry_delay(MAX_SCHEDULE_STEP_SECONDS, 1.0, None) == pytest.approx(MAX_USEFUL_DELAY_SECONDS)


@settings(max_examples=200)
@given(STEPS, st.data())
def test_no_run_of_scheduled_follow_ups_outlasts_the_longest_retry(schedule: list[float], data: st.DataObject) -> None:
    drawn = [retry_delay(step, data.draw(DRAWS), None) for step in schedule]
    assert sum(drawn) <= longest_retry_seconds(schedule)


def test_the_longest_retry_of_the_default_schedule_is_its_steps_at_their_longest() -> None:
    assert longest_retry_seconds(DEFAULT_WEBHOOK_RETRY_SCHEDULE) == pytest.approx(1.2 * 99305.0)  # ~33 h
