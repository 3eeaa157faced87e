"""The status API (`status_listen`): `GET /status`, `GET /status/ready` and the read-only
upstream endpoints (`dataplane/status/upstreams.py`), served by the supervisor.

Shapes follow Kong's status API: `/status` reports server counters and the configuration hash;
`/status/ready` answers 200 once every worker serves the current configuration and 503 with the
reason otherwise, so a load balancer can hold traffic back from a node that is not ready.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

import httptools
import orjson

# (path without its trailing slash, query string) -> the reply, or an awaitable of it
Handler = Callable[[str, str], tuple[int, dict] | Awaitable[tuple[int, dict]]]

_REASONS = {200: b"OK", 404: b"Not Found", 405: b"Method Not Allowed", 400: b"Bad Request", 503: b"Service Unavailable"}


class StatusProtocol(asyncio.Protocol):
    """One status API connection: tiny requests, JSON answers, keep-alive."""

    __slots__ = ("handler", "transport", "parser", "url", "server_header", "previous")

    def __init__(self, handler: Handler, server_header: bytes) -> None:
        self.handler = handler
        self.server_header = server_header
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        # the reply being awaited, if any: the next one is written after it (pipelined requests)
        self.previous: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream server's is a Transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._reply(400, {"message": "Bad request"}, keep_alive=False)

    def on_message_begin(self) -> None:
        self.url = b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_message_complete(self) -> None:
        method = self.parser.get_method()
        url = httptools.parse_url(self.url)
        path = url.path.decode("latin-1").rstrip("/") or "/"
        query = (url.query or b"").decode("latin-1")
        keep_alive, head = self.parser.should_keep_alive(), method == b"HEAD"
        reply: tuple[int, dict] | Awaitable[tuple[int, dict]]
        if method not in (b"GET", b"HEAD"):
            reply = 405, {"message": "Method not allowed"}
        else:
            reply = self.handler(path, query)
        if inspect.isawaitable(reply) or self.previous is not None:
            self.previous = asyncio.ensure_future(self._later(self.previous, reply, keep_alive, head))
            return
        status, body = reply
        self._reply(status, body, keep_alive=keep_alive, head=head)

    async def _later(
        self,
        previous: asyncio.Task[None] | None,
        reply: tuple[int, dict] | Awaitable[tuple[int, dict]],
        keep_alive: bool,
        head: bool,
    ) -> None:
        if previous is not None:
            await previous
        status, body = await reply if inspect.isawaitable(reply) else reply
        if self.previous is asyncio.current_task():
            self.previous = None
        self._reply(status, body, keep_alive=keep_alive, head=head)

    def _reply(self, status: int, body: dict, *, keep_alive: bool, head: bool = False) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        payload = orjson.dumps(body)
        head_bytes = (
            b"HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=utf-8\r\n"
            b"Content-Length: %d\r\nServer: %s\r\n%s\r\n"
            % (
                status,
                _REASONS.get(status, b"Unknown"),
                len(payload),
                self.server_header,
                b"" if keep_alive else b"Connection: close\r\n",
            )
        )
        self.transport.writelines((head_bytes,) if head else (head_bytes, payload))
        if not keep_alive:
            self.transport.close()
