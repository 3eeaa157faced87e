"""Whole-configuration reads and writes: the consistent export and the replacing import."""
from __future__ import annotations

import asyncpg

from . import changelog
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


async def replace_all(connection: asyncpg.Connection, flat: dict[str, list[dict]]) -> list[Change]:
    """Replace every entity with `flat` (inside the caller's transaction); the changes made."""
    unknown = sorted(set(flat) - set(TABLES))
    if unknown:
        raise StoreError(f"unknown entity types in the configuration: {', '.join(unknown)}")
    # Taken before anything else, like any writer's row locks, so the change-log counter
    # (locked last by everyone) cannot deadlock with this.
    await connection.execute(f"LOCK TABLE {_ALL} IN ACCESS EXCLUSIVE MODE")
    old = {name: {str(r[0]) for r in await connection.fetch(f'SELECT "id" FROM "{name}"')}
           for name in ORDER}
    await connection.execute(f"TRUNCATE {_ALL}")
    changes: list[Change] = []
    for name in ORDER:  # parents first, so foreign keys hold row by row
        rows = flat.get(name) or []
        st = statements(name)
        try:
            await connection.copy_records_to_table(
                name, records=[st.params(row) for row in rows], columns=list(st.columns))
        except asyncpg.UniqueViolationError as exc:
            raise unique_violation(exc, name, {}) from None
        except asyncpg.ForeignKeyViolationError as exc:
            raise foreign_key_on_write(exc, {}) from None
        new = {row["id"] for row in rows}
        changes += [(name, row["id"], "update" if row["id"] in old[name] else "insert")
                    for row in rows]
        changes += [(name, gone, "delete") for gone in sorted(old[name] - new)]
    return changes
