"""One connection to an upstream server: hands each response to the exchange that currently owns
the connection.

The response head is read in one native call rather than one httptools callback per header.
Then one of two lanes, chosen per response:

* The fast lane (``parser`` is None): the head is whole in the first read and plainly valid
  with a framing the native parse settles (``Content-Length``, or no body: 204, 304, HEAD).
  One call (``ClientHeadFilter.relay``) parses it and builds the client's head; the body
  bytes are counted here, nothing else reads them.
* The general lane, for everything else (interim 1xx heads, chunked or close-delimited bodies,
  heads in pieces, anything unusual or invalid): the head is parsed natively
  (``parse_response_head``: status and headers sorted for the header filter) and every byte
  of the heads goes through httptools (strict), which decides their validity; the native head
  and httptools must agree on the status of the head that completes, or the response is
  invalid. The body is framed here: no body (HEAD, 204, 304), Content-Length counted, chunked
  by the native strict decoder (``ChunkedDecoder``, a subset of llhttp's grammar), or until
  the upstream closes.

On every path the end of a response is known to the byte, and any byte beyond it (a second
response, garbage, even a lone CRLF) means the connection is not trusted again: it is closed,
never pooled, so nothing an upstream sent can be read as the answer to another request.

Timeouts follow nginx: ``read_timeout`` between two successive reads once the request is sent,
``write_timeout`` between two successive writes while the upstream is not taking our bytes. One
timer per connection, re-armed from timestamps when it fires instead of being reset on every read
or created for every request: a busy keep-alive connection arms it about once per timeout.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import httptools

from dataplane._core import ChunkedBodyError, ChunkedDecoder, HttpHeadError, ResponseHead, parse_response_head

if TYPE_CHECKING:
    from .phases import Exchange
    from .pool import PoolKey, UpstreamPool

log = logging.getLogger("gantry.proxy")

# An upstream head still incomplete after this many bytes is refused (nginx: "upstream sent too
# big header", with its proxy_buffer_size far below this).
MAX_HEAD_SIZE = 65536


_INCOMPLETE = -1  # ``_read_head``: the final head has not arrived whole
_INVALID = -2  # ``_read_head``: the response is invalid


class _Disagreement(Exception):
    """httptools completed a head the native parse did not see the same way: the response is
    invalid rather than trusted to either parser alone."""


class _UnaskedSwitch(Exception):
    """A 101 to a request that did not ask for WebSocket, or without the Upgrade and
    Connection fields that make it a switch: invalid."""


class UpstreamConnection(asyncio.Protocol):
    __slots__ = (
        "pool",
        "key",
        "loop",
        "transport",
        "parser",
        "exchange",
        "requests",
        "in_pool",
        "idle_since",
        "head",
        "pending",
        "head_done",
        "interim",
        "head_only",
        "received",
        "last_io",
        "timer",
        "timer_at",
        "read_timeout",
        "write_timeout",
        "write_paused",
        "request_sent",
        "closed",
        "body_left",
        "reusable",
        "switching",
        "decoder",
    )

    def __init__(self, pool: UpstreamPool, key: PoolKey) -> None:
        self.pool = pool
        self.key = key
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set by connection_made
        self.parser: httptools.HttpResponseParser | None = None  # None: the fast lane may read
        self.body_left = 0  # body bytes of the current response still to come; -1: until the upstream closes
        self.reusable = False  # the current response, whole and alone, leaves the connection reusable
        self.decoder: ChunkedDecoder | None = None  # the current response's chunked body
        self.switching = False  # a 101 to a WebSocket handshake was read: the tunnel starts
        self.exchange: Exchange | None = None
        self.requests = 0
        self.in_pool = False
        self.idle_since = 0.0
        self.head: ResponseHead | None = None  # the final head of the current response, once read
        self.pending = b""  # the start of a head that did not arrive whole
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

    def start(
        self, exchange: Exchange, read_timeout: float, write_timeout: float, head_only: bool, sent: bool, now: float
    ) -> None:
        """Bind the connection to one request/response exchange; ``sent``: the whole request is
        written with the head (else ``sent()`` follows), ``now``: the loop's time."""
        self.exchange = exchange
        self.requests += 1
        self.read_timeout = read_timeout
        self.write_timeout = write_timeout
        self.head_only = head_only
        self.head = None
        self.parser = None  # each response starts in the fast lane (body_left is 0 between two)
        self.decoder = None
        self.head_done = False
        self.switching = False
        self.received = 0
        self.request_sent = sent
        self.last_io = now
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

    def close_delimited(self) -> bool:
        """The current response's body ends when the upstream closes (never in the fast lane,
        which takes length-framed bodies only)."""
        return self.parser is not None and self.head_done and self.decoder is None and self.body_left < 0

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
        self.transport = transport  # type: ignore[assignment]  # a stream connection's is a Transport

    def data_received(self, data: bytes) -> None:
        exchange = self.exchange
        if exchange is None:  # an idle connection must stay silent
            self.pool.discard(self)
            self.abort()
            return
        self.received += len(data)
        self.last_io = self.loop.time()
        if self.parser is None:
            if self.body_left:
                self._length_body(data, exchange, self.body_left)
                return
            if self._fast_response(data, exchange):
                return
            self.parser = httptools.HttpResponseParser(self)  # the general lane, from the start
            self.pending = b""
            self.interim = False
        elif self.head_done:
            self._general_body(data, exchange)
            return
        end = self._read_head(data, exchange)
        if end == _INVALID:
            return
        try:
            # httptools reads the heads only: the body is framed here
            self.parser.feed_data(data if end == _INCOMPLETE else data[:end])
        except httptools.HttpParserCallbackError as err:
            problem = err.__context__
            if not isinstance(problem, (_Disagreement, _UnaskedSwitch)):
                raise  # our own bug: surface it
            exchange = self.exchange
            if exchange is not None:
                exchange.on_upstream_invalid(
                    "switched protocols unasked"
                    if isinstance(problem, _UnaskedSwitch)
                    else "response head parsed inconsistently"
                )
            return
        except httptools.HttpParserUpgrade:
            if self.switching and self.exchange is exchange:
                self._stop_timer()  # the tunnel keeps its own
                exchange.on_upgraded(self, data[end:])  # the rest of this read: the upstream's first frames
            elif self.exchange is not None:
                self.exchange.on_upstream_invalid("switched protocols unasked")
            return
        except httptools.HttpParserError as err:
            exchange = self.exchange
            if exchange is not None:
                exchange.on_upstream_invalid(str(err))
            return
        if end == _INCOMPLETE or self.exchange is not exchange:
            return
        if not self.head_done:
            exchange.on_upstream_invalid("response head parsed inconsistently")
            return
        self._general_body(data[end:], exchange)

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

    def _fast_response(self, data: bytes, exchange: Exchange) -> bool:
        """The fast lane, at the start of a response: False (nothing done) when it declines
        (an invalid head included: the general lane reports it)."""
        relayed = exchange.on_plain_response(data)
        if relayed is None:
            return False
        length, _, size, self.reusable = relayed[:4]
        self.head_done = True
        if len(data) == length:
            if size:
                self.body_left = size
                exchange.flush()
            else:
                exchange.on_response_complete(self.reusable)
            return True
        self._length_body(data[length:], exchange, size)
        return True

    def _length_body(self, data: bytes, exchange: Exchange, left: int) -> None:
        """Body bytes of a response framed by a length (0 for none), ``left`` of which are
        still due: forwarded until the response is complete."""
        if len(data) < left:
            self.body_left = left - len(data)
            exchange.on_response_body(data)
            exchange.flush()
            return
        self.body_left = 0
        reusable = self.reusable
        if len(data) > left:
            self._overrun(len(data) - left)
            data = data[:left]
            reusable = False
        if data:
            exchange.on_response_body(data)
        exchange.on_response_complete(reusable)

    def _general_body(self, data: bytes, exchange: Exchange) -> None:
        """Body bytes of a general-lane response, framed as its head said (``on_headers_complete``)."""
        decoder = self.decoder
        if decoder is None:
            if self.body_left >= 0:
                self._length_body(data, exchange, self.body_left)
            elif data:  # until the upstream closes
                exchange.on_response_body(data)
                exchange.flush()
            return
        try:
            payload, end = decoder.feed(data)
        except ChunkedBodyError as err:
            exchange.on_upstream_invalid(f"chunked body: {err}")
            return
        if payload:
            exchange.on_response_body(payload)
        if end < 0:
            exchange.flush()
            return
        self.decoder = None
        reusable = self.reusable
        if end < len(data):
            self._overrun(len(data) - end)
            reusable = False
        exchange.on_response_complete(reusable)

    def _overrun(self, extra: int) -> None:
        # bytes beyond the response: it is complete, but the connection is not trusted again
        log.warning(
            "upstream %s:%d sent %d bytes after the response; closing the connection", self.key[0], self.key[1], extra
        )

    def _read_head(self, data: bytes, exchange: Exchange) -> int:
        """Look for the final response head in what has arrived: the offset in ``data`` just
        past it, ``_INCOMPLETE`` while it is not whole (its start is kept), ``_INVALID`` when the
        response is invalid (the exchange has been told)."""
        pending = self.pending
        buffer = pending + data if pending else data
        start = 0  # where the head being looked at begins in ``buffer``
        try:
            while True:
                head = parse_response_head(buffer[start:] if start else buffer)
                if head is None:
                    if len(buffer) - start > MAX_HEAD_SIZE:
                        exchange.on_upstream_invalid(f"response head larger than {MAX_HEAD_SIZE} bytes")
                        return _INVALID
                    self.pending = buffer[start:]
                    return _INCOMPLETE
                start += head.length
                if head.status >= 200 or head.status == 101:
                    self.head = head
                    self.pending = b""
                    return start - len(pending)
                # an interim 1xx head: the final one follows it
        except HttpHeadError as err:
            exchange.on_upstream_invalid(str(err))
            return _INVALID

    # -- httptools callbacks (heads only: headers come from the native head, bodies are framed
    # by data_received) ---------------------------------------------------------------------

    def on_headers_complete(self) -> None:
        parser: httptools.HttpResponseParser = self.parser  # type: ignore[assignment]  # it is calling back
        status = parser.get_status_code()
        if status < 200 and status != 101:
            self.interim = True  # 1xx: not forwarded, the final response follows
            return
        head = self.head
        if head is None or head.status != status:
            raise _Disagreement()
        self.head_done = True
        exchange = self.exchange
        if status == 101 and (exchange is None or not exchange.websocket or not parser.should_upgrade()):
            raise _UnaskedSwitch()
        # reusable: llhttp's verdict (HTTP/1.1 unless "close", HTTP/1.0 only with "keep-alive",
        # never a close-delimited body) and no "close" in any Connection
        self.reusable = parser.should_keep_alive() and not head.closes
        if self.head_only or status in (204, 304):
            self.body_left = 0
        elif head.chunked:
            self.decoder = ChunkedDecoder()
        elif head.content_length is not None:
            self.body_left = int(head.content_length)  # llhttp accepted it: digits only
        else:
            self.body_left = -1
        if exchange is not None:
            exchange.on_response_head(status, head)

    def on_message_complete(self) -> None:
        if self.interim:
            self.interim = False
        elif self.head is not None and self.head.status == 101:
            self.switching = True  # httptools stops right after: see data_received

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
