"""http-log: each request's record (``kong.log.serialize()``) sent as JSON to an HTTP collector
(Kong's kong/plugins/http-log), through Kong's queue (``_queue``): the log phase queues the
record and returns; the worker's queue task POSTs it (or a JSON array of up to
``queue.max_batch_size`` records), retrying a failed send with back-off. A down, slow or failing
collector costs the queue's bounded memory and log lines, never a request's time.

As Kong: userinfo in ``http_endpoint`` is sent as ``Authorization: Basic`` (with an
``Authorization`` among ``headers`` refused), the endpoint's query is not sent (Kong sends the
path only), a status of 300 or above is a failure retried, an https collector's certificate is
not verified, and the deprecated ``queue_size`` and ``flush_timeout`` stand for
``queue.max_batch_size`` and ``queue.max_coalescing_delay`` when set to other than their old
defaults (``retry_count`` is accepted and does nothing: ``queue.max_retry_time`` rules).
Connections to the collector are kept ``keepalive`` ms; ``timeout`` ms bounds the connect, the
write and each read.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
import time
from typing import Any
from urllib.parse import urlsplit

import h11

from dataplane import __version__
from dataplane.schema import Field, typedefs as t
from dataplane.schema.fields import record

from . import _queue
from ._log_plugins import custom_fields_by_lua, entry, lua_text, reason

priority = 12
version = "3.10.0"

log = logging.getLogger("gantry.plugins")

CONTENT_TYPES = ("application/json", "application/json; charset=utf-8")
_HEADER_NAME = t.header_name(
    match_none=(
        (r"^[Hh][Oo][Ss][Tt]$", "cannot contain 'Host' header"),
        (r"^[Cc][Oo][Nn][Tt][Ee][Nn][Tt]-[Ll][Ee][Nn][Gg][Tt][Hh]$", "cannot contain 'Content-Length' header"),
        (r"^[Cc][Oo][Nn][Tt][Ee][Nn][Tt]-[Tt][Yy][Pp][Ee]$", "cannot contain 'Content-Type' header"),
    )
)


def _check(config: dict[str, Any]) -> str | None:
    endpoint = config.get("http_endpoint")
    if not isinstance(endpoint, str) or not config.get("headers"):
        return None
    if "@" in urlsplit(endpoint).netloc and any(name.lower() == "authorization" for name in config["headers"]):
        return "specifying both an 'Authorization' header and user info in 'http_endpoint' is not allowed"
    return None


Schema = record(
    ("http_endpoint", t.url(required=True)),
    ("method", Field("string", default="POST", one_of=("POST", "PUT", "PATCH"))),
    ("content_type", Field("string", default="application/json", one_of=CONTENT_TYPES)),
    ("timeout", Field("number", default=10000)),
    ("keepalive", Field("number", default=60000)),
    ("retry_count", Field("integer", description="deprecated: config.queue.max_retry_time rules")),
    ("queue_size", Field("integer", description="deprecated: config.queue.max_batch_size")),
    ("flush_timeout", Field("number", description="deprecated: config.queue.max_coalescing_delay")),
    ("headers", Field("map", keys=_HEADER_NAME, values=Field("string"))),
    ("queue", _queue.Schema),
    ("custom_fields_by_lua", custom_fields_by_lua),
    required=True,
    custom_validator=_check,
)

# Kong warns about a deprecated parameter at most once a minute per queue
_WARNING_INTERVAL = 60.0
_warned: dict[tuple[str, str], float] = {}


def _warn(name: str, message: str) -> None:
    now = time.monotonic()
    key = (name, message)
    if now - _warned.get(key, -_WARNING_INTERVAL) >= _WARNING_INTERVAL:
        _warned[key] = now
        log.warning("[http-log] %s", message)


def queue_name(config: dict[str, Any]) -> str:
    """Kong's: http-log configs with the same collector parameters share a queue."""
    return ":".join(
        lua_text(config.get(key))
        for key in ("http_endpoint", "method", "content_type", "timeout", "keepalive", "retry_count")
    )


# Kong's deprecated fields standing for queue parameters: (field, old default, queue parameter)
_LEGACY = (("queue_size", 1, "max_batch_size"), ("flush_timeout", 2, "max_coalescing_delay"))


def queue_params(config: dict[str, Any], name: str) -> _queue.Params:
    """The queue's parameters, Kong's deprecated fields read into them (Queue.get_plugin_params)."""
    queue = dict(config.get("queue") or {})
    retry_count = config.get("retry_count")
    if retry_count is not None and retry_count != 10:
        _warn(
            name,
            "the retry_count parameter no longer works, please update your configuration to use "
            "initial_retry_delay and max_retry_time instead",
        )
    for field, old_default, parameter in _LEGACY:
        value = config.get(field)
        if value is not None and value != old_default:
            queue[parameter] = value
            _warn(
                name,
                f"the {field} parameter is deprecated, please update your configuration to use queue.{parameter} "
                "instead",
            )
    return _queue.Params.of(queue)


class Collector:
    """The HTTP requests to one collector, over kept-alive connections (h11 framing)."""

    MAX_IDLE = 8
    MAX_ERROR_BODY = 4096

    def __init__(self, config: dict[str, Any]) -> None:
        parts = urlsplit(config["http_endpoint"])
        self.scheme = parts.scheme.lower()
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.scheme == "https" else 80)
        self.target = (parts.path or "/").encode()
        userinfo, at, hostport = parts.netloc.rpartition("@")
        self.host_header = hostport.encode()
        self.method = config["method"].encode()
        self.timeout = config["timeout"] / 1000
        # ms a kept connection may idle; 0 keeps it as long as the collector does (cosockets')
        self.keepalive = config["keepalive"] / 1000 or float("inf")
        fixed: list[tuple[bytes, bytes]] = [
            (b"Host", self.host_header),
            (b"User-Agent", f"gantry/{__version__}".encode()),
            (b"Content-Type", config["content_type"].encode()),
        ]
        if at:
            fixed.append((b"Authorization", b"Basic " + base64.b64encode(userinfo.encode())))
        taken = {name.lower() for name, _ in fixed}
        for name, value in (config.get("headers") or {}).items():
            if name.lower().encode() not in taken:  # never Host, Content-Type or Authorization
                fixed.append((name.encode(), value.encode()))
        self.headers = fixed
        self.ssl: ssl.SSLContext | None = None
        if self.scheme == "https":
            self.ssl = ssl.create_default_context()
            self.ssl.check_hostname = False
            self.ssl.verify_mode = ssl.CERT_NONE  # Kong's http-log sends with ssl_verify off
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, h11.Connection, float]] = []

    def where(self) -> str:
        return f"{self.host}:{self.port}"

    async def send(self, body: bytes) -> None:
        """One request; raises with Kong's message when it failed or the status is 300 or above."""
        connection = self._idle()
        if connection is not None:
            try:
                status, answer, reusable = await self._exchange(connection, body)
            except _Stale:
                connection = None  # the collector closed the kept connection: a new one
        if connection is None:
            try:
                async with asyncio.timeout(self.timeout):
                    reader, writer = await asyncio.open_connection(
                        self.host, self.port, ssl=self.ssl, server_hostname=self.host if self.ssl else None
                    )
            except (OSError, TimeoutError, ssl.SSLError) as err:
                raise RuntimeError(f"failed request to {self.where()}: {reason(err)}") from None
            connection = (reader, writer, h11.Connection(h11.CLIENT))
            try:
                status, answer, reusable = await self._exchange(connection, body)
            except _Stale as err:
                raise RuntimeError(f"failed request to {self.where()}: {err}") from None
        if reusable and len(self.idle) < self.MAX_IDLE:
            self.idle.append((*connection, time.monotonic() + self.keepalive))
        else:
            connection[1].close()
        log.debug("http-log sent data log server, %s HTTP status %d", self.where(), status)
        if status >= 300:
            raise RuntimeError(
                f"request to {self.where()} returned status code {status} and body " + answer.decode("utf-8", "replace")
            )

    def _idle(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, h11.Connection] | None:
        now = time.monotonic()
        while self.idle:
            reader, writer, conn, expires = self.idle.pop()
            if expires > now and not writer.is_closing() and not reader.at_eof():
                return reader, writer, conn
            writer.close()
        return None

    async def _exchange(
        self, connection: tuple[asyncio.StreamReader, asyncio.StreamWriter, h11.Connection], body: bytes
    ) -> tuple[int, bytes, bool]:
        reader, writer, conn = connection
        headers = [*self.headers, (b"Content-Length", str(len(body)).encode())]
        answered = False
        try:
            data = conn.send(h11.Request(method=self.method, target=self.target, headers=headers))
            data += conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage())
            writer.write(data)
            async with asyncio.timeout(self.timeout):
                await writer.drain()
            status = 0
            kept: list[bytes] = []
            size = 0
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    async with asyncio.timeout(self.timeout):
                        chunk = await reader.read(65536)
                    if not chunk and not answered:
                        raise _Stale("connection closed before a response")
                    conn.receive_data(chunk)
                    continue
                if isinstance(event, h11.Response):
                    answered = True
                    status = event.status_code
                elif isinstance(event, h11.Data):
                    if size < self.MAX_ERROR_BODY:
                        kept.append(bytes(event.data[: self.MAX_ERROR_BODY - size]))
                    size += len(event.data)
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    raise _Stale("connection closed")
        except _Stale:
            writer.close()
            raise
        except TimeoutError:
            writer.close()
            raise RuntimeError(f"failed request to {self.where()}: timeout") from None
        except (OSError, ssl.SSLError, h11.ProtocolError) as err:
            writer.close()
            if not answered and isinstance(err, (ConnectionResetError, BrokenPipeError)):
                raise _Stale(reason(err)) from None
            raise RuntimeError(f"failed request to {self.where()}: {reason(err)}") from None
        reusable = conn.our_state is h11.DONE and conn.their_state is h11.DONE
        if reusable:
            conn.start_next_cycle()
        return status, b"".join(kept), reusable

    def close(self) -> None:
        for _, writer, _, _ in self.idle:
            writer.close()
        self.idle.clear()


class _Stale(Exception):
    """A connection that ended before answering (a kept one the collector closed)."""


class Plugin:
    def __init__(self, config: dict[str, Any]) -> None:
        self.name = queue_name(config)
        self.params = queue_params(config, self.name)
        self.tag = _queue.log_tag("http-log", config)
        self.collector = Collector(config)

    async def send(self, batch: list[bytes]) -> None:
        single = len(batch) == 1 and self.params.max_batch_size == 1  # else a JSON array, as Kong's
        await self.collector.send(batch[0] if single else b"[" + b",".join(batch) + b"]")

    def log(self, kong: Any) -> None:
        failed = _queue.QUEUES.enqueue(self.name, self.tag, self.params, self.send, entry(kong))
        if failed is not None:
            kong.log.err("Failed to enqueue log entry to log server: ", failed)
