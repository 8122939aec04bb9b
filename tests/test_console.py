"""The operator console (``./scripts/kyc console``): its figures, its guard against other web pages, its pages in
headless Chromium at 1280 and 390 px, and a load test's traffic shown exactly as the load test counted it."""

from __future__ import annotations

import http.client
import io
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from shared import jsonutil
from shared.status import Status
from shared.storage import ReceivedMessage, StorageSettings, Stores, TransactionRecord, open_stores
from shared.storage.due import DueKind
from shared.timestamps import rfc3339
from shared.values import replace
from tests.browser import chromium_page
from tests.conftest import ROOT
from tools.ops import console, insights, kyc
from tools.ops.common import Context

NOW = 1_764_496_800.0  # 2025-11-30T10:00:00Z, a bucket boundary
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def row(mbid: str, status: str, created: float, *, took: float = 4.0, sub_code: str | None = None,
        checks: int = 0, next_check: float | None = None) -> TransactionRecord:
    final = status in ("PASSED", "FAILED", "ABANDONED")
    return TransactionRecord(
        merchant_biz_id=mbid, transaction_id="t" + mbid, merchant_user_id="0" * 64, doc_type="01000000",
        status=Status(status), passed={"PASSED": "Y", "FAILED": "N"}.get(status), sub_code=sub_code,
        created_at=created, updated_at=created + took, finalized_at=created + took if final else None,
        check_count=checks, next_check_at=next_check, notification_enqueued=final,
        identity_masked={"surname": "C*", "documentNumber": "K******7"} if status == "PASSED" else None,
    )


@pytest.fixture
def stores(tmp_path: Path) -> Stores:
    return open_stores(StorageSettings(backend="local", data_dir=tmp_path / "data"))


@pytest.fixture
def filled(stores: Stores) -> Stores:
    rows = [
        row("p1", "PASSED", NOW - 3000, took=2), row("p2", "PASSED", NOW - 2000, took=4),
        row("p3", "PASSED", NOW - 600, took=6), row("f1", "FAILED", NOW - 1500, took=8, sub_code="205"),
        row("f2", "FAILED", NOW - 1400, took=10, sub_code="205"), row("f3", "FAILED", NOW - 100, sub_code="9999"),
        row("a1", "ABANDONED", NOW - 3500, took=40),
        row("w1", "PENDING", NOW - 50), row("w2", "PENDING", NOW - 900, checks=3, next_check=NOW + 60),
        row("old", "PASSED", NOW - 5 * 86400),  # outside the last 24 h
    ]
    for record in rows:
        stores.transactions.create(record)
    return stores


# --- the figures ------------------------------------------------------------------------------------------------


def test_periods_are_the_last_hour_day_week_month_or_a_utc_day() -> None:
    day = insights.period_of("24h", NOW)
    assert (day.end - day.start, day.bucket_seconds, len(day.buckets())) == (86400, 3600, 24)
    assert day.end > NOW  # the current bucket is shown, partly filled
    assert insights.period_of("2025-11-29", NOW).start == NOW - 86400 - 10 * 3600
    with pytest.raises(insights.PeriodError, match="1h, 24h, 7d, 30d"):
        insights.period_of("yesterday", NOW)


def test_counts_chart_failures_and_times_of_the_period(filled: Stores) -> None:
    view = insights.overview(filled.transactions, insights.period_of("24h", NOW))
    assert view.counts == {"PASSED": 3, "FAILED": 3, "ABANDONED": 1, "PENDING": 2}
    assert view.total == 9 and view.pass_rate == 0.5 and view.rows_read == 9 and not view.truncated
    hour = view.buckets[-2]  # 09:00-10:00 UTC: every row of the day; the current hour (10:00-11:00) is empty
    assert sum(sum(b.counts.values()) for b in view.buckets) == sum(hour.counts.values()) == 9
    assert hour.pass_rate == 0.5 and view.buckets[-1].pass_rate is None
    assert [(f.sub_code, f.count) for f in view.failures] == [("205", 2), ("9999", 1)]
    assert view.failures[0].meaning == "liveness check failed, a possible presentation attack"
    assert view.failures[1].meaning is None and "not in our table" in view.failures[1].message
    durations = view.time_to_result  # verdicts only: 2, 4, 6, 8, 10, 4 s
    assert (durations.count, durations.p50, durations.p90, durations.max) == (6, 4.0, 10.0, 10.0)


def test_stuck_pending_comes_from_the_due_index_whatever_the_period(filled: Stores) -> None:
    filled.transactions.create(row("ancient", "PENDING", NOW - 40 * 86400))
    stuck, more = insights.stuck_pending(filled.transactions, NOW)
    assert [r.merchant_biz_id for r in stuck] == ["ancient", "w2", "w1"] and not more
    assert stuck[1].next_check_at == NOW + 60


def test_reading_stops_at_the_row_budget_and_says_so(filled: Stores) -> None:
    view = insights.overview(filled.transactions, insights.period_of("24h", NOW), max_rows=3)
    assert view.truncated and view.rows_read < 9
    assert view.counts["PASSED"] == 3  # the counts still come from the count index, whole


def test_on_tablestore_the_figures_are_the_same_and_only_the_period_and_pending_rows_are_read(
    filled: Stores,
) -> None:
    from shared.storage.tablestore_store import table_row
    from tests.storage.conftest import TABLE, tablestore_double, wire_store

    mine = [row.merchant_biz_id for row in insights.stuck_pending(filled.transactions, NOW)[0]]
    local = insights.overview(filled.transactions, insights.period_of("24h", NOW))
    page, _ = filled.transactions.list_created(limit=100)
    history = [row(f"h{i:04d}", "PASSED", NOW - 60 * 86400 - i) for i in range(300)]  # long ago, long settled
    with tablestore_double(range_row_cap=5000) as double:
        double.load_rows(TABLE, [table_row(r) for r in [*page, *history]])
        store = wire_store(double)
        double.reset_stats()
        remote = insights.overview(store, insights.period_of("24h", NOW))
        stuck, _ = insights.stuck_pending(store, NOW)
        read = int(double.rows()["rowsScanned"])
    assert (remote.counts, remote.failures, remote.time_to_result) == (local.counts, local.failures,
                                                                        local.time_to_result)
    assert [r.merchant_biz_id for r in stuck] == mine
    # count index rows (9), the period's index rows and rows (2 x 9), the pending ones' due rows and rows (2 x 2)
    assert read == 9 + 2 * 9 + 2 * 2


# --- the server ---------------------------------------------------------------------------------------------------


@pytest.fixture
def server(filled: Stores) -> Iterator[console.ConsoleServer]:
    running = console.ConsoleServer(filled, lambda: filled.queue("deadletter"), port=0, clock=lambda: NOW).start()
    try:
        yield running
    finally:
        running.stop()


def call(server: console.ConsoleServer, method: str, path: str, body: bytes = b"",
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    port = int(server.url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers={"Host": f"127.0.0.1:{port}", **(headers or {})})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
    finally:
        conn.close()


def dead_letter(stores: Stores) -> str:
    body = {"kind": "notify", "reason": "webhook_undeliverable", "merchantBizId": "p1",
            "subscriber": "https://hooks.example/kyc", "lastError": "HTTP 410"}
    return stores.queue("deadletter").send(jsonutil.dumps(body))


def redrive_form(server: console.ConsoleServer, message_id: str, **extra: str) -> bytes:
    return urlencode({"token": server.app.token, "id": message_id, **extra}).encode()


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_the_overview_counts_what_the_stores_hold(server: console.ConsoleServer) -> None:
    status, headers, html = call(server, "GET", "/?period=24h")
    assert status == 200
    for name, count in {"TOTAL": 9, "PASSED": 3, "FAILED": 3, "ABANDONED": 1, "PENDING": 2}.items():
        assert f'data-status="{name}" data-count="{count}"' in html
    assert 'data-sub-code="205"' in html and "liveness check failed" in html
    assert "frame-ancestors 'none'" in headers["content-security-policy"] and headers["cache-control"] == "no-store"


def test_it_listens_on_loopback_only_and_answers_only_its_own_host(server: console.ConsoleServer) -> None:
    assert server.url.startswith("http://127.0.0.1:")
    status, _, _ = call(server, "GET", "/", headers={"Host": "attacker.example"})  # DNS rebinding
    assert status == 421


def test_a_request_with_a_content_length_that_is_not_a_number_is_refused_with_400(
    server: console.ConsoleServer,
) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"POST /deadletters/redrive HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: abc\r\n"
                     "\r\n".encode())  # fmt: skip
        status_line = sock.makefile("rb").readline()
    assert status_line.split()[1] == b"400"


def test_a_verification_s_timeline_is_masked(server: console.ConsoleServer) -> None:
    status, _, html = call(server, "GET", "/verifications/p1")
    assert status == 200 and 'id="timeline"' in html and "became PASSED" in html
    assert 'data-field="surname">C*<' in html and "0" * 64 not in html  # the user hash only shortened
    assert call(server, "GET", "/verifications/nope%2F..")[0] == 404


def test_a_dead_letter_that_cannot_go_anywhere_has_no_redrive_button(server: console.ConsoleServer,
                                                                      filled: Stores) -> None:
    gone = {"kind": "notify", "reason": "transaction_gone", "merchantBizId": "p1", "subscribers": [],
            "subscriberKeys": [], "attempts": 1}  # fmt: skip
    message_id = filled.queue("deadletter").send(jsonutil.dumps(gone))
    html = call(server, "GET", "/")[2]
    row = html.split(f'data-message-id="{message_id}"', 1)[1].split("</tr>", 1)[0]
    assert "cannot be redriven" in row and "Redrive" not in row


def test_a_redrive_without_confirmation_only_asks(server: console.ConsoleServer, filled: Stores) -> None:
    message_id = dead_letter(filled)
    status, _, html = call(server, "POST", "/deadletters/redrive", redrive_form(server, message_id), FORM)
    assert status == 200 and 'id="confirm-form"' in html
    assert [m.message_id for m in filled.queue("deadletter").peek(10)] == [message_id]  # type: ignore[attr-defined]


def test_a_confirmed_redrive_puts_the_letter_back_and_says_so(server: console.ConsoleServer, filled: Stores) -> None:
    message_id = dead_letter(filled)
    body = redrive_form(server, message_id, confirm="yes")
    status, headers, _ = call(server, "POST", "/deadletters/redrive", body,
                              {**FORM, "Origin": server.url, "Sec-Fetch-Site": "same-origin"})
    assert status == 303 and "went+back+to+the+notify+queue" in headers["location"]
    assert filled.queue("deadletter").peek(10) == []  # type: ignore[attr-defined]
    (sent,) = filled.queue("notify").peek(10)  # type: ignore[attr-defined]
    assert jsonutil.loads(sent.body) == {"merchantBizId": "p1", "attempt": 0, "pending": ["https://hooks.example/kyc"]}


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        ("no token", FORM),
        ("wrong token", FORM),
        ("good", {**FORM, "Origin": "https://evil.example"}),
        ("good", {**FORM, "Sec-Fetch-Site": "cross-site"}),
        ("good", {"Content-Type": "text/plain"}),
    ],
)
def test_a_redrive_from_anywhere_but_the_console_s_own_page_is_refused(
    server: console.ConsoleServer, filled: Stores, body: str, headers: dict[str, str]
) -> None:
    message_id = dead_letter(filled)
    form = {"good": redrive_form(server, message_id, confirm="yes"),
            "no token": urlencode({"id": message_id, "confirm": "yes"}).encode(),
            "wrong token": urlencode({"id": message_id, "confirm": "yes", "token": "guess"}).encode()}[body]
    status, _, _ = call(server, "POST", "/deadletters/redrive", form, headers)
    assert status in (403, 415)
    assert len(filled.queue("deadletter").peek(10)) == 1  # type: ignore[attr-defined]


def test_a_redrive_whose_token_is_not_ascii_is_refused_as_a_wrong_token(
    server: console.ConsoleServer, filled: Stores
) -> None:
    """compare_digest refuses str with non-ASCII characters (TypeError): the console answered 503 "the stores could
    not be read" (audit bu)."""
    message_id = dead_letter(filled)
    form = urlencode({"id": message_id, "confirm": "yes", "token": "t\u00f6ken"}).encode()
    status, _, _ = call(server, "POST", "/deadletters/redrive", form, FORM)
    assert status == 403
    assert len(filled.queue("deadletter").peek(10)) == 1  # type: ignore[attr-defined]


def test_kyc_console_serves_the_configured_backend_until_stopped(filled: Stores) -> None:
    env = {"KYC_BACKEND": "local", "KYC_DATA_DIR": str(filled.settings.data_dir)}
    started: list[console.ConsoleServer] = []
    stop = threading.Event()
    ctx = Context(env=env, stdout=io.StringIO(), stderr=io.StringIO())
    args = kyc.build_parser().parse_args(["console", "--port", "0"])

    def ready(server: console.ConsoleServer) -> None:
        started.append(server)
        stop.set()  # serve, answer once below, stop

    thread = threading.Thread(target=lambda: console.run(args, ctx, ready=ready, stop=stop))
    thread.start()
    thread.join(10)
    assert started and "kyc console at http://127.0.0.1:" in ctx.stderr.getvalue()  # type: ignore[attr-defined]


# --- what the operator is told and shown, and what the console refuses (found by mutating tools/ops/console.py and
# tools/ops/insights.py) -------------------------------------------------------------------------------------------


def _notice(headers: dict[str, str]) -> str:
    return parse_qs(urlsplit(headers["location"]).query)["notice"][0]


def _confirmed_redrive(server: console.ConsoleServer, message_id: str) -> tuple[int, dict[str, str], str]:
    return call(server, "POST", "/deadletters/redrive", redrive_form(server, message_id, confirm="yes"),
                {**FORM, "Origin": server.url, "Sec-Fetch-Site": "same-origin"})


def test_a_redrive_from_the_console_sends_back_only_the_letter_it_names(
    server: console.ConsoleServer, filled: Stores
) -> None:
    first, second = dead_letter(filled), dead_letter(filled)
    assert _confirmed_redrive(server, first)[0] == 303
    assert [m.message_id for m in filled.queue("deadletter").peek(10)] == [second]  # type: ignore[attr-defined]
    assert len(filled.queue("notify").peek(10)) == 1  # type: ignore[attr-defined]


def test_a_redrive_whose_deletion_is_not_confirmed_says_the_letter_may_still_be_listed(filled: Stores) -> None:
    message_id = dead_letter(filled)
    queue = filled.queue("deadletter")
    queue.delete = lambda receipt: False  # type: ignore[attr-defined]
    running = console.ConsoleServer(filled, lambda: queue, port=0, clock=lambda: NOW).start()  # type: ignore[arg-type,return-value]
    try:
        status, headers, _ = _confirmed_redrive(running, message_id)
    finally:
        running.stop()
    assert status == 303 and "Its deletion here was not confirmed" in _notice(headers)


def test_a_redrive_of_a_letter_that_cannot_go_anywhere_says_why_it_was_left(
    server: console.ConsoleServer, filled: Stores
) -> None:
    gone = {"kind": "notify", "reason": "transaction_gone", "merchantBizId": "p1", "subscriberKeys": []}
    message_id = filled.queue("deadletter").send(jsonutil.dumps(gone))
    status, headers, _ = _confirmed_redrive(server, message_id)
    assert status == 303 and _notice(headers).startswith(f"Dead letter {message_id} was left in place: its "
                                                         "transaction is gone")


class _EndlessQueue:
    """A dead-letter queue longer than a walk reads: every receive hands out new letters."""

    def __init__(self) -> None:
        self.count = 0

    def receive(self, max_messages: int = 10, visibility_timeout: int = 30) -> list[ReceivedMessage]:
        letters = []
        for _ in range(max_messages):
            self.count += 1
            letters.append(ReceivedMessage(message_id=f"m{self.count}", receipt=f"r{self.count}", body=b"{}",
                                           receive_count=1, first_enqueued_at=NOW))
        return letters

    def change_visibility(self, receipt: str, seconds: int) -> str:
        return receipt

    def delete(self, receipt: str) -> bool:
        return True

    def peek(self, limit: int = 100) -> list[ReceivedMessage]:
        return []


def test_a_redrive_of_a_letter_beyond_what_a_walk_reads_says_so(filled: Stores) -> None:
    endless = _EndlessQueue()
    running = console.ConsoleServer(filled, lambda: endless, port=0, clock=lambda: NOW).start()  # type: ignore[arg-type,return-value]
    try:
        status, headers, _ = _confirmed_redrive(running, "far-away")
    finally:
        running.stop()
    assert status == 303 and "was not among the 10000 letters read" in _notice(headers)


def test_a_redrive_naming_an_overlong_id_is_refused(server: console.ConsoleServer, filled: Stores) -> None:
    dead_letter(filled)
    status, _, _ = _confirmed_redrive(server, "m" * 201)
    assert status == 400


def test_the_console_refuses_a_form_larger_than_it_reads(server: console.ConsoleServer) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    headers = {"host": f"127.0.0.1:{port}", "content-type": "application/x-www-form-urlencoded"}
    form = redrive_form(server, "m1", confirm="yes") + b"&pad=" + b"x" * console.MAX_FORM_BYTES
    assert server.app.handle("POST", "/deadletters/redrive", headers, form).status == 413


def test_a_request_announcing_a_body_larger_than_a_form_is_refused_without_reading_it(
    server: console.ConsoleServer,
) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {console.MAX_FORM_BYTES + 1}\r\n"
                     "\r\n".encode())  # fmt: skip
        status_line = sock.makefile("rb").readline()
    assert status_line.split()[1] == b"413"


def test_a_head_request_gets_the_headers_and_no_body(server: console.ConsoleServer) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"HEAD / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and body == b""


def test_a_notice_in_the_address_is_shown_as_text_never_as_markup(server: console.ConsoleServer) -> None:
    status, _, html = call(server, "GET", "/?" + urlencode({"notice": "<script>alert(1)</script>"}))
    assert status == 200 and "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html


def test_every_answer_lets_only_the_console_s_own_script_run(server: console.ConsoleServer) -> None:
    policy = call(server, "GET", "/")[1]["content-security-policy"]
    assert f"script-src 'nonce-{server.app.nonce}';" in policy and "unsafe-inline';" not in policy.split("style-src")[0]
    assert "script-src 'unsafe-inline'" not in policy


def test_every_answer_forbids_framing(server: console.ConsoleServer) -> None:
    for path in ("/", "/verifications/p1", "/nowhere"):
        assert call(server, "GET", path)[1]["x-frame-options"] == "DENY"


def test_a_verification_waiting_a_minute_shows_its_age_in_minutes(
    server: console.ConsoleServer, filled: Stores
) -> None:
    filled.transactions.create(row("w3", "PENDING", NOW - 60))
    html = call(server, "GET", "/")[2]
    line = html.split('href="/verifications/w3"', 1)[1].split("</tr>", 1)[0]
    assert '<td data-label="age">1.0 min</td>' in line


def test_the_week_s_chart_labels_its_bars_with_dates(server: console.ConsoleServer) -> None:
    period = insights.period_of("7d", NOW)
    html = call(server, "GET", "/?period=7d")[2]
    day = (rfc3339(period.start) or "")[:10]
    assert f">{day}</text>" in html


def test_a_few_pending_verifications_are_shown_without_saying_more_are_pending(server: console.ConsoleServer) -> None:
    html = call(server, "GET", "/")[2]
    assert 'id="stuck"' in html and "More are pending than shown" not in html


def test_the_console_listens_on_no_address_but_loopback(server: console.ConsoleServer) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: only the route to a non-local address is chosen
        except OSError:
            pytest.skip("this machine has no address but loopback")
        address = probe.getsockname()[0]
    if address.startswith("127."):
        pytest.skip("this machine has no address but loopback")
    with pytest.raises(OSError):
        socket.create_connection((address, port), timeout=2).close()


def test_a_page_the_stores_cannot_serve_names_the_failure_s_type_but_never_its_message(filled: Stores) -> None:
    class Broken:
        def __getattr__(self, name: str) -> Any:
            raise RuntimeError("row of merchant user 0123456789abcdef cannot be read")

    broken = type("BrokenStores", (), {"transactions": Broken(), "settings": filled.settings,
                                       "queue": filled.queue, "objects": filled.objects})()
    running = console.ConsoleServer(broken, lambda: filled.queue("deadletter"), port=0, clock=lambda: NOW).start()
    try:
        status, _, html = call(running, "GET", "/")
    finally:
        running.stop()
    assert status == 503 and "(RuntimeError)" in html and "0123456789abcdef" not in html


def test_a_verification_page_shows_no_identity_field_the_result_left_empty(
    server: console.ConsoleServer, filled: Stores
) -> None:
    filled.transactions.create(replace(row("p9", "PASSED", NOW - 300),
                                       identity_masked={"surname": "C*", "documentNumber": None, "givenNames": ""}))
    html = call(server, "GET", "/verifications/p9")[2]
    assert 'data-field="surname"' in html and 'data-field="documentNumber"' not in html


def test_a_utc_day_counts_what_was_started_in_its_last_second(stores: Stores) -> None:
    midnight = NOW - 10 * 3600  # 2025-11-30T00:00:00Z, the end of 2025-11-29
    stores.transactions.create(row("late", "PENDING", midnight - 0.5))
    assert insights.overview(stores.transactions, insights.period_of("2025-11-29", NOW)).counts == {"PENDING": 1}


def test_a_verdict_recorded_before_its_start_by_a_skewed_clock_counts_as_no_time_to_result(stores: Stores) -> None:
    stores.transactions.create(row("skew", "PASSED", NOW - 600, took=-5))
    assert insights.overview(stores.transactions, insights.period_of("24h", NOW)).time_to_result.p50 == 0.0


class _DueIndex:
    """A store's due index: these pages for NEW and CHECK."""

    def __init__(self, new: tuple[list[TransactionRecord], str | None],
                 check: tuple[list[TransactionRecord], str | None]) -> None:
        self.pages = {DueKind.NEW: new, DueKind.CHECK: check}

    def due(self, kind: DueKind, before: float, *, limit: int = 100, cursor: str | None = None) -> Any:
        return self.pages[DueKind(kind)]


def test_stuck_pending_shows_only_pending_rows_of_the_due_index() -> None:
    pending, abandoned = row("w1", "PENDING", NOW - 60), row("a1", "ABANDONED", NOW - 90)
    stuck, more = insights.stuck_pending(_DueIndex(([pending], None), ([abandoned], None)), NOW)  # type: ignore[arg-type]
    assert [r.merchant_biz_id for r in stuck] == ["w1"] and not more


def test_stuck_pending_shows_at_most_its_limit_and_says_there_are_more() -> None:
    new, check = row("w1", "PENDING", NOW - 60), row("w2", "PENDING", NOW - 90)
    stuck, more = insights.stuck_pending(_DueIndex(([new], None), ([check], None)), NOW, limit=1)  # type: ignore[arg-type]
    assert [r.merchant_biz_id for r in stuck] == ["w2"] and more


def test_stuck_pending_says_there_are_more_when_the_due_index_has_another_page() -> None:
    pending = row("w1", "PENDING", NOW - 60)
    stuck, more = insights.stuck_pending(_DueIndex(([pending], "next"), ([], None)), NOW)  # type: ignore[arg-type]
    assert len(stuck) == 1 and more


def test_a_timeline_says_when_the_vendor_s_copy_is_deleted(stores: Stores) -> None:
    record = replace(row("p1", "PASSED", NOW - 600), vendor_copy_deleted=True)
    events, _ = insights.timeline(stores, record)
    assert "the vendor's copy deleted" in [e.what for e in events]


def test_a_timeline_says_how_often_the_vendor_was_asked_again_and_its_last_answer(stores: Stores) -> None:
    record = replace(row("w2", "PENDING", NOW - 900, checks=3), error="ProcessNotCompleted")
    events, _ = insights.timeline(stores, record)
    assert "asked the vendor again 3× while pending; last answer: ProcessNotCompleted" in [e.what for e in events]


def test_a_dead_letter_shows_its_reason_before_its_last_error(filled: Stores) -> None:
    dead_letter(filled)  # reason webhook_undeliverable, lastError HTTP 410
    (letter,) = insights.dead_letters(filled.queue("deadletter"))  # type: ignore[arg-type]
    assert letter.reason == "webhook_undeliverable"

# --- in a browser -------------------------------------------------------------------------------------------------


def non_blank(path: Path) -> bool:
    """A real screenshot: large enough, and not one flat colour (Chromium paints white when nothing rendered)."""
    data = path.read_bytes()
    return len(data) > 20_000 and len(set(data[1000:5000])) > 50


def within(page: Any, selector: str, width: int) -> bool:
    box = page.locator(selector).first.bounding_box()
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5 and box["height"] > 0


@pytest.mark.browser
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
def test_the_console_renders_its_parts_inside_the_viewport(
    server: console.ConsoleServer, filled: Stores, viewport: dict[str, int], tmp_path: Path
) -> None:
    dead_letter(filled)
    with chromium_page() as page:
        page.set_viewport_size(viewport)
        page.goto(f"{server.url}/?period=24h")
        for selector in ("#counts", "#chart", "#failures", "#durations", "#stuck", "#deadletters", "#recent"):
            assert page.locator(selector).is_visible(), selector
            assert within(page, selector, viewport["width"]), selector
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert page.locator("#chart rect").count() == 4 and page.locator("#chart polyline").count() == 1
        shot = tmp_path / f"console-{viewport['width']}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert non_blank(shot)


@pytest.mark.browser
def test_clicking_a_verification_shows_its_timeline_and_a_redrive_asks_first(
    server: console.ConsoleServer, filled: Stores
) -> None:
    message_id = dead_letter(filled)
    with chromium_page() as page:
        page.goto(f"{server.url}/")
        page.click('#recent a[href="/verifications/f3"]')
        page.wait_for_selector("#timeline")
        assert "The verification did not pass" in page.locator("#sentence").inner_text()
        page.go_back()
        dialogs: list[str] = []
        page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.click(f'tr[data-message-id="{message_id}"] button')
        assert dialogs and message_id in dialogs[0]
        assert len(filled.queue("deadletter").peek(10)) == 1  # type: ignore[attr-defined]  # dismissed: nothing
        page.once("dialog", lambda dialog: dialog.accept())
        with page.expect_navigation():
            page.click(f'tr[data-message-id="{message_id}"] button')
        assert "went back to the notify queue" in page.locator("#notice").inner_text(), page.content()[:3000]
        assert filled.queue("deadletter").peek(10) == []  # type: ignore[attr-defined]


# --- a load test's traffic ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_console_shows_a_load_test_s_traffic_as_the_load_test_counted_it(tmp_path: Path) -> None:
    data, report_path = tmp_path / "load", tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KYC_", "CLOUDAUTH_", "SANDBOX_"))}
    done = subprocess.run(
        [sys.executable, "-m", "tools.loadtest", "--smoke", "--data-dir", str(data), "--json", str(report_path)],
        cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=240, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = jsonutil.loads(report_path.read_bytes())
    stores = open_stores(StorageSettings(backend="local", data_dir=data))
    view = insights.overview(stores.transactions, insights.period_of("24h", time.time()))
    assert view.counts == report["transactionsByStatus"] and view.total == 40
    running = console.ConsoleServer(stores, lambda: stores.queue("deadletter"), port=0).start()
    try:
        status, _, html = call(running, "GET", "/?period=24h")
    finally:
        running.stop()
    assert status == 200
    for name, count in report["transactionsByStatus"].items():
        assert f'data-status="{name}" data-count="{count}"' in html
    assert f'data-status="TOTAL" data-count="{sum(report["transactionsByStatus"].values())}"' in html
    assert "The dead-letter queue is empty" in html  # the load test's own guarantee: nothing dead-lettered


def test_the_console_on_port_80_takes_a_redrive_from_its_own_page(tmp_path: Path) -> None:
    """A browser leaves the default port out of Host and Origin alike."""
    stores = open_stores(StorageSettings(backend="local", data_dir=tmp_path / "data"))
    message_id = stores.queue("deadletter").send(jsonutil.dumps(
        {"kind": "notify", "reason": "webhook_undeliverable", "merchantBizId": "p1",
         "subscriber": "https://hooks.example/kyc", "lastError": "HTTP 410"}))  # fmt: skip
    app = console.ConsoleApp(stores, lambda: stores.queue("deadletter"), port=80)
    # What a browser sends from the page it loaded at http://127.0.0.1/ (the default port left out of both).
    page = app.handle("GET", "/", {"host": "127.0.0.1"}, b"")
    assert page.status == 200  # the console serves its page under this name ...
    body = urlencode({"token": app.token, "id": message_id, "confirm": "yes"}).encode()
    headers = {"host": "127.0.0.1", "origin": "http://127.0.0.1", "sec-fetch-site": "same-origin",
               "content-type": "application/x-www-form-urlencoded"}  # fmt: skip

    answer = app.handle("POST", "/deadletters/redrive", headers, body)

    assert answer.status == 303, f"its own page's redrive refused {answer.status}: {answer.body[:120]!r}"
