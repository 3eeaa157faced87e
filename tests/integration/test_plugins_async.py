"""Coroutine phases of Gantry-native plugins through the real `dataplane run`: an ``async def
access`` that waits (as a Redis or HTTP call would) holds its request only, the chain goes on
after it in priority order, ``kong.response.exit`` from a coroutine ends the request, a failing
coroutine gets Kong's 500, a client that leaves mid-wait cancels it, and an ``async def log``
runs after the response."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
import textwrap
from pathlib import Path

import pytest

from tests.support.raw_client import raw_request
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(60)

PLUGIN = '''
import asyncio
import json

from dataplane.schema import Field
from dataplane.schema.fields import record

priority = 900
version = "1.0.0"
Schema = record(("wait", Field("number", default=0.05)), ("log_file", Field("string")), required=True)


class Plugin:
    def __init__(self, config):
        self.wait = config["wait"]
        self.log_file = config.get("log_file")

    async def access(self, kong):
        waited = kong.request.get_header("x-wait")
        await asyncio.sleep(float(waited) if waited else self.wait)
        if kong.request.get_header("x-fail"):
            raise RuntimeError("the collector answered nonsense")
        if kong.request.get_header("x-deny"):
            kong.response.exit(403, {"message": "denied after waiting"})
            return
        kong.ctx.shared["waited"] = "yes"
        kong.service.request.set_header("X-Waited", "yes")

    async def log(self, kong):
        await asyncio.sleep(0.01)
        with open(self.log_file, "a") as out:
            out.write(json.dumps({"status": kong.response.get_status(), "path": kong.request.get_path()}) + "\\n")
'''

# Runs after the waiting plugin (lower priority): sees what it left in kong.ctx.shared
AFTER = '''
priority = 800
version = "1.0.0"
Schema = ()


class Plugin:
    def __init__(self, config):
        pass

    def access(self, kong):
        kong.service.request.set_header("X-After", kong.ctx.shared.get("waited") or "not-yet")
'''


def config(port: int, log_file: Path) -> str:
    return textwrap.dedent(f"""
    _format_version: "3.0"
    services:
      - name: echo
        url: http://127.0.0.1:{port}
        routes:
          - name: waits
            paths: [/waits]
            plugins:
              - name: waiting
                config: {{log_file: {log_file}}}
              - name: after-waiting
          - name: plain
            paths: [/plain]
    """)


@pytest.fixture(scope="module")
def gw(module_gateway_factory, module_upstream, tmp_path_factory):
    root = tmp_path_factory.mktemp("async_plugins")
    (root / "waiting.py").write_text(PLUGIN)
    (root / "after_waiting.py").write_text(AFTER)
    log_file = root / "log.jsonl"
    gateway = module_gateway_factory(
        config(module_upstream.port, log_file),
        workers=1,
        conf={"plugins": "bundled,waiting,after-waiting"},
        env={"PYTHONPATH": str(root)},
    )
    gateway.log_file = log_file
    return gateway


def get(gw, path: str, *headers: str):
    head = "".join(f"{line}\r\n" for line in headers)
    return raw_request(gw.port, f"GET {path} HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode())


def test_the_chain_goes_on_after_a_coroutine_in_priority_order(gw):
    response = get(gw, "/waits")
    assert response.status == 200
    upstream = response.echoed_headers()
    assert upstream["x-waited"] == ["yes"]
    assert upstream["x-after"] == ["yes"]


def test_exit_from_a_coroutine_ends_the_request(gw, module_upstream):
    before = module_upstream.stats()["requests"]
    response = get(gw, "/waits", "X-Deny: 1")
    assert response.status == 403
    assert response.json() == {"message": "denied after waiting"}
    assert response.header("x-kong-response-latency") is not None
    assert module_upstream.stats()["requests"] == before


def test_a_failing_coroutine_gets_kongs_500_and_the_worker_goes_on(gw):
    response = get(gw, "/waits", "X-Fail: 1")
    assert response.status == 500
    assert response.json()["message"] == "An unexpected error occurred"
    assert b"RuntimeError" not in response.body
    wait_for(lambda: "the collector answered nonsense" in gw.error_log(), timeout=10)
    assert "plugin waiting failed in access" in gw.error_log()
    assert get(gw, "/plain").status == 200


def test_a_waiting_request_holds_only_itself(gw):
    """One worker: a request waiting 3 s in a plugin's coroutine does not hold another request
    of the same worker, which is answered while the first still waits."""

    async def both() -> list[str]:
        order: list[str] = []

        async def one(path: str, *headers: str) -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
            extra = "".join(f"{h}\r\n" for h in headers)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n".encode())
            await reader.read()
            order.append(path)
            writer.close()

        slow = asyncio.ensure_future(one("/waits", "X-Wait: 3"))
        await asyncio.sleep(0.2)
        await one("/plain")
        await slow
        return order

    assert asyncio.run(both()) == ["/plain", "/waits"]


def test_a_client_that_leaves_mid_wait_cancels_the_coroutine(gw):
    with socket.create_connection(("127.0.0.1", gw.port)) as sock:
        sock.sendall(b"GET /waits/leaving HTTP/1.1\r\nHost: x\r\nX-Wait: 5\r\n\r\n")
        time.sleep(0.2)
        # a reset, not a half-close (after which a client may still read its answer)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    wait_for(lambda: '"status": 499, "path": "/waits/leaving"' in gw.log_file.read_text(), timeout=10)
    assert get(gw, "/plain").status == 200


def test_a_coroutine_log_phase_runs_after_the_response(gw):
    get(gw, "/waits/logged")
    wait_for(lambda: '"status": 200, "path": "/waits/logged"' in gw.log_file.read_text(), timeout=10)
