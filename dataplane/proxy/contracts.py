"""What the parts of the proxy may ask of each other: the client connection as an exchange and
a tunnel see it.

``ProxyProtocol`` (dataplane/proxy/server.py) is the one implementation; naming the contract
keeps ``Exchange`` and ``Tunnel`` from reaching into the rest of its state, so that the
connection's reading, pipelining and timers can change without them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from dataplane._core import Downstream

    from .phases import Exchange


class ClientConnection(Protocol):
    """One client connection, as the exchanges it carries use it."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...

    @property
    def peer(self) -> str:
        """The client's address, for logs and ``remote_addr``."""

    @property
    def peer_port(self) -> int: ...

    @property
    def server_port(self) -> int:
        """The local port the connection came in on."""

    @property
    def server_addr(self) -> str:
        """The local address the connection came in on (nginx's ``$server_addr``)."""

    @property
    def serial(self) -> int:
        """The connection's number among the worker's connections (nginx's ``$connection``)."""

    @property
    def trusted(self) -> bool:
        """The peer is in ``trusted_ips``: its X-Forwarded-* and real-IP headers count."""

    @property
    def scheme(self) -> str: ...

    @property
    def scheme_bytes(self) -> bytes: ...

    @property
    def downstream(self) -> Downstream:
        """The native description of the connection, given to the request planner."""

    @property
    def requests(self) -> int:
        """Requests read on this connection so far (for ``client_keepalive_requests``)."""

    @property
    def write_paused(self) -> bool:
        """The client's write buffer is full: stop reading the upstream."""

    @property
    def blocks(self) -> int:
        """Non-zero while reading the client is paused for some reason."""

    @property
    def active(self) -> Exchange | None:
        """The exchange being answered (the oldest unanswered one)."""

    def write(self, data: bytes) -> None:
        """Send ``data`` to the client."""

    def writelines(self, data: Iterable[bytes]) -> None:
        """Send these pieces to the client, in one system call where the transport can."""

    def body_waiting(self) -> None:
        """Body bytes are held for an upstream that is not connected yet: stop reading."""

    def body_flowing(self) -> None:
        """Read the body on."""

    def upstream_congested(self, paused: bool) -> None:
        """The upstream cannot take the body as fast as it comes (or can again)."""

    def exchange_done(self, exchange: Exchange) -> None:
        """The response of ``exchange`` is written: go on with the next request, or close."""

    def abort(self) -> None:
        """Drop the connection now (a response cannot be finished)."""

    def hand_over(self) -> asyncio.Transport:
        """For a tunnel: the connection's HTTP life ends (no exchange, no timer, reading on);
        its transport is the tunnel's from now on."""

    def tunnel_closed(self, exc: Exception | None) -> None:
        """The tunnel that took the connection over is done: close it and count it gone."""
