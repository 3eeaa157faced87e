"""A traditional node's configuration source: the database, followed as a control plane
follows it, applied to the node's own LMDB as a data plane applies what a control plane
sends.

The control plane's `ConfigState` keeps the configuration read from PostgreSQL and builds,
from the change log, the delta that brings a given version to the current one; its
`ChangeWatcher` hears every write through any node (LISTEN/NOTIFY) and polls every
`db_update_frequency` seconds in case a notification is lost. The data plane's
`ConfigApplier` validates that delta (or a whole configuration) inside one LMDB write
transaction and tells the workers. Nothing crosses a network between the two: a traditional
node is a control plane whose only data plane is itself.

While the database cannot be read, nothing is applied: the workers keep serving what LMDB
holds, and `problem` says why the database is not followed.
"""

from __future__ import annotations

import asyncio
import logging

from controlplane.cluster.config import ConfigState
from controlplane.cluster.watcher import ChangeWatcher
from controlplane.database import Database, StoreError
from dataplane.cluster.apply import ConfigApplier, Outcome
from dataplane.conf import Conf
from dataplane.declarative import EMPTY_HASH

log = logging.getLogger("gantry.traditional")


class DatabaseFollower:
    def __init__(self, conf: Conf, db: Database, applier: ConfigApplier) -> None:
        self._db = db
        self._applier = applier
        self.state = ConfigState(db.entities, db.changes, db.migrations)
        self.watcher = ChangeWatcher(conf, self.notify, conf.db_update_frequency)
        self._dirty = asyncio.Event()
        self._task: asyncio.Task | None = None
        # Why the database cannot be followed right now (None: it is); starts unknown.
        self.problem: str | None = "the database has not been read yet"
        self._rejected: tuple[int, str] | None = None  # a version refused: not retried until it changes
        # Whether LMDB is known to hold this database's configuration at its version. A cache
        # from before this process (another database's, or a declarative file's) is not: its
        # version numbers mean nothing here, so the first sync writes the whole configuration.
        self._in_step = False

    @property
    def reachable(self) -> bool:
        return self.problem is None and self.watcher.listening.is_set()

    def notify(self) -> None:
        """Something may have changed in the database."""
        self._dirty.set()

    def start(self) -> None:
        self.watcher.start()
        self._task = asyncio.ensure_future(self._follow())

    def cancel(self) -> None:
        """Apply nothing more (a write under way finishes: `ConfigApplier.idle`)."""
        if self._task is not None:
            self._task.cancel()

    async def stop(self) -> None:
        self.cancel()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        await self.watcher.stop()
        await self._applier.idle()

    async def sync(self) -> bool:
        """Read what changed in the database and apply it to LMDB; True when the node's
        configuration is the database's. Raises StoreError when the database cannot be read
        (or needs migrating)."""
        await self.state.refresh()
        snapshot = self.state.loaded
        stored_version, stored_hash = self._applier.current()
        if (stored_version, stored_hash) == (snapshot.version, snapshot.hash):
            self._in_step = True
            return True
        if snapshot.version == 0 and snapshot.size == 0 and stored_hash != EMPTY_HASH:
            # A database never written to (the #12861 trap) must not wipe a working node.
            log.warning(
                "the database has never been written to (configuration version 0) while this node "
                "holds version %d: not replacing it with an empty configuration",
                stored_version,
            )
            return False
        if self._rejected == (snapshot.version, snapshot.hash):
            return False
        # A delta may start from what LMDB holds, unless its hash says it is another
        # database's configuration at that version.
        known = self.state.hash_of(stored_version)
        base = stored_version if self._in_step and stored_version > 0 and known in (None, stored_hash) else None
        outcome = await self._apply(base)
        if not outcome.applied and base is not None:
            outcome = await self._apply(None)  # the delta did not fit: the whole configuration
        if not outcome.applied:
            self._rejected = (snapshot.version, snapshot.hash)
            return False
        self._rejected = None
        self._in_step = True
        return True

    async def _apply(self, base: int | None) -> Outcome:
        message = await self.state.message_for(base)
        if message.WhichOneof("kind") == "delta":
            return await self._applier.delta(message.delta)
        return await self._applier.full(message.full)

    async def _follow(self) -> None:
        """Latest wins: changes heard during a sync mark it dirty; one more sync follows."""
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                await self.sync()
            except StoreError as exc:
                self._report(str(exc))
                continue
            except Exception:  # a bug must not end following for good
                log.exception("applying configuration changes from the database failed")
                continue
            self._report(None)

    def _report(self, problem: str | None) -> None:
        # One line when reading starts failing and one when it recovers, not one per poll.
        if problem and problem != self.problem:
            log.error(
                "unable to read the configuration from the database; still proxying with configuration version %d: %s",
                self._applier.current()[0],
                problem,
            )
        elif problem is None and self.problem is not None:
            log.info("reading the configuration from the database (version %d)", self._applier.current()[0])
        self.problem = problem
