"""What an operator reads in docs/operations.md ("Reading the logs", "Dead letters") against the log events the code
emits. An operator paged by an ERROR line searches the runbook for its event name; every ERROR (and
WARNING) event the functions emit must be explained there.

The events are found in the code itself (shared/, functions/), by reading every logging call whose first argument is
a dotted event name, so a new event cannot be missed by this list."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNBOOK = ROOT / "docs" / "operations.md"
EVENT = re.compile(r"^[a-z_]+\.[a-z_]+$")
ERROR_CALLS = {"error", "exception", "critical"}
WARNING_CALLS = {"warning", "security_event"}


def _emitted() -> dict[str, set[str]]:
    """{event name: {levels}} of every logging call in shared/ and functions/ (logger.log(level, ...) with a
    computed level counts as both ERROR and WARNING, as fetch.transaction_unknown_to_vendor is)."""
    events: dict[str, set[str]] = {}
    for folder in ("shared", "functions"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                args = node.args
                if name == "security_event" and len(args) >= 2:
                    candidate, levels = args[1], {"WARNING"}
                elif name in ERROR_CALLS and args:
                    candidate, levels = args[0], {"ERROR"}
                elif name == "warning" and args:
                    candidate, levels = args[0], {"WARNING"}
                elif name == "log" and len(args) >= 2:
                    candidate, levels = args[1], {"ERROR", "WARNING"}
                else:
                    continue
                if (
                    isinstance(candidate, ast.Constant)
                    and isinstance(candidate.value, str)
                    and EVENT.match(candidate.value)
                ):
                    events.setdefault(candidate.value, set()).update(levels)
    return events


def test_the_scan_finds_the_events_the_runbook_already_explains() -> None:
    emitted = _emitted()
    for known in (
        "sweep.recheck_failed",
        "notify.subscriber_not_configured",
        "fetch.transaction_unknown_to_vendor",
        "callback.bad_token",
        "sweep.vendor_copy_left",
    ):
        assert known in emitted


def test_every_error_event_the_functions_emit_is_explained_in_the_runbook() -> None:
    runbook = RUNBOOK.read_text()
    unexplained = sorted(e for e, levels in _emitted().items() if "ERROR" in levels and e not in runbook)
    assert unexplained == [], f"ERROR events an operator cannot look up in docs/operations.md: {unexplained}"


def test_every_warning_event_the_functions_emit_is_explained_in_the_runbook() -> None:
    runbook = RUNBOOK.read_text()
    unexplained = sorted(e for e, levels in _emitted().items() if levels == {"WARNING"} and e not in runbook)
    assert unexplained == [], f"WARNING events an operator cannot look up in docs/operations.md: {unexplained}"
