from __future__ import annotations

from tests.sandbox.helpers import make_sandbox, receiver, sandbox

__all__ = ["make_sandbox", "receiver", "sandbox"]
