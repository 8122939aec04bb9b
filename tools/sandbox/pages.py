"""The verification page served at TransactionUrl: plain HTML, a form, a few lines of inline JS, no assets."""

from __future__ import annotations

from html import escape

from shared.urls import is_safe_url
from tools.sandbox.catalog import DOCUMENT_NAMES
from tools.sandbox.state import DEFAULT_FAIL_SUB_CODE, FACE_ONLY_FAIL_SUB_CODE, Transaction
from tools.sandbox.synth import SPOOF_TYPES

STYLE = """
body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#222}
.banner{background:#fff3cd;border:1px solid #e0c36c;padding:.5rem 1rem;border-radius:4px}
fieldset{margin:1rem 0;border:1px solid #ccc;border-radius:4px}label{display:block;margin:.3rem 0}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}
button{font-size:1rem;padding:.5rem 1.5rem}.opt{margin-left:1.5rem}
"""

SCRIPT = """
function sync(){var o=document.querySelector('input[name=outcome]:checked').value;
document.querySelectorAll('.opt').forEach(function(e){e.hidden=e.dataset.for!==o;});}
document.querySelectorAll('input[name=outcome]').forEach(function(e){e.addEventListener('change',sync);});sync();
"""


def _page(title: str, body: str, status_id: str | None = None) -> str:
    marker = f' id="{status_id}"' if status_id else ""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        '<p class=banner>cloudauth-intl <strong>SANDBOX</strong>: synthetic data, no real verification.</p>'
        f"<h1{marker}>{escape(title)}</h1>{body}</body></html>"
    )


def verify_page(tx: Transaction, session: str) -> str:
    """The flow's page: the fake document (if the product has one) and the outcomes this product can end with."""
    rows = "".join(
        f'<tr><th>{escape(k)}</th><td data-field="{escape(k)}">{escape(v)}</td></tr>' for k, v in tx.identity.items()
    )
    fail_code = DEFAULT_FAIL_SUB_CODE if tx.has_document else FACE_ONLY_FAIL_SUB_CODE
    spoof = "".join(
        f'<label><input type=checkbox name=spoofType value="{t}" id="spoof-type-{t}"'
        f'{" checked" if i == 0 else ""}> {t}</label>'
        for i, t in enumerate(SPOOF_TYPES)
    )
    outcomes = [
        ("pass", "Pass (Passed=Y, SubCode 200)", ""),
        (
            "fail",
            "Fail with a SubCode" if tx.has_document else "Liveness failed (faceAttack=Y) with a SubCode",
            "<div class=opt data-for=fail><label>SubCode (201: a stand-in our table does not know, to show that "
            "path) "
            f'<input id=sub-code name=subCode value="{fail_code}"'
            ' pattern="[A-Za-z0-9]+" list=sub-codes size=6></label><datalist id=sub-codes>'
            # Free-form: the vendor's CheckResult SubCode table could not be read (shared/subcodes.py); 201 is
            # a stand-in with no known meaning, 205 the liveness failure its samples show.
            + "".join(f"<option value={c}>" for c in ("201", "205"))
            + "</datalist></div>",
        ),
        ("spoof", "Document spoof (SubCode 212)", f"<div class=opt data-for=spoof>{spoof}</div>"),
        (
            "pending",
            "Pending (Passed=P, later Y)",
            "<div class=opt data-for=pending><label>P for <input id=pending-checks name=pendingChecks type=number"
            ' min=0 value=2 size=4> CheckResult calls</label><label>and at least <input id=pending-seconds'
            " name=pendingSeconds type=number min=0 step=any value=0 size=4> seconds</label></div>",
        ),
        ("abandon", "Abandon (the flow never finishes)", ""),
    ]
    outcomes = [outcome for outcome in outcomes if outcome[0] in tx.outcomes]
    choices = "".join(
        f'<label><input type=radio name=outcome value={v} id="outcome-{v}"{" checked" if v == "pass" else ""}>'
        f" {escape(text)}</label>{extra}"
        for v, text, extra in outcomes
    )
    if tx.doc_type is not None:
        doc_name = DOCUMENT_NAMES.get(tx.doc_type, tx.doc_type)
        subject = (
            f"<p>Document: <span id=doc-type data-code=\"{escape(tx.doc_type)}\">{escape(doc_name)}</span></p>"
            f"<h2>Recognised (fake) identity</h2><table id=identity>{rows}</table>"
        )
    else:
        subject = "<p id=face-only>Face liveness only: no document, no identity.</p>"
    body = (
        f"<p>Product: <span id=product-code>{escape(tx.product_code)}</span></p>{subject}"
        f'<form id=verify-form method=post action="/verify/{escape(tx.page_token)}/finish">'
        f'<input type=hidden name=session value="{escape(session)}">'
        f"<fieldset><legend>Outcome</legend>{choices}</fieldset>"
        "<button id=finish type=submit>Finish</button></form>"
        f"<script>{SCRIPT}</script>"
    )
    return _page("Identity verification", body)


def return_link(return_url: str | None) -> str:
    """A way back to the merchant from an end page: the transaction's own ReturnUrl, and only a safe http(s) one
    (no other URL is ever offered: the page cannot be made to link anywhere else)."""
    if not return_url or not is_safe_url(return_url):
        return ""
    return f'<p><a id=return href="{escape(return_url)}">Back to the merchant</a></p>'


def expired_page(return_url: str | None = None) -> str:
    return _page(
        "This verification link has expired",
        "<p>TransactionUrl is single-use: this flow was already opened or finished.</p>" + return_link(return_url),
        "expired",
    )


def not_found_page() -> str:
    return _page("Unknown verification link", "<p>No transaction has this link.</p>", "not-found")


def abandoned_page(return_url: str | None = None) -> str:
    return _page(
        "Verification abandoned",
        "<p>The flow never finishes: no callback is sent, CheckResult keeps answering ProcessNotCompleted, and the "
        "merchant's sweeper marks it ABANDONED once it is old enough.</p>" + return_link(return_url),
        "abandoned",
    )


def done_page(return_url: str) -> str:
    link = f'<p><a id=return href="{escape(return_url)}">Continue</a></p>'
    return _page("Verification finished", link, "finished")
