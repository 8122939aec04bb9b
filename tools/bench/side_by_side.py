"""``./scripts/bench side-by-side [--json] [--smoke]``: what running a result's object calls side by side
(:mod:`shared.parallel`) saves, against the same calls one after another, in one run.

The real ``ResultFetcher`` keeps a verdict with every image a result carries by name (document front and back,
face) and two found by their content, through the real ``OssObjectStore`` against the OSS double, which answers
every PutObject and DeleteObject ``DELAY_SECONDS`` late (a region's round trip; the double itself answers in about
a millisecond) and counts how many of them are in flight at once; then ``delete_prefix`` deletes the
verification's objects (an erasure, retention). Each round measures both ways back to back: one call at a time (the
limits set to 1, as the code ran before) and side by side (the code's limits). The vendor is a stub answering at
once; rows and queues are local (SQLite).

Prints the medians and their ratios; the last stdout line with ``--json`` is ``{"fetch": {...}, "deletePrefix":
{...}}``: each way's median seconds, the ratio one-at-a-time / side-by-side, and the most calls the double had in
flight at once each way (``mostAtOnce``).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import statistics
import sys
import tempfile
import threading
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


class _LateAnswers:
    """The double's request handler, answering PutObject and DeleteObject ``delay`` seconds late and counting the
    most of them in flight at once (since the last :meth:`take_most`)."""

    LATE = frozenset({"PutObject", "DeleteObject"})

    def __init__(self, double: Any, delay: float) -> None:
        self._double, self._handle, self._delay = double, double.handle, delay
        self._lock = threading.Lock()
        self._in_flight = self._most = 0

    def __call__(self, request: Any) -> Any:
        if self._double.operation_of(request) not in self.LATE:
            return self._handle(request)
        with self._lock:
            self._in_flight += 1
            self._most = max(self._most, self._in_flight)
        try:
            time.sleep(self._delay)
            return self._handle(request)
        finally:
            with self._lock:
                self._in_flight -= 1

    def take_most(self) -> int:
        with self._lock:
            most, self._most = self._most, 0
        return most


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


def measure(rounds: int, delay: float, work: Path) -> dict[str, dict[str, Any]]:
    from shared.fetch_settings import FetchSettings  # noqa: PLC0415
    from shared.fetcher import MAX_PARALLEL_PUTS, ResultFetcher  # noqa: PLC0415
    from shared.ids import result_prefix  # noqa: PLC0415
    from shared.storage.oss import MAX_PARALLEL_DELETES  # noqa: PLC0415
    from tools.doubles.oss import OssDouble  # noqa: PLC0415

    ways = ("oneAtATime", "sideBySide")
    timings: dict[str, dict[str, list[float]]] = {"fetch": {w: [] for w in ways}, "deletePrefix": {w: [] for w in ways}}
    most: dict[str, dict[str, int]] = {"fetch": dict.fromkeys(ways, 0), "deletePrefix": dict.fromkeys(ways, 0)}
    store = SqliteTransactionStore(work / "kyc.sqlite3")
    queues = work / "queues.sqlite3"
    with OssDouble(access_key_id=CREDS.access_key_id, access_key_secret=CREDS.access_key_secret, bucket=BUCKET,
                   region=REGION) as double:  # fmt: skip
        late = _LateAnswers(double, delay)
        double.handle = late  # type: ignore[method-assign]  # every request passes through it
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
                    late.take_most()
                    started = time.perf_counter()
                    outcome = fetcher.fetch(mbid)
                    timings["fetch"][way].append(time.perf_counter() - started)
                    most["fetch"][way] = max(most["fetch"][way], late.take_most())
                    if outcome.kind != "finalized":
                        raise RuntimeError(f"the fetch did not keep the result: {outcome}")
                    started = time.perf_counter()
                    objects.delete_prefix(result_prefix(mbid))
                    timings["deletePrefix"][way].append(time.perf_counter() - started)
                    most["deletePrefix"][way] = max(most["deletePrefix"][way], late.take_most())
    store.close()
    results: dict[str, dict[str, Any]] = {}
    for name, measured in timings.items():
        one, side = statistics.median(measured["oneAtATime"]), statistics.median(measured["sideBySide"])
        results[name] = {"oneAtATime": round(one, 4), "sideBySide": round(side, 4), "ratio": round(one / side, 2),
                         "mostAtOnce": most[name]}  # fmt: skip
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
              f"{r['sideBySide'] * 1000:6.0f} ms ({r['mostAtOnce']['sideBySide']} at once)   {r['ratio']:.2f} ×",
              file=sys.stderr)  # fmt: skip
    if args.json:
        print(json.dumps(results))
    return 0
