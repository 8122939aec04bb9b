"""Function Compute 3.0 adapters: typed views over trigger events, HTTP responses and a tiny router.

The public surface is what this module exports; the modules behind it are split by concern:

======================  ==========================================================================
``shared.fc.http``      :class:`HttpEvent` (HTTP trigger), :class:`Headers`, media types
``shared.fc.responses`` :func:`http_response`, :func:`error_response`
``shared.fc.router``    :class:`Router` (method + path routing, CORS, errors → responses)
``shared.fc.queue``     :func:`parse_queue_event` → :class:`QueueMessage` (MNS trigger through EventBridge)
``shared.fc.events``    :func:`decode_event`, :func:`event_kind` (which trigger sent an event)
``shared.fc.errors``    :class:`HttpError` and its kinds, :class:`BadMessage`
======================  ==========================================================================

Imports are stdlib and ``shared`` only: every handler imports this package at cold start. Each name loads its
module on first use (PEP 562): a function imports only the adapters of its own triggers (the sweeper's timer needs
none of them, the notifier's queue no HTTP).
"""

from __future__ import annotations

from shared.lazy import lazy_attributes

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from .errors import BadEvent, BadMessage, BadRequest, HttpError, MethodNotAllowed, NotFound
    from .events import decode_event, event_kind
    from .http import Headers, HttpEvent, is_json_media_type, is_text_media_type, media_type
    from .queue import QueueMessage, decode_message_body, parse_queue_event
    from .responses import FcResponse, error_response, http_response
    from .router import Router

__getattr__ = lazy_attributes(
    globals(),
    {
        **dict.fromkeys(("BadEvent", "BadMessage", "BadRequest", "HttpError", "MethodNotAllowed", "NotFound"),
                        "shared.fc.errors"),
        **dict.fromkeys(("decode_event", "event_kind"), "shared.fc.events"),
        **dict.fromkeys(("Headers", "HttpEvent", "is_json_media_type", "is_text_media_type", "media_type"),
                        "shared.fc.http"),
        **dict.fromkeys(("QueueMessage", "decode_message_body", "parse_queue_event"), "shared.fc.queue"),
        **dict.fromkeys(("FcResponse", "error_response", "http_response"), "shared.fc.responses"),
        "Router": "shared.fc.router",
    },
)

__all__ = [
    "BadEvent",
    "BadMessage",
    "BadRequest",
    "FcResponse",
    "Headers",
    "HttpError",
    "HttpEvent",
    "MethodNotAllowed",
    "NotFound",
    "QueueMessage",
    "Router",
    "decode_event",
    "decode_message_body",
    "error_response",
    "event_kind",
    "http_response",
    "is_json_media_type",
    "is_text_media_type",
    "media_type",
    "parse_queue_event",
]
