"""http-log's requests to its collector, against servers on this test's event loop: the request
head Kong's handler sends, a kept-alive connection reused and one the collector closed replaced,
an https collector whose certificate is not verified (Kong's ssl_verify off), and Kong's error
messages."""

from __future__ import annotations

import asyncio
import json
import ssl

import trustme

from dataplane.plugins import load_registry
from dataplane.plugins.bundled.http_log import Collector, Plugin
from dataplane.schema import process

load_registry()


def config(endpoint: str, **fields: object) -> dict:
    entity, errors = process("plugins", {"name": "http-log", "config": {"http_endpoint": endpoint, **fields}}, now=1)
    assert errors is None, errors
    return entity["config"]


class Server:
    """An HTTP/1.1 collector answering ``status`` to every request; ``close_after`` closes each
    connection after answering."""

    def __init__(self, status: int = 200, close_after: bool = False) -> None:
        self.status = status
        self.close_after = close_after
        self.requests: list[tuple[bytes, bytes]] = []  # (head, body)
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                body = await reader.readexactly(length)
                self.requests.append((head, body))
                answer = b"nope" if self.status >= 300 else b""
                writer.write(b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%s" % (self.status, len(answer), answer))
                await writer.drain()
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


async def serve(server: Server, context: ssl.SSLContext | None = None) -> tuple[asyncio.Server, int]:
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=context)
    return listening, listening.sockets[0].getsockname()[1]


def test_the_request_kongs_handler_sends():
    async def test():
        server = Server()
        listening, port = await serve(server)
        plugin = Plugin(
            config(f"http://user:pa%20ss@127.0.0.1:{port}/logs?q=1", headers={"X-Key": "k", "authorization2": "x"})
        )
        await plugin.send([b'{"a":1}'])
        listening.close()
        ((head, body),) = server.requests
        lines = head.decode().split("\r\n")
        assert lines[0] == "POST /logs HTTP/1.1"
        fields = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:] if line)}
        assert fields["host"] == f"127.0.0.1:{port}"
        assert fields["content-type"] == "application/json"
        assert fields["authorization"] == "Basic dXNlcjpwYSUyMHNz"  # base64 of the userinfo as written
        assert fields["x-key"] == "k" and fields["content-length"] == str(len(body))
        assert body == b'{"a":1}'

    asyncio.run(test())


def test_a_batch_is_a_json_array():
    async def test():
        server = Server()
        listening, port = await serve(server)
        plugin = Plugin(config(f"http://127.0.0.1:{port}/", queue={"max_batch_size": 3}))
        await plugin.send([b'{"a":1}', b'{"b":2}'])
        await plugin.send([b'{"c":3}'])
        listening.close()
        assert [json.loads(body) for _, body in server.requests] == [[{"a": 1}, {"b": 2}], [{"c": 3}]]

    asyncio.run(test())


def test_a_kept_connection_is_reused_and_a_closed_one_replaced():
    async def test():
        kept, closing = Server(), Server(close_after=True)
        listening, port = await serve(kept)
        collector = Collector(config(f"http://127.0.0.1:{port}/"))
        for _ in range(3):
            await collector.send(b"{}")
        assert (len(kept.requests), kept.connections) == (3, 1)
        listening.close()
        listening, port = await serve(closing)
        collector = Collector(config(f"http://127.0.0.1:{port}/"))
        for _ in range(3):
            await collector.send(b"{}")
            await asyncio.sleep(0.01)  # the collector's close arrives
        assert (len(closing.requests), closing.connections) == (3, 3)
        listening.close()

    asyncio.run(test())


def test_an_https_collector_is_not_verified():
    async def test():
        ca = trustme.CA()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("collector.test").configure_cert(context)  # a name and a CA the client never checks
        server = Server()
        listening, port = await serve(server, context)
        await Collector(config(f"https://127.0.0.1:{port}/tls")).send(b"{}")
        listening.close()
        assert server.requests[0][0].startswith(b"POST /tls HTTP/1.1")

    asyncio.run(test())


def test_kongs_messages_for_a_failing_collector():
    async def test():
        server = Server(status=500)
        listening, port = await serve(server)
        collector = Collector(config(f"http://127.0.0.1:{port}/"))
        try:
            await collector.send(b"{}")
        except RuntimeError as err:
            assert str(err) == f"request to 127.0.0.1:{port} returned status code 500 and body nope"
        else:
            raise AssertionError("a 500 is a failure")
        listening.close()
        await listening.wait_closed()
        dead = Collector(config(f"http://127.0.0.1:{port}/"))
        try:
            await dead.send(b"{}")
        except RuntimeError as err:
            assert str(err) == f"failed request to 127.0.0.1:{port}: connection refused"
        else:
            raise AssertionError("a refused connect is a failure")

    asyncio.run(test())
