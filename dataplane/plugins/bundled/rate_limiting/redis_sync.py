"""The ``redis`` policy with ``sync_rate`` (seconds): counts batched in each worker and added
to Redis at most every ``sync_rate`` seconds, as Kong 3.x does.

Per worker and Redis database, each counter key has what Redis said when first read (the read
is Kong's increment, so it counts that request), the window's end, and the requests this
worker counted since (``delta``, -1 after the read so that the read's own increment is not
counted twice). A request's usage is the first two summed, read from Redis only when this
worker has nothing for the key; a window found over starts at 0 without a read. Each request
let through adds 1 to its keys' deltas and makes sure a sync is due ``sync_rate`` seconds
later (one pending per plugin instance; syncs of one instance never overlap). A sync adds the
deltas to Redis (setting the window's end as the expiry of a key it creates) and forgets what
the worker knew, so the next request reads Redis again: nodes and workers converge on each
other's counts once per ``sync_rate``. Deltas taken for a sync that fails are lost, as in
Kong, and so are those still pending when the worker stops.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass, field
from typing import Any

from redis import RedisError

from . import redis_policy
from .windows import EXPIRATION, Window

log = logging.getLogger("gantry.plugins")

# Kong's sync: add the delta; a key the sync creates expires when its window does
ADD = """
local exists = redis.call("exists", KEYS[1])
redis.call("incrby", KEYS[1], tonumber(ARGV[1]))
if exists == 0 then
  redis.call("expireat", KEYS[1], ARGV[2])
end
"""


@dataclass
class _Batch:
    """One Redis database's counts in this worker since its last sync."""

    usage: dict[str, int] = field(default_factory=dict)
    expire_at: dict[str, int] = field(default_factory=dict)
    delta: dict[str, int] = field(default_factory=dict)


@dataclass
class _Worker:
    batches: dict[tuple[Any, ...], _Batch] = field(default_factory=dict)
    pending: set[Any] = field(default_factory=set)  # plugin instances with a sync due
    locks: dict[Any, asyncio.Lock] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)  # held until done


_workers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Worker] = weakref.WeakKeyDictionary()


def _worker() -> _Worker:
    return _workers.setdefault(asyncio.get_running_loop(), _Worker())


def _database(redis: dict[str, Any]) -> tuple[Any, ...]:
    return (redis.get("host"), redis.get("port"), redis.get("database") or 0)


async def usage(redis: dict[str, Any], windows: list[Window], now: int) -> dict[str, float]:
    """Each period's usage as this worker knows it, Redis read (and incremented) for the keys
    it knows nothing of. Raises redis.RedisError or OSError."""
    batch = _worker().batches.setdefault(_database(redis), _Batch())
    out: dict[str, float] = {}
    unknown = []
    for window in windows:
        key = window.key
        if key not in batch.usage:
            unknown.append(window)
        elif batch.expire_at[key] > now:
            out[window.period] = batch.usage[key] + batch.delta.get(key, 0)
        else:
            batch.usage[key], batch.delta[key] = 0, 0
            batch.expire_at[key] = window.start + EXPIRATION[window.period]
            out[window.period] = 0
    if unknown:
        read = await redis_policy.count(redis, unknown)
        # a sync may have taken the batch meanwhile: what was read goes to the current one
        batch = _worker().batches.setdefault(_database(redis), _Batch())
        for window in unknown:
            key = window.key
            batch.usage[key] = int(read[window.period])
            batch.expire_at[key] = window.start + EXPIRATION[window.period]
            batch.delta[key] = -1  # the read counted this request already
            out[window.period] = read[window.period]
    return out


def increment(redis: dict[str, Any], windows: list[Window], instance: Any, sync_rate: float) -> None:
    """A request let through: counted in this worker, a sync of ``instance`` due."""
    batch = _worker().batches.setdefault(_database(redis), _Batch())
    for window in windows:
        batch.delta[window.key] = batch.delta.get(window.key, 0) + 1
        batch.expire_at.setdefault(window.key, window.start + EXPIRATION[window.period])
    worker = _worker()
    if instance in worker.pending:
        return  # the sync already due takes this count too
    worker.pending.add(instance)
    asyncio.get_running_loop().call_later(sync_rate, _start_sync, worker, redis, instance)


def _start_sync(worker: _Worker, redis: dict[str, Any], instance: Any) -> None:
    task = asyncio.ensure_future(_sync(worker, redis, instance))
    worker.tasks.add(task)
    task.add_done_callback(worker.tasks.discard)


async def _sync(worker: _Worker, redis: dict[str, Any], instance: Any) -> None:
    async with worker.locks.setdefault(instance, asyncio.Lock()):
        worker.pending.discard(instance)
        # taken before the round trip: requests counted meanwhile go to the next sync
        batch = worker.batches.pop(_database(redis), None)
        deltas = {key: delta for key, delta in (batch.delta if batch else {}).items() if delta}
        if batch is None or not deltas:
            return
        try:
            pipe = redis_policy.client(redis).pipeline(transaction=False)
            for key, delta in deltas.items():
                pipe.eval(ADD, 1, key, delta, batch.expire_at[key])
            await pipe.execute()
        except (RedisError, OSError) as err:
            log.error(
                "[rate-limiting] failed to add %d counts to Redis %s:%s, they are lost: %s",
                len(deltas),
                redis.get("host"),
                redis.get("port"),
                err,
            )
