"""A client connection and an upstream connection joined into one byte tunnel, once the upstream
switched to WebSocket (``101 Switching Protocols``).

The two transports get new protocols (``_End``), so the HTTP protocol objects are out of the
way and nothing is parsed any more: bytes read on one side are written on the other. Each side
stops reading while the other cannot take more (back-pressure both ways). The tunnel closes
both connections when either side closes or ends its input (nginx does the same with an
upgraded connection), or when nothing moved either way for ``timeout`` seconds (the service's
read_timeout, as nginx's proxy_read_timeout bounds an upgraded connection). What was written
to a side is sent before its connection closes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .contracts import ClientConnection
    from .upstream import UpstreamConnection

log = logging.getLogger("gantry.proxy")


class _End(asyncio.Protocol):
    """One side of the tunnel: what it reads goes to ``peer``."""

    __slots__ = ("tunnel", "peer")

    def __init__(self, tunnel: Tunnel, peer: asyncio.Transport) -> None:
        self.tunnel = tunnel
        self.peer = peer

    def data_received(self, data: bytes) -> None:
        self.tunnel.last_io = self.tunnel.loop.time()
        self.peer.write(data)

    def eof_received(self) -> bool:
        self.tunnel.close()
        return False

    def pause_writing(self) -> None:
        self.peer.pause_reading()

    def resume_writing(self) -> None:
        self.peer.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.tunnel.close(exc)


class Tunnel:
    __slots__ = ("conn", "upstream", "loop", "timeout", "last_io", "timer", "closed")

    def __init__(self, conn: ClientConnection, upstream: UpstreamConnection, timeout: float, held: bytes) -> None:
        """Takes both connections over now; ``held``: what the client sent after its handshake,
        written upstream first."""
        self.conn = conn
        self.upstream = upstream
        self.loop = conn.loop
        self.timeout = timeout
        self.last_io = self.loop.time()
        self.closed = False
        client, server = conn.hand_over(), upstream.transport  # the client's HTTP life ends here
        client.set_protocol(_End(self, server))
        server.set_protocol(_End(self, client))
        if held:
            server.write(held)
        server.resume_reading()
        self.timer: asyncio.TimerHandle | None = self.loop.call_later(timeout, self._on_timer)

    def close(self, exc: Exception | None = None) -> None:
        """Both connections close (each after sending what it was given); the client
        connection's bookkeeping is done as if its protocol had seen it close."""
        if self.closed:
            return
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.upstream.closed = True
        self.upstream.transport.close()
        self.conn.tunnel_closed(exc)

    def _on_timer(self) -> None:
        self.timer = None
        if self.closed:
            return
        deadline = self.last_io + self.timeout
        if self.loop.time() >= deadline:
            log.info(
                "WebSocket tunnel between client %s and upstream %s:%d idle for %.0f s: closing",
                self.conn.peer,
                self.upstream.key[0],
                self.upstream.key[1],
                self.timeout,
            )
            self.close()
            return
        self.timer = self.loop.call_at(deadline, self._on_timer)
