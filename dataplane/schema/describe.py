"""Schemas as JSON, in the shape of Kong's `GET /schemas/{entity}`."""

from __future__ import annotations

import dataclasses
from typing import Any

from .checks import AtLeastOneOf, Conditional, ConditionalAtLeastOneOf, Custom, Distinct, MutuallyRequired
from .entities import get_schema
from .fields import MISSING, Field

_SKIP = {
    "custom_validator",
    "entity_checks",
    "fields",
    "elements",
    "keys",
    "values",
    "match_none",
    "match_all",
    "match_any",
    "eq_null",
    "ne",
    "transient",
    "description",
    "shorthands",
}


def field_json(f: Field) -> dict[str, Any]:
    """One field as Kong's /schemas endpoints describe it."""
    out: dict[str, Any] = {"type": f.type}
    for spec in dataclasses.fields(Field):
        name = spec.name
        value = getattr(f, name)
        if name == "default":
            # false, 0 and [] are defaults too (decK fills them in before it compares)
            if value is MISSING or value is None:
                continue
        elif name in _SKIP or name == "type" or value in (None, False, (), MISSING):
            continue
        out[name] = list(value) if isinstance(value, tuple) else value
    if f.eq_null:
        out["eq"] = None
    if f.ne is not MISSING:
        out["ne"] = f.ne
    if f.match_none:
        out["match_none"] = [{"pattern": p, "err": e} for p, e in f.match_none]
    if f.match_all:
        out["match_all"] = [{"pattern": p, "err": e} for p, e in f.match_all]
    if f.match_any:
        out["match_any"] = {"patterns": list(f.match_any[0]), "err": f.match_any[1]}
    if f.mutually_exclusive_subsets:
        out["mutually_exclusive_subsets"] = [list(s) for s in f.mutually_exclusive_subsets]
    for sub in ("elements", "keys", "values"):
        if getattr(f, sub) is not None:
            out[sub] = field_json(getattr(f, sub))
    if f.fields is not None:
        out["fields"] = [{n: field_json(sf)} for n, sf in f.fields]
    if f.entity_checks:
        out["entity_checks"] = [_check_json(c) for c in f.entity_checks]
    if f.shorthands:
        out["shorthand_fields"] = [{sh.name: field_json(sh.field)} for sh in f.shorthands]
    if f.type == "foreign" and f.reference:
        out["reference"] = f.reference
    return out


def _match_json(match: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in match.items():
        if v is None or (callable(v) and not isinstance(v, Field)):  # a custom validator: not data
            continue
        if k == "match_any":
            out[k] = {"patterns": list(v[0])}  # the message of a condition is never shown
        else:
            out[k] = field_json(v) if isinstance(v, Field) else list(v) if isinstance(v, tuple) else v
    return out


def _check_json(c: Any) -> dict[str, Any]:
    if isinstance(c, AtLeastOneOf):
        return {"at_least_one_of": list(c.fields)}
    if isinstance(c, MutuallyRequired):
        return {"mutually_required": list(c.fields)}
    if isinstance(c, Distinct):
        return {"distinct": list(c.fields)}
    if isinstance(c, Conditional):
        body = {
            "if_field": c.if_field,
            "if_match": _match_json(c.if_match),
            "then_field": c.then_field,
            "then_match": _match_json(c.then_match),
        }
        if "eq_null" in c.then_match:
            body["then_match"] = {"eq": None}
        if c.then_err:
            body["then_err"] = c.then_err
        return {"conditional": body}
    if isinstance(c, ConditionalAtLeastOneOf):
        body = {
            "if_field": c.if_field,
            "if_match": _match_json(c.if_match),
            "then_at_least_one_of": list(c.then_at_least_one_of),
        }
        if c.then_err:
            body["then_err"] = c.then_err.replace("{}", "%s")
        if c.else_match is not None:
            body["else_match"] = _match_json(c.else_match)
            body["else_then_at_least_one_of"] = list(c.else_then_at_least_one_of)
            body["else_then_err"] = (c.else_then_err or "").replace("{}", "%s")
        return {"conditional_at_least_one_of": body}
    if isinstance(c, Custom):
        return {"custom_entity_check": {"field_sources": list(c.field_sources)}}
    raise TypeError(f"unknown entity check {c!r}")


def schema_json(entity: str) -> dict[str, Any]:
    """The JSON description of entity `entity` (e.g. "services")."""
    s = get_schema(entity)
    out: dict[str, Any] = {"fields": [{n: field_json(f)} for n, f in s.fields]}
    if s.entity_checks:
        out["entity_checks"] = [_check_json(c) for c in s.entity_checks]
    return out
