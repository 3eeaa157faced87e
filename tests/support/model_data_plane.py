"""A data plane speaking proto/cluster.proto with the generated stubs, in the test's event loop:
hello, receive, apply, ack, ping. It keeps a model of its configuration (full configs replace it,
deltas change it) and checks every hash it is sent against the model."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import grpc

from controlplane.cluster import encoding
from dataplane import __version__
from dataplane.cluster.protocol import cluster_pb2 as pb, cluster_pb2_grpc as pb_grpc
from dataplane.declarative import EMPTY_HASH, config_hash
from dataplane.plugins import load_registry

CHANNEL_OPTIONS = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]


def bundled_plugins() -> dict[str, str]:
    """Name to version of the plugins `plugins = bundled` runs, as a data plane's hello has them."""
    return {spec.name: spec.version for spec in load_registry(("bundled",)).specs.values()}


class TestDataPlane:
    """A data plane client: hello, receive, apply (into a model), ack, ping."""

    __test__ = False  # not a test class for pytest

    def __init__(
        self,
        port: int,
        cert: str | None,
        key: str | None,
        root: str,
        *,
        server_name: str = "kong_clustering",
        node_id: str | None = None,
        version: str = __version__,
        plugins: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
    ) -> None:
        self.port = port
        self.cert, self.key, self.root = cert, key, root
        self.server_name = server_name
        self.node_id = node_id or str(uuid.uuid4())
        self.version = version
        # by default what a data plane with `plugins = bundled` runs, at its plugins' versions
        self.plugins = bundled_plugins() if plugins is None else plugins
        self.labels = labels or {}
        self.config: dict[str, dict[str, dict]] = {}
        self.config_version = 0
        self.config_hash = EMPTY_HASH
        self.received: list[pb.ControlPlaneMessage] = []
        self._reader: asyncio.Future | None = None

    async def connect(self) -> None:
        read = lambda p: Path(p).read_bytes() if p else None  # noqa: E731
        credentials = grpc.ssl_channel_credentials(read(self.root), read(self.key), read(self.cert))
        self.channel = grpc.aio.secure_channel(
            f"127.0.0.1:{self.port}",
            credentials,
            options=[*CHANNEL_OPTIONS, ("grpc.ssl_target_name_override", self.server_name)],
        )
        self.call = pb_grpc.ClusterStub(self.channel).Connect()
        await self.call.write(
            pb.DataPlaneMessage(
                hello=pb.Hello(
                    node_id=self.node_id,
                    hostname=f"dp-{self.node_id[:8]}",
                    version=self.version,
                    plugins=[pb.PluginInfo(name=n, version=v) for n, v in sorted(self.plugins.items())],
                    labels=self.labels,
                    config_version=self.config_version,
                    config_hash=self.config_hash,
                )
            )
        )
        self.inbox: asyncio.Queue = asyncio.Queue()
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        # Reads run in their own task: cancelling a gRPC read (a timeout) cancels the call.
        try:
            while (message := await self.call.read()) is not grpc.aio.EOF:
                self.inbox.put_nowait(message)
        except grpc.aio.AioRpcError as exc:
            self.inbox.put_nowait(exc)
        self.inbox.put_nowait(grpc.aio.EOF)

    async def receive(self, timeout: float = 10) -> pb.ControlPlaneMessage:
        message = await asyncio.wait_for(self.inbox.get(), timeout)
        if isinstance(message, Exception):
            raise message
        assert message is not grpc.aio.EOF, "the control plane ended the stream"
        self.received.append(message)
        return message

    async def receive_config(self, timeout: float = 10) -> pb.ControlPlaneMessage:
        """The next full config or delta (pongs skipped), applied and acknowledged."""
        while True:
            message = await self.receive(timeout)
            if message.WhichOneof("kind") in ("full", "delta"):
                await self.apply(message)
                return message
            assert message.WhichOneof("kind") == "pong", message

    async def apply(self, message: pb.ControlPlaneMessage) -> None:
        kind = message.WhichOneof("kind")
        if kind == "full":
            flat = encoding.decode(message.full.payload, message.full.encoding)
            self.config = {name: {row["id"]: row for row in rows} for name, rows in flat.items()}
            version, digest = message.full.version, message.full.hash
        else:
            delta = message.delta
            assert delta.from_version == self.config_version, (delta.from_version, self.config_version)
            body = encoding.decode(delta.payload, delta.encoding)
            for name, rows in body["upserts"].items():
                self.config.setdefault(name, {}).update((row["id"], row) for row in rows)
            for name, ids in body["deletes"].items():
                for id in ids:
                    self.config.get(name, {}).pop(id, None)
            version, digest = delta.to_version, delta.hash
        computed, _ = config_hash({name: list(rows.values()) for name, rows in self.config.items()})
        assert computed == digest, f"{kind} to version {version}: hash differs"
        self.config_version, self.config_hash = version, digest
        await self.call.write(pb.DataPlaneMessage(ack=pb.Ack(version=version, hash=digest, applied=True)))

    async def ping(self) -> None:
        await self.call.write(
            pb.DataPlaneMessage(ping=pb.Ping(config_version=self.config_version, config_hash=self.config_hash))
        )

    async def close(self) -> None:
        await self.channel.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
