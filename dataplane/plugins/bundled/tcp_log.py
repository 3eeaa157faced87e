"""tcp-log: each request's record (``kong.log.serialize()``) sent to a TCP collector as one line
of JSON (Kong's kong/plugins/tcp-log), optionally over TLS (``tls``, with ``tls_sni``; the
collector's certificate is not verified, as Kong's handshake does not). The log phase queues the
line; the worker's queue task writes the lines queued meanwhile over one kept connection
(``keepalive`` ms idle at most), ``timeout`` ms bounding the connect and each write. A line
that cannot be sent is logged and dropped, as Kong drops it (no retry); at most 10,000 lines
wait for a slow collector, the oldest dropped beyond.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from typing import Any

from dataplane.schema import Field, typedefs as t
from dataplane.schema.fields import record

from . import _queue
from ._log_plugins import custom_fields_by_lua, entry, lua_text, reason

priority = 7
version = "3.10.0"

log = logging.getLogger("gantry.plugins")

Schema = record(
    ("host", t.host(required=True, description="The IP address or host name to send data to.")),
    ("port", t.port(required=True, description="The port to send data to on the upstream server.")),
    ("timeout", Field("number", default=10000)),
    ("keepalive", Field("number", default=60000)),
    ("tls", Field("boolean", required=True, default=False)),
    ("tls_sni", Field("string")),
    ("custom_fields_by_lua", custom_fields_by_lua),
    required=True,
)

_QUEUE = _queue.Params(max_batch_size=1000, max_coalescing_delay=0, max_retry_time=-1)


class Plugin:
    def __init__(self, config: dict[str, Any]) -> None:
        self.host = config["host"]
        self.port = config["port"]
        self.timeout = config["timeout"] / 1000
        self.keepalive = config["keepalive"] / 1000 or float("inf")  # 0: no idle limit, as cosockets'
        self.ssl: ssl.SSLContext | None = None
        self.sni = config.get("tls_sni") or None
        if config["tls"]:
            self.ssl = ssl.create_default_context()
            self.ssl.check_hostname = False
            self.ssl.verify_mode = ssl.CERT_NONE
        self.name = "tcp-log:" + ":".join(
            lua_text(config.get(key)) for key in ("host", "port", "timeout", "keepalive", "tls", "tls_sni")
        )
        self.tag = _queue.log_tag("tcp-log", config)
        self.writer: asyncio.StreamWriter | None = None
        self.reader: asyncio.StreamReader | None = None
        self.idle_until = 0.0

    def where(self) -> str:
        return f"{self.host}:{self.port}"

    async def _connection(self) -> asyncio.StreamWriter:
        writer, reader = self.writer, self.reader
        if writer is not None and reader is not None:
            if time.monotonic() < self.idle_until and not writer.is_closing() and not reader.at_eof():
                return writer
            writer.close()
        self.writer = self.reader = None
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await asyncio.open_connection(
                    self.host, self.port, ssl=self.ssl, server_hostname=(self.sni or "") if self.ssl else None
                )
        except TimeoutError:
            raise RuntimeError(f"failed to connect to {self.where()}: timeout") from None
        except ssl.SSLError as err:
            raise RuntimeError(f"failed to perform TLS handshake to {self.where()}: {err}") from None
        except OSError as err:
            raise RuntimeError(f"failed to connect to {self.where()}: {reason(err)}") from None
        self.reader, self.writer = reader, writer
        return writer

    async def send(self, batch: list[bytes]) -> None:
        writer = await self._connection()
        try:
            writer.write(b"".join(line + b"\n" for line in batch))
            async with asyncio.timeout(self.timeout):
                await writer.drain()
        except (OSError, TimeoutError) as err:
            writer.close()
            self.writer = self.reader = None
            raise RuntimeError(f"failed to send data to {self.where()}: {reason(err)}") from None
        self.idle_until = time.monotonic() + self.keepalive

    def log(self, kong: Any) -> None:
        failed = _queue.QUEUES.enqueue(self.name, self.tag, _QUEUE, self.send, entry(kong))
        if failed is not None:
            kong.log.err("failed to queue a log line: ", failed)
