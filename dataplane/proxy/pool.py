"""Per-worker keep-alive pool of upstream connections.

Keyed by (address, port, TLS context, SNI): the context (None for plain TCP) stands for "TLS and
how it was verified", so a connection verified against one CA set never serves a service that
trusts another. At most ``upstream_keepalive_pool_size`` idle connections
per key (the least recently used are closed first), each used for at most
``upstream_keepalive_max_requests`` requests and closed after
``upstream_keepalive_idle_timeout`` seconds idle. The exchange returns a connection only after a
complete, well-framed, keep-alive response, so an upstream that misbehaved is never reused.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ssl

    from .upstream import UpstreamConnection

PoolKey = tuple[str, int, "ssl.SSLContext | None", "str | None"]


class UpstreamPool:
    __slots__ = ("idle", "size", "max_requests", "idle_timeout", "sweeper", "loop")

    def __init__(self, size: int, max_requests: int, idle_timeout: float) -> None:
        self.idle: dict[PoolKey, deque[UpstreamConnection]] = {}
        self.size = size
        self.max_requests = max_requests
        self.idle_timeout = idle_timeout
        self.sweeper: asyncio.TimerHandle | None = None
        # taken on first use: asyncio.get_running_loop() costs a getpid() system call
        self.loop: asyncio.AbstractEventLoop | None = None

    def acquire(self, key: PoolKey) -> UpstreamConnection | None:
        """The most recently used idle connection for ``key``, if any."""
        idle = self.idle.get(key)
        while idle:
            conn = idle.pop()
            conn.in_pool = False
            if not conn.transport.is_closing():
                return conn
        return None

    def release(self, conn: UpstreamConnection) -> None:
        """Keep ``conn`` for a later request, or close it when the pool does not want it."""
        if self.size <= 0 or conn.requests >= self.max_requests or conn.transport.is_closing():
            conn.close()
            return
        idle = self.idle.get(conn.key)
        if idle is None:
            idle = self.idle[conn.key] = deque()
        elif len(idle) >= self.size:
            oldest = idle.popleft()
            oldest.in_pool = False
            oldest.close()
        conn.in_pool = True
        conn.idle_since = conn.last_io  # the read that completed its last response
        idle.append(conn)
        if self.sweeper is None:
            loop = self.loop
            if loop is None:
                loop = self.loop = asyncio.get_running_loop()
            self._arm(loop)

    def discard(self, conn: UpstreamConnection) -> None:
        """Forget an idle connection that closed or spoke out of turn."""
        idle = self.idle.get(conn.key)
        if idle is not None and conn.in_pool:
            conn.in_pool = False
            try:
                idle.remove(conn)
            except ValueError:
                pass

    def close(self) -> None:
        if self.sweeper is not None:
            self.sweeper.cancel()
            self.sweeper = None
        for idle in self.idle.values():
            while idle:
                conn = idle.pop()
                conn.in_pool = False
                conn.close()
        self.idle.clear()

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        # one timer for the whole pool, not one per connection
        self.sweeper = loop.call_later(max(self.idle_timeout / 4, 0.25), self._sweep, loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        self.sweeper = None
        deadline = loop.time() - self.idle_timeout
        for key in list(self.idle):
            idle = self.idle[key]
            while idle and idle[0].idle_since <= deadline:
                conn = idle.popleft()
                conn.in_pool = False
                conn.close()
            if not idle:
                del self.idle[key]
        if self.idle:
            self._arm(loop)
