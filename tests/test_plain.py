"""cronkit.plain's records behave as the dataclasses they stand in for on the run path."""

from __future__ import annotations

import pytest

from cronkit.plain import FrozenInstanceError, asdict, field, fields, is_record, record, replace


@record
class Point:
    x: int
    y: int = 0
    tags: list[str] = field(default_factory=list)
    note: str = field(default="", repr=False, compare=False)


@record(frozen=True)
class Frozen:
    name: str
    inner: Point | None = None

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", "unnamed")


@record
class Point3(Point):
    z: int = 0


def test_init_takes_positions_keywords_defaults_and_factories() -> None:
    first, second = Point(1), Point(1, y=2)
    assert (first.x, first.y, first.tags, second.y) == (1, 0, [], 2)
    assert first.tags is not Point(1).tags  # a factory's value is made per instance
    with pytest.raises(TypeError, match="missing required argument: 'x'"):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'w'"):
        Point(1, w=2)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="multiple values for argument 'x'"):
        Point(1, x=2)  # type: ignore[misc]
    with pytest.raises(TypeError, match="takes 4 positional arguments but 5 were given"):
        Point(1, 2, [], "", 5)  # type: ignore[call-arg]


def test_repr_and_equality_follow_the_fields() -> None:
    assert repr(Point(1, 2, ["a"], note="hidden")) == "Point(x=1, y=2, tags=['a'])"
    assert Point(1, note="a") == Point(1, note="b")  # compare=False
    assert Point(1) != Point(2)
    assert Point(1) != Point3(1)  # another class is never equal
    with pytest.raises(TypeError):
        hash(Point(1))  # mutable and compared by value: unhashable, as with dataclasses
    assert hash(Frozen("a")) == hash(Frozen("a"))


def test_frozen_refuses_assignment_and_post_init_runs() -> None:
    item = Frozen("")
    assert item.name == "unnamed"
    with pytest.raises(FrozenInstanceError):
        item.name = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del item.name


def test_replace_fields_asdict_and_inheritance() -> None:
    item = Frozen("a", Point(1, tags=["t"]))
    changed = replace(item, name="b")
    assert (changed.name, changed.inner, item.name) == ("b", Point(1, tags=["t"]), "a")
    with pytest.raises(TypeError, match="no field 'nope'"):
        replace(item, nope=1)
    assert [spec.name for spec in fields(Point3)] == ["x", "y", "tags", "note", "z"]
    assert asdict(item) == {"name": "a", "inner": {"x": 1, "y": 0, "tags": ["t"], "note": ""}}
    assert Point3(1, z=3).z == 3
    assert is_record(item) and not is_record(Frozen) and not is_record({"name": "a"})
