"""A row whose fetch fails in the sweeper stops neither the other rows nor the other steps.

The sweeper's fetch of a silent row raises :class:`shared.fetcher.RecheckNotScheduled` when the row was erased
while it fetched and neither deleting what it wrote nor queueing the clean-up re-check worked (found by review: it
ended the whole pass, so the outbox and retention never ran).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.storage import StorageError
from shared.sweeper import OUTBOX_GRACE_SECONDS
from tests.fakes import T0, FakeCloudAuth, Stack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path)
    yield s
    s.close()


class _Failing:
    """``inner``, except that the named methods raise a transient ``StorageError``."""

    def __init__(self, inner: Any, *methods: str) -> None:
        self._inner, self._methods = inner, methods

    def __getattr__(self, name: str) -> Any:
        if name in self._methods:

            def fail(*args: Any, **kwargs: Any) -> Any:
                raise StorageError(f"{name} failed", transient=True, code="Down")

            return fail
        return getattr(self._inner, name)


def test_a_fetch_that_cannot_clean_up_after_an_erasure_does_not_stop_the_outbox_step(stack: Stack) -> None:
    # A row whose notification was never enqueued (a crash after finalize): the outbox step owes it a message.
    owed = stack.pending(created_at=T0 - 3600)
    stack.store.finalize(
        owed.merchant_biz_id, status="PASSED", passed="Y", sub_code="200", result_key=None,
        identity_masked=None, result_version=1, now=T0 - 2 * OUTBOX_GRACE_SECONDS,
    )  # fmt: skip
    # A silent PENDING row that is erased while the sweeper's CheckResult is in flight.
    silent = stack.pending(created_at=T0 - 3600)
    vendor = FakeCloudAuth()
    vendor.before_check = lambda: stack.store.delete(silent.merchant_biz_id)
    # OSS and the re-check queue both fail at that moment: the fetch cannot delete its orphans nor queue their
    # clean-up, and says so with RecheckNotScheduled.
    fetcher = stack.fetcher(
        vendor,
        objects=_Failing(stack.objects, "delete_prefix"),
        recheck=_Failing(stack.recheck, "send"),
    )
    report = stack.sweeper(fetcher).sweep()

    assert report.renotified == 1, "the outbox step still ran"
    assert stack.store.get(owed.merchant_biz_id).notification_enqueued  # type: ignore[union-attr]
    assert report.errors == ["_recheck_pending:Down"]
