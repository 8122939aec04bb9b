"""shared.values: a ``@value`` class behaves as the equivalent ``@dataclass`` (the oracle), at no import cost."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from typing import Any, ClassVar

import pytest

from shared import values
from tests.conftest import ROOT


@values.valueclass
class Point:
    x: int
    y: int = 0
    tags: list[str] = values.field(default_factory=list)
    secret: str = values.field(default="s", repr=False)
    kind: ClassVar[str] = "point"


@dataclasses.dataclass(frozen=True)
class PointOracle:
    x: int
    y: int = 0
    tags: list[str] = dataclasses.field(default_factory=list)
    secret: str = dataclasses.field(default="s", repr=False)
    kind: ClassVar[str] = "point"


@values.valueclass
class Pair:
    number: int
    text: str


@dataclasses.dataclass(frozen=True)
class PairOracle:
    number: int
    text: str


@values.valueclass(frozen=False)
class Counter:
    name: str
    count: int = 0

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValueError("count must not be negative")


@dataclasses.dataclass
class CounterOracle:
    name: str
    count: int = 0

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValueError("count must not be negative")


def outcome(build: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        made = build(*args, **kwargs)
    except (TypeError, ValueError) as error:
        return type(error)
    return {f.name: getattr(made, f.name) for f in dataclasses.fields(PointOracle) if hasattr(made, f.name)}


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((1,), {}), ((1, 2), {}), ((), {"x": 1, "y": 2}), ((1,), {"tags": ["a"]}), ((), {}), ((1,), {"x": 2}),
     ((1,), {"z": 2}), ((1, 2, [], "t", 5), {})],
)  # fmt: skip
def test_construction_accepts_and_refuses_what_a_dataclass_does(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    assert outcome(Point, *args, **kwargs) == outcome(PointOracle, *args, **kwargs)


def test_repr_shows_the_fields_a_dataclass_shows() -> None:
    assert repr(Point(1, 2, ["a"])) == repr(PointOracle(1, 2, ["a"])).replace("PointOracle", "Point")


def test_equality_and_hash_follow_the_fields() -> None:
    assert Point(1, 2) == Point(1, 2)
    assert Point(1, 2) != Point(1, 3)
    assert Point(1) != PointOracle(1)  # type: ignore[comparison-overlap]  # another class is never equal
    assert hash(Pair(1, "a")) == hash(Pair(1, "a")) == hash(PairOracle(1, "a"))


def test_each_instance_gets_its_own_default_from_a_factory() -> None:
    first, second = Point(1), Point(1)
    assert first.tags == [] and first.tags is not second.tags


def test_a_frozen_instance_refuses_assignment_and_deletion_as_an_attribute_error() -> None:
    point = Point(1)
    with pytest.raises(values.FrozenInstanceError):
        point.x = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del point.x


def test_a_mutable_value_can_be_changed_and_is_not_hashable() -> None:
    counter = Counter("a")
    counter.count += 1
    assert counter == Counter("a", 1)
    with pytest.raises(TypeError):
        hash(counter)
    assert CounterOracle.__hash__ is None and Counter.__hash__ is None


def test_post_init_runs_after_the_fields_are_set() -> None:
    with pytest.raises(ValueError, match="negative"):
        Counter("a", -1)
    with pytest.raises(ValueError, match="negative"):
        values.replace(Counter("a"), count=-1)


def test_class_variables_are_not_fields() -> None:
    assert [f.name for f in values.fields(Point)] == [f.name for f in dataclasses.fields(PointOracle)]
    assert Point.kind == "point"


def test_replace_and_asdict_work_like_the_dataclasses_functions() -> None:
    point = Point(1, 2, ["a"])
    assert values.replace(point, y=5) == Point(1, 5, ["a"])
    assert values.asdict(point) == dataclasses.asdict(PointOracle(1, 2, ["a"]))
    assert values.is_value(point) and not values.is_value(Point) and not values.is_value(PointOracle(1))


def test_a_field_without_default_after_one_with_a_default_is_refused() -> None:
    with pytest.raises(TypeError, match="non-default"):

        @values.valueclass
        class Broken:
            a: int = 0
            b: int  # type: ignore[misc]


def test_a_method_the_class_defines_itself_is_kept() -> None:
    @values.valueclass
    class Masked:
        secret: str

        def __repr__(self) -> str:
            return "Masked(***)"

    assert repr(Masked("x")) == "Masked(***)"


def test_a_hash_the_class_defines_itself_is_kept() -> None:
    @values.valueclass
    class Named:
        name: str
        note: str = ""

        def __hash__(self) -> int:
            return hash(self.name)

    assert hash(Named("a", "x")) == hash("a")


def test_fields_are_inherited_first() -> None:
    @values.valueclass
    class Base:
        a: int

    @values.valueclass
    class Child(Base):
        b: int = 1

    assert [f.name for f in values.fields(Child)] == ["a", "b"]
    assert Child(1) == Child(a=1, b=1)


def test_importing_it_imports_neither_dataclasses_nor_inspect() -> None:
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); import shared.values; print(sorted({{'dataclasses', " \
        "'inspect'} & set(sys.modules)))"
    completed = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[]"


@values.valueclass(slots=True)
class Slotted:
    x: int
    y: int = 0
    cache: list[int] = values.field(default_factory=list, init=False)


@dataclasses.dataclass(frozen=True, slots=True)
class SlottedOracle:
    x: int
    y: int = 0
    cache: list[int] = dataclasses.field(default_factory=list, init=False)


def test_a_slots_class_has_slots_for_its_fields_and_no_instance_dict() -> None:
    assert Slotted.__slots__ == SlottedOracle.__slots__  # type: ignore[attr-defined]
    assert not hasattr(Slotted(1), "__dict__")
    with pytest.raises(values.FrozenInstanceError):
        Slotted(1).x = 2  # type: ignore[misc]


def test_a_slots_class_keeps_its_defaults_and_methods() -> None:
    assert (Slotted(1).y, repr(Slotted(1, 2))) == (SlottedOracle(1).y, repr(SlottedOracle(1, 2)).replace("Oracle", ""))


def test_an_init_false_field_is_not_an_argument_and_gets_its_own_default() -> None:
    assert outcome(Slotted, 1, 2, [3]) is outcome(SlottedOracle, 1, 2, [3]) is TypeError
    first, second = Slotted(1), Slotted(1)
    assert first.cache == [] and first.cache is not second.cache


def test_replace_refuses_an_init_false_field_and_resets_it() -> None:
    changed = Slotted(1)
    changed.cache.append(5)
    assert values.replace(changed, y=4) == Slotted(1, 4)
    assert values.replace(changed, y=4).cache == dataclasses.replace(SlottedOracle(1), y=4).cache == []
    with pytest.raises(ValueError, match="init=False"):
        values.replace(changed, cache=[1])


def test_a_frozen_slots_instance_pickles_and_copies() -> None:
    import copy
    import pickle

    original = Slotted(1, 2)
    assert pickle.loads(pickle.dumps(original)) == original
    assert copy.deepcopy(original) == original


def test_without_eq_instances_compare_by_identity_as_a_dataclass_does() -> None:
    @values.valueclass(eq=False)
    class Handle:
        name: str

    @dataclasses.dataclass(frozen=True, eq=False)
    class HandleOracle:
        name: str

    assert (Handle("a") == Handle("a")) is (HandleOracle("a") == HandleOracle("a")) is False
    assert Handle.__hash__ is HandleOracle.__hash__ is object.__hash__


def test_a_slots_subclass_may_give_an_inherited_field_a_new_default() -> None:
    @values.valueclass(slots=True)
    class Child(Slotted):
        y: int = 5

    @dataclasses.dataclass(frozen=True, slots=True)
    class ChildOracle(SlottedOracle):
        y: int = 5

    assert (Child(1).y, Child(1, 2).y) == (ChildOracle(1).y, ChildOracle(1, 2).y) == (5, 2)
