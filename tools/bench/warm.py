"""2. Warm CPU per invocation against its floor, 5. result_fetcher memory with large images, 6b. notifier batches.

Warm CPU: each handler in its own process (``host.py``) on the dev tree and this interpreter, ``time.process_time``
around each ``handler()`` call, and right after it the floor of that call's unavoidable work on the same data
(``floors.py``). Reported: medians after ``skip`` warm-up calls, and their ratio (handler ÷ floor).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from tools.bench.proc import MIB, child_env, median
from tools.bench.stack import Recorder, complete, function_env, host, sandbox

SUBSCRIBERS = 3


def _flows(count: int, image_bytes: int, pycache: Path, batch: list[int] | None = None,
           repeat: int = 1) -> dict[str, Any]:
    """``count`` verifications through initializer → sandbox → result_fetcher → notifier, each in its own host."""
    capture = Recorder()
    receivers = [Recorder() for _ in range(SUBSCRIBERS)]
    try:
        with tempfile.TemporaryDirectory(prefix="kyc-bench-warm-") as tmp, sandbox(image_bytes) as sandbox_url:
            env = function_env(child_env(pycache), Path(tmp) / "data", sandbox_url, capture.url,
                               [r.url for r in receivers])
            init = host("initializer", {"count": count, "jwt_secret": env["KYC_JWT_SECRET"]}, env)
            for transaction_id in init["transactions"]:
                complete(sandbox_url, transaction_id)
            targets = capture.wait_targets(count)
            fetch = host("result_fetcher", {"targets": targets}, env)
            notify = host("notifier", {"batch": batch or [], "repeat": repeat}, env)
            delivered = sum(r.posts for r in receivers)
    finally:
        for server in (capture, *receivers):
            server.shutdown()
    return {"initializer": init, "result_fetcher": fetch, "notifier": notify, "delivered": delivered}


def _warm_ms(samples: list[float], skip: int) -> float:
    """Median CPU ms after the first ``skip`` calls (the first call of an instance pays one-time costs)."""
    return median(samples[skip:] or samples) * 1000


def _ratio_row(host: dict[str, Any], floor: list[float], skip: int, per: float = 1.0) -> dict[str, float]:
    """``per``: calls are divided by it (the notifier's deliveries per message). With ``http_exchange_ms`` (one
    loopback HTTP exchange's client CPU, information only): the ratio to the floor plus one exchange."""
    handler_ms, floor_ms = _warm_ms(host["cpu"], skip) / per, _warm_ms(floor, skip)
    row = {"ms": handler_ms, "floor_ms": floor_ms, "x_floor": handler_ms / floor_ms}
    if "http_exchange_ms" in host:
        row["floor_with_http_ms"] = floor_ms + host["http_exchange_ms"]
        row["x_floor_with_http"] = handler_ms / row["floor_with_http_ms"]
    return row


def run(iterations: int, image_bytes: int, big_image_bytes: int, batches: list[int], repeat: int,
        pycache: Path) -> dict[str, Any]:
    skip = 2
    flows = _flows(iterations + skip, image_bytes, pycache)
    big = _flows(1, big_image_bytes, pycache)
    scaling = _flows(1, 2048, pycache, batch=batches, repeat=repeat)
    by_size: dict[int, list[float]] = {}
    for size, wall in scaling["notifier"]["wall"]:
        by_size.setdefault(size, []).append(wall)
    batch_rows = [{"messages": size, "deliveries": size * SUBSCRIBERS, "wall_ms": median(walls) * 1000,
                   "ms_per_message": median(walls) * 1000 / size} for size, walls in sorted(by_size.items())]
    notify = flows["notifier"]
    if any(n != SUBSCRIBERS for n in notify["deliveries"]):
        raise RuntimeError(f"the notifier signed {notify['deliveries']} deliveries per message, not {SUBSCRIBERS}")
    return {
        "image_bytes": image_bytes,
        "check_result_bytes": flows["result_fetcher"]["check_result_bytes"],
        "subscribers": SUBSCRIBERS,
        "initializer": _ratio_row(flows["initializer"], flows["initializer"]["floor"], skip),
        "result_fetcher": _ratio_row(flows["result_fetcher"], flows["result_fetcher"]["floor"], skip),
        "notifier_per_delivery": _ratio_row(notify, notify["floor_per_delivery"], skip, SUBSCRIBERS),
        "notifier_per_message_ms": _warm_ms(notify["cpu"], skip),
        "first_call_ms": {name: flows[name]["cpu"][0] * 1000 for name in ("initializer", "result_fetcher", "notifier")},
        "deliveries": flows["delivered"],
        "memory": {"big_image_bytes": big_image_bytes, "result_fetcher_rss_mib": big["result_fetcher"]["rss_mib"],
                   "images_mib": 2 * big_image_bytes / MIB},
        "notifier_batches": batch_rows,
    }
