"""Fault plans of every double and of the sandbox: per-operation error/delay/drop rates or exact sequences.

The wire-level doubles (``tools/doubles/``) use it as it is; the vendor sandbox adds its callback and pending-result
faults around it (``tools/sandbox/faults.py``). A plan is JSON (posted to ``POST /_double/faults``, or the sandbox's
``POST /_sandbox/faults``; it replaces the previous plan)::

    {"seed": 7,
     "operations": {"PutObject": {"sequence": ["ServiceUnavailable", "drop-before", "delay:0.2", "ok"],
                                  "errorRates": {"InternalError": 0.1, "SlowDown": 0.05},
                                  "delayRate": 0.5, "delaySeconds": 0.2,
                                  "dropRate": 0.1, "dropWhen": "after"},
                    "*": {...}}}          # applies to every operation without its own entry

A sequence is consumed one item per request of that operation; once it is exhausted the rates apply.
Items: ``ok``; an error code (an opaque string here: each double maps its codes to its own HTTP status and error
body, and passes the codes it knows to ``FaultPlan.parse`` so an unknown one is refused when the plan is set);
``drop-before`` (close the connection before reading the request body: nothing happened); ``drop-after``
(process the request, then close without answering: its side effects happened); ``delay:<seconds>`` (answer late);
``drip:<seconds>`` (process the request, then send the whole answer, status line and headers included, one byte
every ``<seconds>``: a peer slow enough to hold a client that bounds each read but not the whole call);
``foreign:<status>`` (answer with ``<status>`` and an HTML page, none of the service's headers or body, without
processing the request: what a load balancer or proxy in front of the service sends, e.g. ``foreign:503`` for a
gateway that lost its upstream, ``foreign:200`` for a captive portal).

Rates draw from one generator seeded with ``seed``, three draws per request in a fixed order, so a seed replays
the same run for the same sequence of requests.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

DROP_WHEN = ("before", "after")
MAX_DELAY_SECONDS = 300.0
MAX_DRIP_SECONDS = 10.0  # per byte
_OPERATION_FIELDS = frozenset({"sequence", "errorRates", "delayRate", "delaySeconds", "dropRate", "dropWhen"})
_PLAN_FIELDS = frozenset({"seed", "operations"})


class FaultPlanError(ValueError):
    """The plan is malformed; the message names the offending field (never echoes its value)."""


@dataclass(frozen=True)
class Decision:
    """What to do with one request: answer with ``error``, answer ``delay`` seconds late, ``drip`` the answer one
    byte every ``drip`` seconds, ``drop`` the connection ``"before"`` reading the body or ``"after"`` processing
    it, or answer as something in front of the service would, with the HTTP status ``foreign``."""

    error: str | None = None
    delay: float = 0.0
    drop: str | None = None
    drip: float = 0.0
    foreign: int = 0


OK = Decision()

#: A ``foreign:<status>`` answer's content type and other headers: a proxy's, none of the service's (request id,
#: signature, checksum).
FOREIGN_CONTENT_TYPE = "text/html"
FOREIGN_HEADERS = {"Server": "gateway"}


def foreign_page(status: int) -> bytes:
    """The body of a ``foreign:<status>`` answer: the HTML page a load balancer or proxy in front of a service
    answers with."""
    return f"<html><head><title>{status}</title></head><body><h1>{status}</h1><hr>gateway</body></html>\n".encode()


@dataclass
class OperationFaults:
    sequence: list[Decision] = field(default_factory=list)
    error_rates: dict[str, float] = field(default_factory=dict)
    delay_rate: float = 0.0
    delay_seconds: float = 0.0
    drop_rate: float = 0.0
    drop_when: str = "before"


def check_rate(value: Any, name: str) -> float:
    """``value`` as a rate (a number from 0 to 1), or ``FaultPlanError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
        raise FaultPlanError(f"{name} must be a number between 0 and 1")
    return float(value)


def check_seconds(value: Any, name: str) -> float:
    """``value`` as a delay (0 to ``MAX_DELAY_SECONDS``), or ``FaultPlanError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) <= MAX_DELAY_SECONDS:
        raise FaultPlanError(f"{name} must be a number of seconds between 0 and {MAX_DELAY_SECONDS:g}")
    return float(value)


def _error_code(code: Any, name: str, error_codes: Collection[str] | None) -> str:
    if not isinstance(code, str) or not code:
        raise FaultPlanError(f"{name}: an error code must be a non-empty string")
    if error_codes is not None and code not in error_codes:
        raise FaultPlanError(f"{name}: unknown error code (this double knows: {', '.join(sorted(error_codes))})")
    return code


def parse_item(item: Any, name: str, error_codes: Collection[str] | None = None) -> Decision:
    """One sequence item → its decision."""
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
        return Decision(delay=check_seconds(seconds, name))
    if item.startswith("drip:"):
        try:
            seconds = float(item.removeprefix("drip:"))
        except ValueError:
            raise FaultPlanError(f"{name}: drip needs a number of seconds per byte") from None
        if not 0.0 < seconds <= MAX_DRIP_SECONDS:
            raise FaultPlanError(f"{name}: drip must be more than 0 and at most {MAX_DRIP_SECONDS:g} seconds per byte")
        return Decision(drip=seconds)
    if item.startswith("foreign:"):
        status = item.removeprefix("foreign:")
        if not (status.isdigit() and 200 <= int(status) <= 599):
            raise FaultPlanError(f"{name}: foreign needs an HTTP status from 200 to 599")
        return Decision(foreign=int(status))
    return Decision(error=_error_code(item, name, error_codes))


def parse_operation(spec: Any, name: str, error_codes: Collection[str] | None = None) -> OperationFaults:
    """One operation's entry → its faults."""
    if not isinstance(spec, Mapping):
        raise FaultPlanError(f"{name} must be an object")
    unknown = set(spec) - _OPERATION_FIELDS
    if unknown:
        raise FaultPlanError(f"{name} has unknown fields: {', '.join(sorted(map(str, unknown)))}")
    faults = OperationFaults()
    sequence = spec.get("sequence", [])
    if not isinstance(sequence, list):
        raise FaultPlanError(f"{name}.sequence must be a list")
    faults.sequence = [parse_item(item, f"{name}.sequence", error_codes) for item in sequence]
    rates = spec.get("errorRates", {})
    if not isinstance(rates, Mapping):
        raise FaultPlanError(f"{name}.errorRates must be an object")
    for code, rate in rates.items():
        faults.error_rates[_error_code(code, f"{name}.errorRates", error_codes)] = check_rate(
            rate, f"{name}.errorRates.{code}"
        )
    if sum(faults.error_rates.values()) > 1.0:
        raise FaultPlanError(f"{name}.errorRates must add up to at most 1")
    faults.delay_rate = check_rate(spec.get("delayRate", 0.0), f"{name}.delayRate")
    faults.delay_seconds = check_seconds(spec.get("delaySeconds", 0.0), f"{name}.delaySeconds")
    faults.drop_rate = check_rate(spec.get("dropRate", 0.0), f"{name}.dropRate")
    faults.drop_when = spec.get("dropWhen", "before")
    if faults.drop_when not in DROP_WHEN:
        raise FaultPlanError(f"{name}.dropWhen must be before or after")
    return faults


class FaultPlan:
    """A parsed plan; ``decide`` is thread-safe (sequences are consumed and the generator drawn under a lock)."""

    def __init__(
        self,
        operations: Mapping[str, OperationFaults] | None = None,
        *,
        seed: int | None = None,
        source: Mapping[str, Any] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._operations = dict(operations or {})
        self._rng = random.Random(seed)  # noqa: S311 - reproducible fault draws, not secrets
        self._source = dict(source or {})

    @classmethod
    def parse(
        cls, obj: Any, *, error_codes: Collection[str] | None = None, default_seed: int | None = None
    ) -> FaultPlan:
        """Validate ``obj`` (the JSON plan) and build the plan; ``error_codes``: the codes the double can render
        (``None``: any code is accepted). Raises ``FaultPlanError`` naming the offending field."""
        if not isinstance(obj, Mapping):
            raise FaultPlanError("the fault plan must be a JSON object")
        unknown = set(obj) - _PLAN_FIELDS
        if unknown:
            raise FaultPlanError(f"unknown fields: {', '.join(sorted(map(str, unknown)))}")
        seed = obj.get("seed", default_seed)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise FaultPlanError("seed must be a whole number")
        spec = obj.get("operations", {})
        if not isinstance(spec, Mapping):
            raise FaultPlanError("operations must be an object")
        operations = {str(op): parse_operation(entry, f"operations.{op}", error_codes) for op, entry in spec.items()}
        return cls(operations, seed=seed, source=obj)

    @property
    def source(self) -> dict[str, Any]:
        """The plan as it was posted (for ``GET /_double/faults``)."""
        return dict(self._source)

    def draw(self) -> float:
        """One more draw from the plan's generator, for faults of a caller's own (the sandbox's dropped callbacks):
        one generator, so a seed replays those too."""
        with self._lock:
            return self._rng.random()

    def decide(self, operation: str) -> Decision:
        """The fault for the next request of ``operation`` (``OK`` when the plan says nothing about it)."""
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
