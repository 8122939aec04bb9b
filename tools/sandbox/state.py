"""Transactions, their outcomes, the CheckResult documents built from them, and the callback sender."""

from __future__ import annotations

import secrets
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from shared import jsonutil
from tools.sandbox.config import SandboxConfig
from tools.sandbox.faults import FaultInjector
from tools.sandbox.synth import SPOOF_TYPES, fake_identity, placeholder_jpeg_b64

OUTCOMES = ("pass", "fail", "spoof", "pending", "abandon")
#: "ID Verification:InitializeV2" (FACE_LIVENESS_PRO, help/zh/ekyc/latest/liveness-initialize-1, 接入注意事项):
#: "客户端须在获取 TransactionId 或 TransactionUrl 后的 30 分钟内完成认证" (the verification must be completed within 30
#: minutes of the TransactionId); the eKYC_PRO page (pro-init) has the section, cut off where read (unverified
#: there). What the page shows after that and what CheckResult answers for such a flow are undocumented: here the
#: page says the link expired, and CheckResult answers as for any unfinished flow. For a flow started with
#: Initialize no window is documented (none here).
V2_FINISH_WITHIN_SECONDS = 30 * 60.0
FACE_ONLY_OUTCOMES = ("pass", "fail", "pending", "abandon")  # no document: nothing to spoof
# A stand-in, deliberately not in shared/subcodes.py: its cloudauth-intl meaning is unverified (201 means other things
# in other Alibaba Cloud products), so the backend's "not in our table" path runs.
DEFAULT_FAIL_SUB_CODE = "201"
# A failed liveness check: the FaceLiveness API's metadata sample (not CheckResult) answers Passed N, SubCode 205,
# FaceAttack Y
# (medium confidence: the face products' SubCode tables could not be read).
FACE_ONLY_FAIL_SUB_CODE = "205"
SPOOF_SUB_CODE = "212"
PASS_SUB_CODE = "200"  # noqa: S105 (a result code, not a secret)
# (ExtFaceInfo scores) -- the documented example values
FACE_PASS = {"faceAttack": "N", "faceComparisonScore": 92.1, "facePassed": "Y", "authorityComparisonScore": 80.39}
FACE_FAIL = {"faceAttack": "N", "faceComparisonScore": 52.57, "facePassed": "N", "authorityComparisonScore": 80.39}
# Face-only products: liveness verdicts with the keys of the KYC_GLOBAL CheckResult sample (faceQuality,
# faceOcclusion); which keys FACE_LIVENESS_PRO fills is UNVERIFIED. No comparison: there is no document photo.
LIVENESS_PASS = {"faceAttack": "N", "facePassed": "Y", "faceQuality": 95.45, "faceOcclusion": "N"}
LIVENESS_FAIL = {"faceAttack": "Y", "facePassed": "N", "faceQuality": 87.19, "faceOcclusion": "N"}


class OutcomeError(ValueError):
    """A completion request is malformed; the message names the field."""


@dataclass
class Outcome:
    kind: str  # pass | fail | spoof | pending | abandon
    sub_code: str | None = None
    spoof_types: list[str] = field(default_factory=list)
    pending_checks: int = 0
    pending_seconds: float = 0.0
    resolves_to: str = "pass"  # the final answer of a pending outcome: pass | fail
    final_sub_code: str | None = None
    identity: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any) -> Outcome:
        if not isinstance(data, dict):
            raise OutcomeError("the body must be a JSON object")
        kind = data.get("outcome")
        if kind not in OUTCOMES:
            raise OutcomeError(f"outcome must be one of {', '.join(OUTCOMES)}")
        sub_code = data.get("subCode")
        if sub_code is not None and (not isinstance(sub_code, str) or not sub_code.isalnum()):
            raise OutcomeError("subCode must be a string of letters/digits")
        spoof_types = data.get("spoofTypes", [SPOOF_TYPES[0]] if kind == "spoof" else [])
        if not isinstance(spoof_types, list) or not all(isinstance(t, str) and t for t in spoof_types):
            raise OutcomeError("spoofTypes must be a list of strings")
        pending_checks = data.get("pendingChecks", 1 if kind == "pending" and "pendingSeconds" not in data else 0)
        if isinstance(pending_checks, bool) or not isinstance(pending_checks, int) or not 0 <= pending_checks <= 1000:
            raise OutcomeError("pendingChecks must be a whole number between 0 and 1000")
        pending_seconds = data.get("pendingSeconds", 0.0)
        if isinstance(pending_seconds, bool) or not isinstance(pending_seconds, int | float) or pending_seconds < 0:
            raise OutcomeError("pendingSeconds must be a number of seconds")
        resolves_to = data.get("resolvesTo", "pass")
        if resolves_to not in ("pass", "fail"):
            raise OutcomeError("resolvesTo must be pass or fail")
        final_sub_code = data.get("finalSubCode")
        if final_sub_code is not None and (not isinstance(final_sub_code, str) or not final_sub_code.isalnum()):
            raise OutcomeError("finalSubCode must be a string of letters/digits")
        identity = data.get("identity", {})
        if not isinstance(identity, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in identity.items()
        ):
            raise OutcomeError("identity must be an object of strings")
        return cls(
            kind=kind,
            sub_code=sub_code,
            spoof_types=list(spoof_types),
            pending_checks=pending_checks,
            pending_seconds=float(pending_seconds),
            resolves_to=resolves_to,
            final_sub_code=final_sub_code,
            identity=dict(identity),
        )


@dataclass
class Transaction:
    transaction_id: str
    merchant_biz_id: str
    merchant_user_id: str
    product_code: str
    doc_type: str | None  # None: a face-only product (no document)
    return_url: str
    callback_url: str | None
    callback_token: str | None = field(repr=False)
    params: dict[str, str] = field(repr=False)
    page_token: str = field(repr=False)
    transaction_url: str
    created_at: float
    ocr_as_string: bool
    identity: dict[str, str] = field(repr=False)
    status: str = "INITIALIZED"  # INITIALIZED -> VISITED -> FINISHED | ABANDONED
    page_session: str | None = field(default=None, repr=False)
    outcome: Outcome | None = None
    finished_at: float | None = None
    pending_left: int = 0  # CheckResult answers still to be P
    pending_until: float | None = None
    checks: int = 0
    queried: bool = False  # a final (Y/N) CheckResult answer was given
    images_deleted: bool = False
    text_deleted: bool = False
    action: str = "Initialize"  # the operation that started it

    @property
    def finished(self) -> bool:
        return self.status == "FINISHED"

    def too_late_to_finish(self, now: float) -> bool:
        """A flow started with InitializeV2 and not finished ``V2_FINISH_WITHIN_SECONDS`` after it: the person's
        page can no longer finish it."""
        return self.action == "InitializeV2" and now - self.created_at > V2_FINISH_WITHIN_SECONDS

    @property
    def has_document(self) -> bool:
        return self.doc_type is not None

    @property
    def outcomes(self) -> tuple[str, ...]:
        """The outcomes this flow can end with (a face-only flow has no document to spoof)."""
        return OUTCOMES if self.has_document else FACE_ONLY_OUTCOMES

    def summary(self) -> dict[str, Any]:
        return {
            "transactionId": self.transaction_id,
            "merchantBizId": self.merchant_biz_id,
            "docType": self.doc_type,
            "productCode": self.product_code,
            "action": self.action,
            "status": self.status,
            "outcome": self.outcome.kind if self.outcome else None,
            "createdAt": self.created_at,
            "finishedAt": self.finished_at,
        }

    def detail(self) -> dict[str, Any]:
        out = self.summary()
        out.update(
            {
                "merchantUserId": self.merchant_user_id,
                "transactionUrl": self.transaction_url,
                "returnUrl": self.return_url,
                "callbackUrl": self.callback_url,
                "hasCallbackToken": self.callback_token is not None,
                "parameters": {k: v for k, v in self.params.items() if k != "FacePictureBase64"},
                "identity": self.identity,
                "subCode": self.outcome.sub_code if self.outcome else None,
                "spoofTypes": self.outcome.spoof_types if self.outcome else [],
                "pendingLeft": self.pending_left,
                "pendingUntil": self.pending_until,
                "checks": self.checks,
                "queried": self.queried,
                "imagesDeleted": self.images_deleted,
                "textDeleted": self.text_deleted,
                "ocrIdInfoAsString": self.ocr_as_string,
            }
        )
        return out


def new_transaction_id() -> str:
    return secrets.token_hex(16)


def new_page_token() -> str:
    return secrets.token_urlsafe(24)


def identity_for(transaction_id: str, doc_type: str | None, pages: str | None) -> dict[str, str]:
    """The fake OCR of the document; none for a face-only flow."""
    if doc_type is None:
        return {}
    return fake_identity(transaction_id, doc_type, back_side=pages == "01,02")


class Store:
    """In-memory transactions keyed by TransactionId and by page token; one lock for both."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._by_id: dict[str, Transaction] = {}
        self._by_token: dict[str, str] = {}

    def add(self, tx: Transaction) -> None:
        with self.lock:
            self._by_id[tx.transaction_id] = tx
            self._by_token[tx.page_token] = tx.transaction_id

    def get(self, transaction_id: str) -> Transaction | None:
        with self.lock:
            return self._by_id.get(transaction_id)

    def by_token(self, token: str) -> Transaction | None:
        with self.lock:
            tid = self._by_token.get(token)
            return self._by_id.get(tid) if tid else None

    def remove(self, transaction_id: str) -> None:
        with self.lock:
            tx = self._by_id.pop(transaction_id, None)
            if tx is not None:
                self._by_token.pop(tx.page_token, None)

    def all(self) -> list[Transaction]:
        with self.lock:
            return sorted(self._by_id.values(), key=lambda t: t.created_at)

    def clear(self) -> None:
        with self.lock:
            self._by_id.clear()
            self._by_token.clear()


def finish(tx: Transaction, outcome: Outcome, now: float, forced_pending: int) -> None:
    """Record the outcome (caller holds the store lock). ``forced_pending`` comes from the fault plan."""
    if outcome.identity:
        tx.identity = {**tx.identity, **outcome.identity}
    tx.outcome = outcome
    if outcome.kind == "abandon":
        tx.status = "ABANDONED"
        return
    tx.status = "FINISHED"
    tx.finished_at = now
    tx.pending_left = forced_pending + (outcome.pending_checks if outcome.kind == "pending" else 0)
    if outcome.kind == "pending" and outcome.pending_seconds > 0:
        tx.pending_until = now + outcome.pending_seconds


def final_answer(tx: Transaction) -> tuple[str, str, str]:
    """``(Passed, SubCode, kind)`` of a finished flow once it is no longer pending."""
    outcome = tx.outcome
    assert outcome is not None
    kind = outcome.kind
    if kind == "pending":
        kind = outcome.resolves_to
        sub = outcome.final_sub_code
    else:
        sub = outcome.sub_code
    if kind == "pass":
        return "Y", sub or PASS_SUB_CODE, kind
    if kind == "spoof":
        return "N", sub or SPOOF_SUB_CODE, kind
    return "N", sub or (DEFAULT_FAIL_SUB_CODE if tx.has_document else FACE_ONLY_FAIL_SUB_CODE), kind


def callback_answer(tx: Transaction) -> tuple[str, str]:
    """``(passed, subCode)`` the callback carries: P for a pending outcome (final answer only via CheckResult)."""
    assert tx.outcome is not None
    if tx.outcome.kind == "pending" or tx.pending_left > 0:
        return "P", ""
    passed, sub, _ = final_answer(tx)
    return passed, sub


def check_result(tx: Transaction, config: SandboxConfig, *, return_image: bool, now: float) -> dict[str, Any]:
    """The ``Result`` object of CheckResult for a finished transaction (caller holds the store lock)."""
    assert tx.outcome is not None
    tx.checks += 1
    if tx.pending_left > 0 or (tx.pending_until is not None and now < tx.pending_until):
        tx.pending_left = max(0, tx.pending_left - 1)
        return {"Passed": "P"}
    tx.queried = True
    passed, sub_code, kind = final_answer(tx)
    if not tx.has_document:
        return _face_only_result(tx, config, passed, sub_code, kind, return_image=return_image)
    id_info: dict[str, Any] = {}
    face_info: dict[str, Any] = {}
    if not tx.text_deleted:
        ocr: Any = dict(tx.identity)
        if tx.ocr_as_string:
            ocr = jsonutil.dumps_str(ocr)
        spoofed = kind == "spoof"
        id_info = {
            "ocrIdPassed": "Y",
            "ocrIdInfo": ocr,
            "spoofInfo": {
                "spoofResult": "Y" if spoofed else "N",
                "spoofType": tx.outcome.spoof_types if spoofed else [],
            },
        }
        if tx.params.get("EditOcrResult", "1") == "1":
            id_info["ocrIdEditInfo"] = {}
        face_info = dict(FACE_FAIL if kind == "fail" else FACE_PASS)
        if kind == "fail" and sub_code == FACE_ONLY_FAIL_SUB_CODE:  # 205: the vendor sample pairs it with faceAttack Y
            face_info["faceAttack"] = "Y"
    if return_image and not tx.images_deleted:
        id_info["idImage"] = placeholder_jpeg_b64(tx.transaction_id, "idImage", config.image_bytes)
        face_info["faceImg"] = placeholder_jpeg_b64(tx.transaction_id, "faceImg", config.image_bytes)
    basic = {} if tx.text_deleted else {"docType": tx.doc_type, "productCode": tx.product_code}
    return {
        "Passed": passed,
        "SubCode": sub_code,
        "ExtIdInfo": jsonutil.dumps_str(id_info),
        "ExtFaceInfo": jsonutil.dumps_str(face_info),
        "ExtBasicInfo": jsonutil.dumps_str(basic),
        "ExtRiskInfo": "{}",
        "ExtInfo": "{}",
        "EkycResult": jsonutil.dumps_str({"passed": passed, "subCode": sub_code}),
    }


def _face_only_result(
    tx: Transaction, config: SandboxConfig, passed: str, sub_code: str, kind: str, *, return_image: bool
) -> dict[str, Any]:
    """A face-only product's ``Result``: the liveness verdict in ExtFaceInfo, no ExtIdInfo and no EkycResult."""
    face_info: dict[str, Any] = {} if tx.text_deleted else dict(LIVENESS_FAIL if kind == "fail" else LIVENESS_PASS)
    if return_image and not tx.images_deleted:
        face_info["faceImg"] = placeholder_jpeg_b64(tx.transaction_id, "faceImg", config.image_bytes)
    basic = {} if tx.text_deleted else {"productCode": tx.product_code}
    return {
        "Passed": passed,
        "SubCode": sub_code,
        "ExtFaceInfo": jsonutil.dumps_str(face_info),
        "ExtBasicInfo": jsonutil.dumps_str(basic),
        "ExtRiskInfo": "{}",
        "ExtInfo": "{}",
    }


# --- callbacks ----------------------------------------------------------------------------------------------


def callback_url(base: str, transaction_id: str, passed: str, sub_code: str, token: str | None) -> str:
    """Append the vendor's parameters to ``base``, keeping its own query (and dropping any fragment). After a ``?``
    on a URL without a query, as the vendor's own example does ("Initialize", CallbackUrl); after a ``&`` on one
    with a query (unverified: the vendor does not say, and the functions give it a URL without one)."""
    url = base.split("#", 1)[0]
    params = {"transactionId": transaction_id, "passed": passed, "subCode": sub_code}
    if token is not None:
        params["callbackToken"] = token
    joiner = "" if url.endswith(("?", "&")) else ("&" if urlsplit(url).query else "?")
    return f"{url}{joiner}{urlencode(params)}"


class CallbackSender:
    """Sends the vendor's GET callbacks from background threads (each with a timeout) and logs every attempt."""

    def __init__(self, config: SandboxConfig, faults: FaultInjector, clock: Callable[[], float]) -> None:
        self._config = config
        self._faults = faults
        self._clock = clock
        self._lock = threading.Lock()
        self._log: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def log(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(entry) for entry in self._log]

    def clear(self) -> None:
        with self._lock:
            self._log.clear()

    def send(self, tx: Transaction) -> None:
        if not tx.callback_url:
            return
        passed, sub_code = callback_answer(tx)
        url = callback_url(tx.callback_url, tx.transaction_id, passed, sub_code, tx.callback_token)
        faults = self._faults.callbacks
        dropped = self._faults.drop_callback()
        for attempt in range(1, faults.duplicates + 1):
            entry: dict[str, Any] = {
                "transactionId": tx.transaction_id,
                "url": url,
                "attempt": attempt,
                "status": "dropped" if dropped else "scheduled",
                "httpStatus": None,
                "error": None,
                "scheduledAt": self._clock(),
                "sentAt": None,
            }
            with self._lock:
                entry["id"] = len(self._log) + 1
                self._log.append(entry)
            if dropped:
                continue
            thread = threading.Thread(
                target=self._deliver, args=(entry, url, faults.delay_seconds), name="sandbox-callback", daemon=True
            )
            with self._lock:
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
            thread.start()

    def _deliver(self, entry: dict[str, Any], url: str, delay: float) -> None:
        if delay > 0 and self._stop.wait(delay):
            self._update(entry, status="cancelled")
            return
        self._update(entry, status="sending", sentAt=self._clock())
        try:
            request = urllib.request.Request(url, method="GET")  # noqa: S310 (http/https checked at Initialize)
            with self._opener.open(request, timeout=self._config.callback_timeout) as r:
                r.read(65536)
                code = int(r.status)
            self._update(entry, status="delivered" if 200 <= code < 300 else "failed", httpStatus=code)
        except urllib.error.HTTPError as exc:
            self._update(entry, status="failed", httpStatus=exc.code, error=f"HTTP {exc.code}")
        except (OSError, ValueError) as exc:
            self._update(entry, status="failed", error=type(exc).__name__)

    def _update(self, entry: dict[str, Any], **changes: Any) -> None:
        with self._lock:
            entry.update(changes)

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)
