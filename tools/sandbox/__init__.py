"""Dev-only local sandbox of cloudauth-intl (ID Verification) speaking the vendor's wire protocol.

Never packaged into the deployed functions. Start it with ``python -m tools.sandbox --port 9100``
(or ``./scripts/sandbox``),
or from Python::

    server = SandboxServer(SandboxConfig()).start()   # background thread
    server.base_url                                     # "http://127.0.0.1:<port>"
    server.stop()

The vendor surface is ``POST /`` (RPC style, ACS3-HMAC-SHA256 or V1 HMAC-SHA1 signatures); the verification page
is ``GET /verify/<token>``; the control API (JSON, unsigned, dev only) lives under ``/_sandbox/``.
"""

from __future__ import annotations

from tools.sandbox.config import SandboxConfig
from tools.sandbox.server import SandboxServer

__all__ = ["SandboxConfig", "SandboxServer"]
