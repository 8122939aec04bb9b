"""The sandbox's control API under ``/_sandbox/``, described as data: ``GET /_sandbox/`` answers this list.

The handlers live in :mod:`tools.sandbox.server` (``Handler._control``); ``tests/sandbox/test_control.py`` checks that
every endpoint listed here answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

from tools.sandbox.state import OUTCOMES


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    does: str
    body: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method, "path": self.path, "does": self.does}
        if self.body is not None:
            out["body"] = self.body
        return out


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/_sandbox/", "this list"),
    Endpoint("GET", "/_sandbox/health", "the sandbox's access key id, base URL and region"),
    Endpoint("GET", "/_sandbox/transactions", "every transaction, oldest first (ids, product, status, outcome)"),
    Endpoint("GET", "/_sandbox/transactions/{transactionId}",
             "one transaction in detail: its URLs, parameters, fake identity, outcome and checks"),
    Endpoint("POST", "/_sandbox/transactions/{transactionId}/complete",
             "finish the flow as the person on the verification page would; the callback follows "
             "(none for abandon); 409 once finished",
             {"outcome": " | ".join(OUTCOMES), "subCode": "fail: the SubCode (default 201, face-only 205)",
              "spoofTypes": "spoof: e.g. [\"SCREEN_REMARK\"]", "pendingChecks": "pending: CheckResult answers P "
              "this many times", "pendingSeconds": "pending: and for at least this long",
              "resolvesTo": "pending: pass | fail", "finalSubCode": "pending: the SubCode it resolves with",
              "identity": "override fields of the fake identity, e.g. {\"surname\": \"CHAN\"}"}),
    Endpoint("GET", "/_sandbox/faults", "the fault plan in force"),
    Endpoint("POST", "/_sandbox/faults", "replace the fault plan (errors, delays, drops per operation; callback "
             "duplicates, delay, loss; forced pending answers)",
             {"seed": 7, "operations": {"CheckResult": {"sequence": ["InternalError", "ok"],
                                                        "errorRates": {"Throttling.Api": 0.1}}},
              "callbacks": {"duplicates": 2, "delaySeconds": 1.5, "dropRate": 0.05}, "pendingChecks": 0}),
    Endpoint("GET", "/_sandbox/callbacks", "every callback the sandbox sent or dropped, with its answer"),
    Endpoint("POST", "/_sandbox/reset", "forget every transaction, callback, fault plan and nonce"),
)  # fmt: skip


def index(access_key_id: str, base_url: str) -> dict[str, Any]:
    return {
        "sandbox": "cloudauth-intl sandbox: the vendor's API at /, verification pages at /verify/, control here",
        "accessKeyId": access_key_id,
        "baseUrl": base_url,
        "endpoints": [endpoint.as_dict() for endpoint in ENDPOINTS],
    }


def index_html(access_key_id: str, base_url: str) -> str:
    rows = "".join(
        f"<tr><td>{e.method}</td><td><code>{escape(e.path)}</code></td><td>{escape(e.does)}</td></tr>"
        for e in ENDPOINTS
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1"><title>Sandbox control API</title>'
        "<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
        "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;"
        "vertical-align:top}</style></head><body><h1>cloudauth-intl sandbox: control API</h1>"
        f"<p>Base URL <code>{escape(base_url)}</code>, access key id <code>{escape(access_key_id)}</code>. "
        "Bodies are JSON; the same list is JSON for any client that does not ask for HTML.</p>"
        f"<table id=endpoints><tr><th>method</th><th>path</th><th>does</th></tr>{rows}</table></body></html>"
    )
