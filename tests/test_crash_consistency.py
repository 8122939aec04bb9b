"""A crash at any step of the fetch and notify paths, followed by the normal retries, loses nothing.

Requirement: a crash at any step (after the object write, after the row update, before/after the enqueue, in the
middle of a webhook batch) followed by the normal retries leaves exactly one final record, all its objects, and
every subscriber receiving the event (duplicates only with the same webhook-id).

Crashes are injected by proxies around the real local backends that raise :class:`SimulatedCrash` (not an
``Exception``: nothing in the product may handle it, like a process death) before the N-th effect. Recovery is
only what runs in production anyway: the queue trigger redelivers an unacknowledged message, the vendor calls back
again, the sweeper's timer runs (its outbox grace period passed with the injected clock), the notifier retries.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared import jsonutil
from shared.delivery import DeliveryResult
from shared.fetcher import ResultFetcher
from shared.messages import RecheckMessage
from shared.notifications import Notifier
from shared.storage import DueKind
from shared.sweeper import OUTBOX_GRACE_SECONDS
from tests.fakes import (
    JPEG,
    PNG,
    ROW_BACKENDS,
    SUBSCRIBERS,
    FakeCloudAuth,
    RecordingSender,
    SimulatedCrash,
    Stack,
    check_result_body,
    drain,
    peek,
    stack_on,
)

STORE_WRITES = frozenset(
    {
        "create",
        "finalize",
        "mark_abandoned",
        "record_check",
        "mark_notification_enqueued",
        "mark_vendor_copy_deleted",
        "set_outbox_due",
    }
)
OBJECT_WRITES = frozenset({"put", "delete", "delete_prefix"})
QUEUE_WRITES = frozenset({"send"})

FETCH_EFFECTS = [
    "objects.put",  # idImage
    "objects.put",  # faceImg
    "objects.put",  # result.json
    "store.finalize",
    "notify.send",
    "store.mark_notification_enqueued",
]
# The re-check is queued first, then recorded on the row (conditionally): a crash between them leaves a message ahead
# of the row, which is accepted, never a row naming a re-check no message carries.
PENDING_EFFECTS = ["recheck.send", "store.record_check"]
ABANDON_EFFECTS = ["store.mark_abandoned", "notify.send", "store.mark_notification_enqueued"]


class CrashPlan:
    """Counts effects; raises ``SimulatedCrash`` once, just before effect number ``crash_before`` (0-based).
    ``crash_before == len(effects)`` crashes right after the last effect (before the caller acknowledges)."""

    def __init__(self, crash_before: int | None = None, *, at_label: str | None = None) -> None:
        self.crash_before = crash_before
        self.at_label = at_label  # or: crash before the first effect with this label
        self.effects: list[str] = []
        self.fired = False

    def before(self, label: str) -> None:
        due = len(self.effects) == self.crash_before or (self.at_label is not None and label == self.at_label)
        if not self.fired and due:
            self.fired = True
            raise SimulatedCrash(f"crash before {label}")
        self.effects.append(label)

    def end(self) -> None:
        """Called when the unit of work returns: a crash planned after the last effect fires here."""
        if not self.fired and len(self.effects) == self.crash_before:
            self.fired = True
            raise SimulatedCrash("crash after the last effect")


class Crashing:
    def __init__(self, inner: Any, name: str, plan: CrashPlan, intercepted: frozenset[str]) -> None:
        self._inner, self._name, self._plan, self._intercepted = inner, name, plan, intercepted

    def __getattr__(self, attr: str) -> Any:
        target = getattr(self._inner, attr)
        if attr not in self._intercepted:
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            self._plan.before(f"{self._name}.{attr}")
            return target(*args, **kwargs)

        return call


@pytest.fixture(params=ROW_BACKENDS)
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    """The real local backends; ``tablestore-wire``: the rows in the Tablestore adapter over HTTP (the real SDK
    and the Tablestore double's conditions and indexes) instead of SQLite. A crash between any two effects leaves
    the row and its due (what the sweeper finds through the index) consistent."""
    with stack_on(request.param, tmp_path) as s:
        yield s


def crashing_fetcher(stack: Stack, client: FakeCloudAuth, plan: CrashPlan) -> ResultFetcher:
    return stack.fetcher(
        client,
        store=Crashing(stack.store, "store", plan, STORE_WRITES),
        objects=Crashing(stack.objects, "objects", plan, OBJECT_WRITES),
        recheck=Crashing(stack.recheck, "recheck", plan, QUEUE_WRITES),
        notify=Crashing(stack.notify, "notify", plan, QUEUE_WRITES),
    )


def fetch_once(fetcher: ResultFetcher, plan: CrashPlan, mbid: str, attempt: int = 0) -> None:
    fetcher.fetch(mbid, attempt=attempt)
    plan.end()


def deliver_everything(stack: Stack) -> RecordingSender:
    """The notifier drains the notify queue (no crashes) and the end state is checked by the caller."""
    sender = RecordingSender()
    drain(stack.notify, stack.notifier(sender).handle_body, stack.clock)
    return sender


def assert_one_final_record_with_objects(stack: Stack, mbid: str, status: str = "PASSED") -> None:
    rows, _ = stack.store.list_created(limit=10)
    assert [(r.merchant_biz_id, r.status) for r in rows] == [(mbid, status)]
    # Nothing is left due: no later sweep reads the row again (its due ended with the outbox).
    assert all(stack.store.due(kind, 10**12)[0] == [] for kind in DueKind)
    assert rows[0].notification_enqueued
    if status == "ABANDONED":
        return
    # One answer's objects: a retry after a crash rewrote what the crashed attempt wrote, under the same keys.
    key = stack.kept_result_key(mbid)
    document = jsonutil.loads(stack.objects.get(key))
    assert stack.objects.list(f"results/{mbid}/") == sorted([key, *document["images"].values()])
    assert stack.objects.get(document["images"]["idImage"]) == JPEG
    assert stack.objects.get(document["images"]["faceImg"]) == PNG
    assert document["transactionId"] == rows[0].transaction_id


def assert_every_subscriber_got_one_event_id(sender: RecordingSender, expected_id: str) -> None:
    for subscriber in SUBSCRIBERS:
        assert sender.delivered_to(subscriber.url), f"{subscriber.url} never got the event"
    assert {d.headers["webhook-id"] for d in sender.deliveries} == {expected_id}


def run_sweeper_later(stack: Stack, client: FakeCloudAuth, seconds: float) -> None:
    stack.clock.advance(seconds)
    stack.sweeper(stack.fetcher(client)).sweep()


# -- the fetch path ----------------------------------------------------------------------------------------------


def test_the_fetch_path_has_the_effects_the_crash_points_are_built_from(stack: Stack) -> None:
    record = stack.pending()
    plan = CrashPlan()
    fetch_once(crashing_fetcher(stack, FakeCloudAuth(), plan), plan, record.merchant_biz_id)
    assert plan.effects == FETCH_EFFECTS


@pytest.mark.parametrize("recovery", ["recheck_redelivery", "second_callback", "sweeper_only"])
@pytest.mark.parametrize(
    "crash_before", range(len(FETCH_EFFECTS) + 1), ids=[*(f"before-{e}" for e in FETCH_EFFECTS), "after-all"]
)
def test_crash_in_the_fetch_path_then_normal_recovery_loses_nothing(
    stack: Stack, crash_before: int, recovery: str
) -> None:
    record = stack.pending()
    mbid = record.merchant_biz_id
    client = FakeCloudAuth()
    plan = CrashPlan(crash_before)
    fetcher = crashing_fetcher(stack, client, plan)

    if recovery == "recheck_redelivery":
        stack.recheck.send(jsonutil.dumps({"merchantBizId": mbid, "attempt": 1}))

        def handle(body: Any) -> None:
            parsed = RecheckMessage.from_body(body)
            assert parsed is not None
            fetch_once(fetcher, plan, *parsed)

        assert drain(stack.recheck, handle, stack.clock) == 1  # crashed once, redelivered once
    else:
        with pytest.raises(SimulatedCrash):
            fetch_once(fetcher, plan, mbid)  # the callback request dies with the process
        if recovery == "second_callback":
            fetch_once(fetcher, plan, mbid)
    assert plan.fired

    # The sweeper's timer runs whatever happened; its outbox pass needs the grace period to have passed.
    run_sweeper_later(stack, client, 900.0 + OUTBOX_GRACE_SECONDS + 1)

    assert_one_final_record_with_objects(stack, mbid)
    sender = deliver_everything(stack)
    assert_every_subscriber_got_one_event_id(sender, f"msg_{mbid}_passed")
    assert peek(stack.deadletter) == []


VENDOR_COPY_EFFECTS = [*FETCH_EFFECTS, "store.mark_vendor_copy_deleted"]


@pytest.mark.parametrize(
    "crash_before",
    range(len(VENDOR_COPY_EFFECTS) + 1),
    ids=[*(f"before-{e}" for e in VENDOR_COPY_EFFECTS), "after-all"],
)
def test_crash_in_the_fetch_path_with_vendor_copy_deletion_then_the_sweeper_finishes_the_outbox(
    stack: Stack, crash_before: int
) -> None:
    record = stack.pending()
    mbid = record.merchant_biz_id
    client = FakeCloudAuth()
    plan = CrashPlan(crash_before)
    fetcher = stack.fetcher(
        client,
        delete_vendor_copy=True,
        store=Crashing(stack.store, "store", plan, STORE_WRITES),
        objects=Crashing(stack.objects, "objects", plan, OBJECT_WRITES),
        recheck=Crashing(stack.recheck, "recheck", plan, QUEUE_WRITES),
        notify=Crashing(stack.notify, "notify", plan, QUEUE_WRITES),
    )
    with contextlib.suppress(SimulatedCrash):  # the process dies; nothing retries this fetch but the sweeper
        fetch_once(fetcher, plan, mbid)
    assert plan.fired
    # The sweeper (no crashes now) finds whatever the crash left due: the fetch, the notification, the deletion.
    stack.clock.advance(900.0 + OUTBOX_GRACE_SECONDS + 1)
    stack.sweeper(stack.fetcher(client, delete_vendor_copy=True)).sweep()

    assert_one_final_record_with_objects(stack, mbid)
    row = stack.store.get(mbid)
    assert row is not None and row.vendor_copy_deleted
    assert client.delete_calls == [record.transaction_id] * len(client.delete_calls) and client.delete_calls
    assert_every_subscriber_got_one_event_id(deliver_everything(stack), f"msg_{mbid}_passed")


def test_the_pending_path_has_the_effects_the_crash_points_are_built_from(stack: Stack) -> None:
    record = stack.pending()
    plan = CrashPlan()
    fetch_once(crashing_fetcher(stack, FakeCloudAuth(check_result_body("P")), plan), plan, record.merchant_biz_id)
    assert plan.effects == PENDING_EFFECTS


@pytest.mark.parametrize("recovery", ["second_callback", "queue_and_sweeper"])
@pytest.mark.parametrize(
    "crash_before", range(len(PENDING_EFFECTS) + 1), ids=[*(f"before-{e}" for e in PENDING_EFFECTS), "after-all"]
)
def test_crash_while_a_callback_starts_the_re_check_chain_loses_no_chain_and_starts_no_second(
    stack: Stack, crash_before: int, recovery: str
) -> None:
    record = stack.pending()
    mbid = record.merchant_biz_id
    # Pending for the callback that crashes and for the one after it, then final.
    client = FakeCloudAuth(check_result_body("P"), check_result_body("P"), check_result_body("Y"))
    plan = CrashPlan(crash_before)
    with pytest.raises(SimulatedCrash):
        fetch_once(crashing_fetcher(stack, client, plan), plan, mbid)  # the callback request dies with the process
    queued = [m["attempt"] for m in peek(stack.recheck)]
    row = stack.store.get(mbid)
    assert row is not None
    # Never lost: either the re-check is queued, or nothing was (the crash came before the send) and the row is
    # as the callback found it, due for the sweeper as a silent transaction.
    silent = row.recheck_attempt == 0 and stack.store.due(DueKind.NEW, row.created_at)[0] != []
    assert queued == [1] or (queued == [] and silent)
    if recovery == "second_callback":  # the vendor calls back again: it starts a chain only if none was scheduled
        stack.fetcher(client).fetch(mbid)
        assert [m["attempt"] for m in peek(stack.recheck)] in ([1], [1, 1])  # two copies only if the crash hid one
    outcomes: list[str] = []

    def handle(body: Any) -> None:
        parsed = RecheckMessage.from_body(body)
        assert parsed is not None
        outcomes.append(stack.fetcher(client).fetch(parsed[0], attempt=parsed[1]).kind)

    drain(stack.recheck, handle, stack.clock)
    assert outcomes.count("finalized") <= 1 and len(outcomes) <= 2
    run_sweeper_later(stack, client, 900.0 + OUTBOX_GRACE_SECONDS + 1)
    run_sweeper_later(stack, client, 3600.0 + OUTBOX_GRACE_SECONDS)  # past any backoff: the vendor's answer is final

    assert_one_final_record_with_objects(stack, mbid)
    assert_every_subscriber_got_one_event_id(deliver_everything(stack), f"msg_{mbid}_passed")


@pytest.mark.parametrize(
    "crash_before", range(len(PENDING_EFFECTS) + 1), ids=[*(f"before-{e}" for e in PENDING_EFFECTS), "after-all"]
)
def test_crash_while_scheduling_a_recheck_then_redelivery_finishes_the_transaction(
    stack: Stack, crash_before: int
) -> None:
    record = stack.pending()
    mbid = record.merchant_biz_id
    # "pending" (the crash hits its re-check scheduling), "pending" again on redelivery, then final.
    client = FakeCloudAuth(check_result_body("P"), check_result_body("P"), check_result_body("Y"))
    plan = CrashPlan(crash_before)
    fetcher = crashing_fetcher(stack, client, plan)
    stack.recheck.send(jsonutil.dumps({"merchantBizId": mbid, "attempt": 1}))

    def handle(body: Any) -> None:
        parsed = RecheckMessage.from_body(body)
        assert parsed is not None
        fetcher.fetch(parsed[0], attempt=parsed[1])
        if parsed[1] == 1:
            plan.end()

    drain(stack.recheck, handle, stack.clock)
    assert plan.fired
    run_sweeper_later(stack, client, 900.0 + OUTBOX_GRACE_SECONDS + 1)

    assert_one_final_record_with_objects(stack, mbid)
    assert_every_subscriber_got_one_event_id(deliver_everything(stack), f"msg_{mbid}_passed")


@pytest.mark.parametrize(
    "crash_before", range(len(ABANDON_EFFECTS) + 1), ids=[*(f"before-{e}" for e in ABANDON_EFFECTS), "after-all"]
)
def test_crash_while_abandoning_then_the_next_sweep_notifies(stack: Stack, crash_before: int) -> None:
    record = stack.pending(created_at=stack.clock() - 90_000)
    mbid = record.merchant_biz_id
    client = FakeCloudAuth(check_result_body("P"))
    plan = CrashPlan(crash_before)
    sweeper = stack.sweeper(crashing_fetcher(stack, client, plan))
    # Every effect of the sweep goes through the proxies: the sweeper writes through its fetcher's store.
    with pytest.raises(SimulatedCrash):
        sweeper.sweep()
        plan.end()
    assert plan.fired
    stack.clock.advance(3600.0 + OUTBOX_GRACE_SECONDS)  # past any re-check backoff and the outbox grace
    stack.sweeper(stack.fetcher(client)).sweep()

    assert_one_final_record_with_objects(stack, mbid, status="ABANDONED")
    assert_every_subscriber_got_one_event_id(deliver_everything(stack), f"msg_{mbid}_abandoned")


# -- the notify path ---------------------------------------------------------------------------------------------

A, B, C = (s.url for s in SUBSCRIBERS)
NOTIFY_CRASH_POINTS = [
    "store.get",
    "objects.get",
    "post:A",
    "post:B",
    "post:C",
    "before-notify.send",  # the follow-up for the subscriber that failed
    "after-notify.send",
    "before-retry-post:C",
]


def _crashing_notifier(stack: Stack, sender: RecordingSender, point: str) -> tuple[Notifier, CrashPlan]:
    label = point.removeprefix("before-") if point in {"store.get", "objects.get", "before-notify.send"} else None
    plan = CrashPlan(at_label=label)
    notifier = stack.notifier(
        sender,
        notify=Crashing(stack.notify, "notify", plan, QUEUE_WRITES),
        deadletter=Crashing(stack.deadletter, "deadletter", plan, QUEUE_WRITES),
    )
    notifier.store = Crashing(stack.store, "store", plan, frozenset({"get"}))
    notifier.objects = Crashing(stack.objects, "objects", plan, frozenset({"get"}))
    return notifier, plan


@pytest.mark.parametrize("point", NOTIFY_CRASH_POINTS)
def test_crash_in_the_notify_path_then_redelivery_reaches_every_subscriber(stack: Stack, point: str) -> None:
    record = stack.pending()
    mbid = record.merchant_biz_id
    stack.fetcher(FakeCloudAuth()).fetch(mbid)  # one notify message waiting
    unavailable = DeliveryResult(ok=False, status=503, error="http_503")
    sender = RecordingSender(answers={C: [unavailable, DeliveryResult(ok=True, status=200)]})
    if point.startswith("post:"):
        sender.crash_on = ({"A": A, "B": B, "C": C}[point[-1]], 1)
    elif point == "before-retry-post:C":
        sender.crash_on = (C, 2)
    notifier, plan = _crashing_notifier(stack, sender, point)
    crashed = False

    def handle(body: Any) -> None:
        nonlocal crashed
        notifier.handle_body(body)
        if point == "after-notify.send" and not crashed and any(e == "notify.send" for e in plan.effects):
            crashed = True
            raise SimulatedCrash("after the follow-up was enqueued, before the message was acknowledged")

    crashes = drain(stack.notify, handle, stack.clock)
    assert crashes == 1

    assert_every_subscriber_got_one_event_id(sender, f"msg_{mbid}_passed")
    assert peek(stack.deadletter) == []
    assert stack.notify.size() == 0
