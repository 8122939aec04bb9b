"""How a point in time is written wherever people or clients read it: RFC 3339 in UTC (``2026-11-30T09:20:00.123Z``).

The stores keep unix seconds (floats); the HTTP API, the webhooks and the operator tools print this form.
"""

from __future__ import annotations

from datetime import datetime, timezone

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import overload


if TYPE_CHECKING:  # the overloads alone in their block, so that mypy joins them to the definition below

    @overload
    def rfc3339(epoch: float) -> str: ...

    @overload
    def rfc3339(epoch: None) -> None: ...


def rfc3339(epoch: float | None) -> str | None:
    """``epoch`` (unix seconds) as RFC 3339 / ISO 8601 UTC with milliseconds and ``Z``; ``None`` stays ``None``."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")

