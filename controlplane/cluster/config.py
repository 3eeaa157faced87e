"""The configuration the control plane serves: held in memory at the store's latest version,
advanced by reading only what the change log says changed, and encoded into FullConfig and
Delta messages once per version (per version pair for deltas), whatever the number of data
planes. Reads that fail raise and change nothing: data planes keep what they have."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from controlplane.database import EntityStore, Migrations
from controlplane.database.changes import ChangeLogReader
from controlplane.database.tables import ORDER
from dataplane.cluster.protocol import cluster_pb2 as pb

from . import compat, encoding
from .hashing import IncrementalHasher

log = logging.getLogger("controlplane.cluster")

# Change-log entries kept in memory to build deltas without a database read; older
# versions are asked of the database.
HISTORY_LIMIT = 200_000
# Versions whose hash is remembered, to tell a data plane holding another database's config.
HASHES_KEPT = 10_000


class _Stale(Exception):
    """The configuration moved on between choosing a message and building it."""


@dataclass(frozen=True)
class Snapshot:
    version: int
    hash: str
    hashes: dict[str, str]
    plugins: frozenset[str]  # names of the enabled plugins configured
    size: int  # entities


class ConfigState:
    def __init__(self, entities: EntityStore, changes: ChangeLogReader, migrations: Migrations) -> None:
        self._entities = entities
        self._changes = changes
        self._migrations = migrations
        self._config: dict[str, dict[str, dict]] = {name: {} for name in ORDER}
        self._hasher = IncrementalHasher()
        self.current: Snapshot | None = None
        self._history: OrderedDict[int, list[tuple[str, str]]] = OrderedDict()
        self._history_floor = 0  # deltas from this version on need no database read
        self._history_size = 0
        self._hashes: OrderedDict[int, str] = OrderedDict()
        self._messages: dict[tuple, asyncio.Task] = {}
        self._lock = asyncio.Lock()

    @property
    def loaded(self) -> Snapshot:
        """`current`, which is set from the first successful `refresh` on."""
        if self.current is None:
            raise RuntimeError("the configuration has not been read yet")
        return self.current

    # ------------------------------------------------------------------ reading

    async def refresh(self) -> bool:
        """Catch up with the database; True when the version changed. Raises StoreError
        (DatabaseUnavailable, NotBootstrapped, MigrationsPending) when it cannot be read."""
        async with self._lock:
            if self.current is None:
                await self._load_whole()
                return True
            # One snapshot read: the version, what changed since ours, and those rows.
            version, changes, rows = await self._changes.changed_rows(self.current.version)
            if version == self.current.version:
                return False
            if version < self.current.version:
                log.warning(
                    "the database's configuration version went back from %d to %d "
                    "(database restored or replaced?): reading it whole",
                    self.current.version,
                    version,
                )
            if changes is None:
                await self._load_whole()
            else:
                self._apply(version, changes, rows)
            return True

    async def _load_whole(self) -> None:
        # Only a whole read can meet a schema this code does not know (a database replaced
        # or reset); pending migrations refuse it, so nothing half-read is ever pushed.
        await self._migrations.check()
        version, flat = await self._entities.snapshot()
        self._config = {
            name: {row["id"]: compat.sent_form(name, row) for row in flat.get(name) or []} for name in ORDER
        }
        self._history.clear()
        self._history_size = 0
        self._history_floor = version
        self._publish(version, None)

    def _apply(self, version: int, changes: list, rows: dict[str, dict[str, dict]]) -> None:
        touched: list[tuple[str, str]] = []
        for logged_version, entity, id, _ in changes:
            section = self._config.get(entity)
            if section is None:
                continue
            row = rows.get(entity, {}).get(id)
            if row is None:
                section.pop(id, None)
            else:
                section[id] = compat.sent_form(entity, row)
            touched.append((entity, id))
            self._history.setdefault(logged_version, []).append((entity, id))
            self._history_size += 1
        while self._history_size > HISTORY_LIMIT and self._history:
            dropped, entries = self._history.popitem(last=False)
            self._history_size -= len(entries)
            self._history_floor = dropped
        self._publish(version, touched)

    def _publish(self, version: int, touched: list[tuple[str, str]] | None) -> None:
        digest, hashes = self._hasher.update(self._config, touched)
        plugins = frozenset(p["name"] for p in self._config["plugins"].values() if p.get("enabled", True))
        self.current = Snapshot(version, digest, hashes, plugins, sum(len(s) for s in self._config.values()))
        self._hashes[version] = digest
        while len(self._hashes) > HASHES_KEPT:
            self._hashes.popitem(last=False)
        # Messages to older versions are never sent again.
        for key in [k for k in self._messages if k[-1] != version]:
            del self._messages[key]

    def hash_of(self, version: int) -> str | None:
        """The config hash this control plane saw at `version`, if remembered."""
        return self._hashes.get(version)

    # ------------------------------------------------------------------ messages

    async def message_for(self, base: int | None) -> pb.ControlPlaneMessage:
        """What brings a data plane holding `base` (None: unknown) to the current version: a
        delta when the change log covers it and it is smaller than the config, else the
        whole config. Built once per (base, current version), shared by data planes."""
        while True:
            try:
                return await self._message_for(base)
            except _Stale:
                continue

    async def _message_for(self, base: int | None) -> pb.ControlPlaneMessage:
        snapshot = self.current
        assert snapshot is not None, "refresh() first"
        if base is not None and 0 <= base < snapshot.version:
            changed = await self._changed_since(base, snapshot.version)
            # A delta carrying more than half the config is no cheaper than the config.
            if changed is not None and len(changed) <= max(100, snapshot.size // 2):
                return await self._once(("delta", base, snapshot.version), lambda: self._delta(snapshot, base, changed))
        return await self._once(("full", snapshot.version), lambda: self._full(snapshot))

    async def _once(self, key: tuple, build: Callable[[], Awaitable[pb.ControlPlaneMessage]]) -> pb.ControlPlaneMessage:
        task = self._messages.get(key)
        if task is None or (task.done() and task.exception() is not None):
            task = self._messages[key] = asyncio.ensure_future(build())
        return await asyncio.shield(task)

    async def _changed_since(self, base: int, to: int) -> set[tuple[str, str]] | None:
        if base >= self._history_floor:
            return {entry for v, entries in self._history.items() if base < v <= to for entry in entries}
        try:
            changes = await self._changes.changes_since(base)
        except Exception as exc:  # the database is needed only here: fall back to a full config
            log.warning(
                "cannot read the change log since version %d (%s): sending the whole configuration instead of a delta",
                base,
                exc,
            )
            return None
        if changes is None:
            return None
        return {(entity, id) for v, entity, id, _ in changes if v <= to}

    async def _full(self, snapshot: Snapshot) -> pb.ControlPlaneMessage:
        # Serialised synchronously so the rows are those of `snapshot`; compressed off-loop.
        if self.current is not snapshot:
            raise _Stale()
        flat = {
            name: [self._config[name][id] for id in sorted(self._config[name])]
            for name in compat.sent_sections(self._config)
        }
        payload = await asyncio.to_thread(encoding.compress, encoding.to_json(flat))
        return pb.ControlPlaneMessage(
            full=pb.FullConfig(
                version=snapshot.version,
                hash=snapshot.hash,
                hashes=snapshot.hashes,
                encoding=encoding.ENCODING,
                payload=payload,
            )
        )

    async def _delta(self, snapshot: Snapshot, base: int, changed: set[tuple[str, str]]) -> pb.ControlPlaneMessage:
        if self.current is not snapshot:
            raise _Stale()
        upserts: dict[str, list[dict]] = {}
        deletes: dict[str, list[str]] = {}
        for entity, id in sorted(changed):
            row = self._config.get(entity, {}).get(id)
            if row is None:
                deletes.setdefault(entity, []).append(id)
            else:
                upserts.setdefault(entity, []).append(row)
        data = encoding.to_json({"upserts": upserts, "deletes": deletes})
        payload = encoding.compress(data) if len(data) < 65536 else await asyncio.to_thread(encoding.compress, data)
        return pb.ControlPlaneMessage(
            delta=pb.Delta(
                from_version=base,
                to_version=snapshot.version,
                hash=snapshot.hash,
                hashes=snapshot.hashes,
                encoding=encoding.ENCODING,
                payload=payload,
            )
        )
