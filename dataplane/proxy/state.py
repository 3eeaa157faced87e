"""``ProxyState``: what one worker's proxy shares between its connections."""

from __future__ import annotations

import asyncio
import logging
from array import array
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from dataplane._core import ClientHeadFilter
from dataplane.plugins import background
from dataplane.workerstate import ACCEPTED_CONNECTIONS, ACTIVE_CONNECTIONS, TOTAL_REQUESTS

from . import forwarding
from .access_log import AccessLog
from .dns import DnsCache
from .pool import UpstreamPool
from .response import STATUS_LINES
from .runtime import Runtime
from .settings import PROXY_LATENCY, REQUEST_ID, RESPONSE_LATENCY, SERVER, UPSTREAM_LATENCY, VIA, ProxySettings

if TYPE_CHECKING:
    from .server import ProxyProtocol

log = logging.getLogger("gantry.proxy")

__all__ = ["ACCEPTED_CONNECTIONS", "ACTIVE_CONNECTIONS", "TOTAL_REQUESTS", "ProxyState"]


class ProxyState:
    """``runtime`` is swapped by the worker with one assignment (None until the first config:
    every request then gets Kong's 404). ``counters`` is an int64 view whose slots
    ``ACTIVE_CONNECTIONS``, ``TOTAL_REQUESTS`` and ``ACCEPTED_CONNECTIONS`` are incremented here."""

    __slots__ = (
        "runtime",
        "settings",
        "pool",
        "dns",
        "counters",
        "access_log",
        "connections",
        "draining",
        "via_line",
        "server_line",
        "via_on",
        "server_on",
        "proxy_latency_on",
        "upstream_latency_on",
        "response_latency_on",
        "request_id_on",
        "planner",
        "client_head",
        "log_tasks",
    )

    def __init__(
        self,
        settings: ProxySettings,
        runtime: Runtime | None = None,
        *,
        counters: memoryview | None = None,
        access_log: AccessLog | None = None,
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.pool = UpstreamPool(
            settings.upstream_keepalive_pool_size,
            settings.upstream_keepalive_max_requests,
            settings.upstream_keepalive_idle_timeout,
        )
        self.dns = DnsCache(settings)
        self.counters = counters if counters is not None else memoryview(array("q", [0] * 8))
        if access_log is None and settings.access_log:
            access_log = AccessLog(settings.access_log)
        self.access_log = access_log
        self.connections: set[ProxyProtocol] = set()
        self.draining = False
        # Derived once from the settings, read on every request.
        enabled = settings.headers
        self.via_on = VIA in enabled
        self.server_on = SERVER in enabled
        self.proxy_latency_on = PROXY_LATENCY in enabled
        self.upstream_latency_on = UPSTREAM_LATENCY in enabled
        self.response_latency_on = RESPONSE_LATENCY in enabled
        self.request_id_on = REQUEST_ID in enabled
        via = settings.server_tokens.encode()
        outbound_via = b"1.1 " + via
        self.via_line = b"Via: %s\r\n" % outbound_via
        self.server_line = b"Server: %s\r\n" % via
        self.client_head = ClientHeadFilter(
            [STATUS_LINES[code] for code in range(100, 1000)],
            outbound_via if self.via_on else None,
            self.server_line if self.server_on else None,
            self.upstream_latency_on,
            self.proxy_latency_on,
            self.request_id_on,
        )
        # Reads heads while no config is loaded (none is planned), and builds the upstream heads
        # of unplanned requests; each runtime has a routed one.
        self.planner = forwarding.request_planner(settings)
        # The coroutine log phases of plugins still running (held here so none is collected
        # half-way; a drain waits for them within its timeout)
        self.log_tasks: set[asyncio.Task[None]] = set()

    def run_log_phase(self, pending: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(pending)
        self.log_tasks.add(task)
        task.add_done_callback(self.log_tasks.discard)

    async def drain(self, timeout: float) -> None:
        """Stop keep-alive: idle client connections close now, busy ones after their current
        response; return when all are closed or ``timeout`` passed (the rest are aborted)."""
        self.draining = True
        for conn in list(self.connections):
            conn.drain()
        loop = asyncio.get_running_loop()
        background.drain(loop)  # the logging plugins' queues send what they hold, at once
        deadline = loop.time() + timeout
        while (self.connections or self.log_tasks or background.pending(loop)) and loop.time() < deadline:
            await asyncio.sleep(0.05)
        for conn in list(self.connections):
            log.warning("drain timeout: aborting a client connection still busy")
            conn.abort()
        self.pool.close()
        if self.access_log is not None:
            self.access_log.flush()
