"""Kong's DAO semantics over the store: find by id or endpoint key, validate with the shared
schemas, merge for PATCH, replace for PUT (kong/db/dao/init.lua, kong/api/endpoints.lua)."""

from __future__ import annotations

import uuid
from typing import Any

from dataplane import schema as S
from dataplane.schema import Field, validators
from dataplane.schema.credentials import MAX_TTL
from dataplane.schema.validator import effective_fields, get_subschema

from . import certificates, errors
from .context import ApiContext
from .resources import Resource

# generated on every write, so a PATCH or PUT drops the stored value
_REFRESHED = ("updated_at",)


NUL_MESSAGE = "must not contain NUL characters"  # PostgreSQL cannot store them


def has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False


TTL_MESSAGE = f"must be an integer between 0 and {MAX_TTL}"


def _check_ttl(res: Resource, data: dict[str, Any]) -> None:
    """Kong's Admin API passes `ttl` to its DAO as an option, checked before the entity
    (kong/db/dao/init.lua validate_options_value): a bad one is an invalid option, code 11."""
    ttl = data.get("ttl")
    if not res.schema.ttl or ttl is None:
        return
    whole = isinstance(ttl, int) or (isinstance(ttl, float) and ttl.is_integer())
    if isinstance(ttl, bool) or not whole or not 0 <= ttl <= MAX_TTL:
        raise errors.invalid_options({"ttl": TTL_MESSAGE})


def validated(
    api: ApiContext,
    res: Resource,
    data: dict[str, Any],
    given: dict[str, Any] | None = None,
    stored: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The complete entity (defaults filled) in stored form (Kong's transformations applied:
    a basic-auth password hashed), or Kong's invalid option or schema violation. `given`: the
    fields a PATCH names (None: every field of `data`, an insert or a PUT); `stored`: the
    entity a PATCH updates."""
    _check_ttl(res, data)
    if res.entity == certificates.ENTITY:
        certificates.check_names(data)
    entity, errs = S.process(res.entity, data, plugins=api.plugins)
    untransformable = S.transformation_errors(res.schema, entity, given, stored)
    if untransformable:
        errs = dict(errs or {})
        errs["@entity"] = [*errs.get("@entity", ()), *untransformable]
    if not errs:
        S.transform(res.schema, entity, given)
        errs = {k: NUL_MESSAGE for k, v in entity.items() if has_nul(v)}
    if errs:
        raise errors.schema_violation(errs)
    return entity


def _valid_primary_key(value: dict[str, Any]) -> bool:
    return S.is_uuid(value.get("id"))


async def resolve_foreign(api: ApiContext, res: Resource, data: dict[str, Any]) -> None:
    """Kong's DAO `resolve_foreign`: a foreign key given without a valid id but with a unique
    field of the entity it references (`service: {name: "s"}`) is that entity's id; one that
    names no entity is Kong's code 13. Fields the referenced schema refuses are left to the
    entity's validation ("missing primary key")."""
    unresolved: dict[str, dict[str, tuple[Any, str]]] = {}
    for fk, parent in res.schema.references:
        value = data.get(fk)
        if not isinstance(value, dict) or _valid_primary_key(value):
            continue
        schema = S.get_schema(parent)
        failed: dict[str, tuple[Any, str]] = {}
        for name, field in schema.fields:
            if not (field.unique or schema.endpoint_key == name) or name == "id":
                continue
            wanted = value.get(name)
            if wanted is None or has_nul(wanted) or S.validate_field(field, wanted, api.plugins) is not None:
                continue
            found = await api.store.get_by_field(parent, name, wanted)
            if found is not None:
                data[fk] = {"id": found["id"]}
                break
            failed[name] = (wanted, parent)
        if failed:
            unresolved[fk] = failed
    if unresolved:
        raise errors.foreign_keys_unresolved(unresolved)


async def checked(
    api: ApiContext,
    res: Resource,
    data: dict[str, Any],
    given: dict[str, Any] | None = None,
    stored: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`validated` after Kong's DAO steps before it: the options (ttl), then foreign keys
    given by a unique field resolved."""
    _check_ttl(res, data)
    await resolve_foreign(api, res, data)
    return validated(api, res, data, given, stored)


TARGET_INVALID = "Invalid target; not a valid hostname or ip address"


def check_new_target(res: Resource, data: dict[str, Any]) -> None:
    """Kong's targets DAO formats a new target before anything else is checked, with a
    message of its own (kong/db/dao/targets.lua insert); an update gets the schema's."""
    value = data.get("target")
    if res.entity == "targets" and isinstance(value, str) and validators.target(value) is not None:
        raise errors.schema_violation({"target": TARGET_INVALID})


def _target_key(key: str) -> str | None:
    """A target as the store keeps it (`host:port`, port 8000 by default), if it parses."""
    entity = {"target": key}
    finalize = S.get_schema("targets").finalize
    assert finalize is not None  # the targets schema normalises `target` on insert
    try:
        finalize(entity)
    except (ValueError, TypeError):
        return None
    return entity["target"]


async def find(api: ApiContext, res: Resource, key: str, *, for_put: bool = False) -> dict[str, Any] | None:
    """GET-style lookup: by id, else by the entity's endpoint key (name, username, ...); a
    certificate by one of its SNI names (`for_put`: see `certificates.by_sni`)."""
    if S.is_uuid(key):
        return await api.store.get(res.entity, key)
    if res.entity == certificates.ENTITY:
        return None if has_nul(key) else await certificates.by_sni(api, key, for_put=for_put)
    if res.schema.endpoint_key is None:
        raise errors.invalid_primary_key(key)
    check_endpoint_key(res, key)
    if has_nul(key):
        return None  # nothing stored can have it
    return await api.store.get_by_key(res.entity, key)


def check_endpoint_key(res: Resource, key: str) -> None:
    """A path naming an entity by its endpoint key names it by a value that field accepts,
    else Kong's code 10 (kong/db/dao/init.lua validate_unique_row_method, run by every
    select_by_, update_by_, upsert_by_ and delete_by_ method)."""
    name = res.schema.endpoint_key
    assert name is not None
    refused = S.validate_field(res.schema.fields_by_name[name], key)
    if refused is not None:
        raise errors.invalid_unique(name, str(refused))


def scoped_key(res: Resource, fk: str) -> str | None:
    """The field the key of a nested path names within its parent, for an entity that no
    endpoint key names alone but whose cache key is (that parent, the field): an acl's group
    under its consumer (kong/plugins/acl/api.lua)."""
    cache_key = res.schema.cache_key
    if res.schema.endpoint_key is None and cache_key is not None and len(cache_key) == 2 and cache_key[0] == fk:
        return cache_key[1]
    return None


async def _search_within(
    api: ApiContext, res: Resource, fk: str, parent: dict[str, Any], field: str, wanted: set[Any]
) -> dict[str, Any] | None:
    offset = None
    while True:
        rows, offset = await api.store.page(res.entity, size=1000, offset=offset, foreign=(fk, parent["id"]))
        for row in rows:
            if row.get(field) in wanted:
                return row
        if offset is None:
            return None


async def find_child(
    api: ApiContext, res: Resource, key: str, fk: str, parent: dict[str, Any]
) -> dict[str, Any] | None:
    """An entity that must belong to `parent` through `fk` (None when it does not).

    A target's endpoint key is only unique within its upstream, and an acl's group within its
    consumer (`scoped_key`), so those are searched there.
    """
    if not S.is_uuid(key):
        if res.entity == "targets":
            return await _search_within(api, res, fk, parent, "target", {key, _target_key(key)})
        field = scoped_key(res, fk)
        if field is not None:
            return await _search_within(api, res, fk, parent, field, {key})
    row = await find(api, res, key)
    if row is None or (row.get(fk) or {}).get("id") != parent["id"]:
        return None
    return row


def _merge(fields: tuple[tuple[str, Field], ...] | None, top: dict, bottom: dict) -> dict:
    """Kong's `merge_values`: the update over the stored entity, records merged field by field."""
    out = {**bottom, **top}
    for name, field in fields or ():
        new, old = top.get(name), bottom.get(name)
        if field.type == "record" and isinstance(new, dict) and isinstance(old, dict):
            out[name] = _merge(field.fields, new, old) if field.fields is not None else {**old, **new}
    return out


def merged(api: ApiContext, res: Resource, changes: dict[str, Any], current: dict[str, Any]) -> dict:
    selector = {**current, **changes}
    sub = get_subschema(res.schema, selector, api.plugins)
    out = _merge(effective_fields(res.schema, sub), changes, current)
    for name in _REFRESHED:
        if name not in changes:
            out.pop(name, None)
    return out


async def update(api: ApiContext, res: Resource, current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """PATCH: merge, validate the whole entity, write."""
    changes = {k: v for k, v in changes.items() if k != "id"}
    entity = await checked(api, res, merged(api, res, changes, current), changes, current)
    return await api.store.update(res.entity, current["id"], entity)


async def upsert(
    api: ApiContext, res: Resource, key: str, data: dict[str, Any], current: dict[str, Any] | None
) -> dict[str, Any]:
    """PUT: the body replaces the entity named by `key` (an id, or its endpoint key, which
    the body cannot contradict), creating it when absent. A certificate keeps its SNIs when
    the body does not mention `snis` (Kong's DAO upsert)."""
    data = dict(data)
    if res.entity == certificates.ENTITY and current is not None and "snis" not in data:
        data["snis"] = current.get("snis")
    if S.is_uuid(key):
        data["id"] = key
    elif res.entity == certificates.ENTITY:
        data["id"] = current["id"] if current else str(uuid.uuid4())
    elif res.schema.endpoint_key is None:
        raise errors.invalid_primary_key(key)
    else:
        data[res.schema.endpoint_key] = key
        data["id"] = current["id"] if current else str(uuid.uuid4())
    if current is not None and "created_at" in current and "created_at" not in data:
        data["created_at"] = current["created_at"]
    row, _created = await api.store.upsert(res.entity, await checked(api, res, data))
    return row


def not_found_key(res: Resource, key: str) -> errors.ApiError:
    """The code 6 error of a PATCH whose entity does not exist."""
    if S.is_uuid(key) or res.schema.endpoint_key is None:
        return errors.not_found_by_key({"id": key})
    return errors.not_found_by_key({res.schema.endpoint_key: key})
