"""MNS double: queues and messages over HTTP with MNS's XML, signature and visibility semantics (see ``server``
and ``queues``). From tests::

    with MnsDouble(access_key_id="AK", access_key_secret="SK", queues=["kyc-recheck"]) as mns:
        MnsQueue(mns.endpoint, "kyc-recheck", Credentials("AK", "SK")).send(b"x")
        mns.messages("kyc-recheck")     # [{"messageId", "body", "state", "dequeueCount", ...}]
        mns.advance(60)                 # move the queue clock: delays and visibility timeouts run out
        mns.set_faults({"operations": {"SendMessage": {"sequence": ["InternalError"]}}})
        mns.stats()                     # requests per operation, faults, and per queue counts

Queues are created from the constructor (``queues=["a", "b"]`` or ``{"a": QueueAttributes(visibility_timeout=60)}``),
``create_queue``, or the API's CreateQueue. The FC trigger (EventBridge → function) is played by the local worker
(``tools.devstack.worker.QueueWorker``) consuming through ``MnsQueue``: it builds the same CloudEvents
(``cloud_events``) for both backends.

CLI: ``python -m tools.doubles.mns --port 0 --queue kyc-recheck --queue kyc-notify`` (keys from the environment).
"""

from __future__ import annotations

from tools.doubles.mns.queues import QueueAttributes
from tools.doubles.mns.server import MnsDouble

__all__ = ["MnsDouble", "QueueAttributes"]
