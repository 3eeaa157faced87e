"""The data plane's master process.

It owns everything that is done once per node rather than once per worker: loading the
configuration and writing it to LMDB (one write transaction per version), binding the listeners,
starting `nginx_worker_processes` workers and restarting any that dies, serving the status API,
and signals:

- SIGTERM, SIGQUIT, SIGINT: graceful stop. Workers stop accepting, finish in-flight requests and
  exit; any still running after the drain timeout is killed.
- SIGHUP: re-read kong.conf (declarative_config and log_level; other keys changed are logged
  as taking effect at the next restart) and the declarative file, and apply it. Workers swap
  to the new version between requests, so no request is dropped; a file that does not validate changes nothing. With
  role = data_plane the control plane owns the configuration and SIGHUP re-reads nothing.

With role = data_plane it also keeps the link to the control plane (dataplane.cluster), whose
configs it validates, stores and announces to the workers like a reloaded file.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Awaitable

import orjson

from dataplane import __version__, _core, config_source, shared_memory
from dataplane.cluster import ClusterClient, ClusterSettings, ConfigApplier, LinkStatus, load_or_create_node_id
from dataplane.conf import Conf
from dataplane.declarative import DeclarativeConfigError
from dataplane.lifecycle import pidfile, reconf
from dataplane.listener_tls import TlsPolicy, ensure_default_certificate, report_http2, report_status_listen
from dataplane.lmdb_cache.lmdb_writer import ConfigStore, StoreFullError
from dataplane.logs import NOTICE
from dataplane.plugins import Registry
from dataplane.proxy.body import prepare_temp_dir
from dataplane.proxy.dns import DnsCache, NameNotFound, ResolverError
from dataplane.proxy.settings import BODY_TEMP_DIR, ProxySettings
from dataplane.sockets import bind
from dataplane.status import upstreams as upstream_status
from dataplane.status.server import StatusProtocol
from dataplane.workerstate import (
    ACCEPTED_CONNECTIONS,
    ACTIVE_CONNECTIONS,
    CONFIG_VERSION,
    PID,
    TOTAL_REQUESTS,
    WorkerState,
)

log = logging.getLogger("gantry.supervisor")

DRAIN_TIMEOUT = 10.0
# A worker that dies sooner than this after its start is restarted after a pause, so a crash
# loop does not spin the CPU.
CRASH_WINDOW = 1.0


def target_health(upstream: dict, targets: list[dict]) -> dict[tuple[str, int], bool] | None:
    """Each live target's health as the node's table has it (a balancer of the upstream built
    here reads the same words as the workers'); None when the upstream runs no health checks."""
    try:
        balancer = _core.Balancer.from_json(orjson.dumps(upstream), [orjson.dumps(t) for t in targets])
    except _core.CoreError:
        return None
    if not balancer.checks_health:
        return None
    return {(host, port): healthy for host, port, healthy in balancer.target_health()}


def _cache_not_run(version: int, names: list[str]) -> str:
    return (
        f"the configuration cached in LMDB (version {version}) has plugins this node does not run: "
        f"{', '.join(names)}; add them to the 'plugins' configuration property"
    )


class WorkerProcess:
    """One worker slot: the child process, its exit watcher and its config-notify pipe."""

    __slots__ = ("slot", "proc", "notify_w", "pidfd", "started")

    def __init__(self, slot: int) -> None:
        self.slot = slot
        self.proc: subprocess.Popen[bytes] | None = None
        self.notify_w = -1
        self.pidfd = -1
        self.started = 0.0


class Supervisor:
    def __init__(self, conf: Conf, conf_path: str | None, registry: Registry) -> None:
        self.conf = conf
        self.conf_path = conf_path
        # The plugins the workers run (the CLI loaded them from the same conf): a config with a
        # plugin entity of any other name is refused, as its routes would run unprotected.
        self.registry = registry
        self.plugins = frozenset(registry.names())
        self.store = ConfigStore(conf.lmdb_environment_path, conf.lmdb_map_size)
        self.version = 0
        self.hash = ""
        self.sockets: list[socket.socket] = []  # every listening socket, kept open while running
        self.worker_sockets: list[list[tuple[int, int, bool]]] = []  # (fd, backlog, ssl) each worker serves
        self.workers: list[WorkerProcess] = []
        self.state: WorkerState | None = None
        self.stopping = False
        self.stopped = asyncio.Event()
        self.status_server: asyncio.AbstractServer | None = None
        self.status_dns: DnsCache | None = None  # resolves target names for the upstream endpoints
        self.active_checks: _core.ActiveChecks | None = None
        self.node_id: str | None = None
        self.reloading: asyncio.Task | None = None  # at most one reload runs at a time
        self.reload_again = False  # a SIGHUP arrived during it: re-read the file once it is done
        self.hybrid = conf.role == "data_plane"
        self.link = LinkStatus()
        self.applier = ConfigApplier(self.store, self.on_cluster_config, self.plugins)
        self.cluster: asyncio.Task | None = None
        # Read before anything starts, so a wrong certificate path stops the start.
        self.cluster_settings = ClusterSettings.from_conf(conf) if self.hybrid else None

    # ---- configuration -------------------------------------------------------------------

    def load_initial(self) -> None:
        """Apply the declarative file, or keep the cached config, or start empty (Kong's order)."""
        if self.hybrid:
            self._load_initial_hybrid()
            return
        path = self.conf.declarative_config
        if path:
            loaded = config_source.load_declarative(path, self.plugins)
        elif (cached := self.store.current()) is not None:
            not_run = config_source.plugins_not_run(self.store, self.plugins)
            if not_run:
                raise config_source.ConfigRejected(_cache_not_run(cached[0], not_run))
            self.version, self.hash = cached
            log.log(
                NOTICE,
                "no declarative_config: serving the configuration cached in LMDB (version %d, hash %s)",
                self.version,
                self.hash,
            )
            return
        else:
            loaded = config_source.empty_config()
        self.version = config_source.apply(self.store, loaded)
        self.hash = loaded.hash

    def _load_initial_hybrid(self) -> None:
        """A data plane serves at once what it can, then whatever the control plane sends wins:
        the LMDB cache of a control plane's config (the newest this node ever had); else the
        declarative file, a bootstrap for a node that never reached a control plane (stored as
        version 0, which the control plane reads as "nothing from me yet"); else nothing
        (not ready) until the control plane sends a config."""
        current = self.store.current()
        path = self.conf.declarative_config
        if current is not None and (not_run := config_source.plugins_not_run(self.store, self.plugins)):
            # A cache this node cannot run in full is never served; the control plane, told
            # this node's plugins in the hello, sends what it can run or refuses it.
            log.error("%s; not serving it", _cache_not_run(current[0], not_run))
            current = None
        if current is not None and (current[0] > 0 or not path):
            self.version, self.hash = current
            log.log(
                NOTICE,
                "serving the configuration cached in LMDB (version %d, hash %s) until the control plane sends one",
                self.version,
                self.hash,
            )
        elif path:
            loaded = config_source.load_declarative(path, self.plugins)
            if current is None or current[1] != loaded.hash:
                self.store.apply(loaded.flat, loaded.hash, loaded.hashes, version=0)
            self.version, self.hash = 0, loaded.hash
            log.log(
                NOTICE,
                "no configuration from a control plane yet: serving %s (hash %s; %s) until the control plane sends one",
                path,
                loaded.hash,
                loaded.summary,
            )
        else:
            log.log(
                NOTICE,
                "no cached configuration and no declarative_config: not ready until the "
                "control plane sends a configuration",
            )

    def on_cluster_config(self, version: int, config_hash: str) -> None:
        """A control plane's config was committed to LMDB: the workers load it."""
        self.version, self.hash = version, config_hash
        self.notify_all()

    def request_reload(self) -> None:
        """SIGHUP. Reloads never overlap: two running at once could finish in either order and
        leave the older file applied last. A SIGHUP during a reload (any number of them) makes
        one more reload follow it, which reads the file as it is then."""
        self.conf = reconf.reread(self.conf, self.conf_path)
        if self.hybrid:
            log.warning(
                "reload requested: with role = data_plane the configuration comes from the "
                "control plane, nothing to re-read"
            )
            return
        if self.reloading is not None:
            self.reload_again = True
            return
        self.reloading = asyncio.ensure_future(self._reload_until_settled())

    async def _reload_until_settled(self) -> None:
        try:
            while True:
                self.reload_again = False
                await self.reload()
                if not self.reload_again or self.stopping:
                    break
        finally:
            self.reloading = None

    async def reload(self) -> None:
        """SIGHUP: re-read the declarative file; on any error keep serving the current config."""
        path = self.conf.declarative_config
        if not path:
            log.warning("reload requested but declarative_config is not set: nothing to re-read")
            return
        loop = asyncio.get_running_loop()
        try:
            loaded = await loop.run_in_executor(None, config_source.load_declarative, path, self.plugins)
            version = await loop.run_in_executor(None, config_source.apply, self.store, loaded)
        except (DeclarativeConfigError, config_source.ConfigRejected) as err:
            log.error("reload of %s failed, keeping configuration version %d: %s", path, self.version, err)
            return
        except (OSError, StoreFullError) as err:
            log.error("reload of %s failed, keeping configuration version %d: %s", path, self.version, err)
            return
        if version != self.version:
            self.version, self.hash = version, loaded.hash
            self.notify_all()
        else:
            log.log(NOTICE, "reload: %s is unchanged (hash %s)", path, loaded.hash)

    def notify_all(self) -> None:
        self.configure_active_checks()
        for worker in self.workers:
            self._notify(worker)

    def configure_active_checks(self) -> None:
        """The node's active health checks probe what the stored config asks for (one native
        thread for the node, started with the shared memory)."""
        if self.active_checks is None:
            return
        try:
            count = self.active_checks.configure(
                [orjson.dumps(u) for u in self.store.entities("upstreams")],
                [orjson.dumps(t) for t in self.store.entities("targets")],
            )
        except _core.CoreError as err:
            log.error("active health checks not configured: %s", err)
            return
        if count:
            log.info("active health checks probe %d targets", count)

    def _notify(self, worker: WorkerProcess) -> None:
        if worker.notify_w < 0:
            return
        try:
            os.write(worker.notify_w, struct.pack("<q", self.version))
        except BlockingIOError:
            pass  # the pipe is full of older versions; the worker reads the store's latest anyway
        except OSError:
            pass  # the worker is gone; its restart will read the latest version

    # ---- listeners and workers -------------------------------------------------------------

    def bind_listeners(self) -> None:
        prepare_temp_dir(os.path.join(self.conf.prefix, BODY_TEMP_DIR))  # buffered request bodies
        report_http2("proxy_listen", self.conf.proxy_listen)
        report_status_listen(self.conf.status_listen)
        if any(listener.ssl for listener in self.conf.proxy_listen):
            TlsPolicy.from_conf(self.conf).report(self.conf)  # a ConfError stops the start
            if not self.conf.ssl_cert:
                ensure_default_certificate(self.conf.prefix)  # once here, not racing in every worker
        count = self.conf.nginx_worker_processes
        self.worker_sockets = [[] for _ in range(count)]
        for listener in self.conf.proxy_listen:
            if listener.reuseport:
                for fds in self.worker_sockets:
                    sock = bind(listener, reuseport=True)
                    self.sockets.append(sock)
                    fds.append((sock.fileno(), listener.backlog or 511, listener.ssl))
            else:
                sock = bind(listener, reuseport=False)
                self.sockets.append(sock)
                for fds in self.worker_sockets:
                    fds.append((sock.fileno(), listener.backlog or 511, listener.ssl))

    def spawn(self, worker: WorkerProcess) -> None:
        assert self.state is not None
        self.state.reset_slot(worker.slot)
        read_fd, write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        fds = self.worker_sockets[worker.slot]
        cmd = [
            sys.executable,
            "-m",
            "dataplane.worker",
            "--slot",
            str(worker.slot),
            "--workers",
            str(self.state.workers),
            "--state-fd",
            str(self.state.fd),
            "--notify-fd",
            str(read_fd),
            "--listen-fds",
            ",".join(f"{fd}:{backlog}:{int(tls)}" for fd, backlog, tls in fds),
        ]
        if self.conf_path:
            cmd += ["--conf", self.conf_path]
        proc = worker.proc = subprocess.Popen(
            cmd, pass_fds=(self.state.fd, read_fd, *(fd for fd, _, _ in fds)), close_fds=True
        )
        os.close(read_fd)
        worker.notify_w = write_fd
        worker.started = time.monotonic()
        worker.pidfd = os.pidfd_open(proc.pid)
        asyncio.get_running_loop().add_reader(worker.pidfd, self._on_exit, worker, proc)
        log.log(NOTICE, "start worker process %d", proc.pid)

    def _on_exit(self, worker: WorkerProcess, proc: subprocess.Popen[bytes]) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(worker.pidfd)
        os.close(worker.pidfd)
        os.close(worker.notify_w)
        worker.pidfd = worker.notify_w = -1
        code = proc.wait()
        if self.stopping:
            if all(w.proc is None or w.proc.returncode is not None for w in self.workers):
                self.stopped.set()
            return
        how = f"exited on signal {-code}" if code < 0 else f"exited with code {code}"
        log.critical("worker process %d %s; starting a new one", proc.pid, how)
        delay = CRASH_WINDOW if time.monotonic() - worker.started < CRASH_WINDOW else 0.0
        loop.call_later(delay, self._respawn, worker)

    def _respawn(self, worker: WorkerProcess) -> None:
        if not self.stopping:
            self.spawn(worker)

    # ---- status API --------------------------------------------------------------------------

    def ready(self) -> tuple[bool, str]:
        assert self.state is not None
        if not self.hash or self.hash == config_source.empty_config().hash:
            return False, "no configuration available (empty configuration present)"
        behind = [w.slot for w in self.workers if not self._serving(w)]
        if behind:
            return (
                False,
                f"{len(behind)} of {len(self.workers)} workers not yet serving configuration version {self.version}",
            )
        return True, "ready"

    def worker_pids(self) -> list[int]:
        """The pids of the worker processes alive now, in slot order (the Admin API's
        `pids.workers`)."""
        return [w.proc.pid for w in self.workers if w.proc is not None and w.proc.returncode is None]

    def workers_listening(self) -> bool:
        """Every worker is alive and has published its pid (its servers are up)."""
        assert self.state is not None
        return all(
            w.proc is not None and w.proc.returncode is None and self.state.slot(w.slot)[PID] == w.proc.pid
            for w in self.workers
        )

    def _serving(self, worker: WorkerProcess) -> bool:
        """The worker is alive, listening (it publishes its pid only after its servers are up)
        and serving the current configuration version."""
        assert self.state is not None
        proc = worker.proc
        if proc is None or proc.returncode is not None or worker.pidfd < 0:
            return False
        fields = self.state.slot(worker.slot)
        return fields[PID] == proc.pid and fields[CONFIG_VERSION] == self.version

    def status_handler(self, path: str, query: str = "") -> tuple[int, dict] | Awaitable[tuple[int, dict]]:
        assert self.state is not None
        if upstream_status.matches(path):
            return self.upstream_status(path, query)
        if path == "/status":
            state = self.state
            return 200, {
                "database": {"reachable": True},
                "server": {
                    "connections_accepted": state.total(ACCEPTED_CONNECTIONS),
                    "connections_handled": state.total(ACCEPTED_CONNECTIONS),
                    "connections_active": state.total(ACTIVE_CONNECTIONS),
                    "total_requests": state.total(TOTAL_REQUESTS),
                },
                "configuration_hash": self.hash,
                "configuration_version": self.version,
                **({"control_plane": self.link.as_json()} if self.hybrid else {}),
                "workers": [
                    {"pid": state.slot(w.slot)[PID], "configuration_version": state.slot(w.slot)[CONFIG_VERSION]}
                    for w in self.workers
                ],
            }
        if path == "/status/ready":
            ok, reason = self.ready()
            return (200, {"message": "ready"}) if ok else (503, {"message": reason})
        return 404, {"message": "Not found"}

    async def upstream_status(self, path: str, query: str) -> tuple[int, dict]:
        """The read-only upstream endpoints, from the stored config (what the workers serve)."""
        if self.status_dns is None:
            self.status_dns = DnsCache(ProxySettings.from_conf(self.conf))
        dns = self.status_dns

        async def resolve(host: str) -> tuple[list[str], str]:
            try:
                await dns.resolve(host)
            except (NameNotFound, ResolverError) as err:
                return [], str(err)
            return list(dns.known(host)), "A"

        if self.node_id is None:
            self.node_id = load_or_create_node_id(self.conf.prefix)
        return await upstream_status.answer(
            path,
            query,
            self.store.entities("upstreams"),
            self.store.entities("targets"),
            resolve,
            self.node_id,
            target_health,
        )

    async def start_status(self) -> None:
        listeners = self.conf.status_listen
        if not listeners:
            return
        loop = asyncio.get_running_loop()
        server_header = f"gantry/{__version__}".encode()
        sock = bind(listeners[0], reuseport=False)
        self.status_server = await loop.create_server(
            lambda: StatusProtocol(self.status_handler, server_header), sock=sock
        )

    # ---- life cycle ----------------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self.load_initial()
        self.bind_listeners()
        count = self.conf.nginx_worker_processes
        shared_memory.create(self.conf.prefix, count)  # before the workers, which map it
        # probes into the node's health table; https ones verify as Kong's cosockets do
        self.active_checks = _core.ActiveChecks(list(self.conf.lua_ssl_trusted_certificate))
        self.configure_active_checks()
        self.state = WorkerState.create(count)
        self.workers = [WorkerProcess(i) for i in range(count)]
        for worker in self.workers:
            self.spawn(worker)
        await self.start_status()
        if self.cluster_settings is not None:
            client = ClusterClient(
                self.cluster_settings,
                load_or_create_node_id(self.conf.prefix),
                self.applier,
                self.link,
                plugins=self.registry.specs.values(),
            )
            self.cluster = asyncio.ensure_future(client.run())
        for sig in (signal.SIGTERM, signal.SIGQUIT, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, sig)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        log.log(NOTICE, "gantry %s started: %d workers, configuration version %d", __version__, count, self.version)
        announce = asyncio.ensure_future(pidfile.publish_when(self.workers_listening))  # `start` waits for it
        await self.stopped.wait()
        announce.cancel()
        if self.reloading is not None:  # its write transaction must end before the store closes
            await asyncio.gather(self.reloading, return_exceptions=True)
        await self.applier.idle()
        await self.before_close()
        if self.active_checks is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.active_checks.stop)
        self.store.close()
        log.log(NOTICE, "gantry stopped")
        return 0

    async def before_close(self) -> None:
        """What else must end before the store closes (a subclass's readers and writers)."""

    def request_stop(self, sig: int) -> None:
        if self.stopping:
            return
        self.stopping = True
        log.log(NOTICE, "signal %d received, draining workers", sig)
        if self.cluster is not None:
            self.cluster.cancel()
        # Close our copies first so that a worker closing its listener really stops accepting.
        for sock in self.sockets:
            sock.close()
        if self.status_server is not None:
            self.status_server.close()
        alive = [w.proc for w in self.workers if w.proc is not None and w.proc.returncode is None]
        if not alive:
            self.stopped.set()
            return
        for proc in alive:
            proc.send_signal(signal.SIGTERM)
        asyncio.get_running_loop().call_later(DRAIN_TIMEOUT + 1, self._kill_stragglers)

    def _kill_stragglers(self) -> None:
        for worker in self.workers:
            if worker.proc is not None and worker.proc.poll() is None:
                log.error("worker process %d did not drain in %.0f s, killing it", worker.proc.pid, DRAIN_TIMEOUT)
                worker.proc.kill()
