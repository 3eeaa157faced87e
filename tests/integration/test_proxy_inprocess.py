"""The proxy in-process: a ProxyProtocol server on 127.0.0.1:0 in front of demo echo upstreams,
driven with real sockets and raw bytes. Router and balancer are small stand-ins honouring the
``dataplane._core`` contract (RouteMatch.upstream_path already built), so these tests exercise
the proxy alone."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
from dataclasses import dataclass

import httptools
import orjson
import pytest
import trustme
import uvloop

from dataplane.proxy import ProxySettings, ProxyState, Runtime, make_protocol_factory
from dataplane.proxy.state import ACTIVE_CONNECTIONS, TOTAL_REQUESTS
from demo.echo_upstream import serve


# -- stand-ins for the native router and balancer ------------------------------------------------

@dataclass
class Match:
    route_id: str
    service_id: str | None
    upstream_path: str
    preserve_host: bool = False
    https_redirect_status: int | None = None
    forwarded_prefix: str | None = None
    captures: dict | None = None


@dataclass
class Route:
    id: str
    prefix: str
    service_id: str | None
    service_path: str = "/"
    strip_path: bool = True
    preserve_host: bool = False
    https_redirect_status: int | None = None


class Router:
    header_names: list[str] = []

    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes

    def find(self, method, scheme, host, path, sni=None, headers=None):
        for route in self.routes:
            if path.startswith(route.prefix):
                rest = path[len(route.prefix):] if route.strip_path else path
                upstream = route.service_path.rstrip("/") + "/" + rest.lstrip("/") if rest else route.service_path
                redirect = route.https_redirect_status if scheme == "http" else None
                prefix = route.prefix if route.strip_path else None
                return Match(route.id, route.service_id, upstream, route.preserve_host, redirect, prefix)
        return None

    def __len__(self) -> int:
        return len(self.routes)


class Balancer:
    def __init__(self, name: str, targets: list[tuple[str, int]]) -> None:
        self.name = name
        self.targets_ = targets
        self.index = 0

    def pick(self):
        if not self.targets_:
            return None
        target = self.targets_[self.index % len(self.targets_)]
        self.index += 1
        return target


def service(id: str, host: str, port: int, **fields) -> dict:
    base = {"id": id, "name": id, "protocol": "http", "host": host, "port": port, "path": None, "retries": 5,
            "connect_timeout": 2000, "write_timeout": 5000, "read_timeout": 5000, "tls_verify": None,
            "tls_verify_depth": None, "ca_certificates": None}
    base.update(fields)
    return base


# -- harness ---------------------------------------------------------------------------------------

def run(coro):
    return uvloop.run(asyncio.wait_for(coro, 60))


class Gateway:
    def __init__(self, state: ProxyState, server: asyncio.AbstractServer) -> None:
        self.state = state
        self.server = server
        self.port = server.sockets[0].getsockname()[1]


@contextlib.asynccontextmanager
async def gateway(routes, services, balancers=None, settings=None, ca_certificates=None, upstreams=None):
    settings = settings or ProxySettings()
    runtime = Runtime.build(1, "0" * 32, Router(routes), services, balancers or {}, ca_certificates or [], settings,
                            upstreams=upstreams)
    state = ProxyState(settings, runtime)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(make_protocol_factory(state), "127.0.0.1", 0)
    try:
        yield Gateway(state, server)
    finally:
        server.close()
        await state.drain(2)


@contextlib.asynccontextmanager
async def echo(name="echo", tls=None):
    server = await serve(0, name, tls)
    try:
        yield server, server.sockets[0].getsockname()[1]
    finally:
        server.close()


class Response:
    def __init__(self) -> None:
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.body = bytearray()
        self.done = False
        self.version = ""

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def json(self):
        return orjson.loads(bytes(self.body))


class Client:
    """Raw-bytes HTTP client over one connection; parses responses with httptools."""

    def __init__(self, reader, writer, head_request=False) -> None:
        self.reader = reader
        self.writer = writer
        self.responses: list[Response] = []
        self.parser = httptools.HttpResponseParser(self)
        self.current: Response | None = None
        self.eof = False

    @classmethod
    async def open(cls, port: int) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        return cls(reader, writer)

    def on_message_begin(self):
        self.current = Response()

    def on_header(self, name, value):
        self.current.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self):
        self.current.status = self.parser.get_status_code()
        self.current.version = self.parser.get_http_version()

    def on_body(self, body):
        self.current.body += body

    def on_message_complete(self):
        self.current.done = True
        self.responses.append(self.current)
        self.current = None

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read(self, count: int = 1, timeout: float = 10) -> list[Response]:
        async def loop():
            while len(self.responses) < count:
                data = await self.reader.read(1 << 16)
                if not data:
                    self.eof = True
                    if self.current is not None and self.current.status and not self.current.done:
                        self.current.done = True  # close-delimited
                        self.responses.append(self.current)
                        self.current = None
                    break
                self.parser.feed_data(data)
        await asyncio.wait_for(loop(), timeout)
        taken, self.responses = self.responses[:count], self.responses[count:]
        return taken

    async def closed(self, timeout: float = 5) -> bool:
        try:
            data = await asyncio.wait_for(self.reader.read(1 << 16), timeout)
        except (ConnectionResetError, asyncio.TimeoutError):
            return True
        return data == b""

    def close(self) -> None:
        self.writer.close()


async def request(port: int, raw: bytes) -> Response:
    client = await Client.open(port)
    try:
        await client.send(raw)
        (response,) = await client.read()
        return response
    finally:
        client.close()


async def upstream_requests(port: int) -> int:
    response = await request(port, b"GET /__stats HTTP/1.1\r\nHost: x\r\n\r\n")
    return response.json()["requests"]


def get(path: str, host: str = "example.com", extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()


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
