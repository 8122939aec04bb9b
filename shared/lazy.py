"""Things built on first use: module attributes that load their module (PEP 562), so importing a package stays
cheap, and values (``Lazy``: the storage adapters' SDK clients), so building an adapter stays cheap."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Mapping, MutableMapping

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any, Generic, TypeVar

    T = TypeVar("T")

    class _Generic(Generic[T]):
        __slots__ = ()

else:

    class _Generic:
        """At run time ``Lazy`` is an ordinary class: ``Lazy["T"]`` below is the class itself."""

        __slots__ = ()

        def __class_getitem__(cls, _: object) -> type:
            return cls


def lazy_attributes(namespace: MutableMapping[str, Any], homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` resolving each name of ``homes`` (name → the module defining it) on first use and
    caching it in ``namespace`` (the module's ``globals()``); any other name is an ``AttributeError``."""
    module_name = namespace.get("__name__", "?")

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        # __import__, not importlib.import_module: importing the importlib package costs a cold start ~0.3 ms, and
        # ``-X importtime`` reports only what goes through __import__ (the benchmark's "where the import time goes"
        # would charge the whole home module to whoever touched the name first).
        __import__(home)
        value = getattr(sys.modules[home], name)
        namespace[name] = value
        return value

    return __getattr__


class Lazy(_Generic["T"]):
    """A value built by ``build()`` on the first :meth:`get`, once, also under concurrent first calls (the others
    wait for it). A build that raises leaves nothing behind: the next ``get`` builds again; ``failed`` (if given)
    turns the build's exception into the one ``get`` raises. The storage adapters hold their SDK clients in one, so
    that building an adapter imports no SDK and opens nothing, and a client that cannot be built is a
    ``StorageError`` like any other storage failure."""

    __slots__ = ("_build", "_built", "_failed", "_lock", "_value")

    def __init__(self, build: Callable[[], T], *, failed: Callable[[Exception], Exception] | None = None) -> None:
        self._build = build
        self._failed = failed
        self._built = False
        self._value: T | None = None
        self._lock = threading.Lock()

    @property
    def built(self) -> bool:
        return self._built

    def get(self) -> T:
        if not self._built:
            with self._lock:
                if not self._built:
                    try:
                        self._value = self._build()
                    except Exception as exc:
                        if self._failed is None:
                            raise
                        raise self._failed(exc) from None
                    self._built = True
        return self._value  # type: ignore[return-value]  # set by the build above: T, which may include None
