"""Unit-testing a plugin with pytest, no gateway started: one request through its phases.

    from dataplane.plugins.testing import PluginHarness, Request

    def test_greets():
        result = PluginHarness(my_plugin).run(Request("GET", "/hi"), config={"greeting": "hello"})
        assert result.response.headers["x-greeting"] == "hello"
        assert result.upstream.headers["x-greeted"] == "yes"

The request goes through what the gateway runs for it, minus the sockets: the native head
parser and router, the real ``RequestPlugins`` and PDK (``kong.*``), the upstream head the
proxy builds with the plugins' changes applied, the client head the proxy builds from the
upstream's answer (given by the test), header_filter, then the log phase. Configs are
completed and checked against the plugin's schema as the Admin API and kong.yml do.

What differs from a running node: the request body arrives with the head (as a small body
does), the upstream is not connected to (its answer is ``Upstream``), and the proxy's timing
headers read 0.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import orjson

from dataplane import _core
from dataplane.proxy import ProxySettings, ProxyState, Runtime, errors
from dataplane.proxy.realip import real_ip
from dataplane.proxy.response import STATUS_LINES
from dataplane.schema import process, register_plugin_config

from .chain import RequestPlugins
from .client_head import reframe
from .kong_pdk import dedicated_name, load_plugin_file
from .registry import Registry, spec_from_module
from .spec import PluginSpec
from .upstream_head import rewrite_upstream_head

log = logging.getLogger("gantry.plugins")

SERVICE_ID = "5e7a1ce0-0000-4000-8000-000000000001"
ROUTE_ID = "5e7a1ce0-0000-4000-8000-000000000002"
NODE_ID = "5e7a1ce0-0000-4000-8000-0000000000ff"

Fields = Mapping[str, str] | Sequence[tuple[str, str]]


class BodyFilterFailed(RuntimeError):
    """A body_filter raised after the response head went out (a client would see a cut)."""


class PluginConfigError(ValueError):
    """A config the plugin's schema refuses (the Admin API would answer 400 with ``errors``)."""

    def __init__(self, name: str, errors: Any) -> None:
        self.errors = errors
        super().__init__(f"plugin '{name}': invalid config: {errors}")


class Headers:
    """Header fields in order; lookups ignore case, ``[name]`` gives the first value."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self.pairs = list(pairs)

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self.get_all(name)
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.pairs if key.lower() == name]

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self.get_all(name))

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.pairs)

    def __repr__(self) -> str:
        return f"Headers({self.pairs!r})"


@dataclass(frozen=True)
class Request:
    """What the client sends. ``path`` may carry a query; a Host is added when none is given."""

    method: str = "GET"
    path: str = "/"
    headers: Fields = ()
    body: bytes | str | None = None
    client_ip: str = "127.0.0.1"
    https: bool = False
    trusted: bool = False  # the client is in trusted_ips: its X-Forwarded-* and X-Real-IP count


@dataclass(frozen=True)
class Upstream:
    """What the upstream answers when the request reaches it."""

    status: int = 200
    headers: Fields = (("Content-Type", "text/plain"),)
    body: bytes | str | Sequence[bytes] = b"upstream body"  # a sequence: the pieces body filters get


@dataclass(frozen=True)
class UpstreamRequest:
    """The request as it went upstream."""

    method: str
    target: str  # path and query
    headers: Headers
    body: bytes
    # where and how it goes (the service's, or as kong.service.set_* changed them): the host
    # (an upstream's name when a balancer picks the target), port, scheme, retries and the
    # connect, write and read timeouts in seconds
    host: str = ""
    port: int = 0
    scheme: str = "http"
    retries: int = 5
    timeouts: tuple[float, float, float] = (60.0, 60.0, 60.0)

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]


@dataclass(frozen=True)
class Response:
    """What the client got."""

    status: int
    headers: Headers
    body: bytes
    source: str  # Kong's kong.response.get_source(): "service", "exit" or "error"

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass(frozen=True)
class Result:
    response: Response
    upstream: UpstreamRequest | None  # None when the request never reached the upstream
    logs: list[tuple[str, str]] = field(default_factory=list)  # (level, message) of kong.log and failures
    shared: dict[str, Any] = field(default_factory=dict)  # kong.ctx.shared after the log phase
    consumer: dict[str, Any] | None = None  # kong.client.get_consumer() at the end
    credential: dict[str, Any] | None = None


def plugin_spec(plugin: PluginSpec | ModuleType | str | os.PathLike[str], *, lua_style: bool = True) -> PluginSpec:
    """A plugin as the registry describes it: a Gantry-native module (named by its ``name``
    attribute, else its module name with ``_`` as ``-``), a kong-pdk plugin file (named as it
    names itself to ``start_dedicated_server``, else by its file; ``lua_style`` as without
    ``--no-lua-style``), or a spec already made."""
    if isinstance(plugin, PluginSpec):
        return plugin
    if isinstance(plugin, ModuleType):
        name = getattr(plugin, "name", None) or plugin.__name__.rpartition(".")[2].replace("_", "-")
        return spec_from_module(name, plugin, "custom")
    path = os.path.abspath(os.fspath(plugin))
    return load_plugin_file(dedicated_name(path), path, lua_style=lua_style, dedicated=True)


class PluginHarness:
    """Plugins configured on one route of one service, ready to take requests.

    ``scope="global"`` configures them globally instead (then their rewrite phase runs too, as
    Kong runs rewrite for global plugins only). ``entities``: other entities plugins look up
    (``{"consumers": [...], "keyauth_credentials": [...]}``), as Kong stores them. ``route`` and
    ``service``: fields of the route and service, over Kong's defaults (the route matches every
    path; the service is ``http://upstream.test``)."""

    def __init__(
        self,
        *plugins: PluginSpec | ModuleType | str | os.PathLike[str],
        scope: str = "route",
        entities: Mapping[str, list[dict[str, Any]]] | None = None,
        route: Mapping[str, Any] | None = None,
        service: Mapping[str, Any] | None = None,
        settings: ProxySettings | None = None,
    ) -> None:
        if scope not in ("route", "service", "global"):
            raise ValueError(f"scope {scope!r}: route, service or global")
        self.specs = [plugin_spec(plugin) for plugin in plugins]
        for spec in self.specs:
            register_plugin_config(spec.name, spec.config, no_consumer=spec.no_consumer)
        self.registry = Registry(self.specs)
        self.scope = scope
        self.entities = {kind: list(items) for kind, items in (entities or {}).items()}
        self.settings = settings or ProxySettings(node_id=NODE_ID)
        self.service = _entity(
            "services", {"id": SERVICE_ID, "name": "service", "host": "upstream.test", **(service or {})}
        )
        self.route = _entity(
            "routes",
            {
                "id": ROUTE_ID,
                "name": "route",
                "paths": ["/"],
                "strip_path": False,
                **(route or {}),
                "service": {"id": self.service["id"]},
            },
        )

    def run(
        self,
        request: Request | None = None,
        *,
        config: Mapping[str, Any] | None = None,
        configs: Mapping[str, Mapping[str, Any]] | None = None,
        upstream: Upstream | None = None,
        reraise: bool = True,
    ) -> Result:
        """One request. ``config``: the config of the only plugin; ``configs``: by plugin name.
        ``reraise``: a phase that raised fails the test with its exception (else the result
        holds Kong's 500 and the failure's log line, as a client and the error log would)."""
        if config is not None and configs is not None:
            raise ValueError("config or configs, not both")
        if config is not None:
            if len(self.specs) != 1:
                raise ValueError("config is for one plugin: give configs by plugin name")
            configs = {self.specs[0].name: config}
        unknown = set(configs or {}) - {spec.name for spec in self.specs}
        if unknown:
            raise ValueError(f"configs for plugins not in this harness: {', '.join(sorted(unknown))}")
        plugins = [self._plugin_entity(spec, (configs or {}).get(spec.name, {})) for spec in self.specs]
        runtime = Runtime.build(
            1,
            "0" * 32,
            _core.Router.from_json([orjson.dumps(self.route)], [orjson.dumps(self.service)]),
            [self.service],
            {},
            [],
            self.settings,
            plugins=plugins,
            entities={"routes": [self.route], **self.entities},
            registry=self.registry,
        )
        with _Capture() as capture:
            result = _Drive(ProxyState(self.settings, runtime), runtime, request or Request(), upstream or Upstream())
            outcome = result.run(capture.logs)
        if reraise and capture.failures:
            raise capture.failures[0]
        return outcome

    def _plugin_entity(self, spec: PluginSpec, config: Mapping[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = {"id": str(uuid.uuid4()), "name": spec.name, "config": dict(config)}
        if self.scope == "route":
            data["route"] = {"id": self.route["id"]}
        elif self.scope == "service":
            data["service"] = {"id": self.service["id"]}
        entity, problems = process("plugins", data, extra_plugins=frozenset((spec.name,)))
        if problems:
            raise PluginConfigError(spec.name, problems)
        return entity


def _entity(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    entity, problems = process(kind, data)
    if problems:
        raise ValueError(f"{kind[:-1]}: {problems}")
    return entity


class _Capture(logging.Handler):
    """The plugin log's lines while a request runs, and the exceptions of failed phases."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.logs: list[tuple[str, str]] = []
        self.failures: list[BaseException] = []
        self.level_before = logging.NOTSET

    def emit(self, record: logging.LogRecord) -> None:
        self.logs.append((record.levelname.lower(), record.getMessage()))
        if record.exc_info and record.exc_info[1] is not None:
            self.failures.append(record.exc_info[1])

    def __enter__(self) -> _Capture:
        self.level_before = log.level
        log.setLevel(logging.DEBUG)
        log.addHandler(self)
        return self

    def __exit__(self, *_: object) -> None:
        log.removeHandler(self)
        log.setLevel(self.level_before)


class _Clock:
    """The event loop's clock, as the PDK reads it (``loop.time()``)."""

    def time(self) -> float:
        return time.monotonic()


class _Connection:
    """The client connection's side the PDK reads."""

    def __init__(self, request: Request) -> None:
        self.loop = _Clock()
        self.peer = request.client_ip
        self.peer_port = 54321
        self.https = request.https
        self.scheme = "https" if request.https else "http"
        self.scheme_bytes = self.scheme.encode()
        self.server_addr = "127.0.0.1"
        self.server_port = 8443 if request.https else 8000
        self.serial = 1
        self.transport = None  # no TLS details: kong.log.serialize has no request.tls here
        self.requests = 1  # this request is the connection's first
        self.trusted = request.trusted
        self.downstream = _core.Downstream(
            self.peer.encode(), str(self.server_port).encode(), request.https, None, request.trusted
        )


class _Exchange:
    """One request's state as the PDK reads it from the proxy's exchange
    (``dataplane.proxy.phases.Exchange``): the parsed head, the body, the response so far."""

    def __init__(self, head: _core.RequestHead, conn: _Connection, state: ProxyState, body: bytes) -> None:
        self.conn = conn
        self.state = state
        self.head = head
        self.method = head.method
        self.url = head.url
        self.version = head.version
        self.headers = head.headers
        self.content_length = head.content_length
        self.request_id = head.request_id or _core.new_request_id()
        self.start = conn.loop.time()
        self.body_done = True
        self.body_buffer: list[bytes] | None = [body] if body else []
        self.buffered = None
        self.body_received = len(body)
        self.remote_addr = conn.peer
        self.status = 0
        self.proxied = False
        self.resp_bytes = 0
        self.t_balancer = 0.0
        self.head_parts: list[bytes] = []


class _Drive:
    """The proxy's phases for one request, in its order (``Exchange.run``)."""

    def __init__(self, state: ProxyState, runtime: Runtime, request: Request, upstream: Upstream) -> None:
        self.state = state
        self.runtime = runtime
        self.request = request
        self.upstream = upstream
        self.body = request.body.encode() if isinstance(request.body, str) else (request.body or b"")
        self.conn = _Connection(request)
        head = state.planner.plan(self._head_bytes(), self.conn.downstream)
        if head is None:
            raise ValueError("the request head is incomplete")
        if head.refusal is not None:
            raise ValueError(f"the gateway refuses this request before any plugin runs: {head.refusal}")
        self.exchange = _Exchange(head, self.conn, state, self.body)
        self.plugins = RequestPlugins(self.exchange, runtime)  # type: ignore[arg-type]  # the PDK's view of one
        self.loop: asyncio.AbstractEventLoop | None = None  # made when a plugin's phase is a coroutine

    def _settle(self, verdict: Awaitable[Any] | bool | None) -> Any:
        """A phase's answer, awaiting a coroutine phase on the kit's own loop (so the kit is
        called from plain, not async, tests)."""
        if not inspect.isawaitable(verdict):
            return verdict
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
        return self.loop.run_until_complete(verdict)

    def _head_bytes(self) -> bytes:
        request = self.request
        pairs = list(request.headers.items() if isinstance(request.headers, Mapping) else request.headers)
        names = {name.lower() for name, _ in pairs}
        if "host" not in names:
            pairs.insert(0, ("Host", "example.com"))
        if self.body and "content-length" not in names and "transfer-encoding" not in names:
            pairs.append(("Content-Length", str(len(self.body))))
        lines = [f"{request.method} {request.path} HTTP/1.1", *(f"{name}: {value}" for name, value in pairs)]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body

    def run(self, logs: list[tuple[str, str]]) -> Result:
        plugins, exchange = self.plugins, self.exchange
        upstream_request = None
        if plugins.plans.global_slots and self._settle(plugins.rewrite()):
            response = self._exit()
        else:
            names = self.runtime.route_header_names
            match = self.runtime.router.find(
                exchange.method.decode("latin-1"),
                self.conn.scheme,
                exchange.head.host_text,
                exchange.url.partition(b"?")[0].decode("latin-1"),
                None,
                [
                    (name.lower().decode("latin-1"), value.decode("latin-1"))
                    for name, value in exchange.headers
                    if name.lower() in names
                ]
                if names
                else None,
            )
            plugins.routed(match)
            if match is None:
                response = self._answer(404, errors.NO_ROUTE)
            elif self._settle(plugins.access()):
                response = self._exit()
            else:
                upstream_request = self._upstream_request(match)
                response = self._proxied()
        logged = plugins.log_phase()
        if logged is not None:
            self._settle(logged)
        if self.loop is not None:
            self.loop.close()
        return Result(
            response=response,
            upstream=upstream_request,
            logs=logs,
            shared=dict(plugins.kong.ctx.shared),
            consumer=plugins.consumer,
            credential=plugins.credential,
        )

    # -- upstream --------------------------------------------------------------------------

    def _upstream_request(self, match: _core.RouteMatch) -> UpstreamRequest:
        exchange, plugins, settings = self.exchange, self.plugins, self.state.settings
        trusted = None
        if self.conn.trusted:
            fields = exchange.headers
            remote = None
            real = fields.values(settings.real_ip_header.lower().encode())
            if real is not None:
                exchange.remote_addr = real_ip(
                    self.conn.peer, real.decode("latin-1"), settings.trusted_ips, settings.real_ip_recursive
                )
                remote = exchange.remote_addr.encode()
            trusted = (
                remote,
                fields.value(b"x-forwarded-proto") or None,
                fields.value(b"x-forwarded-host") or None,
                fields.value(b"x-forwarded-port") or None,
                fields.value(b"x-forwarded-path"),
                fields.value(b"x-forwarded-prefix"),
            )
        before, after = self.state.planner.upstream_head(
            exchange.head, match, self.conn.downstream, trusted, exchange.request_id
        )
        if plugins.upstream_ops or plugins.upstream_changes:
            before, after = rewrite_upstream_head(before, after, plugins)
        service = self.runtime.services[match.service_id] if match.service_id else None
        if service is None:
            raise ValueError("the route has no service")
        if plugins.service_changes:
            service = service.changed(plugins.service_changes, self.runtime.service_table)
        host = service.fixed_host_header
        if match.preserve_host:
            host = exchange.head.host or b""
        if plugins.upstream_host is not None:
            host = plugins.upstream_host
        exchange.proxied = True
        plugins.balancing()
        exchange.t_balancer = self.conn.loop.time()
        plugins.connecting(service.host, service.port)
        exchange.head_parts = [before, host, after]
        line, _, rest = (before + host + after).partition(b"\r\n")
        method, target, _ = line.decode("latin-1").split(" ", 2)
        return UpstreamRequest(
            method,
            target,
            _parse_fields(rest),
            plugins.upstream_changes.get("body", self.body),
            service.host,
            service.port,
            "https" if service.tls else "http",
            service.retries,
            (service.connect_timeout, service.write_timeout, service.read_timeout),
        )

    def _proxied(self) -> Response:
        """The upstream's answer through the proxy's header filter and the plugins'."""
        upstream = self.upstream
        raw = upstream.body
        pieces = [raw.encode()] if isinstance(raw, str) else [raw] if isinstance(raw, bytes) else list(raw)
        body = b"".join(pieces)
        pairs = upstream.headers.items() if isinstance(upstream.headers, Mapping) else upstream.headers
        lines = [f"HTTP/1.1 {upstream.status} {_reason(upstream.status)}", *(f"{n}: {v}" for n, v in pairs)]
        if not any(name.lower() in ("content-length", "transfer-encoding") for name, _ in pairs):
            lines.append(f"Content-Length: {len(body)}")
        parsed = _core.parse_response_head(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if parsed is None:
            raise ValueError("the upstream response head is incomplete")
        exchange = self.exchange
        exchange.status = parsed.status
        self.plugins.upstream_answered(parsed.status, self.conn.loop.time())
        head, _, _ = self.state.client_head.build(
            parsed, exchange.method == b"HEAD", False, True, 0, 0, exchange.request_id, False
        )
        plugins = self.plugins
        bodied = exchange.method != b"HEAD" and parsed.status not in (204, 304)
        length = None
        if bodied and plugins.buffers_response():
            if self._settle(plugins.response(head, body)):
                return self._exit()
            length = len(body)
        head = plugins.header_filter(head)
        if plugins.failed:
            return self._answer(500, None, filtered=True)
        exchange.status = plugins.status or parsed.status
        if bodied and (plugins.filters_body() or length is not None):
            head = reframe(head, None if plugins.body_filters else length, False)[0]
        if bodied and plugins.body_filters:
            if length is not None:
                pieces = [body]
            out = [plugins.body_filter(piece, False) for piece in pieces]
            out.append(plugins.body_filter(b"", True))
            if plugins.failed:
                raise BodyFilterFailed("a body_filter raised: the client's response would be cut here")
            body = b"".join(out)
        exchange.resp_bytes = len(body)
        return _response(head, body, "service")

    # -- the gateway's own answers ---------------------------------------------------------

    def _exit(self) -> Response:
        answer = self.plugins.exit
        assert answer is not None
        status, body, content_type, extra = answer
        return self._respond(status, body, content_type, extra, self.plugins.source)

    def _answer(self, status: int, message: str | None, *, filtered: bool = False) -> Response:
        content_type = errors.media_type(self.exchange.headers.value(b"accept"))
        body = errors.render(status, message, self.exchange.request_id, content_type)
        return self._respond(status, body, content_type, [], "error", filtered=filtered)

    def _respond(
        self,
        status: int,
        body: bytes,
        content_type: bytes | None,
        extra: list[tuple[bytes, bytes]],
        source: str,
        *,
        filtered: bool = False,
    ) -> Response:
        """A response of the gateway's own, as ``Exchange.respond`` makes it."""
        state, exchange = self.state, self.exchange
        lines = [STATUS_LINES.get(status) or b"HTTP/1.1 %d \r\n" % status, state.client_head.date_line()]
        if content_type is not None:
            lines.append(b"Content-Type: %s\r\n" % content_type)
        lines.append(b"Content-Length: %d\r\n" % len(body))
        lines += [b"%s: %s\r\n" % pair for pair in extra]
        lines.append(b"Connection: keep-alive\r\n")
        if state.response_latency_on:
            lines.append(b"X-Kong-Response-Latency: 0\r\n")
        if state.server_on:
            lines.append(state.server_line)
        if state.request_id_on:
            lines.append(b"X-Kong-Request-Id: %s\r\n" % exchange.request_id)
        head = b"".join(lines) + b"\r\n"
        exchange.status = status
        plugins = self.plugins
        if not filtered and not plugins.header_filtered:
            head = plugins.header_filter(head)
            exchange.status = plugins.status or status
            if exchange.method != b"HEAD" and plugins.filters_body():
                body = plugins.body_filter(body, True)
                head = reframe(head, len(body), False)[0]
        exchange.resp_bytes = len(body)
        return _response(head, body, source or "error")


def _parse_fields(lines: bytes) -> Headers:
    pairs = []
    for line in lines.split(b"\r\n"):
        name, sep, value = line.partition(b":")
        if sep:
            pairs.append((name.decode("latin-1").strip(), value.decode("latin-1").strip()))
    return Headers(pairs)


def _response(head: bytes, body: bytes, source: str) -> Response:
    line, _, rest = head.partition(b"\r\n")
    return Response(int(line.split(b" ")[1]), _parse_fields(rest), body, source)


def _reason(status: int) -> str:
    line = STATUS_LINES.get(status)
    return line.decode("latin-1").split(" ", 2)[2].strip() if line else ""
