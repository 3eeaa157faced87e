"""The two lanes of the proxy on real sockets. Request side: every head is read natively; a
plain one may be planned (routed and given its upstream head in the same call), any other is
also read by httptools and goes through the router and the access phase; one connection mixes
them freely without losing or reordering a byte. Response side: plain responses are framed in
one native call, the others with httptools reading their heads.

``RequestHead.plain`` (asked of the worker's planner) and ``UpstreamConnection.parser`` (None
while the fast lane reads) tell which lane a case takes; the tests check them so that each case
exercises the lane it is meant to."""

from __future__ import annotations

import asyncio
import contextlib

from tests.support.async_client import Client, request
from tests.support.echo_upstream import echo
from tests.support.http_messages import get
from tests.support.inprocess_gateway import Route, gateway, run, service
from tests.support.waiting import wait_for_async

CHUNKED_POST = (b"POST /anything HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")


def post(size: int, path: str = "/anything") -> bytes:
    return b"POST %s HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % (path.encode(), size) + b"b" * size


@contextlib.asynccontextmanager
async def echo_gateway():
    """An echo upstream and a gateway routing everything to it: (upstream port, gateway)."""
    async with echo() as (_, up), gateway([Route("r1", "/", "s1", strip_path=False)],
                                          [service("s1", "127.0.0.1", up)]) as gw:
        yield up, gw


def client_connection(gw):
    (conn,) = gw.state.connections
    return conn


def plain(gw, data: bytes) -> bool:
    """Whether the gateway's reader finds the head at the start of ``data`` plain."""
    return gw.state.planner.plan(data, client_connection(gw).downstream).plain


def test_one_connection_moves_between_the_lanes():
    async def main():
        async with echo_gateway() as (_, gw):
            client = await Client.open(gw.port)

            async def exchange(data: bytes, lane: str, body_size: int = 0) -> None:
                assert ("fast" if plain(gw, data) else "general") == lane, data[:40]
                await client.send(data)
                (response,) = await client.read()
                assert response.status == 200, data[:40]
                assert response.json()["body_size"] == body_size, data[:40]

            await exchange(get("/anything"), "fast")
            await exchange(CHUNKED_POST, "general", 11)
            await exchange(post(10), "fast", 10)
            # a head in two reads: its start is kept until the rest arrives
            await client.send(b"GET /anything HTTP/1.1\r\nHo")
            await wait_for_async(lambda: client_connection(gw).pending == b"GET /anything HTTP/1.1\r\nHo",
                                 message="the head's start kept")
            await client.send(b"st: a\r\n\r\n")
            (response,) = await client.read()
            assert response.status == 200 and client_connection(gw).pending == b""
            # unusual but valid bytes (obs-text in a value): the general lane, same answer
            await exchange(get("/anything", extra="X-Name: caf\xe9\r\n"), "general")
            await exchange(get("/anything"), "fast")
            client.close()
    run(main())


def test_pipelined_requests_across_both_lanes_keep_their_order():
    async def main():
        async with echo_gateway() as (_, gw):
            client = await Client.open(gw.port)
            await client.send(get("/anything?n=1") + CHUNKED_POST + get("/anything?n=3") + post(7)
                              + get("/anything?n=5"))
            responses = await client.read(5)
            assert [r.status for r in responses] == [200] * 5
            bodies = [r.json() for r in responses]
            assert [b["query"] for b in bodies] == ["n=1", None, "n=3", None, "n=5"]
            assert [b["body_size"] for b in bodies] == [0, 11, 0, 7, 0]
            assert [b["method"] for b in bodies] == ["GET", "POST", "GET", "POST", "GET"]
            client.close()
    run(main())


def test_fast_lane_bodies_span_reads_and_requests_may_follow_in_the_same_read():
    async def main():
        async with echo_gateway() as (_, gw):
            client = await Client.open(gw.port)
            data = post(300_000) + get("/anything?after=1")
            for at in range(0, len(data), 65_000):  # the body's end and the next head share a read
                await client.send(data[at:at + 65_000])
                await asyncio.sleep(0.005)  # pacing: each piece a read of its own
            first, second = await client.read(2)
            assert first.json()["body_size"] == 300_000
            assert second.json()["query"] == "after=1"
            conn = client_connection(gw)
            assert (conn.pending, conn.body_left, conn.decoder) == (b"", 0, None)
            client.close()
    run(main())


def test_a_declined_head_gets_the_general_lanes_answer():
    async def main():
        async with echo_gateway() as (up, gw):
            for raw, status in (
                (b"GET /anything HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
                (b"GET /anything HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
                (b"GET /anything HTTP/1.1\nHost: a\r\n\r\n", 400),
                (b"GET /any thing HTTP/1.1\r\nHost: a\r\n\r\n", 400),
                (b"GET http://a/anything HTTP/1.1\r\nHost: a\r\n\r\n", 200),  # absolute-form: general lane
            ):
                response = await request(gw.port, raw)
                assert response.status == status, raw
            assert (await upstream_requests_seen(up)) == 1
    run(main())


async def upstream_requests_seen(port: int) -> int:
    return (await request(port, b"GET /__stats HTTP/1.1\r\nHost: x\r\n\r\n")).json()["requests"]


class ScriptedUpstream(asyncio.Protocol):
    """Answers each request with the next scripted response; counts its connections."""

    script: list[bytes] = []
    connections = 0

    def connection_made(self, transport):
        self.transport = transport
        ScriptedUpstream.connections += 1

    def data_received(self, data):
        self.transport.write(ScriptedUpstream.script.pop(0))


def test_upstream_responses_take_either_lane_on_one_pooled_connection():
    plain = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
    early = b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"

    async def main():
        loop = asyncio.get_running_loop()
        upstream = await loop.create_server(ScriptedUpstream, "127.0.0.1", 0)
        port = upstream.sockets[0].getsockname()[1]
        ScriptedUpstream.connections = 0
        # fast, general (chunked), fast, general (interim head), fast HEAD, fast 204, fast
        head_only = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
        ScriptedUpstream.script = [plain, chunked, plain, early + plain, head_only, b"HTTP/1.1 204 No Content\r\n\r\n",
                                   plain]
        async with gateway([Route("r1", "/", "s1", strip_path=False)], [service("s1", "127.0.0.1", port, retries=0)]) as gw:
            reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)

            async def answer(method: bytes = b"GET") -> tuple[bytes, bytes]:
                writer.write(method + b" /x HTTP/1.1\r\nHost: a\r\n\r\n")
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
                if method == b"HEAD" or head.startswith(b"HTTP/1.1 204"):
                    return head, b""
                if b"Transfer-Encoding: chunked" in head:
                    return head, await asyncio.wait_for(reader.readuntil(b"0\r\n\r\n"), 5)
                return head, await asyncio.wait_for(reader.readexactly(2), 5)

            for body in (b"ok", b"2\r\nok\r\n0\r\n\r\n", b"ok", b"ok"):
                head, received = await answer()
                assert head.startswith(b"HTTP/1.1 200 ") and received == body
            head, _ = await answer(b"HEAD")
            assert head.startswith(b"HTTP/1.1 200 ") and b"Content-Length: 2\r\n" in head
            head, _ = await answer()
            assert head.startswith(b"HTTP/1.1 204 ")
            head, received = await answer()
            assert head.startswith(b"HTTP/1.1 200 ") and received == b"ok"
            writer.close()
            assert ScriptedUpstream.connections == 1  # every response left the connection reusable
        upstream.close()
    run(main())


def test_bytes_after_a_fast_lane_response_retire_the_upstream_connection():
    async def main():
        loop = asyncio.get_running_loop()
        upstream = await loop.create_server(ScriptedUpstream, "127.0.0.1", 0)
        port = upstream.sockets[0].getsockname()[1]
        ScriptedUpstream.connections = 0
        ScriptedUpstream.script = [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA",
                                   b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"]
        async with gateway([Route("r1", "/", "s1", strip_path=False)], [service("s1", "127.0.0.1", port, retries=0)]) as gw:
            client = await Client.open(gw.port)
            for _ in range(2):
                await client.send(get("/x"))
                (response,) = await client.read()
                assert response.status == 200 and bytes(response.body) == b"ok"
            client.close()
            assert ScriptedUpstream.connections == 2  # the first one was not trusted again
        upstream.close()
    run(main())


def test_a_planned_head_goes_upstream_as_the_general_lane_sends_it():
    """The fast lane routes and builds the upstream head in one native call; the same request
    made not plain (an Expect field, never forwarded) and sent in two reads goes through the
    router and the access phase, and reaches the upstream with the same request line and the
    same fields, in the same order (the request id aside)."""
    async def main():
        async with echo_gateway() as (_, gw):
            client = await Client.open(gw.port)
            head = (b"GET /anything/x?q=1 HTTP/1.1\r\nHost: Example.com:8000\r\nX-Forwarded-For: 1.1.1.1\r\n"
                    b"Via: 1.0 edge\r\nTE: trailers\r\nConnection: keep-alive, X-Drop\r\nX-Drop: 1\r\n"
                    b"User-Agent: t\r\nAccept: */*\r\n\r\n")
            unplain = head.replace(b"User-Agent", b"Expect: 100-continue\r\nUser-Agent")
            assert plain(gw, head) and not plain(gw, unplain)
            seen = []
            for pieces in ((head,), (unplain[:30], unplain[30:])):
                for piece in pieces:
                    await client.send(piece)
                    if piece is not pieces[-1]:  # read, and waiting for the rest of the head
                        await wait_for_async(lambda: client_connection(gw).pending, message="the head's start kept")
                (response,) = await client.read()
                assert response.status == 200
                echoed = response.json()
                fields = [(name.lower(), value) for name, value in echoed["headers"]
                          if name.lower() != "x-kong-request-id"]
                seen.append((echoed["method"], echoed["path"], echoed["query"], fields))
            assert seen[0] == seen[1]
            assert ("via", "1.0 edge, 1.1 gantry/0.1.0") in seen[0][3] and ("te", "trailers") in seen[0][3]
            assert not any(name == "x-drop" for name, _ in seen[0][3])
            client.close()
    run(main())
