"""``./scripts/bench store-scale [--json] [--smoke] [--sizes 1000,10000,100000]``: rows each operation reads, by
table size, through the real Tablestore adapter against the Tablestore double.

At each size a fresh double gets the deployment's tables and indexes (``ensure_tables``) and a bulk load (the
double's ``load_rows``, uncounted) of ``size`` verifications in the layout ``create`` writes (``table_row``):
the measured user's 5, 10 PENDING ones the sweeper must pick up (silent for longer than ``KYC_SWEEP_AFTER``), one
PENDING whose callback is measured, and other users' final, announced ones for the rest. Then each operation runs
once, built as production builds it, with the double's counters zeroed before it; its figure is the double's
``rowsScanned``: every row a call read — index rows, data rows, rows a filter dropped, the row a conditional write
checks. The vendor is a stub (no rows of ours are read there); objects and queues are local (not Tablestore).

* ``initialize``: ``Verifications.start`` for the measured user (the rate counter, the PENDING row);
* ``callback``: ``ResultFetcherApp`` answering ``GET /callback`` for the pending row (token check, CheckResult,
  objects, the conditional finalize, the notification);
* ``sweep``: ``Sweeper.sweep`` (10 due: fetched and finalized; outbox, retention and counters with nothing to do);
* ``listByUser``: ``TransactionStore.list_by_user`` for the measured user, every page;
* ``eraseUser``: ``./scripts/kyc erase --user … --yes`` for the measured user (listing, vendor deletion, objects,
  rows, the second look for rows the index had not shown yet).

For scale, the stderr table also shows what one whole-table ``GetRange`` with a filter reads at each size: what
each of these operations cost before the indexes (every one of them ran at least one). And a second table compares
the two rate-limit designs measured on the same double (numbered slot rows vs one counter per user and window).
The last stdout line with ``--json`` is ``{"sizes": [...], "rowsRead": {operation: [per size]}}``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from shared import jsonutil
from shared.auth import hash_user_id
from shared.callback import hash_callback_token
from shared.cloudauth.models import DeleteVerifyResultResponse
from shared.ratelimit import KEEP_WINDOWS, WINDOW_SECONDS, counter_key
from shared.signing import Credentials
from shared.status import Status
from shared.storage import DirectoryObjectStore, SqliteQueue, StorageSettings, Stores, TransactionRecord
from shared.storage.tablestore_schema import Schema, ensure_tables
from shared.storage.tablestore_store import TablestoreTransactionStore, table_row
from shared.webhook_retries import DEFAULT_WEBHOOK_RETRY_SCHEDULE

SIZES = (1_000, 10_000, 100_000)
SMOKE_SIZES = (200, 2_000)
OPERATIONS = ("initialize", "callback", "sweep", "listByUser", "eraseUser")
USER = "store-scale-user"
PEPPER = "store-scale-pepper-0123456789abcdef"
TOKEN = "store-scale-callback-token"  # noqa: S105 - a benchmark fixture
TABLE = "kyc_transactions"
KEY_ID, KEY_SECRET = "ak-store-scale", "sk-store-scale"
USER_ROWS = 5
DUE_ROWS = 10
SWEEP_AFTER = 900.0
RATE_LIMIT = 10


class _Vendor:
    """The three vendor calls, answered at once: started, passed (no images), deleted. Nothing of ours is read.
    ``settings``: the client's call deadline, which the initializer's time budget reads (unbounded here)."""

    settings = SimpleNamespace(call_deadline=0.0)

    def initialize(self, request: Any) -> Any:
        return SimpleNamespace(
            transaction_id=f"hksb{request.merchant_biz_id[:12]}",
            transaction_url="https://vendor.example/verify",
            protocol=None,
            client_cfg=None,
            request_id="req",
        )

    def check_result(self, merchant_biz_id: str, transaction_id: str, *, is_return_image: bool = False) -> Any:
        identity = {"ocrIdInfo": {"certName": "A", "certNo": "1"}}
        return {
            "RequestId": "req",
            "Code": "Success",
            "Message": "success",
            "Result": {"Passed": "Y", "SubCode": "200", "ExtIdInfo": jsonutil.dumps_str(identity)},
        }

    def delete_verify_result(
        self, transaction_id: str, *, delete_after_query: bool | str, delete_type: str = "All"
    ) -> DeleteVerifyResultResponse:
        return DeleteVerifyResultResponse(deleted=True, delete_result="Y", transaction_id=transaction_id)


def _seed(size: int, now: float, owner: str) -> tuple[list[TransactionRecord], str]:
    """``size`` rows: the user's 5 (final), 10 due, the one whose callback comes, the rest other users' (final)."""
    rows: list[TransactionRecord] = []
    serial = iter(range(10**9))

    def record(**values: Any) -> TransactionRecord:
        n = next(serial)
        created = values.pop("created_at", now - 7 * 86400 + n)
        base: dict[str, Any] = {
            "merchant_biz_id": f"s{n:031d}",
            "transaction_id": f"hksb{n:012d}",
            "merchant_user_id": f"other-{n % 997:04d}",
            "doc_type": "01000000",
            "created_at": created,
            "updated_at": created,
            "callback_token_hash": hash_callback_token(TOKEN),
        }
        base.update(values)
        return TransactionRecord(**base)

    final: dict[str, Any] = {"status": Status.PASSED, "passed": "Y", "finalized_at": now - 86400,
                             "notification_enqueued": True, "vendor_copy_deleted": True}  # fmt: skip
    rows += [record(merchant_user_id=owner, created_at=now - 60 * (i + 1), **final) for i in range(USER_ROWS)]
    rows += [record(created_at=now - 2 * SWEEP_AFTER - i) for i in range(DUE_ROWS)]  # silent PENDING: due
    callback = record(created_at=now - 10)  # PENDING, young: its callback is on its way
    rows.append(callback)
    rows += [record(**final) for _ in range(size - len(rows))]
    return rows, callback.merchant_biz_id


@contextmanager
def _instance(size: int, now: float, owner: str) -> Iterator[tuple[Any, str]]:
    from tools.doubles.tablestore import TablestoreDouble  # noqa: PLC0415 - dev-only double

    with TablestoreDouble(access_key_id=KEY_ID, access_key_secret=KEY_SECRET) as double:
        ensure_tables(double.client(), TABLE)
        rows, callback_id = _seed(size, now, owner)
        double.load_rows(TABLE, (table_row(r) for r in rows))
        # The user started those 5 within the hour: their rate counter says so.
        window = int(now // WINDOW_SECONDS)
        counter = {"count": USER_ROWS, "expires_at": float((window + KEEP_WINDOWS) * WINDOW_SECONDS)}
        double.load_rows(Schema(TABLE).rate_table, [([("rate_key", counter_key(owner, window))], counter)])
        yield double, callback_id


def _store(double: Any) -> TablestoreTransactionStore:
    return TablestoreTransactionStore(
        table=TABLE, endpoint=double.endpoint, instance=double.instance, credentials=Credentials(KEY_ID, KEY_SECRET)
    )


def _rows_read(double: Any, operation: Callable[[], object]) -> int:
    double.reset_stats()
    operation()
    return int(double.rows()["rowsScanned"])


def measure(size: int, work: Path) -> dict[str, int]:
    """Rows read by each operation at one table size (a fresh double, a fresh local directory)."""
    from shared.fetch_settings import FetchSettings  # noqa: PLC0415
    from shared.fetcher import ResultFetcher  # noqa: PLC0415
    from shared.handlers.result_fetcher import ResultFetcherApp  # noqa: PLC0415
    from shared.sweeper import Sweeper, SweepSettings  # noqa: PLC0415
    from shared.verifications import FrontendSettings, ProductOffer, Verifications  # noqa: PLC0415
    from tools.devstack.gateway import make_http_event  # noqa: PLC0415
    from tools.ops import kyc  # noqa: PLC0415
    from tools.ops.common import Context  # noqa: PLC0415
    from tools.ops.transactions import run_erase  # noqa: PLC0415

    now = time.time()
    owner = hash_user_id(USER, PEPPER)
    vendor: Any = _Vendor()
    with _instance(size, now, owner) as (double, callback_id):
        store = _store(double)
        objects = DirectoryObjectStore(work / "objects")
        queues = work / "queues.sqlite3"
        fetcher = ResultFetcher(
            client=vendor, store=store, objects=objects, recheck_queue=SqliteQueue(queues, "recheck"),
            notify_queue=SqliteQueue(queues, "notify"),
            settings=FetchSettings(recheck_schedule=(10.0,), delete_vendor_copy=True),  # as deployed (s.yaml)
        )  # fmt: skip
        frontend = FrontendSettings(
            public_url="https://kyc.example", jwt_secret="x" * 32, user_id_pepper=PEPPER,
            return_url_allowlist=("https://shop.example/",), cors_origins=(), rate_limit_per_hour=RATE_LIMIT,
            max_body_bytes=65536, max_meta_info_bytes=16384, jwt_leeway_seconds=30,
        )  # fmt: skip
        offer = ProductOffer(default="eKYC", allowed=("eKYC",), region="cn-hongkong")  # the deployment's default
        verifications = Verifications(settings=frontend, client=vendor, store=store, offer=offer)
        body = {"docType": "01000000", "metaInfo": {"apdidToken": "x", "appName": "web"}}
        app = ResultFetcherApp(fetcher)
        query = f"merchantBizId={callback_id}&callbackToken={TOKEN}"
        event = make_http_event("GET", f"/callback?{query}", headers=[], body=b"", source_ip="198.51.100.1")
        sweep = SweepSettings(sweep_after_seconds=SWEEP_AFTER, abandon_after_seconds=86400.0, retention_days=30,
                              batch_size=200, webhook_retry_schedule=DEFAULT_WEBHOOK_RETRY_SCHEDULE)  # fmt: skip
        sweeper = Sweeper(store=store, objects=objects, fetcher=fetcher, settings=sweep)
        stores = Stores(StorageSettings(backend="aliyun", tablestore_table=TABLE))
        stores.__dict__["transactions"] = store  # the cached properties, as the CLI opens them
        stores.__dict__["objects"] = objects
        erase = Context(env={"KYC_USER_ID_PEPPER": PEPPER, "KYC_BACKEND": "aliyun"}, stdout=io.StringIO(),
                        stderr=io.StringIO(), client_factory=lambda _: vendor,
                        stores_factory=lambda _: stores)  # fmt: skip
        erase_args = kyc.build_parser().parse_args(["erase", "--user", USER, "--yes"])

        def listing() -> None:
            cursor: str | None = None
            while True:
                _, cursor = store.list_by_user(owner, limit=100, cursor=cursor)
                if not cursor:
                    return

        def callback() -> None:
            answer = app.handle(event, None)
            if answer["statusCode"] != 200:
                raise RuntimeError(f"callback answered {answer['statusCode']}")

        def sweep_once() -> None:
            report = sweeper.sweep()
            if report.finalized != DUE_ROWS or report.errors:
                raise RuntimeError(f"the sweep did not finish the {DUE_ROWS} due rows: {report.as_dict()}")

        def erase_user() -> None:
            if run_erase(erase_args, erase) != 0:
                raise RuntimeError("erase failed")

        def initialize() -> None:
            started.append(verifications.start(owner, body).merchant_biz_id)

        started: list[str] = []
        results = {"initialize": _rows_read(double, initialize)}
        store.delete(started[0])  # (not measured) the user has 5 rows again for the other operations
        results |= {
            "callback": _rows_read(double, callback),
            "sweep": _rows_read(double, sweep_once),
            "listByUser": _rows_read(double, listing),
            "eraseUser": _rows_read(double, erase_user),
            "_scan": _rows_read(double, lambda: _one_filtered_scan(double)),
        }
        if len(store.list_by_user(owner)[0]):
            raise RuntimeError("erase left rows behind")
        return results


def _one_filtered_scan(double: Any) -> None:
    """A whole-table GetRange with a filter that keeps nothing: what every one of the operations did at least once
    before the indexes (and what the filter costs: every row it visits)."""
    from shared.storage.tablestore_sdk import import_tablestore  # noqa: PLC0415

    ots = import_tablestore()
    client = double.client()
    start: Any = [("merchant_biz_id", ots.INF_MIN)]
    nothing = ots.SingleColumnCondition("merchant_user_id", "nobody", ots.ComparatorType.EQUAL, pass_if_missing=False)
    while start:
        _, start, _, _ = client.get_range(
            TABLE, ots.Direction.FORWARD, start, [("merchant_biz_id", ots.INF_MAX)], column_filter=nothing
        )


# --- rate-limit designs ---------------------------------------------------------------------------------------


def rate_limit_designs(limit: int = RATE_LIMIT, requests: int = RATE_LIMIT + 2) -> list[dict[str, int]]:
    """Rows read and writes sent by the ``k``-th Initialize of one user in one window, for the two designs the
    issue names, on one double: numbered slot rows (conditional create of slot 0, 1, … until one is free: the
    design before) and the per-user counter (read, then conditional write; what the store does now)."""
    from shared.storage.tablestore_sdk import import_tablestore  # noqa: PLC0415
    from tools.doubles.tablestore import TablestoreDouble  # noqa: PLC0415

    ots = import_tablestore()
    out: list[dict[str, int]] = []
    with TablestoreDouble(access_key_id=KEY_ID, access_key_secret=KEY_SECRET) as double:
        ensure_tables(double.client(), TABLE)
        store = _store(double)
        client = double.client()
        for k in range(1, requests + 1):
            double.reset_stats()
            for slot in range(limit):  # the slot design: probe from slot 0
                row = ots.Row([("rate_key", f"slot-{slot}")], [("count", 1)])
                try:
                    client.put_row(
                        store._schema.rate_table, row, ots.Condition(ots.RowExistenceExpectation.EXPECT_NOT_EXIST)
                    )
                    break
                except ots.OTSServiceError:
                    continue
            slots = double.rows()
            double.reset_stats()
            store.increment_rate_counter("counter", limit, 9e9)
            counter = double.rows()
            out.append({
                "request": k,
                "slotsRowsRead": slots["rowsScanned"], "slotsWrites": slots["requests"],
                "counterRowsRead": counter["rowsScanned"], "counterWrites": counter["requests"] - 1,
            })  # fmt: skip
    return out


# --- the command -----------------------------------------------------------------------------------------------


def table(sizes: list[int], results: list[dict[str, int]]) -> str:
    width = max(len(f"{s:,}") for s in sizes) + 2
    lines = ["rows read by one operation (index rows included), by table size:",
             f"{'operation':<34}" + "".join(f"{s:>{width},}" for s in sizes)]  # fmt: skip
    for name in OPERATIONS:
        lines.append(f"{name:<34}" + "".join(f"{r[name]:>{width}}" for r in results))
    lines.append(f"{'(before: one filtered table scan)':<34}" + "".join(f"{r['_scan']:>{width}}" for r in results))
    return "\n".join(lines)


def rate_table(rows: list[dict[str, int]]) -> str:
    lines = ["rate limit, the k-th Initialize of one user in one window (limit 10): rows read / requests sent",
             "  k   slot rows          counter"]  # fmt: skip
    for r in rows:
        lines.append(f"{r['request']:>3}   {r['slotsRowsRead']:>3} read / {r['slotsWrites']:>2} req   "
                     f"{r['counterRowsRead']:>3} read / {r['counterWrites'] + 1:>2} req")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./scripts/bench store-scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object, last line")
    parser.add_argument("--smoke", action="store_true", help=f"small sizes {SMOKE_SIZES} (CI)")
    parser.add_argument("--sizes", help="comma-separated table sizes (default 1000,10000,100000)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else list(SMOKE_SIZES if args.smoke else SIZES)
    if min(sizes) < USER_ROWS + DUE_ROWS + 1:
        parser.error(f"every size must be at least {USER_ROWS + DUE_ROWS + 1}")
    started = time.time()
    results = []
    # The product's JSON log lines go to stdout: here stdout is the figures, so logs go to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        for size in sizes:
            with tempfile.TemporaryDirectory(prefix="kyc-store-scale-") as work:
                results.append(measure(size, Path(work)))
            print(f"size {size:,}: measured", file=sys.stderr)
        designs = rate_limit_designs()
    print(table(sizes, results), file=sys.stderr)
    print(rate_table(designs), file=sys.stderr)
    flat = all(len({r[name] for r in results}) == 1 for name in OPERATIONS)
    print(f"{'flat' if flat else 'NOT FLAT'} from {sizes[0]:,} to {sizes[-1]:,} rows; {time.time() - started:.0f} s",
          file=sys.stderr)  # fmt: skip
    figures = {"sizes": sizes, "rowsRead": {name: [r[name] for r in results] for name in OPERATIONS}}
    if args.json:
        print(json.dumps(figures))
    return 0 if flat else 1
