"""The sweeper function (timer trigger): recovery of stuck transactions, the notification outbox, retention."""

from __future__ import annotations

from collections.abc import Mapping

from shared.fc.budget import InvocationBudget
from shared.log import get_logger, log_context
from shared.sweeper import Sweeper
from shared.wiring import build_sweeper

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any

logger = get_logger("kyc.sweeper")


class SweeperApp:
    def __init__(self, sweeper: Sweeper) -> None:
        self.sweeper = sweeper

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SweeperApp:
        return cls(build_sweeper(env))

    def handle(self, event: Any, context: Any) -> dict[str, Any]:
        """The timer event's content does not matter: every run sweeps whatever is due, within the function's
        timeout (``context``)."""
        budget = InvocationBudget.from_context(context)
        with log_context(request_id=getattr(context, "request_id", None)):
            return self.sweeper.sweep(budget).as_dict()
