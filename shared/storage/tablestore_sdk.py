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

The SDK also logs, at import, that its native C++ codecs are not available (``_IMPORT_NOTICES``). In a process
that configured no logging handler (``./scripts/kyc``, the doubles) Python's last-resort handler prints those
WARNING records to stderr on every run. ``import_tablestore`` drops exactly those records, on exactly those
loggers (a filter on each); see ``_IMPORT_NOTICES`` for why they carry no information here.
"""

from __future__ import annotations

import sys
import threading
import types

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    import logging
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

#: The SDK's import-time notices (tablestore 6.4.8, ``encoder.py`` and ``decoder.py``: ``logger.warning(...)`` when
#: ``from tablestore.ots_sdk import ots_sdk`` / ``from tablestore.native import ...`` raise ImportError), by logger.
#: Its native codec ``tablestore/ots_sdk/ots_sdk.so`` is built for CPython 3.12 only and refuses FC's 3.10 and our
#: 3.11 ("module was compiled for Python 3.12"), so on every interpreter we run these are always true and say
#: nothing: the SDK's pure-Python codecs are the ones the tests exercise. Matched by exact text: any other record of
#: these loggers (e.g. "Native encode_put_row failed, falling back to Python: ...") and every other logger still pass.
_IMPORT_NOTICES: dict[str, frozenset[str]] = {
    "tablestore.encoder": frozenset({"Native C++ encoder not available, using Python implementation"}),
    "tablestore.decoder": frozenset({
        "Native C++ decoder not available, using Python implementation",
        "Native PlainBuffer parser module not found, using Python implementation",
    }),
}


def _not_an_import_notice(record: logging.LogRecord) -> bool:
    """A logger filter: False (drop) only for one of the notices ``_IMPORT_NOTICES`` lists for that logger."""
    return not (isinstance(record.msg, str) and record.msg in _IMPORT_NOTICES.get(record.name, frozenset()))


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
            import logging  # noqa: PLC0415 - only with the SDK (the functions' logging has it loaded anyway)

            for name in _IMPORT_NOTICES:  # the SDK's modules log through these very loggers (getLogger(__name__))
                logging.getLogger(name).addFilter(_not_an_import_notice)
        sys.modules.update(placeholders)
        try:
            import tablestore  # noqa: PLC0415
        finally:
            for name, placeholder in placeholders.items():
                if sys.modules.get(name) is placeholder:
                    del sys.modules[name]
    return tablestore
