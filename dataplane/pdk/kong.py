"""``Kong``: the PDK object a plugin's phase methods get, and its namespaces.

Names, arguments and return values follow Kong's PDK (kong/pdk/*.lua) and kong-pdk's stubs.
Values are Python objects: strings for header values and paths, dicts for header and query
tables (a repeated name gives a list), entities as dicts. Calls that change the request or
the response record the change; the proxy applies it once (see ``dataplane.pdk.headers``).
Calls a phase does not allow (``kong.response.exit`` after access, say) raise ``PDKError``.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import parse_qsl, quote, urlencode

import orjson

from dataplane.plugins import configuration
from dataplane.plugins.configuration import Configuration
from dataplane.proxy import errors
from dataplane.proxy.realip import is_trusted
from dataplane.schema.messages import fmt_number

from . import headers as fields
from .errors import PDKError

if TYPE_CHECKING:
    from dataplane.plugins.chain import RequestPlugins
    from dataplane.plugins.identities import Identities

log = logging.getLogger("gantry.plugins")

_HOSTNAME = socket.gethostname()


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


def _bytes(data: bytes | str) -> bytes:
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise PDKError(f"a body is bytes or a string, not {type(data).__name__}")


def _table(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Kong's header/query table: one value as a string, several as a list."""
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            previous = out[name]
            out[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            out[name] = value
    return out


# kong.response.error's message when none is given (Kong's kong/pdk/response.lua), which differs
# from nginx's error pages (dataplane.proxy.errors.MESSAGES) for 401, 403 and others.
ERROR_MESSAGES = {
    400: "Bad request",
    401: "Unauthorized",
    402: "Payment required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    407: "Proxy authentication required",
    408: "Request timeout",
    409: "Conflict",
    410: "Gone",
    411: "Length required",
    412: "Precondition failed",
    413: "Payload too large",
    414: "URI too long",
    415: "Unsupported media type",
    416: "Range not satisfiable",
    417: "Expectation failed",
    418: "I'm a teapot",
    421: "Misdirected request",
    422: "Unprocessable entity",
    423: "Locked",
    424: "Failed dependency",
    425: "Too early",
    426: "Upgrade required",
    428: "Precondition required",
    429: "Too many requests",
    431: "Request header fields too large",
    451: "Unavailable for legal reasons",
    494: "Request header or cookie too large",
    500: "An unexpected error occurred",
    501: "Not implemented",
    502: "An invalid response was received from the upstream server",
    503: "The upstream server is currently unavailable",
    504: "The upstream server is timing out",
    505: "HTTP version not supported",
    506: "Variant also negotiates",
    507: "Insufficient storage",
    508: "Loop detected",
    510: "Not extended",
    511: "Network authentication required",
}


class _Namespace:
    __slots__ = ("_r",)

    def __init__(self, request: RequestPlugins) -> None:
        self._r = request


_T = TypeVar("_T")


class _Made(Generic[_T]):
    """An attribute of a per-request PDK object (``kong.request``, ``kong.service.request``...)
    made the first time a plugin reads it, then an instance attribute (this descriptor is not
    consulted again): a request's plugins touch a few of them."""

    __slots__ = ("make", "name")

    def __init__(self, make: Callable[[RequestPlugins], _T]) -> None:
        self.make = make
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, owner: Any, kind: type | None = None) -> _T:
        if owner is None:
            return self  # type: ignore[return-value]  # read on the class
        made = owner.__dict__[self.name] = self.make(owner._r)
        return made


class Request(_Namespace):
    """``kong.request``: the request as the client sent it."""

    __slots__ = ()

    def get_header(self, name: str) -> str | None:
        return _text(self._r.exchange.headers.value(name.lower().encode("latin-1")))

    def get_headers(self, max_headers: int = 100) -> dict[str, Any]:
        pairs = [(n.decode("latin-1").lower(), v.decode("latin-1")) for n, v in self._r.exchange.headers]
        return _table(pairs[:max_headers])

    def header_entry(self, name: str) -> Any:
        """``get_headers()[name]`` without the whole table: the value, a list of them when the
        field repeats, None. For plugins that look up one or two names (key-auth)."""
        headers = self._r.exchange.headers
        if name.isascii() and name.islower() and len(headers) <= 100:  # else as the table has it
            raw = name.encode("latin-1")
            first = headers.value(raw)
            if first is None:
                return None
            joined = headers.values(raw)
            if joined is not None and len(joined) == len(first):  # one field: nothing joined to it
                return first.decode("latin-1")
        return self.get_headers().get(name)

    def get_method(self) -> str:
        return self._r.exchange.method.decode("latin-1")

    def get_scheme(self) -> str:
        return self._r.exchange.conn.scheme

    def get_host(self) -> str:
        head = self._r.exchange.head
        return head.host_name.decode("latin-1") if head.host is not None else ""

    def get_port(self) -> int:
        return self._r.exchange.conn.server_port

    def get_http_version(self) -> float:
        return float(self._r.exchange.version)

    def get_raw_path(self) -> str:
        return self._r.exchange.url.partition(b"?")[0].decode("latin-1")

    def get_path(self) -> str:
        """The path with its percent-escapes of unreserved characters decoded, as Kong normalises."""
        return self.get_raw_path()

    def get_raw_query(self) -> str:
        return self._r.exchange.url.partition(b"?")[2].decode("latin-1")

    def get_path_with_query(self) -> str:
        return self._r.exchange.url.decode("latin-1")

    def get_query(self, max_args: int = 100) -> dict[str, Any]:
        pairs = parse_qsl(self.get_raw_query(), keep_blank_values=True, encoding="latin-1")
        return _table(pairs[:max_args])

    def get_query_arg(self, name: str) -> Any:
        value = self.get_query().get(name)
        return value[0] if isinstance(value, list) else value

    def get_start_time(self) -> int:
        """When the request began, in milliseconds since the epoch."""
        return int(self._r.start_epoch() * 1000)

    def get_uri_captures(self) -> dict[str, Any]:
        captures = self._r.match.captures if self._r.match is not None else None
        numbered = {k: v for k, v in (captures or {}).items() if isinstance(k, int)}
        named = {k: v for k, v in (captures or {}).items() if isinstance(k, str)}
        return {"unnamed": [numbered[i] for i in sorted(numbered)], "named": named}

    def get_forwarded_scheme(self) -> str:
        return self._trusted(b"x-forwarded-proto") or self.get_scheme()

    def get_forwarded_host(self) -> str:
        return self._trusted(b"x-forwarded-host") or self.get_host()

    def get_forwarded_port(self) -> int:
        port = self._trusted(b"x-forwarded-port")
        return int(port) if port and port.isdigit() else self.get_port()

    def get_forwarded_path(self) -> str:
        return self._trusted(b"x-forwarded-path") or self.get_path()

    def get_forwarded_prefix(self) -> str | None:
        return self._trusted(b"x-forwarded-prefix")

    def _trusted(self, name: bytes) -> str | None:
        exchange = self._r.exchange
        return _text(exchange.headers.value(name)) if exchange.conn.trusted else None

    def get_raw_body(self) -> bytes | None:
        """The body when it has been read whole into memory (a buffered route, its body in the
        same read as its head); else None: access runs before a body arrives."""
        exchange = self._r.exchange
        if not exchange.body_done:
            return None
        held = exchange.buffered.in_memory() if exchange.buffered is not None else exchange.body_buffer
        return b"".join(held) if held is not None else (b"" if not exchange.content_length else None)

    def watch_body(self, check: Callable[[int], None], whole: Callable[[], None] | None = None) -> None:
        """Gantry's addition to the PDK, for plugins that judge a request body: Kong reads the
        whole body in access, Gantry's access runs once the head is read. ``check`` is called
        with the body bytes received so far, now and each time more arrives, until the body is
        whole; then ``whole()`` once (now, if the body is whole already), where
        ``get_raw_body()`` gives the body (None when it went to a file). Either may end the
        request with ``kong.response.exit`` or ``error`` (then answered at once, or the
        connection cut if the upstream's response has begun)."""
        self._r.watch_body(check, whole)

    def get_body(self, mimetype: str | None = None) -> Any:
        raw = self.get_raw_body()
        if raw is None:
            raise PDKError("the request body is not available in this phase")
        return _decoded(raw, mimetype or self.get_header("content-type"))


def _decoded(raw: bytes, content_type: str | None) -> Any:
    """A body as Kong's get_body reads it: JSON, or form fields; other types are refused."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as err:
            raise PDKError(f"invalid JSON body: {err}") from None
    if kind == "application/x-www-form-urlencoded":
        return _table(parse_qsl(raw.decode("latin-1"), keep_blank_values=True, encoding="latin-1"))
    raise PDKError(f"unsupported content type '{kind}'")


class _HeaderChanges(_Namespace):
    """``set_header``, ``add_header``, ``clear_header`` and ``set_headers`` with Kong's
    semantics, for the response (``kong.response``) and the upstream request
    (``kong.service.request``): each class says where a change goes (``_op``)."""

    __slots__ = ()

    def _op(self, kind: int, name: str, value: Any) -> None:
        raise NotImplementedError

    def set_header(self, name: str, value: Any) -> None:
        self._op(fields.SET, name, value)

    def add_header(self, name: str, value: Any) -> None:
        self._op(fields.ADD, name, value)

    def clear_header(self, name: str) -> None:
        self._op(fields.CLEAR, name, b"")

    def set_headers(self, headers: dict[str, Any]) -> None:
        """Each name set to its value; a list value gives the header once per element."""
        for name, value in headers.items():
            if isinstance(value, list):
                self.clear_header(name)
                for one in value:
                    self.add_header(name, one)
            else:
                self.set_header(name, value)


class Response(_HeaderChanges):
    """``kong.response``: the response the client gets."""

    __slots__ = ()

    def exit(self, status: int, body: Any = None, headers: dict[str, Any] | None = None) -> None:
        """End the request with this response: the rest of the phase's plugins are skipped;
        header_filter and log still run. A dict body is sent as JSON."""
        if not isinstance(status, int) or not 100 <= status <= 999:
            raise PDKError(f"invalid status {status!r}")
        content_type = None
        if isinstance(body, (dict, list)):
            data = orjson.dumps(body)
            content_type = errors.JSON
        elif isinstance(body, str):
            data = body.encode()
        elif isinstance(body, bytes):
            data = body
        elif body is None:
            data = b""
        else:
            raise PDKError(f"invalid body {body!r}")
        self._r.exit_with(status, data, content_type, self._headers(headers), "exit")

    def error(self, status: int, message: str | None = None, headers: dict[str, Any] | None = None) -> None:
        """``exit`` with Kong's error body for ``status``, in the format the client's Accept asks."""
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise PDKError(f"invalid status {status!r}: kong.response.error takes 4xx and 5xx")
        exchange = self._r.exchange
        content_type = errors.media_type(exchange.headers.value(b"accept"))
        message = message or ERROR_MESSAGES.get(status) or f"The upstream server responded with {status}"
        body = errors.render(status, message, exchange.request_id, content_type)
        self._r.exit_with(status, body, content_type, self._headers(headers), "error")

    def _headers(self, table: dict[str, Any] | None) -> list[tuple[bytes, bytes]]:
        out = []
        for name, value in (table or {}).items():
            for one in value if isinstance(value, list) else (value,):
                out.append((fields.field_name(name), fields.field_value(one)))
        return out

    def get_status(self) -> int:
        return self._r.status or self._r.exchange.status

    def set_status(self, status: int) -> None:
        if not isinstance(status, int) or not 100 <= status <= 999:
            raise PDKError(f"invalid status {status!r}")
        self._r.status = status

    def get_source(self) -> str:
        return self._r.source or "service"

    def get_header(self, name: str) -> str | None:
        values = self._r.response_values(name.lower().encode("latin-1"))
        return values[0].decode("latin-1") if values else None

    def get_headers(self, max_headers: int = 100) -> dict[str, Any]:
        return _table(
            [(n.decode("latin-1").lower(), v.decode("latin-1")) for n, v in self._r.response_fields()][:max_headers]
        )

    def _op(self, kind: int, name: str, value: Any) -> None:
        self._r.response_op(kind, name, value)

    def set_header(self, name: str, value: Any) -> None:  # one call less than _HeaderChanges'
        self._r.response_op(fields.SET, name, value)

    def get_raw_body(self) -> bytes | None:
        """In body_filter: the pieces of the body are held back from the client and gathered;
        None until the last one, then the whole body (which goes on to the client unless the
        plugin sets another)."""
        return self._r.raw_body()

    def set_raw_body(self, body: bytes | str) -> None:
        """In body_filter: the client gets ``body`` as the rest of the response; what the
        upstream sends after it is dropped."""
        self._r.set_chunk(_bytes(body), True)

    # Gantry's additions for streaming body filters (Kong's Lua plugins use ngx.arg[1] and
    # ngx.arg[2] for these): the piece of the body at hand, replaced or read as it passes

    def get_chunk(self) -> bytes:
        if self._r.phase != "body_filter":
            raise PDKError(f"kong.response.get_chunk is only allowed in the body_filter phase, not {self._r.phase}")
        return self._r.chunk

    def set_chunk(self, data: bytes | str) -> None:
        self._r.set_chunk(_bytes(data), False)

    def is_last_chunk(self) -> bool:
        return self._r.last_chunk


class ServiceRequest(_HeaderChanges):
    """``kong.service.request``: the request as it goes upstream (changes apply when the
    upstream head is built, at the end of access)."""

    __slots__ = ()

    def _op(self, kind: int, name: str, value: Any) -> None:
        self._r.upstream_op(kind, name, value)

    # one call less than _HeaderChanges' for the changes authentication plugins make on
    # every request
    def set_header(self, name: str, value: Any) -> None:
        self._r.upstream_op(fields.SET, name, value)

    def clear_header(self, name: str) -> None:
        self._r.upstream_op(fields.CLEAR, name, b"")

    def set_method(self, method: str) -> None:
        if not isinstance(method, str) or not fields._TOKEN.fullmatch(method.encode("latin-1")):
            raise PDKError(f"invalid method {method!r}")
        self._r.upstream_change("method", method.upper().encode("latin-1"))

    def set_path(self, path: str) -> None:
        if not isinstance(path, str) or not path.startswith("/") or any(c in path for c in "?# \r\n"):
            raise PDKError(f"invalid path {path!r}: it must start with / and hold no query")
        self._r.upstream_change("path", quote(path, safe="/%!$&'()*+,;=:@-._~").encode("latin-1"))

    def set_raw_query(self, query: str) -> None:
        if not isinstance(query, str) or any(c in query for c in "# \r\n"):
            raise PDKError(f"invalid query {query!r}")
        self._r.upstream_change("query", query.encode("latin-1"))

    def set_query(self, args: dict[str, Any]) -> None:
        self._r.upstream_change("query", _urlencoded(args))

    def set_scheme(self, scheme: str) -> None:
        """``http`` or ``https`` to the service (its port stays)."""
        if scheme not in ("http", "https"):
            raise PDKError(f"invalid scheme: {scheme}")
        self._r.service_change("scheme", scheme, "kong.service.request.set_scheme")

    def set_raw_body(self, body: bytes | str) -> None:
        """The upstream gets ``body`` (with its Content-Length) instead of the client's, which is
        still read to its end, and dropped."""
        self._r.upstream_change("body", _bytes(body))

    def set_body(self, args: dict[str, Any], mimetype: str | None = None) -> None:
        """``args`` encoded as the request's Content-Type (or ``mimetype``, then sent as the
        Content-Type): JSON or a urlencoded form."""
        if not isinstance(args, dict):
            raise PDKError("args must be a table")
        kind = (mimetype or self._r.kong.request.get_header("content-type") or "").split(";")[0].strip().lower()
        if kind == "application/json":
            body = orjson.dumps(args)
        elif kind == "application/x-www-form-urlencoded":
            body = _urlencoded(args)
        else:
            raise PDKError(f"unsupported content type '{kind}'")
        if mimetype is not None:
            self.set_header("Content-Type", mimetype)
        self._r.upstream_change("body", body)


def _urlencoded(args: dict[str, Any]) -> bytes:
    pairs = [(k, v) for k, value in args.items() for v in (value if isinstance(value, list) else [value])]
    return urlencode([(k, "" if v is True else v) for k, v in pairs]).encode("latin-1")


class Service(_Namespace):
    """``kong.service``: where the request goes. Changes apply to this request only, from the
    end of access (Kong's argument checks and messages)."""

    # no __slots__: request and response are made on first use (_Made)

    request = _Made(ServiceRequest)
    response = _Made(lambda request: ServiceResponse(request))

    def set_upstream(self, host: str) -> bool:
        """Balance this request over the upstream named ``host`` instead of the service's."""
        if not isinstance(host, str):
            raise PDKError("host must be a string")
        if host not in self._r.runtime.service_table.balancers:
            raise PDKError(f"could not find an Upstream named '{host}'")
        self._r.service_change("upstream", host, "kong.service.set_upstream", ("access",))
        return True

    def set_target(self, host: str, port: int) -> None:
        """Connect to ``host:port`` for this request: no balancer, no retries (as Kong); the
        Host header stays the service's (``kong.service.request.set_header`` changes it)."""
        if not isinstance(host, str):
            raise PDKError("host must be a string")
        port = _integer(port, "port", 0, 65535)
        self._r.service_change("target", (host, port), "kong.service.set_target", ("access",))

    def set_retries(self, retries: int) -> None:
        retries = _integer(retries, "retries", 0, 32767)
        self._r.service_change("retries", retries, "kong.service.set_retries")

    def set_timeouts(self, connect_timeout: int, write_timeout: int, read_timeout: int) -> None:
        """Milliseconds, as the service's fields."""
        timeouts = tuple(
            _integer(value, name, 1, 2147483646)
            for value, name in (
                (connect_timeout, "connect_timeout"),
                (write_timeout, "write_timeout"),
                (read_timeout, "read_timeout"),
            )
        )
        self._r.service_change("timeouts", timeouts, "kong.service.set_timeouts")

    def set_tls_verify(self, on: bool) -> None:
        if not isinstance(on, bool):
            raise PDKError("argument must be a boolean")
        self._r.service_change("tls_verify", on, "kong.service.set_tls_verify")

    def set_tls_verify_depth(self, depth: int) -> None:
        depth = _integer(depth, "depth", 0, 64)
        self._r.service_change("tls_verify_depth", depth, "kong.service.set_tls_verify_depth")


def _integer(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise PDKError(f"{name} must be an integer")
    if not low <= value <= high:
        raise PDKError(f"{name} must be an integer between {low} and {high}: given {fmt_number(value)}")
    return int(value)


class ServiceResponse(_Namespace):
    """``kong.service.response``: the upstream's response, in header_filter and log."""

    __slots__ = ()

    def get_status(self) -> int | None:
        return self._r.exchange.status if self._r.exchange.proxied else None

    def get_header(self, name: str) -> str | None:
        return Response(self._r).get_header(name) if self._r.exchange.proxied else None

    def get_headers(self, max_headers: int = 100) -> dict[str, Any]:
        return Response(self._r).get_headers(max_headers) if self._r.exchange.proxied else {}

    def get_raw_body(self) -> bytes | None:
        """The upstream's whole body when it was read whole (a plugin has a response phase),
        from the response phase on; else None, as Kong answers without buffered proxying."""
        return self._r.service_body

    def get_body(self, mimetype: str | None = None) -> Any:
        raw = self._r.service_body
        if raw is None:
            raise PDKError("the upstream's body is only read whole for a plugin with a response phase")
        return _decoded(raw, mimetype or self.get_header("content-type"))


class Client(_Namespace):
    """``kong.client``: who sent the request and who they are."""

    __slots__ = ()

    def get_ip(self) -> str:
        return self._r.exchange.conn.peer

    def get_forwarded_ip(self) -> str:
        return self._r.exchange.remote_addr

    def get_port(self) -> int:
        return self._r.exchange.conn.peer_port

    def get_forwarded_port(self) -> int:
        return Request(self._r).get_forwarded_port()

    def get_protocol(self, allow_terminated: bool = False) -> str:
        return self._r.exchange.conn.scheme

    def authenticate(self, consumer: dict[str, Any] | None, credential: dict[str, Any] | None) -> None:
        if consumer is None and credential is None:
            raise PDKError("either credential or consumer must be provided")
        self._r.consumer, self._r.credential = consumer, credential

    def get_consumer(self) -> dict[str, Any] | None:
        return self._r.consumer

    def get_credential(self) -> dict[str, Any] | None:
        return self._r.credential

    def load_consumer(self, consumer_id: str, search_by_username: bool = False) -> dict[str, Any] | None:
        identities = self._r.runtime.identities
        found = identities.find("consumers", "id", consumer_id)
        if found is None and search_by_username:
            found = identities.find("consumers", "username", consumer_id)
        return found


class SharedContext(dict[str, Any]):
    """``kong.ctx.shared``: a dict shared by every plugin of the request, with kong-pdk's
    ``get``/``set``."""

    def set(self, key: str, value: Any) -> None:
        self[key] = value


class Ctx:
    # ``ngx``: what Kong's Lua plugins keep in ``ngx.ctx`` for the request, read and written
    # through ``kong.nginx.get_ctx``/``set_ctx`` (acl reads ``authenticated_groups`` there when
    # ``kong.ctx.shared`` has none, as Kong does)
    __slots__ = ("shared", "ngx", "_r")

    def __init__(self, request: RequestPlugins) -> None:
        self.shared = SharedContext()
        self.ngx: dict[str, Any] = {}
        self._r = request

    @property
    def plugin(self) -> SharedContext:
        """``kong.ctx.plugin``: the current plugin's own table for this request."""
        return self._r.plugin_context()


class Log(_Namespace):
    """``kong.log``: the worker's error log, each line naming the plugin; the arguments are
    joined as Kong joins them (``kong.log.info("took ", 3, " ms")``: no separator added)."""

    __slots__ = ()

    def _write(self, level: int, parts: tuple[Any, ...]) -> None:
        if log.isEnabledFor(level):
            log.log(level, "[%s] %s", self._r.current_name(), "".join(str(p) for p in parts))

    def debug(self, *parts: Any) -> None:
        self._write(logging.DEBUG, parts)

    def info(self, *parts: Any) -> None:
        self._write(logging.INFO, parts)

    def notice(self, *parts: Any) -> None:
        self._write(logging.INFO, parts)

    def warn(self, *parts: Any) -> None:
        self._write(logging.WARNING, parts)

    def err(self, *parts: Any) -> None:
        self._write(logging.ERROR, parts)

    def crit(self, *parts: Any) -> None:
        self._write(logging.CRITICAL, parts)

    def alert(self, *parts: Any) -> None:
        self._write(logging.CRITICAL, parts)

    def set_serialize_value(self, key: str, value: Any, options: dict[str, Any] | None = None) -> None:
        """Kong's: ``key`` may name nested tables with dots (``a.b.c``; ``\\.`` is a dot in a
        name); ``options["mode"]`` is ``set`` (the default), ``add`` (only where nothing is) or
        ``replace`` (only where something is); a value of None removes the key."""
        if not isinstance(key, str):
            raise PDKError("key must be a string")
        mode = (options or {}).get("mode") or "set"
        if mode not in ("set", "add", "replace"):
            raise PDKError("mode must be 'set', 'add' or 'replace'")
        self._r.serialize_value(key, value, mode)

    def serialize(self) -> Any:
        return self._r.serialize_for()


class Router(_Namespace):
    __slots__ = ()

    def get_route(self) -> dict[str, Any] | None:
        return self._r.entity("routes", self._r.route_id)

    def get_service(self) -> dict[str, Any] | None:
        return self._r.entity("services", self._r.service_id)


class Node(_Namespace):
    __slots__ = ()

    def get_id(self) -> str:
        return self._r.exchange.state.settings.node_id

    def get_hostname(self) -> str:
        return _HOSTNAME


class Ip(_Namespace):
    __slots__ = ()

    def is_trusted(self, address: str) -> bool:
        return is_trusted(address, self._r.exchange.state.settings.trusted_ips)


class Cluster(_Namespace):
    __slots__ = ()

    def get_id(self) -> str | None:
        return None  # Kong's cluster id lives in its database; a DB-less or hybrid node has none


class Plugin(_Namespace):
    __slots__ = ()

    def get_id(self) -> str | None:
        return self._r.current_id()


class Nginx(_Namespace):
    """The ``kong.nginx`` pieces plugins commonly use."""

    __slots__ = ()

    def get_subsystem(self) -> str:
        return "http"

    def get_ctx(self, key: str) -> Any:
        """kong-pdk's ``kong.nginx.get_ctx``: a value of the request's ``ngx.ctx``, or None."""
        return self._r.kong.ctx.ngx.get(key)

    def set_ctx(self, key: str, value: Any) -> None:
        """kong-pdk's ``kong.nginx.set_ctx``: set a value of the request's ``ngx.ctx``
        (``authenticated_groups``: the groups an authentication plugin found, for acl)."""
        self._r.kong.ctx.ngx[key] = value

    def req_start_time(self) -> float:
        return self._r.start_epoch()

    def get_var(self, name: str) -> str | None:
        exchange = self._r.exchange
        if name.startswith("http_"):
            return _text(exchange.headers.value(name[5:].replace("_", "-").encode("latin-1")))
        simple = {
            "remote_addr": lambda: exchange.conn.peer,
            "remote_port": lambda: str(exchange.conn.peer_port),
            "server_port": lambda: str(exchange.conn.server_port),
            "server_addr": lambda: exchange.conn.server_addr,
            "connection": lambda: str(exchange.conn.serial),
            "connection_requests": lambda: str(exchange.conn.requests),
            "scheme": lambda: exchange.conn.scheme,
            "request_method": lambda: exchange.method.decode("latin-1"),
            "request_uri": lambda: exchange.url.decode("latin-1"),
            "uri": lambda: exchange.url.partition(b"?")[0].decode("latin-1"),
            "args": lambda: exchange.url.partition(b"?")[2].decode("latin-1"),
            "host": lambda: Request(self._r).get_host(),
            "request_id": lambda: exchange.request_id.decode(),
            "server_protocol": lambda: "HTTP/" + exchange.version.decode(),
        }
        getter = simple.get(name)
        if getter is None:
            raise PDKError(f"variable '{name}' is not available")
        return getter()


class Dao:
    """``kong.db.<entities>``: read-only lookups in the config version the request runs on
    (``select`` by id, ``select_by_<field>`` by a unique field), as Kong's DAOs answer them.
    Made once per config version and kind (``Db``), shared by its requests."""

    # no __slots__: each select_by_<field> is kept once made
    def __init__(self, identities: Identities, kind: str) -> None:
        self._identities = identities
        self._kind = kind

    def select(self, key: dict[str, Any] | str) -> dict[str, Any] | None:
        entity_id = key.get("id") if isinstance(key, dict) else key
        return self._identities.find(self._kind, "id", entity_id) if entity_id else None

    def each_for_consumer(self, consumer: dict[str, Any] | str) -> tuple[dict[str, Any], ...]:
        """Kong's ``each_for_consumer``: the entities of this kind whose ``consumer`` is
        ``consumer`` (``kong.db.acls.each_for_consumer({"id": ...})``, a consumer's groups),
        from an index built once per config version."""
        consumer_id = consumer.get("id") if isinstance(consumer, dict) else consumer
        return self._identities.find_all(self._kind, "consumer", consumer_id) if consumer_id else ()

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("select_by_"):
            raise AttributeError(name)
        field = name[len("select_by_") :]
        find = self._identities.find
        kind = self._kind

        def select_by(value: Any) -> dict[str, Any] | None:
            return find(kind, field, value)

        self.__dict__[name] = select_by
        return select_by


class Db:
    """``kong.db``: one per config version (its entities), its DAOs made on first use."""

    # no __slots__: each DAO is kept once made
    def __init__(self, identities: Identities) -> None:
        self._identities = identities

    def __getattr__(self, kind: str) -> Dao:
        if kind.startswith("_"):
            raise AttributeError(kind)
        dao = self.__dict__[kind] = Dao(self._identities, kind)
        return dao


def _db(request: RequestPlugins) -> Db:
    identities = request.runtime.identities
    db = identities.db
    if db is None:
        db = identities.db = Db(identities)
    return db


class Kong:
    """The ``kong`` object of one request. Each namespace (``kong.request``, ``kong.service``...)
    is made the first time a plugin reads it, then read as a plain attribute: a request's
    plugins typically touch a few of the thirteen. ``kong.db`` is the config version's."""

    # no __slots__: the namespaces become instance attributes once made (_Made)
    request = _Made(Request)
    response = _Made(Response)
    service = _Made(Service)
    client = _Made(Client)
    ctx = _Made(Ctx)
    log = _Made(Log)
    router = _Made(Router)
    node = _Made(Node)
    ip = _Made(Ip)
    cluster = _Made(Cluster)
    plugin = _Made(Plugin)
    nginx = _Made(Nginx)
    db = _Made(_db)

    def __init__(self, request: RequestPlugins) -> None:
        self._r = request

    @property
    def configuration(self) -> Configuration:
        """Kong's ``kong.configuration``: the node's kong.conf, read-only (the same object for
        every request of the worker)."""
        return configuration.current()
