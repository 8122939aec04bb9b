"""What a doctor check reports (:class:`Finding`), how each check is bounded by its deadline, and how findings print.

A check is a function returning one finding or several. :func:`run_bounded` runs it in a daemon thread and waits at
most the deadline: a check whose network call hangs past its own timeouts is reported as a problem ("no answer
within N s") and left behind, so the doctor always finishes. An exception inside a check is a problem too, reported
by its type only (an exception's message may carry data).

Printing: one line per finding, ``<status>  <check>  <what>[ — fix: <how>]``, or one JSON object per line with
``--json``. Every line passes :func:`shared.redaction.scrub_text` on its way out, after the values of the
environment's secret variables were registered (:func:`register_secrets`): the checks never format a variable's
value, and this makes sure a mistake there cannot print one either.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TextIO
from urllib.parse import urlsplit

from shared import jsonutil
from shared.redaction import register_secret, scrub_text


class Status(str, Enum):
    OK = "ok"
    PROBLEM = "problem"
    SKIPPED = "skipped"  # not run: what it needs failed (and is reported) or does not apply


@dataclass(frozen=True)
class Finding:
    check: str
    status: Status
    detail: str
    fix: str | None = None

    def line(self, width: int = 24) -> str:
        text = f"{self.status.value:<8} {self.check:<{width}} {self.detail}"
        if self.fix:
            text += f" — fix: {self.fix}"
        return scrub_text(text)

    def as_dict(self) -> dict[str, str]:
        item = {"check": self.check, "status": self.status.value, "detail": scrub_text(self.detail)}
        if self.fix:
            item["fix"] = scrub_text(self.fix)
        return item


def ok(check: str, detail: str) -> Finding:
    return Finding(check, Status.OK, detail)


def problem(check: str, detail: str, fix: str) -> Finding:
    return Finding(check, Status.PROBLEM, detail, fix)


def skipped(check: str, detail: str) -> Finding:
    return Finding(check, Status.SKIPPED, detail)


#: The fix of a refused connection to this machine when no ./scripts/dev runs in the data directory: what the
#: report's first line says at length already, so each such line stays short.
NO_STACK_FIX = "no stack running? start ./scripts/dev"


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def connection_refused(check: str, shown: str, host: str, options: Options, fix: str) -> Finding:
    """``shown`` (an endpoint as displayed) refused the connection: nothing listens on that port. On this machine
    with no ./scripts/dev running (``options.no_local_stack``), that is why, and the fix says so."""
    return problem(check, f"{shown}: connection refused",
                   NO_STACK_FIX if options.no_local_stack and is_loopback(host) else fix)


def refuses_connections(url: str, timeout: float) -> bool:
    """Whether ``url``'s host, when it is this machine, refuses a connection to its port: for adapters that report
    a transport error without its cause. Never connects anywhere else."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False
    if not is_loopback(host):
        return False
    try:
        socket.create_connection((host, port), timeout=min(timeout, 1.0)).close()
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    return False


Check = Callable[[], "Finding | Sequence[Finding]"]


def run_bounded(name: str, check: Check, deadline: float, *, on_timeout: str) -> list[Finding]:
    """Run ``check`` with at most ``deadline`` seconds to answer; ``on_timeout`` is the fix printed if it did not."""
    outcome: list[Finding | Sequence[Finding] | BaseException] = []

    def target() -> None:
        try:
            outcome.append(check())
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=target, name=f"doctor-{name}", daemon=True)
    worker.start()
    worker.join(deadline)
    if not outcome:
        return [problem(name, f"no answer within {deadline:g} s", on_timeout)]
    result = outcome[0]
    if isinstance(result, BaseException):
        return [
            problem(
                name,
                f"the check itself failed ({type(result).__name__})",
                "run again with KYC_LOG_LEVEL=DEBUG and report it; the other checks still apply",
            )
        ]
    return [result] if isinstance(result, Finding) else list(result)


#: Variable names whose values are secrets, by suffix (the access key secret, STS token, JWT secrets, pepper, webhook
#: list). Registered for scrubbing before any check runs; the settings classes register what they read as well.
_SECRET_SUFFIXES = ("SECRET", "SECRETS", "TOKEN", "PEPPER", "WEBHOOKS", "PASSWORD")


def register_secrets(env: Mapping[str, str]) -> None:
    for name, value in env.items():
        if not value or not name.upper().endswith(_SECRET_SUFFIXES):
            continue
        register_secret(value)
        for item in value.split(","):
            register_secret(item.strip())


def print_findings(findings: Sequence[Finding], out: TextIO, *, as_json: bool) -> None:
    for finding in findings:
        out.write((jsonutil.dumps_str(finding.as_dict()) if as_json else finding.line()) + "\n")


def summary(findings: Sequence[Finding]) -> str:
    counts = {status: sum(1 for f in findings if f.status is status) for status in Status}
    problems = counts[Status.PROBLEM]
    head = "no problem found" if problems == 0 else f"{problems} problem{'s' if problems != 1 else ''}"
    return f"{head} ({counts[Status.OK]} ok, {counts[Status.SKIPPED]} skipped)"


@dataclass(frozen=True)
class Options:
    """``timeout``: each check's deadline in seconds (network calls get at most that as their own timeouts).
    ``tls_context``: builds the context that verifies certificates (tests pass one trusting their own CA).
    ``no_local_stack``: no ./scripts/dev runs in the data directory (a refused port on this machine says so)."""

    timeout: float = 10.0
    tls_context: Callable[[], ssl.SSLContext] = ssl.create_default_context
    no_local_stack: bool = False
