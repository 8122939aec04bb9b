"""``./scripts/bench [--smoke] [--out PATH] [--build DIR]``: run every benchmark, print markdown, write JSON.

Every judged figure is a ratio to a floor measured in the same run and printed beside it (see
docs/performance.md for the method): cold starts against the floor process on the same interpreter, warm CPU
against each handler's unavoidable work in its own process, signing against the official SDK.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from tools.bench import cold, deployed, micro, scale, warm
from tools.bench.proc import ROOT
from tools.progress import Progress

TARGETS = {
    "cold_local_x_floor": 1.5, "cold_aliyun_x_floor": 2.5, "cold_local_rss_mib": 30.0,
    "initializer_x_floor": 3.0, "result_fetcher_x_floor": 1.5, "notifier_x_floor": 3.0,
    "signing_x": 5.0, "memory_rss_mib": 80.0,
}  # fmt: skip
TOP_SHOWN = 6  # import-time owners and modules printed per cold start (results.json has TOP of each)
DOC_BEGIN = "<!-- bench:results:begin (written by ./scripts/bench --doc) -->"
DOC_END = "<!-- bench:results:end -->"


def _row(name: str, value: float, unit: str, reference: str, target: float, *,
         ratio: float | None = None, higher_is_better: bool = False) -> dict[str, Any]:
    """``ratio`` is what is judged when given (a ratio to the reference), else ``value``."""
    judged = value if ratio is None else ratio
    ok = judged >= target if higher_is_better else judged <= target
    return {"name": name, "value": value, "unit": unit, "reference": reference, "ratio": ratio, "target": target,
            "target_unit": unit if ratio is None else "x", "higher_is_better": higher_is_better, "ok": ok}


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    c, w = results["cold"], results["warm"]
    floor = c["floor"]
    rows = []
    for name, row in c.items():
        if name == "floor":
            continue
        backend = name.rsplit("/", 1)[1]
        rows.append(_row(f"cold start {name}", row["wall_ms"], "ms", f"{floor['wall_ms']:.1f} ms floor",
                         TARGETS[f"cold_{backend}_x_floor"], ratio=row["x_floor"]))
    rows += [_row(f"peak RSS {k}", c[k]["rss_mib"], "MiB", f"{floor['rss_mib']:.1f} MiB floor",
                  TARGETS["cold_local_rss_mib"]) for k in c if k.endswith("/local")]
    for key, label in (("initializer", "initializer POST /verifications"),
                       ("result_fetcher", f"result_fetcher callback (2 x {w['image_bytes'] // 1000} kB images)"),
                       ("notifier_per_delivery", f"notifier per delivery ({w['subscribers']} subscribers)")):
        target = TARGETS[f"{key.removesuffix('_per_delivery')}_x_floor"]
        rows.append(_row(f"warm CPU {label}", w[key]["ms"], "ms", f"{w[key]['floor_ms']:.3f} ms floor", target,
                         ratio=w[key]["x_floor"]))
    s = results["signing"]
    rows.append(_row("ACS3 signing throughput", s["ours_per_s"], "calls/s", f"{s['sdk_per_s']:.0f} calls/s SDK",
                     TARGETS["signing_x"], ratio=s["x"], higher_is_better=True))
    rows.append(_row(f"result_fetcher peak RSS (2 x {w['memory']['big_image_bytes'] // 1000} kB images)",
                     w["memory"]["result_fetcher_rss_mib"], "MiB", f"{w['memory']['images_mib']:.1f} MiB of images",
                     TARGETS["memory_rss_mib"]))
    return rows


def _importtime_lines(c: dict[str, Any]) -> list[str]:
    lines = []
    for name, row in c.items():
        if name == "floor":
            continue
        it = row["importtime"]
        owners = ", ".join(f"{o['owner']} {o['self_ms']:.1f}" for o in it["owners"][:TOP_SHOWN])
        modules = ", ".join(f"{m['module']} {m['self_ms']:.1f}" for m in it["modules_top"][:TOP_SHOWN])
        lines.append(f"- **{name}**: {it['self_ms']:.1f} ms in {it['modules']} modules the floor does not import; "
                     f"by owner: {owners}; largest modules: {modules}")
    return lines


def markdown(results: dict[str, Any]) -> str:
    c, w, p, code = results["cold"], results["warm"], results["parsing"], results["code"]
    floor = c["floor"]
    lines = [f"Machine floor (this run): `{Path(code['python']).name} {' '.join(cold.FLAGS)} -c \"{cold.FLOOR}\"` "
             f"= **{floor['wall_ms']:.1f} ms** from start to ready ({floor['to_exit_ms']:.1f} ms to exit), "
             f"{floor['rss_mib']:.1f} MiB peak RSS (median of {floor['runs']}); "
             f"cold starts on Python {code['pythonVersion']} from {code['kind']}s.", ""]
    lines += [f"Note: {note}" for note in code["notes"]]
    lines += ["| check | measured | floor / reference (same run) | ratio | target | ok |",
              "| --- | ---: | ---: | ---: | ---: | :---: |"]
    for row in results["checks"]:
        cmp = ">=" if row["higher_is_better"] else "<="
        ratio = f"{row['ratio']:.2f} x" if row["ratio"] is not None else ""
        lines.append(f"| {row['name']} | {row['value']:.2f} {row['unit']} | {row['reference']} | {ratio} | "
                     f"{cmp} {row['target']:g} {row['target_unit']} | {'yes' if row['ok'] else '**no**'} |")
    runs = next(r["runs"] for n, r in c.items() if n != "floor")
    lines += ["", f"| cold start (median of {runs}) | to ready ms | import ms | initialize ms | peak RSS MiB | "
              "floor ms | x floor (paired) | x floor + logging (information) | to exit ms | x floor to exit "
              "(information) | zipped / unzipped MB |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
              f"| floor | {floor['wall_ms']:.1f} | | | {floor['rss_mib']:.1f} | {floor['wall_ms']:.1f} | 1.00 | "
              f"{floor['wall_ms'] / floor['with_logging_wall_ms']:.2f} | {floor['to_exit_ms']:.1f} | 1.00 | |"]
    for name, row in c.items():
        if name == "floor":
            continue
        size = code["functions"][name.split("/")[0]]
        sizes = f"{size['zippedBytes'] / 1e6:.1f} / {size['unzippedBytes'] / 1e6:.1f}" if size["zippedBytes"] else ""
        lines.append(f"| {name} | {row['wall_ms']:.1f} | {row['import_ms']:.1f} | {row['initialize_ms']:.1f} | "
                     f"{row['rss_mib']:.1f} | {floor['wall_ms']:.1f} | {row['x_floor']:.2f} | "
                     f"{row['x_floor_with_logging']:.2f} | {row['to_exit_ms']:.1f} | {row['x_floor_to_exit']:.2f} | "
                     f"{sizes} |")
    lines += ["", f"x floor + logging: over `{cold.FLOOR_WITH_LOGGING}` ({floor['with_logging_wall_ms']:.1f} ms, "
              "paired as the floor), the floor of a deployed start: FC's Python runtime loads `logging` before the "
              "handler."]
    traced = next(r["importtime"]["runs"] for n, r in c.items() if n != "floor")
    lines += ["", f"Import self time above the floor's imports (`-X importtime`, median of {traced}, ms):", ""]
    lines += _importtime_lines(c)
    lines += ["", "| warm CPU (median) | ms | floor ms | x floor | floor + 1 HTTP exchange ms (information) | x that |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    fetched = f"CheckResult of {w['check_result_bytes'] // 1000} kB (2 images of {w['image_bytes'] // 1000} kB)"
    for key, label in (("initializer", "initializer POST /verifications"),
                       ("result_fetcher", f"result_fetcher callback, {fetched}"),
                       ("notifier_per_delivery", "notifier per delivery")):
        row = w[key]
        io = " | "
        if "floor_with_http_ms" in row:
            io = f"{row['floor_with_http_ms']:.3f} | {row['x_floor_with_http']:.2f}"
        lines.append(f"| {label} | {row['ms']:.3f} | {row['floor_ms']:.3f} | {row['x_floor']:.2f} | {io} |")
    per_message_floor = w["notifier_per_delivery"]["floor_ms"] * w["subscribers"]
    lines += ["", f"| notifier batch ({w['subscribers']} subscribers) | wall ms | ms per message | "
              "floor CPU ms per message |", "| ---: | ---: | ---: | ---: |"]
    lines += [f"| {r['messages']} | {r['wall_ms']:.1f} | {r['ms_per_message']:.2f} | {per_message_floor:.3f} |"
              for r in w["notifier_batches"]]
    s = results["signing"]
    lines += ["", "| throughput (calls/s) | ours | official SDK (reference) | ratio |", "| --- | ---: | ---: | ---: |",
              f"| ACS3 signing | {s['ours_per_s']:.0f} | {s['sdk_per_s']:.0f} | {s['x']:.2f} |",
              f"| parse only (lazy; information) | {p['bare_per_s']:.0f} | {p['sdk_per_s']:.0f} | {p['x_bare']:.2f} |",
              f"| parse + identity/spoof/face (information) | {p['fair_per_s']:.0f} | {p['sdk_per_s']:.0f} | "
              f"{p['x_fair']:.2f} |",
              f"| parse + identity + to_record() (information) | {p['full_per_s']:.0f} | {p['sdk_per_s']:.0f} | "
              f"{p['x_full']:.2f} |"]
    sc = results.get("scale")
    if sc:
        lines += ["", f"Scale (information; the local stack on this machine, floor {floor['wall_ms']:.1f} ms):", "",
                  "| concurrency | flows | flows/s | POST /verifications p50 ms | p99 ms | flow p50 ms | flow p99 ms |",
                  "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        lines += [f"| {r['concurrency']} | {r['flows']} | {r['flows_per_s']:.1f} | {r['post_p50_ms']:.1f} | "
                  f"{r['post_p99_ms']:.1f} | {r['flow_p50_ms']:.0f} | {r['flow_p99_ms']:.0f} |" for r in sc["levels"]]
    return "\n".join(lines)


def write_doc(path: Path, text: str, results: dict[str, Any]) -> None:
    """Replace what is between ``DOC_BEGIN`` and ``DOC_END`` in ``path`` with this run's tables."""
    document = path.read_text(encoding="utf-8")
    if DOC_BEGIN not in document or DOC_END not in document:
        raise SystemExit(f"{path} has no {DOC_BEGIN} ... {DOC_END} markers")
    head, _, rest = document.partition(DOC_BEGIN)
    _, _, tail = rest.partition(DOC_END)
    checks = results["checks"]
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    summary = (f"`./scripts/bench`{' --smoke' if results['smoke'] else ''}, {when}, {os.cpu_count()} cores: "
               f"{sum(r['ok'] for r in checks)}/{len(checks)} targets met in {results['seconds']:.0f} s.")
    path.write_text(f"{head}{DOC_BEGIN}\n{summary}\n\n{text}\n{DOC_END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./scripts/bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="few iterations, tiny sizes (CI); never packages")
    parser.add_argument("--out", type=Path, default=ROOT / "tools" / "bench" / "results.json")
    parser.add_argument("--doc", type=Path, default=None,
                        help="also write the results between the bench:results markers of this file "
                             "(docs/performance.md)")
    parser.add_argument("--build", type=Path, default=Path(os.environ.get("KYC_BUILD_DIR") or ROOT / "build"),
                        help="the ./scripts/package output to unpack (default $KYC_BUILD_DIR or ./build)")
    args = parser.parse_args(argv)
    smoke = args.smoke
    started = time.time()
    results: dict[str, Any] = {"smoke": smoke, "section_seconds": {}}
    progress = Progress("bench", 6, unit="benchmarks", detail="unpacking the packages")
    at = time.time()

    def timed(section: str, next_detail: str) -> None:
        nonlocal at
        results["section_seconds"][section] = round(time.time() - at, 1)
        at = time.time()
        progress.advance(detail=next_detail)

    with tempfile.TemporaryDirectory(prefix="kyc-bench-code-") as scratch:
        code = deployed.packages(args.build.resolve(), Path(scratch), smoke=smoke)
        results["code"] = code.describe()
        timed("code", "cold starts")
        results["cold"] = cold.run(code, iterations=2 if smoke else 15, importtime_runs=1 if smoke else 5)
        timed("cold", "warm CPU and memory")
    with tempfile.TemporaryDirectory(prefix="kyc-bench-pyc-") as pycache:
        results["warm"] = warm.run(
            iterations=2 if smoke else 20,
            image_bytes=2048 if smoke else 1_000_000,
            big_image_bytes=4096 if smoke else 2_000_000,
            batches=[1, 3] if smoke else [1, 10, 100],
            repeat=1 if smoke else 3,
            pycache=Path(pycache),
        )
    timed("warm", "the local stack under concurrency")
    results["scale"] = scale.run({1: 3, 8: 8, 32: 32} if smoke else {1: 100, 8: 200, 32: 400}, warmup=2 if smoke else 5)
    timed("scale", "signing and parsing")
    results["signing"] = micro.signing(0.02 if smoke else 0.5)
    results["parsing"] = micro.parsing(0.02 if smoke else 0.5)
    timed("micro", "done")
    progress.close()
    results["checks"] = evaluate(results)
    results["seconds"] = time.time() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    text = markdown(results)
    print(text)
    if args.doc is not None:
        write_doc(args.doc, text, results)
    sections = ", ".join(f"{name} {seconds:g} s" for name, seconds in results["section_seconds"].items())
    print(f"\n{sum(r['ok'] for r in results['checks'])}/{len(results['checks'])} targets met; "
          f"{results['seconds']:.0f} s ({sections}); JSON in {args.out}")
    return 0
