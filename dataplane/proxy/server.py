"""The downstream side: one ``ProxyProtocol`` per client connection.

HTTP/1.1 keep-alive, HTTP/1.0 (keep-alive only when asked), pipelining (requests are parsed as
they come but answered one at a time, in order; reading pauses while any wait), and
``Expect: 100-continue``.

Every request head is read by one native call (``RequestPlanner.plan``,
rust/src/http/request_head.rs): the one rule set for requests. It refuses what a proxy must not
forward (ambiguous framing, a missing, repeated or invalid Host, Transfer-Encoding on HTTP/1.0
or other than one ``chunked``, a fragment, ``Upgrade`` with a body, versions other than 1.0 and
1.1) with Kong's status (400, 405 for CONNECT and TRACE, 413, 414, 431 "Request header or
cookie too large"), and the connection closes with nothing of it sent upstream. A head it
accepts is *plain* (plainly valid, a strict subset of llhttp's strict mode: it may come back
routed and with its upstream head built, the fast lane) or not: then httptools (strict, no
leniency flag) must read the same head bytes alike (validity, method, version, upgrade) and
its keep-alive verdict is kept. Bodies are framed here: Content-Length counted, chunked by the
native strict ``ChunkedDecoder``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Callable, Iterable

import httptools

from dataplane._core import ChunkedBodyError, ChunkedDecoder, Downstream, RequestHead, RequestRefused
from dataplane.listener_tls.sni import server_name_of

from .phases import NO_HEAD, Exchange
from .realip import is_trusted
from .state import ACCEPTED_CONNECTIONS, ACTIVE_CONNECTIONS, TOTAL_REQUESTS, ProxyState

log = logging.getLogger("gantry.proxy")

# Reasons to stop reading the client (bits; reading resumes when none is left).
_PIPELINED = 1  # requests wait behind the one being answered
_BODY_HELD = 2  # body bytes wait for an upstream connection
_UPSTREAM_FULL = 4  # the upstream is not taking the body as fast as the client sends it
_CLOSING = 8  # nothing more will be read

LINGER_TIMEOUT = 5.0  # nginx lingering_timeout
_SERIALS = itertools.count(1)  # connection numbers, per worker as nginx counts them


class _HeadCheck:
    """httptools' protocol for reading a head that is not plain: it only notes that the head
    completed."""

    __slots__ = ("complete",)

    def __init__(self) -> None:
        self.complete = False

    def on_headers_complete(self) -> None:
        self.complete = True


class ProxyProtocol(asyncio.Protocol):
    __slots__ = (
        "state",
        "loop",
        "transport",
        "peer",
        "peer_port",
        "server_port",
        "server_addr",
        "serial",
        "trusted",
        "scheme",
        "scheme_bytes",
        "downstream",
        "parsing",
        "active",
        "queue",
        "blocks",
        "requests",
        "closing",
        "closed",
        "write_paused",
        "lingering",
        "last_activity",
        "timer",
        "settings",
        "pending",
        "body_left",
        "decoder",
    )

    def __init__(self, state: ProxyState) -> None:
        self.state = state
        self.settings = state.settings
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set by connection_made
        self.pending = b""  # the start of a head that has not arrived whole
        self.body_left = 0  # Content-Length bytes of the request being read still to come
        self.decoder: ChunkedDecoder | None = None  # the chunked body of the request being read
        self.peer = "unix:"
        self.peer_port = 0
        self.server_port = 0
        self.server_addr = ""
        self.serial = next(_SERIALS)
        self.trusted = False
        self.scheme = "http"
        self.scheme_bytes = b"http"
        self.downstream = Downstream(b"unix:", b"0", False, None, False)
        self.parsing: Exchange | None = None  # the request being read, once its head is
        self.active: Exchange | None = None
        self.queue: deque[Exchange] = deque()
        self.blocks = 0
        self.requests = 0
        self.closing = False
        self.closed = False
        self.write_paused = False
        self.lingering = False
        self.last_activity = 0.0
        self.timer: asyncio.TimerHandle | None = None

    # -- connection ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream server's is a Transport
        peer = transport.get_extra_info("peername")
        peer_bytes = b"unix:"
        if isinstance(peer, tuple):
            self.peer = peer[0]
            self.peer_port = peer[1]
            peer_bytes = peer[0].encode()
            self.trusted = is_trusted(self.peer, self.settings.trusted_ips)
        sock = transport.get_extra_info("sockname")
        if isinstance(sock, tuple):
            self.server_addr, self.server_port = sock[0], sock[1]
        port = b"%d" % self.server_port
        https = transport.get_extra_info("sslcontext") is not None
        sni = None
        if https:
            self.scheme = "https"
            self.scheme_bytes = b"https"
            sni = server_name_of(transport.get_extra_info("ssl_object"))
        self.downstream = Downstream(peer_bytes, port, https, sni, self.trusted)
        state = self.state
        state.connections.add(self)
        state.counters[ACTIVE_CONNECTIONS] += 1
        state.counters[ACCEPTED_CONNECTIONS] += 1
        self.last_activity = self.loop.time()
        self.timer = self.loop.call_later(self.settings.client_keepalive_timeout, self._on_timer)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.state.connections.discard(self)
        self.state.counters[ACTIVE_CONNECTIONS] -= 1
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        active = self.active
        if active is not None:
            self.active = None
            if not active.finished:
                log.info(
                    "client %s closed the connection before the response was complete (request %s)",
                    self.peer,
                    active.request_id.decode(),
                )
            active.abort()
        self.queue.clear()

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            return  # discarded: we answered already and are closing
        self.last_activity = self.loop.time()
        if self.body_left or self.decoder is not None:
            data = self._body(data)
        elif self.pending:
            data = self.pending + data
            self.pending = b""
        if data:
            self._heads(data)

    def _heads(self, data: bytes) -> None:
        """Read the heads at the start of ``data``, one request after the other."""
        state = self.state
        runtime = state.runtime
        plan = (state.planner if runtime is None else runtime.planner).plan
        while data and not self.closing:  # after a last request, input is ignored
            try:
                head = plan(data, self.downstream)
            except RequestRefused as refused:
                self.bad_input(*refused.args)
                return
            if head is None:
                self.pending = data  # bounded: the planner refuses a head past the limits
                return
            if head.refusal is not None:
                self.bad_input(*head.refusal, head)
                return
            keep_alive = head.keep_alive if head.plain else self._llhttp_keep_alive(data[: head.length], head)
            if keep_alive is None:
                return
            exchange = self.parsing = Exchange(self, state, self.last_activity, head)
            exchange.keep_alive = keep_alive
            self.requests += 1
            state.counters[TOTAL_REQUESTS] += 1
            data = data[head.length :]
            if head.websocket:
                # after the handshake the connection tunnels or, refused, closes: never HTTP
                # again; what follows is the client's first frames, held until the switch
                exchange.tunnel_data = data
                exchange.keep_alive = False
                exchange.body_done = True
                self._dispatch(exchange)
                self.on_message_complete()
                return
            if head.chunked:
                self.decoder = ChunkedDecoder()
                self._dispatch(exchange)
                data = self._body(data)
                continue
            size = head.content_length
            if not size:
                exchange.body_done = True
                self._dispatch(exchange)
                self.on_message_complete()
                continue
            if size <= len(data):
                # the whole body is here: it goes upstream with the head, in one write
                exchange.body_buffer = [data[:size]]
                exchange.body_received = size
                exchange.body_done = True
                self._dispatch(exchange)
                self.on_message_complete()
                data = data[size:]
                continue
            self.body_left = size
            self._dispatch(exchange)
            data = self._body(data)

    def _llhttp_keep_alive(self, head_bytes: bytes, head: RequestHead) -> bool | None:
        """llhttp's reading of a head that is not plain: its keep-alive verdict, or None when it
        refuses the head or reads it otherwise than the native reader (a 400 then)."""
        check = _HeadCheck()
        parser = httptools.HttpRequestParser(check)
        try:
            parser.feed_data(head_bytes)
        except httptools.HttpParserUpgrade:
            pass  # llhttp stops at an upgrade head; the native reader refused any with a body
        except httptools.HttpParserError as err:
            self.bad_input(400, f"llhttp: {err}")
            return None
        if (
            not check.complete
            or parser.get_method() != head.method
            or parser.should_upgrade() != head.upgrade
            or parser.get_http_version().encode() != head.version
        ):
            self.bad_input(400, "request head read differently by llhttp")
            return None
        return parser.should_keep_alive()

    def _body(self, data: bytes) -> bytes:
        """Body bytes of the request being read; returns what follows its end in ``data``."""
        exchange: Exchange = self.parsing  # type: ignore[assignment]  # a body is read while parsing
        decoder = self.decoder
        if decoder is not None:
            try:
                payload, end = decoder.feed(data)
            except ChunkedBodyError as err:
                self.decoder = None
                self.bad_input(400, f"chunked body: {err}")
                return b""
            if payload:
                exchange.on_request_body(payload)
            if end < 0:
                return b""
            self.decoder = None
            self.on_message_complete()
            return data[end:]
        left = self.body_left
        if len(data) < left:
            self.body_left = left - len(data)
            exchange.on_request_body(data)
            return b""
        self.body_left = 0
        exchange.on_request_body(data[:left])
        self.on_message_complete()
        return data[left:]

    # -- what exchanges and tunnels use (dataplane.proxy.contracts.ClientConnection) -----------

    def write(self, data: bytes) -> None:
        self.transport.write(data)

    def writelines(self, data: Iterable[bytes]) -> None:
        self.transport.writelines(data)

    def hand_over(self) -> asyncio.Transport:
        self.active = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.blocks = 0
        self.transport.resume_reading()
        return self.transport

    def tunnel_closed(self, exc: Exception | None) -> None:
        if not self.closed:
            self.transport.close()
        self.connection_lost(exc)

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.active is not None:
            self.active.on_client_congested(True)

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.active is not None:
            self.active.on_client_congested(False)

    def on_message_complete(self) -> None:
        """The request being read is whole."""
        exchange: Exchange = self.parsing  # type: ignore[assignment]  # called while parsing
        self.parsing = None
        if not exchange.body_done:
            exchange.on_request_complete()
        if not exchange.keep_alive:
            self.closing = True
            self._close_input()

    # -- flow ------------------------------------------------------------------------------------

    def _dispatch(self, exchange: Exchange) -> None:
        if self.active is None:
            self.active = exchange
            exchange.run()
        else:
            self.queue.append(exchange)
            self._block(_PIPELINED)

    def exchange_done(self, exchange: Exchange) -> None:
        """The response of the active exchange is written: go on with the next one, or close."""
        if exchange is not self.active:
            return
        self.active = None
        self._unblock(_BODY_HELD | _UPSTREAM_FULL)
        if not exchange.keep_alive:
            self.closing = True
            # Unread input (a body we did not take, a request we refused): close gently so the
            # client sees our answer before any reset, as nginx's lingering close.
            if not exchange.body_done or exchange.error is not None or self.parsing is not None or self.pending:
                self.linger()
            else:
                self.close()
            return
        if self.queue:
            following = self.queue.popleft()
            self.active = following
            if not self.queue:
                self._unblock(_PIPELINED)
            # not called inline: a long pipeline of instant answers would recurse
            self.loop.call_soon(self._run, following)
        elif self.state.draining and self.parsing is None and not self.pending:
            self.close()

    def _run(self, exchange: Exchange) -> None:
        if not self.closed and self.active is exchange:
            exchange.run()

    def bad_input(self, status: int, reason: str, head: RequestHead | None = None) -> None:
        """A refused head (``head`` when it was read whole) or a malformed body: Kong's error
        page, then the connection closes (nothing more is read from it)."""
        log.info("client %s sent a bad request: %s", self.peer, reason)
        self.closing = True
        self._close_input()
        self.pending = b""
        self.body_left = 0
        self.decoder = None
        exchange = self.parsing
        self.parsing = None
        if exchange is not None:  # the head was fine, the body is not
            exchange.keep_alive = False
            if exchange is self.active:
                exchange.error_page(status)
            elif not exchange.finished:
                exchange.error = (status, None)
            return
        exchange = Exchange(self, self.state, self.loop.time(), head or NO_HEAD)
        exchange.keep_alive = False
        exchange.error = (status, None)
        self.requests += 1
        self.state.counters[TOTAL_REQUESTS] += 1
        self._dispatch(exchange)

    def body_waiting(self) -> None:
        self._block(_BODY_HELD)

    def body_flowing(self) -> None:
        self._unblock(_BODY_HELD)

    def upstream_congested(self, paused: bool) -> None:
        if paused:
            self._block(_UPSTREAM_FULL)
        else:
            self._unblock(_UPSTREAM_FULL)

    def _block(self, reason: int) -> None:
        if not self.blocks and not self.closed:
            self.transport.pause_reading()
        self.blocks |= reason

    def _unblock(self, reasons: int) -> None:
        if self.blocks & reasons:
            self.blocks &= ~reasons
            if not self.blocks and not self.closed:
                self.transport.resume_reading()

    def _close_input(self) -> None:
        self._block(_CLOSING)

    # -- closing ---------------------------------------------------------------------------------

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.transport.close()  # after what is buffered is written

    def linger(self) -> None:
        """Stop sending (FIN after what is buffered), discard what still arrives, close on the
        client's EOF or after ``LINGER_TIMEOUT``."""
        if self.closed or self.lingering:
            return
        if not self.transport.can_write_eof():
            self.close()
            return
        self.lingering = True
        self.transport.write_eof()
        self.blocks = 0
        self.transport.resume_reading()
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.loop.call_later(LINGER_TIMEOUT, self.abort)

    def eof_received(self) -> bool | None:
        """The client shut its sending side: answer what is pending, then close; a request it
        left unfinished can never be answered, so the connection is dropped at once (nginx's
        "client prematurely closed connection"), and with it any body buffered for it."""
        if self.lingering or (self.active is None and not self.queue):
            self.close()
            return None
        if self.parsing is not None or self.pending:
            log.info("client %s closed the connection in the middle of a request", self.peer)
            self.abort()
            return None
        self.closing = True
        for exchange in (self.active, *self.queue):
            if exchange is not None:
                exchange.keep_alive = False
        return True

    def abort(self) -> None:
        if not self.closed:
            self.closed = True
            self.transport.abort()

    def drain(self) -> None:
        """Stop keep-alive: close now if idle, else after the current response."""
        if self.active is None and not self.queue:
            self.close()

    def _on_timer(self) -> None:
        self.timer = None
        if self.closed:
            return
        settings = self.settings
        active = self.active
        if active is not None and (active.body_done or self.blocks):
            timeout = settings.client_header_timeout  # the upstream side has its own timeouts
            deadline = self.loop.time() + timeout
        else:
            idle = active is None and self.parsing is None and not self.pending
            timeout = settings.client_keepalive_timeout if idle else settings.client_header_timeout
            deadline = self.last_activity + timeout
            if self.loop.time() >= deadline:
                if not idle:
                    log.info("client %s timed out sending its request", self.peer)
                if idle:
                    self.close()
                else:
                    self.abort()
                return
        self.timer = self.loop.call_at(deadline, self._on_timer)


def make_protocol_factory(state: ProxyState) -> Callable[[], asyncio.Protocol]:
    """The factory for ``loop.create_server``: one ``ProxyProtocol`` per client connection."""
    return lambda: ProxyProtocol(state)
