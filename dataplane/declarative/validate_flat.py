"""Validation of a flat config that arrives already flattened (from a control plane).

A control plane sends entities complete, with ids and foreign keys as `{"id": ...}`: there is
no nesting to resolve and no defaults to fill. What still has to hold before it is stored:
each entity passes its schema, ids and unique fields do not repeat, and every reference
points at an entity of the config. Errors use the same Kong-shaped table as a kong.yml
(`{type: {position: errors}}`), so one DeclarativeConfigError reports every problem.

A delta is checked against the stored config it applies to (`validate_delta`) by looking up
only what it touches, so its cost does not grow with the stored config.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, Protocol

from dataplane.schema import ENTITIES, is_uuid, loaded_plugins, messages as M, validate

from .errors import DeclarativeConfigError, ErrorTree
from .gcpause import gc_paused


def validate_flat(
    flat: Mapping[str, Any],
    *,
    changed: Mapping[str, Collection[str]] | None = None,
    plugins: Collection[str] | None = None,
) -> None:
    """Raise DeclarativeConfigError unless `flat` is a valid flat config.

    `changed` ({type: ids}) limits the schema checks to those entities, for a delta applied to
    a config validated before; ids, uniqueness and references are always checked over the
    whole config, since a change can break them anywhere. `plugins`: the names the node runs
    (default: those this process loaded); a plugin entity of another is refused.
    """
    with gc_paused():
        _validate_flat(flat, changed, _runnable(plugins))


class StoredConfig(Protocol):
    """Key lookups into the stored config a delta applies to (dataplane.lmdb_cache.index)."""

    def has(self, entity_type: str, entity_id: str) -> bool: ...
    def get(self, entity_type: str, entity_id: str) -> dict[str, Any] | None: ...
    def referrers(self, entity_type: str, entity_id: str) -> list[tuple[str, str]]: ...
    def unique_owner(self, entity_type: str, field: str, value: Any) -> str | None: ...


def validate_delta(
    upserts: Mapping[str, list[Any]],
    deletes: Mapping[str, list[str]],
    stored: StoredConfig,
    plugins: Collection[str] | None = None,
) -> None:
    """Raise DeclarativeConfigError unless the config that `stored` becomes with the delta
    applied (deletes, then upserts) is valid, given that `stored` was.

    Upserts get their schema, id and unique-field checks and their references resolved;
    stored entities that point at a deleted one and are neither deleted nor replaced by the
    delta are dangling references. Positions index the upserts of a type; referrers outside
    the delta are reported after them."""
    errors: ErrorTree = {}
    runnable = _runnable(plugins)
    for entity_type in {*upserts, *deletes} - ENTITIES.keys():
        errors[entity_type] = M.UNKNOWN
    upserted = {t: _check_ids(t, items, errors) for t, items in upserts.items() if t in ENTITIES}
    deleted = {t: set(ids) - upserted.get(t, set()) for t, ids in deletes.items()}

    def exists(entity_type: str, entity_id: str) -> bool:
        return entity_id in upserted.get(entity_type, ()) or (
            entity_id not in deleted.get(entity_type, ()) and stored.has(entity_type, entity_id)
        )

    report = {t: list(items) for t, items in upserts.items()}
    for entity_type in upserted:
        for position, entity in enumerate(upserts[entity_type], start=1):
            if not isinstance(entity, dict):
                continue
            errs = validate(ENTITIES[entity_type], entity, runnable)
            if errs:
                _merge(errors, entity_type, position, errs)
            _check_references(entity_type, position, entity, exists, errors)
        _check_unique_fields(entity_type, upserts[entity_type], errors)
        _check_stored_unique(entity_type, upserts[entity_type], upserted, deleted, stored, errors)
    for entity_type, ids in deleted.items():
        for entity_id in ids if entity_type in ENTITIES else ():
            for referrer_type, referrer_id in stored.referrers(entity_type, entity_id):
                if referrer_id in upserted.get(referrer_type, ()) or referrer_id in deleted.get(referrer_type, ()):
                    continue  # replaced upserts had their references checked above
                referrer = stored.get(referrer_type, referrer_id)
                if referrer is not None:
                    section = report.setdefault(referrer_type, [])
                    section.append(referrer)
                    _check_references(referrer_type, len(section), referrer, exists, errors)
    if errors:
        raise DeclarativeConfigError(errors, report)


def _check_stored_unique(
    entity_type: str,
    items: list[Any],
    upserted: Mapping[str, set[str]],
    deleted: Mapping[str, set[str]],
    stored: StoredConfig,
    errors: ErrorTree,
) -> None:
    """Unique values of upserts against the stored entities the delta keeps as they are."""
    for name, field in ENTITIES[entity_type].fields:
        if not field.unique:
            continue
        for position, entity in enumerate(items, start=1):
            value = entity.get(name) if isinstance(entity, dict) else None
            if value is None or not isinstance(value, (str, int, float)):
                continue
            owner = stored.unique_owner(entity_type, name, value)
            if (
                owner is not None
                and owner != entity.get("id")
                and owner not in upserted.get(entity_type, ())
                and owner not in deleted.get(entity_type, ())
            ):
                _merge(errors, entity_type, position, {"@entity": [_uniqueness(entity_type, name, value)]})


def _runnable(plugins: Collection[str] | None) -> frozenset[str]:
    return frozenset(loaded_plugins() if plugins is None else plugins)


def _validate_flat(
    flat: Mapping[str, Any], changed: Mapping[str, Collection[str]] | None, plugins: frozenset[str]
) -> None:
    errors: ErrorTree = {}
    if not isinstance(flat, Mapping):
        raise DeclarativeConfigError({"error": "expected an object of entity lists"})
    ids: dict[str, set[str]] = {}

    def exists(entity_type: str, entity_id: str) -> bool:
        return entity_id in ids.get(entity_type, ())

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
            _check_references(entity_type, position, entity, exists, errors)
        _check_unique_fields(entity_type, items, errors)
    if errors:
        raise DeclarativeConfigError(errors, dict(flat))


def _check_ids(entity_type: str, items: list[Any], errors: ErrorTree) -> set[str]:
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


def _check_references(
    entity_type: str, position: int, entity: dict[str, Any], exists: Callable[[str, str], bool], errors: ErrorTree
) -> None:
    for name, reference in ENTITIES[entity_type].references:
        value = entity.get(name)
        if value is None:
            continue
        ref = value.get("id") if isinstance(value, dict) else None
        if not isinstance(ref, str):
            _merge(errors, entity_type, position, {name: 'expected a foreign key of the form {"id": "<uuid>"}'})
        elif not exists(reference, ref):
            _merge(
                errors,
                entity_type,
                position,
                {"@entity": [f"invalid reference '{name}: {ref}' (no such entry in '{reference}')"]},
            )


def _check_unique_fields(entity_type: str, items: list[Any], errors: ErrorTree) -> None:
    for name, field in ENTITIES[entity_type].fields:
        if not field.unique:
            continue
        seen: set[Any] = set()
        for position, entity in enumerate(items, start=1):
            value = entity.get(name) if isinstance(entity, dict) else None
            if value is None or not isinstance(value, (str, int, float)):
                continue
            if value in seen:
                _merge(errors, entity_type, position, {"@entity": [_uniqueness(entity_type, name, value)]})
            seen.add(value)


def _merge(errors: ErrorTree, entity_type: str, position: int, errs: Any) -> None:
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
