"""The proxy in-process (tests.support.inprocess_gateway) in front of demo echo upstreams, driven
with real sockets and raw bytes."""

from __future__ import annotations

import asyncio
import ipaddress

import orjson
import pytest
import trustme

from dataplane.proxy import ProxySettings, ProxyState, Runtime, make_protocol_factory
from dataplane.proxy.state import ACTIVE_CONNECTIONS, TOTAL_REQUESTS
from tests.support.async_client import Client, request
from tests.support.echo_upstream import echo, upstream_requests
from tests.support.http_messages import get
from tests.support.inprocess_gateway import Balancer, Route, gateway, run, service
from tests.support.ports import dead_port
from tests.support.waiting import wait_for_async

# -- basics ----------------------------------------------------------------------------------------

def test_proxies_a_get_and_keeps_the_connection():
    async def main():
        async with echo() as (_, up), gateway([Route("r1", "/api", "s1")], [service("s1", "127.0.0.1", up)]) as gw:
            client = await Client.open(gw.port)
            for i in range(3):
                await client.send(get(f"/api/anything?x={i}&y=%20z"))
                (response,) = await client.read()
                assert response.status == 200
                body = response.json()
                assert body["path"] == "/anything"
                assert body["query"] == f"x={i}&y=%20z"
                assert response.header("Connection") == "keep-alive"
            client.close()
            assert gw.state.counters[TOTAL_REQUESTS] == 3
    run(main())


def test_http10_closes_unless_keep_alive_asked():
    async def main():
        async with echo() as (_, up), gateway([Route("r1", "/", "s1")], [service("s1", "127.0.0.1", up)]) as gw:
            client = await Client.open(gw.port)
            await client.send(b"GET /anything HTTP/1.0\r\n\r\n")
            (response,) = await client.read()
            assert response.status == 200 and response.header("Connection") == "close"
            assert await client.closed()
            client = await Client.open(gw.port)
            for _ in range(2):
                await client.send(b"GET /chunked/20000 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                (response,) = await client.read()
                # chunked upstream, HTTP/1.0 client: close-delimited
                assert len(response.body) == 20000
                break
            assert await client.closed()
            client = await Client.open(gw.port)
            for _ in range(2):
                await client.send(b"GET /anything HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                (response,) = await client.read()
                assert response.status == 200 and response.header("Connection") == "keep-alive"
            client.close()
    run(main())


def test_pipelined_requests_are_answered_in_order():
    async def main():
        async with echo() as (_, up), gateway([Route("r1", "/", "s1")], [service("s1", "127.0.0.1", up)]) as gw:
            client = await Client.open(gw.port)
            await client.send(get("/delay/200") + get("/anything?n=2") + b"POST /status/201 HTTP/1.1\r\nHost: a\r\n"
                              b"Content-Length: 5\r\n\r\nhello" + get("/nothing-here-404", extra="") )
            responses = await client.read(4)
            assert [r.status for r in responses] == [200, 200, 201, 200]
            assert responses[0].json()["path"] == "/delay/200"
            assert responses[1].json()["query"] == "n=2"
            assert responses[2].json()["body_size"] == 5
            client.close()
    run(main())


def _rss_mb() -> float:
    with open("/proc/self/status") as file:
        for line in file:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def test_large_bodies_stream_both_ways_without_buffering():
    size = 50 * 1024 * 1024

    async def main():
        async with echo() as (_, up), gateway([Route("r1", "/", "s1")], [service("s1", "127.0.0.1", up)]) as gw:
            client = await Client.open(gw.port)
            before = _rss_mb()
            piece = b"y" * (1 << 20)
            await client.send(b"POST /anything HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % size)
            for _ in range(size // len(piece)):
                await client.send(piece)
            (response,) = await client.read(timeout=60)
            assert response.json()["body_size"] == size
            await client.send(b"POST /anything HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in range(size // len(piece)):
                await client.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            await client.send(b"0\r\n\r\n")
            (response,) = await client.read(timeout=60)
            assert response.json()["body_size"] == size
            assert _rss_mb() - before < 40, "request bodies must stream, not be buffered"
            await client.send(get("/bytes/%d" % (20 * 1024 * 1024)))
            (response,) = await client.read(timeout=60)
            assert response.header("Content-Length") == str(20 * 1024 * 1024)
            assert len(response.body) == 20 * 1024 * 1024
            client.close()
    run(main())


def test_chunked_both_ways():
    async def main():
        async with echo() as (_, up), gateway([Route("r1", "/", "s1")], [service("s1", "127.0.0.1", up)]) as gw:
            client = await Client.open(gw.port)
            await client.send(b"POST /anything HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                              b"5;ext=1\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n")
            (response,) = await client.read()
            body = response.json()
            assert body["body_size"] == 8
            names = [name.lower() for name, _ in body["headers"]]
            assert "transfer-encoding" in names and "content-length" not in names
            await client.send(get("/chunked/100000"))
            (response,) = await client.read()
            assert response.header("Transfer-Encoding") == "chunked"
            assert len(response.body) == 100000
            client.close()
    run(main())


def test_client_max_body_size():
    async def main():
        settings = ProxySettings(client_max_body_size=1000)
        async with echo() as (_, up), gateway([Route("r1", "/", "s1")], [service("s1", "127.0.0.1", up)], settings=settings) as gw:
            response = await request(gw.port, b"POST /anything HTTP/1.1\r\nHost: a\r\nAccept: application/json\r\n"
                                              b"Content-Length: 1001\r\n\r\n" + b"x" * 1001)
            assert response.status == 413
            assert response.json()["message"] == "Payload too large"
            assert await upstream_requests(up) == 0
            client = await Client.open(gw.port)
            await client.send(b"POST /anything HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in range(3):
                await client.send(b"200\r\n" + b"x" * 512 + b"\r\n")
            (response,) = await client.read()
            assert response.status == 413
            assert await client.closed()
            ok = await request(gw.port, b"POST /anything HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n" + b"x" * 1000)
            assert ok.status == 200
    run(main())


BAD_REQUESTS = {
    "cl and te": b"POST /anything HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "duplicate cl": b"POST /anything HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
    "different cl": b"POST /anything HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    "invalid cl": b"POST /anything HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc",
    "cl list": b"POST /anything HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc",
    "te on http/1.0": b"POST /anything HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te gzip": b"POST /anything HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "te twice": b"POST /anything HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te identity": b"POST /anything HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n",
    "no host": b"GET /anything HTTP/1.1\r\n\r\n",
    "two hosts": b"GET /anything HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "invalid host": b"GET /anything HTTP/1.1\r\nHost: a/b\r\n\r\n",
    "obs-fold": b"GET /anything HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n",
    "bare cr": b"GET /anything HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n",
    "bare lf": b"GET /anything HTTP/1.1\nHost: a\n\n",
    "nul": b"GET /anything HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n",
    "space in name": b"GET /anything HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n",
    "bad chunk size": b"POST /anything HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    "http/2.0 line": b"GET /anything HTTP/2.0\r\nHost: a\r\n\r\n",
    "garbage": b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_bad_requests_are_rejected_before_any_upstream(case):
    async def main():
        async with echo() as (_, up), gateway([Route("r1", "/", "s1")], [service("s1", "127.0.0.1", up)]) as gw:
            client = await Client.open(gw.port)
            await client.send(BAD_REQUESTS[case])
            (response,) = await client.read()
            assert response.status == 400
            assert response.header("Content-Type") == "text/plain; charset=utf-8"  # error_default_type
            assert response.body.startswith(b"Bad request\nrequest_id: ")
            assert await client.closed()
            assert await upstream_requests(up) == 0
    run(main())


def test_request_line_and_header_limits():
    async def main():
        settings = ProxySettings(max_request_line_size=1024, max_header_line_size=1024, max_header_size=4096)
        async with echo() as (_, up), gateway([Route("r1", "/", "s1")], [service("s1", "127.0.0.1", up)], settings=settings) as gw:
            response = await request(gw.port, b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\nHost: a\r\nAccept: application/json\r\n\r\n")
            assert response.status == 414
            response = await request(gw.port, b"GET / HTTP/1.1\r\nHost: a\r\nAccept: application/json\r\nX-Big: " + b"b" * 2000 + b"\r\n\r\n")
            assert response.status == 431
            assert response.json()["message"] == "Request header or cookie too large"
            many = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 500) for i in range(10))
            response = await request(gw.port, b"GET / HTTP/1.1\r\nHost: a\r\n" + many + b"\r\n")
            assert response.status == 431
            assert response.body.startswith(b"Request header or cookie too large\nrequest_id: ")
            # a header line that never ends is cut off too, without waiting for its end
            client = await Client.open(gw.port)
            await client.send(b"GET / HTTP/1.1\r\nHost: a\r\nX-Endless: ")
            for _ in range(10):
                await asyncio.sleep(0.01)  # a slow client: the line arrives in pieces
                await client.send(b"z" * 1000)
            (response,) = await client.read()
            assert response.status == 431
            assert await upstream_requests(up) == 0
    run(main())


def test_forwarding_headers_from_an_untrusted_client():
    async def main():
        routes = [Route("r1", "/api", "s1")]
        async with echo() as (_, up), gateway(routes, [service("s1", "127.0.0.1", up, path="/anything")]) as gw:
            response = await request(gw.port, (
                b"GET /api/x/y?q=1 HTTP/1.1\r\nHost: Example.COM:8000\r\nX-Forwarded-For: 1.1.1.1\r\n"
                b"X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\nX-Forwarded-Port: 1\r\nX-Real-IP: 2.2.2.2\r\n"
                b"X-Forwarded-Path: /evil\r\nVia: 1.0 other\r\nConnection: keep-alive, X-Secret\r\nX-Secret: s\r\n"
                b"Keep-Alive: 5\r\nTE: trailers\r\nProxy: http://x\r\nUpgrade: foo\r\nX-Kong-Request-Id: mine\r\n"
                b"X-Custom: kept\r\n\r\n"))
            assert response.status == 200
            echoed = response.json()
            headers = {}
            for name, value in echoed["headers"]:
                headers.setdefault(name.lower(), []).append(value)
            assert echoed["path"] == "/anything/x/y"
            assert headers["host"] == [f"127.0.0.1:{up}"]
            assert headers["x-forwarded-for"] == ["1.1.1.1, 127.0.0.1"]
            assert headers["x-forwarded-proto"] == ["http"]
            assert headers["x-forwarded-host"] == ["example.com"]
            assert headers["x-forwarded-port"] == [str(gw.port)]
            assert headers["x-forwarded-path"] == ["/api/x/y"]
            assert headers["x-forwarded-prefix"] == ["/api"]
            assert headers["x-real-ip"] == ["127.0.0.1"]
            assert headers["via"] == ["1.0 other, 1.1 gantry/0.1.0"]
            assert headers["x-custom"] == ["kept"]
            assert headers["connection"] == ["keep-alive"]
            request_id = response.header("X-Kong-Request-Id")
            assert headers["x-kong-request-id"] == [request_id]
            assert headers["te"] == ["trailers"]  # Kong passes TE: trailers on
            for dropped in ("x-secret", "keep-alive", "proxy", "upgrade"):
                assert dropped not in headers
    run(main())


def test_forwarding_headers_from_a_trusted_proxy():
    async def main():
        settings = ProxySettings(trusted_ips=(ipaddress.ip_network("127.0.0.0/8"),), real_ip_header="X-Forwarded-For",
                                 real_ip_recursive=True)
        async with echo() as (_, up), gateway([Route("r1", "/", "s1", strip_path=False)], [service("s1", "127.0.0.1", up)],
                                               settings=settings) as gw:
            response = await request(gw.port, (
                b"GET /anything HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 9.9.9.9, 10.0.0.1, 127.0.0.5\r\n"
                b"X-Forwarded-Proto: https\r\nX-Forwarded-Host: public.example\r\nX-Forwarded-Port: 443\r\n"
                b"X-Forwarded-Path: /outer/anything\r\nX-Forwarded-Prefix: /outer\r\n\r\n"))
            headers = dict((name.lower(), value) for name, value in response.json()["headers"])
            assert headers["x-forwarded-for"] == "9.9.9.9, 10.0.0.1, 127.0.0.5, 127.0.0.1"
            assert headers["x-real-ip"] == "10.0.0.1"  # right-most untrusted
            assert headers["x-forwarded-proto"] == "https"
            assert headers["x-forwarded-host"] == "public.example"
            assert headers["x-forwarded-port"] == "443"
            assert headers["x-forwarded-path"] == "/outer/anything"
            assert headers["x-forwarded-prefix"] == "/outer"
    run(main())


def test_query_string_is_preserved_byte_for_byte():
    async def main():
        async with echo() as (_, up), gateway([Route("r1", "/", "s1", strip_path=False)], [service("s1", "127.0.0.1", up)]) as gw:
            for query in ("a=1&&b=%2F+c;d=%zz&e", "", "x=%E2%82%AC&x=2"):
                response = await request(gw.port, get("/anything?" + query))
                assert response.json()["query"] == (query or None) or response.json()["query"] == query
    run(main())


def test_preserve_host():
    async def main():
        routes = [Route("r1", "/", "s1", strip_path=False, preserve_host=True)]
        async with echo() as (_, up), gateway(routes, [service("s1", "127.0.0.1", up)]) as gw:
            response = await request(gw.port, get("/anything", host="Kept.example:81"))
            headers = dict((name.lower(), value) for name, value in response.json()["headers"])
            assert headers["host"] == "Kept.example:81"
    run(main())


def _is_request_id(value: str | None) -> bool:
    return value is not None and len(value) == 32 and all(c in "0123456789abcdef" for c in value)


def test_gateway_errors_have_kongs_bodies_and_request_ids():
    async def main():
        dead = dead_port()
        routes = [Route("r1", "/refused", "s-dead"), Route("r2", "/empty", "s-empty"), Route("r3", "/slow", "s-slow"),
                  Route("r4", "/orphan", None)]
        async with echo() as (_, up):
            services = [service("s-dead", "127.0.0.1", dead, retries=0), service("s-empty", "empty-upstream", 80),
                        service("s-slow", "127.0.0.1", up, read_timeout=200, retries=0)]
            async with gateway(routes, services, {"empty-upstream": Balancer("empty-upstream", [])}) as gw:
                cases = [("/nowhere", 404, "no Route matched with those values"),
                         ("/refused", 502, "An invalid response was received from the upstream server"),
                         ("/empty", 503, "failure to get a peer from the ring-balancer"),
                         ("/slow/delay/2000", 504, "The upstream server is timing out"),
                         ("/orphan", 503, "no Service found with those values")]
                seen = set()
                for path, status, message in cases:
                    response = await request(gw.port, get(path, extra="Accept: application/json\r\n"))
                    assert response.status == status, path
                    assert response.header("Content-Type") == "application/json; charset=utf-8"
                    body = response.json()
                    assert body["message"] == message
                    assert body["request_id"] == response.header("X-Kong-Request-Id")
                    assert _is_request_id(body["request_id"])
                    assert response.header("Server") == "gantry/0.1.0"
                    seen.add(body["request_id"])
                assert len(seen) == len(cases)
                # kong.response.error defaults to JSON; nginx error pages to error_default_type
                response = await request(gw.port, get("/nowhere"))
                assert response.header("Content-Type") == "application/json; charset=utf-8"
                assert response.body.startswith(b'{\n  "message":"no Route matched with those values",\n  "request_id":"')
                assert response.header("X-Kong-Response-Latency") is not None
                response = await request(gw.port, get("/refused"))
                assert response.header("Content-Type") == "text/plain; charset=utf-8"
                assert response.body.decode().startswith("An invalid response was received from the upstream server\nrequest_id: ")
                response = await request(gw.port, get("/refused", extra="Accept: text/html\r\n"))
                assert response.header("Content-Type") == "text/html; charset=utf-8"
    run(main())


@pytest.mark.slow  # outlasts a 1 s upstream delay
def test_misbehaving_upstream_does_not_poison_the_pool():
    async def main():
        async with echo() as (_, up), gateway([Route("r1", "/", "s1", strip_path=False)],
                                               [service("s1", "127.0.0.1", up, read_timeout=300, retries=0)]) as gw:
            client = await Client.open(gw.port)
            for bad, status in (("/reset", 502), ("/garbage", 502), ("/delay/1000", 504), ("/close", 200)):
                await client.send(get("/anything"))
                (response,) = await client.read()
                assert response.status == 200
                await client.send(get(bad))
                (response,) = await client.read()
                assert response.status == status, bad
                for _ in range(3):  # same client connection: gateway errors keep it alive
                    await client.send(get("/anything"))
                    (response,) = await client.read()
                    assert response.status == 200, f"after {bad}"
            client.close()
            # its late answer goes to a connection the gateway dropped, before the next request
            await asyncio.sleep(1.0)  # the point: outlast the upstream's scripted 1 s delay
            response = await request(gw.port, get("/anything"))
            assert response.status == 200
    run(main())


class OneShotUpstream(asyncio.Protocol):
    """Answers the first request of each connection with keep-alive, then closes the connection
    when the next request arrives, without answering: the race a pooled connection can lose."""

    served = 0

    def connection_made(self, transport):
        self.transport = transport
        self.requests = 0

    def data_received(self, data):
        self.requests += 1
        if self.requests == 1:
            OneShotUpstream.served += 1
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        else:
            self.transport.close()


def test_upstream_keepalive_reuses_connections_and_recovers_from_stale_ones():
    async def main():
        async with echo() as (server, up), gateway([Route("r1", "/", "s1", strip_path=False)],
                                                    [service("s1", "127.0.0.1", up, retries=0)]) as gw:
            for _ in range(5):
                assert (await request(gw.port, get("/anything"))).status == 200
            stats = (await request(up, b"GET /__stats HTTP/1.1\r\nHost: x\r\n\r\n")).json()
            assert stats["connections"] == 2  # one pooled upstream connection + this stats one
        loop = asyncio.get_running_loop()
        oneshot = await loop.create_server(OneShotUpstream, "127.0.0.1", 0)
        port = oneshot.sockets[0].getsockname()[1]
        async with gateway([Route("r1", "/", "s1", strip_path=False)], [service("s1", "127.0.0.1", port, retries=0)]) as gw:
            for _ in range(3):
                response = await request(gw.port, get("/anything"))
                assert response.status == 200 and bytes(response.body) == b"ok"
            response = await request(gw.port, b"POST /anything HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx")
            assert response.status == 502  # not replayed: not idempotent
        oneshot.close()
        assert OneShotUpstream.served == 3
    run(main())


class ScriptedHeadUpstream(asyncio.Protocol):
    """Answers by path, to exercise how the gateway reads upstream response heads: interim 1xx
    heads before the final one (in the same write or apart), a head trickling in a few bytes at
    a time, and a head that never ends within the gateway's limit."""

    FINAL = b"HTTP/1.1 200 OK\r\nX-Final: yes\r\nContent-Length: 2\r\n\r\nok"
    EARLY = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        path = data.split(b" ", 2)[1]
        loop = asyncio.get_running_loop()
        if path == b"/interim-joined":
            self.transport.write(self.EARLY + self.FINAL)
        elif path == b"/interim-apart":
            self.transport.write(self.EARLY)
            loop.call_later(0.05, self.transport.write, self.FINAL)
        elif path == b"/trickle":
            for at in range(0, len(self.FINAL), 7):
                loop.call_later(0.002 * at, self.transport.write, self.FINAL[at:at + 7])
        elif path == b"/huge-head":
            self.transport.write(b"HTTP/1.1 200 OK\r\n" + b"X-Filler: " + b"a" * 100 + b"\r\n")
            for _ in range(700):  # 70 KB of header lines, never ended
                self.transport.write(b"X-Filler: " + b"a" * 100 + b"\r\n")
        else:
            self.transport.write(self.FINAL)


def test_upstream_heads_read_whole_whatever_their_shape():
    async def main():
        loop = asyncio.get_running_loop()
        upstream = await loop.create_server(ScriptedHeadUpstream, "127.0.0.1", 0)
        port = upstream.sockets[0].getsockname()[1]
        async with gateway([Route("r1", "/", "s1", strip_path=False)], [service("s1", "127.0.0.1", port, retries=0)]) as gw:
            client = await Client.open(gw.port)
            for path in ("/interim-joined", "/interim-apart", "/trickle", "/plain"):
                await client.send(get(path))
                (response,) = await client.read()
                # interim heads are not relayed; the final head is, filtered like any other
                assert response.status == 200, path
                assert response.header("X-Final") == "yes" and response.header("Link") is None, path
                assert bytes(response.body) == b"ok", path
            await client.send(get("/huge-head"))
            (response,) = await client.read()
            assert response.status == 502
            await client.send(get("/plain"))  # the same client connection goes on
            (response,) = await client.read()
            assert response.status == 200 and bytes(response.body) == b"ok"
            client.close()
        upstream.close()
    run(main())


def test_retries_move_to_the_next_target():
    async def main():
        dead = dead_port()
        async with echo("alive") as (_, up):
            balancer = Balancer("pool", [("127.0.0.1", dead), ("127.0.0.1", up)])
            async with gateway([Route("r1", "/", "s1", strip_path=False)], [service("s1", "pool", 80, retries=1)],
                               {"pool": balancer}) as gw:
                for _ in range(4):
                    response = await request(gw.port, get("/anything"))
                    assert response.status == 200
                    assert response.json()["upstream"] == "alive"
                    headers = dict((k.lower(), v) for k, v in response.json()["headers"])
                    assert headers["host"] == f"127.0.0.1:{up}"
            balancer = Balancer("pool", [("127.0.0.1", dead)])
            async with gateway([Route("r1", "/", "s1", strip_path=False)], [service("s1", "pool", 80, retries=2)],
                               {"pool": balancer}) as gw:
                response = await request(gw.port, get("/anything"))
                assert response.status == 502
                assert balancer.index == 3  # first try + 2 retries
    run(main())


def test_response_headers_per_the_headers_setting():
    async def main():
        routes = [Route("r1", "/", "s1", strip_path=False)]
        async with echo() as (_, up):
            async with gateway(routes, [service("s1", "127.0.0.1", up)]) as gw:
                response = await request(gw.port, get("/anything"))
                assert response.header("Via") == "1.1 gantry/0.1.0"
                assert response.header("Server") == "gantry/0.1.0"  # the echo server sends none
                assert int(response.header("X-Kong-Upstream-Latency")) >= 0
                assert int(response.header("X-Kong-Proxy-Latency")) >= 0
                assert _is_request_id(response.header("X-Kong-Request-Id"))
                assert response.header("Date") is not None
            async with gateway(routes, [service("s1", "127.0.0.1", up)], settings=ProxySettings(headers=frozenset())) as gw:
                for path in ("/anything", "/nowhere-but-routed-anyway"):
                    response = await request(gw.port, get(path))
                    for name in ("Via", "Server", "X-Kong-Upstream-Latency", "X-Kong-Proxy-Latency",
                                 "X-Kong-Request-Id", "X-Kong-Response-Latency"):
                        assert response.header(name) is None, name
            async with gateway(routes, [service("s1", "127.0.0.1", up)],
                               settings=ProxySettings(headers=frozenset({"X-Kong-Request-Id"}),
                                                      headers_upstream=frozenset())) as gw:
                response = await request(gw.port, get("/anything", extra="X-Kong-Request-Id: client-value\r\n"))
                assert response.header("Via") is None
                assert _is_request_id(response.header("X-Kong-Request-Id"))
                headers = dict((k.lower(), v) for k, v in response.json()["headers"])
                assert headers["x-kong-request-id"] == "client-value"  # not ours upstream: passed through
    run(main())


def test_https_only_routes():
    async def main():
        routes = [Route("r1", "/up", "s1", https_redirect_status=426), Route("r2", "/moved", "s1", https_redirect_status=308)]
        async with echo() as (_, up), gateway(routes, [service("s1", "127.0.0.1", up)]) as gw:
            response = await request(gw.port, get("/up/x?y=1", host="shop.example:8000"))
            assert response.status == 426
            assert response.json()["message"] == "Please use HTTPS protocol"
            assert response.header("Upgrade") == "TLS/1.2, HTTP/1.1"
            response = await request(gw.port, get("/moved/x?y=1", host="shop.example:8000"))
            assert response.status == 308
            assert response.header("Location") == "https://shop.example/moved/x?y=1"
            assert await upstream_requests(up) == 0
    run(main())


def test_expect_100_continue():
    async def main():
        async with echo() as (_, up), gateway([Route("r1", "/", "s1", strip_path=False)], [service("s1", "127.0.0.1", up)]) as gw:
            reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
            writer.write(b"POST /anything HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
            interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
            writer.write(b"body")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            writer.close()
    run(main())


def test_upstream_tls(tmp_path):
    ca = trustme.CA()
    other_ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(cert_file)
    cert.private_key_pem.write_to_path(key_file)

    async def main():
        async with echo("tls", tls=(str(cert_file), str(key_file))) as (_, up):
            cas = [{"id": "ca-good", "cert": ca.cert_pem.bytes().decode()},
                   {"id": "ca-other", "cert": other_ca.cert_pem.bytes().decode()}]
            services = [
                service("good", "localhost", up, protocol="https", tls_verify=True, ca_certificates=["ca-good"]),
                service("wrong", "localhost", up, protocol="https", tls_verify=True, ca_certificates=["ca-other"], retries=0),
                service("noverify", "127.0.0.1", up, protocol="https"),
            ]
            routes = [Route("r1", "/good", "good"), Route("r2", "/wrong", "wrong"), Route("r3", "/noverify", "noverify")]
            async with gateway(routes, services, ca_certificates=cas) as gw:
                response = await request(gw.port, get("/good/anything"))
                assert response.status == 200 and response.json()["upstream"] == "tls"
                headers = dict((k.lower(), v) for k, v in response.json()["headers"])
                assert headers["host"] == f"localhost:{up}"
                response = await request(gw.port, get("/good/anything"))
                assert response.status == 200
                response = await request(gw.port, get("/wrong/anything"))
                assert response.status == 502
                response = await request(gw.port, get("/noverify/anything"))
                assert response.status == 200
    run(main())


def test_access_log_and_counters(tmp_path):
    path = tmp_path / "access.log"

    async def main():
        settings = ProxySettings(access_log=str(path))
        async with echo() as (_, up), gateway([Route("r1", "/", "s1", strip_path=False)], [service("s1", "127.0.0.1", up)],
                                               settings=settings) as gw:
            response = await request(gw.port, get("/anything?a=1", extra='User-Agent: t"est\r\nReferer: http://r/\r\n'
                                                                           "Authorization: Basic dXNlcjpwYXNz\r\n"))
            assert not path.read_text()  # buffered, not written per request
            request_id = response.header("X-Kong-Request-Id")
            await request(gw.port, get("/nowhere-404"))
            assert gw.state.counters[TOTAL_REQUESTS] == 2
            await wait_for_async(lambda: gw.state.counters[ACTIVE_CONNECTIONS] == 0, message="no connection left")
        lines = path.read_text().splitlines()
        assert len(lines) == 2
        first = lines[0]
        assert first.startswith("127.0.0.1 - user [")
        assert '"GET /anything?a=1 HTTP/1.1" 200 ' in first
        assert first.endswith(f'"http://r/" "t\\x22est" kong_request_id: "{request_id}"')
    run(main())


def test_drain_finishes_in_flight_requests_and_closes_idle_connections():
    async def main():
        async with echo() as (_, up), gateway([Route("r1", "/", "s1", strip_path=False)], [service("s1", "127.0.0.1", up)]) as gw:
            idle = await Client.open(gw.port)
            await idle.send(get("/anything"))
            await idle.read()
            busy = await Client.open(gw.port)
            await busy.send(get("/delay/300"))

            async def in_flight() -> bool:
                return await upstream_requests(up) == 2

            await wait_for_async(in_flight, message="the slow request at the upstream")
            drain = asyncio.ensure_future(gw.state.drain(5))
            assert await idle.closed(2)
            (response,) = await busy.read()
            assert response.status == 200 and response.header("Connection") == "close"
            await drain
            assert not gw.state.connections
    run(main())


def test_with_the_native_router_and_balancer():
    from dataplane import _core

    if not hasattr(_core, "Router"):
        pytest.skip("native module built without the router")

    async def main():
        async with echo("a") as (_, port_a), echo("b") as (_, port_b):
            services = [service("s1", "pool", 80, path="/anything")]
            route = {"id": "r1", "name": "r1", "paths": ["/api"], "strip_path": True, "protocols": ["http", "https"],
                     "service": {"id": "s1"}, "preserve_host": False, "path_handling": "v0",
                     "https_redirect_status_code": 426, "regex_priority": 0, "hosts": None, "methods": None,
                     "headers": None, "snis": None, "sources": None, "destinations": None, "tags": None,
                     "request_buffering": True, "response_buffering": True}
            router = _core.Router.from_json([orjson.dumps(route)], [orjson.dumps(s) for s in services])
            upstream = {"id": "u1", "name": "pool", "algorithm": "round-robin"}
            targets = [{"id": f"t{i}", "target": f"127.0.0.1:{port}", "weight": 100, "upstream": {"id": "u1"}}
                       for i, port in enumerate((port_a, port_b))]
            balancer = _core.Balancer.from_json(orjson.dumps(upstream), [orjson.dumps(t) for t in targets])
            settings = ProxySettings()
            runtime = Runtime.build(1, "0" * 32, router, services, {"pool": balancer}, [], settings, upstreams=[upstream])
            state = ProxyState(settings, runtime)
            server = await asyncio.get_running_loop().create_server(make_protocol_factory(state), "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            seen = set()
            for _ in range(4):
                response = await request(port, get("/api/x?q=1"))
                assert response.status == 200
                body = response.json()
                assert body["path"] == "/anything/x" and body["query"] == "q=1"
                seen.add(body["upstream"])
            assert seen == {"a", "b"}
            assert (await request(port, get("/other"))).status == 404
            server.close()
            await state.drain(1)
    run(main())
