"""The demo merchant (dev only): a page that runs a verification end to end, and a webhook receiver.

Both are FC-style handlers served by the local gateway, written with :mod:`shared.fc` like the real functions.
The receiver verifies Standard Webhooks signatures and keeps what arrived in memory; it can be told to fail
its next N deliveries, which is how a lost webhook and its retry are demonstrated (and tested).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from shared import jsonutil
from shared.auth import issue_token
from shared.doctypes import DOC_TYPES
from shared.fc import HttpError, HttpEvent, Router, http_response
from shared.webhooks import WebhookVerificationError, verify


@dataclass
class ReceivedWebhook:
    webhook_id: str
    timestamp: str
    signature: str
    body: bytes
    received_at: float
    verified: bool

    def as_dict(self) -> dict[str, Any]:
        try:
            event = jsonutil.loads(self.body)
        except jsonutil.JSONDecodeError:
            event = None
        return {
            "webhookId": self.webhook_id,
            "webhookTimestamp": self.timestamp,
            "webhookSignature": self.signature,
            "verified": self.verified,
            "receivedAt": self.received_at,
            "event": event,
        }


@dataclass
class WebhookInbox:
    """What the demo receiver got, and how many of the next deliveries it should refuse."""

    received: list[ReceivedWebhook] = field(default_factory=list)
    refused: int = 0
    fail_next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class DemoApp:
    def __init__(self, *, jwt_secret: str, webhook_secret: str, token_ttl: int = 3600) -> None:
        self.jwt_secret = jwt_secret
        self.webhook_secret = webhook_secret
        self.token_ttl = token_ttl
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
        options = "".join(f'<option value="{d.code}">{d.name}</option>' for d in DOC_TYPES.values())
        html = DEMO_PAGE.replace("{{DOC_OPTIONS}}", options)
        return http_response(200, html, {"content-type": "text/html; charset=utf-8", "cache-control": "no-store"})

    def token(self, event: HttpEvent) -> dict[str, Any]:
        user = event.query.get("user", "").strip()
        if not user or len(user) > 64:
            raise HttpError(400, "InvalidParameter", "user must be 1-64 characters")
        return http_response(200, {"token": issue_token(user, self.jwt_secret, ttl=self.token_ttl)})

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
            items = [r.as_dict() for r in self.inbox.received]
            refused = self.inbox.refused
        return http_response(200, {"received": items, "refused": refused})

    def fail_next(self, event: HttpEvent) -> dict[str, Any]:
        body = event.json_object()
        count = body.get("count")
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= 1000:
            raise HttpError(400, "InvalidParameter", "count must be a whole number from 0 to 1000")
        with self.inbox.lock:
            self.inbox.fail_next = count
        return http_response(200, {"failNext": count})


DEMO_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Demo merchant — identity verification</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 44rem; margin: 2rem auto; padding: 0 1rem; color: #1d2330; }
  h1 { font-size: 1.4rem; } section { border: 1px solid #d8dce6; border-radius: 8px; padding: 1rem; margin: 1rem 0; }
  button { padding: .5rem 1rem; font-size: 1rem; cursor: pointer; } .muted { color: #667; font-size: .9rem; }
  pre { background: #f5f6f9; padding: .75rem; overflow-x: auto; } .status { font-weight: 600; }
  .PASSED { color: #12805c; } .FAILED, .ABANDONED { color: #b3261e; } .PENDING { color: #8a6d00; }
</style>
</head>
<body>
<h1>Demo merchant</h1>
<p class="muted">A stand-in for your web shop: it signs a user in, starts a verification with the backend and
shows the (masked) result. Everything here runs locally against the cloudauth-intl sandbox.</p>

<section id="signin">
  <label>User id <input id="user" value="demo-user" maxlength="64"></label>
  <button id="sign-in">Sign in</button>
  <span id="signed-in" class="muted"></span>
</section>

<section id="start">
  <label>Document <select id="doc-type">{{DOC_OPTIONS}}</select></label>
  <button id="verify" disabled>Verify my identity</button>
  <p id="error" class="muted" role="alert"></p>
</section>

<section id="result-box">
  <div>Verification: <span id="mbid" class="muted">none yet</span></div>
  <div>Status: <span id="result" class="status" data-status="">–</span></div>
  <pre id="details"></pre>
</section>

<section>
  <div>Webhooks received by <code>/demo/webhooks</code>: <span id="webhook-count">0</span></div>
  <pre id="webhooks"></pre>
</section>

<script>
const $ = (id) => document.getElementById(id);
const token = () => sessionStorage.getItem("kycDemoToken");
function showSignedIn() {
  const user = sessionStorage.getItem("kycDemoUser");
  $("signed-in").textContent = user ? "signed in as " + user : "";
  $("verify").disabled = !token();
}
$("sign-in").onclick = async () => {
  const user = $("user").value.trim();
  const r = await fetch("/demo/token?user=" + encodeURIComponent(user));
  const body = await r.json();
  if (!r.ok) { $("error").textContent = body.error.message; return; }
  sessionStorage.setItem("kycDemoToken", body.token);
  sessionStorage.setItem("kycDemoUser", user);
  showSignedIn();
};
$("verify").onclick = async () => {
  $("error").textContent = "";
  // In production metaInfo comes from the vendor's web SDK: window.getMetaInfo(). The sandbox accepts any.
  const metaInfo = JSON.stringify({deviceType: "web", ua: navigator.userAgent, bioMetaInfo: "sandbox"});
  const r = await fetch("/verifications", {
    method: "POST",
    headers: {"Authorization": "Bearer " + token(), "Content-Type": "application/json"},
    body: JSON.stringify({docType: $("doc-type").value, metaInfo, returnUrl: location.origin + "/"}),
  });
  const body = await r.json();
  if (!r.ok) { $("error").textContent = body.error.code + ": " + body.error.message; return; }
  localStorage.setItem("kycDemoVerification", body.merchantBizId);
  location.href = body.transactionUrl;
};
async function poll() {
  const id = localStorage.getItem("kycDemoVerification");
  if (id && token()) {
    $("mbid").textContent = id;
    const r = await fetch("/verifications/" + id, {headers: {"Authorization": "Bearer " + token()}});
    if (r.ok) {
      const v = await r.json();
      $("result").textContent = v.status + (v.subCode ? " (subCode " + v.subCode + ")" : "");
      $("result").dataset.status = v.status;
      $("result").className = "status " + v.status;
      $("details").textContent = JSON.stringify({docType: v.docTypeName, identity: v.identity}, null, 2);
    }
  }
  const w = await fetch("/demo/webhooks");
  if (w.ok) {
    const list = (await w.json()).received;
    $("webhook-count").textContent = String(list.length);
    $("webhooks").textContent = list.map(x => x.webhookId + "  " + x.event.type + "  " + x.event.data.status
      + (x.verified ? "  ✓ signature" : "  ✗ signature")).join("\\n");
  }
}
showSignedIn();
poll();
setInterval(poll, 1000);
</script>
</body>
</html>
"""
