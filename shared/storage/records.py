"""The transaction record: one verification, as every backend stores it."""

from __future__ import annotations

from shared import jsonutil
from shared.ids import validate_merchant_biz_id
from shared.status import VERDICTS, Status
from shared.values import asdict, field, fields, valueclass

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any, Final, Literal

    Passed = Literal["Y", "N", "P"]

PASSED_VALUES: Final[frozenset[str]] = frozenset({"Y", "N", "P"})

# Columns stored as JSON text (Tablestore has no map type; SQLite keeps the same layout).
_JSON_COLUMNS: Final = frozenset({"identity_masked", "face"})
_BOOL_COLUMNS: Final = frozenset({"notification_enqueued", "vendor_copy_deleted"})
_INT_COLUMNS: Final = frozenset({"check_count", "result_version", "recheck_attempt"})
_FLOAT_COLUMNS: Final = frozenset({"created_at", "updated_at", "finalized_at", "next_check_at", "notified_at"})

#: A late verdict over an ABANDONED row abandoned at its ``now`` or later is stamped this much after the abandonment
#: (seconds): merchants order a verification's events by the webhook's ``timestamp``, which shows milliseconds cut
#: (not rounded) from the microsecond (``shared.timestamps.rfc3339``): 1 ms of float seconds may render as the same
#: millisecond, 2 ms never do.
FINALIZED_AFTER_ABANDONED = 0.002


def finalized_at_over_abandoned(abandoned_at: float | None, now: float) -> float:
    """When a verdict replacing an abandonment made at ``abandoned_at`` becomes final: ``now``, or just after the
    abandonment if that is not earlier (``TransactionStore.finalize``)."""
    return max(now, (abandoned_at or 0.0) + FINALIZED_AFTER_ABANDONED)


def face_verdicts(face: Any) -> dict[str, Any] | None:
    """A row's ``face``: the face verdicts, or None when there are none (no face section, e.g. a verdict on the
    document before the face step; an object of nulls, as rows of older releases keep). The fetcher writes it, the
    notifier compares a row's with its kept result's (review zz: an object of nulls was announced)."""
    return face if type(face) is dict and any(value is not None for value in face.values()) else None


@valueclass(frozen=False)
class TransactionRecord:
    """One verification. ``merchant_user_id`` is already an HMAC of the merchant's user id, never the raw id.

    ``result_version`` is monotonic (e.g. the epoch milliseconds at which the vendor answer was fetched);
    ``notification_enqueued`` is the outbox flag: False until the notify message for the final status is sent;
    ``notified_at`` is when it was sent (``None`` on rows flagged before it was recorded): retention holds a row for
    its announcement from then, not from its verdict, which a notify queue's outage may have preceded by days.
    ``doc_type`` is ``""`` for a product that verifies no document (the column is NOT NULL in existing tables);
    ``product_code`` is the ProductCode the verification was started with (``None`` on rows written before it was
    recorded: the deployment's default product then); ``face`` is the result's face section (liveness and attack
    verdicts and scores, no image), set with the verdict. ``recheck_attempt`` is the number of the latest re-check
    message scheduled for the row (0: none yet): a re-check message with a lower number is a duplicate
    (:meth:`shared.fetcher.ResultFetcher.fetch`); it only grows (``TransactionStore.record_check``).
    """

    merchant_biz_id: str
    transaction_id: str
    merchant_user_id: str
    doc_type: str
    scene_code: str | None = None
    status: Status = Status.PENDING
    passed: Passed | None = None
    sub_code: str | None = None
    callback_token_hash: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    finalized_at: float | None = None
    check_count: int = 0
    next_check_at: float | None = None
    result_key: str | None = None
    identity_masked: dict[str, Any] | None = None
    notification_enqueued: bool = False
    result_version: int = 0
    vendor_copy_deleted: bool = False
    error: str | None = None
    product_code: str | None = None
    face: dict[str, Any] | None = None
    recheck_attempt: int = 0
    #: Kept only for a start with an ``Idempotency-Key``, to answer its repeat: the vendor's page for this user
    #: (never shown by ``repr``, logs or the CLI) and the SHA-256 of the request it answered.
    transaction_url: str | None = field(default=None, repr=False)
    request_fingerprint: str | None = None
    notified_at: float | None = None

    def __post_init__(self) -> None:
        validate_merchant_biz_id(self.merchant_biz_id)
        try:
            self.status = Status(self.status)  # a plain string (from a column, a test) becomes its member
        except ValueError:
            raise ValueError(f"status must be one of {', '.join(s.value for s in Status)}") from None
        if self.passed is not None and self.passed not in PASSED_VALUES:
            raise ValueError("passed must be Y, N, P or None")

    @property
    def is_final(self) -> bool:
        """PASSED or FAILED: never overwritten. ABANDONED is final for the merchant but a late result may replace it."""
        return self.status in VERDICTS

    def to_item(self) -> dict[str, str | int | float | bool]:
        """Flat column values for storage: ``None`` columns are left out, ``identity_masked``/``face`` are JSON text."""
        item: dict[str, str | int | float | bool] = {}
        for name, value in asdict(self).items():
            if value is None:
                continue
            if name in _JSON_COLUMNS:
                item[name] = jsonutil.dumps_str(value)
            elif isinstance(value, Status):
                item[name] = value.value  # the column holds the plain string
            else:
                item[name] = value
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> TransactionRecord:
        """Inverse of :meth:`to_item`; unknown columns are ignored, missing ones take their defaults."""
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for name, value in item.items():
            if name not in known or value is None:
                continue
            if name in _JSON_COLUMNS:
                kwargs[name] = jsonutil.loads(value) if isinstance(value, str | bytes) else value
            elif name in _BOOL_COLUMNS:
                kwargs[name] = bool(value)
            elif name in _INT_COLUMNS:
                kwargs[name] = int(value)
            elif name in _FLOAT_COLUMNS:
                kwargs[name] = float(value)
            else:
                kwargs[name] = value
        return cls(**kwargs)
