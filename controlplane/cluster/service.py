"""`Cluster.Connect`: one stream per data plane. The first message must be a Hello; then
pings are answered and acks handed to the session, while the session pushes config."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping

import grpc

from dataplane.cluster.protocol import cluster_pb2 as pb, cluster_pb2_grpc as pb_grpc
from dataplane.logs import NOTICE
from dataplane.schema import is_uuid

from .config import ConfigState
from .front import Peer
from .registry import Registry
from .session import Session

log = logging.getLogger("controlplane.cluster")

HELLO_TIMEOUT = 10.0
# Kong's CLUSTERING_PING_INTERVAL is 30 s and a silent data plane is dropped after 45 s.
PING_WAIT = 45.0


class ClusterService(pb_grpc.ClusterServicer):
    def __init__(
        self,
        state: ConfigState,
        registry: Registry,
        peer_for: Callable[[str], Peer | None],
        cp_version: str,
        cp_plugins: Mapping[str, str],
    ) -> None:
        self._state = state
        self._registry = registry
        self._peer_for = peer_for
        self._cp_version = cp_version
        self._cp_plugins = cp_plugins

    async def Connect(
        self, request_iterator: AsyncIterator[pb.DataPlaneMessage], context: grpc.aio.ServicerContext
    ) -> None:
        peer = self._peer_for(context.peer())
        if peer is None:
            log.warning(
                "refused a cluster connection from %s that did not come through the cluster listener's TLS",
                context.peer(),
            )
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "connect through cluster_listen")
        messages = aiter(request_iterator)
        try:
            first = await asyncio.wait_for(anext(messages), HELLO_TIMEOUT)
        except (TimeoutError, StopAsyncIteration):
            log.warning("data plane at %s sent no hello within %g seconds", peer.ip, HELLO_TIMEOUT)
            return
        problem = _hello_problem(first)
        if problem:
            log.warning("refused data plane at %s: %s", peer.ip, problem)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        write_lock = asyncio.Lock()

        async def write(message: pb.ControlPlaneMessage) -> None:
            async with write_lock:  # pongs and pushes come from two tasks
                await context.write(message)

        session = Session(
            first.hello, peer, self._state, write, self._cp_version, self._cp_plugins, self._registry.touch
        )
        previous = self._registry.add(session)
        if previous is not None:
            log.info("%s reconnected before its previous stream ended", session)
        log.log(
            NOTICE, "%s connected (version %s, config version %d)", session, session.version, session.config_version
        )
        pusher = asyncio.ensure_future(session.run())
        try:
            await _read(messages, session, write)
        except TimeoutError:
            log.warning("%s sent nothing for %g seconds; closing its stream", session, PING_WAIT)
        finally:
            pusher.cancel()
            # unregistered and logged before anything is awaited: a handler cancelled again
            # while it waits for its pusher still says the data plane is gone
            self._registry.remove(session)
            self._registry.touch(session)
            log.log(NOTICE, "%s disconnected", session)
            await asyncio.gather(pusher, return_exceptions=True)
        if pusher.done() and not pusher.cancelled() and pusher.exception() is not None:
            log.error("pushing to %s failed: %r", session, pusher.exception())


async def _read(messages: AsyncIterator[pb.DataPlaneMessage], session: Session, write: Callable) -> None:
    while True:
        try:
            message = await asyncio.wait_for(anext(messages), PING_WAIT)
        except StopAsyncIteration:
            return
        kind = message.WhichOneof("kind")
        if kind == "ping":
            session.seen(message.ping.config_version, message.ping.config_hash)
            await write(pb.ControlPlaneMessage(pong=pb.Pong(config_version=session.expected_version())))
        elif kind == "ack":
            session.acked(message.ack)
        else:
            log.warning("%s sent an unexpected %s message; ignored", session, kind)


def _hello_problem(message: pb.DataPlaneMessage) -> str | None:
    if message.WhichOneof("kind") != "hello":
        return "the first message of a data plane must be a hello"
    hello = message.hello
    if not hello.node_id:
        return "data plane didn't pass the id"
    if not is_uuid(hello.node_id):
        return f"data plane id '{hello.node_id}' is not a uuid"
    if not hello.version:
        return "data plane didn't pass the version"
    return None
