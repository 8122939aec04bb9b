"""FC 3.0 entry point of the sweeper function (timer trigger). The logic lives in shared.handlers.sweeper."""

from __future__ import annotations

from shared.handlers.sweeper import SweeperApp

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any

_app: SweeperApp | None = None


def initialize(context: Any) -> None:
    """Runs once per instance (FC's initializer hook): configuration errors fail here, not at a request."""
    global _app  # noqa: PLW0603 - one app per FC instance is the point
    _app = SweeperApp.from_env()


def handler(event: Any, context: Any) -> Any:
    if _app is None:
        initialize(context)
    assert _app is not None
    return _app.handle(event, context)
