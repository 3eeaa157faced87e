"""The proxy in the test process: a ProxyProtocol server on 127.0.0.1:0 on the test's event
loop, routed by the native router. Routes and services are given as the router takes them; the
balancer is a small stand-in honouring the ``dataplane._core`` contract, so that tests choose
the targets.

    run(main())   # with, in main():
    async with echo() as (_, up), gateway([Route("r1", "/", "s1")], [service("s1", "127.0.0.1", up)]) as gw:
        response = await request(gw.port, get("/anything"))
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import orjson
import uvloop

from dataplane import _core
from dataplane.proxy import ProxySettings, ProxyState, Runtime, make_protocol_factory


@dataclass
class Route:
    """A prefix route to a service, compiled by the real router (``dataplane._core.Router``)."""

    id: str
    prefix: str
    service_id: str | None
    strip_path: bool = True
    preserve_host: bool = False
    https_redirect_status: int | None = None  # set: the route takes https only

    def entity(self) -> bytes:
        route = {
            "id": self.id,
            "paths": [self.prefix],
            "strip_path": self.strip_path,
            "preserve_host": self.preserve_host,
            "service": {"id": self.service_id} if self.service_id else None,
        }
        if self.https_redirect_status is not None:
            route.update(protocols=["https"], https_redirect_status_code=self.https_redirect_status)
        return orjson.dumps(route)


def router(routes: list[Route], services: list[dict]) -> _core.Router:
    return _core.Router.from_json([route.entity() for route in routes], [orjson.dumps(s) for s in services])


class Balancer:
    """Round-robin over the targets a test gives, in order (the calls the proxy makes of a
    round-robin `_core.Balancer`)."""

    algorithm = "round-robin"
    checks_health = False

    def __init__(self, name: str, targets: list[tuple[str, int]]) -> None:
        self.name = name
        self.targets_ = targets
        self.index = 0
        self.live = len(targets)

    def pick(self):
        if not self.targets_:
            return None
        target = self.targets_[self.index % len(self.targets_)]
        self.index += 1
        return target

    def address(self, slot: int):
        return self.targets_[slot] if 0 <= slot < len(self.targets_) else None

    def peer(self, value: bytes = b"", tried: list[int] = ()):  # type: ignore[assignment]
        """One pick (``index`` counts those made): the next target in order not in ``tried``."""
        n = len(self.targets_)
        for slot in [(self.index + i) % n for i in range(n)]:
            if slot not in tried:
                self.index += 1
                return (slot, *self.targets_[slot])
        return None


def service(id: str, host: str, port: int, **fields) -> dict:
    base = {
        "id": id,
        "name": id,
        "protocol": "http",
        "host": host,
        "port": port,
        "path": None,
        "retries": 5,
        "connect_timeout": 2000,
        "write_timeout": 5000,
        "read_timeout": 5000,
        "tls_verify": None,
        "tls_verify_depth": None,
        "ca_certificates": None,
    }
    base.update(fields)
    return base


def run(coro, timeout: float = 60):
    """Run a test's coroutine on uvloop, as the workers do, failing it after `timeout` seconds."""
    return uvloop.run(asyncio.wait_for(coro, timeout))


class InProcessGateway:
    def __init__(self, state: ProxyState, server: asyncio.AbstractServer) -> None:
        self.state = state
        self.server = server
        self.port = server.sockets[0].getsockname()[1]


@contextlib.asynccontextmanager
async def gateway(routes, services, balancers=None, settings=None, ca_certificates=None, upstreams=None):
    settings = settings or ProxySettings()
    runtime = Runtime.build(
        1,
        "0" * 32,
        router(routes, services),
        services,
        balancers or {},
        ca_certificates or [],
        settings,
        upstreams=upstreams,
    )
    state = ProxyState(settings, runtime)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(make_protocol_factory(state), "127.0.0.1", 0)
    try:
        yield InProcessGateway(state, server)
    finally:
        server.close()
        await state.drain(2)
