"""Defaults compiled: Kong's `process_auto_fields` for inserts (auto ids and timestamps,
defaults, `{}`/`[]` read as the container a field expects), as a `FillPlan` per record."""

from __future__ import annotations

import copy
import uuid as uuid_mod
from collections.abc import Callable
from typing import Any

from .checking import shorthand_problem
from .fields import MISSING, Field, Shorthand

Adjust = Callable[[Any, float], Any]  # (value or MISSING, now) -> the value to store
Auto = Callable[[Any, float], Any]

_IMMUTABLE = (str, int, float, bool, type(None))
_CONTAINERS = ("record", "array", "set", "map")


def _copy(value: Any) -> Any:
    """A deep copy of a JSON-shaped default, without deepcopy's bookkeeping."""
    kind = type(value)
    if kind is dict:
        return {k: _copy(v) for k, v in value.items()}
    if kind is list:
        return [_copy(v) for v in value]
    if isinstance(value, _IMMUTABLE):
        return value
    return copy.deepcopy(value)


def _dedupe(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


class FillPlan:
    """`fill(data, now)`: every field of the record in declaration order, then the keys the
    schema does not know (kept so that validation reports them)."""

    __slots__ = ("steps", "names")

    def __init__(self, fields: tuple[tuple[str, Field], ...]) -> None:
        self.steps = tuple((name, _auto(name, f), _adjust(f), f.type == "integer", *_default(f)) for name, f in fields)
        self.names = frozenset(name for name, _ in fields)

    def fill(self, data: dict[str, Any], now: float) -> dict[str, Any]:
        out = {}
        get = data.get
        for name, auto, adjust, integer, default, copy_default in self.steps:
            value = get(name, MISSING)
            if auto is not None:
                value = auto(value, now)
            if adjust is not None:
                value = adjust(value, now)
            elif value is MISSING:
                value = default if copy_default is None else copy_default(default)
            elif integer and value.__class__ is float and value.is_integer():
                value = int(value)  # see `_integral`; inline, as integer fields are many
            out[name] = value
        if not data.keys() <= self.names:
            for k, v in data.items():
                out.setdefault(k, v)
        return out


def expand_shorthands(shorthands: tuple[Shorthand, ...], data: dict[str, Any]) -> dict[str, Any]:
    """A record's shorthand keys replaced by what they stand for (Kong's deprecated flat forms,
    such as rate-limiting's ``redis_host`` for ``redis.host``); a field given too keeps its
    value. A shorthand that is invalid, or that contradicts the field it stands for, is left
    in place for validation to report (``shorthand_problem``)."""
    if not any(sh.name in data for sh in shorthands):
        return data
    out = dict(data)
    for sh in shorthands:
        if sh.name in out and shorthand_problem(sh, out) is None:
            _merge(out, sh.expand(out.pop(sh.name)) or {})
    return out


def _merge(into: dict[str, Any], add: dict[str, Any]) -> None:
    for key, value in add.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            into[key] = dict(into[key])
            _merge(into[key], value)
        elif into.get(key) is None:
            into[key] = value


def _default(field: Field) -> tuple[Any, Callable[[Any], Any] | None]:
    """(the value an absent field takes, the copier it needs, or None when it is immutable)."""
    default = None if field.default is MISSING else field.default
    return default, None if isinstance(default, _IMMUTABLE) else _copy


def _auto(name: str, field: Field) -> Auto | None:
    if not field.auto:
        return None
    if field.uuid:
        return lambda value, now: str(uuid_mod.uuid4()) if value is MISSING else value
    if field.type == "string":
        return lambda value, now: uuid_mod.uuid4().hex if value is MISSING else value
    # Kong overwrites updated_at on insert; a given one is kept here so that a flat config
    # exported by the control plane round-trips unchanged (and hashes the same)
    if name in ("created_at", "updated_at"):
        stamp = int if field.type == "integer" else float
        return lambda value, now: stamp(now) if value is MISSING or value is None else value
    return None


def _adjust(field: Field) -> Adjust | None:
    """The adjustment of a container field's value; None for a scalar (default only, and
    integral floats made integers: `FillPlan.fill`)."""
    if field.type not in _CONTAINERS:
        return None
    default, copy_default = _default(field)

    def absent() -> Any:
        return default if copy_default is None else copy_default(default)

    if field.type == "record":
        fill = None if field.fields is None else FillPlan(field.fields).fill
        empty_when_absent = field.required and field.default is MISSING
        shorthands = field.shorthands

        def adjust_record(value: Any, now: float) -> Any:
            if value == []:  # Lua cannot tell an empty object from an empty array
                value = {}
            elif value is MISSING:
                if not empty_when_absent:
                    return absent()
                value = {}
            if shorthands and isinstance(value, dict):
                value = expand_shorthands(shorthands, value)
            if fill is not None and isinstance(value, dict):
                return fill(value, now)
            return value

        return adjust_record
    if field.type == "map":
        has_values = field.values is not None
        values = _element_adjust(field.values) if field.values is not None else None

        def adjust_map(value: Any, now: float) -> Any:
            if value == []:
                value = {}
            if has_values and isinstance(value, dict):
                if values is None:  # scalar values are kept as they are
                    return dict(value)
                return {k: values(v, now) for k, v in value.items()}
            return absent() if value is MISSING else value

        return adjust_map
    elements = _undefined if field.elements is None else _element_adjust(field.elements)
    is_set = field.type == "set"

    def adjust_sequence(value: Any, now: float) -> Any:
        if not isinstance(value, list):
            if value != {}:
                return absent() if value is MISSING else value
            value = []
        if elements is None:  # scalar elements are kept as they are
            return _dedupe(value) if is_set else list(value)
        return [elements(v, now) for v in (_dedupe(value) if is_set else value)]

    return adjust_sequence


def _element_adjust(field: Field) -> Adjust | None:
    return _integral if field.type == "integer" else _adjust(field)


def _integral(value: Any, now: float) -> Any:
    """An integer given as an integral float (80.0, 1e3) is that integer, as to Lua, whose
    JSON encoder writes it without a fraction: stored as given, the native core's typed
    entities would refuse the whole configuration."""
    return int(value) if value.__class__ is float and value.is_integer() else value


def _undefined(value: Any, now: float) -> Any:
    raise AttributeError("'NoneType' object has no attribute 'type' (array without elements)")
