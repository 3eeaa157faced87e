"""udp-log: each request's record (``kong.log.serialize()``) sent to a UDP collector as one
datagram of JSON (Kong's kong/plugins/udp-log). The log phase queues the record; the worker's
queue task sends the datagrams from one socket kept per config (the name resolved when it is
made, within ``timeout`` ms). A datagram that cannot be sent is logged and dropped, as Kong's;
at most 10,000 wait, the oldest dropped beyond.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from dataplane.schema import Field, typedefs as t
from dataplane.schema.fields import record

from . import _queue
from ._log_plugins import custom_fields_by_lua, entry, lua_text, reason

priority = 8
version = "3.10.0"

log = logging.getLogger("gantry.plugins")

Schema = record(
    ("host", t.host(required=True)),
    ("port", t.port(required=True)),
    ("timeout", Field("number", default=10000)),
    ("custom_fields_by_lua", custom_fields_by_lua),
    required=True,
)

_QUEUE = _queue.Params(max_batch_size=1000, max_coalescing_delay=0, max_retry_time=-1)


class _Errors(asyncio.DatagramProtocol):
    """What the socket reports (an ICMP port unreachable, say): logged, the socket kept."""

    def __init__(self, where: str) -> None:
        self.where = where

    def error_received(self, exc: Exception) -> None:
        log.error("[udp-log] could not send data to %s: %s", self.where, reason(exc))


class Plugin:
    def __init__(self, config: dict[str, Any]) -> None:
        self.host = config["host"]
        self.port = config["port"]
        self.timeout = config["timeout"] / 1000
        self.name = "udp-log:" + ":".join(lua_text(config.get(key)) for key in ("host", "port", "timeout"))
        self.tag = _queue.log_tag("udp-log", config)
        self.transport: asyncio.DatagramTransport | None = None

    def where(self) -> str:
        return f"{self.host}:{self.port}"

    async def send(self, batch: list[bytes]) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            loop = asyncio.get_running_loop()
            try:
                async with asyncio.timeout(self.timeout):
                    transport, _ = await loop.create_datagram_endpoint(
                        lambda: _Errors(self.where()), remote_addr=(self.host, self.port)
                    )
            except TimeoutError:
                raise RuntimeError(f"could not connect to {self.where()}: timeout") from None
            except OSError as err:
                raise RuntimeError(f"could not connect to {self.where()}: {reason(err)}") from None
            self.transport = transport
        for datagram in batch:
            transport.sendto(datagram)

    def log(self, kong: Any) -> None:
        failed = _queue.QUEUES.enqueue(self.name, self.tag, _QUEUE, self.send, entry(kong))
        if failed is not None:
            kong.log.err("failed to queue a log line: ", failed)
