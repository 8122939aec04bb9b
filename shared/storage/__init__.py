"""Storage for the eKYC functions: transactions, objects (results, images) and queues.

Protocols (what callers program against) and their backends:

=====================  ===============================  ==============================================
protocol               local (``KYC_BACKEND=local``)    aliyun (``KYC_BACKEND=aliyun``)
=====================  ===============================  ==============================================
``TransactionStore``   ``SqliteTransactionStore``       ``TablestoreTransactionStore`` (``tablestore``)
``ObjectStore``        ``DirectoryObjectStore``         ``OssObjectStore`` (``alibabacloud_oss_v2``)
``Queue``              ``SqliteQueue`` (+ consumer API) ``MnsQueue`` (``http.client``, no SDK)
=====================  ===============================  ==============================================

Importing this package imports no vendor SDK and no backend module: the backend classes load on first use,
and the aliyun adapters import their SDKs (and build their clients) at their first call that needs them, not in
their constructors: opening a backend checks its settings and stays cheap.
Open backends with ``open_stores(StorageSettings.from_env())`` or the single ``open_*`` factories.

Semantics every backend keeps (at-least-once delivery, effects exactly once):

* ``create`` is a conditional insert (``RecordExists``); ``finalize`` moves PENDING or ABANDONED to
  PASSED/FAILED and returns True only for the call that did it; a PASSED/FAILED row is never overwritten.
  ABANDONED (set by the sweeper) yields to a late real result because the vendor's answer is the truth.
  ``finalize`` also clears ``notification_enqueued`` so the outbox sends the new final status.
  ``mark_erased`` makes PENDING or ABANDONED an ERASED tombstone (``kyc erase``), which nothing but a deletion changes.
* every row carries its *due* (``shared.storage.due``): what the sweeper must look at and when, kept in the same
  conditional write as the state it follows; ``due``, ``list_by_user``, ``list_created`` read an index, never the
  table.
* Queue message bodies go out base64-encoded (``MESSAGE_BODY_ENCODING``); decode with ``decode_message_body``.
"""

from __future__ import annotations

from shared.ids import validate_merchant_biz_id
from shared.lazy import lazy_attributes

from .due import DueKind
from .errors import (
    ClientUnavailable,
    InvalidKey,
    MessageTooLarge,
    ObjectNotFound,
    OutOfTime,
    ReceiptInvalid,
    RecordExists,
    StorageError,
)
from .objects import DirectoryObjectStore, validate_key
from .queueing import (
    MAX_MESSAGE_BYTES,
    MAX_RAW_MESSAGE_BYTES,
    MESSAGE_BODY_ENCODING,
    ReceivedMessage,
    decode_message_body,
    encode_message_body,
)
from .records import TransactionRecord
from .settings import (
    QUEUE_NAMES,
    StorageSettings,
    Stores,
    open_object_store,
    open_queue,
    open_stores,
    open_transaction_store,
)

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from .mns import MnsError, MnsQueue
    from .oss import OssObjectStore
    from .protocols import ConsumerQueue, ObjectStore, Page, Queue, TransactionStore
    from .sqlite_queue import SqliteQueue
    from .sqlite_store import SqliteTransactionStore
    from .tablestore_store import TablestoreTransactionStore

# Backend classes load on first use (PEP 562), so a cold start imports only the backend it opens: the MNS
# adapter alone pulls in xml.etree, and the local path never needs it. So do the protocols, which import typing:
# code on a function's path imports them under TYPE_CHECKING.
__getattr__ = lazy_attributes(
    globals(),
    {
        "ConsumerQueue": "shared.storage.protocols",
        "ObjectStore": "shared.storage.protocols",
        "Page": "shared.storage.protocols",
        "Queue": "shared.storage.protocols",
        "TransactionStore": "shared.storage.protocols",
        "MnsError": "shared.storage.mns",
        "MnsQueue": "shared.storage.mns",
        "OssObjectStore": "shared.storage.oss",
        "SqliteQueue": "shared.storage.sqlite_queue",
        "SqliteTransactionStore": "shared.storage.sqlite_store",
        "TablestoreTransactionStore": "shared.storage.tablestore_store",
    },
)


__all__ = [
    "MAX_MESSAGE_BYTES",
    "MAX_RAW_MESSAGE_BYTES",
    "MESSAGE_BODY_ENCODING",
    "QUEUE_NAMES",
    "ClientUnavailable",
    "ConsumerQueue",
    "DirectoryObjectStore",
    "DueKind",
    "InvalidKey",
    "MessageTooLarge",
    "MnsError",
    "MnsQueue",
    "ObjectNotFound",
    "ObjectStore",
    "OssObjectStore",
    "OutOfTime",
    "Page",
    "Queue",
    "ReceiptInvalid",
    "ReceivedMessage",
    "RecordExists",
    "SqliteQueue",
    "SqliteTransactionStore",
    "StorageError",
    "StorageSettings",
    "Stores",
    "TablestoreTransactionStore",
    "TransactionRecord",
    "TransactionStore",
    "decode_message_body",
    "encode_message_body",
    "open_object_store",
    "open_queue",
    "open_stores",
    "open_transaction_store",
    "validate_key",
    "validate_merchant_biz_id",
]
