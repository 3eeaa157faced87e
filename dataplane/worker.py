"""A worker process: one uvloop event loop serving the proxy listeners it inherited.

The supervisor starts it with the descriptors of its listening sockets, of the shared worker
state and of a pipe on which it announces new config versions. For each new version the worker
reads one LMDB snapshot through the Rust reader (off the event loop thread), compiles what the
request path needs, and swaps it in with one assignment: requests in flight finish on the
version they started with.

SIGTERM, SIGQUIT or SIGINT, or the supervisor going away (the pipe closes): stop accepting,
finish in-flight requests, exit.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import signal
import socket

import orjson
import uvloop

from dataplane import _core, logs, shared_memory
from dataplane.cluster.node_id import load_or_create as load_or_create_node_id
from dataplane.conf import Conf, load_conf
from dataplane.listener_tls import ServerTLS, SniCertificates, TlsPolicy, ensure_default_certificate
from dataplane.plugins import configuration
from dataplane.plugins.node import node_registry
from dataplane.plugins.spec import PluginError
from dataplane.proxy import ProxySettings, ProxyState, Runtime, make_protocol_factory
from dataplane.workerstate import CONFIG_VERSION, PID, WorkerState

log = logging.getLogger("gantry.worker")

DRAIN_TIMEOUT = 10.0


class Worker:
    __slots__ = (
        "conf",
        "registry",
        "slot",
        "counters",
        "store",
        "snapshot",
        "proxy",
        "notify_fd",
        "listen_fds",
        "servers",
        "stop",
        "loading",
        "pending",
        "loads",
        "tls",
        "sni",
        "sni_hash",
    )

    def __init__(
        self, conf: Conf, slot: int, counters: memoryview, notify_fd: int, listen_fds: list[tuple[int, int, bool]]
    ) -> None:
        self.conf = conf
        self.slot = slot
        self.counters = counters
        self.notify_fd = notify_fd
        self.listen_fds = listen_fds
        self.store = _core.Store(conf.lmdb_environment_path)
        self.snapshot: _core.Snapshot | None = None  # the one `proxy.runtime` was compiled from
        settings = dataclasses.replace(ProxySettings.from_conf(conf), node_id=load_or_create_node_id(conf.prefix))
        self.proxy = ProxyState(settings, counters=counters)
        # checked by the supervisor before any worker starts
        self.registry = node_registry(conf)
        # what the plugins use of the node: its shared counters, its TLS trust
        shared_memory.attach(conf.prefix, slot)
        configuration.configure(conf)
        self.servers: list[asyncio.AbstractServer] = []
        self.stop = asyncio.Event()
        self.loading = False
        self.pending = False
        self.loads: set[asyncio.Task[None]] = set()  # held so a running load is not collected
        self.sni: SniCertificates | None = None
        self.sni_hash: str | None = None  # the "rest" hash `sni` was built from
        self.tls: ServerTLS | None = None
        if any(tls for _, _, tls in listen_fds):
            if conf.ssl_cert:
                cert, key = conf.ssl_cert[0], conf.ssl_cert_key[0]
            else:
                cert, key = ensure_default_certificate(conf.prefix)
            self.tls = ServerTLS(cert, key, lambda: self.sni, TlsPolicy.from_conf(conf))

    async def _load_snapshot(self, loop: asyncio.AbstractEventLoop) -> Runtime:
        """Read and compile one snapshot and swap it in, rebuilding only what changed: the Rust
        reader updates the router and balancers of the previous snapshot with the entities that
        changed, the runtime rebuilds only the service targets those touch, and SNI
        certificates are rebuilt only when Kong's "rest" hash (certificates, snis) changed."""
        previous = self.snapshot
        snapshot = await loop.run_in_executor(None, lambda: self.store.load(previous=previous))
        if self.tls is not None and (self.sni is None or snapshot.hashes.get("rest") != self.sni_hash):
            self.sni = SniCertificates.build(
                [orjson.loads(c) for c in snapshot.entities("certificates")],
                [orjson.loads(s) for s in snapshot.entities("snis")],
                self.tls.policy,
            )
            self.sni_hash = snapshot.hashes.get("rest")
        runtime = self.proxy.runtime = Runtime.from_snapshot(
            snapshot, self.proxy.settings, self.proxy.runtime if previous is not None else None, self.registry
        )
        self.snapshot = snapshot
        log.debug("serving configuration version %d (hash %s)", snapshot.version, snapshot.hash)
        return runtime

    async def load_latest(self) -> None:
        """Compile the latest stored version, if other than the one served, and swap it in."""
        if self.loading:
            self.pending = True  # a version arrived while loading: load again when done
            return
        self.loading = True
        loop = asyncio.get_running_loop()
        try:
            while True:
                self.pending = False
                meta = self.store.meta()
                current = self.proxy.runtime
                # Versions are compared for equality, not order: a control plane whose database
                # was rebuilt may send a lower version, and that config must still be served.
                if meta is not None and (current is None or meta != (current.version, current.hash)):
                    if current is not None and meta[1] == current.hash:
                        # The same config under a new version: nothing to compile.
                        current.version = meta[0]
                    else:
                        current = await self._load_snapshot(loop)
                    self.counters[CONFIG_VERSION] = current.version
                if not self.pending:
                    break
        except (_core.CoreError, PluginError) as err:
            log.error("cannot load the stored configuration, still serving the previous one: %s", err)
        finally:
            self.loading = False

    def on_notify(self) -> None:
        try:
            data = os.read(self.notify_fd, 4096)
        except BlockingIOError:
            return
        if not data:  # the supervisor is gone: nobody can restart or reconfigure us
            log.error("supervisor exited, worker stopping")
            self.stop.set()
            asyncio.get_running_loop().remove_reader(self.notify_fd)
            return
        task = asyncio.ensure_future(self.load_latest())
        self.loads.add(task)
        task.add_done_callback(self.loads.discard)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        await self.load_latest()
        factory = make_protocol_factory(self.proxy)
        for fd, backlog, tls in self.listen_fds:
            # create_server calls listen() again: pass the configured backlog so it is kept.
            sock = socket.socket(fileno=fd)
            context = self.tls.context if tls and self.tls is not None else None
            self.servers.append(await loop.create_server(factory, sock=sock, backlog=backlog, ssl=context))
        loop.add_reader(self.notify_fd, self.on_notify)
        for sig in (signal.SIGTERM, signal.SIGQUIT, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: None)  # the supervisor handles reloads
        # Published last: the supervisor counts this worker as ready only once its pid is in the
        # slot, so a worker that dies or hangs before listening never makes the node look ready.
        self.counters[PID] = os.getpid()
        await self.stop.wait()
        for server in self.servers:
            server.close()
        await self.proxy.drain(DRAIN_TIMEOUT)


def main() -> None:
    parser = argparse.ArgumentParser(prog="dataplane.worker")
    parser.add_argument("--conf")
    parser.add_argument("--slot", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--state-fd", type=int, required=True)
    parser.add_argument("--notify-fd", type=int, required=True)
    parser.add_argument("--listen-fds", default="")
    args = parser.parse_args()
    conf = load_conf(args.conf)
    logs.setup(conf.log_level, conf.proxy_error_log, worker=args.slot, echo=False)
    state = WorkerState(args.state_fd, args.workers)
    fds = []
    for item in filter(None, args.listen_fds.split(",")):
        fd, backlog, tls = map(int, item.split(":"))
        fds.append((fd, backlog, bool(tls)))
    os.set_blocking(args.notify_fd, False)
    worker = Worker(conf, args.slot, state.slot(args.slot), args.notify_fd, fds)
    uvloop.run(worker.run())


if __name__ == "__main__":
    main()
