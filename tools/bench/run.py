"""``./scripts/bench [--smoke] [--out PATH]``: run every benchmark, print a markdown table, write JSON."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from tools.bench import cold, micro, scale, warm
from tools.bench.proc import ROOT
from tools.progress import Progress

TARGETS = {
    "cold_local_x_floor": 1.5, "cold_aliyun_x_naive": 0.6, "cold_local_rss_mib": 30.0,
    "initializer_ms": 1.0, "result_fetcher_ms": 15.0, "notifier_per_delivery_ms": 1.0,
    "signing_x": 5.0, "parsing_x": 2.0, "memory_rss_mib": 80.0,
}


def _row(name: str, value: float, target: float, unit: str, higher_is_better: bool = False) -> dict[str, Any]:
    ok = value >= target if higher_is_better else value <= target
    return {"name": name, "value": value, "target": target, "unit": unit, "ok": ok}


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    c, w = results["cold"], results["warm"]
    local = [k for k in c if k.endswith("/local")]
    aliyun = [k for k in c if k.endswith("/aliyun")]
    rows = [_row(f"cold {k} / floor", c[k]["x_floor"], TARGETS["cold_local_x_floor"], "x") for k in local]
    rows += [_row(f"cold {k} / naive", c[k]["x_naive"], TARGETS["cold_aliyun_x_naive"], "x") for k in aliyun]
    rows += [_row(f"peak RSS {k}", c[k]["rss_mib"], TARGETS["cold_local_rss_mib"], "MiB") for k in local]
    rows += [
        _row("warm CPU initializer", w["initializer_ms"], TARGETS["initializer_ms"], "ms"),
        _row(f"warm CPU result_fetcher ({w['image_bytes'] // 1000} kB images)", w["result_fetcher_ms"],
             TARGETS["result_fetcher_ms"], "ms"),
        _row("warm CPU notifier per delivery", w["notifier_per_delivery_ms"], TARGETS["notifier_per_delivery_ms"],
             "ms"),
        _row("signing vs SDK", results["signing"]["x"], TARGETS["signing_x"], "x", higher_is_better=True),
        _row("parse + identity/spoof/face vs SDK", results["parsing"]["x_fair"], TARGETS["parsing_x"], "x",
             higher_is_better=True),
        _row(f"result_fetcher peak RSS (2 x {w['memory']['big_image_bytes'] // 1000} kB images)",
             w["memory"]["result_fetcher_rss_mib"], TARGETS["memory_rss_mib"], "MiB"),
    ]
    return rows


def markdown(results: dict[str, Any]) -> str:
    c, w, p = results["cold"], results["warm"], results["parsing"]
    lines = ["| check | measured | target | ok |", "| --- | ---: | ---: | :---: |"]
    for row in results["checks"]:
        cmp = ">=" if row["name"].startswith(("signing", "parse")) else "<="
        lines.append(f"| {row['name']} | {row['value']:.2f} {row['unit']} | {cmp} {row['target']:g} {row['unit']} | "
                     f"{'yes' if row['ok'] else '**no**'} |")
    lines += ["", "| cold start (median) | wall ms | peak RSS MiB | x floor | x naive |",
              "| --- | ---: | ---: | ---: | ---: |"]
    for name, row in c.items():
        lines.append(f"| {name} | {row['wall_ms']:.1f} | {row['rss_mib']:.1f} | {row['x_floor']:.2f} | "
                     f"{row['x_naive']:.2f} |")
    lines += ["", "| warm CPU (median, ms) | value |", "| --- | ---: |",
              f"| initializer POST /verifications | {w['initializer_ms']:.2f} |",
              f"| result_fetcher callback, 2 images of {w['image_bytes'] // 1000} kB | {w['result_fetcher_ms']:.2f} |",
              f"| notifier per message ({w['subscribers']} subscribers) | {w['notifier_per_message_ms']:.2f} |",
              f"| notifier per delivery | {w['notifier_per_delivery_ms']:.2f} |"]
    lines += ["", "| notifier batch (3 subscribers) | wall ms | ms per message |", "| ---: | ---: | ---: |"]
    lines += [f"| {r['messages']} | {r['wall_ms']:.1f} | {r['ms_per_message']:.2f} |" for r in w["notifier_batches"]]
    s = results["signing"]
    lines += ["", "| throughput (calls/s) | ours | official SDK | ratio |", "| --- | ---: | ---: | ---: |",
              f"| ACS3 signing | {s['ours_per_s']:.0f} | {s['sdk_per_s']:.0f} | {s['x']:.2f} |",
              f"| parse only (lazy, not judged) | {p['bare_per_s']:.0f} | {p['sdk_per_s']:.0f} | {p['x_bare']:.2f} |",
              f"| parse + identity/spoof/face | {p['fair_per_s']:.0f} | {p['sdk_per_s']:.0f} | {p['x_fair']:.2f} |",
              f"| parse + identity + to_record() | {p['full_per_s']:.0f} | {p['sdk_per_s']:.0f} | {p['x_full']:.2f} |"]
    sc = results.get("scale")
    if sc:
        lines += ["", "| scale: local stack, concurrency | flows | flows/s | POST /verifications p50 ms | p99 ms | "
                  "flow p50 ms | flow p99 ms |", "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        lines += [f"| {r['concurrency']} | {r['flows']} | {r['flows_per_s']:.1f} | {r['post_p50_ms']:.1f} | "
                  f"{r['post_p99_ms']:.1f} | {r['flow_p50_ms']:.0f} | {r['flow_p99_ms']:.0f} |" for r in sc["levels"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./scripts/bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="few iterations, tiny sizes (CI)")
    parser.add_argument("--out", type=Path, default=ROOT / "tools" / "bench" / "results.json")
    args = parser.parse_args(argv)
    smoke = args.smoke
    started = time.time()
    progress = Progress("bench", 5, unit="benchmarks", detail="cold starts")
    with tempfile.TemporaryDirectory(prefix="kyc-bench-pyc-") as pycache:
        results: dict[str, Any] = {"smoke": smoke}
        results["cold"] = cold.run(2 if smoke else 15, Path(pycache))
        progress.advance(detail="warm CPU and memory")
        results["warm"] = warm.run(
            iterations=2 if smoke else 20,
            image_bytes=2048 if smoke else 1_000_000,
            big_image_bytes=4096 if smoke else 2_000_000,
            batches=[1, 3] if smoke else [1, 10, 100],
            repeat=1 if smoke else 3,
            pycache=Path(pycache),
        )
    progress.advance(detail="the local stack under concurrency")
    results["scale"] = scale.run({1: 3, 8: 8, 32: 32} if smoke else {1: 100, 8: 200, 32: 400}, warmup=2 if smoke else 5)
    progress.advance(detail="signing")
    results["signing"] = micro.signing(0.02 if smoke else 0.5)
    progress.advance(detail="parsing")
    results["parsing"] = micro.parsing(0.02 if smoke else 0.5)
    progress.advance(detail="done")
    progress.close()
    results["checks"] = evaluate(results)
    results["seconds"] = time.time() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(markdown(results))
    print(f"\n{sum(r['ok'] for r in results['checks'])}/{len(results['checks'])} targets met; "
          f"{results['seconds']:.0f} s; JSON in {args.out}")
    return 0
