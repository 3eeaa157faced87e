"""The change log: every committed write gets the next version, one row per entity it touched,
and a NOTIFY on 'gantry_changes' carrying that version (delivered at commit)."""
from __future__ import annotations

from typing import Iterable

import asyncpg

CHANNEL = "gantry_changes"

Change = tuple[str, str, str]  # (entity, id, op: insert | update | delete)


async def record(connection: asyncpg.Connection, changes: Iterable[Change]) -> int:
    """Append `changes` under a new version; call last in the write's transaction, because
    the counter's row lock is held until commit and serializes writers from here on."""
    version = await connection.fetchval(
        'UPDATE "change_version" SET "version" = "version" + 1 RETURNING "version"')
    entities, ids, ops = zip(*changes)
    await connection.execute(
        'INSERT INTO "change_log" ("version", "entity", "entity_id", "op") '
        "SELECT $1, * FROM unnest($2::text[], $3::uuid[], $4::text[])",
        version, entities, ids, ops)
    await connection.execute("SELECT pg_notify($1, $2)", CHANNEL, str(version))
    return version


async def current(connection: asyncpg.Connection) -> int:
    return await connection.fetchval('SELECT "version" FROM "change_version"')
