"""Test doubles and a small real-storage stack for the fetch / notify / sweep paths.

Everything here runs on the real local backends (SQLite rows, directory objects, SQLite queues) in a tmp dir;
only the vendor (``FakeCloudAuth``), the webhook sender (``RecordingSender``) and time (``FakeClock``) are fakes.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from shared import jsonutil
from shared.cloudauth import CloudAuthSettings, DeleteVerifyResultResponse, InitializeRequest, InitializeV2Request
from shared.delivery import DeliveryResult
from shared.fetch_settings import FetchSettings
from shared.fetcher import ResultFetcher
from shared.notifications import Notifier, Subscriber, WebhookSettings
from shared.storage import (
    DirectoryObjectStore,
    SqliteQueue,
    SqliteTransactionStore,
    TransactionRecord,
    TransactionStore,
)
from shared.sweeper import Sweeper, SweepSettings

T0 = 1_700_000_000.0
JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + bytes(range(32))
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(16))
IDENTITY = {
    "surname": "CHAN",
    "givenname": "TAI MAN",
    "sex": "M",
    "birthDate": "1990-05-17",
    "passportNo": "K12345678",
    "nationality": "CHN",
    "expiryDate": "2030-01-01",
    "countryCode": "CHN",
}
SECRET_A = "whsec_" + base64.b64encode(b"a" * 24).decode()
SECRET_B = "whsec_" + base64.b64encode(b"b" * 24).decode()
SECRET_C = "whsec_" + base64.b64encode(b"c" * 24).decode()

_ids = itertools.count(1)


class FakeClock:
    """A clock tests move by hand; shared by the stores' callers and the queues."""

    def __init__(self, now: float = T0) -> None:
        self.now = now
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


class SimulatedCrash(BaseException):
    """A crash: deliberately not an ``Exception``, so no ``except Exception`` in product code swallows it."""


def check_result_body(passed: str = "Y", sub_code: str = "200", *, images: bool = True) -> dict[str, Any]:
    """A decoded CheckResult response for a passport, with an ID image and a face image."""
    if passed == "P":
        return {"RequestId": "req-p", "Code": "Success", "Message": "success", "Result": {"Passed": "P"}}
    id_info: dict[str, Any] = {"ocrIdPassed": "Y", "ocrIdInfo": dict(IDENTITY), "spoofInfo": {"spoofResult": "N"}}
    face_info: dict[str, Any] = {"facePassed": passed, "faceComparisonScore": 97.5}
    if images:
        id_info["idImage"] = base64.b64encode(JPEG).decode()
        face_info["faceImg"] = base64.b64encode(PNG).decode()
    return {
        "RequestId": "req-1",
        "Code": "Success",
        "Message": "success",
        "Result": {
            "Passed": passed,
            "SubCode": sub_code,
            "ExtIdInfo": jsonutil.dumps_str(id_info),
            "ExtFaceInfo": jsonutil.dumps_str(face_info),
        },
    }


#: What FakeCloudAuth's owner reads of its settings: the default product, the allowed ones, the region.
FAKE_SETTINGS = CloudAuthSettings(
    endpoint="https://vendor.example", access_key_id="ak", access_key_secret="sk",
    product_code="eKYC", products=("eKYC", "eKYC_PRO", "FACE_LIVENESS_PRO"), region="cn-hongkong",
)


class FakeCloudAuth:
    """The vendor client's calls. ``script`` answers CheckResult in order (a dict body or an exception to
    raise); its last entry repeats. ``before_check`` runs inside every CheckResult call (barriers, events).
    ``initialize_calls`` records Initialize and InitializeV2 requests alike."""

    settings = FAKE_SETTINGS

    def __init__(self, *script: Any) -> None:
        self.script: list[Any] = list(script) or [check_result_body()]
        self.check_calls: list[tuple[str, str]] = []
        self.delete_calls: list[str] = []
        self.deletes_after_query: list[bool | str] = []  # each deletion's DeleteAfterQuery
        self.initialize_calls: list[InitializeRequest | InitializeV2Request] = []
        self.initialize_error: Exception | None = None
        self.before_check: Callable[[], object] | None = None
        self._lock = threading.Lock()

    def check_result(self, merchant_biz_id: str, transaction_id: str, *, is_return_image: bool = False) -> Any:
        with self._lock:
            self.check_calls.append((merchant_biz_id, transaction_id))
            answer = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if self.before_check is not None:
            self.before_check()
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def delete_verify_result(
        self, transaction_id: str, *, delete_after_query: bool | str, delete_type: str = "All"
    ) -> DeleteVerifyResultResponse:
        self.delete_calls.append(transaction_id)
        self.deletes_after_query.append(delete_after_query)
        return DeleteVerifyResultResponse(deleted=True, delete_result="Y", transaction_id=transaction_id)

    def initialize_v2(self, request: InitializeV2Request) -> Any:
        return self.initialize(request)

    def initialize(self, request: InitializeRequest | InitializeV2Request) -> Any:
        self.initialize_calls.append(request)
        if self.initialize_error is not None:
            raise self.initialize_error
        return SimpleNamespace(
            transaction_id=f"hksb{request.merchant_biz_id[:12]}",
            transaction_url=f"https://vendor.example/verify/{request.merchant_biz_id}",
            protocol=None,
            client_cfg=None,
            request_id="req-init",
        )


@dataclass
class Delivery:
    url: str
    body: bytes
    headers: dict[str, str]


@dataclass
class RecordingSender:
    """A webhook sender that records every POST; ``answers[url]`` lists results to return in order (last repeats;
    default 200). ``crash_on`` = (url, n): raise ``SimulatedCrash`` on the n-th (1-based) POST to ``url``."""

    answers: dict[str, list[DeliveryResult]] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    crash_on: tuple[str, int] | None = None
    _counts: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, url: str, body: bytes, headers: dict[str, str]) -> DeliveryResult:
        with self._lock:
            self._counts[url] = self._counts.get(url, 0) + 1
            if self.crash_on == (url, self._counts[url]):
                raise SimulatedCrash(f"crash posting to subscriber {url}")
            script = self.answers.get(url)
            result = DeliveryResult(ok=True, status=200)
            if script:
                result = script.pop(0) if len(script) > 1 else script[0]
            if result.ok:
                self.deliveries.append(Delivery(url, body, dict(headers)))
            return result

    def delivered_to(self, url: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.url == url]


def make_record(**overrides: Any) -> TransactionRecord:
    n = next(_ids)
    values: dict[str, Any] = {
        "merchant_biz_id": f"tx{n:030d}",
        "transaction_id": f"hksb{n:012d}",
        "merchant_user_id": "f" * 64,
        "doc_type": "01000000",
        "status": "PENDING",
        "callback_token_hash": "0" * 64,
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(overrides)
    return TransactionRecord(**values)


SUBSCRIBERS = (
    Subscriber(url="https://a.example/hook", secret=SECRET_A),
    Subscriber(url="https://b.example/hook", secret=SECRET_B, include_pii=True),
    Subscriber(url="https://c.example/hook", secret=SECRET_C),
)
#: The notifier's retry schedule in these stacks, which their sweepers' retention also waits for.
RETRY_SCHEDULE = (5.0, 300.0)


class Stack:
    """Real local storage in ``root`` with a fake clock; builds fetchers, notifiers and sweepers over it."""

    def __init__(self, root: Path, *, clock: FakeClock | None = None, store: TransactionStore | None = None) -> None:
        self.root = root
        self.clock = clock or FakeClock()
        self.sqlite_store = SqliteTransactionStore(root / "kyc.sqlite3") if store is None else None
        self.store: TransactionStore = store if store is not None else self.sqlite_store  # type: ignore[assignment]
        self.objects = DirectoryObjectStore(root / "objects")
        queues = root / "queues.sqlite3"
        self.recheck = SqliteQueue(queues, "recheck", clock=self.clock)
        self.notify = SqliteQueue(queues, "notify", clock=self.clock)
        self.deadletter = SqliteQueue(queues, "deadletter", clock=self.clock)

    def kept_result_key(self, merchant_biz_id: str) -> str:
        """The key of the result document the row leads to (its fetch's ``result.json``)."""
        row = self.store.get(merchant_biz_id)
        assert row is not None and row.result_key is not None, "no kept result"
        return row.result_key

    def close(self) -> None:
        for q in (self.recheck, self.notify, self.deadletter):
            q.close()
        if self.sqlite_store is not None:
            self.sqlite_store.close()

    def fetcher(
        self,
        client: FakeCloudAuth,
        *,
        schedule: tuple[float, ...] = (10.0, 30.0),
        delete_vendor_copy: bool = False,
        store: Any = None,
        objects: Any = None,
        recheck: Any = None,
        notify: Any = None,
    ) -> ResultFetcher:
        return ResultFetcher(
            client=client,  # type: ignore[arg-type]
            store=store or self.store,
            objects=objects or self.objects,
            recheck_queue=recheck or self.recheck,
            notify_queue=notify or self.notify,
            settings=FetchSettings(recheck_schedule=schedule, delete_vendor_copy=delete_vendor_copy),
            clock=self.clock,
            jitter=lambda: 1.0,
        )

    def notifier(
        self,
        sender: RecordingSender,
        *,
        subscribers: Iterable[Subscriber] = SUBSCRIBERS,
        schedule: tuple[float, ...] = RETRY_SCHEDULE,
        notify: Any = None,
        deadletter: Any = None,
    ) -> Notifier:
        settings = WebhookSettings(
            subscribers=tuple(subscribers),
            retry_schedule=schedule,
            allow_private_targets=False,
            require_https=True,
            timeout_seconds=1.0,
        )
        return Notifier(
            store=self.store,
            objects=self.objects,
            notify_queue=notify or self.notify,
            deadletter_queue=deadletter or self.deadletter,
            settings=settings,
            sender=sender,
            clock=self.clock,
            jitter=lambda: 0.5,
        )

    def sweeper(self, fetcher: ResultFetcher, **overrides: Any) -> Sweeper:
        values: dict[str, Any] = {
            "sweep_after_seconds": 900.0,
            "abandon_after_seconds": 86400.0,
            "retention_days": 0,
            "batch_size": 50,
            "webhook_retry_schedule": RETRY_SCHEDULE,  # the notifier's here (retention waits for its follow-ups)
        }
        values.update(overrides)
        # The sweeper works on the rows and objects its fetcher keeps results in (a test may wrap either).
        return Sweeper(
            store=fetcher.store,
            objects=fetcher.objects,
            fetcher=fetcher,
            settings=SweepSettings(**values),
            clock=self.clock,
        )

    def pending(self, **overrides: Any) -> TransactionRecord:
        record = make_record(**overrides)
        self.store.create(record)
        return record


def peek(queue: SqliteQueue) -> list[dict[str, Any]]:
    """Every message body in ``queue`` (visible or delayed), oldest first, without consuming anything."""
    rows = queue._db.execute(  # test-only look inside the local queue
        "SELECT body FROM messages WHERE queue = ? ORDER BY seq", (queue.name,)
    ).fetchall()
    return [jsonutil.loads(bytes(r["body"])) for r in rows]


def delays(queue: SqliteQueue) -> list[float]:
    """``visible_at - enqueued_at`` of every message in ``queue``, oldest first."""
    rows = queue._db.execute(
        "SELECT visible_at - enqueued_at AS d FROM messages WHERE queue = ? ORDER BY seq", (queue.name,)
    ).fetchall()
    return [float(r["d"]) for r in rows]


def drain(queue: SqliteQueue, handle: Callable[[Any], object], clock: FakeClock, *, max_rounds: int = 50) -> int:
    """Play the queue trigger: deliver every message (advancing the clock past delays and visibility timeouts),
    delete it when ``handle`` returns, leave it for redelivery when ``handle`` raises. Returns how many crashed."""
    crashes = 0
    for _ in range(max_rounds):
        if queue.size() == 0:
            return crashes
        batch = queue.receive(max_messages=10, visibility_timeout=30)
        if not batch:
            clock.advance(60)
            continue
        for message in batch:
            try:
                handle(jsonutil.loads(message.body))
            except SimulatedCrash:
                crashes += 1
                continue
            queue.delete(message.receipt)
    raise AssertionError("queue did not drain")


#: The row backends a behaviour is checked on: SQLite, and the Tablestore adapter over HTTP (the real SDK against the
#: Tablestore double's conditions and indexes).
ROW_BACKENDS = ("sqlite", "tablestore-wire")


@contextlib.contextmanager
def stack_on(backend: str, tmp_path: Path) -> Iterator[Stack]:
    """A :class:`Stack` whose rows live on ``backend`` (one of :data:`ROW_BACKENDS`), closed on exit."""
    with contextlib.ExitStack() as resources:
        store = resources.enter_context(tablestore_over_the_wire()) if backend == "tablestore-wire" else None
        stack = Stack(tmp_path, store=store)
        try:
            yield stack
        finally:
            stack.close()


@contextlib.contextmanager
def tablestore_over_the_wire(table: str = "kyc_transactions") -> Iterator[TransactionStore]:
    """The Tablestore adapter as deployed (endpoint, instance, key: the real SDK over HTTP) against a Tablestore
    double holding an empty transactions table."""
    from shared.signing import Credentials
    from shared.storage import TablestoreTransactionStore
    from tools.devstack.aliyun import create_tables
    from tools.doubles.tablestore import TablestoreDouble

    with TablestoreDouble(access_key_id="ak-wire", access_key_secret="sk-wire") as double:
        create_tables(double.client(), table)
        credentials = Credentials("ak-wire", "sk-wire")
        yield TablestoreTransactionStore(
            table=table, endpoint=double.endpoint, instance=double.instance, credentials=credentials
        )
