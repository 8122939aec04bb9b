"""``./scripts/bench side-by-side [--json] [--smoke]``: what running a result's object calls side by side
(:mod:`shared.parallel`) saves, against the same calls one after another, in one run.

The real ``ResultFetcher`` keeps a verdict with every image a result carries by name (document front and back,
face) and two found by their content, through the real ``OssObjectStore`` against the OSS double, which answers
every PutObject and DeleteObject ``--delay`` seconds late (a region's round trip; the double itself answers in
about a millisecond); then ``delete_prefix`` deletes the verification's objects (an erasure, retention). Each round
measures both ways back to back: one call at a time (the limits set to 1, as the code ran before) and side by side
(the code's limits). The vendor is a stub answering at once; rows and queues are local (SQLite).

Prints the medians and their ratios; the last stdout line with ``--json`` is ``{"fetch": {...}, "deletePrefix":
{...}}`` (seconds, and the ratio one-at-a-time / side-by-side).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from shared import jsonutil
from shared.signing import Credentials
from shared.status import Status
from shared.storage import OssObjectStore, SqliteQueue, SqliteTransactionStore, TransactionRecord

DELAY_SECONDS = 0.1
ROUNDS = 7
SMOKE_ROUNDS = 2
SMOKE_DELAY_SECONDS = 0.02
BUCKET, REGION = "kyc-bench", "cn-hongkong"
CREDS = Credentials("ak-side-by-side", "sk-side-by-side")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 2048


def _image(n: int) -> str:
    return base64.b64encode(PNG + bytes([n]) * 64).decode()


class _Vendor:
    """CheckResult answered at once: passed, with three images by name and two under a name no table documents."""

    settings = SimpleNamespace(call_deadline=0.0)

    def check_result(self, merchant_biz_id: str, transaction_id: str, *, is_return_image: bool = False) -> Any:
        id_info = {"ocrIdInfo": {"certName": "A", "certNo": "1"}, "idImage": _image(1), "idBackImage": _image(2)}
        face_info = {"facePassed": "Y", "faceImg": _image(3), "extraFaceImg": [_image(4), _image(5)]}
        return {"RequestId": "req", "Code": "Success", "Message": "success",
                "Result": {"Passed": "Y", "SubCode": "200", "ExtIdInfo": jsonutil.dumps_str(id_info),
                           "ExtFaceInfo": jsonutil.dumps_str(face_info)}}  # fmt: skip


@contextlib.contextmanager
def _limits(puts: int, deletes: int) -> Iterator[None]:
    """The code's limits of calls at once, for the duration (1 and 1: one call at a time)."""
    import shared.fetcher  # noqa: PLC0415
    import shared.storage.oss  # noqa: PLC0415

    saved = shared.fetcher.MAX_PARALLEL_PUTS, shared.storage.oss.MAX_PARALLEL_DELETES
    shared.fetcher.MAX_PARALLEL_PUTS, shared.storage.oss.MAX_PARALLEL_DELETES = puts, deletes
    try:
        yield
    finally:
        shared.fetcher.MAX_PARALLEL_PUTS, shared.storage.oss.MAX_PARALLEL_DELETES = saved


def measure(rounds: int, delay: float, work: Path) -> dict[str, dict[str, float]]:
    from shared.fetch_settings import FetchSettings  # noqa: PLC0415
    from shared.fetcher import MAX_PARALLEL_PUTS, ResultFetcher  # noqa: PLC0415
    from shared.ids import result_prefix  # noqa: PLC0415
    from shared.storage.oss import MAX_PARALLEL_DELETES  # noqa: PLC0415
    from tools.doubles.oss import OssDouble  # noqa: PLC0415

    timings: dict[str, dict[str, list[float]]] = {"fetch": {"oneAtATime": [], "sideBySide": []},
                                                  "deletePrefix": {"oneAtATime": [], "sideBySide": []}}  # fmt: skip
    store = SqliteTransactionStore(work / "kyc.sqlite3")
    queues = work / "queues.sqlite3"
    with OssDouble(access_key_id=CREDS.access_key_id, access_key_secret=CREDS.access_key_secret, bucket=BUCKET,
                   region=REGION) as double:  # fmt: skip
        late = {"delayRate": 1.0, "delaySeconds": delay}
        double.set_faults({"operations": {"PutObject": late, "DeleteObject": late}})
        objects = OssObjectStore(bucket=BUCKET, region=REGION, credentials=CREDS, endpoint=double.endpoint)
        for n in range(rounds):
            for way, puts, deletes in (("oneAtATime", 1, 1), ("sideBySide", MAX_PARALLEL_PUTS, MAX_PARALLEL_DELETES)):
                mbid = f"{n:04d}{way[:4]}".ljust(32, "0")
                now = time.time()
                store.create(TransactionRecord(merchant_biz_id=mbid, transaction_id=f"hk{mbid}", doc_type="01000000",
                                               merchant_user_id="f" * 64, status=Status.PENDING, created_at=now,
                                               updated_at=now, callback_token_hash="0" * 64))  # fmt: skip
                settings = FetchSettings(recheck_schedule=(10.0,), delete_vendor_copy=False)
                fetcher = ResultFetcher(client=_Vendor(), store=store, objects=objects,  # type: ignore[arg-type]
                                        recheck_queue=SqliteQueue(queues, "recheck"),
                                        notify_queue=SqliteQueue(queues, "notify"), settings=settings)  # fmt: skip
                with _limits(puts, deletes):
                    started = time.perf_counter()
                    outcome = fetcher.fetch(mbid)
                    timings["fetch"][way].append(time.perf_counter() - started)
                    if outcome.kind != "finalized":
                        raise RuntimeError(f"the fetch did not keep the result: {outcome}")
                    started = time.perf_counter()
                    objects.delete_prefix(result_prefix(mbid))
                    timings["deletePrefix"][way].append(time.perf_counter() - started)
    store.close()
    results: dict[str, dict[str, float]] = {}
    for name, ways in timings.items():
        one, side = statistics.median(ways["oneAtATime"]), statistics.median(ways["sideBySide"])
        results[name] = {"oneAtATime": round(one, 4), "sideBySide": round(side, 4), "ratio": round(one / side, 2)}
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench side-by-side", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the figures")
    parser.add_argument("--smoke", action="store_true", help=f"{SMOKE_ROUNDS} rounds at {SMOKE_DELAY_SECONDS} s")
    args = parser.parse_args(argv)
    rounds, delay = (SMOKE_ROUNDS, SMOKE_DELAY_SECONDS) if args.smoke else (ROUNDS, DELAY_SECONDS)
    # the functions' log lines (stdout) go to stderr: stdout's last line stays the JSON
    with tempfile.TemporaryDirectory(prefix="kyc-side-by-side-") as work, contextlib.redirect_stdout(sys.stderr):
        results = measure(rounds, delay, Path(work))
    print(f"OSS double answering each PutObject and DeleteObject {delay * 1000:.0f} ms late; medians of {rounds} "
          "rounds, both ways in each:", file=sys.stderr)  # fmt: skip
    for name, label in (("fetch", "keep a result (5 images, result.json)"),
                        ("deletePrefix", "delete its 6 objects")):  # fmt: skip
        r = results[name]
        print(f"  {label:40} one at a time {r['oneAtATime'] * 1000:6.0f} ms   side by side "
              f"{r['sideBySide'] * 1000:6.0f} ms   {r['ratio']:.2f} ×", file=sys.stderr)  # fmt: skip
    if args.json:
        print(json.dumps(results))
    return 0
