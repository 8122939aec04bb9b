"""FC 3.0 entry point of the notifier function (MNS queue trigger). The logic lives in shared.handlers.notifier."""

from __future__ import annotations

from typing import Any

from shared.handlers.notifier import NotifierApp

_app: NotifierApp | None = None


def initialize(context: Any) -> None:
    """Runs once per instance (FC's initializer hook): configuration errors fail here, not at a request."""
    global _app  # noqa: PLW0603 - one app per FC instance is the point
    _app = NotifierApp.from_env()


def handler(event: Any, context: Any) -> Any:
    if _app is None:
        initialize(context)
    assert _app is not None
    return _app.handle(event, context)
