"""The downstream side: one ``ProxyProtocol`` per client connection.

HTTP/1.1 keep-alive, HTTP/1.0 (keep-alive only when asked), pipelining (requests are parsed as
they come but answered one at a time, in order; reading pauses while any wait), and
``Expect: 100-continue``.

Two lanes read the input, always starting at a request boundary:

* The fast lane (``parser`` is None): one native call (``RequestPlanner.plan``) reads a
  whole head that is plainly valid (a strict subset of what the general lane accepts: plain
  bytes, origin-form target, one valid Host, no body or a ``Content-Length`` one, nothing
  near a size limit), and mostly also routes it and builds its upstream head; the lane counts
  the body bytes itself.
* The general lane: httptools, strict (no leniency flags), one callback per piece. It takes
  over at the first head the fast lane declines (incomplete, unusual or invalid) and hands
  back once a read ends between two requests.

On top of httptools the gateway rejects what it lets through but a proxy must not forward: more
than one Host or none on HTTP/1.1, an invalid Host, Transfer-Encoding on HTTP/1.0, more than one
Transfer-Encoding or any coding other than ``chunked``, versions other than 1.0 and 1.1, a
fragment in the target, and ``Upgrade`` together with a body (llhttp stops framing at an upgrade
head, so its body would be read as the next request). A rejected request gets Kong's 400 (or
405 for CONNECT and TRACE, 413, 414 for the request line, 431 "Request header or cookie too
large") and the connection closes; nothing of it reaches an upstream. Header names with an
underscore are ignored, as nginx does unless ``underscores_in_headers``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

import httptools

from . import forwarding
from .phases import Exchange
from .realip import is_trusted
from dataplane.tls.sni import server_name_of
from .state import ACCEPTED_CONNECTIONS, ACTIVE_CONNECTIONS, TOTAL_REQUESTS, ProxyState

log = logging.getLogger("gantry.proxy")

# Reasons to stop reading the client (bits; reading resumes when none is left).
_PIPELINED = 1  # requests wait behind the one being answered
_BODY_HELD = 2  # body bytes wait for an upstream connection
_UPSTREAM_FULL = 4  # the upstream is not taking the body as fast as the client sends it
_CLOSING = 8  # nothing more will be read

LINGER_TIMEOUT = 5.0  # nginx lingering_timeout

_host_parts = forwarding.host_parts
_HOST = forwarding.HOST
_CONTENT_LENGTH = forwarding.CONTENT_LENGTH
_TRANSFER_ENCODING = forwarding.TRANSFER_ENCODING
_CONNECTION = forwarding.CONNECTION
_EXPECT = forwarding.EXPECT
_X_FORWARDED_FOR = forwarding.X_FORWARDED_FOR
_TE = forwarding.TE
_VIA = forwarding.VIA
_UPGRADE = forwarding.UPGRADE


class _Stop(Exception):
    """Raised inside a parser callback to stop parsing this connection's input."""


class ProxyProtocol(asyncio.Protocol):
    __slots__ = (
        "state", "loop", "transport", "parser", "peer", "peer_bytes", "trusted", "server_port", "port_bytes", "scheme",
        "scheme_bytes", "https", "sni", "parsing", "active", "queue", "blocks", "requests", "closing", "closed", "reject",
        "write_paused", "lingering", "last_activity", "timer", "head_size", "head_began", "header_size", "table", "settings",
        "body_left", "upgrading",
    )

    def __init__(self, state: ProxyState) -> None:
        self.state = state
        self.settings = state.settings
        self.table = state.request_headers
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.parser: httptools.HttpRequestParser | None = None  # None: the fast lane reads
        self.body_left = 0  # fast lane: Content-Length bytes of the current request still to come
        self.upgrading: Exchange | None = None  # a WebSocket handshake, until httptools stops after it
        self.peer = "unix:"
        self.peer_bytes = b"unix:"
        self.trusted = False
        self.server_port = 0
        self.port_bytes = b"0"
        self.scheme = "http"
        self.scheme_bytes = b"http"
        self.https = False
        self.sni: str | None = None
        self.parsing: Exchange | None = None
        self.active: Exchange | None = None
        self.queue: deque[Exchange] = deque()
        self.blocks = 0
        self.requests = 0
        self.closing = False
        self.closed = False
        self.reject: int | None = None
        self.write_paused = False
        self.lingering = False
        self.last_activity = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.head_size = 0
        self.head_began = False
        self.header_size = 0

    # -- connection ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self.peer = peer[0]
            self.peer_bytes = peer[0].encode()
            self.trusted = is_trusted(self.peer, self.settings.trusted_ips)
        sock = transport.get_extra_info("sockname")
        if isinstance(sock, tuple):
            self.server_port = sock[1]
            self.port_bytes = b"%d" % sock[1]
        if transport.get_extra_info("sslcontext") is not None:
            self.scheme = "https"
            self.scheme_bytes = b"https"
            self.https = True
            self.sni = server_name_of(transport.get_extra_info("ssl_object"))
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
                log.info("client %s closed the connection before the response was complete (request %s)",
                         self.peer, active.request_id.decode())
            active.abort()
        self.queue.clear()

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            return  # discarded: we answered already and are closing
        self.last_activity = self.loop.time()
        if self.parser is None:
            self._fast_received(data)
        else:
            self._parse(data)

    def _fast_received(self, data: bytes) -> None:
        """The fast lane: whole plain heads and Content-Length bodies, counted here."""
        left = self.body_left
        if left:
            exchange = self.parsing
            if len(data) <= left:
                self.body_left = left - len(data)
                exchange.on_request_body(data)
                if not self.body_left:
                    self.on_message_complete()
                return
            self.body_left = 0
            exchange.on_request_body(data[:left])
            self.on_message_complete()
            data = data[left:]
        state = self.state
        runtime = state.runtime
        plan = (state.planner if runtime is None else runtime.planner).plan
        while data and not self.closing:  # after a last request, input is ignored (as _Stop)
            head = plan(data, self.peer_bytes, self.port_bytes, self.https, self.sni, self.trusted)
            if head is None:
                # incomplete, unusual or invalid: the general lane reads it from this boundary
                self.parser = httptools.HttpRequestParser(self)
                self._parse(data)
                return
            exchange = self.parsing = Exchange(self, state, self.last_activity, head)
            self.requests += 1
            state.counters[TOTAL_REQUESTS] += 1
            length = head[0]
            size = exchange.content_length
            if not size:
                exchange.body_done = True
                self._dispatch(exchange)
                self.on_message_complete()
                data = data[length:]
                continue
            end = length + size
            if end <= len(data):
                # the whole body is here: it goes upstream with the head, in one write
                exchange.body_buffer = [data[length:end]]
                exchange.body_received = size
                exchange.body_done = True
                self._dispatch(exchange)
                self.on_message_complete()
                data = data[end:]
                continue
            self._dispatch(exchange)
            if length < len(data):
                exchange.on_request_body(data[length:])
            self.body_left = end - len(data)
            return

    def _parse(self, data: bytes) -> None:
        """The general lane: httptools and its callbacks below."""
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            offset = upgrade.args[0] if upgrade.args else len(data)
            handshake = self.upgrading
            if handshake is not None:
                # A WebSocket handshake: what follows it is the client's first frames, held until
                # the upstream switches (reading is stopped meanwhile).
                self.upgrading = None
                handshake.tunnel_data = data[offset:]
                return
            # Another protocol: not proxied (the request went upstream without Upgrade), so
            # carry on as HTTP.
            self.parser = httptools.HttpRequestParser(self)
            if offset < len(data) and not self.closing:
                self._parse(data[offset:])
        except httptools.HttpParserCallbackError:
            if self.reject is not None:
                self.bad_input(self.reject, "limit exceeded")
            elif not self.closing:
                raise
        except httptools.HttpParserError as err:
            self.bad_input(400, str(err))
            return
        parsing = self.parsing
        if parsing is not None and not parsing.head_complete:
            # httptools holds an unfinished header line itself, unseen by on_header: bound it
            # by the reads that went into it (the read it began in is not counted)
            if self.head_began:
                self.head_began = False
            else:
                self.head_size += len(data)
                if self.head_size > self.settings.max_header_size:
                    self.bad_input(431, "request head too large")
        elif parsing is None and self.reject is None and not self.closing:
            self.parser = None  # between two requests: back to the fast lane

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.active is not None:
            self.active.on_client_congested(True)

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.active is not None:
            self.active.on_client_congested(False)

    # -- httptools callbacks ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.closing:
            raise _Stop()
        self.parsing = Exchange(self, self.state, self.last_activity)  # the time of this read
        self.head_size = 0
        self.head_began = True
        self.header_size = 0

    def on_url(self, url: bytes) -> None:
        exchange = self.parsing
        exchange.url += url
        if len(exchange.url) > self.settings.max_request_line_size:
            self.reject = 414
            raise _Stop()

    def on_header(self, name: bytes, value: bytes) -> None:
        size = len(name) + len(value) + 4
        self.header_size += size
        if size > self.settings.max_header_line_size or self.header_size > self.settings.max_header_size:
            self.reject = 431
            raise _Stop()
        if b"_" in name and not self.settings.underscores_in_headers:
            return  # nginx ignores such a field (underscores_in_headers off): nothing sees it
        if value[-1:] in (b" ", b"\t"):
            value = value.rstrip(b" \t")
        exchange = self.parsing
        exchange.headers.append((name, value))
        code = self.table.get(name.lower())
        if code is None:
            exchange.forward.append((name, value))
        elif code == _HOST:
            exchange.host = value
            exchange.host_count += 1
        elif code == _CONTENT_LENGTH:
            exchange.content_length = int(value)  # httptools validated it
        elif code == _TRANSFER_ENCODING:
            exchange.te_count += 1
            exchange.chunked = value.lower() == b"chunked"
        elif code == _CONNECTION:
            exchange.connection = value if exchange.connection is None else exchange.connection + b", " + value
        elif code == _EXPECT:
            exchange.expect_continue = value.lower() == b"100-continue"
        elif code == _X_FORWARDED_FOR:
            exchange.xff = value if exchange.xff is None else exchange.xff + b", " + value
        elif code == _VIA:
            exchange.via = value if exchange.via is None else exchange.via + b", " + value
        elif code == _TE:
            if b"trailers" in (token.strip() for token in value.lower().split(b",")):
                exchange.te_trailers = True
        elif code == _UPGRADE:
            exchange.upgrade = value if exchange.upgrade is None else exchange.upgrade + b", " + value

    def on_headers_complete(self) -> None:
        exchange = self.parsing
        parser = self.parser
        exchange.method = parser.get_method()
        exchange.keep_alive = parser.should_keep_alive()
        exchange.head_complete = True
        version = parser.get_http_version()
        upgrade = parser.should_upgrade()
        problem = None
        if version == "1.1":
            if exchange.host_count != 1:
                problem = "missing or repeated Host"
        elif version == "1.0":
            exchange.version = b"1.0"
            if exchange.host_count > 1:
                problem = "repeated Host"
            elif exchange.te_count:
                problem = "Transfer-Encoding on HTTP/1.0"
            exchange.expect_continue = False  # RFC 9110 section 10.1.1: ignored from HTTP/1.0
        else:
            problem = f"HTTP version {version}"
        if problem is None:
            if exchange.te_count > 1 or (exchange.te_count and not exchange.chunked):
                problem = "Transfer-Encoding other than chunked"
            elif exchange.host is not None:
                parts = _host_parts(exchange.host)
                if parts is None:
                    problem = "invalid Host"
                else:
                    exchange.host_name, exchange.host_text = parts
        if problem is None:
            if exchange.url == b"*":
                problem = "asterisk-form request target"
            elif b"#" in exchange.url:
                problem = "fragment in the request target"  # RFC 9112 section 3.2: not sent by clients
            elif upgrade and (exchange.chunked or exchange.content_length):
                # llhttp stops framing at an upgrade head: the body would be read as the next
                # request. Refused rather than framed by hand (a WebSocket handshake has none).
                problem = "Upgrade with a request body"
        if problem is not None:
            log.info("client %s sent a bad request: %s", self.peer, problem)
            exchange.error = (400, None)
            self.closing = True
        elif exchange.method == b"CONNECT" or exchange.method == b"TRACE":
            # A gateway is no tunnel, nor a mirror of what it was sent: nginx (so Kong) refuses
            # CONNECT and TRACE outright.
            exchange.error = (405, None)
            self.closing = True
        else:
            limit = self.settings.client_max_body_size
            if limit and exchange.content_length is not None and exchange.content_length > limit:
                exchange.error = (413, None)
                self.closing = True
        if not exchange.chunked and not exchange.content_length:
            exchange.body_done = True  # nothing follows the head
        if (exchange.upgrade is not None and exchange.error is None and exchange.body_done and version == "1.1"
                and upgrade and exchange.upgrade.strip().lower() == b"websocket"):
            # After the handshake the connection tunnels or, refused, closes: never HTTP again.
            exchange.websocket = True
            exchange.keep_alive = False
            self.upgrading = exchange
        self.requests += 1
        self.state.counters[TOTAL_REQUESTS] += 1
        if exchange.error is not None:
            exchange.keep_alive = False
            self._dispatch(exchange)
            self._close_input()
            raise _Stop()
        self._dispatch(exchange)

    def on_body(self, body: bytes) -> None:
        self.parsing.on_request_body(body)

    def on_message_complete(self) -> None:
        exchange = self.parsing
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
            if not exchange.body_done or exchange.error is not None or self.parsing is not None:
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
        elif self.state.draining and self.parsing is None:
            self.close()

    def _run(self, exchange: Exchange) -> None:
        if not self.closed and self.active is exchange:
            exchange.run()

    def bad_input(self, status: int, reason: str) -> None:
        log.info("client %s sent a bad request: %s", self.peer, reason)
        self.reject = None
        self.closing = True
        self._close_input()
        exchange = self.parsing
        self.parsing = None
        if exchange is None:
            exchange = Exchange(self, self.state, self.loop.time())
        exchange.keep_alive = False
        if exchange.head_complete:  # the head was fine, the body is not
            if exchange is self.active:
                exchange.error_page(status)
            elif not exchange.finished:
                exchange.error = (status, None)
            return
        exchange.head_complete = True
        exchange.error = (status, None)
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
        if self.parsing is not None:
            log.info("client %s closed the connection in the middle of a request", self.peer)
            self.abort()
            return None
        self.closing = True
        for exchange in (self.active, *self.queue):
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
            idle = active is None and self.parsing is None
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
