"""demo.echo_upstream as a test upstream: in a process of its own (`Upstream`, for gateways in
other processes) or on the test's event loop (`echo`, for the in-process gateway)."""

from __future__ import annotations

import contextlib
import http.client
import json
import subprocess
import sys

from demo.echo_upstream import serve
from tests.support.async_client import request
from tests.support.paths import ROOT


class Upstream:
    """demo.echo_upstream in its own process."""

    def __init__(self, name: str = "echo", tls: tuple[str, str] | None = None) -> None:
        cmd = [sys.executable, "-m", "demo.echo_upstream", "--port", "0", "--name", name]
        if tls:
            cmd += ["--tls", *tls]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        self.port = int(line.rsplit(":", 1)[1])
        self.name = name

    def stats(self) -> dict:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        conn.request("GET", "/__stats")
        data = json.loads(conn.getresponse().read())
        conn.close()
        return data

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@contextlib.asynccontextmanager
async def echo(name: str = "echo", tls: tuple[str, str] | None = None):
    """An echo upstream on the running loop: (its server, its port)."""
    server = await serve(0, name, tls)
    try:
        yield server, server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def upstream_requests(port: int) -> int:
    """How many requests the echo upstream on `port` has counted (its /__stats)."""
    response = await request(port, b"GET /__stats HTTP/1.1\r\nHost: x\r\n\r\n")
    return response.json()["requests"]
