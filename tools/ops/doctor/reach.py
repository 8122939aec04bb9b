"""Checks of the two kinds of URLs the deployment depends on: its own public URL, and the merchant's webhooks.

* ``KYC_PUBLIC_URL``: the vendor calls ``<KYC_PUBLIC_URL>/callback/<merchantBizId>``; with the aliyun backend it
  must be https. The doctor sends ``GET /callback/-`` (no verification has that id), which result_fetcher answers
  ``400 InvalidParameter`` without reading or writing anything (``shared/handlers/result_fetcher.py``,
  ``ResultFetcherApp.callback``): that answer proves the URL reaches result_fetcher under the path the vendor is
  given, not just some server (a custom domain routing only ``/callback``, as s.yaml's example once did, fails it).
  No redirect is followed, certificates are verified.
* webhooks: each subscriber of ``KYC_WEBHOOKS`` goes through the notifier's own SSRF guard
  (``shared.delivery.vet_target`` with ``WebhookSettings.target_policy``): URL hygiene, scheme, name resolved and every
  address checked. Nothing is sent to a subscriber.

URLs are printed with :func:`shared.urls.display_url` (scheme, host, port): paths and queries may hold tokens.
"""

from __future__ import annotations

import http.client
from collections.abc import Mapping
from functools import partial
from typing import Any

from shared import jsonutil
from shared.callback import CALLBACK_PATH
from shared.config import ConfigError, is_aliyun_backend
from shared.delivery import TargetRefused, vet_target
from shared.http_deadline import Deadline
from shared.notifications import WebhookSettings
from shared.urls import UnsafeUrl, check_url, display_url, plain_http_allowed

from .report import Check, Finding, Options, connection_refused, ok, problem, skipped

PUBLIC_URL_FIX = ("KYC_PUBLIC_URL must be result_fetcher's HTTP trigger URL, or the https custom domain that routes "
                  "/callback/* to it (docs/deploy.md, 4)")
#: A callback naming no possible verification ("-" is no merchantBizId), and what result_fetcher answers it
#: (shared/handlers/result_fetcher.py) before it reads anything.
CALLBACK_PROBE = f"{CALLBACK_PATH}/-"
CALLBACK_PROBE_STATUS, CALLBACK_PROBE_CODE = 400, "InvalidParameter"


def check_public_url(env: Mapping[str, str], options: Options) -> Finding:
    name = "public-url"
    raw = (env.get("KYC_PUBLIC_URL") or "").strip()
    if not raw:
        return problem(name, "KYC_PUBLIC_URL is not set", PUBLIC_URL_FIX)
    try:
        parts = check_url(raw)
    except UnsafeUrl as exc:
        return problem(name, f"KYC_PUBLIC_URL is not a usable URL ({exc})", PUBLIC_URL_FIX)
    shown = display_url(raw)
    https = parts.scheme == "https"
    if is_aliyun_backend(env) and not https and not plain_http_allowed(raw):
        return problem(name, f"{shown} is not https; the vendor calls it, and the aliyun backend requires https",
                       PUBLIC_URL_FIX)
    host = parts.hostname or ""
    path = parts.path.rstrip("/") + CALLBACK_PROBE
    timeout = Deadline(options.timeout).remaining()
    connection: http.client.HTTPConnection = (
        http.client.HTTPSConnection(host, parts.port, timeout=timeout, context=options.tls_context()) if https
        else http.client.HTTPConnection(host, parts.port, timeout=timeout)
    )
    try:
        connection.request("GET", path, headers={"accept": "application/json", "user-agent": "kyc-doctor/1"})
        response = connection.getresponse()
        status, body = response.status, response.read(64 * 1024)
    except TimeoutError:
        return problem(name, f"{shown} did not answer within {options.timeout:g} s", PUBLIC_URL_FIX)
    except ConnectionRefusedError:
        return connection_refused(name, shown, host, options, PUBLIC_URL_FIX)
    except OSError as exc:  # unreachable, TLS (ssl.SSLError is an OSError)
        reason = getattr(exc, "verify_message", None) or type(exc).__name__
        return problem(name, f"{shown} does not answer ({reason})", PUBLIC_URL_FIX)
    except http.client.HTTPException as exc:
        return problem(name, f"{shown} answers, but not HTTP ({type(exc).__name__})", PUBLIC_URL_FIX)
    finally:
        connection.close()
    if status == CALLBACK_PROBE_STATUS and _error_code(body) == CALLBACK_PROBE_CODE:
        return ok(name, f"{shown}{CALLBACK_PATH}/… reaches result_fetcher (it answered {status} {CALLBACK_PROBE_CODE} "
                        "to a callback naming no verification)")
    return problem(name, f"{shown}{CALLBACK_PROBE} answers HTTP {status}, not as result_fetcher does", PUBLIC_URL_FIX)


def _error_code(body: bytes) -> str | None:
    try:
        data: Any = jsonutil.loads(body)
    except jsonutil.JSONDecodeError:
        return None
    error = data.get("error") if isinstance(data, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


_REFUSALS = {
    "invalid_url": ("its URL has a control, whitespace, invisible or backslash character, or does not parse",
                    "fix the url of this KYC_WEBHOOKS item"),
    "https_required": ("is not https, which the aliyun backend requires", "use an https URL"),
    "target_not_allowed": ("resolves to a private, loopback or link-local address, which the SSRF guard refuses",
                           "use the subscriber's public address (KYC_WEBHOOK_ALLOW_PRIVATE=Y is for local "
                           "development)"),
    "dns_error": ("does not resolve", "check the host name of this KYC_WEBHOOKS item"),
    "timeout": ("did not resolve in time", "check this machine's DNS resolver, then the host name"),
}


def webhook_checks(env: Mapping[str, str], options: Options) -> list[Finding] | list[tuple[str, Check]]:
    """One check per subscriber (each with its own deadline), or the one finding that says why there is none."""
    try:
        settings = WebhookSettings.from_env(env)
    except ConfigError as exc:
        return [skipped("webhooks", f"KYC_WEBHOOKS is not usable ({exc.variable}; see config.notifier)")]
    if not settings.subscribers:
        return [skipped("webhooks", "KYC_WEBHOOKS lists no subscriber: results are kept, nobody is notified")]
    count = len(settings.subscribers)
    checks: list[tuple[str, Check]] = []
    for index, subscriber in enumerate(settings.subscribers, start=1):
        name = f"webhook {index}/{count}"
        checks.append((name, partial(_check_subscriber, name, subscriber.url, settings, options)))
    return checks


def _check_subscriber(name: str, url: str, settings: WebhookSettings, options: Options) -> Finding:
    policy = settings.target_policy
    shown = display_url(url)
    try:
        target = vet_target(url, policy, Deadline(options.timeout))
    except TargetRefused as refused:
        what, fix = _REFUSALS.get(refused.error, (f"is refused ({refused.error})", "fix this KYC_WEBHOOKS item"))
        return problem(name, f"{shown} {what}", fix)
    allowed = " (private addresses allowed: KYC_WEBHOOK_ALLOW_PRIVATE)" if policy.allow_private else ""
    addresses = ", ".join(target.addresses)
    return ok(name, f"{shown} passes the SSRF guard: it resolves to {addresses}{allowed}; nothing was sent")
