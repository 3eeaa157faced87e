"""Consumer groups: Kong Enterprise's `consumer_groups` and `consumer_group_consumers`
entities (Kong Gateway 3.4+; Kong's open-source tree has neither), as its Admin API reference
and the Kong Ingress Controller's go-kong client show them.

A group is `{id, created_at, updated_at, name, tags}`, named by `name` in paths. A membership
links one consumer to one group; Kong keys it by the pair and shows no id. Gantry's generic
store wants an `id`, so a membership's id is derived from the pair (`membership_id`): the
same pair always has the same id, whether written through the Admin API, a kong.yml or an
import, and the Admin API never shows it. Plugins scoped to a group carry
`plugins.consumer_group` (see `entities.PLUGINS`).
"""

from __future__ import annotations

import uuid
from typing import Any

from . import typedefs as t
from .fields import EntitySchema, Field

GROUPS = "consumer_groups"
MEMBERS = "consumer_group_consumers"

# The namespace Gantry's declarative ids use (dataplane/declarative/ids.py), so a membership
# declared in a kong.yml without an id gets the one the Admin API gives it.
_ENTITIES_NS = uuid.UUID("fd02801f-0957-4a15-a55a-c8d9606f30b5")
_MEMBERS_NS = uuid.uuid5(_ENTITIES_NS, MEMBERS)


def membership_id(group_id: str, consumer_id: str) -> str:
    """The id of the membership of `consumer_id` in `group_id`: uuid5 of the cache key, as
    the declarative loader derives ids from a cache key ("<type>:*:<group>:<consumer>")."""
    return str(uuid.uuid5(_MEMBERS_NS, f"{MEMBERS}:*:{group_id}:{consumer_id}"))


def _ref(value: Any) -> str | None:
    return value.get("id") if isinstance(value, dict) and isinstance(value.get("id"), str) else None


def _derive_id(entity: dict[str, Any]) -> None:
    group, consumer = _ref(entity.get("consumer_group")), _ref(entity.get("consumer"))
    if group is not None and consumer is not None:
        entity["id"] = membership_id(group, consumer)


CONSUMER_GROUPS = EntitySchema(
    GROUPS,
    endpoint_key="name",
    fields=(
        ("id", t.uuid),
        ("created_at", t.auto_timestamp_s),
        ("updated_at", t.auto_timestamp_s),
        ("name", Field("string", required=True, unique=True)),
        ("tags", t.tags),
    ),
)

CONSUMER_GROUP_CONSUMERS = EntitySchema(
    MEMBERS,
    cache_key=("consumer_group", "consumer"),
    fields=(
        ("id", t.uuid),
        ("created_at", t.auto_timestamp_s),
        ("consumer_group", Field("foreign", reference=GROUPS, required=True)),
        ("consumer", Field("foreign", reference="consumers", required=True)),
    ),
    # whatever id was given, the pair decides it: one membership per pair, one id per pair
    finalize=_derive_id,
)
