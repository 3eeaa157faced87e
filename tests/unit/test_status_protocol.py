"""The status API's connection: a reply that awaits (the upstream endpoints resolve names) is
written when ready, and pipelined requests are still answered in their order."""

from __future__ import annotations

import asyncio

from dataplane.status.server import StatusProtocol


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.out: list[bytes] = []

    def writelines(self, data) -> None:
        self.out.extend(data)

    def is_closing(self) -> bool:
        return False


def test_an_awaited_reply_keeps_pipelined_requests_in_order():
    async def main() -> list[bytes]:
        async def slow() -> tuple[int, dict]:
            await asyncio.sleep(0.05)
            return 200, {"n": "slow"}

        def handler(path: str, query: str):
            if path == "/slow":
                return slow()
            return 200, {"n": path, "q": query}

        protocol = StatusProtocol(handler, b"gantry")
        transport = Transport()
        protocol.connection_made(transport)
        protocol.data_received(
            b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /fast/?a=1 HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        assert transport.out == []  # the first is awaited: nothing, not even the second, yet
        await asyncio.sleep(0.2)
        return [part for part in transport.out if part.startswith(b"{")]

    bodies = asyncio.run(main())
    assert bodies == [b'{"n":"slow"}', b'{"n":"/fast","q":"a=1"}']
