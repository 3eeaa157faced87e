"""The data plane's end of the cluster stream (proto/cluster.proto), with reconnects.

One session: open the stream to a control plane, send Hello (and a Ping, whose Pong proves the
link), then apply every FullConfig and Delta in order, acknowledging each and pinging right after
an apply so the control plane sees the new hash at once; a Ping goes out every PING_INTERVAL.
A delta that does not start from the stored version is acked with that error, which tells the
control plane to send the whole config. A session ends when the stream fails or when nothing
arrives for PING_WAIT.

Between sessions: the next control plane in `cluster_control_plane` is tried at once; once all
of them failed in a row, a back-off delay (Backoff) passes before the next round. A session in
which a control plane spoke resets the back-off. A Refusal changes nothing stored: the node
keeps serving its cached config and asks again later.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

import grpc

from dataplane import __version__
from dataplane.cluster.protocol import cluster_pb2, cluster_pb2_grpc
from dataplane.plugins import PluginSpec

from .apply import ConfigApplier
from .backoff import Backoff
from .link import LinkStatus
from .settings import ClusterSettings, ControlPlane

log = logging.getLogger("gantry.cluster")

_Send = Callable[[cluster_pb2.DataPlaneMessage], Awaitable[None]]

PING_INTERVAL = 30.0  # Kong's CLUSTERING_PING_INTERVAL
PING_WAIT = 45.0  # silence after which the link counts as dead (Kong's PING_WAIT)


class SessionEnded(Exception):
    """A session is over for a reason already logged or worth one line."""


class ClusterClient:
    def __init__(
        self,
        settings: ClusterSettings,
        node_id: str,
        applier: ConfigApplier,
        status: LinkStatus,
        backoff: Backoff | None = None,
        *,
        plugins: Iterable[PluginSpec] = (),
    ) -> None:
        self.settings = settings
        # What the hello tells the control plane this node runs, each plugin at its own
        # version: the control plane sends no config using a plugin missing here.
        self.plugins = [cluster_pb2.PluginInfo(name=p.name, version=p.version) for p in sorted(plugins, key=_name)]
        self.node_id = node_id
        self.applier = applier
        self.status = status
        self.backoff = backoff or Backoff()
        self._refused = False  # the current session received a Refusal

    async def run(self) -> None:
        """Connect, serve sessions and reconnect until cancelled."""
        planes = self.settings.control_planes
        index = failures_in_round = 0
        while True:
            plane = planes[index]
            index = (index + 1) % len(planes)
            healthy, reason = await self._session(plane)
            if healthy:
                self.backoff.reset()
                failures_in_round = 0
                delay = self.backoff.next()  # a short jittered pause: the fleet does not stampede back
                what = "connection to control plane %s broken: %s (reconnecting to %s in %.1f s)"
            else:
                failures_in_round += 1
                if failures_in_round < len(planes):
                    delay = 0.0  # another control plane may be up: try it at once
                else:
                    failures_in_round = 0
                    delay = self.backoff.next()
                what = "no configuration from control plane %s: %s (trying %s in %.1f s)"
            log.warning(what, plane, reason, planes[index], delay)
            if delay:
                await asyncio.sleep(delay)

    async def _session(self, plane: ControlPlane) -> tuple[bool, str]:
        """Run one session; returns (whether it was healthy: a control plane spoke and did not
        refuse, why it ended)."""
        self.status.address = str(plane)
        channel = self.settings.channel(plane)
        call = cluster_pb2_grpc.ClusterStub(channel).Connect()
        writing = asyncio.Lock()  # a gRPC call takes one write at a time
        spoke = False
        self._refused = False
        pinger: asyncio.Task | None = None

        async def send(msg: cluster_pb2.DataPlaneMessage) -> None:
            async with writing:
                await call.write(msg)

        try:
            await send(self._hello())
            await send(self._ping())
            pinger = asyncio.ensure_future(self._ping_every(send))
            while True:
                try:
                    msg = await asyncio.wait_for(call.read(), PING_WAIT)
                except TimeoutError:
                    raise SessionEnded(f"nothing received for {PING_WAIT:.0f} s") from None
                if msg is grpc.aio.EOF:
                    raise SessionEnded("the control plane closed the stream")
                if not spoke:
                    spoke = True
                    self.status.connected = True
                    log.info("connected to control plane %s", plane)
                self.status.last_seen = int(time.time())
                await self._handle(plane, msg, send)
        except SessionEnded as err:
            reason = str(err)
        except grpc.aio.AioRpcError as err:
            reason = f"{err.code().name}: {err.details()}"
        except asyncio.InvalidStateError:  # a write after the control plane ended the call
            reason = "the control plane closed the stream"
        except Exception as err:  # a bug here must not end reconnecting for good
            log.exception("cluster session with %s failed", plane)
            reason = f"internal error: {err!r}"
        finally:
            self.status.connected = False
            if pinger is not None:
                pinger.cancel()
            call.cancel()
            await channel.close()
        if self._refused:
            # A refusing control plane gets the same growing back-off as one that is down.
            return False, f"it refused this node ({reason})"
        return spoke, reason

    async def _handle(self, plane: ControlPlane, msg: cluster_pb2.ControlPlaneMessage, send: _Send) -> None:
        kind = msg.WhichOneof("kind")
        if kind == "full" or kind == "delta":
            outcome = await (self.applier.full(msg.full) if kind == "full" else self.applier.delta(msg.delta))
            await send(outcome.ack())
            # After an apply the new hash; after a rejection what is still served (after a stale
            # delta, the version a full config must replace).
            await send(self._ping())
        elif kind == "refusal":
            self._refused = True
            version, config_hash = self.applier.current()
            log.warning(
                "control plane %s refuses to send configuration to this node (sync_status %s): %s; "
                "still serving configuration version %d (hash %s)",
                plane,
                msg.refusal.sync_status,
                msg.refusal.reason,
                version,
                config_hash,
            )
        # a Pong needs nothing beyond last_seen; unknown kinds come from a newer control plane

    async def _ping_every(self, send: _Send) -> None:
        try:
            while True:
                await asyncio.sleep(PING_INTERVAL)
                await send(self._ping())
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            pass  # the session's read sees the same failure and ends it

    def _hello(self) -> cluster_pb2.DataPlaneMessage:
        version, config_hash = self.applier.current()
        return cluster_pb2.DataPlaneMessage(
            hello=cluster_pb2.Hello(
                node_id=self.node_id,
                hostname=self.settings.hostname,
                version=__version__,
                plugins=self.plugins,
                labels=self.settings.labels,
                config_version=version,
                config_hash=config_hash,
            )
        )

    def _ping(self) -> cluster_pb2.DataPlaneMessage:
        version, config_hash = self.applier.current()
        return cluster_pb2.DataPlaneMessage(ping=cluster_pb2.Ping(config_version=version, config_hash=config_hash))


def _name(spec: PluginSpec) -> str:
    return spec.name
