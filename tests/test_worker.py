"""The local queue worker (EventBridge's stand-in): one message per invocation as s.yaml configures the triggers,
several invocations in flight per queue (like FC instances), bounded, so one slow message never stalls the rest."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from shared import jsonutil
from shared.handlers.notifier import NotifierApp
from shared.notifications import Notifier, Subscriber, WebhookSettings
from shared.storage import decode_message_body
from tests.fakes import SECRET_A, SECRET_B, FakeCloudAuth, Stack
from tests.loopback import DrippingServer
from tools.devstack.worker import QueueWorker, Subscription

NOTIFY = Subscription("notify", "notifier", max_in_flight=8)


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


class _Receiver:
    """A healthy subscriber: answers 204 at once and records the webhook-id of every delivery."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                receiver.ids.append(self.headers["webhook-id"])
                self.send_response(204)
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path)
    yield s
    s.close()


def _final_transactions(stack: Stack, count: int) -> list[str]:
    """``count`` PASSED transactions, each with its notify message on the queue."""
    ids = []
    for _ in range(count):
        record = stack.pending()
        stack.fetcher(FakeCloudAuth()).fetch(record.merchant_biz_id)
        ids.append(record.merchant_biz_id)
    return ids


def test_other_events_reach_a_healthy_subscriber_while_another_subscriber_drips(stack: Stack) -> None:
    """The measure of issue 14: with one subscriber holding every delivery (it answers nothing, so only the
    30 s deadline would end it), every event reaches the healthy subscriber while the dripping one still holds
    its very first delivery — nothing queues behind it."""
    events = _final_transactions(stack, 4)
    dripping = DrippingServer(b"", 0)
    healthy = _Receiver()
    settings = WebhookSettings(
        subscribers=(Subscriber(url=dripping.url, secret=SECRET_A), Subscriber(url=healthy.url, secret=SECRET_B)),
        retry_schedule=(5.0,), allow_private_targets=True, require_https=False, timeout_seconds=30.0,
    )  # fmt: skip
    app = NotifierApp(Notifier(store=stack.store, objects=stack.objects, notify_queue=stack.notify,
                               deadletter_queue=stack.deadletter, settings=settings))  # fmt: skip

    def invoke(function_name: str, event: Any) -> Any:
        return app.handle(jsonutil.dumps(event), SimpleNamespace(request_id="test"))

    worker = QueueWorker(invoke, {"notify": stack.notify}, stack.deadletter, subscriptions=(NOTIFY,),
                         poll_interval=0.01).start()  # fmt: skip
    try:
        assert _wait_for(lambda: len(healthy.ids) == len(events))
        assert sorted(healthy.ids) == sorted(f"msg_{mbid}_passed" for mbid in events)
        assert dripping.completed == 0 and dripping.requests >= 1  # still holding its first delivery
    finally:
        dripping.stop()  # its deliveries now fail at once; the worker winds down
        worker.stop()
        healthy.close()


def _body(cloud_event: dict[str, Any]) -> str:
    return decode_message_body(cloud_event["data"]["messageBody"]).decode()


class _BlockingInvoke:
    """An ``invoke`` that records what it was given and blocks the calls ``block`` says to, until released."""

    def __init__(self, block: Callable[[str, list[dict[str, Any]]], bool]) -> None:
        self.block = block
        self.release = threading.Event()
        self.calls: list[tuple[str, list[str]]] = []
        self.running = 0
        self.peak = 0
        self._lock = threading.Lock()

    def __call__(self, function_name: str, event: Any) -> Any:
        bodies = [_body(e) for e in event] if isinstance(event, list) else []
        with self._lock:
            self.calls.append((function_name, bodies))
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            if self.block(function_name, event):
                self.release.wait(10)
        finally:
            with self._lock:
                self.running -= 1
        return {}


def _messages(calls: list[tuple[str, list[str]]], function_name: str) -> list[str]:
    return [b for name, bodies in calls if name == function_name for b in bodies]


def test_a_message_whose_invocation_hangs_holds_back_no_other_message(stack: Stack) -> None:
    invoke = _BlockingInvoke(lambda name, event: "stuck" in _body(event[0]))
    stack.notify.send(b'{"n":"stuck"}')
    for n in range(3):
        stack.notify.send(jsonutil.dumps({"n": n}))
    worker = QueueWorker(invoke, {"notify": stack.notify}, stack.deadletter, subscriptions=(NOTIFY,),
                         poll_interval=0.01).start()  # fmt: skip
    try:
        assert _wait_for(lambda: len(_messages(invoke.calls, "notifier")) == 4)
        assert _wait_for(lambda: stack.notify.size() == 1)  # the three others handled and deleted
    finally:
        invoke.release.set()
        worker.stop()
    assert stack.notify.size() == 0


def test_a_hanging_queue_or_timer_does_not_stall_another_queue(stack: Stack) -> None:
    invoke = _BlockingInvoke(lambda name, event: name in {"result_fetcher", "sweeper"})
    stack.recheck.send(b'{"merchantBizId":"A1"}')
    stack.notify.send(b'{"n":1}')
    worker = QueueWorker(
        invoke, {"recheck": stack.recheck, "notify": stack.notify}, stack.deadletter,
        subscriptions=(Subscription("recheck", "result_fetcher"), NOTIFY), poll_interval=0.01,
        timers=[("sweeper", 0.01)],
    ).start()  # fmt: skip
    try:
        assert _wait_for(lambda: any(name == "sweeper" for name, _ in invoke.calls))
        assert _wait_for(lambda: _messages(invoke.calls, "result_fetcher") != [])
        stack.notify.send(b'{"n":2}')  # sent while the re-check and the sweep hang
        assert _wait_for(lambda: stack.notify.size() == 0)
        assert [name for name, _ in invoke.calls].count("sweeper") == 1  # a timer never overlaps itself
    finally:
        invoke.release.set()
        worker.stop()


def test_invocations_in_flight_are_bounded_and_the_rest_wait_on_the_queue(stack: Stack) -> None:
    invoke = _BlockingInvoke(lambda name, event: True)
    for n in range(12):
        stack.notify.send(jsonutil.dumps({"n": n}))
    worker = QueueWorker(invoke, {"notify": stack.notify}, stack.deadletter,
                         subscriptions=(Subscription("notify", "notifier", max_in_flight=3),),
                         poll_interval=0.01).start()  # fmt: skip
    try:
        assert _wait_for(lambda: invoke.running == 3)
        time.sleep(0.2)  # time for a fourth, if the bound did not hold
        assert invoke.peak == 3 and len(invoke.calls) == 3
    finally:
        invoke.release.set()
    assert _wait_for(lambda: stack.notify.size() == 0)
    worker.stop()
    assert invoke.peak == 3 and len(invoke.calls) == 12


def test_each_invocation_carries_one_message_as_the_triggers_in_s_yaml_do(stack: Stack) -> None:
    invoke = _BlockingInvoke(lambda name, event: False)
    for n in range(5):
        stack.notify.send(jsonutil.dumps({"n": n}))
    worker = QueueWorker(invoke, {"notify": stack.notify}, stack.deadletter, subscriptions=(NOTIFY,))
    worker.drain()
    assert [len(bodies) for _, bodies in invoke.calls] == [1] * 5


def test_the_local_in_flight_bounds_fit_the_pools_room_for_concurrent_invocations() -> None:
    """The notifier's deliveries and the fetcher's puts have a pool with room for this many invocations at once."""
    from shared.parallel import MAX_CONCURRENT_CALLERS
    from tools.devstack.worker import DEFAULT_SUBSCRIPTIONS

    assert {s.function_name for s in DEFAULT_SUBSCRIPTIONS} == {"notifier", "result_fetcher"}
    assert all(s.max_in_flight <= MAX_CONCURRENT_CALLERS for s in DEFAULT_SUBSCRIPTIONS)


def test_a_message_stays_hidden_while_its_invocation_runs_as_long_as_the_deployed_queue_hides_it() -> None:
    from tools.deployment import load_template
    from tools.devstack.worker import DEFAULT_SUBSCRIPTIONS

    queues = load_template()["Resources"]
    hidden = {sub.function_name: sub.visibility_timeout for sub in DEFAULT_SUBSCRIPTIONS}
    assert hidden == {
        "result_fetcher": queues["RecheckQueue"]["Properties"]["VisibilityTimeout"],
        "notifier": queues["NotifyQueue"]["Properties"]["VisibilityTimeout"],
    }


def test_a_failed_invocation_is_retried_after_1_2_4_seconds_not_after_the_visibility_timeout(tmp_path: Path) -> None:
    from shared.storage.sqlite_queue import SqliteQueue
    from tests.fakes import FakeClock
    from tools.devstack.worker import retry_delay_seconds

    clock = FakeClock()
    notify = SqliteQueue(tmp_path / "queues.sqlite3", "notify", clock=clock)
    deadletter = notify.sibling("deadletter")
    notify.send(b"{}")
    calls: list[float] = []

    def failing(name: str, event: Any) -> Any:
        calls.append(clock())
        raise RuntimeError("the function failed")

    sub = Subscription("notify", "notifier", visibility_timeout=860)
    worker = QueueWorker(failing, {"notify": notify}, deadletter, subscriptions=(sub,), max_receives=5)
    for delay in (1, 2, 4):
        worker.run_once()
        clock.advance(delay - 0.5)
        worker.run_once()  # not yet
        clock.advance(0.5)
    worker.run_once()
    assert [round(t - calls[0], 1) for t in calls] == [0.0, 1.0, 3.0, 7.0]
    assert [retry_delay_seconds(n) for n in (1, 2, 3, 10, 11, 50)] == [1, 2, 4, 512, 512, 512]
