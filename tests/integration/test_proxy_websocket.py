"""WebSocket through the proxy, as Kong proxies it: a handshake (``Upgrade: websocket`` with
``Connection: upgrade``) goes upstream with those two fields, and once the upstream answers
``101 Switching Protocols`` the client and upstream connections become one byte tunnel.

A real WebSocket server and client (the ``websockets`` library) talk through the in-process
gateway on loopback; raw sockets check what the library does not show."""

from __future__ import annotations

import asyncio
import contextlib
import ssl

import pytest
import trustme
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed, InvalidStatus

from dataplane.proxy import ProxySettings, ProxyState, Runtime, make_protocol_factory
from dataplane.proxy.state import ACTIVE_CONNECTIONS
from tests.support.async_client import request
from tests.support.http_messages import get
from tests.support.inprocess_gateway import Route, gateway, router, run, service
from tests.support.waiting import wait_for_async

SWITCH = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
HANDSHAKE = (b"GET /ws/chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


@contextlib.asynccontextmanager
async def ws_upstream():
    """A WebSocket echo server; yields (port, the handshakes it saw as (path, headers))."""
    seen: list[tuple[str, dict[str, str]]] = []

    async def echo(ws) -> None:
        seen.append((ws.request.path, {name.lower(): value for name, value in ws.request.headers.raw_items()}))
        async for message in ws:
            if message == "bye":
                await ws.close(1000, "done")
                return
            await ws.send(message)

    async with serve(echo, "127.0.0.1", 0, max_size=None) as server:
        yield server.sockets[0].getsockname()[1], seen


@contextlib.asynccontextmanager
async def raw_upstream(answer: bytes):
    """An upstream that reads one head, answers ``answer``, then echoes what follows; yields
    (port, the heads it read)."""
    heads: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            heads.append(await reader.readuntil(b"\r\n\r\n"))
            writer.write(answer)
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], heads
    finally:
        server.close()


def routes(**service_fields):
    return lambda up: ([Route("r1", "/ws", "s1")], [service("s1", "127.0.0.1", up, **service_fields)])


def test_messages_go_both_ways_through_the_tunnel():
    async def main():
        async with ws_upstream() as (up, seen), gateway(*routes()(up)) as gw:
            async with connect(f"ws://127.0.0.1:{gw.port}/ws/chat?room=1", max_size=None) as ws:
                assert ws.response.status_code == 101
                assert ws.response.headers["X-Kong-Request-Id"]  # the gateway's own headers are there
                assert ws.response.headers["Via"] == "1.1 gantry/0.1.0"
                await ws.send("hello")
                assert await ws.recv() == "hello"
                await ws.send(b"\x00\x01binary")
                assert await ws.recv() == b"\x00\x01binary"
                big = "x" * (4 << 20)  # more than the sockets buffer: back-pressure both ways
                await ws.send(big)
                assert await ws.recv() == big
                assert gw.state.counters[ACTIVE_CONNECTIONS] == 1
            path, headers = seen[0]
            assert path == "/chat?room=1"  # the route's prefix stripped, the query kept
            assert headers["upgrade"] == "websocket" and headers["connection"].lower() == "upgrade"
            assert headers["x-forwarded-for"] == "127.0.0.1" and headers["x-forwarded-prefix"] == "/ws"
            # the tunnel is gone once the client closed: the connection is no longer counted
            await wait_for_async(lambda: gw.state.counters[ACTIVE_CONNECTIONS] == 0,
                                 message="the tunnel's connection no longer counted")
    run(main())


def test_the_upstream_closing_closes_the_client():
    async def main():
        async with ws_upstream() as (up, _), gateway(*routes()(up)) as gw:
            async with connect(f"ws://127.0.0.1:{gw.port}/ws") as ws:
                await ws.send("bye")
                with pytest.raises(ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 5)
                assert closed.value.rcvd.code == 1000 and closed.value.rcvd.reason == "done"
    run(main())


def test_frames_sent_before_the_switch_wait_for_it():
    """Bytes the client sends right behind its handshake, and bytes the upstream sends right
    behind its 101, each cross once the switch is made, in order."""
    async def main():
        async with raw_upstream(SWITCH + b"early") as (up, heads), gateway(*routes()(up)) as gw:
            reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
            writer.write(HANDSHAKE + b"first")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
            assert b"\r\nConnection: upgrade\r\nUpgrade: websocket\r\n" in head
            assert b"Content-Length" not in head and b"Transfer-Encoding" not in head
            assert await asyncio.wait_for(reader.readexactly(len(b"earlyfirst")), 5) == b"earlyfirst"
            writer.write(b"second")
            assert await asyncio.wait_for(reader.readexactly(6), 5) == b"second"
            assert b"\r\nConnection: upgrade\r\nUpgrade: websocket\r\n" in heads[0]
            writer.close()
    run(main())


def test_a_refused_handshake_is_an_ordinary_response_and_the_connection_closes():
    async def main():
        refusal = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno"
        async with raw_upstream(refusal) as (up, _), gateway(*routes()(up)) as gw:
            with pytest.raises(InvalidStatus) as refused:
                async with connect(f"ws://127.0.0.1:{gw.port}/ws"):
                    pass
            assert refused.value.response.status_code == 403
            assert refused.value.response.headers["Connection"] == "close"
            assert not any(gw.state.pool.idle.values())  # the upstream connection is not reused
    run(main())


def test_a_switch_nobody_asked_for_is_a_bad_gateway():
    async def main():
        async with raw_upstream(SWITCH) as (up, _), gateway(*routes()(up)) as gw:
            response = await request(gw.port, get("/ws"))
            assert response.status == 502
    run(main())


def test_other_upgrades_go_upstream_as_plain_http():
    async def main():
        answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        async with raw_upstream(answer) as (up, heads), gateway(*routes()(up)) as gw:
            response = await request(gw.port, get("/ws", extra="Upgrade: h2c\r\nConnection: Upgrade\r\n"))
            assert response.status == 200 and response.body == b"ok"
            assert b"Upgrade" not in heads[0] and b"\r\nConnection: keep-alive\r\n" in heads[0]
    run(main())


def test_an_idle_tunnel_closes_after_the_read_timeout():
    async def main():
        async with raw_upstream(SWITCH) as (up, _), gateway(*routes(read_timeout=300)(up)) as gw:
            reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
            writer.write(HANDSHAKE)
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            writer.write(b"ping")
            assert await asyncio.wait_for(reader.readexactly(4), 5) == b"ping"
            # nothing moves: closed after about 0.3 s
            assert await asyncio.wait_for(reader.read(), 5) == b""
            writer.close()
    run(main())


def test_wss_on_both_sides():
    """TLS from the client (a TLS listener) and to the upstream (an https service): the tunnel
    carries the decrypted bytes between the two TLS sessions."""
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_side)
    client_side = ssl.create_default_context()
    ca.configure_trust(client_side)

    async def main():
        seen = []

        async def echo(ws) -> None:
            seen.append(ws.request.path)
            async for message in ws:
                await ws.send(message)

        async with serve(echo, "127.0.0.1", 0, ssl=server_side) as upstream:
            up = upstream.sockets[0].getsockname()[1]
            settings = ProxySettings()
            services = [service("s1", "127.0.0.1", up, protocol="https")]
            runtime = Runtime.build(1, "0" * 32, router([Route("r1", "/ws", "s1")], services), services, {}, [],
                                    settings)
            state = ProxyState(settings, runtime)
            listener = await asyncio.get_running_loop().create_server(
                make_protocol_factory(state), "127.0.0.1", 0, ssl=server_side)
            port = listener.sockets[0].getsockname()[1]
            async with connect(f"wss://localhost:{port}/ws/secure", ssl=client_side) as ws:
                await ws.send("over tls")
                assert await ws.recv() == "over tls"
            assert seen == ["/secure"]
            listener.close()
            await state.drain(1)
    run(main())


def test_draining_the_worker_closes_open_tunnels():
    async def main():
        async with ws_upstream() as (up, _), gateway(*routes()(up)) as gw:
            async with connect(f"ws://127.0.0.1:{gw.port}/ws") as ws:
                await ws.send("hi")
                assert await ws.recv() == "hi"
                loop = asyncio.get_running_loop()
                started = loop.time()
                await gw.state.drain(5)
                assert loop.time() - started < 2 and not gw.state.connections
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 5)
    run(main())
