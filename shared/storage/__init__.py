"""Storage for the eKYC functions: transactions, objects (results, images) and queues.

Protocols (what callers program against) and their backends:

=====================  ===============================  ==============================================
protocol               local (``KYC_BACKEND=local``)    aliyun (``KYC_BACKEND=aliyun``)
=====================  ===============================  ==============================================
``TransactionStore``   ``SqliteTransactionStore``       ``TablestoreTransactionStore`` (``tablestore``)
``ObjectStore``        ``DirectoryObjectStore``         ``OssObjectStore`` (``alibabacloud_oss_v2``)
``Queue``              ``SqliteQueue`` (+ consumer API) ``MnsQueue`` (``http.client``, no SDK)
=====================  ===============================  ==============================================

Importing this package imports no vendor SDK: the aliyun adapters import theirs in their constructors.
Open backends with ``open_stores(StorageSettings.from_env())`` or the single ``open_*`` factories.

Semantics every backend keeps (at-least-once delivery, effects exactly once):

* ``create`` is a conditional insert (``RecordExists``); ``finalize`` moves PENDING or ABANDONED to
  PASSED/FAILED and returns True only for the call that did it; a PASSED/FAILED row is never overwritten.
  ABANDONED (set by the sweeper) yields to a late real result because the vendor's answer is the truth.
  ``finalize`` also clears ``notification_enqueued`` so the outbox sends the new final status.
* Queue message bodies go out base64-encoded (``MESSAGE_BODY_ENCODING``); decode with ``decode_message_body``.
"""

from __future__ import annotations

from .errors import InvalidKey, MessageTooLarge, ObjectNotFound, ReceiptInvalid, RecordExists, StorageError
from .mns import MnsError, MnsQueue
from .objects import DirectoryObjectStore, validate_key
from .oss import OssObjectStore
from .protocols import (
    MAX_MESSAGE_BYTES,
    MAX_RAW_MESSAGE_BYTES,
    MESSAGE_BODY_ENCODING,
    ConsumerQueue,
    ObjectStore,
    Queue,
    ReceivedMessage,
    TransactionStore,
    decode_message_body,
    encode_message_body,
)
from .records import (
    ABANDONED,
    FAILED,
    PASSED,
    PENDING,
    STATUSES,
    TransactionRecord,
    validate_merchant_biz_id,
)
from .settings import (
    QUEUE_NAMES,
    StorageSettings,
    Stores,
    open_object_store,
    open_queue,
    open_stores,
    open_transaction_store,
)
from .sqlite_queue import SqliteQueue
from .sqlite_store import SqliteTransactionStore
from .tablestore_store import TablestoreTransactionStore

__all__ = [
    "ABANDONED",
    "FAILED",
    "MAX_MESSAGE_BYTES",
    "MAX_RAW_MESSAGE_BYTES",
    "MESSAGE_BODY_ENCODING",
    "PASSED",
    "PENDING",
    "QUEUE_NAMES",
    "STATUSES",
    "ConsumerQueue",
    "DirectoryObjectStore",
    "InvalidKey",
    "MessageTooLarge",
    "MnsError",
    "MnsQueue",
    "ObjectNotFound",
    "ObjectStore",
    "OssObjectStore",
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
