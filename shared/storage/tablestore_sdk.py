"""Importing the Tablestore SDK without the parts the synchronous client never runs (``import_tablestore``).

``import tablestore`` costs ~0.6 s and ~20 MiB on the dev machine, and
about half of it is code the synchronous ``OTSClient`` never runs (measured with ``python -X importtime``):

* ``tablestore.connection`` imports ``aiohttp`` (≈25 % of the import) for ``AsyncConnectionPool`` only;
* ``tablestore.encoder`` star-imports ``tablestore.flatbuffer.timeseries_flat_buffer_encoder`` and
  ``tablestore.decoder`` star-imports ``tablestore.flatbuffer.flat_buffer_decoder`` and
  ``...dataprotocol.SQLResponseColumns``: time-series and SQL codecs, which import ``flatbuffers`` → ``numpy``
  (≈17 %; flatbuffers' numpy is optional, but it imports numpy whenever numpy is installed);
* ``tablestore.encoder`` imports ``crc32c`` (whose ``__init__`` reads ``importlib.metadata``) for the checksum of
  time-series rows only (PlainBuffer rows use the SDK's own crc8).

So, when the SDK is not imported yet, ``import_tablestore`` imports it with placeholder modules standing in for
exactly those five names (``_SHIELDED``) and removes the placeholders from ``sys.modules`` afterwards: a later
``import aiohttp`` (or of the time-series codecs) loads the real module. Every class we use (``OTSClient``,
``Row``, ``Condition``, ``OTSServiceError``, the protobuf/PlainBuffer codecs) is the SDK's own, loaded from its
files; only ``AsyncOTSClient`` and the time-series/SQL APIs are unusable in the process
(a placeholder raises ``RuntimeError`` naming itself when touched). ``tests/storage/test_tablestore_import.py``
checks, in a fresh process, that these modules stay unloaded and that a real ``OTSClient`` round trip (encode,
sign, HTTP, decode) works against a loopback server. ``asyncio`` (stdlib, imported by ``tablestore.client`` for
the async client) is left alone: shadowing the standard library is not worth its ~10 %.
"""

from __future__ import annotations

import sys
import threading
import types
from typing import Any

_IMPORT_LOCK = threading.Lock()
#: Modules the synchronous client never uses; see the module docstring.
_SHIELDED = (
    "aiohttp",
    "crc32c",
    "tablestore.flatbuffer.timeseries_flat_buffer_encoder",
    "tablestore.flatbuffer.flat_buffer_decoder",
    "tablestore.flatbuffer.dataprotocol.SQLResponseColumns",
)


class _Unavailable:
    """What a shielded module hands out for any name: fails loudly when used, never silently."""

    def __init__(self, name: str) -> None:
        self._name = name

    def _fail(self) -> RuntimeError:
        return RuntimeError(f"{self._name} is not loaded: the Tablestore SDK was imported for its sync client only")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise self._fail()

    def __getattr__(self, name: str) -> Any:
        raise self._fail()


class _ShieldedModule(types.ModuleType):
    """Stands in for a module during ``import tablestore``: ``from m import *`` imports nothing
    (``__all__`` is empty) and ``from m import Name`` yields an ``_Unavailable``."""

    __all__: list[str] = []  # noqa: RUF012 - read by ``import *``

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Unavailable(f"{self.__name__}.{name}")


def import_tablestore() -> Any:
    """The ``tablestore`` package, imported without its async client's and time-series codecs' dependencies
    when it is not imported yet (see the module docstring for why and what that leaves out)."""
    with _IMPORT_LOCK:  # two stores built at once must not see each other's placeholders come and go
        placeholders: dict[str, types.ModuleType] = {}
        if "tablestore" not in sys.modules:
            placeholders = {name: _ShieldedModule(name) for name in _SHIELDED if name not in sys.modules}
        sys.modules.update(placeholders)
        try:
            import tablestore  # noqa: PLC0415
        finally:
            for name, placeholder in placeholders.items():
                if sys.modules.get(name) is placeholder:
                    del sys.modules[name]
    return tablestore
