"""The run loop of one request, organised by Kong's phases.

Order (kong/init.lua, kong/runloop/handler.lua)::

    rewrite -> [router] -> access -> balancer -> (upstream) -> header_filter -> body_filter -> log

Each phase below says when it runs, what it may do and what the default does. The default of
each phase is the gateway's own work; the plugins' chain of a phase (``RequestPlugins``,
dataplane/plugins/chain.py) runs inside its method, and a request no plugin can see skips them.

``Exchange`` is one request/response pair: the downstream connection fills its request fields
while parsing, then calls ``run`` once the exchange is the oldest one of its connection (pipelined
requests are answered in order). Everything that does not need I/O runs synchronously inside the
callback that made it possible; a task is created only to open a new upstream connection or to
query DNS on a cache miss.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Coroutine, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

from dataplane._core import format_access_line
from dataplane.plugins.chain import RequestPlugins
from dataplane.plugins.client_head import reframe
from dataplane.plugins.upstream_head import rewrite_upstream_head

from . import errors
from .body import BufferedBody
from .dns import NameNotFound, ResolverError, is_ip
from .errors import new_request_id
from .forwarding import SERVER_NAME, nginx_host
from .hashing import with_cookie
from .realip import real_ip
from .response import CLOSE, KEEP_ALIVE, STATUS_LINES
from .runtime import ServiceTarget, host_header_value
from .tunnel import Tunnel
from .upstream import UpstreamConnection

if TYPE_CHECKING:
    from .pool import PoolKey

if TYPE_CHECKING:
    from dataplane._core import Balancer, RequestHead, ResponseHead, RouteMatch

    from .contracts import ClientConnection
    from .runtime import Runtime
    from .state import ProxyState

log = logging.getLogger("gantry.proxy")

CRLF = b"\r\n"
# What a trusted client said of itself: (remote, proto, host, port, path, prefix), None if absent
Trusted = tuple[bytes | None, bytes | None, bytes | None, bytes | None, bytes | None, bytes | None]
LAST_CHUNK = b"0\r\n\r\n"
IDEMPOTENT = frozenset((b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"))
HOST_AT = 1  # where the upstream Host value goes in ``head_parts`` (known only after the balancer)
# Balancer.release's outcomes besides an HTTP status
TCP_FAILURE = -1
TIMEOUT = -2
_METHODS: dict[bytes, str] = {}
_IS_IP: dict[str, bool] = {}


class _NoFields:
    """The header fields of a request refused before its head was read: none."""

    __slots__ = ()

    def value(self, name: bytes) -> None:
        return None

    def values(self, name: bytes) -> None:
        return None

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        return iter(())

    def __len__(self) -> int:
        return 0


class _NoHead:
    """Stands in for the head of a request refused before it had one (``RequestRefused``):
    what its error page and its log line read."""

    __slots__ = ()
    method = b""
    url = b""
    version = b"1.1"
    keep_alive = False
    headers = _NoFields()
    content_length = None
    chunked = False
    websocket = False
    request_id = b""  # drawn when the exchange runs
    service = None
    preserve_host = False
    upstream_before = None
    upstream_after = None
    host = None
    host_name = b""
    host_text = ""
    expect_continue = False


NO_HEAD = _NoHead()


class Peer:
    """A request's dealings with a balancer beyond a round-robin first try (made only then):
    the slot held by the current try (-1: none), the slots tried, the value hashed on, and the
    Set-Cookie line of consistent-hashing's new cookie."""

    __slots__ = ("balancer", "slot", "tried", "value", "cookie")

    def __init__(self, balancer: Balancer) -> None:
        self.balancer = balancer
        self.slot = -1
        self.tried: list[int] = []
        self.value = b""
        self.cookie: bytes | None = None


class Exchange:
    __slots__ = (
        # the request as read (``head``) and what the exchange uses of it on every request
        "conn",
        "state",
        "head",
        "method",
        "url",
        "version",
        "keep_alive",
        "headers",
        "content_length",
        "chunked",
        "websocket",
        "tunnel_data",
        "error",
        "body_done",
        "body_buffer",
        "body_received",
        "start",
        "buffering",
        "buffered",
        "body_sent",
        "replaced_body",
        # decided by the phases
        "request_id",
        "service",
        "preserve_host",
        "head_parts",
        "upstream",
        "upstream_paused",
        "reused",
        "tries",
        "stale_retried",
        "connecting",
        "proxied",
        "t_balancer",
        "remote_addr",
        # what the balancer picked, when it was not a first round-robin try (Peer), else None
        "peer",
        "failed",  # (address, port, status: 502 or 504) of the try that failed to connect
        "captures",  # the route's regex captures, kept only for a uri_capture hash
        # the response
        "status",
        "started",
        "finished",
        "resp_chunked",
        "resp_bytes",
        "out",
        # a response plugins read whole first (kong-pdk's response phase): its client head,
        # before header_filter, and the body pieces so far
        "held_head",
        "held",
        # the plugins that may see the request (None when no plugin can)
        "plugins",
    )

    def __init__(self, conn: ClientConnection, state: ProxyState, start: float, head: RequestHead | _NoHead) -> None:
        """``head``: the request head as ``RequestPlanner.plan`` read it, planned (routed, with
        its service and upstream head) or not; ``NO_HEAD`` for a request refused before it had
        one."""
        self.conn = conn
        self.state = state
        self.start = start
        self.head = head
        self.method = head.method
        self.url = head.url
        self.version = head.version
        self.keep_alive = head.keep_alive
        self.headers = head.headers
        self.content_length = head.content_length
        self.chunked = head.chunked
        self.websocket = head.websocket  # a WebSocket handshake, passed on to the upstream
        self.request_id = head.request_id
        self.plugins: RequestPlugins | None = None
        # the planner hands back the ServiceTarget Runtime gave it, typed object in the stub
        self.service: ServiceTarget | None = head.service  # type: ignore[assignment]
        self.preserve_host = head.preserve_host
        before = head.upstream_before
        # The upstream request head as pieces, joined once per connect (Host goes at HOST_AT).
        # upstream_before and upstream_after are set together
        self.head_parts: list[bytes] = [before, b"", head.upstream_after] if before is not None else []  # type: ignore[list-item]
        # request_buffering: a planned head's route buffers (the planner plans no other), an
        # unplanned one's is known after routing
        self.buffering = before is not None
        self.tunnel_data = b""  # what the client sent after its handshake, held until the switch
        self.error: tuple[int, str | None] | None = None
        self.body_done = False
        self.body_buffer: list[bytes] | None = None  # body read before an upstream is connected
        self.body_received = 0
        self.buffered: BufferedBody | None = None  # the body while it is read whole
        self.body_sent = -1  # while a spilled body is written upstream: how much of it is
        self.replaced_body: bytes | None = None  # kong.service.request.set_raw_body's
        self.upstream: UpstreamConnection | None = None
        self.upstream_paused = False
        self.reused = False
        self.tries = 0
        self.stale_retried = False
        self.connecting: asyncio.Task[None] | None = None
        self.proxied = False
        self.t_balancer = 0.0
        self.remote_addr = conn.peer
        self.peer: Peer | None = None
        self.status = 0
        self.started = False
        self.finished = False
        self.resp_chunked = False
        self.resp_bytes = 0
        # Response bytes parsed from one upstream read, written to the client together after
        # that read (head and body usually share one read: one send instead of two or three).
        self.out: list[bytes] = []
        self.held_head = b""
        self.held: list[bytes] | None = None

    # ------------------------------------------------------------------------------------------
    # Entry point

    def run(self) -> None:
        """Called once, when this exchange is the connection's oldest unanswered request.

        A head the fast lane planned (``RequestPlanner.plan``) is routed and has its upstream
        head already, built by the same router and rules as ``route`` and ``access`` use: it
        goes straight to the balancer. Planning is for requests nothing else has a say in: the
        planner plans no request a plugin may see (``Runtime.planner``), so a planned request
        is one whose phases have nothing to run."""
        if not self.request_id:
            self.request_id = new_request_id()
        if self.error is not None:
            status, message = self.error
            self.error_page(status, message)
            return
        if self.service is not None:
            self.proceed()
            return
        runtime = self.state.runtime
        if runtime is None:  # no config yet: no route, no plugin
            self.exit(404, errors.NO_ROUTE)
            return
        if runtime.plugin_plans is not None:
            self.plugins = RequestPlugins(self, runtime)
            if self.rewrite(runtime):
                return
        self.route_and_access(runtime)

    def route_and_access(self, runtime: Runtime) -> None:
        match = self.route(runtime)
        if self.plugins is not None:
            self.plugins.routed(match)
        if match is None:
            self.exit(404, errors.NO_ROUTE)
            return
        self.access(runtime, match)

    def replace_body(self, body: bytes) -> None:
        """A plugin set the upstream's body: the client's is still read to its end (the
        connection depends on it) and dropped; the request goes upstream once it has ended."""
        self.replaced_body = body
        self.chunked = False  # the upstream request is framed by its Content-Length now
        self.body_buffer = None
        if self.buffered is not None:
            self.buffered.close()
            self.buffered = None
        self.conn.body_flowing()

    def proceed(self) -> None:
        """From access to the balancer, once the request may go upstream: at once when the
        route streams the body (``request_buffering`` false) or the body is here already,
        else when it is complete (``on_request_complete``), so that a body llhttp finds
        malformed is refused before the upstream was sent a byte, as nginx and Kong do."""
        if self.replaced_body is not None and not self.body_done:
            return  # on_request_complete goes on
        if self.buffering and not self.body_done:
            settings = self.state.settings
            try:
                self.buffered = BufferedBody(settings.client_body_buffer_size, settings.body_temp_dir, self.body_buffer)
            except OSError as err:
                self.spill_failed(err)
                return
            self.body_buffer = None
            self.conn.body_flowing()  # read on: the body is kept here, not held back by the client
            return
        self.balancer()

    # ------------------------------------------------------------------------------------------
    # rewrite

    def rewrite(self, runtime: Runtime) -> bool:
        """rewrite: runs once the request head is parsed, before routing, so only global
        plugins run here. They may change what goes upstream or end the request with a
        response. True when the exchange goes on elsewhere: ended by a plugin, or waiting for
        a plugin's coroutine (routing follows it). Default: nothing; the request goes to the
        router as received."""
        plugins = self.plugins
        if plugins is None or not plugins.plans.global_slots:
            return False
        verdict = plugins.rewrite()
        if verdict is False:
            return False
        if verdict is True:
            self.plugin_exit()
        else:
            self.connecting = asyncio.ensure_future(self.awaited(verdict, lambda: self.route_and_access(runtime)))
        return True

    async def awaited(self, verdict: Coroutine[Any, Any, bool], then: Callable[[], None]) -> None:
        """A phase waiting for a plugin's coroutine; ``then`` goes on unless a plugin ended the
        request. Held in ``connecting``, so a client that leaves cancels it."""
        try:
            ended = await verdict
        except Exception:
            log.exception("request %s failed between plugin phases", self.request_id.decode())
            ended = False
            then = partial(self.error_page, 500)
        self.connecting = None
        if self.finished:
            return
        if ended:
            self.plugin_exit()
        else:
            then()

    # ------------------------------------------------------------------------------------------
    # router (between rewrite and access, as in Kong's access.before)

    def route(self, runtime: Runtime) -> RouteMatch | None:
        url = self.url  # origin-form (the reader reduced an absolute-form target to it)
        query_at = url.find(b"?")
        path = url if query_at < 0 else url[:query_at]
        method = _METHODS.get(self.method)
        if method is None:
            method = _METHODS.setdefault(self.method, self.method.decode("latin-1"))
        names = runtime.route_header_names
        route_headers = None
        if names:
            route_headers = [
                (name.lower().decode("latin-1"), value.decode("latin-1"))
                for name, value in self.headers
                if name.lower() in names
            ]
        conn = self.conn
        return runtime.router.find(
            method, conn.scheme, self.head.host_text, path.decode("latin-1"), conn.downstream.sni, route_headers
        )

    # ------------------------------------------------------------------------------------------
    # access

    def access(self, runtime: Runtime, match: RouteMatch) -> None:
        """access: runs after a route matched. Plugins authenticate, authorise, limit, and may
        rewrite what goes upstream or end the request with a response. Default (Kong's runloop):
        the https-only check, then the upstream request head: path from the router, query as
        received, Host, X-Forwarded-*, X-Real-IP, Via, X-Kong-Request-Id, client headers minus
        hop-by-hop ones. Ends by answering ``Expect: 100-continue``."""
        state = self.state
        service_id = match.service_id
        service = runtime.services.get(service_id) if service_id else None
        conn = self.conn
        trusted = None
        if conn.trusted:
            headers = self.headers
            remote = None
            real = headers.values(state.settings.real_ip_header.lower().encode())
            if real is not None:
                self.remote_addr = real_ip(
                    conn.peer, real.decode("latin-1"), state.settings.trusted_ips, state.settings.real_ip_recursive
                )
                remote = self.remote_addr.encode()
            # an empty X-Forwarded-Proto, -Host or -Port counts as absent
            trusted = (
                remote,
                headers.value(b"x-forwarded-proto") or None,
                headers.value(b"x-forwarded-host") or None,
                headers.value(b"x-forwarded-port") or None,
                headers.value(b"x-forwarded-path"),
                headers.value(b"x-forwarded-prefix"),
            )

        redirect = match.https_redirect_status
        if redirect and ((trusted and trusted[1]) or conn.scheme_bytes) != b"https":
            if redirect in (301, 302, 307, 308):
                head = self.head
                host = (trusted and trusted[2]) or (head.host_name if head.host is not None else SERVER_NAME)
                self.respond(redirect, b"", None, (b"Location: https://%s%s\r\n" % (host, self.url),))
            else:
                self.exit(426, errors.HTTPS_REQUIRED, (b"Upgrade: TLS/1.2, HTTP/1.1\r\n",))
            return
        if service is None:
            self.exit(503, "no Service found with those values")
            return
        self.service = service
        self.preserve_host = match.preserve_host
        self.buffering = match.request_buffering
        if service.hash_spec is not None and service.hash_spec.captures:
            self.captures = match.captures
        plugins = self.plugins
        if plugins is not None:
            verdict = plugins.access()
            if verdict is True:
                self.plugin_exit()
                return
            if verdict is not False:
                self.connecting = asyncio.ensure_future(self.awaited(verdict, lambda: self.accessed(match, trusted)))
                return
        self.accessed(match, trusted)

    def accessed(self, match: RouteMatch, trusted: Trusted | None) -> None:
        """The end of access, once every plugin let the request through: the upstream request
        head, ``100 Continue`` when asked, then on to the balancer."""
        # A request refused before its head (NO_HEAD) was answered in run(): this head is real.
        request_head: RequestHead = self.head  # type: ignore[assignment]
        conn = self.conn
        before, after = self.state.planner.upstream_head(request_head, match, conn.downstream, trusted, self.request_id)
        plugins = self.plugins
        if plugins is not None:
            if plugins.upstream_ops or plugins.upstream_changes:
                before, after = rewrite_upstream_head(before, after, plugins)
            if plugins.service_changes:
                self.service = self.service.changed(plugins.service_changes, plugins.runtime.service_table)  # type: ignore[union-attr]  # access found it
            body = plugins.upstream_changes.get("body")
            if body is not None:
                self.replace_body(body)
        self.head_parts = [before, b"", after]

        if self.head.expect_continue and not self.body_done and self.body_received == 0:
            conn.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.proceed()

    # ------------------------------------------------------------------------------------------
    # balancer

    def balancer(self) -> None:
        """balancer: picks the peer for this try (again on each retry). Plugins may set the
        target or the retry callback. Default: the upstream's balancer when the service host
        names an upstream, else the service host; names resolved through the DNS cache; then an
        idle pooled connection, or a new one (the only step that needs a task)."""
        service: ServiceTarget = self.service  # type: ignore[assignment]  # set by access() or the planner
        if self.plugins is not None:
            self.plugins.balancing()  # kong.log.serialize's tries
        if service.balancer is not None:
            picked = self.pick_peer(service) if service.tracked or self.tries else service.balancer.pick()
            if picked is None:
                self.exit(503, errors.NO_PEER)
                return
            host, port = picked
            literal = _IS_IP.get(host)
            if literal is None:
                literal = _IS_IP.setdefault(host, is_ip(host))
            name = service.host_header or host
            host_line = host_header_value(name, port, service.tls).encode("latin-1")
        else:
            host, port = service.host, service.port
            literal = service.host_is_ip
            host_line = service.fixed_host_header
        if self.preserve_host:
            host_line = self.head.host or b""
        if self.plugins is not None and self.plugins.upstream_host is not None:
            host_line = self.plugins.upstream_host
        self.proxied = True
        if literal:
            address = host
        else:
            try:
                resolved = self.state.dns.cached(host)
            except (NameNotFound, ResolverError) as err:
                self.dns_failed(host, err)
                return
            if resolved is None:
                self.connecting = asyncio.ensure_future(self.resolve_and_connect(host, port, host_line))
                return
            address = resolved
        self.connect(address, port, host_line)

    def pick_peer(self, service: ServiceTarget) -> tuple[str, int] | None:
        """The balancer's pick for this try when it is not a round-robin first try: the value
        to hash (computed on the first try, as Kong), the slots tried already (a retry goes to
        another target), the slot held until the try ends (``release_peer``)."""
        balancer: Balancer = service.balancer  # type: ignore[assignment]  # the caller checked
        peer = self.peer
        if peer is None:
            peer = self.peer = Peer(balancer)
            if service.tracked:
                spec = service.hash_spec
                if spec is not None:
                    peer.value = spec.value(self, peer)
        if not service.tracked:  # round-robin's retry: the wheel's next target not tried yet
            failed = self.failed
            dns = self.state.dns
            for slot in range(balancer.live):
                host, port = balancer.address(slot)  # type: ignore[misc]  # slot < live
                if port == failed[1] and (host == failed[0] or failed[0] in dns.known(host)):
                    peer.tried.append(slot)
        elif peer.slot >= 0:  # a retry: the failed try's slot is released and passed over
            # health checks count it as a timeout or a TCP failure (Kong's balancer phase)
            balancer.release(peer.slot, None, TIMEOUT if self.failed[2] == 504 else TCP_FAILURE)
            peer.tried.append(peer.slot)
            peer.slot = -1
        found = balancer.peer(peer.value, peer.tried)
        if found is None and peer.tried and balancer.algorithm != "latency":
            peer.tried.clear()  # every target tried: round again (latency has no peer left, as Kong)
            found = balancer.peer(peer.value, peer.tried)
        if found is None:
            return None
        slot, host, port = found
        if service.tracked:
            peer.slot = slot
        return host, port

    def release_peer(self, peer: Peer, done: bool) -> None:
        """The try on the balancer's pick ended: least-connections stops counting it; with
        ``done`` (a response came, or the gateway answered for the upstream), latency takes its
        round trip, from the connect to now, and health checks its status (504 counting as a
        timeout, as Kong's log phase reports it)."""
        slot, peer.slot = peer.slot, -1
        if done and self.t_balancer:
            peer.balancer.release(slot, self.conn.loop.time() - self.t_balancer, self.status)
        else:
            peer.balancer.release(slot)

    def connect(self, address: str, port: int, host_line: bytes) -> None:
        service: ServiceTarget = self.service  # type: ignore[assignment]  # the balancer ran
        sni = None
        if service.tls:
            sni = nginx_host(host_line, b"").decode("latin-1").strip("[]") or None
            if sni is not None and is_ip(sni):
                sni = None
        key = (address, port, service.ssl_context, sni)
        self.t_balancer = self.conn.loop.time()
        if self.plugins is not None:
            self.plugins.connecting(address, port)
        self.head_parts[HOST_AT] = host_line
        upstream = self.state.pool.acquire(key)
        if upstream is not None:
            self.send(upstream, True, self.t_balancer)
        else:
            self.connecting = asyncio.ensure_future(self.open(key))

    async def resolve_and_connect(self, host: str, port: int, host_line: bytes) -> None:
        try:
            address = await self.state.dns.resolve(host)
        except (NameNotFound, ResolverError) as err:
            self.connecting = None
            if not self.finished:
                self.dns_failed(host, err)
            return
        self.connecting = None
        if not self.finished:
            self.connect(address, port, host_line)

    def dns_failed(self, host: str, err: Exception) -> None:
        log.error("upstream name %s: %s (request %s)", host, err, self.request_id.decode())
        if isinstance(err, NameNotFound):
            self.exit(503, errors.NAME_RESOLUTION)
        else:
            self.exit(500, str(err))

    async def open(self, key: PoolKey) -> None:
        """Open a new upstream connection; on failure, retry with the balancer's next pick."""
        service: ServiceTarget = self.service  # type: ignore[assignment]  # the balancer ran
        address, port, _, sni = key
        loop = self.conn.loop
        try:
            async with asyncio.timeout(service.connect_timeout):
                _, upstream = await loop.create_connection(
                    partial(UpstreamConnection, self.state.pool, key),
                    address,
                    port,
                    ssl=service.ssl_context,
                    server_hostname=(sni or address) if service.tls else None,
                )
        except TimeoutError:
            self.connect_failed(address, port, "timed out", 504)
            return
        except (OSError, ssl.SSLError) as err:
            self.connect_failed(address, port, err, 502)
            return
        self.connecting = None
        if self.finished:  # the client went away meanwhile
            upstream.close()
            return
        self.send(upstream, False, loop.time())

    def connect_failed(self, address: str, port: int, err: object, status: int) -> None:
        self.connecting = None
        if self.finished:
            return
        self.tries += 1
        if self.plugins is not None:
            self.plugins.try_failed(status)
        log.error(
            "upstream %s:%d connect failed (try %d): %s (request %s)",
            address,
            port,
            self.tries,
            err,
            self.request_id.decode(),
        )
        if self.tries <= self.service.retries:  # type: ignore[union-attr]  # the balancer ran
            self.failed = (address, port, status)
            self.balancer()
        else:
            self.error_page(status)

    def send(self, upstream: UpstreamConnection, reused: bool, now: float) -> None:
        """Write the request head and whatever body is already here; the rest streams from
        ``on_request_body``."""
        service: ServiceTarget = self.service  # type: ignore[assignment]  # the balancer ran
        self.upstream = upstream
        self.reused = reused
        buffered = self.buffered
        held = self.body_buffer if buffered is None else buffered.in_memory()
        whole = self.body_done and (buffered is None or held is not None)  # the request goes in one write
        if self.replaced_body is not None:
            held, whole = [self.replaced_body], True
        upstream.start(self, service.read_timeout, service.write_timeout, self.method == b"HEAD", whole, now)
        head = b"".join(self.head_parts)
        if held or (whole and self.chunked):
            data = [head]
            for chunk in held or ():
                if self.chunked:
                    data += (b"%x\r\n" % len(chunk), chunk, CRLF)
                else:
                    data.append(chunk)
            self.body_buffer = None  # a buffered body stays, for a retry on another connection
            if whole and self.chunked:
                data.append(LAST_CHUNK)
            upstream.transport.writelines(data)
        else:
            upstream.transport.write(head)
            if not whole and buffered is not None:
                self.body_sent = 0
                self.write_spilled()
        conn = self.conn
        if conn.write_paused:
            self.upstream_paused = True
            upstream.transport.pause_reading()
        if conn.blocks:
            conn.body_flowing()

    def write_spilled(self) -> None:
        """Write the spilled body upstream while the upstream takes it; ``on_upstream_congested``
        resumes it."""
        # both are set while a spilled body is being sent (body_sent >= 0)
        upstream: UpstreamConnection = self.upstream  # type: ignore[assignment]
        buffered: BufferedBody = self.buffered  # type: ignore[assignment]
        offset = self.body_sent
        while not upstream.write_paused:
            try:
                piece = buffered.read(offset)
            except OSError as err:
                self.spill_failed(err)
                return
            if not piece:
                self.body_sent = -1
                if self.chunked:
                    upstream.transport.write(LAST_CHUNK)
                upstream.sent()
                return
            offset += len(piece)
            self.body_sent = offset
            if self.chunked:
                upstream.transport.writelines((b"%x\r\n" % len(piece), piece, CRLF))
            else:
                upstream.transport.write(piece)

    def spill_failed(self, err: OSError) -> None:
        log.error(
            "could not keep the request body in %s: %s (request %s)",
            self.state.settings.body_temp_dir,
            err,
            self.request_id.decode(),
        )
        self.error_page(500)

    # ------------------------------------------------------------------------------------------
    # request body (read whole first, or streamed while the upstream answers)

    def on_request_body(self, chunk: bytes) -> None:
        self.body_received += len(chunk)
        limit = self.state.settings.client_max_body_size
        if limit and self.body_received > limit:
            self.too_large()
            return
        if self.finished:
            return  # answered already (an early error): the body is dropped
        plugins = self.plugins
        if plugins is not None and plugins.body_checks and plugins.body_received(self.body_received):
            self.plugin_exit()  # a plugin refused the body (request-size-limiting's 413)
            return
        if self.replaced_body is not None:
            return  # a plugin's body goes upstream instead
        buffered = self.buffered
        if buffered is not None:
            try:
                buffered.add(chunk)
            except OSError as err:
                self.spill_failed(err)
            return
        upstream = self.upstream
        if upstream is not None:
            if self.chunked:
                upstream.transport.writelines((b"%x\r\n" % len(chunk), chunk, CRLF))
            else:
                upstream.transport.write(chunk)
        else:
            # not connected yet (or queued behind another request): hold this read, read no more
            if self.body_buffer is None:
                self.body_buffer = []
            self.body_buffer.append(chunk)
            self.conn.body_waiting()

    def on_request_complete(self) -> None:
        self.body_done = True
        plugins = self.plugins
        # the watching plugins' ``whole`` callbacks run with the body whole (hmac-auth's digest
        # reads it then), before a buffered body goes upstream
        if not self.finished and plugins is not None and plugins.body_ends and plugins.body_complete():
            self.plugin_exit()
            return
        if self.replaced_body is not None:
            if not self.finished and self.upstream is None and self.connecting is None:
                self.balancer()
            return
        if self.buffered is not None:
            if not self.finished:
                self.balancer()
            return
        upstream = self.upstream
        if upstream is not None and not self.finished:
            if self.chunked:
                upstream.transport.write(LAST_CHUNK)
            upstream.sent()

    def too_large(self) -> None:
        log.info(
            "client sent a body larger than client_max_body_size (%d bytes), request %s",
            self.state.settings.client_max_body_size,
            self.request_id.decode() or "-",
        )
        if self.finished:
            return
        if self.conn.active is not self:
            self.error = (413, None)  # queued behind another request: answered in its turn
            return
        self.error_page(413)

    # ------------------------------------------------------------------------------------------
    # header_filter

    def on_response_head(self, status: int, head: ResponseHead) -> None:
        """header_filter: runs when the upstream's response head has arrived. Plugins may
        change the status and headers. Default (Kong): hop-by-hop headers dropped, framing
        chosen for the client, Via appended, Server added when the upstream sent none, Date,
        X-Kong-Upstream-Latency, X-Kong-Proxy-Latency, X-Kong-Request-Id."""
        if self.finished:
            return
        state = self.state
        now = self.upstream.last_io  # type: ignore[union-attr]  # the time of the read that brought the head
        t_balancer = self.t_balancer
        self.status = status
        head_bytes, self.resp_chunked, self.keep_alive = state.client_head.build(
            head,
            self.method == b"HEAD",
            self.version == b"1.0",
            self.may_keep_alive(),
            int((now - t_balancer) * 1000),
            int((t_balancer - self.start) * 1000),
            self.request_id,
            self.websocket,
        )
        peer = self.peer
        if peer is not None and peer.cookie is not None:  # consistent-hashing's new cookie
            head_bytes = with_cookie(head_bytes, peer.cookie)
        plugins = self.plugins
        if plugins is not None:
            plugins.upstream_answered(status, now)
            bodied = self.method != b"HEAD" and status not in (101, 204, 304)
            if bodied and plugins.buffers_response():
                self.held_head, self.held = head_bytes, []  # header_filter runs once it is whole
                return
            filtered = self.filtered_head(head_bytes, bodied, None)
            if filtered is None:
                return
            head_bytes = filtered
        self.started = True
        self.out.append(head_bytes)

    def filtered_head(self, head: bytes, bodied: bool, length: int | None) -> bytes | None:
        """The plugins' header_filter over the client head, framed again when body filters
        may change the body (``length``: a buffered body's); None when a plugin failed (the
        client got a 500 instead)."""
        plugins: RequestPlugins = self.plugins  # type: ignore[assignment]  # called when plugins run
        head = plugins.header_filter(head)
        if plugins.failed:
            self.error_page(500)  # nothing of the upstream's response was sent yet
            return None
        self.status = plugins.status or self.status
        if bodied and (plugins.filters_body() or length is not None):
            head, self.resp_chunked, keep_alive = reframe(
                head, None if plugins.body_filters else length, self.version == b"1.0"
            )
            self.keep_alive = self.keep_alive and keep_alive
            plugins.sent_head = head
        return head

    def on_plain_response(self, data: bytes) -> tuple[int, int, int, bool, bytes, bool, bool] | None:
        """header_filter for the fast lane, with the same default as ``on_response_head``, the
        upstream head parsed and the client head built in one native call
        (``ClientHeadFilter.relay``). None when the head at the start of ``data`` is not whole,
        plain and framed by a length: the general lane reads the response. Else the relay
        tuple; the upstream side reads the head length [0], body length [2] and reusable [3]."""
        plugins = self.plugins
        if self.finished or (plugins is not None and plugins.sees_response()):
            return None  # plugins see the response through the general lane's header filter
        # the inputs are spelled out as in on_response_head rather than gathered by a shared
        # helper: that extra call cost 3% of the fast lane's Python (bench/hot_path_bench.py)
        now = self.upstream.last_io  # type: ignore[union-attr]  # called by that upstream
        t_balancer = self.t_balancer
        relayed = self.state.client_head.relay(
            data,
            self.method == b"HEAD",
            self.version == b"1.0",
            self.may_keep_alive(),
            int((now - t_balancer) * 1000),
            int((t_balancer - self.start) * 1000),
            self.request_id,
        )
        if relayed is not None:
            _, self.status, _, _, head_bytes, self.resp_chunked, self.keep_alive = relayed
            peer = self.peer
            if peer is not None and peer.cookie is not None:  # consistent-hashing's new cookie
                head_bytes = with_cookie(head_bytes, peer.cookie)
            self.started = True
            self.out.append(head_bytes)
        return relayed

    # ------------------------------------------------------------------------------------------
    # body_filter

    def on_response_body(self, chunk: bytes) -> None:
        """body_filter: runs for each piece of the response body as it arrives. Plugins may
        transform or replace pieces. Default: stream the piece to the client, re-chunked when
        the client gets chunked framing; never buffered whole."""
        if self.finished:
            return
        plugins = self.plugins
        if plugins is not None:
            if self.held is not None:
                self.held.append(chunk)
                return
            if plugins.body_filters:
                chunk = plugins.body_filter(chunk, False)
                if plugins.failed:
                    self.conn.abort()  # the head is out: a cut is all the client can be told
                    return
        self.emit(chunk)

    def emit(self, chunk: bytes) -> None:
        if not chunk:
            return  # an empty piece would read as the last chunk
        self.resp_bytes += len(chunk)
        if self.resp_chunked:
            self.out += (b"%x\r\n" % len(chunk), chunk, CRLF)
        else:
            self.out.append(chunk)

    def flush(self) -> None:
        """Write what the last upstream read produced."""
        out = self.out
        if out:
            self.out = []
            self.conn.writelines(out)

    def on_response_complete(self, reusable: bool) -> None:
        if self.finished:
            return
        peer = self.peer
        if peer is not None and peer.slot >= 0:
            # counted before the client has its answer: its next request, on any worker, finds
            # a target this one just took out
            self.release_peer(peer, True)
        plugins = self.plugins
        if plugins is not None and (self.held is not None or plugins.body_filters):
            self.release_upstream(reusable)
            self.complete_filtered(plugins)
            return
        if self.resp_chunked:
            self.out.append(LAST_CHUNK)
        self.flush()
        self.release_upstream(reusable)
        self.finish()

    def complete_filtered(self, plugins: RequestPlugins) -> None:
        """The end of a response plugins handle the body of: a held one goes through the
        response phase (which may replace it) and header_filter now; then the last of the
        body filters' output."""
        if self.held is not None:
            body, head = b"".join(self.held), self.held_head
            self.held, self.held_head = None, b""
            if plugins.response(head, body):
                self.plugin_exit()
                return
            filtered = self.filtered_head(head, True, len(body))
            if filtered is None:
                return
            self.started = True
            self.out.append(filtered)
            if not plugins.body_filters:
                self.emit(body)
                body = b""
        else:
            body = b""
        if plugins.body_filters:
            self.emit(plugins.body_filter(body, True))
            if plugins.failed:
                self.conn.abort()
                return
        if self.resp_chunked:
            self.out.append(LAST_CHUNK)
        self.flush()
        self.finish()

    def release_upstream(self, reusable: bool) -> None:
        """The upstream's response is read: its connection back to the pool when it may serve
        another request, else closed."""
        upstream = self.upstream
        self.upstream = None
        if upstream is not None:
            # after a refused WebSocket handshake the connection is not trusted for another request
            # and never before the whole request went out: the rest would be read as a request
            if reusable and upstream.request_sent and self.body_done and not upstream.closed and not self.websocket:
                upstream.detach()
                if self.upstream_paused:
                    upstream.transport.resume_reading()
                self.state.pool.release(upstream)
            else:
                upstream.close()
        if not self.body_done:
            self.keep_alive = False  # the rest of the request body is still on the wire

    def on_upgraded(self, upstream: UpstreamConnection, data: bytes) -> None:
        """The upstream switched to WebSocket (its 101 head is in ``out``; ``data`` is what
        followed it in the same read). The exchange ends here, logged as 101, and the two
        connections become one byte tunnel until either side closes or nothing moves for the
        service's read_timeout (nginx's proxy_read_timeout on upgraded connections)."""
        if data:
            self.out.append(data)
        self.flush()
        self.upstream = None
        self.finished = True
        peer = self.peer
        if peer is not None and peer.slot >= 0:
            self.release_peer(peer, True)
        self.log()
        Tunnel(self.conn, upstream, self.service.read_timeout, self.tunnel_data)  # type: ignore[union-attr]  # a switch answers a request sent to a service

    # ------------------------------------------------------------------------------------------
    # upstream failures

    def on_upstream_lost(self, upstream: UpstreamConnection, exc: Exception | None) -> None:
        if upstream is not self.upstream or self.finished:
            return
        self.upstream = None
        if upstream.head_done:
            if upstream.close_delimited():
                self.on_response_complete(False)  # EOF ends the body
                return
            log.error(
                "upstream %s:%d closed the connection in the middle of the response body (request %s)",
                upstream.key[0],
                upstream.key[1],
                self.request_id.decode(),
            )
            self.conn.abort()
            return
        if self.reused and upstream.received == 0 and not self.stale_retried and self.replayable():
            # A pooled connection the upstream had closed: retry once on a fresh one.
            self.stale_retried = True
            self.connecting = asyncio.ensure_future(self.open(upstream.key))
            return
        log.error(
            "upstream %s:%d prematurely closed the connection (%s) (request %s)",
            upstream.key[0],
            upstream.key[1],
            exc or "EOF",
            self.request_id.decode(),
        )
        self.error_page(502)

    def on_upstream_invalid(self, reason: str) -> None:
        upstream = self.upstream
        if upstream is None or self.finished:
            return
        self.upstream = None
        upstream.abort()
        log.error(
            "upstream %s:%d sent an invalid response: %s (request %s)",
            upstream.key[0],
            upstream.key[1],
            reason,
            self.request_id.decode(),
        )
        if self.started:
            self.conn.abort()
        else:
            self.error_page(502)

    def on_upstream_timeout(self, upstream: UpstreamConnection) -> None:
        if upstream is not self.upstream or self.finished:
            return
        self.upstream = None
        upstream.abort()
        log.error("upstream %s:%d timed out (request %s)", upstream.key[0], upstream.key[1], self.request_id.decode())
        if self.started:
            self.conn.abort()
        else:
            self.error_page(504)

    def on_upstream_congested(self, paused: bool) -> None:
        """The upstream's write buffer is full (or drained): stop (resume) reading the client,
        or writing a spilled body."""
        if not paused and self.body_sent >= 0 and self.upstream is not None:
            self.write_spilled()
        self.conn.upstream_congested(paused)

    def on_client_congested(self, paused: bool) -> None:
        """The client's write buffer is full (or drained): stop (resume) reading the upstream."""
        upstream = self.upstream
        if upstream is not None and paused != self.upstream_paused:
            self.upstream_paused = paused
            if paused:
                upstream.transport.pause_reading()
            else:
                upstream.transport.resume_reading()

    def replayable(self) -> bool:
        return self.method in IDEMPOTENT and not self.chunked and not self.content_length

    # ------------------------------------------------------------------------------------------
    # the gateway's own responses

    def exit(self, status: int, message: str, extra: tuple[bytes, ...] = ()) -> None:
        """``kong.response.error``: format from Accept, JSON by default."""
        content_type = errors.media_type(self.headers.value(b"accept"))
        self.respond(status, errors.render(status, message, self.request_id, content_type), content_type, extra)

    def error_page(self, status: int, message: str | None = None) -> None:
        """nginx's error pages through Kong's error handler: Accept, else Content-Type, else
        ``error_default_type``. Oversized request headers get 431 (nginx's 494 answered as 400
        told the client nothing precise)."""
        headers = self.headers
        accept = (
            headers.value(b"accept")
            or headers.value(b"content-type")
            or self.state.settings.error_default_type.encode()
        )
        content_type = errors.media_type(accept)
        body = errors.render(status, message, self.request_id, content_type)
        if status in (400, 413, 414, 431):
            self.keep_alive = False  # what follows on the connection cannot be trusted
        self.respond(status, body, content_type)

    def respond(self, status: int, body: bytes, content_type: bytes | None, extra: tuple[bytes, ...] = ()) -> None:
        if self.finished:
            return
        if self.started:  # the upstream's head is out already: all we can do is cut
            self.conn.abort()
            return
        if self.connecting is not None:
            self.connecting.cancel()
            self.connecting = None
        if self.upstream is not None:
            self.upstream.abort()
            self.upstream = None
        if not self.body_done:
            self.keep_alive = False
        state = self.state
        self.status = status
        lines = [STATUS_LINES.get(status) or b"HTTP/1.1 %d \r\n" % status, state.client_head.date_line()]
        if content_type is not None:
            lines.append(b"Content-Type: %s\r\n" % content_type)
        lines.append(b"Content-Length: %d\r\n" % len(body))
        lines += extra
        lines.append(self.connection_line())
        now = self.conn.loop.time()
        if self.proxied:
            if state.via_on:
                lines.append(state.via_line)
            if state.server_on:
                lines.append(state.server_line)
            if state.upstream_latency_on and self.t_balancer:
                lines.append(b"X-Kong-Upstream-Latency: %d\r\n" % int((now - self.t_balancer) * 1000))
            if state.proxy_latency_on:
                lines.append(b"X-Kong-Proxy-Latency: %d\r\n" % int(((self.t_balancer or now) - self.start) * 1000))
        else:
            if state.response_latency_on:
                lines.append(b"X-Kong-Response-Latency: %d\r\n" % int((now - self.start) * 1000))
            if state.server_on:
                lines.append(state.server_line)
        if state.request_id_on and self.request_id:
            lines += (b"X-Kong-Request-Id: ", self.request_id, CRLF)
        lines.append(CRLF)
        head = b"".join(lines)
        plugins = self.plugins
        if plugins is not None and not plugins.header_filtered:
            head = plugins.header_filter(head)  # plugins see the gateway's own answers too
            self.status = plugins.status or status
            if self.method != b"HEAD" and plugins.filters_body():
                body = plugins.body_filter(body, True)
                head = reframe(head, len(body), False)[0]
        if self.method != b"HEAD":
            self.resp_bytes = len(body)
            self.conn.writelines((head, body))
        else:
            self.conn.write(head)
        self.finish()

    def plugin_exit(self) -> None:
        """A plugin ended the request (``kong.response.exit`` or ``error``, or it failed):
        its response, as one of the gateway's own."""
        status, body, content_type, extra = self.plugins.exit  # type: ignore[union-attr,misc]  # set by the plugin
        self.respond(status, body, content_type, tuple(b"%s: %s\r\n" % field for field in extra))

    def may_keep_alive(self) -> bool:
        """The client connection may stay open after this response: the client asked, the
        worker is not draining, the connection is under ``client_keepalive_requests``."""
        state = self.state
        return self.keep_alive and not state.draining and self.conn.requests < state.settings.client_keepalive_requests

    def connection_line(self) -> bytes:
        if self.may_keep_alive():
            return KEEP_ALIVE
        self.keep_alive = False
        return CLOSE

    # ------------------------------------------------------------------------------------------
    # log

    def finish(self) -> None:
        self.finished = True
        peer = self.peer
        if peer is not None and peer.slot >= 0:
            self.release_peer(peer, True)
        self.release_body()
        self.log()
        if self.plugins is not None:
            self.conn.loop.call_soon(self.log_plugins)  # after the response is out
        self.conn.exchange_done(self)

    def abort(self) -> None:
        """The client connection is gone: drop the upstream side without pooling it."""
        if self.finished:
            return
        self.finished = True
        peer = self.peer
        if peer is not None and peer.slot >= 0:
            self.release_peer(peer, False)
        self.release_body()
        if self.connecting is not None:
            self.connecting.cancel()
            self.connecting = None
        if self.upstream is not None:
            self.upstream.abort()
            self.upstream = None
        if not self.started:
            self.status = 499  # nginx's "client closed request"
        self.log()
        if self.plugins is not None:
            self.conn.loop.call_soon(self.log_plugins)

    def log_plugins(self) -> None:
        pending = self.plugins.log_phase()  # type: ignore[union-attr]  # called when plugins ran
        if pending is not None:
            self.state.run_log_phase(pending)

    def release_body(self) -> None:
        """A buffered body is dropped with its exchange (a spill file goes with its descriptor)."""
        if self.buffered is not None:
            self.buffered.close()
            self.buffered = None
        self.body_sent = -1

    def log(self) -> None:
        """log: runs after the response has been handed to the client's transport. Plugins
        send metrics and logs (never delaying the response). Default: one access log record,
        written later in a batch."""
        access_log = self.state.access_log
        if access_log is None:
            return
        headers = self.headers
        access_log.record(
            format_access_line(
                self.remote_addr,
                headers.value(b"authorization"),
                headers.value(b"referer"),
                headers.value(b"user-agent"),
                access_log.time_local(),
                self.method,
                self.url,
                self.version,
                self.status,
                self.resp_bytes,
                self.request_id or b"-",
            )
        )
