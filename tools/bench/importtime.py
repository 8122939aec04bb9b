"""Where a cold start's import time goes: ``python -X importtime`` output, summarised above the floor's imports.

``-X importtime`` writes one line per module imported, in completion order, to stderr::

    import time: self [us] | cumulative | imported package
    import time:       130 |        130 |     _codecs

``self`` is the module's own time (its code, not the imports it triggered); nesting is shown by indentation. The
runs of one command are combined by the median of each module's self time (a module missing from a run counts 0).

The summary leaves out every module the floor (``import json, hmac, hashlib, http.client``) imports as well: the
floor pays for those too, so they are not what makes a handler slower than it. What remains is grouped by owner —
the top-level package, except ``shared`` which is split by its sub-package (``shared.storage``, ``shared.results``,
...) because that is where phase-2 work is decided.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

PREFIX = "import time:"
TOP = 12


@dataclass(frozen=True)
class Entry:
    module: str
    self_us: int
    cumulative_us: int


def parse(stderr: str) -> list[Entry]:
    """The modules of one ``-X importtime`` run (other stderr lines are ignored)."""
    entries = []
    for line in stderr.splitlines():
        if not line.startswith(PREFIX):
            continue
        fields = line[len(PREFIX) :].split("|")
        if len(fields) != 3 or not fields[0].strip().isdigit():
            continue  # the header
        entries.append(Entry(fields[2].strip(), int(fields[0]), int(fields[1])))
    return entries


def owner(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "shared" and len(parts) > 1 else parts[0]


def combine(runs: Sequence[Sequence[Entry]]) -> dict[str, tuple[float, float]]:
    """module → (median self µs, median cumulative µs) over ``runs``."""
    names = {e.module for run in runs for e in run}
    per_run = [{e.module: e for e in run} for run in runs]
    combined = {}
    for name in names:
        selfs = [r[name].self_us if name in r else 0 for r in per_run]
        cumulative = [r[name].cumulative_us if name in r else 0 for r in per_run]
        combined[name] = (statistics.median(selfs), statistics.median(cumulative))
    return combined


def summary(runs: Sequence[Sequence[Entry]], floor_modules: Iterable[str], top: int = TOP) -> dict[str, Any]:
    """Self time of the modules the floor does not import: total, the largest owners and the largest modules (ms)."""
    floor = set(floor_modules)
    modules = {name: times for name, times in combine(runs).items() if name not in floor}
    owners: dict[str, float] = {}
    for name, (self_us, _) in modules.items():
        owners[owner(name)] = owners.get(owner(name), 0.0) + self_us
    largest = sorted(modules.items(), key=lambda item: -item[1][0])[:top]
    return {
        "runs": len(runs),
        "modules": len(modules),
        "self_ms": sum(s for s, _ in modules.values()) / 1000,
        "owners": [{"owner": name, "self_ms": us / 1000} for name, us in sorted(owners.items(), key=lambda i: -i[1])][
            :top
        ],
        "modules_top": [
            {"module": name, "self_ms": s / 1000, "cumulative_ms": c / 1000} for name, (s, c) in largest
        ],
    }


def modules_of(runs: Sequence[Sequence[Entry]]) -> set[str]:
    return {e.module for run in runs for e in run}
