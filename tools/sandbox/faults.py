"""Fault injection: per operation error/delay/drop rates or exact sequences, callback faults, forced pending.

A plan is posted as JSON to ``POST /_sandbox/faults`` (it replaces the previous plan)::

    {"seed": 7,
     "operations": {"CheckResult": {"sequence": ["InternalError", "drop-before", "delay:0.2", "ok"],
                                    "errorRates": {"InternalError": 0.1, "Throttling.Api": 0.05},
                                    "delayRate": 0.5, "delaySeconds": 0.2,
                                    "dropRate": 0.1, "dropWhen": "after"},
                    "*": {...}},                      # applies to operations without their own entry
     "callbacks": {"duplicates": 2, "delaySeconds": 1.5, "drop": false, "dropRate": 0.05},
     "pendingChecks": 2}                             # every finished transaction answers Passed=P that many times

``seed`` and ``operations`` are every double's fault plan (:mod:`tools.faultplan`: sequences, rates, drops, delays),
with the error codes the sandbox knows (``InternalError``, ``Throttling.Api``, ``Forbidden.*``, ...); ``callbacks``
and ``pendingChecks`` are the sandbox's own. A callback's ``dropRate`` draws from the plan's one seeded generator.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tools.faultplan import Decision, FaultPlan, FaultPlanError, check_rate, check_seconds
from tools.sandbox.errors import ERRORS

_OWN_FIELDS = frozenset({"callbacks", "pendingChecks"})
_PLAN_FIELDS = frozenset({"seed", "operations"})
MAX_COUNT = 1000


@dataclass(frozen=True)
class CallbackFaults:
    duplicates: int = 1  # how many times each callback is sent
    delay_seconds: float = 0.0
    drop: bool = False  # never sent
    drop_rate: float = 0.0  # share of transactions whose callbacks (all duplicates) are never sent


def _count(value: Any, name: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_COUNT:
        raise FaultPlanError(f"{name} must be a whole number between {minimum} and {MAX_COUNT}")
    return value


def _callbacks(spec: Any) -> CallbackFaults:
    if not isinstance(spec, Mapping):
        raise FaultPlanError("callbacks must be an object")
    if set(spec) - {"duplicates", "delaySeconds", "drop", "dropRate"}:
        raise FaultPlanError("callbacks has unknown fields")
    drop = spec.get("drop", False)
    if not isinstance(drop, bool):
        raise FaultPlanError("callbacks.drop must be true or false")
    return CallbackFaults(
        duplicates=_count(spec.get("duplicates", 1), "callbacks.duplicates", minimum=1),
        delay_seconds=check_seconds(spec.get("delaySeconds", 0.0), "callbacks.delaySeconds"),
        drop=drop,
        drop_rate=check_rate(spec.get("dropRate", 0.0), "callbacks.dropRate"),
    )


class FaultInjector:
    """Thread-safe holder of the current plan; every decision draws from the plan's one seeded generator."""

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._default_seed = seed
        self._plan: dict[str, Any] = {}
        self._operations = FaultPlan(seed=seed)
        self._callbacks = CallbackFaults()
        self._pending_checks = 0

    def configure(self, plan: Any) -> None:
        """Validate all of ``plan``, then replace the current one (``FaultPlanError`` naming the field)."""
        if not isinstance(plan, Mapping):
            raise FaultPlanError("the fault plan must be a JSON object")
        unknown = set(plan) - _PLAN_FIELDS - _OWN_FIELDS
        if unknown:
            raise FaultPlanError(f"unknown fields: {', '.join(sorted(map(str, unknown)))}")
        operations = FaultPlan.parse(
            {name: plan[name] for name in _PLAN_FIELDS if name in plan},
            error_codes=ERRORS,
            default_seed=self._default_seed,
        )
        callbacks = _callbacks(plan.get("callbacks", {}))
        pending = _count(plan.get("pendingChecks", 0), "pendingChecks")
        with self._lock:
            self._plan = dict(plan)
            self._operations = operations
            self._callbacks = callbacks
            self._pending_checks = pending

    def reset(self) -> None:
        self.configure({})

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._plan)

    @property
    def callbacks(self) -> CallbackFaults:
        with self._lock:
            return self._callbacks

    @property
    def pending_checks(self) -> int:
        with self._lock:
            return self._pending_checks

    def drop_callback(self) -> bool:
        """Whether this transaction's callback is lost: ``drop``, or one seeded draw against ``dropRate``."""
        with self._lock:
            faults, operations = self._callbacks, self._operations
        return faults.drop or (faults.drop_rate > 0 and operations.draw() < faults.drop_rate)

    def decide(self, operation: str) -> Decision:
        with self._lock:
            operations = self._operations
        return operations.decide(operation)
