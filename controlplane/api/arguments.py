"""Kong's decoding of form arguments (kong/api/arguments.lua) into an entity-shaped dict.

Names nest on dots and brackets: `config.minute=5`, `service.id=...`, `paths[]=/a`,
`paths[1]=/a`, `a.b[2].c=x`; a repeated name is a list. Values are then typed from the
entity schema as Kong infers them: "" is null, numbers and booleans are parsed, a single
value given to an array field becomes a one-element list.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from dataplane.schema import EntitySchema, Field
from dataplane.schema.validator import effective_fields, get_subschema

_INDEXED = re.compile(r"^(.+?)((?:\[\d*\])+)$")
_INDEX = re.compile(r"\[(\d*)\]")
# Lua's tonumber on decimal text (no hex, inf or nan)
_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


def key_path(name: str) -> list[str | int | None]:
    """`a.b[2][]` -> ["a", "b", 2, None]. Names starting or ending with a dot stay whole."""
    if name.startswith(".") or name.endswith("."):
        return [name]
    path: list[str | int | None] = []
    for segment in (s for s in name.split(".") if s):
        match = _INDEXED.match(segment)
        if match is None:
            path.append(segment)
            continue
        path.append(match.group(1))
        path.extend(int(i) if i else None for i in _INDEX.findall(match.group(2)))
    return path or [name]


def _next_index(table: dict) -> int:
    n = 1
    while n in table:
        n += 1
    return n


def _put(table: dict, key: str | int | None, value: Any) -> None:
    """Store one value, turning repeats into Lua-style arrays (int keys) as Kong's combine."""
    if key is None:
        key = _next_index(table)
    if key not in table:
        table[key] = value
        return
    old = table[key]
    if isinstance(old, dict) and isinstance(value, dict):
        for k, v in value.items():
            _put(old, k, v)
    elif isinstance(old, dict):
        old[_next_index(old)] = value
    else:
        table[key] = {1: old, 2: value}


def _assign(root: dict, path: list[str | int | None], values: list[Any]) -> None:
    node = root
    for key in path[:-1]:
        if key is None:
            key = _next_index(node)
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    for value in values:
        _put(node, path[-1], value)


def _listify(value: Any) -> Any:
    """Lua tables to JSON shapes: all-integer keys become a list in key order."""
    if not isinstance(value, dict):
        return value
    if value and all(isinstance(k, int) for k in value):
        return [_listify(value[k]) for k in sorted(value)]
    return {k: _listify(v) for k, v in value.items()}


class TooDeep(ValueError):
    """A form name nests more levels than a body may."""


def nest(pairs: Iterable[tuple[str, Any]], max_depth: int | None = None) -> dict[str, Any]:
    """Form pairs (in order, names may repeat) to nested dicts and lists, still untyped; a
    name of more than `max_depth` levels is refused (the tables are built recursively)."""
    grouped: dict[str, list[Any]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    root: dict = {}
    for name, values in grouped.items():
        path = key_path(name)
        if max_depth is not None and len(path) >= max_depth:  # a repeat adds a level
            raise TooDeep(f"names nest deeper than {max_depth} levels")
        if len(values) > 1 and path[-1] is not None and not isinstance(path[-1], int):
            path = [*path, None]  # `hosts=a&hosts=b` is the list [a, b]
        _assign(root, path, values)
    return _listify(root)


def _number(text: str) -> int | float | str:
    if not _NUMBER.match(text):
        return text
    number = float(text)
    return int(number) if number.is_integer() and abs(number) < 2**63 else number


def infer_value(value: Any, field: Field | None) -> Any:
    """Kong's `infer_value`: type a decoded form value from its field definition."""
    if field is None or value is None:
        return value
    if value == "":
        return None
    t = field.type
    if t in ("number", "integer") and isinstance(value, str):
        return _number(value)
    if t == "boolean":
        return {"true": True, "false": False}.get(value, value) if isinstance(value, str) else value
    if t in ("array", "set"):
        items = value if isinstance(value, list) else [value]
        return [infer_value(v, field.elements) for v in items]
    if t == "foreign" and isinstance(value, dict):
        return {k: None if v == "" else v for k, v in value.items()}
    if t == "map" and isinstance(value, dict):
        return {k: infer_value(v, field.values) for k, v in value.items()}
    if t == "record" and isinstance(value, dict) and field.fields is not None:
        return _infer_fields(value, field.fields)
    return value


def _infer_fields(data: dict, fields: tuple[tuple[str, Field], ...]) -> dict:
    known = dict(fields)
    return {k: infer_value(v, known.get(k)) for k, v in data.items()}


def infer(
    data: dict[str, Any], schema: EntitySchema, plugins: frozenset[str], fallback: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Type every field of a decoded form, with the subschema its data selects (a plugin's
    config record is known from its `name`, or from `fallback`'s: the entity a PATCH updates)."""
    selector = data if fallback is None or schema.subschema_key in data else fallback
    sub = get_subschema(schema, selector, plugins)
    return _infer_fields(data, effective_fields(schema, sub))


def decode(
    pairs: Iterable[tuple[str, Any]],
    schema: EntitySchema,
    plugins: frozenset[str],
    fallback: dict[str, Any] | None = None,
    max_depth: int | None = None,
) -> dict[str, Any]:
    return infer(nest(pairs, max_depth), schema, plugins, fallback)
