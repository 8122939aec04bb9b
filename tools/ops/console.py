"""``./scripts/kyc console [--port 9300]``: the operator's daily view, a local web page on 127.0.0.1.

It reads through the very stores the other commands use (``KYC_BACKEND=local|aliyun``, :mod:`tools.ops.insights`
says which queries and why none reads the table) and shows, for a chosen period: counts by status, the pass rate
over time, failures by sub code with their meaning, time-to-result percentiles; and, whatever the period: the
verifications stuck in PENDING with their next check, the dead letters (each with a redrive button), and one
verification's timeline, masked, when its id is clicked. Server-rendered HTML; a few lines of JavaScript only add a
confirmation dialog and make the period picker submit itself. No framework, no external asset.

A local server can still be reached by any web page the operator's browser opens, so:

* it binds 127.0.0.1 only, and answers only requests whose ``Host`` is this console (no DNS rebinding);
* the one state-changing request, ``POST /deadletters/redrive``, needs the console's per-process secret token from
  its own form (a cross-site page cannot read it), a same-origin ``Origin``/``Sec-Fetch-Site`` when the browser sends
  them, and a form body; without ``confirm=yes`` it only answers a confirmation page (the button's dialog adds it);
* every answer forbids framing and inline script but its own (CSP with a per-process nonce), and is never cached.
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from html import escape
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from shared import jsonutil
from shared.ids import is_merchant_biz_id
from shared.status import Status
from shared.storage import Stores
from shared.timestamps import rfc3339
from tools.serving import LocalHTTPServer, answers_host, cross_site, own_origins

from . import insights
from .common import EXIT_OK, Context, UsageError
from .dlq import MAX_MESSAGES, DeadLetterQueue, deadletter_queue, redrive

DEFAULT_PORT = 9300
MAX_FORM_BYTES = 4096
STATUS_ORDER = (Status.PASSED, Status.FAILED, Status.ABANDONED, Status.PENDING, Status.ERASED)
COLOURS = {"PASSED": "#12805c", "FAILED": "#b3261e", "ABANDONED": "#6b7280", "PENDING": "#b58900", "ERASED": "#c4c4c4"}


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


class ConsoleApp:
    """Routing, the security checks and the pages; :class:`ConsoleServer` only carries bytes."""

    def __init__(self, stores: Stores, deadletter: Callable[[], DeadLetterQueue], *, port: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.stores = stores
        self.deadletter = deadletter
        self.port = port
        self.clock = clock
        self.token = secrets.token_urlsafe(32)  # proves a form came from this console's own page
        self.nonce = secrets.token_urlsafe(16)  # the only inline script the pages may run

    # -- requests -------------------------------------------------------------------------------------------
    def origins(self) -> set[str]:
        return own_origins(self.port)

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Answer:
        if not answers_host(headers.get("host"), "127.0.0.1", self.port):
            return self._error(421, f"this console answers only at http://127.0.0.1:{self.port}/")
        parts = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        if method in ("GET", "HEAD"):
            if path not in ("/favicon.ico", "/health") and cross_site(headers, self.origins()):
                # Another site's page (an <img> of ?period=30d a hundred times: every read of the period with the
                # operator's credentials; a link with its own ?notice= text) gets nothing (review be).
                return self._error(403, f"open the console from its own pages or by typing http://127.0.0.1:{self.port}/")
            if path == "/":
                return self.overview_page(query)
            if path.startswith("/verifications/"):
                return self.verification_page(path.removeprefix("/verifications/"))
            if path == "/favicon.ico":
                return Answer(204, b"", "image/x-icon")
            if path == "/health":
                return Answer(200, jsonutil.dumps({"ok": True}), "application/json")
            return self._error(404, "no such page")
        if method == "POST" and path == "/deadletters/redrive":
            return self.redrive(headers, body)
        return self._error(405 if path in ("/", "/deadletters/redrive") else 404, "not allowed here")

    def redrive(self, headers: Mapping[str, str], body: bytes) -> Answer:
        if cross_site(headers, self.origins()):
            return self._error(403, "a redrive must come from this console's own page")
        if not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return self._error(415, "a redrive is a form post")
        if len(body) > MAX_FORM_BYTES:
            return self._error(413, "the form is too large")
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        if not secrets.compare_digest(form.get("token", "").encode(), self.token.encode()):  # any text
            return self._error(403, "the form's token is not this console's (reload the page)")
        message_id = form.get("id", "")
        if not message_id or len(message_id) > 200:
            return self._error(400, "which dead letter? (id)")
        if form.get("confirm") != "yes":
            return Answer(200, self._page("Redrive a dead letter?", self._confirm_form(message_id)).encode())
        queue = self.deadletter()
        report = redrive(queue, lambda name, data: self.stores.queue(name).send(data), [message_id])
        if report.redriven:
            target = report.redriven[0]["queue"]
            notice = f"Dead letter {message_id} went back to the {target} queue."
            if report.not_deleted:
                notice += " Its deletion here was not confirmed: it may still be listed (a redrive sends it again)."
        elif report.skipped:
            notice = f"Dead letter {message_id} was left in place: {report.skipped[0]['reason']}."
        elif report.stopped_at_limit:
            notice = (f"Dead letter {message_id} was not among the {MAX_MESSAGES} letters read: redrive or purge "
                      "others first, then try again.")
        else:
            notice = f"No dead letter {message_id} (redriven or purged meanwhile)."
        return Answer(303, b"", headers={"location": "/?" + urlencode({"notice": notice}) + "#deadletters"})

    # -- pages ----------------------------------------------------------------------------------------------
    def overview_page(self, query: Mapping[str, str]) -> Answer:
        now = self.clock()
        try:
            period = insights.period_of(query.get("period", insights.DEFAULT_PERIOD), now)
        except insights.PeriodError as exc:
            return self._error(400, str(exc))
        store = self.stores.transactions
        view = insights.overview(store, period)
        stuck, more_stuck = insights.stuck_pending(store, now)
        recent, _ = store.list_created(since=period.start, until=period.end, limit=20, newest_first=True)
        letters = insights.dead_letters(self.deadletter())
        notice = query.get("notice", "")
        body = "".join([
            self._nav(period),
            f'<p id="notice" class="notice" role="status">{escape(notice[:300])}</p>' if notice else "",
            self._counts(view),
            self._chart(view),
            '<div class="grid2">',
            self._failures(view),
            self._durations(view),
            "</div>",
            self._stuck(stuck, more_stuck, now),
            self._dead_letters(letters),
            self._recent(recent),
        ])
        return Answer(200, self._page(f"Verifications — {period.label}", body).encode())

    def verification_page(self, merchant_biz_id: str) -> Answer:
        if not is_merchant_biz_id(merchant_biz_id):
            return self._error(404, "no such verification")
        record = self.stores.transactions.get(merchant_biz_id)
        if record is None:
            return self._error(404, "no such verification")
        events, objects = insights.timeline(self.stores, record)
        view = insights.masked_view(record)
        steps = "".join(
            f'<li><time>{escape(e.at or "")}</time><span>{escape(e.what)}</span></li>' for e in events
        )
        identity = view["identity"] or {}
        cells = "".join(
            f"<div><dt>{escape(str(k))}</dt><dd data-field=\"{escape(str(k))}\">{escape(str(v))}</dd></div>"
            for k, v in identity.items() if v not in (None, [], "")
        )
        face = view["face"] or {}
        face_cells = "".join(
            f"<div><dt>{escape(str(k))}</dt><dd>{escape(_shown(v))}</dd></div>"
            for k, v in face.items()
            if v is not None
        )
        facts = "".join(
            f"<div><dt>{escape(label)}</dt><dd>{escape(str(view[key]))}</dd></div>"
            for key, label in (("status", "status"), ("subCode", "sub code"), ("productCode", "product"),
                               ("docType", "document type"), ("transactionId", "TransactionId"),
                               ("merchantUserId", "user (peppered hash)"))
            if view[key] is not None
        )
        body = (
            '<p><a href="/">← overview</a></p>'
            f'<section><h2>Verification <code id="mbid">{escape(record.merchant_biz_id)}</code> '
            f'{_badge(str(record.status))}</h2>'
            f'<p id="sentence">{escape(view["subCodeMessage"] or "")}</p><dl class="facts">{facts}</dl></section>'
            f'<section><h2>Timeline</h2><ol id="timeline" class="timeline">{steps}</ol></section>'
            f'<section><h2>Identity <small>(masked)</small></h2>'
            + (f'<dl id="identity" class="facts">{cells}</dl>' if cells else "<p>No identity (none yet, or a "
               "product without a document).</p>")
            + (f'<h3>Face</h3><dl class="facts">{face_cells}</dl>' if face_cells else "")
            + "</section>"
            f'<section><h2>Result objects</h2><p class="muted">In the object store under '
            f'<code>results/{escape(record.merchant_biz_id)}/</code> (names only; they hold personal data).</p>'
            + ("<ul id=\"objects\">" + "".join(f"<li><code>{escape(o)}</code></li>" for o in objects) + "</ul>"
               if objects else "<p>None.</p>")
            + "</section>"
        )
        return Answer(200, self._page(f"Verification {record.merchant_biz_id}", body).encode())

    # -- parts ----------------------------------------------------------------------------------------------
    def _nav(self, period: insights.Period) -> str:
        links = "".join(
            f'<a href="/?period={key}"{" aria-current=page" if key == period.key else ""}>{key}</a>'
            for key in insights.PERIODS
        )
        day = period.key if period.key not in insights.PERIODS else ""
        return (
            f'<nav class="periods"><span>Period:</span>{links}'
            '<form method="get" action="/" id="day-form"><label>UTC day '
            f'<input type="date" name="period" value="{escape(day)}" id="day"></label>'
            '<button type="submit">Show</button></form></nav>'
            f'<p class="muted" id="period">{escape(period.label)}: {escape(rfc3339(period.start) or "")} to '
            f'{escape(rfc3339(period.end) or "")}, verifications by the time they were started.</p>'
        )

    def _counts(self, view: insights.Overview) -> str:
        cards = [f'<div class="card" data-status="TOTAL" data-count="{view.total}"><b>{view.total}</b>'
                 "<span>started</span></div>"]
        for status in STATUS_ORDER:
            n = view.counts.get(status, 0)
            cards.append(f'<div class="card {status}" data-status="{status}" data-count="{n}"><b>{n}</b>'
                         f"<span>{status.lower()}</span></div>")
        rate = view.pass_rate
        cards.append(f'<div class="card" id="pass-rate"><b>{"–" if rate is None else f"{rate:.0%}"}</b>'
                     "<span>pass rate (passed / decided)</span></div>")
        return f'<section id="counts" class="cards">{"".join(cards)}</section>'

    def _chart(self, view: insights.Overview) -> str:
        width, height, top, bottom, left = 720, 220, 12, 28, 36
        buckets = view.buckets
        plot_h = height - top - bottom
        bar_w = (width - left - 8) / max(1, len(buckets))
        peak = max([sum(b.counts.values()) for b in buckets] + [1])
        parts = [f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 4}" y2="{top + plot_h}" class="axis"/>']
        for fraction in (0.5, 1.0):
            y = top + plot_h * (1 - fraction)
            parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 4}" y2="{y:.1f}" class="grid"/>'
                         f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{fraction:.0%}</text>')
        points = []
        for i, bucket in enumerate(buckets):
            x = left + i * bar_w
            y = top + plot_h
            for status in STATUS_ORDER:
                n = bucket.counts[status]
                if not n:
                    continue
                h = plot_h * 0.6 * n / peak  # volume uses the lower 60 %: the rate line stays readable above
                y -= h
                parts.append(f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(1.0, bar_w - 2):.1f}" height="{h:.1f}" '
                             f'fill="{COLOURS[status]}" opacity=".55"><title>{escape(rfc3339(bucket.start) or "")}: '
                             f"{n} {status.lower()}</title></rect>")
            if bucket.pass_rate is not None:
                points.append((x + bar_w / 2, top + plot_h * (1 - bucket.pass_rate), bucket))
        if points:
            parts.append('<polyline class="rate" points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)
                         + '"/>')
            parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" class="rate-dot"><title>'
                      f'{escape(rfc3339(b.start) or "")}: {b.pass_rate:.0%} passed of {b.decided} decided</title>'
                      "</circle>" for x, y, b in points if b.pass_rate is not None]
        for i in sorted({0, len(buckets) // 2, len(buckets) - 1}):
            label = _short_time(buckets[i].start, view.period.bucket_seconds)
            anchor = "start" if i == 0 else "end" if i == len(buckets) - 1 else "middle"
            x = left + i * bar_w + (0 if anchor == "start" else bar_w if anchor == "end" else bar_w / 2)
            parts.append(f'<text x="{x:.1f}" y="{height - 8}" text-anchor="{anchor}">{escape(label)}</text>')
        legend = "".join(f'<span><i style="background:{COLOURS[s]}"></i>{s.lower()}</span>' for s in STATUS_ORDER)
        return (
            '<section id="chart-box"><h2>Pass rate over time</h2>'
            f'<svg id="chart" viewBox="0 0 {width} {height}" role="img" aria-label="pass rate and volume per '
            f'{escape(_duration(view.period.bucket_seconds))}" preserveAspectRatio="none">{"".join(parts)}</svg>'
            f'<p class="legend">{legend}<span><i class="line"></i>pass rate</span></p></section>'
        )

    def _failures(self, view: insights.Overview) -> str:
        if not view.failures:
            return '<section id="failures"><h2>Failures by sub code</h2><p>No failed verification.</p></section>'
        rows = "".join(
            f'<tr data-sub-code="{escape(f.sub_code or "")}"><td data-label="sub code"><code>'
            f'{escape(f.sub_code or "—")}</code></td><td data-label="count">{f.count}</td>'
            f'<td data-label="meaning">{escape(f.meaning or "not in the table of documented codes")}</td></tr>'
            for f in view.failures
        )
        return (
            '<section id="failures"><h2>Failures by sub code</h2><div class="scroll"><table class="stack">'
            f"<thead><tr><th>sub code</th><th>count</th><th>meaning</th></tr></thead><tbody>{rows}</tbody></table>"
            '</div><p class="muted">Meanings from <code>shared/subcodes.py</code>: only what the vendor\'s samples '
            "show (200, 205; 212 unverified); any other code is shown as unknown.</p></section>"
        )

    def _durations(self, view: insights.Overview) -> str:
        p = view.time_to_result
        cells = "".join(
            f'<div class="card" data-percentile="{name}"><b>{_duration(value) if value is not None else "–"}</b>'
            f"<span>{name}</span></div>"
            for name, value in (("p50", p.p50), ("p90", p.p90), ("p99", p.p99), ("max", p.max))
        )
        truncated = (f'<p class="warn">Only the first {view.rows_read} verifications of the period were read for the '
                     "chart, failures and times; pick a shorter period.</p>" if view.truncated else "")
        return (
            '<section id="durations"><h2>Time to result</h2>'
            f'<div class="cards small">{cells}</div><p class="muted">From start to a verdict (PASSED or FAILED), '
            f"{p.count} verdicts.</p>{truncated}</section>"
        )

    def _stuck(self, rows: list[Any], more: bool, now: float) -> str:
        if not rows:
            return '<section id="stuck"><h2>Stuck in PENDING</h2><p>Nothing is pending.</p></section>'
        lines = "".join(
            f'<tr><td data-label="verification">{_link(r.merchant_biz_id)}</td>'
            f'<td data-label="age">{escape(_duration(now - r.created_at))}</td>'
            f'<td data-label="checks">{r.check_count}</td>'
            f'<td data-label="next check">{escape(rfc3339(r.next_check_at) or "when the sweeper sees it")}</td>'
            f'<td data-label="last answer">{escape(r.error or "")}</td></tr>'
            for r in rows
        )
        more_note = ('<p class="muted">More are pending than shown: these are the soonest due (never checked, or '
                     'next checked first), not the oldest; <code>./scripts/kyc list --status PENDING</code> lists '
                     'them all.</p>' if more else "")
        return (
            '<section id="stuck"><h2>Stuck in PENDING</h2><div class="scroll"><table class="stack"><thead><tr>'
            "<th>verification</th><th>age</th><th>checks</th><th>next check</th><th>last answer</th></tr></thead>"
            f"<tbody>{lines}</tbody></table></div>{more_note}</section>"
        )

    def _dead_letters(self, letters: list[insights.DeadLetter]) -> str:
        if not letters:
            return '<section id="deadletters"><h2>Dead letters</h2><p>The dead-letter queue is empty.</p></section>'
        lines = "".join(
            f'<tr data-message-id="{escape(d.message_id)}"><td data-label="enqueued">{escape(d.enqueued_at or "")}</td>'
            f'<td data-label="kind">{escape(d.kind)}</td>'
            f'<td data-label="verification">{_link(d.merchant_biz_id) if d.merchant_biz_id else "—"}</td>'
            f'<td data-label="reason">{escape(d.reason)}</td>'
            f'<td data-label="">{self._redrive_form(d.message_id) if d.redrivable else "cannot be redriven"}</td></tr>'
            for d in letters
        )
        return (
            '<section id="deadletters"><h2>Dead letters</h2><div class="scroll"><table class="stack"><thead><tr>'
            "<th>enqueued</th><th>kind</th><th>verification</th><th>reason</th><th></th></tr></thead>"
            f"<tbody>{lines}</tbody></table></div></section>"
        )

    def _recent(self, rows: list[Any]) -> str:
        if not rows:
            return '<section id="recent"><h2>Latest verifications</h2><p>None in this period.</p></section>'
        lines = "".join(
            f'<tr><td data-label="verification">{_link(r.merchant_biz_id)}</td>'
            f'<td data-label="started">{escape(rfc3339(r.created_at) or "")}</td>'
            f'<td data-label="status">{_badge(str(r.status))}</td>'
            f'<td data-label="sub code">{escape(r.sub_code or "")}</td></tr>'
            for r in rows
        )
        return (
            '<section id="recent"><h2>Latest verifications</h2><div class="scroll"><table class="stack"><thead>'
            f"<tr><th>verification</th><th>started</th><th>status</th><th>sub code</th></tr></thead><tbody>{lines}"
            "</tbody></table></div></section>"
        )

    def _redrive_form(self, message_id: str) -> str:
        return (
            '<form method="post" action="/deadletters/redrive" class="redrive">'
            f'<input type="hidden" name="token" value="{escape(self.token)}">'
            f'<input type="hidden" name="id" value="{escape(message_id)}">'
            '<button type="submit">Redrive…</button></form>'
        )

    def _confirm_form(self, message_id: str) -> str:
        return (
            f"<p>Put dead letter <code>{escape(message_id)}</code> back on the queue it came from? A webhook is then "
            "sent again to the subscriber that failed (with a fresh retry schedule); a re-check message is "
            "delivered again.</p>"
            '<form method="post" action="/deadletters/redrive" id="confirm-form">'
            f'<input type="hidden" name="token" value="{escape(self.token)}">'
            f'<input type="hidden" name="id" value="{escape(message_id)}">'
            '<input type="hidden" name="confirm" value="yes">'
            '<button type="submit" id="confirm">Yes, redrive it</button> <a href="/#deadletters">Cancel</a></form>'
        )

    def _page(self, title: str, body: str) -> str:
        return (
            "<!doctype html><html lang=en><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)} · kyc console</title><style>{STYLE}</style></head><body>"
            f'<header><h1><a href="/">kyc console</a></h1><span class="muted">{escape(self._backend())}</span>'
            f"</header><main>{body}</main><script nonce=\"{self.nonce}\">{SCRIPT}</script></body></html>"
        )

    def _backend(self) -> str:
        settings = self.stores.settings
        if settings.backend == "local":
            return f"local backend · {settings.data_dir}"
        return f"aliyun backend · {settings.tablestore_instance or ''}/{settings.tablestore_table or ''}"

    def _error(self, status: int, message: str) -> Answer:
        body = f'<p class="error" role="alert" id="error">{escape(message)}</p><p><a href="/">overview</a></p>'
        return Answer(status, self._page("Error", body).encode())

    def security_headers(self) -> dict[str, str]:
        return {
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline';"
            f" script-src 'nonce-{self.nonce}'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none';"
            " base-uri 'none'",
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
            # Not no-referrer: with it, browsers send "Origin: null" on the console's own form posts.
            "Referrer-Policy": "same-origin",
            "Cache-Control": "no-store",
        }


def _shown(value: object) -> str:
    return {True: "yes", False: "no"}.get(value, str(value)) if isinstance(value, bool) else str(value)


def _badge(status: str) -> str:
    return f'<span class="badge {escape(status)}">{escape(status)}</span>'


def _link(merchant_biz_id: str) -> str:
    return f'<a href="/verifications/{quote(merchant_biz_id)}"><code>{escape(merchant_biz_id)}</code></a>'


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _short_time(epoch: float, bucket: float) -> str:
    text = rfc3339(epoch) or ""
    return text[11:16] + "Z" if bucket < 86400 and bucket * 24 <= 86400 else text[:10]


STYLE = """
* { box-sizing: border-box; } [hidden] { display: none !important; }
body { font-family: system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7fa; line-height: 1.4; }
header { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: baseline; padding: .8rem 1rem;
         background: #1f2a44; color: #fff; }
header h1 { font-size: 1.1rem; margin: 0; } header a { color: #fff; text-decoration: none; }
header .muted { color: #c9d1e4; }
main { max-width: 72rem; margin: 0 auto; padding: 1rem; }
section { background: #fff; border: 1px solid #dde1ea; border-radius: 10px; padding: 1rem; margin: 0 0 1rem; }
h2 { font-size: 1rem; margin: 0 0 .7rem; } h3 { font-size: .95rem; }
.muted { color: #5b6475; font-size: .85rem; } .warn { color: #8a6d00; }
.error { color: #b3261e; font-weight: 600; }
.notice { background: #e8f3ee; border: 1px solid #12805c; border-radius: 8px; padding: .5rem .8rem; }
.periods { display: flex; flex-wrap: wrap; gap: .4rem; align-items: center; margin-bottom: .3rem; }
.periods a { padding: .25rem .7rem; border-radius: 999px; border: 1px solid #c4cad8; text-decoration: none;
             color: #1d2330; background: #fff; }
.periods a[aria-current] { background: #2f5bd3; border-color: #2f5bd3; color: #fff; }
.periods form { display: flex; gap: .3rem; align-items: center; margin-left: auto; }
input, button { font: inherit; } button { cursor: pointer; padding: .25rem .7rem; border-radius: 6px;
  border: 1px solid #2f5bd3; background: #2f5bd3; color: #fff; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(8rem, 1fr)); gap: .6rem; }
.card { background: #fff; border: 1px solid #dde1ea; border-radius: 10px; padding: .7rem .8rem;
        border-top: 4px solid #9aa3b5; }
.card b { display: block; font-size: 1.5rem; } .card span { font-size: .8rem; color: #5b6475; }
.card.PASSED { border-top-color: #12805c; } .card.FAILED { border-top-color: #b3261e; }
.card.ABANDONED { border-top-color: #6b7280; } .card.PENDING { border-top-color: #b58900; }
#counts { background: none; border: 0; padding: 0; }
.cards.small .card b { font-size: 1.15rem; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(20rem, 1fr)); gap: 0 1rem; }
svg#chart { width: 100%; height: 220px; display: block; }
svg text { font-size: 11px; fill: #5b6475; } .axis { stroke: #9aa3b5; } .grid { stroke: #e3e6ee; }
.rate { fill: none; stroke: #2f5bd3; stroke-width: 2.5; } .rate-dot { fill: #2f5bd3; }
.legend { display: flex; flex-wrap: wrap; gap: .3rem 1rem; font-size: .8rem; color: #5b6475; margin: .4rem 0 0; }
.legend i { display: inline-block; width: .8rem; height: .8rem; border-radius: 2px; margin-right: .3rem;
            vertical-align: -1px; opacity: .7; }
.legend i.line { height: 3px; background: #2f5bd3; opacity: 1; vertical-align: 3px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .85rem; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #e3e6ee; vertical-align: top; }
code { font-family: ui-monospace, monospace; font-size: .8rem; word-break: break-all; }
.badge { display: inline-block; border-radius: 999px; padding: .05rem .55rem; font-size: .75rem; font-weight: 600;
         color: #fff; background: #9aa3b5; }
.badge.PASSED { background: #12805c; } .badge.FAILED { background: #b3261e; } .badge.ABANDONED { background: #6b7280; }
.badge.PENDING { background: #b58900; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(11rem, 1fr)); gap: .5rem 1rem; margin: 0; }
.facts dt { font-size: .72rem; text-transform: uppercase; color: #5b6475; } .facts dd { margin: 0; font-weight: 600;
  word-break: break-word; }
.timeline { list-style: none; margin: 0; padding: 0 0 0 1rem; border-left: 3px solid #c4cad8; }
.timeline li { margin: 0 0 .7rem; position: relative; } .timeline li::before { content: ""; position: absolute;
  left: -1.45rem; top: .35rem; width: .7rem; height: .7rem; border-radius: 50%; background: #2f5bd3; }
.timeline time { display: block; font-size: .75rem; color: #5b6475; font-family: ui-monospace, monospace; }
form.redrive { margin: 0; }
@media (max-width: 640px) {
  .periods form { margin-left: 0; }
  table.stack thead { display: none; }
  table.stack tr { display: block; border-bottom: 1px solid #e3e6ee; padding: .4rem 0; }
  table.stack td { display: flex; gap: .5rem; border: 0; padding: .1rem 0; }
  table.stack td::before { content: attr(data-label); min-width: 6.5rem; color: #5b6475; font-size: .78rem; }
}
"""

#: Progressive: the pages work without it (the server asks for confirmation itself).
SCRIPT = """
document.querySelectorAll("form.redrive").forEach(function (form) {
  form.addEventListener("submit", function (event) {
    var id = form.querySelector("input[name=id]").value;
    if (!window.confirm("Redrive dead letter " + id + "? It goes back to the queue it came from.")) {
      event.preventDefault();
      return;
    }
    var yes = document.createElement("input");
    yes.type = "hidden"; yes.name = "confirm"; yes.value = "yes";
    form.appendChild(yes);
  });
});
var day = document.getElementById("day");
if (day) day.addEventListener("change", function () { if (day.value) day.form.submit(); });
"""


class _Server(LocalHTTPServer):
    def __init__(self, address: tuple[str, int], app_factory: Callable[[int], ConsoleApp]) -> None:
        super().__init__(address, _Handler)
        self.app = app_factory(int(self.server_address[1]))


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "kyc-console"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the terminal shows the URL, not every request
        return

    def _answer(self) -> None:
        raw_length = self.headers.get("Content-Length") or "0"
        length = int(raw_length) if raw_length.isascii() and raw_length.isdigit() else -1
        if length < 0:
            self.close_connection = True
            body = b""
            answer = self.server.app._error(400, "Content-Length must be a whole number")
        elif length > MAX_FORM_BYTES:
            self.close_connection = True
            body = b""
            answer = self.server.app._error(413, "the request body is too large")
        else:
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                answer = self.server.app.handle(self.command, self.path, headers, body)
            except Exception as exc:  # a store error is one line on the page, never a traceback
                answer = self.server.app._error(503, f"the stores could not be read ({type(exc).__name__})")
        self.send_response(answer.status)
        for name, value in {**self.server.app.security_headers(), **answer.headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _answer


class ConsoleServer:
    """The console on 127.0.0.1:``port`` (0: any free port), on a daemon thread; ``url`` once started."""

    def __init__(self, stores: Stores, deadletter: Callable[[], DeadLetterQueue], port: int = DEFAULT_PORT,
                 clock: Callable[[], float] = time.time) -> None:
        self._httpd = _Server(("127.0.0.1", port), lambda bound: ConsoleApp(stores, deadletter, port=bound,
                                                                            clock=clock))
        self._thread: threading.Thread | None = None

    @property
    def app(self) -> ConsoleApp:
        return self._httpd.app

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> ConsoleServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="kyc-console", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)


# --- the command ----------------------------------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port on 127.0.0.1 (default {DEFAULT_PORT})")


def run(args: argparse.Namespace, ctx: Context, *, ready: Callable[[ConsoleServer], None] | None = None,
        stop: threading.Event | None = None) -> int:
    if not 0 <= args.port <= 65535:
        raise UsageError("--port must be 0-65535")
    stores = ctx.stores()
    try:
        server = ConsoleServer(stores, lambda: deadletter_queue(ctx), port=args.port, clock=ctx.clock).start()
    except OSError as exc:
        message = f"cannot listen on 127.0.0.1:{args.port} ({type(exc).__name__}); try another --port"
        raise UsageError(message, "PortInUse") from None
    try:  # from the announcement on, a Ctrl-C is the normal way to stop
        ctx.stderr.write(f"kyc console at {server.url}/ (reading {server.app._backend()}); Ctrl-C stops it\n")
        ctx.stderr.flush()
        if ready is not None:
            ready(server)
        (stop or threading.Event()).wait()
    except KeyboardInterrupt:
        pass
    finally:
        with contextlib.suppress(OSError):
            server.stop()
    return EXIT_OK
