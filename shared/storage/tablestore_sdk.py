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
the async client) is not shielded, as the standard library must keep working; it is deferred (below).

Two more modules the SDK imports at module level but uses only inside functions our calls never reach are
*deferred* (``_DEFERRED``): ``asyncio`` (``tablestore.client``, for the async client's ``asyncio.sleep``) and
``google.protobuf.text_format`` (``tablestore.protocol`` and ``decoder``, for DEBUG log lines of whole messages,
which ``quiet_sdk_logger`` never lets it format). Together 124 → 106 ms of the SDK's import on FC's Python 3.10
(medians of 15 alternating runs, 2026-12-01; docs/performance.md, "Phase 8"); from Python 3.12 only
``text_format`` (logging reads ``sys.modules["asyncio"]`` in every record there: ``_deferrable``). During the import
they are a :class:`_DeferredModule`, which imports the real module at its first attribute access and forwards to it:
nothing fails (an SDK logger set to DEBUG still prints its messages), the cost is paid only if that use comes; the
placeholder leaves ``sys.modules`` with the others, so a later ``import asyncio`` anywhere loads the real module.
This moves cost off the first request of every new instance (the SDK is imported by its first store call),
which is what a deployed function feels; ``urllib3``'s own imports are left alone (its first connection needs them).

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

#: Modules the SDK imports at module level and uses only on paths the sync client's calls never reach; loaded at
#: their first use (see the module docstring).
_DEFERRED = ("asyncio", "google.protobuf.text_format")

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


_DEFERRED_LOCK = threading.RLock()  # one first use at a time (review au: two at once could load two copies)


class _DeferredModule(types.ModuleType):
    """Stands in for a module during ``import tablestore``: its first attribute access imports the real module
    (which then takes its own place in ``sys.modules``) and every access forwards to it."""

    def __getattr__(self, name: str) -> Any:
        real = self.__dict__.get("_real")
        if real is None:
            with _DEFERRED_LOCK:
                real = self.__dict__.get("_real")
                if real is None:
                    import importlib  # noqa: PLC0415 - only when a deferred module is used at all

                    if sys.modules.get(self.__name__) is self:  # used while the SDK is still importing
                        del sys.modules[self.__name__]
                    real = self.__dict__["_real"] = importlib.import_module(self.__name__)
        return getattr(real, name)


def _deferrable() -> tuple[str, ...]:
    """``_DEFERRED`` as this interpreter allows: from Python 3.12 every log record reads ``sys.modules["asyncio"]``
    and asks it for the current task (``logging.logAsyncioTasks``), so a placeholder there would be loaded by the
    SDK's own import-time notices (review au); asyncio is then imported with the SDK as before."""
    import logging  # noqa: PLC0415 - only with the SDK (the functions' logging has it loaded anyway)

    if getattr(logging, "logAsyncioTasks", False):
        return tuple(name for name in _DEFERRED if name != "asyncio")
    return _DEFERRED


def import_tablestore() -> Any:
    """The ``tablestore`` package, imported without its async client's and time-series codecs' dependencies
    when it is not imported yet (see the module docstring for why and what that leaves out)."""
    with _IMPORT_LOCK:  # two stores built at once must not see each other's placeholders come and go
        placeholders: dict[str, types.ModuleType] = {}
        if "tablestore" not in sys.modules:
            placeholders = {name: _ShieldedModule(name) for name in _SHIELDED if name not in sys.modules}
            placeholders.update({name: _DeferredModule(name) for name in _deferrable() if name not in sys.modules})
            import logging  # noqa: PLC0415 - only with the SDK (the functions' logging has it loaded anyway)

            for logger_name in _IMPORT_NOTICES:  # the SDK's modules log through these very loggers
                logging.getLogger(logger_name).addFilter(_not_an_import_notice)
        submodules = [name for name, module in placeholders.items()
                      if isinstance(module, _DeferredModule) and "." in name]  # fmt: skip
        for name in submodules:  # `import a.b.c as m` reads c off a.b: the parent must be there
            _bind_to_parent(name, placeholders[name])
        sys.modules.update(placeholders)
        try:
            import tablestore  # noqa: PLC0415
        finally:
            for name, placeholder in placeholders.items():
                if sys.modules.get(name) is placeholder:
                    del sys.modules[name]
            for name in submodules:
                parent, _, child = name.rpartition(".")
                if getattr(sys.modules[parent], child, None) is placeholders[name]:
                    delattr(sys.modules[parent], child)
    return tablestore


def _bind_to_parent(name: str, placeholder: types.ModuleType) -> None:
    """Import ``name``'s parent package (the SDK imports it anyway) and set ``placeholder`` as its attribute, as the
    import system does for a submodule it loads."""
    import importlib  # noqa: PLC0415 - already loaded by the SDK's dependencies (six, urllib3); cheap

    parent, _, child = name.rpartition(".")
    setattr(importlib.import_module(parent), child, placeholder)
