"""`dataplane run` with role = traditional and database = postgres: a whole node in one
supervisor. The data plane's supervisor (workers, LMDB, status API, signals) with, on its
event loop, the control plane's Admin API on `admin_listen` and a `DatabaseFollower` as its
configuration source instead of a declarative file or a control-plane link.

Start: the database is checked as `controlplane run` checks it (bootstrapped, no new
migrations, no plugin in use that this node does not run: each refuses the start) and read
into LMDB before any worker starts. When it cannot be reached, the node starts on what its
LMDB cache holds (Kong cannot start a traditional node without its database) and follows
the database once it answers.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import uvicorn

from controlplane.api import ApiContext
from controlplane.database import Database, DatabaseUnavailable
from controlplane.server import check_plugins_in_use, node_id, plain_listeners, server_for
from dataplane import config_source
from dataplane.cluster import ConfigApplier
from dataplane.conf import Conf
from dataplane.forced_health import NodeHealth
from dataplane.lifecycle import reconf
from dataplane.logs import NOTICE
from dataplane.plugins import Registry
from dataplane.sockets import bind
from dataplane.supervisor import Supervisor

from .follower import DatabaseFollower
from .health_events import HealthEvents

log = logging.getLogger("gantry.traditional")


class TraditionalNode(Supervisor):
    def __init__(self, conf: Conf, conf_path: str | None, registry: Registry) -> None:
        super().__init__(conf, conf_path, registry)
        self.applier = ConfigApplier(self.store, self.on_cluster_config, self.plugins, source="the database")
        self.db: Database | None = None
        self.follower: DatabaseFollower | None = None
        self.admin_sockets: list[socket.socket] = []
        self.admin: uvicorn.Server | None = None
        self.admin_task: asyncio.Task | None = None
        self.health_events: HealthEvents | None = None

    # ---- start -----------------------------------------------------------------------------

    async def prepare(self) -> None:
        """Open the database and bring LMDB up to it. Raises the store's NotBootstrapped,
        MigrationsPending or PluginNotEnabled: this node does not start on such a database."""
        self.db = db = await Database.connect(self.conf)
        self.follower = DatabaseFollower(self.conf, db, self.applier)
        try:
            await db.migrations.check()
            await check_plugins_in_use(db, self.registry)
            await self.follower.sync()
        except DatabaseUnavailable as exc:
            self.follower.problem = str(exc)
            cached = self.store.current()
            log.error(
                "cannot read the configuration from the database (%s); %s",
                exc,
                f"serving the configuration cached in LMDB (version {cached[0]}) until it answers"
                if cached
                else "nothing cached in LMDB: not ready until the database answers",
            )
        else:
            self.follower.problem = None

    def load_initial(self) -> None:
        """What LMDB holds: the database's configuration just read, or the cache kept from
        the last time the database was read."""
        cached = self.store.current()
        if cached is None:
            return
        not_run = config_source.plugins_not_run(self.store, self.plugins)
        if not_run:
            raise config_source.ConfigRejected(
                f"the configuration cached in LMDB (version {cached[0]}) has plugins this node does "
                f"not run: {', '.join(not_run)}; add them to the 'plugins' configuration property"
            )
        self.version, self.hash = cached
        log.log(NOTICE, "serving configuration version %d (hash %s) from LMDB", self.version, self.hash)

    def bind_listeners(self) -> None:
        super().bind_listeners()
        listeners = plain_listeners(self.conf)
        if not listeners:
            log.warning("admin_listen is off: no Admin API on this node")
        self.admin_sockets = [bind(listener, listener.reuseport) for listener in listeners]
        for listener in listeners:
            log.log(NOTICE, "Admin API listening on %s", listener.listener)

    async def start_status(self) -> None:
        await super().start_status()
        assert self.db is not None and self.follower is not None
        self.follower.start()
        if self.admin_sockets:
            health = NodeHealth(lambda: self.store.entities("upstreams"))  # PUT .../healthy|unhealthy
            self.health_events = HealthEvents(self.conf, node_id(self.conf), health)  # told to the other nodes
            health.share = self.health_events.broadcast
            self.health_events.start()
            api = ApiContext(
                self.conf,
                self.db,
                node_id(self.conf),
                registry=self.registry,
                target_health=health,
                worker_pids=self.worker_pids,
            )
            self.admin = server_for(api, own_signals=False)
            self.admin_task = asyncio.ensure_future(self.admin.serve(sockets=self.admin_sockets))

    # ---- run and stop ----------------------------------------------------------------------

    async def run(self) -> int:
        await self.prepare()
        try:
            return await super().run()
        finally:
            await self.shutdown()

    def request_stop(self, sig: int) -> None:
        if self.follower is not None:
            # At once: a sync cancelled now never starts a write after the store closes (a
            # write already started is awaited by the supervisor before it closes the store).
            self.follower.cancel()
        if self.admin is not None:
            self.admin.should_exit = True
        super().request_stop(sig)

    async def shutdown(self) -> None:
        if self.admin_task is not None:
            await asyncio.gather(self.admin_task, return_exceptions=True)
        if self.follower is not None:
            await self.follower.stop()
        if self.health_events is not None:
            await self.health_events.stop()
        if self.db is not None:
            await self.db.close()

    def request_reload(self) -> None:
        """SIGHUP: the database is the configuration; read it now rather than at the next poll
        (kong.conf is re-read for log_level; other keys changed wait for a restart)."""
        self.conf = reconf.reread(self.conf, self.conf_path)
        log.log(NOTICE, "reload requested: reading the configuration from the database")
        if self.follower is not None:
            self.follower.notify()

    # ---- status ----------------------------------------------------------------------------

    def status_handler(self, path: str, *args: Any, **kwargs: Any) -> Any:
        answer = super().status_handler(path, *args, **kwargs)
        if path == "/status" and isinstance(answer, tuple) and self.follower is not None:
            follower = self.follower
            database: dict[str, object] = {"reachable": follower.reachable}
            if not follower.reachable:
                database["error"] = follower.problem or "not listening for configuration changes"
            answer[1]["database"] = database
        return answer
