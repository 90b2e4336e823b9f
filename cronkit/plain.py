"""Data classes for the run path without the `dataclasses` module: `@record` and `field`.

`dataclasses` imports `inspect` (and with it ast, dis, tokenize) and compiles an `__init__`,
`__repr__` and `__eq__` for every class it decorates: about 15 ms of every cron tick
(bench/run_overhead.py). `@record` gives the same class shape (keyword or positional `__init__`
with defaults and factories, `__post_init__`, `repr`, `==`, `frozen=True`, `replace`, `fields`,
`asdict`) from one shared `__init__`, compiling nothing. Type checkers read it as a dataclass
(`dataclass_transform`). Classes off the run path may keep `dataclasses`.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a cron tick's 2 ms)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar, dataclass_transform

    T = TypeVar("T")
else:
    def dataclass_transform(**_options):  # noqa: ANN001, ANN202 - typing's marker, a no-op at run time
        return lambda decorator: decorator

MISSING: Any = object()  # a field without a default


class FrozenInstanceError(AttributeError):
    """Raised on assigning to (or deleting) a field of a frozen record."""


class Field:
    """One field of a record: its name, default or default factory, and whether repr and == show it."""

    __slots__ = ("compare", "default", "default_factory", "name", "repr")

    def __init__(self, default: Any = MISSING, default_factory: Any = MISSING, repr: bool = True,  # noqa: A002
                 compare: bool = True) -> None:
        self.name = ""
        self.default = default
        self.default_factory = default_factory
        self.repr = repr
        self.compare = compare

    def __repr__(self) -> str:
        return f"Field({self.name!r})"


def field(*, default: Any = MISSING, default_factory: Callable[[], Any] = MISSING, repr: bool = True,  # noqa: A002
          compare: bool = True) -> Any:
    """Describe a field whose default is made per instance, or that repr or == leave out."""
    return Field(default, default_factory, repr, compare)


@dataclass_transform(field_specifiers=(field, Field))
def record(cls: Any = None, /, *, frozen: bool = False) -> Any:
    """Make a class a record of its annotated fields, in their order (frozen: assignments raise)."""
    def make(cls: type[T]) -> type[T]:
        _make(cls, frozen)
        return cls

    return make if cls is None else make(cls)


def _make(cls: Any, frozen: bool) -> None:
    own: list[Field] = []
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():
        if str(annotation).startswith(("ClassVar", "typing.ClassVar")):
            continue
        value = cls.__dict__.get(name, MISSING)
        spec = value if isinstance(value, Field) else Field(default=value)
        spec.name = name
        if isinstance(value, Field):  # as dataclasses: the class keeps a plain default, not the Field
            if spec.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, spec.default)
        own.append(spec)
    inherited = [spec for base in cls.__mro__[-1:0:-1] for spec in getattr(base, "__record_fields__", ())]
    merged = {spec.name: spec for spec in [*inherited, *own]}
    cls.__record_fields__ = tuple(merged.values())
    cls.__record_frozen__ = frozen
    for name, function in (("__init__", _init), ("__repr__", _repr), ("__eq__", _eq)):
        if name not in cls.__dict__:
            setattr(cls, name, function)
    if frozen:
        cls.__setattr__ = _refuse
        cls.__delattr__ = _refuse
        if "__hash__" not in cls.__dict__:
            cls.__hash__ = _hash
    elif "__hash__" not in cls.__dict__:
        cls.__hash__ = None  # mutable and compared by value: unhashable, as dataclasses make it


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    specs = type(self).__record_fields__
    if len(args) > len(specs):
        raise TypeError(f"{type(self).__name__}() takes {len(specs)} positional arguments but {len(args)} were given")
    values = dict(zip((spec.name for spec in specs), args, strict=False))
    for name in kwargs:
        if name in values:
            raise TypeError(f"{type(self).__name__}() got multiple values for argument {name!r}")
    values.update(kwargs)
    for spec in specs:
        if spec.name in values:
            value = values.pop(spec.name)
        elif spec.default is not MISSING:
            value = spec.default
        elif spec.default_factory is not MISSING:
            value = spec.default_factory()
        else:
            raise TypeError(f"{type(self).__name__}() missing required argument: {spec.name!r}")
        object.__setattr__(self, spec.name, value)
    if values:
        raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {next(iter(values))!r}")
    post_init = getattr(self, "__post_init__", None)
    if post_init is not None:
        post_init()


def _repr(self: Any) -> str:
    shown = ", ".join(f"{spec.name}={getattr(self, spec.name)!r}" for spec in type(self).__record_fields__ if spec.repr)
    return f"{type(self).__qualname__}({shown})"


def _compared(self: Any) -> tuple[Any, ...]:
    return tuple(getattr(self, spec.name) for spec in type(self).__record_fields__ if spec.compare)


def _eq(self: Any, other: object) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _compared(self) == _compared(other)


def _hash(self: Any) -> int:
    return hash(_compared(self))


def _refuse(self: Any, name: str, *_value: Any) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def fields(instance_or_class: Any) -> tuple[Field, ...]:
    """Return the fields of a record (or record class), in order."""
    return tuple(instance_or_class.__record_fields__)


def is_record(value: Any) -> bool:
    """Tell whether `value` is a record instance."""
    return hasattr(type(value), "__record_fields__")


def replace(instance: T, /, **changes: Any) -> T:
    """Return a copy of a record with some fields changed (its `__post_init__` runs again)."""
    values = {spec.name: getattr(instance, spec.name) for spec in fields(instance)}
    unknown = set(changes) - set(values)
    if unknown:
        raise TypeError(f"{type(instance).__name__} has no field {sorted(unknown)[0]!r}")
    return type(instance)(**{**values, **changes})


def asdict(instance: Any) -> dict[str, Any]:
    """Return a record's fields as a dict, records, lists, tuples and dicts inside it converted too."""
    return {spec.name: _plain(getattr(instance, spec.name)) for spec in fields(instance)}


def _plain(value: Any) -> Any:
    if is_record(value):
        return asdict(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item) for item in value)
    if isinstance(value, dict):
        return type(value)((_plain(key), _plain(item)) for key, item in value.items())
    return value


__all__ = ["MISSING", "Field", "FrozenInstanceError", "asdict", "field", "fields", "is_record", "record", "replace"]
