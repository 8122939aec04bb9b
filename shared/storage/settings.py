"""``StorageSettings`` from the environment and the factories that open the configured backends.

With the aliyun backend the credentials' secret parts are registered with the log scrubber as they are read.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from shared.config import ConfigError, Env, env_required, env_str, environ
from shared.log import register_secret
from shared.signing import Credentials
from shared.values import field, valueclass

if TYPE_CHECKING:
    from .protocols import ObjectStore, Queue, TransactionStore

Backend = Literal["local", "aliyun"]
QueueName = Literal["recheck", "notify", "deadletter"]
QUEUE_NAMES: tuple[QueueName, ...] = ("recheck", "notify", "deadletter")

TRANSACTIONS_FILE = "kyc.sqlite3"
QUEUES_FILE = "queues.sqlite3"
OBJECTS_DIR = "objects"


@valueclass
class StorageSettings:
    backend: Backend = "local"
    data_dir: Path = Path(".kyc-data")
    tablestore_endpoint: str | None = None
    tablestore_instance: str | None = None
    tablestore_table: str = "kyc_transactions"
    oss_region: str | None = None
    oss_bucket: str | None = None
    oss_prefix: str = ""
    oss_endpoint: str | None = None
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
        backend = (env_str(env, "KYC_BACKEND", "local") or "local").lower()
        queue_names = {
            "recheck": env_str(env, "KYC_RECHECK_QUEUE", "kyc-recheck") or "kyc-recheck",
            "notify": env_str(env, "KYC_NOTIFY_QUEUE", "kyc-notify") or "kyc-notify",
            "deadletter": env_str(env, "KYC_DEADLETTER_QUEUE", "kyc-deadletter") or "kyc-deadletter",
        }
        if backend == "local":
            return cls(
                backend="local",
                data_dir=Path(env_str(env, "KYC_DATA_DIR", ".kyc-data") or ".kyc-data"),
                queue_names=queue_names,
            )
        if backend != "aliyun":
            raise ConfigError("KYC_BACKEND", "must be 'local' or 'aliyun'")
        credentials = Credentials(
            access_key_id=env_required(env, "ALIBABA_CLOUD_ACCESS_KEY_ID"),
            access_key_secret=register_secret(env_required(env, "ALIBABA_CLOUD_ACCESS_KEY_SECRET")),
            security_token=register_secret(env_str(env, "ALIBABA_CLOUD_SECURITY_TOKEN")),
        )
        table = env_str(env, "KYC_TABLESTORE_TABLE", "kyc_transactions") or "kyc_transactions"
        if tablestore_only:
            return cls(
                backend="aliyun",
                tablestore_endpoint=env_required(env, "KYC_TABLESTORE_ENDPOINT"),
                tablestore_instance=env_required(env, "KYC_TABLESTORE_INSTANCE"),
                tablestore_table=table,
                credentials=credentials,
            )
        mns_endpoint = env_required(env, "KYC_MNS_ENDPOINT")
        if not mns_endpoint.startswith(("https://", "http://")):
            raise ConfigError("KYC_MNS_ENDPOINT", "must start with https://")
        return cls(
            backend="aliyun",
            tablestore_endpoint=env_required(env, "KYC_TABLESTORE_ENDPOINT"),
            tablestore_instance=env_required(env, "KYC_TABLESTORE_INSTANCE"),
            tablestore_table=table,
            oss_region=env_required(env, "KYC_OSS_REGION"),
            oss_bucket=env_required(env, "KYC_OSS_BUCKET"),
            oss_prefix=(env_str(env, "KYC_OSS_PREFIX", "") or "").strip("/"),
            oss_endpoint=env_str(env, "KYC_OSS_ENDPOINT"),
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


def open_transaction_store(settings: StorageSettings) -> TransactionStore:
    if settings.backend == "local":
        from .sqlite_store import SqliteTransactionStore  # noqa: PLC0415

        return SqliteTransactionStore(settings.data_dir / TRANSACTIONS_FILE)
    from .tablestore_store import TablestoreTransactionStore  # noqa: PLC0415

    return TablestoreTransactionStore(
        table=settings.tablestore_table,
        endpoint=settings._aliyun(settings.tablestore_endpoint, "KYC_TABLESTORE_ENDPOINT"),
        instance=settings._aliyun(settings.tablestore_instance, "KYC_TABLESTORE_INSTANCE"),
        credentials=settings._credentials(),
    )


def open_object_store(settings: StorageSettings, *, lazy: bool = False) -> ObjectStore:
    """``lazy=True``: with the aliyun backend, check the settings now but build the OSS client (and import its
    SDK, the larger half of a cold start that loads it) on first use; for functions that seldom touch objects."""
    if settings.backend == "local":
        from .objects import DirectoryObjectStore  # noqa: PLC0415

        return DirectoryObjectStore(settings.data_dir / OBJECTS_DIR)
    bucket = settings._aliyun(settings.oss_bucket, "KYC_OSS_BUCKET")
    region = settings._aliyun(settings.oss_region, "KYC_OSS_REGION")
    credentials = settings._credentials()

    def build() -> ObjectStore:
        from .oss import OssObjectStore  # noqa: PLC0415

        return OssObjectStore(
            bucket=bucket, region=region, credentials=credentials, endpoint=settings.oss_endpoint,
            prefix=settings.oss_prefix,
        )

    return LazyObjectStore(build) if lazy else build()


class LazyObjectStore:
    """An ``ObjectStore`` that builds the real one on its first call (once, also under concurrent first calls)."""

    def __init__(self, build: Callable[[], ObjectStore]) -> None:
        self._build = build
        self._store: ObjectStore | None = None
        self._lock = threading.Lock()

    @property
    def opened(self) -> bool:
        return self._store is not None

    def _target(self) -> ObjectStore:
        store = self._store
        if store is None:
            with self._lock:
                if self._store is None:
                    self._store = self._build()
                store = self._store
        return store

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._target().put(key, data, content_type)

    def get(self, key: str) -> bytes:
        return self._target().get(key)

    def exists(self, key: str) -> bool:
        return self._target().exists(key)

    def list(self, prefix: str) -> Sequence[str]:
        return self._target().list(prefix)

    def delete(self, key: str) -> None:
        self._target().delete(key)

    def delete_prefix(self, prefix: str) -> int:
        return self._target().delete_prefix(prefix)


def open_queue(settings: StorageSettings, name: str) -> Queue:
    """``name`` is the logical queue: ``recheck``, ``notify`` or ``deadletter``."""
    if name not in QUEUE_NAMES:
        raise ValueError("queue name must be one of recheck, notify, deadletter")
    queue_name = settings.queue_names[name]
    if settings.backend == "local":
        from .sqlite_queue import SqliteQueue  # noqa: PLC0415

        return SqliteQueue(settings.data_dir / QUEUES_FILE, queue_name)
    from .mns import MnsQueue  # noqa: PLC0415

    return MnsQueue(settings._aliyun(settings.mns_endpoint, "KYC_MNS_ENDPOINT"), queue_name, settings._credentials())


class Stores:
    """Every backend for one settings object, each opened on first use (``open_stores(settings)``)."""

    def __init__(self, settings: StorageSettings, *, lazy_objects: bool = False) -> None:
        self.settings = settings
        self.lazy_objects = lazy_objects
        self._queues: dict[str, Queue] = {}

    @cached_property
    def transactions(self) -> TransactionStore:
        return open_transaction_store(self.settings)

    @cached_property
    def objects(self) -> ObjectStore:
        return open_object_store(self.settings, lazy=self.lazy_objects)

    def queue(self, name: str) -> Queue:
        if name not in self._queues:
            self._queues[name] = open_queue(self.settings, name)
        return self._queues[name]


def open_stores(settings: StorageSettings | None = None, *, lazy_objects: bool = False) -> Stores:
    """Every backend of ``settings`` (default: from the environment), each opened on first use; ``lazy_objects``
    as in :func:`open_object_store`."""
    return Stores(settings if settings is not None else StorageSettings.from_env(), lazy_objects=lazy_objects)
