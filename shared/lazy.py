"""Module attributes that load their module on first use (PEP 562): importing a package stays cheap."""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from typing import Any


def lazy_attributes(namespace: MutableMapping[str, Any], homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` resolving each name of ``homes`` (name → the module defining it) on first use and
    caching it in ``namespace`` (the module's ``globals()``); any other name is an ``AttributeError``."""
    module_name = namespace.get("__name__", "?")

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        import importlib  # noqa: PLC0415

        value = getattr(importlib.import_module(home), name)
        namespace[name] = value
        return value

    return __getattr__
