"""The `clustering_data_planes` registry: every data plane any control plane sharing this
database has seen, kept `cluster_data_plane_purge_delay` seconds after its last report."""

from __future__ import annotations

import time

import asyncpg

from . import paging
from .connection import acquire

_COLUMNS = (
    "id",
    "hostname",
    "ip",
    "version",
    "sync_status",
    "config_hash",
    "config_version",
    "labels",
    "cert_expiry",
    "last_seen",
)

_WRITTEN = (*_COLUMNS, "updated_at", "expires_at")
_NAMES = ", ".join(f'"{c}"' for c in _WRITTEN)
_VALUES = ", ".join(f"${i}" for i in range(1, len(_WRITTEN) + 1))
_UPDATES = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in _WRITTEN[1:])
_UPSERT = (
    f'INSERT INTO "clustering_data_planes" ({_NAMES}) VALUES ({_VALUES}) ON CONFLICT ("id") DO UPDATE SET {_UPDATES}'
)

_SELECT = 'SELECT * FROM "clustering_data_planes" WHERE "expires_at" > $1'


class DataPlaneStore:
    def __init__(self, pool: asyncpg.Pool, server: str, timeout: float) -> None:
        self._pool = pool
        self._server = server
        self._timeout = timeout

    async def upsert(self, data_plane: dict, ttl: int) -> None:
        """`data_plane` has every column but the timestamps; `ttl` seconds until purged."""
        await self.upsert_many([data_plane], ttl)

    async def upsert_many(self, data_planes: list[dict], ttl: int) -> None:
        """Several rows in one round trip (a change acked by every data plane at once makes one
        write, not one per data plane)."""
        now = int(time.time())
        args = [(*(data_plane[c] for c in _COLUMNS), now, now + ttl) for data_plane in data_planes]
        async with acquire(self._pool, self._server, self._timeout) as connection:
            await connection.executemany(_UPSERT, args)

    async def page(self, *, size: int = 100, offset: str | None = None) -> tuple[list[dict], str | None]:
        """Live rows in id order, with `ttl` (seconds left); the next offset or None."""
        now = int(time.time())
        args: list = [now]
        where = ""
        if offset is not None:
            args.append(paging.decode(offset, 1)[0])
            where = ' AND "id" > $2'
        args.append(size + 1)
        async with acquire(self._pool, self._server, self._timeout) as connection:
            records = await connection.fetch(f'{_SELECT}{where} ORDER BY "id" LIMIT ${len(args)}', *args)
        rows = [_row(r, now) for r in records]
        if len(rows) <= size:
            return rows, None
        rows = rows[:size]
        return rows, paging.encode(rows[-1]["id"])

    async def purge(self) -> int:
        """Delete the rows whose time is up; how many."""
        async with acquire(self._pool, self._server, self._timeout) as connection:
            status = await connection.execute(
                'DELETE FROM "clustering_data_planes" WHERE "expires_at" <= $1', int(time.time())
            )
        return int(status.split()[-1])


def _row(record: asyncpg.Record, now: int) -> dict:
    row = dict(record)
    row["id"] = str(row["id"])
    row["ttl"] = row.pop("expires_at") - now
    return row
