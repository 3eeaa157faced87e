"""Deterministic entity ids.

Kong (kong/db/schema/others/declarative_config.lua) derives a uuid5 from a per-entity-type
namespace and the entity's cache key (targets, plugins) or unique endpoint key (a service's
name, a consumer's username, ...), so those ids match Kong's. Where Kong falls back to a random
uuid (no name, certificates, credentials), Gantry derives one from the entity's position under
its parent instead, so that re-loading the same file yields the same ids.
"""

from __future__ import annotations

import uuid
from functools import cache
from typing import Any

from dataplane.schema import EntitySchema, get_schema

_ENTITIES_NS = uuid.UUID("fd02801f-0957-4a15-a55a-c8d9606f30b5")


@cache
def _namespace(entity_type: str) -> uuid.UUID:
    return uuid.uuid5(_ENTITIES_NS, entity_type)


def entity_uuid(entity_type: str, key: str) -> str:
    return str(uuid.uuid5(_namespace(entity_type), key))


def _ref_text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        ref = value.get("id")
        if isinstance(ref, str):
            return ref
    return None


def kong_key(schema: EntitySchema, raw: dict[str, Any], parent_id: str | None, parent_fk: str | None) -> str | None:
    """The key Kong feeds to uuid5, or None where Kong would use a random uuid."""
    fields = schema.fields_by_name
    if schema.cache_key:
        parts = [schema.name, "*"]  # "*": the workspace placeholder Kong uses
        for k in schema.cache_key:
            value = raw.get(k)
            if fields[k].auto:
                return None
            text = _ref_text(value)
            if text is not None:
                parts.append(text)
            elif k not in raw:
                if k == parent_fk and parent_id is not None:
                    parts.append(parent_id)
                elif fields[k].required:
                    return None
                else:
                    parts.append("")
            # an explicit null adds nothing, as in Kong
        # A plugin scoped to a consumer group (beyond Kong's open-source cache key) adds the
        # group, so the ids of plugins without one stay Kong's.
        group = parent_id if parent_fk == "consumer_group" else _ref_text(raw.get("consumer_group"))
        if schema.name == "plugins" and group is not None:
            parts.append(group)
        return ":".join(parts)
    key = schema.endpoint_key
    if key and fields[key].unique:
        value = raw.get(key)
        if isinstance(value, str):
            return value
    return None


def position_key(parent_type: str | None, parent_id: str | None, index: int) -> str:
    if parent_type is None:
        return f"#{index}"
    return f"{parent_type}:{parent_id}#{index}"


def derived_value(entity_type: str, field: str, entity_id: str) -> str:
    """The value of an `auto` string field (a key-auth or jwt key, a jwt or hmac-auth secret)
    declared without one: 32 hex digits like Kong's random values, but stable across reloads.

    Derived from public inputs (the type, the field, the entity's id), so anyone who knows
    the id can compute it: declare real secrets in the file."""
    return uuid.uuid5(_namespace(entity_type), f"{field}:{entity_id}").hex


@cache
def auto_fields(entity_type: str) -> tuple[str, ...]:
    """The fields `derived_value` fills: `auto` strings that are neither ids nor timestamps."""
    fields = get_schema(entity_type).fields
    return tuple(n for n, f in fields if f.auto and f.type == "string" and not f.uuid and not f.timestamp)
