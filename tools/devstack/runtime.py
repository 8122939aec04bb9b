"""The FC runtime as the local functions and the local invoke APIs see it (dev only): request ids, the ``context``
object, function and service metadata, and :class:`FunctionHost`, what an invoke API needs of the gateway.

It sits below both :mod:`tools.devstack.gateway` and the invoke APIs (:mod:`~tools.devstack.invoke_api`,
:mod:`~tools.devstack.fc3_api`): the gateway builds the APIs, the APIs call back into it only through
:class:`FunctionHost`, so none of them imports the gateway.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol


def new_request_id(now: float | None = None) -> str:
    return f"1-{int(time.time() if now is None else now):08x}-{secrets.token_hex(12)}"


@dataclass(frozen=True)
class FunctionMeta:
    name: str
    handler: str = "index.handler"
    memory: int = 512
    timeout: int = 30
    initializer: str = "index.initialize"


@dataclass(frozen=True)
class ServiceMeta:
    name: str = "ekyc-dev"
    log_project: str = ""
    log_store: str = ""
    qualifier: str = "LATEST"
    version_id: str = ""


@dataclass
class FcContext:
    """What FC 3.0 passes as ``context`` (the attributes our handlers use). No credentials locally: FC 3.0's
    Python 3.12 runtime has none either; keys come from the environment."""

    request_id: str
    region: str
    function: FunctionMeta
    service: ServiceMeta = field(default_factory=ServiceMeta)
    account_id: str = "1234567890123456"
    credentials: Any = None


class FunctionHost(Protocol):
    """What the invoke APIs use of the gateway that hosts the functions."""

    service: ServiceMeta
    functions_dir: Path

    def function(self, name: str) -> ModuleType:
        """The loaded, initialized module of function ``name``."""
        ...

    def context(self, function_name: str, request_id: str | None = None) -> FcContext: ...
