"""Helpers of the end-to-end tests: the leak guard (no PII in logs), an HTTP client, and a running local stack."""

from __future__ import annotations

import http.client
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit

from shared import jsonutil
from shared.storage import (
    ObjectStore,
    SqliteQueue,
    StorageSettings,
    TransactionRecord,
    TransactionStore,
    open_object_store,
    open_transaction_store,
)
from shared.storage.settings import QUEUES_FILE
from tools.devstack.dev import DevStack
from tools.devstack.worker import timer_event

# --- the leak guard ----------------------------------------------------------------------------------------

#: ocrIdInfo fields that identify a person. Sex, nationality and document dates are not secret on their own
#: (the masked identity shows them), so they are not looked for.
PII_FIELDS = frozenset(
    {
        "name", "englishName", "nameCode", "surname", "givenname", "surnameCN", "givennameCN", "idNumber",
        "passportNo", "birthDate", "address", "placeOfBirth", "firstName", "lastName", "dateOfBirth",
    }
)  # fmt: skip
#: Shapes that are never allowed in a log line or an error body, whatever the test registered.
FORBIDDEN_PATTERNS: dict[str, re.Pattern[str]] = {
    "a JWT": re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    "a webhook secret": re.compile(r"whsec_[A-Za-z0-9+/=]{8,}"),
    "JPEG base64 (an image)": re.compile(r"/9j/4AAQSkZJRg"),
    "image bytes": re.compile(r"SANDBOX PLACEHOLDER"),
}
MIN_VALUE_CHARS = 4


@dataclass(frozen=True)
class Leak:
    label: str
    where: str

    def __str__(self) -> str:  # never the value itself: the report must not repeat the leak
        return f"{self.label} found in {self.where}"


def _forms(value: str) -> set[str]:
    """The spellings a value can take in a log line: as is, URL-encoded, JSON-escaped (raw or ASCII-only)."""
    escaped = jsonutil.dumps_str(value)[1:-1]
    ascii_only = "".join(c if ord(c) < 128 else f"\\u{ord(c):04x}" for c in escaped)
    return {value, quote(value, safe=""), quote_plus(value), escaped, ascii_only}


def find_leaks(
    texts: Iterable[tuple[str, str]],
    forbidden: Mapping[str, str],
    patterns: Mapping[str, re.Pattern[str]] = FORBIDDEN_PATTERNS,
) -> list[Leak]:
    """Every (label, where) such that a forbidden value (``value -> label``) or pattern occurs in a text."""
    spellings = [(form, label) for value, label in forbidden.items() for form in _forms(value)]
    leaks: list[Leak] = []
    for where, text in texts:
        for form, label in spellings:
            if form in text:
                leaks.append(Leak(label, where))
        for label, pattern in patterns.items():
            if pattern.search(text):
                leaks.append(Leak(label, where))
    return sorted(set(leaks), key=lambda leak: (leak.where, leak.label))


class _RecordCollector(logging.Handler):
    """Keeps every logging record that reaches the root logger, formatted with its exception and extras."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self._formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        self._standard = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self._formatter.format(record)
        except Exception:  # a record we cannot format: still keep what it carries
            line = f"{record.msg!r} {record.args!r}"
        extras = {k: v for k, v in record.__dict__.items() if k not in self._standard}
        self.lines.append(f"{line} {extras!r}" if extras else line)


class LeakGuard:
    """Collects what must never be logged and everything that was; :meth:`leaks` compares them."""

    def __init__(self) -> None:
        self.forbidden: dict[str, str] = {}
        self.texts: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._collector = _RecordCollector()
        self._root_level: int | None = None
        self.harvesters: list[Callable[[], None]] = []

    def forbid(self, label: str, value: str | None) -> None:
        if value and len(value) >= MIN_VALUE_CHARS:
            with self._lock:
                self.forbidden.setdefault(value, label)

    def forbid_identity(self, identity: Mapping[str, Any], label: str = "identity") -> None:
        for key, value in identity.items():
            if key in PII_FIELDS and isinstance(value, str):
                self.forbid(f"{label}.{key}", value)

    def observe(self, where: str, text: str) -> None:
        with self._lock:
            self.texts.append((where, text))

    def install(self) -> None:
        root = logging.getLogger()
        self._root_level = root.level
        root.addHandler(self._collector)
        root.setLevel(logging.DEBUG)

    def uninstall(self) -> None:
        root = logging.getLogger()
        root.removeHandler(self._collector)
        if self._root_level is not None:
            root.setLevel(self._root_level)

    def leaks(self, out: str, err: str) -> list[Leak]:
        for harvest in self.harvesters:
            harvest()
        texts = [("stdout", out), ("stderr", err), *self.texts]
        texts += [("a logging record", line) for line in self._collector.lines]
        return find_leaks(texts, self.forbidden)


# --- HTTP ---------------------------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return jsonutil.loads(self.body)


def request(
    base_url: str,
    method: str,
    target: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    guard: LeakGuard | None = None,
    timeout: float = 15.0,
) -> Reply:
    """One request over a fresh connection; error bodies are handed to the guard."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        conn.request(method, target, body=body, headers=dict(headers or {}))
        resp = conn.getresponse()
        reply = Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()
    if guard is not None and reply.status >= 400:
        where = f"the {reply.status} answer to {method} {urlsplit(target).path}"
        guard.observe(where, reply.body.decode("utf-8", "replace"))
    return reply


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02, what: str = "") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


# --- the stack ----------------------------------------------------------------------------------------------

#: Distinctive synthetic identity (a passport) every completion gets unless a test says otherwise.
IDENTITY = {
    "surname": "QUIXOTEVANE",
    "givenname": "ZEPHYRINE",
    "passportNo": "ZP7731904",
    "birthDate": "1983-07-19",
}
PASSPORT = "01000000"


@dataclass
class Started:
    merchant_biz_id: str
    transaction_id: str
    transaction_url: str
    token: str


@dataclass
class E2EStack:
    """A started :class:`DevStack` plus what the tests need to drive and inspect it."""

    dev: DevStack
    guard: LeakGuard
    marker: str
    tokens: list[str] = field(default_factory=list)
    _store: TransactionStore | None = field(default=None, repr=False)
    _objects: ObjectStore | None = field(default=None, repr=False)

    # -- addresses and parts
    @property
    def url(self) -> str:
        assert self.dev.gateway is not None
        return self.dev.gateway.url

    @property
    def sandbox_url(self) -> str:
        assert self.dev.sandbox is not None
        return self.dev.sandbox.base_url

    @property
    def data_dir(self) -> Path:
        return self.dev.data_dir

    @property
    def webhook_secret(self) -> str:
        return self.dev.secrets["webhook_secret"]

    @property
    def backend(self) -> str:
        return "aliyun" if self.dev.doubles is not None else "local"

    def _storage(self) -> StorageSettings:
        return StorageSettings.from_env(self.dev.env)  # what the functions read, on either backend

    def store(self) -> TransactionStore:
        """The transactions as the functions store them (Tablestore over the wire, or SQLite)."""
        if self._store is None:
            self._store = open_transaction_store(self._storage())
        return self._store

    def objects(self) -> ObjectStore:
        """The result objects as the functions store them (the OSS bucket over the wire, or the directory)."""
        if self._objects is None:
            self._objects = open_object_store(self._storage())
        return self._objects

    def queue_size(self, name: str) -> int:
        """Messages on the ``recheck``/``notify``/``deadletter`` queue, delayed and in-flight ones included."""
        queue_name = self._storage().queue_names[name]
        if self.dev.doubles is not None:
            return self.dev.doubles.queue_depth(queue_name)
        return SqliteQueue(self.data_dir / QUEUES_FILE, queue_name).size()

    # -- HTTP
    def call(self, method: str, target: str, body: Any = None, token: str | None = None,
             headers: Mapping[str, str] | None = None) -> Reply:
        sent = dict(headers or {})
        data: bytes | None = None
        if body is not None:
            data = body if isinstance(body, bytes) else jsonutil.dumps(body)
            sent.setdefault("Content-Type", "application/json")
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        return request(self.url, method, target, data, sent, self.guard)

    def control(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else jsonutil.dumps(body)
        reply = request(self.sandbox_url, method, f"/_sandbox/{path}", data, {"Content-Type": "application/json"})
        assert reply.status == 200, (reply.status, reply.body[:300])
        return reply.json()

    def token(self, user: str = "alice") -> str:
        token = self.dev.demo_token(user)
        self.tokens.append(token)
        self.guard.forbid("a JWT", token)
        return token

    def meta_info(self) -> str:
        return jsonutil.dumps_str({"deviceType": "web", "bioMetaInfo": self.marker, "ua": "e2e"})

    def start_verification(self, user: str = "alice", doc_type: str = PASSPORT, **extra: Any) -> Started:
        token = self.token(user)
        body = {"docType": doc_type, "metaInfo": self.meta_info(), "returnUrl": f"{self.url}/", **extra}
        reply = self.call("POST", "/verifications", body, token)
        assert reply.status == 201, (reply.status, reply.body[:300])
        data = reply.json()
        return Started(data["merchantBizId"], data["transactionId"], data["transactionUrl"], token)

    def complete(self, transaction_id: str, outcome: str = "pass", **extra: Any) -> Any:
        extra.setdefault("identity", IDENTITY)
        return self.control("POST", f"transactions/{transaction_id}/complete", {"outcome": outcome, **extra})

    def faults(self, plan: Mapping[str, Any]) -> None:
        self.control("POST", "faults", plan)

    def callbacks(self, transaction_id: str | None = None) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self.control("GET", "callbacks")["callbacks"]
        return [e for e in entries if transaction_id is None or e["transactionId"] == transaction_id]

    def callback_query(self, transaction_id: str) -> dict[str, str]:
        """The parameters the vendor sent (or would have sent) for this transaction, callback token included, and
        the ``merchantBizId`` of the URL's path (``/callback/<id>``)."""
        (entry, *_) = self.callbacks(transaction_id)
        url = urlsplit(entry["url"])
        return {**dict(parse_qsl(url.query)), "merchantBizId": url.path.rsplit("/", 1)[1]}

    def callback(self, query: Mapping[str, str]) -> Reply:
        """The callback with ``query``'s parameters, its ``merchantBizId`` in the path as the vendor is given it."""
        params = dict(query)
        return self.call("GET", f"/callback/{params.pop('merchantBizId')}?" + urlencode(params))

    def invoke_sweeper(self) -> Any:
        assert self.dev.gateway is not None
        return self.dev.gateway.invoke("sweeper", timer_event())

    # -- inspection
    def row(self, merchant_biz_id: str) -> TransactionRecord:
        record = self.store().get(merchant_biz_id)
        assert record is not None, "no stored row"
        return record

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until the re-check and notify queues are empty (every message handled and deleted)."""
        wait_until(lambda: all(self.queue_size(q) == 0 for q in ("recheck", "notify")), timeout,
                   what="the queues to drain")

    def wait_for_status(self, merchant_biz_id: str, status: str, timeout: float = 10.0) -> TransactionRecord:
        store = self.store()

        def final() -> TransactionRecord | None:
            record = store.get(merchant_biz_id)
            return record if record is not None and record.status == status else None

        record: TransactionRecord = wait_until(final, timeout, what=f"status {status}")
        return record

    def wait_for_webhooks(self, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        def arrived() -> list[dict[str, Any]] | None:
            received: list[dict[str, Any]] = self.call("GET", "/demo/webhooks").json()["received"]
            return received if len(received) >= count else None

        result: list[dict[str, Any]] = wait_until(arrived, timeout, what=f"{count} webhook(s)")
        return result

    def harvest(self) -> None:
        """Tell the guard every secret value this stack handled (called before the stack stops)."""
        guard = self.guard
        guard.forbid("the MetaInfo marker", self.marker)
        for name in ("jwt_secret", "user_id_pepper", "webhook_secret"):
            guard.forbid(f"the {name}", self.dev.secrets[name])
        sandbox = self.dev.sandbox
        if sandbox is None:
            return
        guard.forbid("the vendor access key secret", sandbox.config.access_key_secret)
        guard.forbid("the security token", self.dev.env.get("ALIBABA_CLOUD_SECURITY_TOKEN"))
        for entry in sandbox.app.callbacks.log():
            token = dict(parse_qsl(urlsplit(entry["url"]).query)).get("callbackToken")
            guard.forbid("a callback token", token)
        for tx in sandbox.app.store.all():
            guard.forbid_identity(tx.identity, "identity")
            guard.forbid("a callback token", tx.callback_token)


# --- shared assertions --------------------------------------------------------------------------------------


def verify_signature(secret: str, webhook_id: str, timestamp: str, signature: str, body: bytes) -> Any:
    """Check one delivery with the reference implementation (PyPI ``standardwebhooks``); returns the event."""
    from standardwebhooks.webhooks import Webhook

    headers = {"webhook-id": webhook_id, "webhook-timestamp": timestamp, "webhook-signature": signature}
    return Webhook(secret).verify(body, headers)


def delivered(stack: E2EStack) -> list[Any]:
    """Every webhook the demo receiver accepted, each verified independently; returns the parsed events."""
    with stack.dev.demo.inbox.lock:
        received = list(stack.dev.demo.inbox.received)
    events = []
    for item in received:
        assert item.verified, "the demo receiver rejected a signature"
        event = verify_signature(stack.webhook_secret, item.webhook_id, item.timestamp, item.signature, item.body)
        events.append(event)
    return events


def kept_answer(stack: E2EStack, merchant_biz_id: str) -> str:
    """The folder of the answer the row leads to: ``results/<merchantBizId>/<answer digest>/``."""
    key = stack.row(merchant_biz_id).result_key
    assert key is not None and key.endswith("/result.json"), key
    prefix = key.removesuffix("result.json")
    assert prefix.startswith(f"results/{merchant_biz_id}/") and prefix.count("/") == 3, prefix
    return prefix


def stored_result(stack: E2EStack, merchant_biz_id: str) -> dict[str, Any]:
    """The stored ``result.json`` after checking the object layout: images beside it, no image bytes inside."""
    objects = stack.objects()
    prefix = kept_answer(stack, merchant_biz_id)
    assert objects.list(f"results/{merchant_biz_id}/") == [f"{prefix}faceImg.jpg", f"{prefix}idImage.jpg",
                                                           f"{prefix}result.json"]
    raw = objects.get(f"{prefix}result.json")
    assert b"/9j/" not in raw and b"SANDBOX PLACEHOLDER" not in raw, "result.json carries image bytes"
    document: dict[str, Any] = jsonutil.loads(raw)
    assert document["images"] == {"idImage": f"{prefix}idImage.jpg", "faceImg": f"{prefix}faceImg.jpg"}
    for name in ("idImage", "faceImg"):
        assert objects.get(f"{prefix}{name}.jpg").startswith(b"\xff\xd8\xff"), f"{name} is not the JPEG"
    return document


MakeStack = Callable[..., E2EStack]
