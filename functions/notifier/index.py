"""FC 3.0 entry point of the notifier function (MNS queue trigger). The logic lives in shared.handlers.notifier."""

from __future__ import annotations

from shared.handlers.notifier import NotifierApp

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any

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
