"""The asynchronous half on an unlucky production day (found by review, each test failing first): a verdict that
lands just after the sweeper gave up, a lagging re-check queue, a re-check chain of an abandoned row, a subscriber
URL that is not ASCII. Each docstring says what happened before and why it matters to a merchant or an operator.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from shared import jsonutil
from shared.messages import RecheckMessage
from tests.fakes import (
    SUBSCRIBERS,
    T0,
    FakeCloudAuth,
    RecordingSender,
    Stack,
    check_result_body,
    peek,
)
from tests.test_sweeper import DAY, stack

__all__ = ["stack"]  # the fixture


class _SlowObjects:
    """The callback's object store: ``during_first_put`` runs while the fetch stores its first image (an OSS put
    takes a while), i.e. after the fetch read its clock and before it finalizes the row."""

    def __init__(self, inner: Any, during_first_put: Any) -> None:
        self._inner = inner
        self._hook = during_first_put

    def put(self, key: str, data: bytes, content_type: str) -> None:
        hook, self._hook = self._hook, None
        if hook is not None:
            hook()
        self._inner.put(key, data, content_type)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_a_late_verdict_replacing_an_abandonment_is_announced_as_later_than_the_abandonment(stack: Stack) -> None:
    """A merchant can only order a verification's events by their ``timestamp`` ("when the result became final": the
    ``webhook-timestamp`` of a retry is later than that of a newer event, and the two events have different ids).

    Here the person finishes just as the sweeper gives up: the sweeper's fetch still saw "pending" and abandons the
    row (and the notifier announces ``verification.abandoned``) while the callback's fetch, which already has the
    verdict, is storing its images; then the callback's fetch replaces ABANDONED with PASSED. The PASSED row's
    ``finalized_at`` is the clock the fetch read *before* storing the images, so ``verification.completed`` carries
    a timestamp one second *older* than ``verification.abandoned``: a merchant that keeps the newest event (the usual
    defence against reordered webhooks) keeps "abandoned" for a verification that passed. Expected: the replacing
    verdict's timestamp is later than the abandonment it replaced (e.g. ``finalize`` taking the later of its ``now``
    and the replaced row's ``finalized_at``/``updated_at``, or stamping the row when it writes it)."""
    subscriber = SUBSCRIBERS[0]
    mbid = stack.pending(created_at=T0 - 2 * DAY).merchant_biz_id  # past KYC_ABANDON_AFTER
    sender = RecordingSender()
    notifier = stack.notifier(sender, subscribers=[subscriber])
    sweeper = stack.sweeper(stack.fetcher(FakeCloudAuth(check_result_body("P"))))

    def sweeper_gives_up_meanwhile() -> None:
        stack.clock.advance(1.0)
        assert sweeper.sweep().abandoned == 1
        (message,) = stack.notify.receive(max_messages=10)
        notifier.handle_body(jsonutil.loads(message.body))  # the notifier reads the row while it is ABANDONED
        stack.notify.delete(message.receipt)

    callback = stack.fetcher(FakeCloudAuth(check_result_body("Y")),
                             objects=_SlowObjects(stack.objects, sweeper_gives_up_meanwhile))  # fmt: skip
    assert callback.fetch(mbid).kind == "finalized"
    (message,) = stack.notify.receive(max_messages=10)
    notifier.handle_body(jsonutil.loads(message.body))

    events = [jsonutil.loads(d.body) for d in sender.delivered_to(subscriber.url)]
    assert [e["type"] for e in events] == ["verification.abandoned", "verification.completed"]
    abandoned, completed = (datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")) for e in events)
    assert completed > abandoned, (events[0]["timestamp"], events[1]["timestamp"])


def test_a_sweep_reads_rows_in_proportion_to_its_batch_not_to_the_young_rows_whose_quick_re_check_is_overdue(
    tmp_path: Path,
) -> None:
    """Step 1 walks the CHECK index earliest first and skips (``continue``) every row younger than
    ``KYC_SWEEP_AFTER``, the queue's to re-check, *before* it counts anything against the batch or the pass's time
    budget. When the re-check queue lags (a vendor outage in which every CheckResult takes its deadline and the
    result_fetcher's trigger falls behind; a burst of verifications), every young row whose quick re-check is overdue
    sits at the head of that index, and each pass reads all of them — on Tablestore an index row and a data row
    each, every five minutes — before it reaches one it may check; with enough of them the pass spends its whole
    invocation paging and starves the outbox and retention it reserves time for. Expected (as for retention): a
    pass reads rows in proportion to ``KYC_SWEEP_BATCH`` — e.g. skipped rows count against the batch, or the quick
    chain's due is not visible to step 1 before ``created_at + KYC_SWEEP_AFTER``. Counted by the Tablestore double."""
    from shared.storage.tablestore_store import table_row
    from tests.fakes import make_record
    from tests.storage.conftest import TABLE, tablestore_double, wire_store

    batch = 20
    # Created in the last two minutes, their quick re-check due a minute ago and not yet run (the queue lags).
    young = [make_record(created_at=T0 - 120 + i * 0.01, next_check_at=T0 - 60 + i * 0.01) for i in range(1000)]
    silent = make_record(created_at=T0 - 3600, next_check_at=T0 - 1)  # the sweeper's: old, its check due
    with tablestore_double(range_row_cap=5000) as double:
        double.load_rows(TABLE, [table_row(r) for r in [*young, silent]])
        stack = Stack(tmp_path, store=wire_store(double))
        client = FakeCloudAuth(check_result_body("P"))
        sweeper = stack.sweeper(stack.fetcher(client), batch_size=batch)
        double.reset_stats()
        report = sweeper.sweep()
        rows_read = int(double.rows()["rowsScanned"])
        stack.close()
    assert report.checked <= 1  # at most the silent row: the young ones are the queue's
    # The rows stepped over (a batch), each read twice (index row, data row), and at most one unfinished page.
    assert rows_read <= 2 * (batch + 1) + 2 * batch, rows_read


def test_a_re_check_of_an_abandoned_row_queues_no_further_re_check(stack: Stack) -> None:
    """Found by review: ``record_check`` advances only PENDING rows, so once the sweeper abandons a row whose quick
    chain still runs (``KYC_ABANDON_AFTER`` shorter than the chain), every redelivery of the in-flight re-check
    called the vendor and queued its own next one: the chain forked at each duplicate. The chain ends at the
    abandoned row instead: the re-check fetches once more (a late verdict would replace ABANDONED) and queues
    nothing, however often it is delivered."""
    mbid = stack.pending().merchant_biz_id
    client = FakeCloudAuth(check_result_body("P"))
    fetcher = stack.fetcher(client, schedule=(10.0, 30.0, 60.0))
    assert fetcher.fetch(mbid, attempt=1).kind == "pending"  # re-check 2 queued and recorded
    assert stack.store.mark_abandoned(mbid, now=T0 + 60)  # the sweeper gives up meanwhile

    outcomes = [fetcher.fetch(mbid, attempt=2).kind for _ in range(2)]  # re-check 2, delivered twice

    queued = [RecheckMessage.from_body(body) for body in peek(stack.recheck)]
    assert outcomes == ["pending", "pending"]
    assert [m.attempt for m in queued if m is not None] == [2]


def test_a_subscriber_url_with_a_non_ascii_path_is_delivered_percent_encoded_or_refused_never_raised() -> None:
    """``KYC_WEBHOOKS`` accepts a URL whose path is not ASCII (``check_url`` leaves non-ASCII paths to the caller,
    and ``http_url`` adds no rule; ``kyc doctor``'s ``vet_target`` passes it too), but ``post_webhook`` hands the raw
    path to ``http.client``, whose request line is ASCII: the POST raises ``UnicodeEncodeError`` — although
    ``post_webhook`` "never raises" — the notifier logs ``notify.sender_crashed`` with a traceback and counts a
    transient ``sender_error``, and the subscriber is retried for the whole schedule (about a day) and then
    dead-lettered, without one request ever leaving. Expected: every outcome is a ``DeliveryResult``: the path is
    sent percent-encoded (UTF-8, as a browser sends an IRI), or the URL is refused as a permanent ``invalid_url``
    (better still, at start)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from shared.delivery import TargetPolicy, post_webhook

    paths: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            paths.append(self.path)
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(204)
            self.end_headers()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/hooks/kyc-r\u00e9sultats"
        local = TargetPolicy(allow_private=True, require_https=False)
        try:
            result = post_webhook(url, b"{}", {}, timeout=5.0, policy=local)
        except UnicodeError as exc:
            pytest.fail(f"post_webhook raised {type(exc).__name__} instead of answering a DeliveryResult")
    finally:
        httpd.shutdown()
        httpd.server_close()
    if result.ok:
        assert paths == ["/hooks/kyc-r%C3%A9sultats"]
    else:
        assert result.permanent and result.error == "invalid_url" and paths == []
