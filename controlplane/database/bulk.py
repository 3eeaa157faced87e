"""Whole-configuration reads and writes: the consistent export and the upserting import."""

from __future__ import annotations

import asyncpg

from . import changelog, snis
from .changelog import Change
from .errors import StoreError
from .statements import statements
from .tables import ORDER, TABLES
from .violations import foreign_key_on_write, unique_violation

_ALL = ", ".join(f'"{name}"' for name in ORDER)


async def read_all(connection: asyncpg.Connection) -> tuple[int, dict[str, list[dict]]]:
    """(version, flat config) from one REPEATABLE READ READ ONLY transaction, as Kong's export."""
    async with connection.transaction(isolation="repeatable_read", readonly=True):
        version = await changelog.current(connection)
        flat = {}
        for name in ORDER:
            records = await connection.fetch(f'{statements(name).select} ORDER BY "id"')
            flat[name] = [r["row"] for r in records]
    return version, flat


async def upsert_all(connection: asyncpg.Connection, flat: dict[str, list[dict]]) -> list[Change]:
    """Insert or replace, by id, every entity of `flat` (inside the caller's transaction), as
    Kong's db_import upserts each one; rows it does not name stay. The changes made."""
    unknown = sorted(set(flat) - set(TABLES))
    if unknown:
        raise StoreError(f"unknown entity types in the configuration: {', '.join(unknown)}")
    # One import at a time, and Admin API writes wait for it (reads do not): this mode
    # conflicts with itself and with row writers. Taken first, before any row lock, so it
    # cannot deadlock with a writer, which locks the change-log counter last.
    await connection.execute(f"LOCK TABLE {_ALL} IN SHARE ROW EXCLUSIVE MODE")
    changes: list[Change] = []
    for name in ORDER:  # parents first, so foreign keys hold row by row
        rows = [snis.split(name, row)[0] for row in flat.get(name) or ()]
        if not rows:
            continue
        st = statements(name)
        staging = f"import_{name}"
        await connection.execute(f'CREATE TEMPORARY TABLE "{staging}" (LIKE "{name}") ON COMMIT DROP')
        await connection.copy_records_to_table(
            staging, records=[st.params(row) for row in rows], columns=list(st.columns)
        )
        try:
            done = await connection.fetch(st.upsert_from(staging))
        except asyncpg.UniqueViolationError as exc:
            raise unique_violation(exc, name, {}) from None
        except asyncpg.ForeignKeyViolationError as exc:
            raise foreign_key_on_write(exc, {}) from None
        changes += [(name, r["id"], "insert" if r["created"] else "update") for r in done]
    return changes
