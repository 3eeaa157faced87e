"""Database: the control plane's handle on PostgreSQL (entities and migrations)."""

from __future__ import annotations

import asyncpg

from dataplane.conf import Conf

from .changes import ChangeLogReader
from .connection import acquire, create_pool, server_name, unavailable_as_error
from .data_planes import DataPlaneStore
from .entities import EntityStore
from .errors import DatabaseUnavailable
from .migrator import Migrations


class Database:
    def __init__(self, pool: asyncpg.Pool, conf: Conf) -> None:
        self._pool = pool
        self._server = server_name(conf)
        self._timeout = conf.pg_timeout / 1000
        self.entities = EntityStore(pool, self._server, self._timeout)
        self.migrations = Migrations(pool, self._server, conf.pg_schema)
        self.data_planes = DataPlaneStore(pool, self._server, self._timeout)
        self.changes = ChangeLogReader(pool, self._server, self._timeout)

    @classmethod
    async def connect(cls, conf: Conf) -> Database:
        """Never fails for an absent server: connections open on demand, and each operation
        raises DatabaseUnavailable until the server is back."""
        with unavailable_as_error(server_name(conf)):
            pool = await create_pool(conf)
        return cls(pool, conf)

    async def close(self) -> None:
        await self._pool.close()

    async def reachable(self) -> bool:
        try:
            async with acquire(self._pool, self._server, self._timeout) as connection:
                with unavailable_as_error(self._server):
                    await connection.fetchval("SELECT 1")
        except DatabaseUnavailable:
            return False
        return True
