"""One connected data plane: its hello, what it holds, and the loop that brings it to the
current configuration.

Pushes are latest-wins: a wake-up while a push is in flight (sent, ack awaited) only marks
the session dirty, and one more push from the acknowledged version follows. A data plane
whose version is unknown, rejected a delta, or stopped answering gets the whole config.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from dataplane.cluster.protocol import cluster_pb2 as pb
from dataplane.declarative import EMPTY_HASH

from . import compat
from .config import ConfigState
from .front import Peer

log = logging.getLogger("controlplane.cluster")

ACK_TIMEOUT = 120.0  # seconds a data plane may take to apply a config before it is presumed lost

Writer = Callable[[pb.ControlPlaneMessage], Awaitable[None]]


class Session:
    def __init__(
        self,
        hello: pb.Hello,
        peer: Peer,
        state: ConfigState,
        write: Writer,
        cp_version: str,
        cp_plugins: Mapping[str, str],
        on_change: Callable[[Session], None],
    ) -> None:
        self.node_id = hello.node_id
        self.hostname = hello.hostname
        self.ip = peer.ip
        self.version = hello.version
        self.plugins = {p.name: p.version for p in hello.plugins}
        self.labels = dict(hello.labels)
        self.cert_expiry = peer.cert_expiry
        self.config_version = hello.config_version
        self.config_hash = hello.config_hash or EMPTY_HASH
        self.sync_status = compat.UNKNOWN
        self.last_seen = int(time.time())
        self._state = state
        self._write = write
        self._cp_version = cp_version
        self._cp_plugins = cp_plugins
        self._on_change = on_change
        # The version a delta may start from: what the data plane holds, unless its hash
        # shows it is another database's config.
        known = state.hash_of(hello.config_version)
        self._base: int | None = (
            hello.config_version if known in (None, self.config_hash) and hello.config_version > 0 else None
        )
        self._wake = asyncio.Event()
        self._ack: asyncio.Future[pb.Ack] | None = None
        self._refused: compat.Refused | None = None
        self._version_refused = compat.check_version(hello.version, cp_version)
        if self._version_refused is None:
            for level, note in compat.plugin_notes(self.plugins, cp_plugins):
                log.log(level, "%s: %s", self, note)

    def __str__(self) -> str:
        return f"data plane {self.hostname} (id: {self.node_id}, ip: {self.ip})"

    def row(self) -> dict[str, Any]:
        return {
            "id": self.node_id,
            "hostname": self.hostname,
            "ip": self.ip,
            "version": self.version,
            "sync_status": self.sync_status,
            "config_hash": self.config_hash,
            "config_version": self.config_version,
            "labels": self.labels,
            "cert_expiry": self.cert_expiry,
            "last_seen": self.last_seen,
        }

    def expected_version(self) -> int:
        snapshot = self._state.current
        return snapshot.version if snapshot else 0

    def wake(self) -> None:
        self._wake.set()

    # ------------------------------------------------------------------ from the data plane

    def seen(self, config_version: int, config_hash: str) -> None:
        self.last_seen = int(time.time())
        self.config_version = config_version
        self.config_hash = config_hash or EMPTY_HASH
        self._on_change(self)

    def acked(self, ack: pb.Ack) -> None:
        if self._ack is not None and not self._ack.done():
            self._ack.set_result(ack)
        else:
            log.debug("%s acknowledged version %d unasked", self, ack.version)
        if ack.applied:
            self.seen(ack.version, ack.hash)
        else:
            self.last_seen = int(time.time())
            self._on_change(self)

    # ------------------------------------------------------------------ to the data plane

    async def run(self) -> None:
        """Push until cancelled (the stream ended)."""
        if self._version_refused is not None:
            await self._refuse(self._version_refused)
            await asyncio.Future()  # nothing will ever be sent: wait for the stream to end
        self._wake.set()
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._push()

    async def _push(self) -> None:
        snapshot = self._state.current
        if snapshot is None:
            return
        if self.config_version == snapshot.version and self.config_hash == snapshot.hash:
            self._base = snapshot.version
            self._set_status(compat.NORMAL)
            await self._write(pb.ControlPlaneMessage(pong=pb.Pong(config_version=snapshot.version)))
            return
        refused = compat.check_plugins(self.plugins, snapshot.plugins, self._cp_plugins)
        if refused is not None:
            if refused != self._refused:
                await self._refuse(refused)
            return
        self._refused = None
        if snapshot.version == 0 and snapshot.size == 0 and self.config_hash != EMPTY_HASH:
            # The #12861 trap: a database never written to would wipe a working data plane.
            log.warning(
                "unable to send updated configuration to %s: the database has never "
                "been written to (configuration version 0) while the data plane holds "
                "version %d; not replacing it with an empty configuration",
                self,
                self.config_version,
            )
            return
        message = await self._state.message_for(self._base)
        kind = message.WhichOneof("kind")
        sent = message.full.version if kind == "full" else message.delta.to_version
        self._ack = asyncio.get_running_loop().create_future()
        started = time.monotonic()
        await self._write(message)
        try:
            ack = await asyncio.wait_for(self._ack, ACK_TIMEOUT)
        except TimeoutError:
            log.warning(
                "%s did not acknowledge configuration version %d within %g seconds; "
                "it will get the whole configuration next",
                self,
                sent,
                ACK_TIMEOUT,
            )
            self._base = None
            return
        finally:
            self._ack = None
        if ack.applied and ack.version == sent:
            self._base = sent
            self._set_status(compat.NORMAL)
            log.debug("%s applied %s to version %d in %.3f s", self, kind, sent, time.monotonic() - started)
            return
        log.warning(
            "%s did not apply configuration version %d (%s): %s",
            self,
            sent,
            kind,
            ack.error or f"acknowledged version {ack.version} instead",
        )
        self._base = None
        if kind == "delta":
            self._wake.set()  # retry at once with the whole configuration

    async def _refuse(self, refused: compat.Refused) -> None:
        log.warning("unable to send updated configuration to %s: %s", self, refused.reason)
        self._refused = refused
        self._set_status(refused.sync_status)
        await self._write(
            pb.ControlPlaneMessage(refusal=pb.Refusal(sync_status=refused.sync_status, reason=refused.reason))
        )

    def _set_status(self, status: str) -> None:
        if status != self.sync_status:
            self.sync_status = status
            self._on_change(self)
