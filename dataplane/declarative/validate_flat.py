"""Validation of a flat config that arrives already flattened (from a control plane).

A control plane sends entities complete, with ids and foreign keys as `{"id": ...}`: there is
no nesting to resolve and no defaults to fill. What still has to hold before it is stored:
each entity passes its schema, ids and unique fields do not repeat, and every reference
points at an entity of the config. Errors use the same Kong-shaped table as a kong.yml
(`{type: {position: errors}}`), so one DeclarativeConfigError reports every problem.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from dataplane.schema import BUNDLED_PLUGINS, ENTITIES, is_uuid, validate
from dataplane.schema import messages as M

from .errors import DeclarativeConfigError
from .gcpause import gc_paused


def validate_flat(flat: Mapping[str, Any], *, changed: Mapping[str, Collection[str]] | None = None,
                  extra_plugins: frozenset[str] = frozenset()) -> None:
    """Raise DeclarativeConfigError unless `flat` is a valid flat config.

    `changed` ({type: ids}) limits the schema checks to those entities, for a delta applied to
    a config validated before; ids, uniqueness and references are always checked over the
    whole config, since a change can break them anywhere.
    """
    with gc_paused():
        _validate_flat(flat, changed, extra_plugins)


def _validate_flat(flat: Mapping[str, Any], changed: Mapping[str, Collection[str]] | None,
                   extra_plugins: frozenset[str]) -> None:
    errors: dict = {}
    if not isinstance(flat, Mapping):
        raise DeclarativeConfigError({"error": "expected an object of entity lists"})
    plugins = BUNDLED_PLUGINS | extra_plugins
    ids: dict[str, set[str]] = {}
    for entity_type, items in flat.items():
        if entity_type not in ENTITIES:
            errors[entity_type] = M.UNKNOWN
        elif not isinstance(items, list):
            errors[entity_type] = M.ARRAY
        else:
            ids[entity_type] = _check_ids(entity_type, items, errors)
    for entity_type in ids:
        items = flat[entity_type]
        only = None if changed is None else set(changed.get(entity_type, ()))
        for position, entity in enumerate(items, start=1):
            if not isinstance(entity, dict):
                continue
            if only is None or entity.get("id") in only:
                errs = validate(ENTITIES[entity_type], entity, plugins)
                if errs:
                    _merge(errors, entity_type, position, errs)
            _check_references(entity_type, position, entity, ids, errors)
        _check_unique_fields(entity_type, items, errors)
    if errors:
        raise DeclarativeConfigError(errors, dict(flat))


def _check_ids(entity_type: str, items: list, errors: dict) -> set[str]:
    seen: set[str] = set()
    for position, entity in enumerate(items, start=1):
        if not isinstance(entity, dict):
            _merge(errors, entity_type, position, M.RECORD)
            continue
        entity_id = entity.get("id")
        if not is_uuid(entity_id):
            _merge(errors, entity_type, position, {"id": M.UUID if entity_id is not None else M.REQUIRED})
        elif entity_id in seen:
            _merge(errors, entity_type, position, {"@entity": [_uniqueness(entity_type, "primary key", entity_id)]})
        else:
            seen.add(entity_id)
    return seen


def _check_references(entity_type: str, position: int, entity: dict, ids: Mapping[str, set[str]],
                      errors: dict) -> None:
    for name, field in ENTITIES[entity_type].foreign:
        value = entity.get(name)
        if value is None:
            continue
        ref = value.get("id") if isinstance(value, dict) else None
        if not isinstance(ref, str):
            _merge(errors, entity_type, position, {name: "expected a foreign key of the form {\"id\": \"<uuid>\"}"})
        elif ref not in ids.get(field.reference, ()):
            _merge(errors, entity_type, position, {"@entity": [
                f"invalid reference '{name}: {ref}' (no such entry in '{field.reference}')"]})


def _check_unique_fields(entity_type: str, items: list, errors: dict) -> None:
    for name, field in ENTITIES[entity_type].fields:
        if not field.unique:
            continue
        seen: set = set()
        for position, entity in enumerate(items, start=1):
            value = entity.get(name) if isinstance(entity, dict) else None
            if value is None or not isinstance(value, (str, int, float)):
                continue
            if value in seen:
                _merge(errors, entity_type, position, {"@entity": [_uniqueness(entity_type, name, value)]})
            seen.add(value)


def _merge(errors: dict, entity_type: str, position: int, errs: Any) -> None:
    """Add errors for one entity; several checks may report on the same one."""
    section = errors.setdefault(entity_type, {})
    if not isinstance(section, dict):
        return
    current = section.get(position)
    if current is None or not isinstance(errs, dict) or not isinstance(current, dict):
        section[position] = errs if current is None else current
        return
    for key, value in errs.items():
        if key == "@entity":
            current.setdefault("@entity", []).extend(value)
        else:
            current.setdefault(key, value)


def _uniqueness(entity_type: str, key: str, value: Any) -> str:
    return f"uniqueness violation: '{entity_type}' entity with {key} set to '{value}' already declared"
