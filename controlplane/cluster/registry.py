"""Data planes connected to this control plane (in memory) and their rows in
`clustering_data_planes`, written in the background, coalesced per data plane, so a slow or
absent database never holds up a config push or a pong."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from controlplane.database import StoreError
from controlplane.database.data_planes import DataPlaneStore

log = logging.getLogger("controlplane.cluster")

PURGE_INTERVAL = 60.0
STOP_FLUSH_TIMEOUT = 5.0


class Member(Protocol):
    node_id: str

    def row(self) -> dict[str, Any]: ...

    def wake(self) -> None: ...


class Registry:
    def __init__(self, store: DataPlaneStore, purge_delay: int) -> None:
        self._store = store
        self._purge_delay = purge_delay
        self._members: dict[str, Member] = {}
        self._dirty: dict[str, Member] = {}
        self._wake = asyncio.Event()
        self._failing = False
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        self._tasks = [asyncio.ensure_future(self._write_loop()), asyncio.ensure_future(self._purge_loop())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # The last word of every data plane, if the database takes it soon.
        try:
            await asyncio.wait_for(self._flush(), STOP_FLUSH_TIMEOUT)
        except TimeoutError:
            log.warning("data plane status not recorded at shutdown: database unavailable")

    def members(self) -> list[Member]:
        return list(self._members.values())

    def add(self, member: Member) -> Member | None:
        """Register `member`; the one it replaces (same node id, reconnected), if any."""
        previous = self._members.get(member.node_id)
        self._members[member.node_id] = member
        self.touch(member)
        return previous

    def remove(self, member: Member) -> None:
        if self._members.get(member.node_id) is member:
            del self._members[member.node_id]

    def touch(self, member: Member) -> None:
        """Persist `member`'s current state soon."""
        self._dirty[member.node_id] = member
        self._wake.set()

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._flush()

    async def _flush(self) -> None:
        while self._dirty:
            batch = self._dirty
            self._dirty = {}  # a touch during the write queues its member again
            try:
                await self._store.upsert_many([member.row() for member in batch.values()], self._purge_delay)
            except asyncio.CancelledError:
                self._requeue(batch)  # stopped mid-write: the final flush in stop() takes them
                raise
            except (StoreError, OSError) as exc:
                self._requeue(batch)
                if not self._failing:
                    log.warning("unable to record data plane status in the database (%s); retrying every second", exc)
                    self._failing = True
                await asyncio.sleep(1.0)
                continue
            if self._failing:
                log.info("recording data plane status in the database again")
                self._failing = False

    def _requeue(self, batch: dict[str, Member]) -> None:
        """Members whose write failed, unless touched again meanwhile (the newer state wins)."""
        for node_id, member in batch.items():
            self._dirty.setdefault(node_id, member)

    async def _purge_loop(self) -> None:
        while True:
            try:
                purged = await self._store.purge()
            except (StoreError, OSError):
                purged = 0  # the write loop reports the database; try again next round
            if purged:
                log.info("purged %d data plane(s) not seen for %d seconds", purged, self._purge_delay)
            await asyncio.sleep(PURGE_INTERVAL)
