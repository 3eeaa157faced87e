"""Consistent reads for incremental sync: the changes after a version and the current rows
of the entities they touched, from one snapshot of the database."""

from __future__ import annotations

from collections import defaultdict

import asyncpg

from . import changelog
from .changelog import LoggedChange
from .statements import statements
from .tables import TABLES

Rows = dict[str, dict[str, dict]]  # entity -> id -> row


async def read_changed(connection: asyncpg.Connection, since: int) -> tuple[int, list[LoggedChange] | None, Rows]:
    """(current version, changes after `since` or None, rows that still exist among the
    changed ids). Rows are empty when the changes are None."""
    async with connection.transaction(isolation="repeatable_read", readonly=True):
        version = await changelog.current(connection)
        changes = await changelog.changes_since(connection, since, version)
        rows: Rows = {}
        if not changes:
            return version, changes, rows
        ids: dict[str, set[str]] = defaultdict(set)
        for _, entity, id, _ in changes:
            if entity in TABLES:
                ids[entity].add(id)
        for entity, wanted in ids.items():
            records = await connection.fetch(f'{statements(entity).select} WHERE "id" = ANY($1::uuid[])', list(wanted))
            rows[entity] = {r["row"]["id"]: r["row"] for r in records}
    return version, changes, rows
