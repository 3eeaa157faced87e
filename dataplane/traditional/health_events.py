"""Kong's `balancer:post_health` cluster event among the traditional nodes of one database
(kong/db/dao/targets.lua broadcasts it after `PUT .../healthy|unhealthy`; every other node
applies it to its own balancer, kong/runloop/events.lua): a health set through one node's
Admin API is set on every node's health table.

The event goes as a NOTIFY on a channel of its own over a connection that LISTENs on it, so
each node hears what the others set at once; a node not listening at the time (the database
down, the node starting) does not hear it, and a broadcast that cannot be sent is logged and
dropped, as Kong ignores a failed broadcast: the node that answered has set its own table.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg
import orjson

from controlplane.database import StoreError
from controlplane.database.notifications import listen
from dataplane.conf import Conf
from dataplane.forced_health import NodeHealth

log = logging.getLogger("gantry.healthchecks")

CHANNEL = "gantry_target_health"
RECONNECT_DELAY = 1.0


class HealthEvents:
    def __init__(self, conf: Conf, node: str, health: NodeHealth) -> None:
        self.conf = conf
        self.node = node
        self.health = health
        self.connection: asyncpg.Connection | None = None
        self.lock = asyncio.Lock()  # one statement at a time on the connection
        self.task: asyncio.Task | None = None
        self.listening = asyncio.Event()

    def start(self) -> None:
        self.task = asyncio.ensure_future(self._listen())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    async def broadcast(
        self, upstream: dict[str, Any], target: dict[str, Any], address: str | None, healthy: bool
    ) -> None:
        event = {
            "node": self.node,
            "upstream": {"id": upstream["id"], "name": upstream.get("name")},
            "target": target["target"],
            "address": address,
            "healthy": healthy,
        }
        connection, name = self.connection, upstream.get("name")
        if connection is None:
            log.warning(
                "upstream %s: the health set is not told to the other nodes: not connected", upstream.get("name")
            )
            return
        try:
            async with self.lock:
                await connection.execute("SELECT pg_notify($1, $2)", CHANNEL, orjson.dumps(event).decode())
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as err:
            log.warning("upstream %s: the health set is not told to the other nodes: %s", name, err)

    def _heard(self, payload: str) -> None:
        try:
            event = orjson.loads(payload)
            if event["node"] == self.node:
                return
            err = self.health.set(event["upstream"], {"target": event["target"]}, event["address"], event["healthy"])
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            log.warning("a target health event that cannot be read: %s", exc)
            return
        if err is not None:
            log.warning("a target health event from node %s not applied: %s", event["node"], err)

    async def _listen(self) -> None:
        lost = asyncio.Event()
        while True:
            lost.clear()
            try:
                connection = await listen(self.conf, CHANNEL, self._heard, lost.set)
            except (StoreError, OSError):
                await asyncio.sleep(RECONNECT_DELAY)
                continue
            self.connection = connection
            self.listening.set()
            try:
                await lost.wait()
            finally:
                self.listening.clear()
                self.connection = None
                connection.terminate()
