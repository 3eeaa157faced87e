"""`dataplane run` of a DB-less node with the Admin API: the data plane's supervisor with, on
its event loop, the control plane's Admin API (controlplane.server.server_for) over an
`OfflineDatabase` reading the node's LMDB cache, and `POST /config` applying a configuration
as a SIGHUP reload applies the declarative file: one LMDB write transaction, then the workers
told. Posted configurations and reloads never overlap (one lock); the answer to a POST is
sent once every listening worker serves the new version, so the proxy routes by it at once.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import uvicorn

from controlplane.api import ApiContext
from controlplane.api.config import NodeExiting
from controlplane.api.offline_store import OfflineDatabase
from controlplane.server import node_id, plain_listeners, server_for
from dataplane import config_source
from dataplane.conf import Conf
from dataplane.config_source import LoadedConfig
from dataplane.declarative import EMPTY_HASH
from dataplane.forced_health import NodeHealth
from dataplane.logs import NOTICE
from dataplane.plugins import Registry
from dataplane.sockets import bind
from dataplane.supervisor import Supervisor
from dataplane.workerstate import CONFIG_VERSION, PID

log = logging.getLogger("gantry.admin")

# How long a POST /config waits for the workers to serve what it applied before answering
# anyway (a worker that is slow to rebuild serves it soon after; one restarting reads it first).
WORKERS_TIMEOUT = 10.0


class DblessNode(Supervisor):
    def __init__(self, conf: Conf, conf_path: str | None, registry: Registry) -> None:
        super().__init__(conf, conf_path, registry)
        self.admin_sockets: list[socket.socket] = []
        self.admin: uvicorn.Server | None = None
        self.admin_task: asyncio.Task | None = None
        self.config_lock = asyncio.Lock()  # a posted config or a reload, one at a time
        self.writing: asyncio.Future | None = None  # a posted config's LMDB write under way
        self.last_posted: tuple[str, str] | None = None  # (MD5 of a posted text, its config's hash)

    # ---- the Admin API -------------------------------------------------------------------

    def bind_listeners(self) -> None:
        super().bind_listeners()
        listeners = plain_listeners(self.conf)
        self.admin_sockets = [bind(listener, listener.reuseport) for listener in listeners]
        for listener in listeners:
            log.log(NOTICE, "Admin API (DB-less, read-only but for POST /config) listening on %s", listener.listener)

    async def start_status(self) -> None:
        await super().start_status()
        if self.admin_sockets:
            api = ApiContext(
                self.conf,
                OfflineDatabase(self.store),
                node_id(self.conf),
                registry=self.registry,
                declarative=self,
                worker_pids=self.worker_pids,
                target_health=NodeHealth(lambda: self.store.entities("upstreams")),  # PUT .../healthy|unhealthy
            )
            self.admin = server_for(api, own_signals=False)
            self.admin_task = asyncio.ensure_future(self.admin.serve(sockets=self.admin_sockets))

    def request_stop(self, sig: int) -> None:
        if self.admin is not None:
            self.admin.should_exit = True
        super().request_stop(sig)

    async def before_close(self) -> None:
        await super().before_close()
        if self.admin_task is not None:  # its reads end before the store closes
            await asyncio.gather(self.admin_task, return_exceptions=True)
        if self.writing is not None:
            await asyncio.gather(self.writing, return_exceptions=True)

    # ---- what /config reads and replaces (controlplane.api.config.DeclarativeNode) -------

    def current_hash(self) -> str:
        return self.hash or EMPTY_HASH

    def current_config(self) -> dict[str, list[dict]]:
        stored = self.store.load()
        return stored[2] if stored is not None else {}

    async def apply(self, loaded: LoadedConfig) -> None:
        """Store a posted configuration (checked already) and have the workers serve it;
        NodeExiting when the node is stopping, StoreFullError when it does not fit (the
        previous one still served)."""
        async with self.config_lock:
            if self.stopping:
                raise NodeExiting()
            loop = asyncio.get_running_loop()
            writing = self.writing = loop.run_in_executor(None, config_source.apply, self.store, loaded)
            try:
                # Shielded: a stop meanwhile must not abandon a write transaction half way.
                version = await asyncio.shield(writing)
            finally:
                if writing.done():
                    self.writing = None
            if version == self.version:
                log.log(NOTICE, "POST /config: configuration unchanged (hash %s)", loaded.hash)
                return
            self.version, self.hash = version, loaded.hash
            self.notify_all()
            log.log(
                NOTICE,
                "configuration version %d from POST /config applied (hash %s; %s)",
                version,
                loaded.hash,
                loaded.summary,
            )
        await self._served(version)

    async def _served(self, version: int) -> None:
        """Until every listening worker serves `version` (or a newer one), within WORKERS_TIMEOUT."""
        deadline = time.monotonic() + WORKERS_TIMEOUT
        while not self.stopping and time.monotonic() < deadline:
            live = [w for w in self.workers if w.proc is not None and w.pidfd >= 0]
            if all(self._caught_up(w.slot, w.proc.pid, version) for w in live if w.proc is not None):
                return
            await asyncio.sleep(0.002)
        if not self.stopping:
            log.warning(
                "POST /config: workers not yet serving configuration version %d after %.0f s", version, WORKERS_TIMEOUT
            )

    def _caught_up(self, slot: int, pid: int, version: int) -> bool:
        """The worker serves `version` or newer, or is still starting (it loads the latest
        configuration before it publishes its pid and listens)."""
        assert self.state is not None
        fields = self.state.slot(slot)
        return fields[PID] != pid or fields[CONFIG_VERSION] >= version

    async def reload(self) -> None:
        async with self.config_lock:
            await super().reload()
