"""The ``redis`` policy: counters in a Redis server that every node using it shares, with
Kong's keys, so Kong and Gantry nodes on one Redis count together.

As Kong 3.x does with ``sync_rate = -1`` (the default; other values are redis_sync's), each
configured period's counter is incremented on every request, the request being judged by the
count before it (so refused requests count too), and a counter's TTL is set to its period's
nominal length when the increment creates it. The periods go in one pipeline: one round trip
per request. redis.asyncio keeps the worker's loop free while Redis answers; one client (with
its connection pool) per Redis server and credentials, per worker.
"""

from __future__ import annotations

import asyncio
import ssl
import weakref
from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import Connection

from dataplane.plugins import configuration
from dataplane.proxy.upstream_tls import client_context

from .windows import EXPIRATION, Window

# Kong's script: the increment that creates a counter also sets its TTL; the count before
INCREMENT = """
local count = redis.call("incr", KEYS[1])
if count == 1 then
  redis.call("expire", KEYS[1], ARGV[1])
end
return count - 1
"""

# per event loop (a client's connections belong to the loop that opened them)
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[Any, ...], aioredis.Redis]] = (
    weakref.WeakKeyDictionary()
)


class _TlsConnection(Connection):
    """A TLS connection with Gantry's client context (lua_ssl_trusted_certificate) and the
    configured SNI name, which redis-py's own TLS connection cannot send."""

    def __init__(self, *, tls: ssl.SSLContext, server_name: str | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tls = tls
        self.server_name = server_name

    def _connection_arguments(self) -> Mapping[str, Any]:
        arguments = dict(super()._connection_arguments())
        arguments["ssl"] = self.tls
        if self.server_name:
            arguments["server_hostname"] = self.server_name
        return arguments


def client(redis: dict[str, Any]) -> aioredis.Redis:
    """The client of this loop for one ``config.redis``."""
    clients = _clients.setdefault(asyncio.get_running_loop(), {})
    key = tuple(redis.get(name) for name in sorted(redis))
    found = clients.get(key)
    if found is None:
        found = clients[key] = aioredis.Redis(connection_pool=_pool(redis))
    return found


def _pool(redis: dict[str, Any]) -> aioredis.ConnectionPool:
    timeout = (redis.get("timeout") or 2000) / 1000
    options: dict[str, Any] = {
        "host": redis["host"],
        "port": redis["port"],
        "db": redis.get("database") or 0,
        "username": redis.get("username") or None,
        # Kong sends AUTH only for a non-empty password
        "password": redis.get("password") or None,
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "max_connections": 100,  # Kong's keepalive pool size
    }
    if redis.get("ssl"):
        conf = configuration.current()
        verify = bool(redis.get("ssl_verify"))
        # Kong's cosockets verify with the node's lua_ssl_trusted_certificate and depth
        tls = client_context(verify, (), conf.lua_ssl_trusted_certificate, verify_depth=conf.lua_ssl_verify_depth)
        tls.set_alpn_protocols([])  # nothing to negotiate with Redis
        # Kong's handshake checks the name only when server_name is given
        tls.check_hostname = verify and bool(redis.get("server_name"))
        options.update(connection_class=_TlsConnection, tls=tls, server_name=redis.get("server_name"))
    return aioredis.ConnectionPool(**options)


async def count(redis: dict[str, Any], windows: list[Window]) -> dict[str, float]:
    """Each period's usage before this request, this request counted. Raises
    redis.RedisError or OSError when Redis cannot be reached or answers an error."""
    pipe = client(redis).pipeline(transaction=False)
    for window in windows:
        pipe.eval(INCREMENT, 1, window.key, EXPIRATION[window.period])
    answers = await pipe.execute()
    return {window.period: int(answer) for window, answer in zip(windows, answers, strict=True)}
