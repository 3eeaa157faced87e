"""One connection to an upstream server: parses responses with httptools and hands them to the
exchange that currently owns the connection.

Timeouts follow nginx: ``read_timeout`` between two successive reads once the request is sent,
``write_timeout`` between two successive writes while the upstream is not taking our bytes. One
timer per connection, re-armed from timestamps when it fires instead of being reset on every read
or created for every request: a busy keep-alive connection arms it about once per timeout.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import httptools

from .response import CRLF, RESPONSE_HEADERS, SEPARATOR, UpstreamHead

if TYPE_CHECKING:
    from .phases import Exchange
    from .pool import PoolKey, UpstreamPool


_TRAILING_SPACE = (b" ", b"\t", b"")


class _HeadDone(Exception):
    """Stops the parser after the head of a response to HEAD (httptools would wait for a body)."""


class UpstreamConnection(asyncio.Protocol):
    __slots__ = (
        "pool", "key", "loop", "transport", "parser", "exchange", "requests", "in_pool", "idle_since",
        "head", "head_done", "interim", "head_only", "received", "last_io", "timer", "timer_at", "read_timeout",
        "write_timeout", "write_paused", "request_sent", "closed",
    )

    def __init__(self, pool: UpstreamPool, key: PoolKey) -> None:
        self.pool = pool
        self.key = key
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.parser = httptools.HttpResponseParser(self)
        self.exchange: Exchange | None = None
        self.requests = 0
        self.in_pool = False
        self.idle_since = 0.0
        self.head = UpstreamHead()
        self.head_done = False
        self.interim = False
        self.head_only = False
        self.received = 0
        self.last_io = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0
        self.read_timeout = 60.0
        self.write_timeout = 60.0
        self.write_paused = False
        self.request_sent = False
        self.closed = False

    # -- used by the exchange ------------------------------------------------------------------

    def start(self, exchange: Exchange, read_timeout: float, write_timeout: float, head_only: bool) -> None:
        """Bind the connection to one request/response exchange."""
        self.exchange = exchange
        self.requests += 1
        self.read_timeout = read_timeout
        self.write_timeout = write_timeout
        self.head_only = head_only
        self.head = UpstreamHead()
        self.head_done = False
        self.interim = False
        self.received = 0
        self.request_sent = False
        self.last_io = now = self.loop.time()
        deadline = now + (read_timeout if read_timeout < write_timeout else write_timeout)
        timer = self.timer
        if timer is None or self.timer_at > deadline:  # else the armed timer fires first and re-arms
            if timer is not None:
                timer.cancel()
            self._arm(deadline)

    def sent(self) -> None:
        """The whole request is written: the read timeout starts now."""
        self.request_sent = True
        self.last_io = self.loop.time()

    def detach(self) -> None:
        """Unbind from the exchange; an armed timer stays and lapses when it finds none."""
        self.exchange = None

    def _stop_timer(self) -> None:
        self.exchange = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def close(self) -> None:
        self._stop_timer()
        if not self.closed:
            self.closed = True
            self.transport.close()

    def abort(self) -> None:
        self._stop_timer()
        if not self.closed:
            self.closed = True
            self.transport.abort()

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        exchange = self.exchange
        if exchange is None:  # an idle connection must stay silent
            self.pool.discard(self)
            self.abort()
            return
        self.received += len(data)
        self.last_io = self.loop.time()
        try:
            self.parser.feed_data(data)
            if exchange.out:
                exchange.flush()
        except httptools.HttpParserCallbackError:
            if not self.head_only or not self.head_done:
                raise  # our own bug: surface it
        except httptools.HttpParserError as err:
            exchange = self.exchange
            if exchange is not None:
                exchange.on_upstream_invalid(str(err))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        exchange = self.exchange
        self._stop_timer()
        if self.in_pool:
            self.pool.discard(self)
        elif exchange is not None:
            exchange.on_upstream_lost(self, exc)

    def pause_writing(self) -> None:
        self.write_paused = True
        self.last_io = self.loop.time()
        if self.exchange is not None:
            self.exchange.on_upstream_congested(True)

    def resume_writing(self) -> None:
        self.write_paused = False
        self.last_io = self.loop.time()
        if self.exchange is not None:
            self.exchange.on_upstream_congested(False)

    # -- httptools callbacks -----------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.head_done:  # after the head these are chunked trailers: not forwarded
            # a tuple, not b" \t": bytes.__contains__ first tries the operand as an int and
            # builds (then drops) a TypeError for every bytes operand
            if value[-1:] in _TRAILING_SPACE:
                value = value.rstrip(b" \t")
            if name.lower() in RESPONSE_HEADERS:
                self.head.add(name, value)
            else:  # forwarded as received: the common case, without a call
                self.head.pieces += (name, SEPARATOR, value, CRLF)

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200 and status != 101:
            self.interim = True  # 1xx: not forwarded, the final response follows
            return
        self.head_done = True
        exchange = self.exchange
        if exchange is not None:
            exchange.on_response_head(status, self.head)
        if self.head_only and self.exchange is not None:
            self.exchange.on_response_complete(False)
            raise _HeadDone()

    def on_body(self, body: bytes) -> None:
        if self.exchange is not None and not self.interim:
            self.exchange.on_response_body(body)

    def on_message_complete(self) -> None:
        if self.interim:
            self.interim = False
            self.head = UpstreamHead()
            return
        exchange = self.exchange
        if exchange is not None:
            exchange.on_response_complete(self._reusable())

    def _reusable(self) -> bool:
        # llhttp's verdict (HTTP/1.1 unless "close", HTTP/1.0 only with "keep-alive", never a
        # close-delimited body), and no "close" anywhere in Connection either
        if not self.parser.should_keep_alive():
            return False
        connection = self.head.connection
        return connection is None or connection.lower().find(b"close") < 0  # find: see _TRAILING_SPACE

    # -- timeouts ------------------------------------------------------------------------------

    def _arm(self, deadline: float) -> None:
        self.timer_at = deadline
        self.timer = self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        exchange = self.exchange
        if exchange is None:
            return  # idle (the pool sweeps idle connections): armed again by the next start
        now = self.loop.time()
        if self.write_paused:
            deadline = self.last_io + self.write_timeout
        elif self.request_sent:
            deadline = self.last_io + self.read_timeout
        else:
            deadline = now + self.read_timeout  # still waiting for the client's body
        if now >= deadline:
            exchange.on_upstream_timeout(self)
            return
        self._arm(deadline)
