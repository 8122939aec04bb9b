"""The notifier function: MNS queue trigger (through EventBridge) → signed webhooks to every subscriber."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.fc import BadMessage, parse_queue_event
from shared.handlers import register_config_secrets
from shared.log import get_logger, log_context
from shared.notifications import Notifier
from shared.settings import WebhookSettings
from shared.storage import StorageError, StorageSettings, open_object_store, open_queue, open_transaction_store

logger = get_logger("kyc.notifier")


class NotifierApp:
    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> NotifierApp:
        register_config_secrets(env)
        storage = StorageSettings.from_env(env)
        webhooks = WebhookSettings.from_env(env)
        # Objects are read only for includePii subscribers: without one, the OSS client (and its SDK import)
        # is built on first use instead of on every cold start.
        needs_objects = any(s.include_pii for s in webhooks.subscribers)
        notifier = Notifier(
            store=open_transaction_store(storage),
            objects=open_object_store(storage, lazy=not needs_objects),
            notify_queue=open_queue(storage, "notify"),
            deadletter_queue=open_queue(storage, "deadletter"),
            settings=webhooks,
        )
        return cls(notifier)

    def handle(self, event: Any, context: Any) -> dict[str, Any]:
        """Each message is handled on its own: a bad one is dead-lettered and the rest of the batch goes on.
        Raises only if a retry could not be enqueued, so the trigger redelivers rather than lose a delivery."""
        failed = 0
        handled = 0
        with log_context(request_id=getattr(context, "request_id", None)):
            for message in parse_queue_event(event):
                try:
                    body = message.json()
                except BadMessage:  # unreadable, or a body that is neither JSON nor base64 JSON: dead-lettered
                    body = None
                mbid = body.get("merchantBizId") if isinstance(body, dict) else None
                with log_context(merchant_biz_id=mbid if isinstance(mbid, str) else None):
                    try:
                        self.notifier.handle_body(body, raw=message.body)
                        handled += 1
                    except StorageError:
                        failed += 1
                    except Exception as exc:  # one poison message must not block the batch
                        logger.exception("notify.message_failed")
                        try:
                            self.notifier.dead_letter_unprocessable(mbid, type(exc).__name__)
                        except StorageError:
                            failed += 1
        if failed:
            raise RuntimeError(f"{failed} message(s) could not be re-queued; the trigger will redeliver them")
        return {"handled": handled}
