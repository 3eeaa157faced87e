"""Migrations: bootstrap, up, finish, list and reset, as `kong migrations` does them.

Every run holds a PostgreSQL advisory lock, so two nodes migrating at once take turns; the
second then finds the work done. Each migration step is one transaction (DDL is
transactional in PostgreSQL), recorded in `schema_meta` in that same transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import asyncpg

from .connection import acquire
from .errors import MigrationsPending, NotBootstrapped
from .migrations import CORE, Migration

LOCK_KEY = 0x67616E747279  # "gantry": one advisory lock per database
TIMEOUT = 60.0  # seconds for the lock wait and for each step, as Kong's --db-timeout

_SCHEMA_META = """
CREATE TABLE IF NOT EXISTS "schema_meta" (
    "name"        TEXT PRIMARY KEY,
    "state"       TEXT NOT NULL CHECK ("state" IN ('pending', 'executed')),
    "executed_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()
)"""


@dataclass(frozen=True)
class Status:
    bootstrapped: bool
    executed: list[str]  # done, teardown included
    pending: list[str]  # `up` done, waiting for `finish`
    new: list[str]  # not run at all


class Migrations:
    def __init__(
        self, pool: asyncpg.Pool, server: str, schema: str | None, migrations: Sequence[Migration] = CORE
    ) -> None:
        self._pool = pool
        self._server = server
        self._schema = schema
        self._migrations = tuple(migrations)

    @contextlib.asynccontextmanager
    async def _locked(self) -> AsyncIterator[asyncpg.Connection]:
        async with acquire(self._pool, self._server, TIMEOUT) as connection:
            await connection.execute("SELECT pg_advisory_lock($1)", LOCK_KEY, timeout=TIMEOUT)
            try:
                yield connection
            finally:
                if not connection.is_closed():
                    await connection.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)

    async def status(self) -> Status:
        async with acquire(self._pool, self._server, TIMEOUT) as connection:
            return await self._status(connection)

    async def _status(self, connection: asyncpg.Connection) -> Status:
        if await connection.fetchval("SELECT to_regclass('schema_meta')") is None:
            return Status(False, [], [], [m.name for m in self._migrations])
        states = dict(await connection.fetch('SELECT "name", "state" FROM "schema_meta"'))
        names = [m.name for m in self._migrations]
        return Status(
            True,
            [n for n in names if states.get(n) == "executed"],
            [n for n in names if states.get(n) == "pending"],
            [n for n in names if n not in states],
        )

    async def state(self) -> tuple[bool, list[str], list[str]]:
        """(bootstrapped, executed, pending): pending lists every migration not fully run."""
        status = await self.status()
        pending = set(status.pending) | set(status.new)
        return (status.bootstrapped, status.executed, [m.name for m in self._migrations if m.name in pending])

    async def check(self) -> None:
        """Raise unless the database can serve this version. Migrations waiting for `finish`
        are fine: `up` only ever adds what older nodes can live with (Kong's rule)."""
        status = await self.status()
        if not status.bootstrapped:
            raise NotBootstrapped()
        if status.new:
            raise MigrationsPending(
                f"new migrations available: {', '.join(status.new)}; run 'controlplane migrations up'"
            )

    async def bootstrap(self) -> list[str]:
        """Create the schema and run every migration to completion; [] if already done."""
        async with self._locked() as connection:
            if (await self._status(connection)).bootstrapped:
                return []
            async with connection.transaction():
                if self._schema:
                    await connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{self._schema}"')
                await connection.execute(_SCHEMA_META)
                for migration in self._migrations:
                    await self._run(connection, migration, migration.up, finish=migration.teardown is None)
                    if migration.teardown:
                        await self._run(connection, migration, migration.teardown, finish=True)
        return [m.name for m in self._migrations]

    async def up(self) -> list[str]:
        """Run new migrations (each pending `finish` if it has a teardown); their names."""
        async with self._locked() as connection:
            status = await self._status(connection)
            if not status.bootstrapped:
                raise NotBootstrapped()
            if status.pending:
                raise MigrationsPending(
                    f"database has pending migrations: "
                    f"{', '.join(status.pending)}; "
                    "run 'controlplane migrations finish'"
                )
            for migration in self._migrations:
                if migration.name in status.new:
                    async with connection.transaction():
                        await self._run(connection, migration, migration.up, finish=migration.teardown is None)
        return status.new

    async def finish(self) -> list[str]:
        """Run the teardown of migrations waiting for it; their names."""
        async with self._locked() as connection:
            status = await self._status(connection)
            if not status.bootstrapped:
                raise NotBootstrapped()
            for migration in self._migrations:
                if migration.name in status.pending:
                    async with connection.transaction():
                        await self._run(connection, migration, migration.teardown or "", finish=True)
        return status.pending

    async def reset(self) -> bool:
        """Drop the schema holding Gantry's tables and create it empty (Kong's reset);
        False when the database was not bootstrapped."""
        async with self._locked() as connection:
            if not (await self._status(connection)).bootstrapped:
                return False
            schema = await connection.fetchval("SELECT current_schema()")
            async with connection.transaction():
                await connection.execute(f'DROP SCHEMA "{schema}" CASCADE', timeout=TIMEOUT)
                await connection.execute(f'CREATE SCHEMA "{schema}"')
                if schema == "public":  # what a fresh database grants on it
                    await connection.execute('GRANT USAGE ON SCHEMA "public" TO PUBLIC')
        return True

    @staticmethod
    async def _run(connection: asyncpg.Connection, migration: Migration, sql: str, *, finish: bool) -> None:
        if sql:
            await connection.execute(sql, timeout=TIMEOUT)
        await connection.execute(
            'INSERT INTO "schema_meta" ("name", "state") VALUES ($1, $2) '
            'ON CONFLICT ("name") DO UPDATE SET "state" = EXCLUDED."state", "executed_at" = now()',
            migration.name,
            "executed" if finish else "pending",
        )
