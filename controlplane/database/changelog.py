"""The change log: every committed write gets the next version, one row per entity it touched,
and a NOTIFY on 'gantry_changes' carrying that version (delivered at commit)."""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

CHANNEL = "gantry_changes"

Change = tuple[str, str, str]  # (entity, id, op: insert | update | delete)


async def record(connection: asyncpg.Connection, changes: Iterable[Change]) -> int:
    """Append `changes` under a new version; call last in the write's transaction, because
    the counter's row lock is held until commit and serializes writers from here on."""
    version = await connection.fetchval('UPDATE "change_version" SET "version" = "version" + 1 RETURNING "version"')
    entities, ids, ops = zip(*changes, strict=True)
    await connection.execute(
        'INSERT INTO "change_log" ("version", "entity", "entity_id", "op") '
        "SELECT $1, * FROM unnest($2::text[], $3::uuid[], $4::text[])",
        version,
        entities,
        ids,
        ops,
    )
    await connection.execute("SELECT pg_notify($1, $2)", CHANNEL, str(version))
    return version


async def current(connection: asyncpg.Connection) -> int:
    return await connection.fetchval('SELECT "version" FROM "change_version"')


LoggedChange = tuple[int, str, str, str]  # (version, entity, id, op)


async def changes_since(
    connection: asyncpg.Connection, version: int, latest: int | None = None
) -> list[LoggedChange] | None:
    """Every change after `version` in version order; None when the log cannot tell (the
    version is ahead of the database, or its successors were removed from the log).
    `latest`: the current version, when the caller has read it in the same transaction."""
    if latest is None:
        latest = await current(connection)
    if version < 0 or version > latest:
        return None
    if version == latest:
        return []
    records = await connection.fetch(
        'SELECT "version", "entity", "entity_id", "op" FROM "change_log" '
        'WHERE "version" > $1 ORDER BY "version", "entity", "entity_id"',
        version,
    )
    # Every version has at least one row (writes log what they touch, empty imports take no
    # version), so a log that starts later than version + 1 has lost what came between.
    if not records or records[0][0] != version + 1:
        return None
    return [(r[0], r[1], str(r[2]), r[3]) for r in records]
