"""Fast construction of frozen slots value classes (``@valueclass(slots=True)``) on the parsing hot path.

A frozen class's ``__init__`` stores each field with ``object.__setattr__(self, name, v)`` (the class's own
``__setattr__`` refuses mutation): one Python-level call per field, several times the cost of a plain slot store.
:func:`positional_builder` returns a function that creates the same instance by plain slot stores on a private
subclass with the default ``__setattr__`` and then sets ``__class__`` to the value class (same slots, so the
layouts are compatible). The result is an ordinary instance of the class: same type, equality, hash, ``repr``,
``values.fields``/``replace``, and mutation is refused as before. The class's own constructor stays the public one
(keywords, defaults); the builder is positional and takes every field, ``init=False`` ones included.
"""

from __future__ import annotations

from collections.abc import Callable

from shared import values

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any, TypeVar

    T = TypeVar("T")


def positional_builder(cls: type[T]) -> Callable[..., T]:
    """``build(*values)``: an instance of the frozen slots value class ``cls`` with its fields (all of them, in
    declaration order) set to ``values``, without the per-field ``object.__setattr__`` of the shared ``__init__``.
    """
    names = [f.name for f in values.fields(cls)] if values.is_value_class(cls) else []
    if not names or set(getattr(cls, "__slots__", ())) != set(names):
        raise TypeError(f"{cls.__name__} is not a slots value class")
    # The default setattr and delattr (one type slot serves both: with either in Python every store calls it):
    # instances of the builder class take plain slot stores.
    namespace: dict[str, Any] = {"__slots__": (), "__setattr__": object.__setattr__, "__delattr__": object.__delattr__}
    mutable = type(f"_{cls.__name__}Builder", (cls,), namespace)
    args = ", ".join(names)
    stores = "".join(f"    o.{name} = {name}\n" for name in names)
    source = f"def build({args}):\n    o = new(mutable)\n{stores}    o.__class__ = cls\n    return o\n"
    namespace = {"new": object.__new__, "mutable": mutable, "cls": cls}
    exec(source, namespace)  # noqa: S102  # field names come from the dataclass definition, not from input
    build: Callable[..., T] = namespace["build"]
    build.__qualname__ = build.__name__ = f"build_{cls.__name__}"
    return build
