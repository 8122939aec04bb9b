"""Found by mutation testing (review ad): the receipt check of ``change_visibility``, on both consumer queues (the local
``SqliteQueue``, ``MnsQueue`` against the MNS double). Passes on the current code; fails with mutation Q03.
"""

from __future__ import annotations

import pytest

from shared.storage import ReceiptInvalid
from tests.storage.test_queue_contract import VISIBILITY, Backend, backend  # noqa: F401 - the contract's fixture


def test_change_visibility_with_the_receipt_of_an_earlier_delivery_is_refused_and_leaves_the_message_hidden(
    backend: Backend,  # noqa: F811 - the fixture imported above
) -> None:
    """A consumer whose visibility timeout lapsed (a slow batch: the local worker's ``_run_batch``) still holds the
    first delivery's receipt while the message is redelivered to another consumer with a new one. Its
    ``change_visibility`` (the worker's "retry sooner" on a failed batch) must be refused as stale, as MNS refuses
    it, and as ``delete`` already is (``test_delete_with_stale_receipt_keeps_redelivered_message``): otherwise it
    makes the message visible again while the second consumer is still working on it — a third delivery, run
    concurrently with the second (at-least-once turning into at-once-twice).

    Mutation Q03 (sqlite_queue.py, ``change_visibility``): the message found by its id, not by its current receipt,
    ``- "UPDATE messages SET visible_at = ? WHERE queue = ? AND receipt = ?"``
    ``+ "UPDATE messages SET visible_at = ? WHERE queue = ? AND message_id = substr(?, 1, 32)"``"""
    backend.queue.send(b"x")
    [first] = backend.queue.receive(visibility_timeout=VISIBILITY)
    backend.clock.advance(VISIBILITY)
    [again] = backend.queue.receive(visibility_timeout=VISIBILITY)  # the second consumer's delivery
    assert again.receipt != first.receipt

    with pytest.raises(ReceiptInvalid):
        backend.queue.change_visibility(first.receipt, 1)  # "retry in a second" (MNS's shortest)
    backend.clock.advance(2)

    assert backend.queue.receive() == [], "the message was made visible again while its redelivery is in progress"
    assert backend.queue.delete(again.receipt) is True
