"""The status API (`status_listen`): `GET /status` and `GET /status/ready`, served by the supervisor.

Shapes follow Kong's status API: `/status` reports server counters and the configuration hash;
`/status/ready` answers 200 once every worker serves the current configuration and 503 with the
reason otherwise, so a load balancer can hold traffic back from a node that is not ready.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httptools
import orjson

Handler = Callable[[str], tuple[int, dict]]

_REASONS = {200: b"OK", 404: b"Not Found", 405: b"Method Not Allowed", 400: b"Bad Request", 503: b"Service Unavailable"}


class StatusProtocol(asyncio.Protocol):
    """One status API connection: tiny requests, JSON answers, keep-alive."""

    __slots__ = ("handler", "transport", "parser", "url", "server_header")

    def __init__(self, handler: Handler, server_header: bytes) -> None:
        self.handler = handler
        self.server_header = server_header
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""

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
        path = httptools.parse_url(self.url).path.decode("latin-1").rstrip("/") or "/"
        if method not in (b"GET", b"HEAD"):
            status, body = 405, {"message": "Method not allowed"}
        else:
            status, body = self.handler(path)
        self._reply(status, body, keep_alive=self.parser.should_keep_alive(), head=method == b"HEAD")

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
