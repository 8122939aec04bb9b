"""The sweeper function (timer trigger): recovery of stuck transactions, the notification outbox, retention."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.cloudauth import CloudAuthClient
from shared.config import CloudAuthSettings
from shared.fetcher import ResultFetcher
from shared.handlers import register_config_secrets
from shared.log import get_logger, log_context
from shared.settings import FetchSettings, SweepSettings
from shared.storage import StorageSettings, open_object_store, open_queue, open_transaction_store
from shared.sweeper import Sweeper

logger = get_logger("kyc.sweeper")


class SweeperApp:
    def __init__(self, sweeper: Sweeper) -> None:
        self.sweeper = sweeper

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SweeperApp:
        register_config_secrets(env)
        storage = StorageSettings.from_env(env)
        fetcher = ResultFetcher(
            client=CloudAuthClient(CloudAuthSettings.from_env(env)),
            store=open_transaction_store(storage),
            # A timer job: the OSS client (and its SDK import) is built when a run first finalizes or deletes.
            objects=open_object_store(storage, lazy=True),
            recheck_queue=open_queue(storage, "recheck"),
            notify_queue=open_queue(storage, "notify"),
            settings=FetchSettings.from_env(env),
        )
        return cls(Sweeper(fetcher=fetcher, settings=SweepSettings.from_env(env)))

    def handle(self, event: Any, context: Any) -> dict[str, Any]:
        """The timer event's content does not matter: every run sweeps whatever is due."""
        with log_context(request_id=getattr(context, "request_id", None)):
            return self.sweeper.sweep().as_dict()
