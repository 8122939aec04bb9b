"""Old import path of the product settings, kept for branches written before they moved; new code imports them
from their homes, next to what they configure:

``FrontendSettings`` → :mod:`shared.verifications`, ``FetchSettings`` → :mod:`shared.fetcher`, ``WebhookSettings``
and ``Subscriber`` → :mod:`shared.notifications`, ``SweepSettings`` → :mod:`shared.sweeper`. Nothing is defined
here and nothing in the project imports this module; names resolve on first use (PEP 562). To be removed once the
branches in flight have rebased.
"""

from __future__ import annotations

from shared.lazy import lazy_attributes

__getattr__ = lazy_attributes(
    globals(),
    {
        "FrontendSettings": "shared.verifications",
        "FetchSettings": "shared.fetcher",
        "DEFAULT_RECHECK_SCHEDULE": "shared.fetcher",
        "WebhookSettings": "shared.notifications",
        "Subscriber": "shared.notifications",
        "DEFAULT_WEBHOOK_RETRY_SCHEDULE": "shared.notifications",
        "SweepSettings": "shared.sweeper",
    },
)
