"""Configuration from the control plane -> validated -> one LMDB write transaction.

Nothing is written before the whole config (or the config a delta leads to) has passed the
schemas, the reference checks and the router/balancer compile check: a rejected config leaves
the stored one, which the workers keep serving, and the error goes back to the control plane.
A delta is checked inside its write transaction, by lookups of what it touches in the stored
config it applies to, so its cost does not grow with the size of that config.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import zlib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TypeVar

import orjson

from dataplane import config_source
from dataplane.cluster.protocol import cluster_pb2
from dataplane.declarative import EMPTY_HASH, DeclarativeConfigError, summary, validate_flat
from dataplane.declarative.validate_flat import StoredConfig, validate_delta
from dataplane.lmdb_cache.lmdb_writer import ConfigStore, StaleBaseError, StoreFullError
from dataplane.logs import NOTICE

log = logging.getLogger("gantry.cluster")

ENCODING = "gzip+json"
# An ack carries the reason; a config with thousands of bad entities must not make it huge.
MAX_ERROR_CHARS = 8000

_Message = TypeVar("_Message", cluster_pb2.FullConfig, cluster_pb2.Delta)


class PayloadError(Exception):
    """The payload cannot be decoded into the shape its message promises."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to acknowledge."""

    version: int
    hash: str
    applied: bool
    error: str = ""

    def ack(self) -> cluster_pb2.DataPlaneMessage:
        return cluster_pb2.DataPlaneMessage(
            ack=cluster_pb2.Ack(version=self.version, hash=self.hash, applied=self.applied, error=self.error)
        )


class ConfigApplier:
    """Applies FullConfig and Delta messages one at a time; `on_applied(version, hash)` runs
    on the event loop after each commit (the supervisor notifies its workers there)."""

    def __init__(
        self,
        store: ConfigStore,
        on_applied: Callable[[int, str], None],
        plugins: Collection[str] | None = None,
        source: str = "the control plane",
    ) -> None:
        self.store = store
        self.source = source  # where configurations come from, as the log names it
        self.on_applied = on_applied
        # The plugins this node runs (None: those its process loaded); a config using another
        # is rejected before anything is written, so the previous one keeps serving.
        self.plugins = plugins
        self._busy: asyncio.Future | None = None

    def current(self) -> tuple[int, str]:
        """(version, hash) stored, as the Hello and pings report it: (0, zeros) when none."""
        return self.store.current() or (0, EMPTY_HASH)

    async def full(self, msg: cluster_pb2.FullConfig) -> Outcome:
        if (msg.version, msg.hash) == self.current():
            log.info("configuration version %d (hash %s) from %s is already stored", msg.version, msg.hash, self.source)
            return Outcome(msg.version, msg.hash, True)
        return await self._run(msg.version, msg.hash, self._write_full, msg)

    async def delta(self, msg: cluster_pb2.Delta) -> Outcome:
        stored = self.current()[0]
        if stored != msg.from_version:
            return self._stale(msg, stored)
        return await self._run(msg.to_version, msg.hash, self._write_delta, msg)

    async def idle(self) -> None:
        """Wait for a write in progress: the store must not close under it."""
        if self._busy is not None:
            await asyncio.gather(self._busy, return_exceptions=True)

    async def _run(self, version: int, config_hash: str, write: Callable[[_Message], str], msg: _Message) -> Outcome:
        previous = self.current()[0]
        busy = self._busy = asyncio.get_running_loop().run_in_executor(None, write, msg)
        try:
            # Shielded: a stop while this runs must not abandon a write transaction half way.
            detail = await asyncio.shield(busy)
        except StaleBaseError as err:
            if not isinstance(msg, cluster_pb2.Delta):  # only a delta has a base to miss
                raise
            return self._stale(msg, err.stored or 0)
        except (PayloadError, DeclarativeConfigError, config_source.ConfigRejected, StoreFullError) as err:
            reason = str(err)
            log.error(
                "configuration version %d from %s rejected, still serving version %d: %s",
                version,
                self.source,
                previous,
                reason,
            )
            if len(reason) > MAX_ERROR_CHARS:
                reason = reason[:MAX_ERROR_CHARS] + " [...]"
            return Outcome(version, config_hash, False, reason)
        finally:
            if busy.done():  # else a stop cancelled the wait: idle() still has to see the write end
                self._busy = None
        log.log(
            NOTICE,
            "configuration version %d from %s applied (hash %s; %s)",
            version,
            self.source,
            config_hash,
            detail,
        )
        self.on_applied(version, config_hash)
        return Outcome(version, config_hash, True)

    def _stale(self, msg: cluster_pb2.Delta, stored: int) -> Outcome:
        reason = (
            f"delta {msg.from_version} -> {msg.to_version} does not apply: configuration version "
            f"{stored} is stored; a full configuration is needed"
        )
        log.warning("%s", reason)
        return Outcome(msg.to_version, msg.hash, False, reason)

    # ---- executor side: CPU-bound decoding and validation, then the write ---------------------

    def _write_full(self, msg: cluster_pb2.FullConfig) -> str:
        data = inflate(msg.encoding, msg.payload)
        flat = parse_json(data)
        if not isinstance(flat, dict):
            raise PayloadError("full config payload is not an object of entity lists")
        validate_flat(flat, plugins=self.plugins)
        config_source.check_compiles(flat)
        self.store.apply(flat, msg.hash, dict(msg.hashes), version=msg.version)
        # The sizes an operator compares with a payload ceiling (Kong's cluster_max_payload).
        return f"{summary(flat)}; {len(msg.payload):,} bytes compressed, {len(data):,} bytes of JSON"

    def _write_delta(self, msg: cluster_pb2.Delta) -> str:
        upserts, deletes = _delta_parts(decode(msg.encoding, msg.payload))

        def check(stored: StoredConfig) -> None:
            validate_delta(upserts, deletes, stored, self.plugins)
            config_source.check_delta_compiles(upserts, deletes, stored)

        self.store.apply_delta(
            msg.from_version, msg.to_version, upserts, deletes, msg.hash, dict(msg.hashes), check=check
        )
        return f"{sum(map(len, upserts.values()))} upserted, {sum(map(len, deletes.values()))} deleted"


def decode(encoding: str, payload: bytes) -> object:
    return parse_json(inflate(encoding, payload))


def inflate(encoding: str, payload: bytes) -> bytes:
    if encoding != ENCODING:
        raise PayloadError(f"unsupported payload encoding '{encoding}' (expected '{ENCODING}')")
    try:
        return gzip.decompress(payload)
    except (OSError, EOFError, zlib.error) as err:
        raise PayloadError(f"payload is not valid gzip: {err}") from None


def parse_json(data: bytes) -> object:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as err:
        raise PayloadError(f"payload is not valid JSON: {err}") from None


def _delta_parts(doc: object) -> tuple[dict[str, list[dict]], dict[str, list[str]]]:
    if not isinstance(doc, dict):
        raise PayloadError("delta payload is not an object")
    upserts, deletes = doc.get("upserts") or {}, doc.get("deletes") or {}
    if not isinstance(upserts, dict) or not all(
        isinstance(items, list) and all(isinstance(e, dict) for e in items) for items in upserts.values()
    ):
        raise PayloadError("delta 'upserts' must map entity types to lists of entities")
    if not isinstance(deletes, dict) or not all(
        isinstance(ids, list) and all(isinstance(i, str) for i in ids) for ids in deletes.values()
    ):
        raise PayloadError("delta 'deletes' must map entity types to lists of ids")
    return upserts, deletes
