"""The demo merchant (dev only): a page that runs a verification end to end, and a webhook receiver.

Both are FC-style handlers served by the local gateway, written with :mod:`shared.fc` like the real functions.

The page (``GET /``) signs a user in with a demo token, offers the deployment's products and document types
(``GET /verifications/products`` when the API has it, else the document types of :mod:`shared.doctypes`), starts a
verification, and shows it as a person would want to see it: a status badge, the API's ``subCodeMessage``, the
progress of a pending result (how often the vendor was re-checked and when next), the masked identity as a card, the
times, every webhook the receiver got as a table, and errors as errors. It fits a 390 px wide phone.

The receiver (``POST /demo/webhooks``) verifies Standard Webhooks signatures and keeps what arrived in memory; it can
be told to fail its next N deliveries, which is how a lost webhook and its retry are demonstrated (and tested).
``GET /demo/webhooks`` answers JSON, or a page for a browser (``Accept: text/html``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from html import escape
from typing import Any

from shared import jsonutil
from shared.auth import audience_claim, issue_token
from shared.doctypes import DOC_TYPES
from shared.fc import HttpError, HttpEvent, Router, http_response
from shared.timestamps import rfc3339
from shared.webhooks import WebhookVerificationError, verify

HTML = {"content-type": "text/html; charset=utf-8", "cache-control": "no-store"}


@dataclass
class ReceivedWebhook:
    webhook_id: str
    timestamp: str
    signature: str
    body: bytes
    received_at: float
    verified: bool

    def event(self) -> dict[str, Any] | None:
        try:
            event = jsonutil.loads(self.body)
        except jsonutil.JSONDecodeError:
            return None
        return event if isinstance(event, dict) else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "webhookId": self.webhook_id,
            "webhookTimestamp": self.timestamp,
            "webhookSignature": self.signature,
            "verified": self.verified,
            "receivedAt": rfc3339(self.received_at),
            "event": self.event(),
        }


@dataclass
class WebhookInbox:
    """What the demo receiver got, and how many of the next deliveries it should refuse."""

    received: list[ReceivedWebhook] = field(default_factory=list)
    refused: int = 0
    fail_next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class DemoApp:
    def __init__(self, *, jwt_secret: str, webhook_secret: str, token_ttl: int = 3600,
                 jwt_audience: str | None = None) -> None:
        self.jwt_secret = jwt_secret
        self.jwt_audience = jwt_audience
        self.webhook_secret = webhook_secret
        self.token_ttl = token_ttl
        #: One sentence on when results settle on this stack (set by the dev stack once its timings are known).
        self.settle_note = ""
        self.inbox = WebhookInbox()
        self.router = Router()
        self.router.route("GET", "/")(self.page)
        self.router.route("GET", "/demo/token")(self.token)
        self.router.route("POST", "/demo/webhooks")(self.receive_webhook)
        self.router.route("GET", "/demo/webhooks")(self.list_webhooks)
        self.router.route("POST", "/demo/webhooks/fail-next")(self.fail_next)

    def __call__(self, event: bytes, context: Any) -> dict[str, Any]:
        return self.router.dispatch(event)

    def page(self, event: HttpEvent) -> dict[str, Any]:
        options = "".join(f'<option value="{escape(d.code)}">{escape(d.name)}</option>' for d in DOC_TYPES.values())
        html = (
            DEMO_PAGE.replace("{{STYLE}}", STYLE)
            .replace("{{DOC_OPTIONS}}", options)
            .replace("{{SETTLE_NOTE}}", escape(self.settle_note))
        )
        return http_response(200, html, HTML)

    def token(self, event: HttpEvent) -> dict[str, Any]:
        user = event.query.get("user", "").strip()
        if not user or len(user) > 64:
            raise HttpError(400, "InvalidParameter", "user must be 1-64 characters")
        return http_response(200, {"token": issue_token(user, self.jwt_secret, ttl=self.token_ttl,
                                                        extra_claims=audience_claim(self.jwt_audience))})

    def receive_webhook(self, event: HttpEvent) -> dict[str, Any]:
        body = event.body
        headers = event.headers
        with self.inbox.lock:
            if self.inbox.fail_next > 0:
                self.inbox.fail_next -= 1
                self.inbox.refused += 1
                raise HttpError(503, "DemoFailure", "the demo receiver was told to fail this delivery")
        try:
            verify([self.webhook_secret], headers, body)
            verified = True
        except WebhookVerificationError:
            verified = False
        record = ReceivedWebhook(
            webhook_id=headers.get("webhook-id", ""),
            timestamp=headers.get("webhook-timestamp", ""),
            signature=headers.get("webhook-signature", ""),
            body=body,
            received_at=time.time(),
            verified=verified,
        )
        with self.inbox.lock:
            self.inbox.received.append(record)
        if not verified:
            raise HttpError(401, "InvalidSignature", "webhook signature did not verify")
        return http_response(204)

    def list_webhooks(self, event: HttpEvent) -> dict[str, Any]:
        with self.inbox.lock:
            received = list(self.inbox.received)
            refused = self.inbox.refused
        if "text/html" in (event.headers.get("accept") or ""):
            return http_response(200, webhooks_page(received, refused), HTML)
        return http_response(200, {"received": [r.as_dict() for r in received], "refused": refused})

    def fail_next(self, event: HttpEvent) -> dict[str, Any]:
        body = event.json_object()
        count = body.get("count")
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= 1000:
            raise HttpError(400, "InvalidParameter", "count must be a whole number from 0 to 1000")
        with self.inbox.lock:
            self.inbox.fail_next = count
        return http_response(200, {"failNext": count})


def webhooks_page(received: list[ReceivedWebhook], refused: int) -> str:
    """``/demo/webhooks`` for a browser: newest first, one row per delivery that reached the receiver."""
    rows = []
    for record in reversed(received):
        event = record.event() or {}
        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        assert isinstance(data, dict)
        signature = "<span class=ok>✓ verified</span>" if record.verified else "<span class=bad>✗ invalid</span>"
        rows.append(
            "<tr>"
            f"<td data-label=received>{escape(rfc3339(record.received_at) or '')}</td>"
            f"<td data-label=webhook-id class=id>{escape(record.webhook_id)}</td>"
            f"<td data-label=event>{escape(str(event.get('type', '?')))}</td>"
            f"<td data-label=merchantBizId class=id>{escape(str(data.get('merchantBizId', '')))}</td>"
            f"<td data-label=status><span class=\"badge {escape(str(data.get('status', '')))}\">"
            f"{escape(str(data.get('status', '?')))}</span></td>"
            f"<td data-label=signature>{signature}</td>"
            "</tr>"
        )
    table = (
        "<div class=scroll><table id=webhooks class=stack><thead><tr><th>received (UTC)</th><th>webhook-id</th>"
        f"<th>event</th><th>merchantBizId</th><th>status</th><th>signature</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        "</div>"
        if rows
        else "<p id=none>No webhook has arrived yet.</p>"
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1"><meta http-equiv=refresh content=5>'
        f"<title>Demo webhooks</title><style>{STYLE}</style></head><body><h1>Webhooks received</h1>"
        f"<p class=muted>{len(received)} received, {refused} refused on purpose (<code>fail-next</code>). "
        "This page reloads every 5 s; <a href=\"/\">back to the demo merchant</a>.</p>"
        f"{table}</body></html>"
    )


STYLE = """
  :root { --ok: #12805c; --bad: #b3261e; --wait: #8a6d00; --line: #d8dce6; --soft: #f5f6f9; }
  * { box-sizing: border-box; } [hidden] { display: none !important; }
  body { font-family: system-ui, sans-serif; max-width: 46rem; margin: 1.5rem auto; padding: 0 1rem; color: #1d2330;
         line-height: 1.45; }
  h1 { font-size: 1.4rem; margin: 0 0 .5rem; } h2 { font-size: 1.05rem; margin: 0 0 .75rem; }
  section { border: 1px solid var(--line); border-radius: 10px; padding: 1rem; margin: 1rem 0; }
  .row { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; }
  label { display: flex; flex-direction: column; gap: .2rem; font-size: .9rem; flex: 1 1 12rem; min-width: 0; }
  input, select, button { font: inherit; padding: .45rem .6rem; max-width: 100%; }
  select, input { width: 100%; border: 1px solid #b9c0cf; border-radius: 6px; background: #fff; }
  button { cursor: pointer; border: 0; border-radius: 6px; background: #2f5bd3; color: #fff; padding: .5rem 1rem; }
  button:disabled { background: #9aa6c4; cursor: not-allowed; }
  .muted { color: #5b6475; font-size: .9rem; }
  .error { border: 1px solid var(--bad); background: #fdeceb; color: var(--bad); border-radius: 8px;
           padding: .6rem .8rem; margin-top: .75rem; font-weight: 500; }
  .error[hidden] { display: none; }
  .badge { display: inline-block; border-radius: 999px; padding: .1rem .6rem; font-weight: 600; font-size: .85rem;
           background: var(--soft); }
  .PASSED { color: #fff; background: var(--ok); } .FAILED, .ABANDONED { color: #fff; background: var(--bad); }
  .PENDING { color: #fff; background: var(--wait); }
  .card { border-radius: 12px; padding: 1rem; background: linear-gradient(135deg, #24324f, #3c5a8c); color: #fff;
          margin-top: .75rem; }
  .card dl { display: grid; grid-template-columns: repeat(auto-fill, minmax(7.5rem, 1fr)); gap: .7rem 1rem;
             margin: 0; }
  .card dt { font-size: .72rem; text-transform: uppercase; letter-spacing: .04em; opacity: .75; }
  .card dd { margin: 0; font-size: 1.05rem; font-weight: 600; word-break: break-word; }
  .card .title { font-size: .8rem; opacity: .8; margin-bottom: .6rem; }
  .scroll { overflow-x: auto; }
  table { border-collapse: collapse; width: 100%; font-size: .85rem; }
  th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
  td.id { font-family: ui-monospace, monospace; font-size: .75rem; word-break: break-all; min-width: 8rem; }
  .ok { color: var(--ok); font-weight: 600; } .bad { color: var(--bad); font-weight: 600; }
  .progress { height: 6px; border-radius: 3px; background: var(--soft); overflow: hidden; margin: .5rem 0; }
  .progress span { display: block; height: 100%; width: 40%; background: var(--wait);
                   animation: slide 1.4s ease-in-out infinite; }
  @keyframes slide { from { transform: translateX(-100%); } to { transform: translateX(250%); } }
  code { word-break: break-all; }
  @media (max-width: 600px) {
    table.stack thead { display: none; }
    table.stack tr { display: block; border-bottom: 1px solid var(--line); padding: .4rem 0; }
    table.stack td { display: flex; gap: .5rem; border: 0; padding: .1rem 0; }
    table.stack td::before { content: attr(data-label); min-width: 6.5rem; color: #5b6475; font-size: .8rem; }
  }
"""

DEMO_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Demo merchant — identity verification</title>
<style>{{STYLE}}</style>
</head>
<body>
<h1>Demo merchant</h1>
<p class="muted">A stand-in for your web shop: it signs a user in, starts a verification with the backend and
shows the (masked) result. Everything here runs locally against the cloudauth-intl sandbox. {{SETTLE_NOTE}}</p>

<section id="signin">
  <h2>1. Sign in</h2>
  <div class="row">
    <label>User id <input id="user" value="demo-user" maxlength="64" autocomplete="off"></label>
    <button id="sign-in">Sign in</button>
  </div>
  <p id="signed-in" class="muted"></p>
</section>

<section id="start">
  <h2>2. Verify</h2>
  <div class="row">
    <label id="product-row" hidden>Product <select id="product"></select></label>
    <label id="doc-row">Document <select id="doc-type">{{DOC_OPTIONS}}</select></label>
    <button id="verify" disabled>Verify my identity</button>
  </div>
  <p id="product-summary" class="muted"></p>
  <div id="error" class="error" role="alert" hidden></div>
</section>

<section id="result-box">
  <h2>3. Result</h2>
  <div>Verification <code id="mbid" class="muted">none yet</code></div>
  <div style="margin-top:.4rem">Status <span id="result" class="badge" data-status="">–</span></div>
  <p id="sentence"></p>
  <div id="pending" hidden><div class="progress"><span></span></div><p id="progress" class="muted"></p></div>
  <p id="times" class="muted"></p>
  <p id="face" hidden></p>
  <div id="identity-card" class="card" hidden>
    <div class="title" id="card-title">Identity (masked)</div>
    <dl id="identity"></dl>
  </div>
</section>

<section id="webhooks-box">
  <h2>4. Webhooks received by <a href="/demo/webhooks"><code>/demo/webhooks</code></a>:
    <span id="webhook-count">0</span></h2>
  <div class="scroll">
    <table id="webhooks" class="stack"><thead><tr><th>time</th><th>webhook-id</th><th>event</th><th>status</th>
    <th>signature</th></tr></thead><tbody></tbody></table>
  </div>
</section>

<script>
const $ = (id) => document.getElementById(id);
const token = () => sessionStorage.getItem("kycDemoToken");
const FIELDS = [["fullName", "Name"], ["surname", "Surname"], ["givenName", "Given name"],
  ["nativeName", "Native name"], ["documentNumber", "Document no."], ["birthDate", "Born"], ["sex", "Sex"],
  ["nationality", "Nationality"], ["issueDate", "Issued"], ["expiryDate", "Expires"],
  ["placeOfIssue", "Place of issue"], ["issuingAuthority", "Issued by"], ["address", "Address"]];
let products = null;  // GET /verifications/products, when the API has it

function showError(code, message) {
  $("error").textContent = code ? code + ": " + message : "";
  $("error").hidden = !code;
}
async function readJson(r) {
  try { return await r.json(); } catch (e) { return {error: {code: "HTTP" + r.status, message: r.statusText}}; }
}
function showSignedIn() {
  const user = sessionStorage.getItem("kycDemoUser");
  $("signed-in").textContent = user ? "Signed in as " + user + "." : "Not signed in.";
  $("verify").disabled = !token();
}
$("sign-in").onclick = async () => {
  showError();
  const user = $("user").value.trim();
  try {
    const r = await fetch("/demo/token?user=" + encodeURIComponent(user));
    const body = await readJson(r);
    if (!r.ok) { showError(body.error.code, body.error.message); return; }
    sessionStorage.setItem("kycDemoToken", body.token);
    sessionStorage.setItem("kycDemoUser", user);
    showSignedIn();
  } catch (e) { showError("NetworkError", "the demo server did not answer"); }
};
function chosenProduct() {
  return products ? products.products.find(p => p.productCode === $("product").value) : null;
}
function showDocTypes() {
  const product = chosenProduct();
  if (!product) return;
  $("doc-row").hidden = !product.verifiesDocument;
  $("doc-type").replaceChildren(...product.docTypes.map(d => {
    const option = new Option(d.name || d.code, d.code); option.title = d.code; return option;
  }));
  $("product-summary").textContent = product.summary
    + (product.verifiesDocument ? "" : " — no document: the result has no identity.");
}
async function loadProducts() {
  try {
    const r = await fetch("/verifications/products");
    if (!r.ok) return;  // an API without the product list: one product, the document types rendered above
    products = await r.json();
    if (!products.products || !products.products.length) { products = null; return; }
    $("product").replaceChildren(...products.products.map(p => new Option(p.productCode, p.productCode)));
    $("product").value = products.defaultProduct || products.products[0].productCode;
    $("product-row").hidden = false;
    $("product").onchange = showDocTypes;
    showDocTypes();
  } catch (e) { products = null; }
}
// One Idempotency-Key per verification the user means to start (docs/integration.md): the same request sent again
// (after a network error, say) is answered with the same verification; another choice on the form is another
// verification. Verify is disabled while a start is under way, so a double click sends one request.
let startKey = null, startBody = null, keyInUseSince = null, leaving = false;
function idempotencyKey(bodyText) {
  if (bodyText !== startBody) {
    const bytes = crypto.getRandomValues(new Uint8Array(16));  // randomUUID() needs a secure context; this does not
    startKey = Array.from(bytes, b => b.toString(16).padStart(2, "0")).join("");
    startBody = bodyText;
    keyInUseSince = null;
  }
  return startKey;
}
// Back from the vendor's page through the browser's page cache: the page is usable again.
window.addEventListener("pageshow", e => { if (e.persisted) { leaving = false; $("verify").disabled = !token(); } });
$("verify").onclick = async () => {
  showError();
  // In production metaInfo comes from the vendor's web SDK: window.getMetaInfo(). The sandbox accepts any.
  const metaInfo = JSON.stringify({deviceType: "web", ua: navigator.userAgent, bioMetaInfo: "sandbox"});
  const body = {metaInfo, returnUrl: location.origin + "/"};
  const product = chosenProduct();
  if (product) body.productCode = product.productCode;
  if (!product || product.verifiesDocument) body.docType = $("doc-type").value;
  const text = JSON.stringify(body);
  $("verify").disabled = true;
  try {
    const r = await fetch("/verifications", {
      method: "POST",
      headers: {"Authorization": "Bearer " + token(), "Content-Type": "application/json",
                "Idempotency-Key": idempotencyKey(text)},
      body: text,
    });
    const answer = await readJson(r);
    if (!r.ok) {
      // 409 IdempotencyKeyInUse: a request with this key is still under way at the server (one whose answer was
      // lost), so the next click may get its answer; a key still refused once the first request has surely ended
      // (140 s: past the initializer's timeout, as deploy.md's page) is given up for a new one.
      if (r.status === 409 && answer.error && answer.error.code === "IdempotencyKeyInUse") {
        keyInUseSince = keyInUseSince ?? Date.now();
        if (Date.now() - keyInUseSince > 140000) startBody = null;
      }
      const wait = r.headers.get("Retry-After");
      showError(answer.error.code, answer.error.message + (wait ? " (try again in " + wait + " s)" : ""));
      return;
    }
    leaving = true;
    startBody = null;  // its vendor page opens once: back here (the page cache), Verify starts a new verification
    localStorage.setItem("kycDemoVerification", answer.merchantBizId);
    location.href = answer.transactionUrl;
  } catch (e) {
    showError("NetworkError", "the API did not answer; is ./scripts/dev still running?");
  } finally {
    if (!leaving) $("verify").disabled = false;
  }
};
function seconds(a, b) { return Math.max(0, Math.round((Date.parse(b) - Date.parse(a)) / 1000)); }
function sentenceFor(v) {
  if (v.status === "PENDING") return "Waiting for the vendor's result.";
  if (v.status === "ABANDONED") return "Nobody finished this verification in time, so it was abandoned. "
    + "A late result from the vendor would still replace it.";
  return v.subCodeMessage || (v.status === "PASSED" ? "The verification passed." : "The verification did not pass.");
}
function progressFor(v) {
  const now = new Date().toISOString();
  let text = v.checkCount > 0 ? "The vendor is still checking… re-checked " + v.checkCount + "×"
                              : "The vendor is still checking… no re-check needed yet";
  if (v.nextCheckAt) text += ", next check in " + seconds(now, v.nextCheckAt) + " s";
  return text + ". Started " + seconds(v.createdAt, now) + " s ago.";
}
function renderVerification(v) {
  $("result").textContent = v.status + (v.subCode ? " · " + v.subCode : "");
  $("result").dataset.status = v.status;
  $("result").className = "badge " + v.status;
  $("sentence").textContent = sentenceFor(v);
  $("pending").hidden = v.status !== "PENDING";
  if (v.status === "PENDING") $("progress").textContent = progressFor(v);
  $("times").textContent = "Started " + new Date(v.createdAt).toLocaleString()
    + (v.finalizedAt ? " · result after " + seconds(v.createdAt, v.finalizedAt) + " s" : "");
  const face = v.face || {};
  const verdicts = [];
  if (face.facePassed !== undefined && face.facePassed !== null)
    verdicts.push("face check " + (face.facePassed ? "passed" : "failed"));
  if (face.faceAttack !== undefined && face.faceAttack !== null)
    verdicts.push(face.faceAttack ? "a presentation attack was detected" : "no presentation attack");
  if (typeof face.faceComparisonScore === "number") verdicts.push("face match score " + face.faceComparisonScore);
  $("face").hidden = !verdicts.length;
  $("face").textContent = verdicts.length ? "Face: " + verdicts.join(" · ") + "." : "";
  const identity = v.identity || {};
  const items = FIELDS.filter(([key]) => identity[key]);
  $("identity-card").hidden = !items.length;
  $("card-title").textContent = (v.docTypeName || "Identity") + " · masked";
  $("identity").replaceChildren(...items.map(([key, label]) => {
    const pair = document.createElement("div");
    const dt = document.createElement("dt"); dt.textContent = label;
    const dd = document.createElement("dd"); dd.textContent = identity[key]; dd.dataset.field = key;
    pair.append(dt, dd);
    return pair;
  }));
}
async function pollVerification() {
  const id = localStorage.getItem("kycDemoVerification");
  if (!id || !token()) return;
  $("mbid").textContent = id;
  const r = await fetch("/verifications/" + id, {headers: {"Authorization": "Bearer " + token()}});
  const v = await readJson(r);
  if (r.ok) { renderVerification(v); return; }
  if (r.status === 401) showError(v.error.code, "your demo sign-in expired or changed: sign in again");
  else if (r.status === 404) showError(v.error.code, "this verification is not yours or no longer exists");
  else showError(v.error.code, v.error.message);
}
async function pollWebhooks() {
  const w = await fetch("/demo/webhooks", {headers: {"Accept": "application/json"}});
  if (!w.ok) return;
  const list = (await w.json()).received;
  $("webhook-count").textContent = String(list.length);
  $("webhooks").tBodies[0].replaceChildren(...list.slice().reverse().map(x => {
    const row = document.createElement("tr");
    const data = (x.event && x.event.data) || {};
    const cells = [new Date(x.receivedAt).toLocaleTimeString(), x.webhookId, (x.event || {}).type || "?",
                   data.status || "?", x.verified ? "✓ verified" : "✗ invalid"];
    const labels = ["time", "webhook-id", "event", "status", "signature"];
    cells.forEach((text, i) => {
      const td = document.createElement("td"); td.textContent = text; td.dataset.label = labels[i];
      if (i === 1) td.className = "id";
      if (i === 4) td.className = x.verified ? "ok" : "bad";
      row.append(td);
    });
    return row;
  }));
}
async function poll() {
  try { await pollVerification(); await pollWebhooks(); } catch (e) { /* the next tick tries again */ }
}
showSignedIn();
loadProducts();
poll();
setInterval(poll, 1000);
</script>
</body>
</html>
"""
