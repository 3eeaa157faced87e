"""002_credentials: the credential tables of basic-auth, acl, jwt and hmac-auth.

Safe while older nodes use the database: four new tables, their indexes, and the `tags`
view rebuilt to cover them. Constraint names are those `tables.py` derives (`<table>_<field>_key`,
`<table>_consumer_id_fkey`, `<table>_cache_key`), which the error mapping reads back.
"""

from __future__ import annotations

from . import Migration
from .core import _ENTITY_COLUMNS, _ENTITY_TABLES  # the columns and tables of 000_base

TABLES = ("basicauth_credentials", "acls", "jwt_secrets", "hmacauth_credentials")


def _table(name: str, column: str) -> str:
    """A credential table: its own column, then the consumer it belongs to and is deleted with."""
    return f"""
CREATE TABLE IF NOT EXISTS "{name}" ({_ENTITY_COLUMNS},
    {column},
    "consumer_id" UUID CONSTRAINT "{name}_consumer_id_fkey"
        REFERENCES "consumers" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "{name}_consumer_id_idx" ON "{name}" ("consumer_id");
CREATE INDEX IF NOT EXISTS "{name}_tags_idx" ON "{name}" USING GIN ("tags");"""


def _tags_view(tables: tuple[str, ...]) -> str:
    rows = "\nUNION ALL\n".join(
        f"""SELECT '{t}'::text AS "entity_name", "id" AS "entity_id", unnest("tags") AS "tag" FROM "{t}\""""
        for t in tables
    )
    return f'CREATE OR REPLACE VIEW "tags" AS\n{rows};'


CREDENTIALS_002 = Migration(
    "002_credentials",
    up=f"""{_table("basicauth_credentials", '"username" TEXT CONSTRAINT "basicauth_credentials_username_key" UNIQUE')}
{_table("acls", '"group" TEXT NOT NULL')}
-- Kong's cache key of an acl: one group once per consumer
CREATE UNIQUE INDEX IF NOT EXISTS "acls_cache_key" ON "acls" ("consumer_id", "group");
CREATE INDEX IF NOT EXISTS "acls_group_idx" ON "acls" ("group");
{_table("jwt_secrets", '"key" TEXT CONSTRAINT "jwt_secrets_key_key" UNIQUE')}
{_table("hmacauth_credentials", '"username" TEXT CONSTRAINT "hmacauth_credentials_username_key" UNIQUE')}

-- Kong's /tags as a view: one row per (entity, tag), now with the credentials.
{_tags_view((*_ENTITY_TABLES, *TABLES))}
""",
)
