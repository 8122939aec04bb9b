"""``StorageSettings`` from the environment and the factories that open the configured backends.

With the aliyun backend the credentials' secret parts are registered with the log scrubber as they are read.

Opening a backend (``open_*``) checks its settings (``ConfigError``) and builds the adapter, which is cheap: the
aliyun adapters import their SDK and build its client at their first call that needs it (``shared.lazy.Lazy``), so
a function's ``initialize`` fails fast on a bad setting without paying for an SDK it may never use.
"""

from __future__ import annotations

import os
import threading
from functools import cached_property

from shared.config import (
    ConfigError,
    Env,
    backend_name,
    env_bool,
    env_credential,
    env_required,
    env_required_credential,
    env_str,
    environ,
    http_url,
)
from shared.lazy import Lazy
from shared.log import register_secret
from shared.signing import Credentials
from shared.values import field, valueclass

from .queueing import check_queue_name

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Literal

    from .protocols import ObjectStore, Queue, TransactionStore

    Backend = Literal["local", "aliyun"]
    QueueName = Literal["recheck", "notify", "deadletter"]

QUEUE_NAMES: tuple[QueueName, ...] = ("recheck", "notify", "deadletter")

TRANSACTIONS_FILE = "kyc.sqlite3"
QUEUES_FILE = "queues.sqlite3"
OBJECTS_DIR = "objects"


#: template.yml's ResultsPrefix default (the key prefix of the objects, ``AllowedPattern`` ``^[a-z0-9_-]+/$``: never
#: empty in a deployment of the stack, and its functions' roles reach objects under it only).
DEFAULT_OSS_PREFIX = "results/"


@valueclass
class StorageSettings:
    backend: Backend = "local"
    data_dir: str | os.PathLike[str] = ".kyc-data"
    tablestore_endpoint: str | None = None
    tablestore_instance: str | None = None
    tablestore_table: str = "kyc_transactions"
    oss_region: str | None = None
    oss_bucket: str | None = None
    oss_prefix: str = ""
    oss_endpoint: str | None = None
    #: The bucket keeps old versions (template.yml's EnableVersioning, the same KYC_BUCKET_VERSIONING): deleting a
    #: verification's objects then deletes every version (``OssObjectStore.delete_prefix``).
    oss_versioned: bool = False
    #: The customer KMS key every put names (template.yml's KmsKeyId; None: the OSS-managed key).
    oss_kms_key_id: str | None = None
    mns_endpoint: str | None = None
    queue_names: dict[str, str] = field(
        default_factory=lambda: {"recheck": "kyc-recheck", "notify": "kyc-notify", "deadletter": "kyc-deadletter"}
    )
    credentials: Credentials | None = None

    @classmethod
    def from_env(cls, env: Env | None = None, *, tablestore_only: bool = False) -> StorageSettings:
        """Read ``KYC_BACKEND`` (``local`` | ``aliyun``) and that backend's variables; raise ``ConfigError``.

        ``tablestore_only``: with the aliyun backend, require only what the transaction store needs (the operator's
        ``setup-tables`` before a deploy: no bucket or queues yet)."""
        env = environ() if env is None else env
        backend = backend_name(env)
        queue_names = {
            "recheck": _queue_name(env, "KYC_RECHECK_QUEUE", "kyc-recheck"),
            "notify": _queue_name(env, "KYC_NOTIFY_QUEUE", "kyc-notify"),
            "deadletter": _queue_name(env, "KYC_DEADLETTER_QUEUE", "kyc-deadletter"),
        }
        if backend == "local":
            return cls(
                backend="local",
                data_dir=env_str(env, "KYC_DATA_DIR", ".kyc-data") or ".kyc-data",
                queue_names=queue_names,
            )
        if backend != "aliyun":
            raise ConfigError("KYC_BACKEND", "must be 'local' or 'aliyun'")
        credentials = Credentials(
            access_key_id=env_required_credential(env, "ALIBABA_CLOUD_ACCESS_KEY_ID"),
            access_key_secret=register_secret(env_required_credential(env, "ALIBABA_CLOUD_ACCESS_KEY_SECRET")),
            security_token=register_secret(env_credential(env, "ALIBABA_CLOUD_SECURITY_TOKEN")),
        )
        table = env_str(env, "KYC_TABLESTORE_TABLE", "kyc_transactions") or "kyc_transactions"
        if tablestore_only:
            return cls(
                backend="aliyun",
                tablestore_endpoint=_http_url(env, "KYC_TABLESTORE_ENDPOINT"),
                tablestore_instance=env_required(env, "KYC_TABLESTORE_INSTANCE"),
                tablestore_table=table,
                credentials=credentials,
            )
        mns_endpoint = _http_url(env, "KYC_MNS_ENDPOINT")
        return cls(
            backend="aliyun",
            tablestore_endpoint=_http_url(env, "KYC_TABLESTORE_ENDPOINT"),
            tablestore_instance=env_required(env, "KYC_TABLESTORE_INSTANCE"),
            tablestore_table=table,
            oss_region=env_required(env, "KYC_OSS_REGION"),
            oss_bucket=env_required(env, "KYC_OSS_BUCKET"),
            # The stack's ResultsPrefix (template.yml), whose default is this one's: an operator's shell that leaves
            # it out (kyc erase, sweep) still reaches the objects a default deployment keeps (an operator's rehearsal
            # erased a row and reported its objects gone while they stayed under results/results/).
            oss_prefix=(env_str(env, "KYC_OSS_PREFIX", DEFAULT_OSS_PREFIX) or "").strip("/"),
            oss_endpoint=env_str(env, "KYC_OSS_ENDPOINT"),
            oss_versioned=env_bool(env, "KYC_BUCKET_VERSIONING", False),
            oss_kms_key_id=env_str(env, "KYC_OSS_KMS_KEY_ID") or None,
            mns_endpoint=mns_endpoint,
            queue_names=queue_names,
            credentials=credentials,
        )

    def _aliyun(self, value: str | None, variable: str) -> str:
        if not value:
            raise ConfigError(variable, "is required but not set")
        return value

    def _credentials(self) -> Credentials:
        if self.credentials is None:
            raise ConfigError("ALIBABA_CLOUD_ACCESS_KEY_ID", "is required but not set")
        return self.credentials


def _queue_name(env: Env, variable: str, default: str) -> str:
    """A queue's name, checked here (``check_queue_name``): a function may open its queue at the first send
    (``Stores.queue_on_first_send``), and a bad name must still fail ``initialize``."""
    name = env_str(env, variable, default) or default
    try:
        return check_queue_name(name)
    except ValueError as exc:
        raise ConfigError(variable, str(exc)) from None


def _http_url(env: Env, variable: str) -> str:
    """A required endpoint, an http(s) URL with a host (:func:`shared.config.http_url`): ``OTSClient`` refuses any
    other, and it is built at the store's first call, so this check is what keeps a bad endpoint failing
    ``initialize``."""
    return http_url(variable, env_required(env, variable), base=True)


def open_transaction_store(settings: StorageSettings) -> TransactionStore:
    if settings.backend == "local":
        from .sqlite_store import SqliteTransactionStore  # noqa: PLC0415

        return SqliteTransactionStore(os.path.join(settings.data_dir, TRANSACTIONS_FILE))
    from .tablestore_store import TablestoreTransactionStore  # noqa: PLC0415

    return TablestoreTransactionStore(
        table=settings.tablestore_table,
        endpoint=settings._aliyun(settings.tablestore_endpoint, "KYC_TABLESTORE_ENDPOINT"),
        instance=settings._aliyun(settings.tablestore_instance, "KYC_TABLESTORE_INSTANCE"),
        credentials=settings._credentials(),
    )


def open_object_store(settings: StorageSettings) -> ObjectStore:
    """With the aliyun backend: checks the settings now (``ConfigError``), imports the SDK and builds the OSS
    client at the store's first call (see :class:`~shared.storage.oss.OssObjectStore`)."""
    if settings.backend == "local":
        from .objects import DirectoryObjectStore  # noqa: PLC0415

        return DirectoryObjectStore(os.path.join(settings.data_dir, OBJECTS_DIR))
    from .oss import OssObjectStore  # noqa: PLC0415

    return OssObjectStore(
        bucket=settings._aliyun(settings.oss_bucket, "KYC_OSS_BUCKET"),
        region=settings._aliyun(settings.oss_region, "KYC_OSS_REGION"),
        credentials=settings._credentials(),
        endpoint=settings.oss_endpoint,
        prefix=settings.oss_prefix,
        versioned=settings.oss_versioned,
        kms_key_id=settings.oss_kms_key_id,
    )


def open_queue(settings: StorageSettings, name: str, *, beside: Queue | None = None) -> Queue:
    """``name`` is the logical queue: ``recheck``, ``notify`` or ``deadletter``. ``beside``: a queue opened with the
    same settings; a local queue then shares its file's connections (``SqliteQueue.sibling``)."""
    if name not in QUEUE_NAMES:
        raise ValueError("queue name must be one of recheck, notify, deadletter")
    queue_name = settings.queue_names[name]
    if settings.backend == "local":
        from .sqlite_queue import SqliteQueue  # noqa: PLC0415

        if isinstance(beside, SqliteQueue):
            return beside.sibling(queue_name)
        return SqliteQueue(os.path.join(settings.data_dir, QUEUES_FILE), queue_name)
    from .mns import MnsQueue  # noqa: PLC0415

    return MnsQueue(settings._aliyun(settings.mns_endpoint, "KYC_MNS_ENDPOINT"), queue_name, settings._credentials())


class Stores:
    """Every backend for one settings object, each opened on first use (``open_stores(settings)``)."""

    def __init__(self, settings: StorageSettings) -> None:
        self.settings = settings
        self._queues: dict[str, Queue] = {}
        self._queues_lock = threading.Lock()  # the notifier's queues open at a first send, from any delivery thread

    def queue_on_first_send(self, name: str) -> Queue:
        """Queue ``name``, opened at its first ``send``: for a function that sends on a rare path only (the notifier:
        retries and dead letters), so that its start neither imports the adapter nor opens the queue's file. Its
        settings were checked when read (names included); an open that fails raises from that ``send``."""
        if name not in QUEUE_NAMES:
            raise ValueError("queue name must be one of recheck, notify, deadletter")
        return _QueueOnFirstSend(self, name)

    @cached_property
    def transactions(self) -> TransactionStore:
        return open_transaction_store(self.settings)

    @cached_property
    def objects(self) -> ObjectStore:
        return open_object_store(self.settings)

    def queue(self, name: str) -> Queue:
        """Queue ``name``, opened now (once per ``Stores``); the local queues share one file's connections."""
        with self._queues_lock:
            if name not in self._queues:
                opened = next(iter(self._queues.values()), None)
                self._queues[name] = open_queue(self.settings, name, beside=opened)
            return self._queues[name]


def open_stores(settings: StorageSettings | None = None) -> Stores:
    """Every backend of ``settings`` (default: from the environment), each opened on first use."""
    return Stores(settings if settings is not None else StorageSettings.from_env())


class _QueueOnFirstSend:
    """A ``Queue`` that opens ``stores.queue(name)`` at its first ``send`` (once, also under concurrent first sends;
    a failed open raises from that ``send`` and the next one tries again)."""

    def __init__(self, stores: Stores, name: str) -> None:
        self._queue = Lazy(lambda: stores.queue(name))

    def send(self, body: bytes, *, delay_seconds: int = 0) -> str:
        return self._queue.get().send(body, delay_seconds=delay_seconds)
