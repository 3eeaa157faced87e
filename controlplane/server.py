"""`controlplane run`: check the database, then serve the Admin API on `admin_listen` with
uvicorn (h11, uvloop) in this process until SIGTERM or SIGINT; with role =
control_plane, the cluster listener (controlplane.cluster) runs beside it on the same loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import uvicorn

from dataplane import __version__
from dataplane.conf import Conf, Listener
from dataplane.lifecycle import pidfile
from dataplane.listener_tls import report_http2
from dataplane.logs import NOTICE
from dataplane.plugins import Registry
from dataplane.plugins.node import node_registry
from dataplane.sockets import bind

from . import admin_log
from .api import ApiContext, create_app
from .cluster import ClusterServer
from .database import Database, PluginNotEnabled

log = logging.getLogger("controlplane")


def node_id(conf: Conf) -> str:
    """`node_id` from the conf, else the id kept in `<prefix>/node.id` (made on first run)."""
    configured = conf.raw.get("node_id", "")
    if configured:
        return configured
    path = os.path.join(conf.prefix, "node.id")
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except FileNotFoundError:
        pass
    os.makedirs(conf.prefix, exist_ok=True)
    value = str(uuid.uuid4())
    with open(path, "w", encoding="utf-8") as f:
        f.write(value + "\n")
    return value


def plain_listeners(conf: Conf) -> list[Listener]:
    """The `admin_listen` entries served; TLS ones are skipped (logged) until admin TLS lands."""
    chosen = []
    for listener in conf.admin_listen:
        if listener.ssl:
            log.warning("admin_listen %s: ssl listeners are not served yet, skipped", listener.listener)
        else:
            chosen.append(listener)
    report_http2("admin_listen", tuple(chosen))
    return chosen


class _Server(uvicorn.Server):
    """Stops gracefully on SIGTERM, SIGQUIT or SIGINT and returns: uvicorn's own handling re-raises
    the signal afterwards, which would end the process by the signal instead of status 0.
    With `own_signals` False the process's owner (a traditional node's supervisor) keeps
    its handlers and stops it with should_exit."""

    own_signals = True

    def handle_exit(self, sig: int, frame: Any) -> None:
        if not self.should_exit:
            log.log(NOTICE, "signal %d received, stopping the Admin API", sig)
        super().handle_exit(sig, frame)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if not self.own_signals or threading.current_thread() is not threading.main_thread():
            yield  # embedded (tests, a traditional node): the owner stops it with should_exit
            return
        loop = asyncio.get_running_loop()
        stops = (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)  # SIGQUIT: `controlplane quit`
        for sig in stops:
            loop.add_signal_handler(sig, self.handle_exit, sig, None)
        try:
            yield
        finally:
            for sig in stops:
                loop.remove_signal_handler(sig)


def server_for(api: ApiContext, cluster: ClusterServer | None = None, *, own_signals: bool = True) -> uvicorn.Server:
    """The Admin API server; `cluster` answers /clustering/* (a 400 without one);
    `own_signals` False leaves SIGTERM and SIGINT to the caller."""
    app = create_app(api)
    app.state.cluster = cluster
    admin_log.setup_error_log(api.conf)
    # h11, not uvicorn's httptools protocol: that one switches on an httptools leniency flag
    # (lenient_data_after_close), and no leniency is ever turned on in Gantry
    # (tests/controlplane/test_api_client.py checks the running server's protocol).
    config = uvicorn.Config(
        admin_log.wrap(app, api.conf),  # admin_access_log
        http="h11",
        loop="uvloop",
        lifespan="off",
        access_log=False,
        log_config=None,
        server_header=False,
        date_header=True,
    )
    server = _Server(config)
    server.own_signals = own_signals
    connections = _CountedConnections()
    server.server_state.connections = connections
    api.counters.accepted = lambda: connections.accepted
    api.counters.connection_states = lambda: _states(connections)
    return server


class _CountedConnections(set[Any]):
    """uvicorn's set of open connections, counting every connection ever added (nginx's
    `accepted`)."""

    accepted = 0

    def add(self, connection: Any) -> None:
        self.accepted += 1
        super().add(connection)


def _states(connections: set[Any]) -> tuple[int, int, int]:
    """(reading, writing, waiting) of the open connections, as nginx counts them: a request
    whose body is still arriving, a request being answered, an idle keep-alive connection."""
    reading = writing = 0
    for connection in list(connections):
        cycle = getattr(connection, "cycle", None)
        if cycle is None or cycle.response_complete:
            continue
        if cycle.more_body:
            reading += 1
        else:
            writing += 1
    return reading, writing, len(connections) - reading - writing


async def check_plugins_in_use(db: Database, plugins: Registry) -> None:
    """Raise PluginNotEnabled for the first plugin name stored that this node does not run
    (rows written under another `plugins` setting): serving them would push data planes a
    config they refuse, or one whose routes run unprotected."""
    offset = None
    while True:
        rows, offset = await db.entities.page("plugins", size=1000, offset=offset)
        for row in rows:
            if row["name"] not in plugins:
                raise PluginNotEnabled(row["name"])
        if offset is None:
            return


async def serve(conf: Conf, plugins: Registry | None = None) -> None:
    """Run until a stop signal, with the plugins of `plugins` (default: the conf's). Raises
    the store's NotBootstrapped, MigrationsPending, DatabaseUnavailable or PluginNotEnabled
    before listening when the database cannot serve."""
    plugins = plugins if plugins is not None else node_registry(conf)
    db = await Database.connect(conf)
    cluster: ClusterServer | None = None
    try:
        await db.migrations.check()
        await check_plugins_in_use(db, plugins)
        listeners = plain_listeners(conf)
        if not listeners:
            log.warning("admin_listen is off: no Admin API")
            return
        sockets = [bind(listener, listener.reuseport) for listener in listeners]
        if conf.role == "control_plane":
            cluster = ClusterServer(conf, db, plugins=plugins)
            await cluster.start()
        server = server_for(ApiContext(conf, db, node_id(conf), registry=plugins), cluster)
        for listener in listeners:
            log.log(NOTICE, "Admin API listening on %s", listener.listener)
        log.log(
            NOTICE,
            "gantry %s started: role %s, database %s at %s:%d",
            __version__,
            conf.role,
            conf.pg_database,
            conf.pg_host,
            conf.pg_port,
        )
        announce = asyncio.ensure_future(pidfile.publish_when(lambda: server.started))  # `start` waits for it
        try:
            await server.serve(sockets=sockets)
        finally:
            announce.cancel()
    finally:
        if cluster is not None:
            await cluster.stop()
        await db.close()
        log.log(NOTICE, "gantry stopped")
