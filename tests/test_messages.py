"""The queue messages: one encoding, one decoding, the same bytes the functions always sent."""

from __future__ import annotations

from typing import Any

import pytest

from shared import jsonutil
from shared.messages import NotifyMessage, RecheckMessage


def test_recheck_message_body_is_compact_json_naming_only_the_transaction() -> None:
    assert RecheckMessage("abc123", 3).to_body() == b'{"merchantBizId":"abc123","attempt":3}'


def test_first_notify_message_lists_no_subscribers() -> None:
    assert NotifyMessage("abc123").to_body() == b'{"merchantBizId":"abc123","attempt":0}'


@pytest.mark.parametrize(
    "message",
    [RecheckMessage("abc123"), RecheckMessage("abc123", 9)],
)
def test_recheck_message_round_trips(message: RecheckMessage) -> None:
    assert RecheckMessage.from_body(jsonutil.loads(message.to_body())) == message


@pytest.mark.parametrize(
    "message",
    [NotifyMessage("abc123"), NotifyMessage("abc123", 2, ()), NotifyMessage("abc123", 1, ("https://a/h", "https://b/h"))],
)
def test_notify_message_round_trips(message: NotifyMessage) -> None:
    assert NotifyMessage.from_body(jsonutil.loads(message.to_body())) == message


@pytest.mark.parametrize(
    "body",
    [None, "abc123", [], {}, {"attempt": 0}, {"merchantBizId": "abc", "attempt": "1"},
     {"merchantBizId": "abc", "attempt": 1.0}, {"merchantBizId": "abc", "pending": "https://a/h"},
     {"merchantBizId": "abc", "pending": [1]}],
)
def test_notify_message_refuses_what_it_does_not_encode(body: Any) -> None:
    assert NotifyMessage.from_body(body) is None


def test_a_message_without_an_attempt_is_the_first_attempt() -> None:
    assert NotifyMessage.from_body({"merchantBizId": "abc123"}) == NotifyMessage("abc123", 0)
    assert RecheckMessage.from_body({"merchantBizId": "abc123"}) == RecheckMessage("abc123", 0)
