"""003_consumer_groups: consumer groups, their members, and plugins scoped to a group.

Safe while older nodes use the database: two new tables, a nullable column on `plugins`,
the plugins' cache key widened by that column (NULL folded to the nil uuid, so every
existing row keeps its key), and the `tags` view rebuilt to cover the new tables.
"""

from __future__ import annotations

from . import Migration
from .core import _ENTITY_COLUMNS, _ENTITY_TABLES, _NIL  # the columns and tables of 000_base
from .credentials import TABLES as CREDENTIAL_TABLES, _tags_view

# the tables the `tags` view covers after 002_credentials, with the two new ones
_TAGGED = (*_ENTITY_TABLES, *CREDENTIAL_TABLES, "consumer_groups", "consumer_group_consumers")

CONSUMER_GROUPS_003: Migration = Migration(
    "003_consumer_groups",
    up=f"""
CREATE TABLE IF NOT EXISTS "consumer_groups" ({_ENTITY_COLUMNS},
    "name" TEXT CONSTRAINT "consumer_groups_name_key" UNIQUE
);
CREATE INDEX IF NOT EXISTS "consumer_groups_tags_idx" ON "consumer_groups" USING GIN ("tags");

CREATE TABLE IF NOT EXISTS "consumer_group_consumers" ({_ENTITY_COLUMNS},
    "consumer_group_id" UUID CONSTRAINT "consumer_group_consumers_consumer_group_id_fkey"
        REFERENCES "consumer_groups" ("id") ON DELETE CASCADE,
    "consumer_id" UUID CONSTRAINT "consumer_group_consumers_consumer_id_fkey"
        REFERENCES "consumers" ("id") ON DELETE CASCADE
);
CREATE UNIQUE INDEX IF NOT EXISTS "consumer_group_consumers_cache_key"
    ON "consumer_group_consumers" ("consumer_group_id", "consumer_id");
CREATE INDEX IF NOT EXISTS "consumer_group_consumers_consumer_id_idx"
    ON "consumer_group_consumers" ("consumer_id");
CREATE INDEX IF NOT EXISTS "consumer_group_consumers_tags_idx"
    ON "consumer_group_consumers" USING GIN ("tags");

ALTER TABLE "plugins" ADD COLUMN IF NOT EXISTS "consumer_group_id" UUID
    CONSTRAINT "plugins_consumer_group_id_fkey" REFERENCES "consumer_groups" ("id") ON DELETE CASCADE;
CREATE INDEX IF NOT EXISTS "plugins_consumer_group_id_idx" ON "plugins" ("consumer_group_id");
DROP INDEX IF EXISTS "plugins_cache_key";
CREATE UNIQUE INDEX "plugins_cache_key" ON "plugins" (
    "name", COALESCE("route_id", {_NIL}), COALESCE("service_id", {_NIL}),
    COALESCE("consumer_id", {_NIL}), COALESCE("consumer_group_id", {_NIL}));

-- Kong's /tags as a view: one row per (entity, tag), now with the groups and members.
{_tags_view(_TAGGED)}
""",
)
