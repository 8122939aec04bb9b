"""Drives a packaged handler through its paths, on the target Python, and records what it imported.

``exercise(folder, function, python)`` runs ``tools/package/child.py`` (the packaged handler, nothing but its
folder on ``sys.path``) once per backend, ``local`` and ``aliyun``, against loopback services started here:

* the cloudauth-intl sandbox (``tools.sandbox``) for Initialize / CheckResult / DeleteVerifyResult, with its
  fault injection for the vendor's error answers;
* for ``aliyun``, the project's wire-level doubles of Tablestore, OSS and MNS (``tools.doubles``: the real SDKs'
  traffic, signatures verified, the services' error answers) laid out as the deployment creates them
  (``tools.devstack.aliyun.AliyunDoubles``: template.yml's resources, the tables and indexes of
  ``tablestore_schema``), with injected faults; for ``local``, SQLite and a folder in a temporary directory;
* a webhook receiver (``receiver.py``; the notifier's deliveries are checked with the ``standardwebhooks`` library).

The packaged handler runs on the target Python in its own process; the services run here, in this process.

Each function has a scenario (``SCENARIOS``): its success paths and its error paths (bad input, unknown ids, bad
tokens, vendor errors, storage errors, unreadable queue messages, retries and dead letters). Every step states the
answer it expects; state the handler left behind is checked from this process with the project's own store
classes. A run returns its steps (each ``ok`` or not, with why) and the child's import trace (see child.py).

Setup that is not under test (a verification to call back about, a final row to notify about) is made in this
process with the project's own apps (``InitializerApp`` / ``ResultFetcherApp``) against the same services.
"""

from __future__ import annotations

import contextlib
import io
import json
import queue
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.auth import issue_token
from shared.handlers.initializer import InitializerApp
from shared.handlers.result_fetcher import ResultFetcherApp
from shared.ids import result_prefix
from shared.messages import RecheckMessage
from shared.ratelimit import WINDOW_SECONDS
from shared.storage import ReceivedMessage, StorageSettings, Stores, decode_message_body, open_stores
from tools.credentials import AccessKey
from tools.devstack.aliyun import AliyunDoubles
from tools.devstack.gateway import make_http_event
from tools.devstack.worker import cloud_events, timer_event
from tools.package.receiver import Delivery, WebhookReceiver
from tools.sandbox import SandboxConfig, SandboxServer
from tools.sandbox.state import Outcome

CHILD = Path(__file__).resolve().with_name("child.py")
BACKENDS = ("local", "aliyun")
STEP_TIMEOUT = 60.0
ACCESS_KEY_ID = "package-trace-ak"
ACCESS_KEY_SECRET = "package-trace-secret"  # noqa: S105 - loopback fixtures
JWT_SECRET = "package-trace-jwt-secret-0123456789abcdef"  # noqa: S105
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105
# Small listing pages, so the OSS adapter's paging runs (and is traced) with the scenarios' few objects.
OSS_PAGE_LIMIT = 2
# What the service doubles answer when a scenario makes storage fail (``Session.fail_storage``). Tablestore: a write
# answers OTSServerUnavailable (503, which the SDK's retry rules never retry for a write: tablestore/retry.py, as the
# adapter's BoundedRetry applies them); any other request loses its connection before it is read, because a read's
# 5xx is retried with backoff (BoundedRetry, shared/storage/tablestore_store.py) and would have to outlast those
# retries, while a lost connection is not retried. OSS and MNS answer InternalError (500).
OTS_WRITES = ("PutRow", "UpdateRow", "DeleteRow", "BatchWriteRow")
OTS_WRITE_FAULT = "OTSServerUnavailable"
OTS_OTHER_FAULT = "drop-before"
OSS_FAULT = MNS_FAULT = "InternalError"
RETURN_URL = "https://shop.example.com/done"


class ExerciseError(Exception):
    """The child could not be started, stopped answering, or broke the protocol."""


@dataclass(frozen=True)
class Step:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class Run:
    """One backend's run of one function: its steps and the child's import trace."""

    function: str
    backend: str
    steps: list[Step] = field(default_factory=list)
    trace: dict[str, Any] = field(default_factory=dict)
    stderr_tail: str = ""
    import_error: str | None = None  # the handler module did not import (nothing else ran)

    @property
    def failures(self) -> list[Step]:
        return [step for step in self.steps if not step.ok]


class Child:
    """The packaged handler in its own target-Python process, one JSON command at a time."""

    def __init__(self, python: str, folder: Path, env: dict[str, str], stderr: Path) -> None:
        self._stderr_path = stderr
        self._stderr = stderr.open("wb")
        cmd = [python, "-I", "-S", "-B", str(CHILD), str(folder)]
        try:
            self.proc = subprocess.Popen(  # noqa: S603 - our interpreter, our script
                cmd, cwd=folder, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr
            )
        except OSError as exc:
            self._stderr.close()
            raise ExerciseError(f"cannot start {python}: {exc}") from None
        self._lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(b"")

    def call(self, command: dict[str, Any], timeout: float = STEP_TIMEOUT) -> dict[str, Any]:
        assert self.proc.stdin is not None
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps(command).encode() + b"\n")
                self.proc.stdin.flush()
            except BrokenPipeError:
                pass
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            self.close()
            raise ExerciseError(f"the handler did not answer {command.get('op')} within {timeout:.0f} s") from None
        if not line:
            self.proc.wait(5)
            raise ExerciseError(f"the handler process exited ({self.proc.returncode}): {self.stderr_tail()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def stderr_tail(self, chars: int = 1500) -> str:
        self._stderr.flush()
        return self._stderr_path.read_text(encoding="utf-8", errors="replace")[-chars:]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self._stderr.close()


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """This process's own use of the project's apps logs JSON lines (and the SDKs warn): kept off the output."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


class Services:
    """The loopback world of one run (fresh for every run, so two runs of the same steps see the same answers)."""

    def __init__(self, backend: str, workdir: Path) -> None:
        self.backend = backend
        self.stack: AliyunDoubles | None = None
        # ocrIdInfo as a JSON object on one backend and as a nested JSON string on the other: both parsing paths
        # run, and each run takes the same one every time (the sandbox's "mixed" picks by the random transaction id).
        # Images of 6000 bytes: 8000 base64 characters, past shared.results.images.FAST_FROM (pybase64 decodes).
        self.sandbox = SandboxServer(
            SandboxConfig(
                access_key_id=ACCESS_KEY_ID, access_key_secret=ACCESS_KEY_SECRET, image_bytes=6000,
                qps=1000.0, ocr_info_as="object" if backend == "local" else "string",
            )
        )
        self.sandbox.start()
        self.set_vendor_faults()
        self.receiver = WebhookReceiver()
        self.data_dir = workdir / "data"
        if backend == "aliyun":
            keys = AccessKey(ACCESS_KEY_ID, ACCESS_KEY_SECRET).environment()
            try:
                with quiet():  # this process's first import of the Tablestore SDK warns on stderr (no native codecs)
                    self.stack = AliyunDoubles.from_env(keys)
                    self.stack.oss.page_limit = OSS_PAGE_LIMIT
                    self.stack.start()
            except BaseException:
                self.close()
                raise

    def set_vendor_faults(self, operations: dict[str, Any] | None = None) -> None:
        """The sandbox never calls back here: the scenarios send the callbacks themselves."""
        self.sandbox.app.faults.configure({"operations": operations or {}, "callbacks": {"drop": True}})

    def env(self) -> dict[str, str]:
        receiver_port = self.receiver.url.rsplit(":", 1)[1]
        env = {
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "KYC_BACKEND": self.backend,
            "KYC_LOG_LEVEL": "DEBUG",  # the debug lines' code runs too
            "CLOUDAUTH_ENDPOINT": self.sandbox.base_url,
            "CLOUDAUTH_MAX_ATTEMPTS": "2",
            "CLOUDAUTH_BACKOFF_BASE": "0.01",
            "CLOUDAUTH_BACKOFF_CAP": "0.02",
            **AccessKey(ACCESS_KEY_ID, ACCESS_KEY_SECRET).environment(),
            "KYC_JWT_SECRET": JWT_SECRET,
            "KYC_USER_ID_PEPPER": "package-trace-pepper",
            "KYC_RETURN_URL_ALLOWLIST": "https://shop.example.com/",
            "KYC_CORS_ORIGINS": "https://shop.example.com",
            "KYC_RATE_LIMIT_PER_HOUR": "2",
            "KYC_RECHECK_SCHEDULE": "1,1",
            "KYC_WEBHOOK_RETRY_SCHEDULE": "1,1",
            "KYC_WEBHOOK_TIMEOUT": "5",
            "KYC_WEBHOOK_ALLOW_PRIVATE": "Y",
            "KYC_DELETE_VENDOR_COPY": "Y",
            "KYC_SWEEP_AFTER": "0",
            "KYC_ABANDON_AFTER": "60",
            "KYC_RETENTION_DAYS": "1",
        }
        if self.backend == "local":
            env["KYC_DATA_DIR"] = str(self.data_dir)
            env["KYC_PUBLIC_URL"] = "http://127.0.0.1:9"
            hooks = [{"url": f"{self.receiver.url}/ok", "secret": WEBHOOK_SECRET, "includePii": True},
                     {"url": f"{self.receiver.url}/refuse", "secret": WEBHOOK_SECRET}]
        else:
            assert self.stack is not None
            env.update(self.stack.environment())
            env["KYC_PUBLIC_URL"] = "https://kyc.example.com"
            # Webhooks must be https with this backend: a TLS handshake with the plain-HTTP receiver fails, which
            # is the notifier's retry path on a real TLS stack.
            hooks = [{"url": f"https://127.0.0.1:{receiver_port}/ok", "secret": WEBHOOK_SECRET, "includePii": True}]
        env["KYC_WEBHOOKS"] = json.dumps(hooks)
        return env

    def close(self) -> None:
        self.sandbox.stop()
        self.receiver.close()
        if self.stack is not None:
            self.stack.stop()


@dataclass(frozen=True)
class Seeded:
    merchant_biz_id: str
    transaction_id: str
    callback_token: str
    user: str


class Session:
    """One run: the child, the services, the steps so far, and helpers that send FC events and check answers."""

    def __init__(self, run: Run, child: Child, services: Services, env: dict[str, str]) -> None:
        self.run = run
        self.child = child
        self.services = services
        self.env = env
        self.backend = services.backend
        with quiet():
            self.stores: Stores = open_stores(StorageSettings.from_env(env))

    # -- steps ---------------------------------------------------------------------------------------------

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.run.steps.append(Step(name, ok, "" if ok else detail))
        return ok

    def initialize(self) -> None:
        answer = self.child.call({"op": "initialize"})
        self.check("initialize", bool(answer.get("ok")), str(answer.get("error")))

    def invoke(self, name: str, event: Any, *, expect_error: str | None = None, record: bool = True) -> Any:
        """The handler's answer (the step passes when it answers); ``expect_error``: the step passes when the
        handler raises an exception of that type instead. ``record=False``: the caller checks the answer."""
        answer = self.child.call({"op": "invoke", "event": event})
        if expect_error is not None:
            error = str(answer.get("error") or "")
            self.check(name, not answer.get("ok") and error.startswith(expect_error), f"got {answer}")
            return None
        if not answer.get("ok"):
            self.check(name, False, str(answer.get("error")))
            return None
        if record:
            self.check(name, True)
        return answer.get("answer")

    def http(
        self, name: str, method: str, target: str, expect: int | set[int], *, user: str | None = None,
        body: Any = None, headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """An HTTP trigger event; the step passes when the status is ``expect`` (or one of them)."""
        all_headers = dict(headers or {})
        if user is not None:
            all_headers["Authorization"] = f"Bearer {issue_token(user, JWT_SECRET)}"
        raw = b""
        if body is not None:
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        event = make_http_event(method, target, list(all_headers.items()), raw)
        answer = self.invoke(name, event, record=False)
        if answer is None:
            return {}
        status = answer.get("statusCode") if isinstance(answer, dict) else None
        wanted = expect if isinstance(expect, set) else {expect}
        body_text = str(answer.get("body", ""))[:300] if isinstance(answer, dict) else ""
        self.check(name, status in wanted, f"status {status}, wanted {sorted(wanted)}: {body_text}")
        try:
            document = json.loads(answer.get("body") or "{}")
        except (TypeError, ValueError):
            document = {}
        return document if isinstance(document, dict) else {"body": document}

    def queue_event(self, name: str, queue_name: str, bodies: list[bytes], **kwargs: Any) -> Any:
        messages = [ReceivedMessage(uuid.uuid4().hex.upper(), body, "receipt", 1, time.time()) for body in bodies]
        return self.invoke(name, cloud_events(queue_name, messages), **kwargs)

    # -- setup made in this process ------------------------------------------------------------------------

    def seed(self, outcome: dict[str, Any] | None = None, *, age_seconds: float = 0.0) -> Seeded:
        """A verification started with the project's InitializerApp (row PENDING, sandbox transaction with its
        callback token); ``outcome`` completes it at the sandbox as the person on the vendor's page would."""
        user = f"user-{uuid.uuid4().hex[:12]}"
        with quiet():
            app = InitializerApp.from_env(self.env)
            app.verifications.clock = lambda: time.time() - age_seconds
            token = issue_token(user, JWT_SECRET)
            headers = [("Authorization", f"Bearer {token}"), ("Content-Type", "application/json")]
            body = {"docType": "01000000", "metaInfo": '{"bioMetaInfo":"x"}', "returnUrl": RETURN_URL}
            event = make_http_event("POST", "/verifications", headers, json.dumps(body).encode())
            answer = app.handle(event, None)
        if answer.get("statusCode") != 201:
            raise ExerciseError(f"seeding a verification failed: {answer}")
        created = json.loads(answer["body"])
        transaction = self.services.sandbox.app.store.get(created["transactionId"])
        assert transaction is not None and transaction.callback_token is not None
        if outcome is not None:
            self.services.sandbox.app.complete(transaction, Outcome.from_json(outcome))
        return Seeded(created["merchantBizId"], created["transactionId"], transaction.callback_token, user)

    def finalize_here(self, seeded: Seeded, *, age_seconds: float = 0.0) -> None:
        """Fetches the (completed) result with the project's ResultFetcherApp, so the row is final (finalized
        ``age_seconds`` ago)."""
        with quiet():
            fetcher = ResultFetcherApp.from_env(self.env).fetcher
            fetcher.clock = lambda: time.time() - age_seconds
            fetcher.fetch(seeded.merchant_biz_id)

    def row_status(self, merchant_biz_id: str) -> str | None:
        with quiet():
            record = self.stores.transactions.get(merchant_biz_id)
        return record.status if record is not None else None

    def queued(self, logical: str) -> list[bytes]:
        """Bodies sent to a queue so far (``recheck``, ``notify``, ``deadletter``), oldest first."""
        name = self.stores.settings.queue_names[logical]
        if self.services.stack is not None:  # nothing receives from the double's queues: every message is still there
            return [decode_message_body(m["body"]) for m in self.services.stack.mns.messages(name)]
        with quiet():
            consumer: Any = self.stores.queue(logical)
            received = consumer.peek(100)
        return [m.body for m in received]

    def objects(self, prefix: str) -> list[str]:
        with quiet():
            return list(self.stores.objects.list(prefix))

    def fail_storage(self, service: str, count: int = 1, *, writes_only: bool = False) -> bool:
        """The next ``count`` requests to ``ots`` / ``oss`` / ``mns`` fail (``OTS_WRITE_FAULT`` and the other
        fault constants say how); False on the local backend. For Tablestore the count is per kind (the next
        ``count`` writes, and the next ``count`` other requests unless ``writes_only``)."""
        stack = self.services.stack
        if stack is None:
            return False

        def repeat(item: str) -> dict[str, Any]:
            return {"sequence": [item] * count}

        if service == "ots":
            plan = {op: repeat(OTS_WRITE_FAULT) for op in OTS_WRITES}
            if not writes_only:
                plan["*"] = repeat(OTS_OTHER_FAULT)
            stack.tablestore.set_faults({"operations": plan})
        elif service == "oss":
            stack.oss.set_faults({"operations": {"*": repeat(OSS_FAULT)}})
        else:
            stack.mns.set_faults({"operations": {"*": repeat(MNS_FAULT)}})
        return True

    def clear_storage_faults(self) -> None:
        if self.services.stack is not None:
            for double in self.services.stack.doubles:
                double.set_faults({})


# --- the scenarios ------------------------------------------------------------------------------------------------

def clear_of_window_edge(margin: float = 30.0) -> None:
    """Waits (at most ``margin`` s) until the next rate-limit window is more than ``margin`` s away, so the steps
    about the per-hour limit land in one window and answer the same on every run."""
    left = WINDOW_SECONDS - time.time() % WINDOW_SECONDS
    if left < margin:
        time.sleep(left + 0.1)


def initializer(s: Session) -> None:
    s.initialize()
    s.http("no token: 401", "POST", "/verifications", 401, body={"docType": "01000000"})
    s.http("bad token: 401", "GET", "/verifications/abc", 401, headers={"Authorization": "Bearer x.y.z"})
    s.http("CORS preflight", "OPTIONS", "/verifications", {200, 204},
           headers={"Origin": "https://shop.example.com", "Access-Control-Request-Method": "POST"})
    s.http("body not JSON: 400", "POST", "/verifications", 400, user="u1", body=b"{not json")
    s.http("unknown field: 400", "POST", "/verifications", 400, user="u1", body={"docType": "01000000", "x": 1})
    s.http("unknown route: 404", "GET", "/nowhere", 404)
    valid = {"docType": "01000000", "metaInfo": {"bioMetaInfo": "x"}, "returnUrl": RETURN_URL}
    clear_of_window_edge()  # u1's three starts below must fall in one hour
    created = s.http("start a verification: 201", "POST", "/verifications", 201, user="u1", body=valid)
    mbid = str(created.get("merchantBizId", "missing"))
    s.check("the row is stored PENDING before the answer", s.row_status(mbid) == "PENDING", f"{s.row_status(mbid)}")
    view = s.http("read it back: 200", "GET", f"/verifications/{mbid}", 200, user="u1")
    s.check("it reads PENDING", view.get("status") == "PENDING", str(view))
    s.http("someone else's: 404", "GET", f"/verifications/{mbid}", 404, user="u2")
    s.http("unknown id: 404", "GET", "/verifications/0123456789abcdef", 404, user="u1")
    s.services.set_vendor_faults({"Initialize": {"sequence": ["Forbidden.RAMUserAccessDenied"]}})
    s.http("vendor refuses our keys: 502", "POST", "/verifications", 502, user="u3", body=valid)
    s.services.set_vendor_faults({"Initialize": {"sequence": ["Throttling.Api", "Throttling.Api"]}})
    s.http("vendor throttles: 503", "POST", "/verifications", 503, user="u3", body=valid)
    s.services.set_vendor_faults({"Initialize": {"sequence": ["drop-before", "drop-before"]}})
    s.http("vendor unreachable: 502", "POST", "/verifications", 502, user="u3", body=valid)
    s.services.set_vendor_faults()
    s.http("second of two per hour: 201", "POST", "/verifications", 201, user="u1", body=valid)
    s.http("third of two per hour: 429", "POST", "/verifications", 429, user="u1", body=valid)
    if s.fail_storage("ots", 3, writes_only=True):  # the service's error answer (the read below: a lost connection)
        s.http("Tablestore busy: 503", "POST", "/verifications", 503, user="u4", body=valid)
        s.clear_storage_faults()
        s.fail_storage("ots", 1)
        s.http("Tablestore busy on read: 503", "GET", f"/verifications/{mbid}", 503, user="u1")
        s.clear_storage_faults()


def result_fetcher(s: Session) -> None:
    passed = s.seed({"outcome": "pass"})
    pending = s.seed({"outcome": "pending", "pendingChecks": 10})
    s.initialize()

    def callback(seeded: Seeded, token: str | None = None) -> str:
        return f"/callback/{seeded.merchant_biz_id}?callbackToken={token or seeded.callback_token}"

    s.http("no merchantBizId: 400", "GET", "/callback", 400)
    s.http("unknown verification: 404", "GET", "/callback?merchantBizId=0123abcd&callbackToken=x", 404)
    s.http("wrong callback token: 404", "GET", callback(passed, "not-the-token"), 404)  # as an unknown one
    answer = s.http("callback of a passed verification: 200", "GET", callback(passed), 200)
    s.check("it is final", answer.get("outcome") == "finalized", str(answer))
    status = s.row_status(passed.merchant_biz_id)
    s.check("the row is PASSED", status == "PASSED", f"{status}")
    stored = s.objects(result_prefix(passed.merchant_biz_id))
    s.check("result and images are stored", any(k.endswith("result.json") for k in stored) and len(stored) > 1,
            str(stored))
    s.check("a notification is queued", any(passed.merchant_biz_id.encode() in b for b in s.queued("notify")), "none")
    s.http("the same callback again: 200", "GET", callback(passed), 200)
    answer = s.http("callback of a pending verification: 200", "GET", callback(pending), 200)
    s.check("a re-check is queued", any(pending.merchant_biz_id.encode() in b for b in s.queued("recheck")), "none")
    s.queue_event("a re-check message", "kyc-recheck", [RecheckMessage(pending.merchant_biz_id, 1).to_body()])
    s.queue_event("an unreadable re-check message", "kyc-recheck", [b"\xff not json", b"{}"])
    vendor_error = s.seed({"outcome": "fail", "subCode": "205"})
    s.services.set_vendor_faults({"CheckResult": {"sequence": ["InternalError", "InternalError"]}})
    s.http("vendor error: re-check scheduled", "GET", callback(vendor_error), {200, 503})
    s.services.set_vendor_faults()
    recheck = RecheckMessage(vendor_error.merchant_biz_id, 1).to_body()
    s.queue_event("the re-check after a vendor error", "kyc-recheck", [recheck])
    s.check("a failed verification ends FAILED", s.row_status(vendor_error.merchant_biz_id) == "FAILED",
            f"{s.row_status(vendor_error.merchant_biz_id)}")
    if s.backend == "aliyun":
        oss_down = s.seed({"outcome": "pass"})
        unscheduled = s.seed({"outcome": "pending", "pendingChecks": 10})  # no re-check scheduled yet: not a duplicate
        s.fail_storage("oss", 20)
        s.http("OSS failing: re-check scheduled", "GET", callback(oss_down), {200, 503})
        s.clear_storage_faults()
        s.fail_storage("ots", 3)
        s.http("Tablestore failing: 503", "GET", callback(oss_down), 503)
        s.clear_storage_faults()
        s.fail_storage("mns", 10)
        s.queue_event("MNS failing: the re-check raises", "kyc-recheck",
                      [RecheckMessage(unscheduled.merchant_biz_id, 1).to_body()], expect_error="RecheckNotScheduled")
        s.clear_storage_faults()
        s.http("after the outages: 200", "GET", callback(oss_down), 200)


def notifier(s: Session) -> None:
    done = s.seed({"outcome": "pass"})
    s.finalize_here(done)
    s.initialize()
    body = json.dumps({"merchantBizId": done.merchant_biz_id, "attempt": 0}).encode()
    before = len(s.queued("notify"))
    s.queue_event("notify a final verification", "kyc-notify", [body])
    if s.backend == "local":
        deliveries = [d for d in s.services.receiver.deliveries if d.path == "/ok"]
        s.check("the webhook arrives signed", bool(deliveries) and _signature_ok(deliveries[-1]), f"{len(deliveries)}")
        s.check("a refusing subscriber gets a retry", len(s.queued("notify")) > before, "no follow-up queued")
    else:
        s.check("a failing subscriber gets a retry", len(s.queued("notify")) > before, "no follow-up queued")
    last = json.dumps({"merchantBizId": done.merchant_biz_id, "attempt": 2}).encode()
    s.queue_event("retries exhausted: dead letter", "kyc-notify", [last])
    s.check("the dead letter is queued", bool(s.queued("deadletter")), "none")
    s.queue_event("unreadable and unknown messages", "kyc-notify",
                  [b"\x00garbage", json.dumps({"merchantBizId": "0123456789abcdef"}).encode()])
    if s.fail_storage("mns", 10):
        s.queue_event("MNS failing: the batch raises for redelivery", "kyc-notify", [body], expect_error="RuntimeError")
        s.clear_storage_faults()
    if s.fail_storage("ots", 3):
        s.queue_event("Tablestore failing: the batch raises for redelivery", "kyc-notify", [body],
                      expect_error="RuntimeError")
        s.clear_storage_faults()


def sweeper(s: Session) -> None:
    silent = s.seed({"outcome": "pass"})  # finished at the vendor, callback never came
    old = s.seed({"outcome": "fail", "subCode": "205"}, age_seconds=3 * 86400)  # past retention once final
    s.finalize_here(old, age_seconds=3 * 86400 - 60)  # announced long ago (a row settled just now is kept an hour)
    gone = s.seed(None, age_seconds=3600)  # never finished: abandoned
    s.initialize()
    report = s.invoke("a sweep", timer_event())
    report = report if isinstance(report, dict) else {}
    s.check("the silent verification is finalized", s.row_status(silent.merchant_biz_id) == "PASSED", str(report))
    s.check("the unfinished one is abandoned", s.row_status(gone.merchant_biz_id) == "ABANDONED", str(report))
    deleted = s.row_status(old.merchant_biz_id) is None and not s.objects(result_prefix(old.merchant_biz_id))
    s.check("the old one is deleted with its objects", deleted, str(report))
    s.check("no step failed", not report.get("errors"), str(report))
    s.invoke("a sweep with nothing to do", timer_event())
    if s.fail_storage("ots", 50):
        report = s.invoke("a sweep while Tablestore fails", timer_event())
        s.check("it reports the failing steps", isinstance(report, dict) and bool(report.get("errors")), str(report))
        s.clear_storage_faults()


def _signature_ok(delivery: Delivery) -> bool:
    """The Standard Webhooks reference library verifies what the notifier signed (an independent check)."""
    from standardwebhooks.webhooks import Webhook  # noqa: PLC0415 - a dev dependency, used only here

    try:
        Webhook(WEBHOOK_SECRET).verify(delivery.body, delivery.headers)
    except Exception:
        return False
    return True


SCENARIOS: dict[str, Callable[[Session], None]] = {
    "initializer": initializer,
    "result_fetcher": result_fetcher,
    "notifier": notifier,
    "sweeper": sweeper,
}


def _generic(s: Session) -> None:
    """A function without a scenario: its import and ``initialize`` (when it has one) are all that is traced."""
    answer = s.child.call({"op": "initialize"})
    if not answer.get("ok") and "has no attribute 'initialize'" not in str(answer.get("error")):
        s.check("initialize", False, str(answer.get("error")))


def exercise(folder: Path, function: str, python: str, backends: tuple[str, ...] = BACKENDS) -> list[Run]:
    """Runs ``function``'s scenario from ``folder`` on ``python`` for each backend; one ``Run`` per backend."""
    scenario = SCENARIOS.get(function, _generic)
    runs = []
    for backend in backends:
        with tempfile.TemporaryDirectory(prefix=f"kyc-exercise-{function}-{backend}-") as tmp:
            services = Services(backend, Path(tmp))
            run = Run(function, backend)
            env = services.env()
            child = Child(python, folder, env, Path(tmp) / "stderr.log")
            try:
                ready = child.call({"op": "ready"})
                if not ready.get("ok"):
                    run.import_error = str(ready.get("error"))
                    run.stderr_tail = child.stderr_tail()
                    runs.append(run)
                    return runs
                if not str(ready.get("index", "")).startswith(str(folder.resolve())):
                    raise ExerciseError(f"index was imported from {ready.get('index')}, not from {folder}")
                session = Session(run, child, services, env)
                try:
                    scenario(session)
                except ExerciseError:
                    raise
                except Exception as exc:  # a scenario's own failure is a failed step, not a crash of the tool
                    run.steps.append(Step("scenario", False, f"{type(exc).__name__}: {exc}"))
                traced = child.call({"op": "trace"})
                if not traced.get("ok"):
                    raise ExerciseError(f"{function}/{backend}: {traced.get('error')} ({child.stderr_tail()})")
                run.trace = traced["trace"]
                run.stderr_tail = child.stderr_tail()
            finally:
                child.close()
                services.close()
            runs.append(run)
    return runs
