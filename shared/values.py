"""``@valueclass``: dataclass-style value classes that cost nothing to define at import.

Why not ``dataclasses`` (measured, docs/performance.md): on Python 3.10 ``@dataclass`` compiles its ``__init__``,
``__repr__``, ``__eq__`` (and, frozen, ``__setattr__``/``__delattr__``) from source with ``exec`` as the class is
defined — about 1 ms per class — and importing ``dataclasses`` imports ``inspect``, ``ast`` and ``tokenize``. Every
function's cold start defined ~20 such classes before its first request (settings, vendor facts, records).
``@valueclass`` attaches generic methods that read the class's field table instead: defining a class is a dict walk.

What a ``@valueclass`` class has, as the equivalent ``@dataclass`` would (``tests/test_values.py`` checks each against
``dataclasses`` as the oracle):

* fields: the class's annotations in order (inherited ``@valueclass`` fields first; ``ClassVar`` skipped), a default
  from the class attribute or ``field(default=..., default_factory=..., repr=...)``;
* ``__init__``: positional or keyword arguments, ``TypeError`` for a missing, unknown or repeated one, then
  ``__post_init__()`` if the class defines it;
* ``__repr__`` (fields with ``repr=True``), ``__eq__`` (same class, equal fields), ``__hash__`` when frozen;
* ``frozen=True`` (the default): assigning or deleting an attribute raises :class:`FrozenInstanceError`;
* ``slots=True``: the class is rebuilt with ``__slots__`` for its fields (no ``__dict__``; instances pickle as a
  frozen slots dataclass's do); ``eq=False``: no ``__eq__``/``__hash__`` (identity, as ``object`` has);
* ``field(init=False)``: not an ``__init__`` argument, set from its default or factory;
* :func:`fields`, :func:`replace` and :func:`asdict` (shallow) in place of the ``dataclasses`` functions.

Type checkers see a dataclass (PEP 681 ``dataclass_transform``), so constructors are checked as before. Instances
are a little slower to construct than a dataclass's (one generic ``__init__``); nothing constructs them in a loop.
"""

from __future__ import annotations

from collections.abc import Callable

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any, TypeVar, overload

    from typing_extensions import dataclass_transform

    T = TypeVar("T")
else:

    def dataclass_transform(**_: Any) -> Callable[[Any], Any]:
        return lambda decorated: decorated


_MISSING: Any = object()
_FIELDS = "__value_fields__"
_INIT_FIELDS = "__value_init_fields__"  # the fields __init__ takes, in order
_NO_INIT_FIELDS = "__value_no_init_fields__"  # field(init=False): set from their default or factory


class FrozenInstanceError(AttributeError):
    """Assigning or deleting an attribute of a frozen ``@valueclass`` instance (``dataclasses.FrozenInstanceError``'s
    counterpart: also an ``AttributeError``)."""


class Field:
    """One field: its name, default or default factory, and whether ``repr`` shows it."""

    __slots__ = ("default", "default_factory", "init", "name", "repr")

    def __init__(
        self, default: Any = _MISSING, default_factory: Any = _MISSING, repr: bool = True, init: bool = True
    ) -> None:
        self.name = ""
        self.default = default
        self.default_factory = default_factory
        self.repr = repr
        self.init = init


def field(
    *, default: Any = _MISSING, default_factory: Callable[[], Any] = _MISSING, repr: bool = True, init: bool = True
) -> Any:
    """A field's options (``dataclasses.field``'s ``default``, ``default_factory``, ``repr`` and ``init``)."""
    if default is not _MISSING and default_factory is not _MISSING:
        raise ValueError("cannot specify both default and default_factory")
    if not init and default is _MISSING and default_factory is _MISSING:
        raise ValueError("a field with init=False needs a default or a default_factory")
    return Field(default, default_factory, repr, init)


def fields(obj: Any) -> tuple[Field, ...]:
    """The fields of a ``@valueclass`` class or instance, in order."""
    table: tuple[Field, ...] | None = getattr(obj, _FIELDS, None)
    if table is None:
        raise TypeError("must be called with a @valueclass class or instance")
    return table


def is_value_class(obj: Any) -> bool:
    """``obj`` is a ``@valueclass`` class."""
    return isinstance(obj, type) and hasattr(obj, _FIELDS)


def is_value(obj: Any) -> bool:
    """``obj`` is an instance of a ``@valueclass`` class."""
    return not isinstance(obj, type) and hasattr(type(obj), _FIELDS)


def asdict(obj: Any) -> dict[str, Any]:
    """Field name → value (shallow: values are not copied)."""
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def replace(obj: T, **changes: Any) -> T:
    """A new instance of ``obj``'s class with ``changes`` applied (``__init__`` and ``__post_init__`` run; an
    ``init=False`` field gets its default again and cannot be changed, as with ``dataclasses.replace``)."""
    for item in getattr(obj, _NO_INIT_FIELDS, ()):
        if item.name in changes:
            raise ValueError(f"field {item.name} is declared with init=False, it cannot be specified with replace()")
    current = {item.name: getattr(obj, item.name) for item in getattr(obj, _INIT_FIELDS)}
    return type(obj)(**{**current, **changes})


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    table: tuple[Field, ...] = getattr(self, _INIT_FIELDS)
    cls_name = type(self).__name__
    if len(args) > len(table):
        raise TypeError(f"{cls_name}() takes {len(table)} positional arguments but {len(args)} were given")
    for position, item in enumerate(table):
        name = item.name
        if position < len(args):
            if name in kwargs:
                raise TypeError(f"{cls_name}() got multiple values for argument '{name}'")
            value = args[position]
        elif name in kwargs:
            value = kwargs.pop(name)
        elif item.default is not _MISSING:
            value = item.default
        elif item.default_factory is not _MISSING:
            value = item.default_factory()
        else:
            raise TypeError(f"{cls_name}() missing required argument: '{name}'")
        object.__setattr__(self, name, value)
    if kwargs:
        raise TypeError(f"{cls_name}() got an unexpected keyword argument '{next(iter(kwargs))}'")
    for item in getattr(self, _NO_INIT_FIELDS):
        value = item.default if item.default_factory is _MISSING else item.default_factory()
        object.__setattr__(self, item.name, value)
    post_init = getattr(self, "__post_init__", None)
    if post_init is not None:
        post_init()


def _repr(self: Any) -> str:
    shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in getattr(self, _FIELDS) if f.repr)
    return f"{type(self).__qualname__}({shown})"


def _key(self: Any) -> tuple[Any, ...]:
    return tuple(getattr(self, f.name) for f in getattr(self, _FIELDS))


def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _key(self) == _key(other)


def _hash(self: Any) -> int:
    return hash(_key(self))


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    raise FrozenInstanceError(f"cannot assign to field '{name}'")


def _frozen_delattr(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field '{name}'")


def _is_class_var(annotation: Any) -> bool:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return text.startswith(("ClassVar", "typing.ClassVar"))


def _getstate(self: Any) -> list[Any]:
    return [getattr(self, f.name) for f in getattr(self, _FIELDS)]


def _setstate(self: Any, state: list[Any]) -> None:
    for item, value in zip(getattr(self, _FIELDS), state, strict=True):
        object.__setattr__(self, item.name, value)  # past a frozen __setattr__, as dataclasses does


def _with_slots(cls: type[T], table: tuple[Field, ...]) -> type[T]:
    """``cls`` rebuilt with ``__slots__`` for its own fields (``__slots__`` only works when a class is created)."""
    inherited = {name for base in cls.__mro__[1:] for name in base.__dict__.get("__slots__", ())}
    namespace = dict(cls.__dict__)
    own = tuple(item.name for item in table if item.name not in inherited)
    # Every field's class attribute goes (its default lives in the field table): one left for an inherited field
    # given a new default would hide the base's slot.
    for name in (*(item.name for item in table), "__dict__", "__weakref__"):
        namespace.pop(name, None)
    namespace["__slots__"] = own
    namespace.setdefault("__getstate__", _getstate)
    namespace.setdefault("__setstate__", _setstate)
    metaclass: Any = type(cls)
    rebuilt: type[T] = metaclass(cls.__name__, cls.__bases__, namespace)
    rebuilt.__qualname__ = cls.__qualname__
    return rebuilt


def _process(cls: type[T], frozen: bool, slots: bool = False, eq: bool = True) -> type[T]:
    inherited: dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        for item in base.__dict__.get(_FIELDS, ()):
            inherited[item.name] = item
    own: dict[str, Field] = {}
    # Not inspect.get_annotations: importing inspect is part of what this module avoids.
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():  # noqa: RUF063
        if _is_class_var(annotation):
            continue
        declared = cls.__dict__.get(name, _MISSING)
        item = declared if isinstance(declared, Field) else Field(default=declared)
        item.name = name
        if isinstance(declared, Field):
            if item.default is _MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, item.default)
        own[name] = item
    table = tuple({**inherited, **own}.values())
    seen_default = False
    for item in table:
        if not item.init:
            continue
        has_default = item.default is not _MISSING or item.default_factory is not _MISSING
        if seen_default and not has_default:
            raise TypeError(f"non-default argument '{item.name}' follows default argument")
        seen_default = seen_default or has_default
    setattr(cls, _FIELDS, table)
    setattr(cls, _INIT_FIELDS, tuple(item for item in table if item.init))
    setattr(cls, _NO_INIT_FIELDS, tuple(item for item in table if not item.init))
    methods: dict[str, Any] = {"__init__": _init, "__repr__": _repr}
    if eq:
        methods.update(__eq__=_eq, __hash__=_hash if frozen else None)
    if frozen:
        methods.update(__setattr__=_frozen_setattr, __delattr__=_frozen_delattr)
    # A method the class defines itself wins, as with @dataclass (for __hash__: unless it is the None that Python
    # sets for a class that defines __eq__ alone).
    namespace = cls.__dict__
    explicit_hash = "__hash__" in namespace and not (namespace["__hash__"] is None and "__eq__" in namespace)
    for name, method in methods.items():
        if name not in namespace or (name == "__hash__" and not explicit_hash):
            setattr(cls, name, method)
    return _with_slots(cls, table) if slots else cls


if TYPE_CHECKING:

    @overload
    def valueclass(cls: type[T], /) -> type[T]: ...

    @overload
    def valueclass(*, frozen: bool = True, slots: bool = False, eq: bool = True) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def valueclass(
    cls: type[T] | None = None, /, *, frozen: bool = True, slots: bool = False, eq: bool = True
) -> type[T] | Callable[[type[T]], type[T]]:
    """Make ``cls`` a value class (see the module docstring); ``@valueclass`` or ``@valueclass(frozen=False, ...)``."""
    if cls is None:
        return lambda decorated: _process(decorated, frozen, slots, eq)
    return _process(cls, frozen, slots, eq)
