"""The one interpreter of schemas: fills defaults (Kong's `process_auto_fields` for inserts)
and validates (Kong's `Schema:validate`), producing Kong-shaped errors.

Errors are nested dicts: field name -> message, record fields -> nested dict, array elements
-> dict keyed by 1-based position (as Kong's Lua tables), entity-wide messages under
"@entity" as a list.
"""
from __future__ import annotations

import copy
import re
import uuid as uuid_mod
from functools import lru_cache
from typing import Any

from . import messages as M
from .checks import AtLeastOneOf, Conditional, ConditionalAtLeastOneOf, Custom, Distinct, MutuallyRequired
from .fields import MISSING, EntitySchema, EntitySubschema, Field

_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)

Errors = dict[Any, Any]


def is_nonempty(value: Any) -> bool:
    return not (value is None or value is MISSING or value == "" or
                (isinstance(value, (list, dict)) and not value))


def is_uuid(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 36 and bool(_UUID_RE.match(value))


@lru_cache(maxsize=None)
def _regex(pattern: str) -> re.Pattern:
    return re.compile(pattern)


# ---------------------------------------------------------------- defaults


def _as_sequence(value: Any) -> Any:
    # Lua cannot tell an empty object from an empty array: accept {} where a list is expected
    return [] if value == {} else value


def _as_mapping(value: Any) -> Any:
    return {} if value == [] else value


def _dedupe(values: list) -> list:
    out: list = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


def _adjust(field: Field, value: Any, now: float) -> Any:
    if field.type == "record":
        value = _as_mapping(value)
        if value is MISSING and field.required and field.default is MISSING:
            value = {}
        if isinstance(value, dict) and field.fields is not None:
            return fill_record(field.fields, value, now)
    elif field.type in ("array", "set"):
        value = _as_sequence(value)
        if isinstance(value, list):
            if field.type == "set":
                value = _dedupe(value)
            return [_adjust(field.elements, v, now) for v in value]
    elif field.type == "map":
        value = _as_mapping(value)
        if isinstance(value, dict) and field.values is not None:
            return {k: _adjust(field.values, v, now) for k, v in value.items()}
    if value is MISSING:
        if field.default is not MISSING:
            return copy.deepcopy(field.default)
        return None
    return value


def _auto_value(name: str, field: Field, value: Any, now: float) -> Any:
    if field.uuid:
        return str(uuid_mod.uuid4()) if value is MISSING else value
    if field.type == "string":
        return uuid_mod.uuid4().hex if value is MISSING else value
    # Kong overwrites updated_at on insert; a given one is kept here so that a flat config
    # exported by the control plane round-trips unchanged (and hashes the same)
    if name in ("created_at", "updated_at") and value in (MISSING, None):
        return int(now) if field.type == "integer" else float(now)
    return value


def fill_record(fields: tuple[tuple[str, Field], ...], data: dict, now: float) -> dict:
    out = {}
    for name, field in fields:
        value = data.get(name, MISSING)
        if field.auto:
            value = _auto_value(name, field, value, now)
        out[name] = _adjust(field, value, now)
    for k, v in data.items():  # unknown keys stay, so that validation reports them
        out.setdefault(k, v)
    return out


def get_subschema(schema: EntitySchema, data: dict, plugins: frozenset[str]) -> EntitySubschema | None:
    if not schema.subschema_key:
        return None
    key = data.get(schema.subschema_key)
    candidates = [key] if isinstance(key, str) else key if isinstance(key, list) else []
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
    if sub is None:
        return schema.fields
    overrides = dict(sub.fields)
    return tuple((n, overrides.get(n, f)) for n, f in schema.fields)


def fill_defaults(schema: EntitySchema, data: dict, *, now: float,
                  plugins: frozenset[str] = frozenset()) -> tuple[dict, Errors | None]:
    """Expand shorthands, generate auto fields and fill defaults, as Kong does on insert.

    Returns the completed entity, or the shorthand errors (Kong stops there when a
    shorthand value is invalid).
    """
    data = dict(data)
    errors: Errors = {}
    for sh in schema.shorthands:
        if sh.name not in data:
            continue
        value = data.pop(sh.name)
        err = validate_field(sh.field, value, plugins)
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
    return fill_record(effective_fields(schema, sub), data, now), None


# ---------------------------------------------------------------- field validation


def _length(value: Any) -> int:
    return len(value)


def _run_validators(field: Field, value: Any) -> str | None:
    """Kong's validators, in Kong's order; the first failure wins."""
    if field.ne is not MISSING and value == field.ne:
        return M.NE.format(str(value).lower() if isinstance(value, bool) else value)
    if field.not_one_of is not None and value in field.not_one_of:
        return M.NOT_ONE_OF.format(", ".join(map(str, field.not_one_of)))
    if field.one_of is not None and value not in field.one_of:
        return M.ONE_OF.format(", ".join(map(str, field.one_of)))
    if field.timestamp and not value > 0:
        return M.TIMESTAMP
    if field.uuid and not is_uuid(value):
        return M.UUID
    if field.between is not None:
        lo, hi = field.between
        if value < lo or value > hi:
            return M.BETWEEN.format(M.fmt_number(lo), M.fmt_number(hi))
    for attr, msg in (("len_eq", M.LEN_EQ), ("len_min", M.LEN_MIN), ("len_max", M.LEN_MAX)):
        n = getattr(field, attr)
        if attr == "len_min" and n is None and field.type == "string":
            n = 1  # Kong rejects empty strings unless a schema says otherwise
        if n is None:
            continue
        length = _length(value)
        if (attr == "len_eq" and length != n) or (attr == "len_min" and length < n) \
                or (attr == "len_max" and length > n):
            return msg.format(n)
    if field.starts_with is not None and not value.startswith(field.starts_with):
        return M.STARTS_WITH.format(field.starts_with)
    for pattern, msg in field.match_none:
        if _regex(pattern).search(value):
            return msg
    if field.match is not None and not _regex(field.match).search(value):
        return M.MATCH.format(value)
    for pattern, msg in field.match_all:
        if not _regex(pattern).search(value):
            return msg
    if field.match_any is not None:
        patterns, msg = field.match_any
        if not any(_regex(p).search(value) for p in patterns):
            return msg
    if field.contains is not None and field.contains not in value:
        return M.CONTAINS.format(field.contains)
    if field.custom_validator is not None:
        err = field.custom_validator(value)
        if err is not None:
            return err
    if field.mutually_exclusive_subsets is not None:
        member_of: list[list[str]] = []
        for v in value:
            for subset in field.mutually_exclusive_subsets:
                if v in subset and list(subset) not in member_of:
                    member_of.append(list(subset))
        if len(member_of) > 1:
            return M.MUTUALLY_EXCLUSIVE_SETS.format(M.quoted_list(member_of))
    return None


def _validate_elements(field: Field, value: list, plugins: frozenset[str]) -> Errors | None:
    element = field.elements(required=True)
    errs = {}
    for i, v in enumerate(value, start=1):
        err = validate_field(element, v, plugins)
        if err is not None:
            errs[i] = err
    return errs or None


def _type_error(field: Field, value: Any, plugins: frozenset[str]) -> Any:
    """Type check plus the recursive part; returns an error, or None to go on to validators."""
    t = field.type
    if t in ("array", "set"):
        value = _as_sequence(value)
        if not isinstance(value, list):
            return M.ARRAY if t == "array" else M.SET
        return _validate_elements(field, value, plugins)
    if t == "map":
        value = _as_mapping(value)
        if not isinstance(value, dict):
            return M.MAP
        for k, v in value.items():
            err = validate_field(field.keys(required=True), k, plugins)
            if err is None:
                err = validate_field(field.values(required=True), v, plugins)
            if err is not None:
                return err
        return None
    if t == "record":
        value = _as_mapping(value)
        if not isinstance(value, dict):
            return M.RECORD
        if field.fields is None:
            return None
        return validate_record(field.fields, field.entity_checks, value, plugins)
    if t == "foreign":
        if not isinstance(value, dict) or "id" not in value or value["id"] is None:
            return {"id": M.MISSING_PK}
        err = validate_field(Field("string", uuid=True), value["id"], plugins)
        return {"id": err} if err else None
    if t == "integer":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                (isinstance(value, float) and not value.is_integer()):
            return M.INTEGER
    elif t == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return M.NUMBER
    elif t == "string":
        if not isinstance(value, str):
            return M.STRING
    elif t == "boolean":
        if not isinstance(value, bool):
            return M.BOOLEAN
    return None


def validate_field(field: Field, value: Any, plugins: frozenset[str] = frozenset()) -> Any:
    """Kong's `Schema:validate_field`: None when valid, else a message or nested errors."""
    if value is None or value is MISSING:
        if field.ne is None:
            return field.err or M.NE.format("null")
        if field.required:
            return M.REQUIRED
        return None
    if field.eq_null:
        return field.err or M.EQ.format("null")
    err = _type_error(field, value, plugins)
    if err is not None:
        return err
    if field.type in ("record", "foreign"):
        return None
    err = _run_validators(field, value)
    if err is not None:
        return field.err or err
    return None


# ---------------------------------------------------------------- entity checks


def _entity_error(errors: Errors, msg: str) -> None:
    errors.setdefault("@entity", []).append(msg)


def _matches(base: Field, overrides: dict[str, Any], value: Any, plugins: frozenset[str]) -> Any:
    return validate_field(base(**overrides), value, plugins)


def _run_check(check: Any, fields: dict[str, Field], entity: dict, errors: Errors,
               plugins: frozenset[str]) -> None:
    get = entity.get
    if isinstance(check, AtLeastOneOf):
        if not any(is_nonempty(get(n)) for n in check.fields):
            _entity_error(errors, M.AT_LEAST_ONE_OF.format(M.quoted_list(list(check.fields))))
    elif isinstance(check, MutuallyRequired):
        n = sum(is_nonempty(get(f)) for f in check.fields)
        if n not in (0, len(check.fields)):
            _entity_error(errors, M.MUTUALLY_REQUIRED.format(M.quoted_list(list(check.fields))))
    elif isinstance(check, Distinct):
        seen = [get(f) for f in check.fields if is_nonempty(get(f))]
        if len(seen) != len({repr(v) for v in seen}):
            _entity_error(errors, M.DISTINCT.format(M.quoted_list(list(check.fields))))
    elif isinstance(check, Conditional):
        if_value = get(check.if_field)
        if if_value is None or _matches(fields[check.if_field], check.if_match, if_value, plugins):
            return
        then_value = get(check.then_field)
        if check.then_match.get("required") and then_value is None:
            errors[check.then_field] = M.REQUIRED
            _entity_error(errors, M.CONDITIONAL.format(check.if_field))
            return
        err = _matches(fields[check.then_field], check.then_match, then_value, plugins)
        if err is not None:
            errors[check.then_field] = err
            _entity_error(errors, check.then_err or M.CONDITIONAL.format(check.if_field))
    elif isinstance(check, ConditionalAtLeastOneOf):
        if_value = get(check.if_field)
        if if_value is None:
            return
        base = fields[check.if_field]
        if _matches(base, check.if_match, if_value, plugins) is None:
            names, err = check.then_at_least_one_of, check.then_err
        elif check.else_match is not None and _matches(base, check.else_match, if_value, plugins) is None:
            names, err = check.else_then_at_least_one_of, check.else_then_err
        else:
            return
        if not any(is_nonempty(get(n)) for n in names):
            listed = M.quoted_list(list(names))
            _entity_error(errors, err.format(listed) if err else M.AT_LEAST_ONE_OF.format(listed))
    elif isinstance(check, Custom):
        if any(errors.get(f) for f in check.field_sources):
            return
        msg = check.fn({f: get(f) for f in check.field_sources})
        if msg is not None:
            _entity_error(errors, msg)
    else:  # pragma: no cover - a schema definition bug
        raise TypeError(f"unknown entity check {check!r}")


def validate_record(fields: tuple[tuple[str, Field], ...], checks: tuple, data: dict,
                    plugins: frozenset[str], sub_checks: tuple = ()) -> Errors | None:
    fmap = dict(fields)
    errors: Errors = {}
    for k, v in data.items():
        f = fmap.get(k) if isinstance(k, str) else None
        if f is None:
            errors[k] = M.UNKNOWN
            continue
        err = validate_field(f, v, plugins)
        if err is not None:
            errors[k] = err
    for name, f in fields:
        if f.required and data.get(name) is None:
            errors[name] = M.REQUIRED
    for check in (*checks, *sub_checks):
        _run_check(check, fmap, data, errors, plugins)
    return errors or None


def validate(schema: EntitySchema, entity: dict, plugins: frozenset[str] = frozenset()) -> Errors | None:
    """Kong's `Schema:validate` for a complete entity (defaults already filled)."""
    if schema.subschema_key:
        key = entity.get(schema.subschema_key)
        if key is None:
            return {schema.subschema_key: M.REQUIRED}
        sub = get_subschema(schema, entity, plugins)
        if sub is None:
            shown = key if isinstance(key, str) else key[0] if isinstance(key, list) and key else key
            msg = schema.subschema_error or M.SUBSCHEMA_UNKNOWN
            return {schema.subschema_key: msg.format(shown)}
    else:
        sub = None
    return validate_record(effective_fields(schema, sub), schema.entity_checks, entity, plugins,
                           sub.entity_checks if sub else ())
