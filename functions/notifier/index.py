"""FC 3.0 entry point of the notifier function (MNS queue trigger). The logic lives in shared.handlers.notifier."""

from __future__ import annotations

from shared.handlers.startup import collector_paused

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any

    from shared.handlers.notifier import NotifierApp

_app: NotifierApp | None = None


def initialize(context: Any) -> None:
    """Runs once per instance (FC's initializer hook): loads the function's code and reads its configuration, with
    the cyclic garbage collector paused (shared.handlers.startup); configuration errors fail here, not at a request."""
    global _app  # noqa: PLW0603 - one app per FC instance is the point
    with collector_paused():
        from shared.handlers.notifier import NotifierApp  # noqa: PLC0415 - loaded while the collector is paused

        _app = NotifierApp.from_env()


def handler(event: Any, context: Any) -> Any:
    if _app is None:
        initialize(context)
    assert _app is not None
    return _app.handle(event, context)
