"""The one interpreter of schemas: fills defaults (Kong's `process_auto_fields` for inserts)
and validates (Kong's `Schema:validate`), producing Kong-shaped errors.

Errors are nested dicts: field name -> message, record fields -> nested dict, array elements
-> dict keyed by 1-based position (as Kong's Lua tables), entity-wide messages under
"@entity" as a list.

Schemas are compiled once (`checking`, `filling`); a plan per (entity schema, subschema) is
kept on the schema, so validating an entity does no schema work.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from . import messages as M
from .checking import Errors, RecordPlan, field_check, is_nonempty, is_uuid
from .fields import EntitySchema, EntitySubschema, Field
from .filling import FillPlan

__all__ = [
    "Errors",
    "effective_fields",
    "fill_defaults",
    "fill_record",
    "get_subschema",
    "is_nonempty",
    "is_uuid",
    "validate",
    "validate_field",
]


class _Plan(NamedTuple):
    fields: tuple[tuple[str, Field], ...]
    fill: FillPlan
    record: RecordPlan


def _plan(schema: EntitySchema, sub: EntitySubschema | None) -> _Plan:
    # keyed by the subschema's identity and holding it, so that the id is never reused while
    # the entry lives; plugin subschemas are cached per plugin (plugins.plugin_subschema)
    plans = schema.__dict__.get("_plans")
    if plans is None:
        plans = {}
        object.__setattr__(schema, "_plans", plans)  # frozen dataclass: not a dataclass field
    hit = plans.get(id(sub))
    if hit is None:
        fields = _effective(schema, sub)
        checks = schema.entity_checks if sub is None else (*schema.entity_checks, *sub.entity_checks)
        hit = plans[id(sub)] = (sub, _Plan(fields, FillPlan(fields), RecordPlan(fields, checks, schema.primary_key)))
    return hit[1]


def _effective(schema: EntitySchema, sub: EntitySubschema | None) -> tuple[tuple[str, Field], ...]:
    if sub is None:
        return schema.fields
    overrides = dict(sub.fields)
    return tuple((n, overrides.get(n, f)) for n, f in schema.fields)


def fill_record(fields: tuple[tuple[str, Field], ...], data: dict[str, Any], now: float) -> dict[str, Any]:
    return FillPlan(fields).fill(data, now)


def get_subschema(schema: EntitySchema, data: dict[str, Any], plugins: frozenset[str]) -> EntitySubschema | None:
    if not schema.subschema_key:
        return None
    key = data.get(schema.subschema_key)
    candidates: list[Any] = []
    if isinstance(key, str):
        candidates = [key]
    elif isinstance(key, list) and schema.dynamic_subschemas is None:
        candidates = key  # a route's protocols set; a plugin's name is one string or no subschema
    for k in candidates:
        if not isinstance(k, str):
            continue
        if schema.dynamic_subschemas is not None:
            if k in plugins:
                return schema.dynamic_subschemas(k)
        elif k in schema.subschemas:
            return schema.subschemas[k]
    return None


def effective_fields(schema: EntitySchema, sub: EntitySubschema | None) -> tuple[tuple[str, Field], ...]:
    return _plan(schema, sub).fields


def fill_defaults(
    schema: EntitySchema, data: dict[str, Any], *, now: float, plugins: frozenset[str] = frozenset()
) -> tuple[dict[str, Any], Errors | None]:
    """Expand shorthands, generate auto fields and fill defaults, as Kong does on insert.

    Returns the completed entity, or the shorthand errors (Kong stops there when a
    shorthand value is invalid).
    """
    errors: Errors = {}
    if any(sh.name in data for sh in schema.shorthands):
        data = dict(data)  # expanded here: the caller's dict stays as given
        for sh in schema.shorthands:
            if sh.name not in data:
                continue
            value = data.pop(sh.name)
            err = field_check(sh.field)(value)
            if err is not None:
                errors[sh.name] = err
                continue
            for k, v in (sh.expand(value) or {}).items():
                if isinstance(v, dict) and isinstance(data.get(k), dict):
                    data[k] = {**data[k], **v}
                else:
                    data[k] = v
        if errors:
            return data, errors
    sub = get_subschema(schema, data, plugins)
    return _plan(schema, sub).fill.fill(data, now), None


def validate_field(field: Field, value: Any, plugins: frozenset[str] = frozenset()) -> Any:
    """Kong's `Schema:validate_field`: None when valid, else a message or nested errors."""
    return field_check(field)(value)


def validate(schema: EntitySchema, entity: dict[str, Any], plugins: frozenset[str] = frozenset()) -> Errors | None:
    """Kong's `Schema:validate` for a complete entity (defaults already filled)."""
    if schema.subschema_key:
        key = entity.get(schema.subschema_key)
        if key is None:
            return {schema.subschema_key: M.REQUIRED}
        sub = get_subschema(schema, entity, plugins)
        if sub is None:
            key_field = schema.fields_by_name.get(schema.subschema_key)
            type_error = field_check(key_field)(key) if key_field is not None else None
            if type_error is not None:  # a key of the wrong type names no subschema: say so, as Kong does
                return {schema.subschema_key: type_error}
            shown = key if isinstance(key, str) else key[0] if isinstance(key, list) and key else key
            msg = schema.subschema_error or M.SUBSCHEMA_UNKNOWN
            return {schema.subschema_key: msg.format(shown)}
    else:
        sub = None
    return _plan(schema, sub).record.validate(entity)
