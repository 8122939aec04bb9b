"""FC 3.0 entry point of result_fetcher (HTTP callback + MNS re-checks). Logic: shared.handlers.result_fetcher."""

from __future__ import annotations

from shared.handlers.result_fetcher import ResultFetcherApp

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any

_app: ResultFetcherApp | None = None


def initialize(context: Any) -> None:
    """Runs once per instance (FC's initializer hook): configuration errors fail here, not at a request."""
    global _app  # noqa: PLW0603 - one app per FC instance is the point
    _app = ResultFetcherApp.from_env()


def handler(event: Any, context: Any) -> Any:
    if _app is None:
        initialize(context)
    assert _app is not None
    return _app.handle(event, context)
