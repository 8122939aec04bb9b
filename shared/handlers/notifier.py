"""The notifier function: MNS queue trigger (through EventBridge) → signed webhooks to every subscriber."""

from __future__ import annotations

from collections.abc import Mapping

from shared.fc import BadMessage, parse_queue_event
from shared.log import get_logger, log_context
from shared.notifications import Notifier
from shared.storage import StorageError
from shared.wiring import build_notifier

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any

logger = get_logger("kyc.notifier")


class NotifierApp:
    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> NotifierApp:
        return cls(build_notifier(env))

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
                            self.notifier.dead_letter_unprocessable(body, type(exc).__name__)
                        except StorageError:
                            failed += 1
        if failed:
            raise RuntimeError(f"{failed} message(s) could not be re-queued; the trigger will redeliver them")
        return {"handled": handled}
