"""Typed storage errors. Messages name the operation and a code, never a key's or a record's content."""

from __future__ import annotations


class StorageError(Exception):
    """A storage, object-store or queue operation failed.

    ``transient`` tells whether retrying later may succeed (throttling, 5xx, timeouts, connection errors);
    ``code`` is the backend's error code when it gave one; ``maybe_sent`` is True when a write may have been
    applied although it failed: no answer arrived, an answer could not be taken, or the service answered 5xx (e.g.
    Tablestore's ``OTSTimeout``); the caller must rely on idempotency when it retries, or read back.
    """

    def __init__(
        self,
        message: str,
        *,
        transient: bool = False,
        code: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        maybe_sent: bool = False,
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.code = code
        self.status = status
        self.request_id = request_id
        self.maybe_sent = maybe_sent


class RecordExists(StorageError):
    """``create`` found a row with the same ``merchant_biz_id``."""

    def __init__(self) -> None:
        super().__init__("transaction record already exists", code="RecordExists")


class OutOfTime(StorageError):
    """A retry loop stopped because the caller's time budget could not afford another round. The rounds lost
    their race, but on Tablestore a round's write may have been applied all the same (the SDK re-sends a write
    answered busy, and the copy is what lost): a claim is then to be given back (``take_claim``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=True, code="OutOfTime")


class ObjectNotFound(StorageError):
    """``get`` on a key that does not exist."""

    def __init__(self) -> None:
        super().__init__("object not found", code="ObjectNotFound")


class InvalidKey(StorageError, ValueError):
    """An object key failed validation (empty, absolute, ``..``/``.`` segments, control characters, too long)."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"invalid object key: {problem}", code="InvalidKey")


class MessageTooLarge(StorageError, ValueError):
    """A queue message is larger than the 64 KB MNS limit once encoded."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"queue message too large: {size} bytes encoded, limit {limit}", code="MessageTooLarge")


class ReceiptInvalid(StorageError):
    """A receipt handle is unknown or stale (the message was re-delivered or deleted)."""

    def __init__(self) -> None:
        super().__init__("queue receipt is invalid or stale", code="ReceiptInvalid")


class ClientUnavailable(StorageError):
    """An adapter's SDK client could not be built at its first use (the SDK failed to import, or refused its
    configuration); the next call tries again."""

    def __init__(self, service: str, cause: Exception) -> None:
        super().__init__(f"{service}: the SDK client could not be built: {type(cause).__name__}",
                         code="ClientUnavailable")
