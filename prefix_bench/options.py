"""Strict construction of typed option dataclasses from plain dicts (YAML/JSON).

Every option a user can set lives in a frozen dataclass with a documented default. Loading fails on
an unknown key (naming it and listing the valid ones), a wrong type (booleans must be booleans) or
a value outside a `Literal`'s choices, so a typo never silently runs the paper's default instead.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, TypeVar, get_args, get_origin

from .errors import PrefixBenchError

T = TypeVar("T")


def _check_value(value: Any, annotation: Any, where: str) -> Any:
    origin = get_origin(annotation)
    if origin is Literal:
        if value not in get_args(annotation):
            choices = ", ".join(repr(c) for c in get_args(annotation))
            raise PrefixBenchError(f"{where}: {value!r} is not one of {choices}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = get_args(annotation)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check_value(value, arg, where)
            except PrefixBenchError as err:
                errors.append(str(err))
        raise PrefixBenchError(errors[0] if errors else f"{where}: bad value {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise PrefixBenchError(f"{where}: expected a list, got {value!r}")
        (item_type, *_) = get_args(annotation) or (Any,)
        return tuple(_check_value(v, item_type, f"{where}[{i}]") for i, v in enumerate(value))
    if annotation is Any:
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise PrefixBenchError(f"{where}: expected true/false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise PrefixBenchError(f"{where}: expected an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise PrefixBenchError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise PrefixBenchError(f"{where}: expected a string, got {value!r}")
        return value
    if dataclasses.is_dataclass(annotation):
        return from_dict(annotation, value, where)
    if annotation is dict or get_origin(annotation) is dict:
        if not isinstance(value, dict):
            raise PrefixBenchError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    return value


def from_dict(cls: type[T], data: dict | None, where: str) -> T:
    """Build dataclass `cls` from `data`, failing with one line on any unknown key or bad value."""
    data = {} if data is None else data
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise PrefixBenchError(f"{where}: expected a mapping of options, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise PrefixBenchError(
            f"{where}: unknown key {unknown[0]!r}; valid keys are: {', '.join(sorted(fields))}"
        )
    kwargs = {name: _check_value(value, hints[name], f"{where}.{name}") for name, value in data.items()}
    try:
        obj = cls(**kwargs)
    except TypeError as err:  # a required field is missing
        raise PrefixBenchError(f"{where}: {err}") from None
    validate = getattr(obj, "validate", None)
    if validate is not None:
        validate(where)
    return obj


def to_dict(obj: Any) -> dict:
    """Plain-dict view of an options dataclass (for JSON run records)."""
    return dataclasses.asdict(obj)
