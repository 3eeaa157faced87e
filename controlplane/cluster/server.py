"""The control plane's cluster side: the TLS listener on `cluster_listen`, the gRPC service
behind it, the configuration state kept current from the database, and the fan-out of each
new version to every connected data plane.

    cluster = ClusterServer(conf, db)
    await cluster.start()         # binds cluster_listen
    ...
    await cluster.stop()
"""

from __future__ import annotations

import asyncio
import logging
import socket

import grpc

from controlplane.database import Database, StoreError
from dataplane import __version__
from dataplane.cluster.protocol import cluster_pb2_grpc as pb_grpc
from dataplane.conf import Conf
from dataplane.logs import NOTICE
from dataplane.plugins import Registry as PluginRegistry
from dataplane.plugins.node import node_registry
from dataplane.sockets import bind

from . import certs
from .config import ConfigState, Snapshot
from .front import TlsFront
from .registry import Registry
from .service import ClusterService
from .watcher import ChangeWatcher

log = logging.getLogger("controlplane.cluster")

# gRPC's 4 MiB default would cap the configuration size; the stream carries any size.
_GRPC_OPTIONS = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]


class ClusterServer:
    def __init__(
        self, conf: Conf, db: Database, *, poll_interval: float = 1.0, plugins: PluginRegistry | None = None
    ) -> None:
        self._conf = conf
        self._tls = certs.load(conf)  # CertificateError before anything starts
        # The plugins this control plane runs, at their versions: what a data plane's hello is
        # compared with (default: the conf's `plugins`, loaded as a data plane loads them).
        self._plugins = plugins if plugins is not None else node_registry(conf)
        self.state = ConfigState(db.entities, db.changes, db.migrations)
        self.registry = Registry(db.data_planes, conf.cluster_data_plane_purge_delay)
        self.watcher = ChangeWatcher(conf, self.notify, poll_interval)
        self._dirty = asyncio.Event()
        self._failing: str | None = None
        self._grpc: grpc.aio.Server | None = None
        self._front: TlsFront | None = None
        self._refresher: asyncio.Task | None = None
        self.ports: list[int] = []

    @property
    def expected(self) -> Snapshot | None:
        return self.state.current

    def notify(self) -> None:
        """Something may have changed in the database."""
        self._dirty.set()

    async def start(self, sockets: list[socket.socket] | None = None) -> None:
        """Load the configuration, then listen on `sockets` (default: cluster_listen).
        Raises StoreError when the configuration cannot be read."""
        await self.state.refresh()
        cp_plugins = {spec.name: spec.version for spec in self._plugins.specs.values()}
        self._grpc = grpc.aio.server(options=_GRPC_OPTIONS)
        backend_port = self._grpc.add_insecure_port("127.0.0.1:0")
        self._front = TlsFront(self._tls, backend_port)
        pb_grpc.add_ClusterServicer_to_server(
            ClusterService(self.state, self.registry, self._front.peer_for, __version__, cp_plugins), self._grpc
        )
        await self._grpc.start()
        if sockets is None:
            sockets = [bind(listener, listener.reuseport) for listener in self._conf.cluster_listen]
            for listener in self._conf.cluster_listen:
                log.log(NOTICE, "cluster listener on %s", listener.listener)
        await self._front.start(sockets)
        self.ports = [s.getsockname()[1] for s in sockets]
        self.registry.start()
        self.watcher.start()
        self._refresher = asyncio.ensure_future(self._refresh_loop())
        log.log(
            NOTICE,
            "serving configuration version %d (hash %s) to data planes (cluster_mtls = %s)",
            self.state.loaded.version,
            self.state.loaded.hash,
            self._conf.cluster_mtls,
        )

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
        await self.watcher.stop()
        if self._front is not None:
            await self._front.close()
        if self._grpc is not None:
            await self._grpc.stop(grace=1.0)
        await self.registry.stop()

    async def _refresh_loop(self) -> None:
        """Latest wins: changes arriving during a read mark it dirty; one more read follows."""
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                changed = await self.state.refresh()
            except StoreError as exc:
                self._report(str(exc))
                continue
            except Exception:  # a bug must not end pushes for good
                log.exception("reading configuration changes failed")
                continue
            self._report(None)
            if changed:
                snapshot = self.state.loaded
                members = self.registry.members()
                log.log(NOTICE, "configuration version %d: pushing to %d data plane(s)", snapshot.version, len(members))
                for member in members:
                    member.wake()

    def _report(self, problem: str | None) -> None:
        # One line when reading starts failing and one when it recovers, not one a second.
        if problem and not self._failing:
            log.error(
                "unable to read the configuration from the database, not pushing to data "
                "planes (they keep serving their current configuration): %s",
                problem,
            )
        elif problem is None and self._failing:
            log.info("configuration readable again (version %d); pushes resume", self.state.loaded.version)
        self._failing = problem
