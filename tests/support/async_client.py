"""An asyncio raw-bytes HTTP client for servers on the test's event loop: what is sent is
exactly the bytes given, what comes back is parsed strictly (tests.support.http_messages)."""

from __future__ import annotations

import asyncio

from tests.support.http_messages import Response, ResponseReader


class Client(ResponseReader):
    """One client connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        super().__init__()
        self.reader = reader
        self.writer = writer
        self.eof = False

    @classmethod
    async def open(cls, port: int) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        try:
            self.writer.write(data)
            await self.writer.drain()
        except ConnectionError:
            pass  # the gateway may close early (an error answer); the response is still readable

    async def read(self, count: int = 1, timeout: float = 10) -> list[Response]:
        """The next `count` responses, or fewer if the connection ends first."""

        async def loop():
            while len(self.responses) < count:
                data = await self.reader.read(1 << 16)
                if not data:
                    self.eof = True
                    self.end()
                    break
                self.feed(data)

        await asyncio.wait_for(loop(), timeout)
        return self.take(count)

    async def closed(self, timeout: float = 5) -> bool:
        try:
            data = await asyncio.wait_for(self.reader.read(1 << 16), timeout)
        except (TimeoutError, ConnectionResetError):
            return True
        return data == b""

    def close(self) -> None:
        self.writer.close()


async def request(port: int, raw: bytes) -> Response:
    """One request on a connection of its own; its response."""
    client = await Client.open(port)
    try:
        await client.send(raw)
        (response,) = await client.read()
        return response
    finally:
        client.close()
