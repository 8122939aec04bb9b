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

A sequence is consumed one item per request of that operation; once it is exhausted the rates apply.
Items: ``ok``, any error code the sandbox knows (``InternalError``, ``Throttling.Api``, ``Forbidden.*``, ...),
``drop-before`` (close the socket before reading the request body), ``drop-after`` (process the request, then
close without answering: the operation's side effects happened), ``delay:<seconds>`` (answer late).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tools.sandbox.errors import ERRORS

DROP_WHEN = ("before", "after")


class FaultPlanError(ValueError):
    """The posted plan is malformed; the message names the offending field."""


@dataclass(frozen=True)
class Decision:
    """What to do with one request."""

    error: str | None = None
    delay: float = 0.0
    drop: str | None = None  # "before" | "after"


OK = Decision()


@dataclass
class OperationFaults:
    sequence: list[Decision] = field(default_factory=list)
    error_rates: dict[str, float] = field(default_factory=dict)
    delay_rate: float = 0.0
    delay_seconds: float = 0.0
    drop_rate: float = 0.0
    drop_when: str = "before"


@dataclass(frozen=True)
class CallbackFaults:
    duplicates: int = 1  # how many times each callback is sent
    delay_seconds: float = 0.0
    drop: bool = False  # never sent
    drop_rate: float = 0.0  # share of transactions whose callbacks (all duplicates) are never sent


def _rate(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
        raise FaultPlanError(f"{name} must be a number between 0 and 1")
    return float(value)


def _seconds(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) <= 300.0:
        raise FaultPlanError(f"{name} must be a number of seconds between 0 and 300")
    return float(value)


def _count(value: Any, name: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= 1000:
        raise FaultPlanError(f"{name} must be a whole number between {minimum} and 1000")
    return value


def parse_item(item: Any, name: str) -> Decision:
    if not isinstance(item, str):
        raise FaultPlanError(f"{name} items must be strings")
    if item == "ok":
        return OK
    if item in ("drop-before", "drop-after"):
        return Decision(drop=item.removeprefix("drop-"))
    if item.startswith("delay:"):
        try:
            seconds = float(item.removeprefix("delay:"))
        except ValueError:
            raise FaultPlanError(f"{name}: delay needs a number of seconds") from None
        return Decision(delay=_seconds(seconds, name))
    if item in ERRORS:
        return Decision(error=item)
    raise FaultPlanError(f"{name}: unknown item (ok, drop-before, drop-after, delay:<s> or an error code)")


def parse_operation(spec: Any, name: str) -> OperationFaults:
    if not isinstance(spec, Mapping):
        raise FaultPlanError(f"{name} must be an object")
    faults = OperationFaults()
    sequence = spec.get("sequence", [])
    if not isinstance(sequence, list):
        raise FaultPlanError(f"{name}.sequence must be a list")
    faults.sequence = [parse_item(item, f"{name}.sequence") for item in sequence]
    rates = spec.get("errorRates", {})
    if not isinstance(rates, Mapping):
        raise FaultPlanError(f"{name}.errorRates must be an object")
    for code, rate in rates.items():
        if code not in ERRORS:
            raise FaultPlanError(f"{name}.errorRates: unknown error code")
        faults.error_rates[code] = _rate(rate, f"{name}.errorRates")
    if sum(faults.error_rates.values()) > 1.0:
        raise FaultPlanError(f"{name}.errorRates must add up to at most 1")
    faults.delay_rate = _rate(spec.get("delayRate", 0.0), f"{name}.delayRate")
    faults.delay_seconds = _seconds(spec.get("delaySeconds", 0.0), f"{name}.delaySeconds")
    faults.drop_rate = _rate(spec.get("dropRate", 0.0), f"{name}.dropRate")
    faults.drop_when = spec.get("dropWhen", "before")
    if faults.drop_when not in DROP_WHEN:
        raise FaultPlanError(f"{name}.dropWhen must be before or after")
    unknown = set(spec) - {"sequence", "errorRates", "delayRate", "delaySeconds", "dropRate", "dropWhen"}
    if unknown:
        raise FaultPlanError(f"{name} has unknown fields: {', '.join(sorted(unknown))}")
    return faults


class FaultInjector:
    """Thread-safe holder of the current plan; every decision draws from one seeded generator."""

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._default_seed = seed
        self._plan: dict[str, Any] = {}
        self._operations: dict[str, OperationFaults] = {}
        self._callbacks = CallbackFaults()
        self._pending_checks = 0
        self._rng = random.Random(seed)

    def configure(self, plan: Any) -> None:
        if not isinstance(plan, Mapping):
            raise FaultPlanError("the fault plan must be a JSON object")
        unknown = set(plan) - {"seed", "operations", "callbacks", "pendingChecks"}
        if unknown:
            raise FaultPlanError(f"unknown fields: {', '.join(sorted(unknown))}")
        seed = plan.get("seed", self._default_seed)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise FaultPlanError("seed must be a whole number")
        ops_spec = plan.get("operations", {})
        if not isinstance(ops_spec, Mapping):
            raise FaultPlanError("operations must be an object")
        operations = {str(op): parse_operation(spec, f"operations.{op}") for op, spec in ops_spec.items()}
        cb = plan.get("callbacks", {})
        if not isinstance(cb, Mapping):
            raise FaultPlanError("callbacks must be an object")
        if set(cb) - {"duplicates", "delaySeconds", "drop", "dropRate"}:
            raise FaultPlanError("callbacks has unknown fields")
        drop = cb.get("drop", False)
        if not isinstance(drop, bool):
            raise FaultPlanError("callbacks.drop must be true or false")
        callbacks = CallbackFaults(
            duplicates=_count(cb.get("duplicates", 1), "callbacks.duplicates", minimum=1),
            delay_seconds=_seconds(cb.get("delaySeconds", 0.0), "callbacks.delaySeconds"),
            drop=drop,
            drop_rate=_rate(cb.get("dropRate", 0.0), "callbacks.dropRate"),
        )
        pending = _count(plan.get("pendingChecks", 0), "pendingChecks")
        with self._lock:
            self._plan = dict(plan)
            self._operations = operations
            self._callbacks = callbacks
            self._pending_checks = pending
            self._rng = random.Random(seed)

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
            faults = self._callbacks
            return faults.drop or (faults.drop_rate > 0 and self._rng.random() < faults.drop_rate)

    def decide(self, operation: str) -> Decision:
        with self._lock:
            faults = self._operations.get(operation) or self._operations.get("*")
            if faults is None:
                return OK
            if faults.sequence:
                return faults.sequence.pop(0)
            # one draw per kind, always in the same order, so a seed reproduces the same run
            roll_error, roll_delay, roll_drop = self._rng.random(), self._rng.random(), self._rng.random()
            if roll_drop < faults.drop_rate:
                return Decision(drop=faults.drop_when)
            cumulative = 0.0
            for code, rate in faults.error_rates.items():
                cumulative += rate
                if roll_error < cumulative:
                    return Decision(error=code)
            if roll_delay < faults.delay_rate:
                return Decision(delay=faults.delay_seconds)
            return OK
