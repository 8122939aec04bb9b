"""An invocation's time budget: how much of FC's timeout is left, so work that must not be cut off part-way is only
started when it can finish.

Every external call has its own deadline (the vendor's ``CLOUDAUTH_CALL_DEADLINE``, the stores' ``call_deadline``,
MNS's); a budget is the invocation's: made when the handler is called, from the function's timeout in FC's
``context``. Code that is about to start something it must finish (a billed Initialize and its row; the sweeper's
next row) asks :meth:`InvocationBudget.has` for the seconds that work can take at its deadlines, and leaves it to a
later invocation (an answer to try again, the next sweep) when the budget cannot cover them.

Without an FC timeout (the CLI, the tests, a context without one) the budget is unbounded: nothing there ends an
invocation part-way. The local stack's gateway passes each function's s.yaml timeout in its context, so the local
functions decide as the deployed ones do.

Stdlib only (``time``): every handler imports it at cold start.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any

#: "Function Compute: Context" (Python runtimes, Sep 2025): the context's ``function`` is a FunctionMeta with
#: ``name``, ``handler``, ``memory`` and ``timeout`` (python3.10; python3.12 adds ``version_id`` and ``qualifier``).
#: The page does not state the unit of ``timeout``: seconds, as the function's configured timeout is given
#: (*unverified* for the context's field); nor whether FC's clock starts before the handler is called (*unverified*:
#: the callers' margins cover the moments before it).
CONTEXT_FUNCTION = "function"
CONTEXT_TIMEOUT = "timeout"


def context_timeout(context: Any) -> float | None:
    """The function's timeout (seconds) from FC's ``context``; None without a context or a positive number there."""
    timeout = getattr(getattr(context, CONTEXT_FUNCTION, None), CONTEXT_TIMEOUT, None)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        return None
    return float(timeout)


class InvocationBudget:
    """The seconds an invocation has left, counted on ``clock`` (monotonic: a wall-clock step changes nothing)
    from when the budget was made. ``seconds`` None: unbounded (``left()`` is infinite, ``has`` always true)."""

    __slots__ = ("_clock", "_ends_at", "total")

    def __init__(self, seconds: float | None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = math.inf if seconds is None else max(0.0, float(seconds))
        self._clock = clock
        self._ends_at = clock() + self.total

    @classmethod
    def from_context(cls, context: Any, *, clock: Callable[[], float] = time.monotonic) -> InvocationBudget:
        """The budget of an invocation that starts now: FC's ``context.function.timeout``, or unbounded."""
        return cls(context_timeout(context), clock=clock)

    @classmethod
    def unbounded(cls) -> InvocationBudget:
        return cls(None)

    @property
    def bounded(self) -> bool:
        return self.total != math.inf

    def left(self) -> float:
        """Seconds left (never below zero)."""
        return max(0.0, self._ends_at - self._clock()) if self.bounded else math.inf

    def has(self, seconds: float) -> bool:
        """Whether ``seconds`` of work started now ends within the budget."""
        return self.left() >= seconds

    def __repr__(self) -> str:
        return f"InvocationBudget(left={self.left():.1f}s of {self.total:.1f}s)"
