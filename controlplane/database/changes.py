"""Reads of the change log for incremental sync (the control plane's cluster side).

version = await db.changes.current_version()
changes = await db.changes.changes_since(41)     # [(version, entity, id, op)] or None
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

from . import changelog, deltas
from .changelog import LoggedChange
from .connection import acquire
from .errors import DatabaseUnavailable, NotBootstrapped

T = TypeVar("T")


class ChangeLogReader:
    def __init__(self, pool: asyncpg.Pool, server: str, timeout: float) -> None:
        self._pool = pool
        self._server = server
        self._timeout = timeout

    async def _read(self, query: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        # Once more on a fresh connection if a pooled one died with a server restart.
        for attempt in (1, 2):
            try:
                async with acquire(self._pool, self._server, self._timeout) as connection:
                    return await query(connection)
            except asyncpg.UndefinedTableError:
                raise NotBootstrapped() from None
            except DatabaseUnavailable:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def current_version(self) -> int:
        return await self._read(changelog.current)

    async def changes_since(self, version: int) -> list[LoggedChange] | None:
        """[(version, entity, id, op)] after `version`, in order; None when the log no longer
        covers it (or `version` is ahead of the database)."""
        return await self._read(lambda c: changelog.changes_since(c, version))

    async def changed_rows(self, since: int) -> tuple[int, list[LoggedChange] | None, deltas.Rows]:
        """(current version, changes after `since` or None, current rows of the changed ids),
        from one consistent snapshot."""
        return await self._read(lambda c: deltas.read_changed(c, since))
