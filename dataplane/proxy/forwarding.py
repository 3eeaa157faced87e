"""What Kong changes on a request on its way upstream (kong/runloop/handler.lua access phase and
the ``proxy_set_header`` lines of its nginx template).

The request is re-serialised from parsed fields, never copied: Host, Connection, Via,
X-Forwarded-*, X-Real-IP and X-Kong-Request-Id are ours; hop-by-hop headers (Connection and the
names it lists, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade, Proxy)
are dropped, and so is Expect (the gateway answers ``100 Continue`` itself); the body is
re-framed by us (Content-Length kept, chunked re-chunked). A WebSocket handshake (``Upgrade:
websocket`` with ``Connection: upgrade``) goes upstream as ``Connection: upgrade`` and
``Upgrade: websocket``, as Kong sends it.
"""

from __future__ import annotations

import re

from dataplane._core import RequestPlanner

from .settings import REQUEST_ID, ProxySettings

# What the downstream parser does with each request header it sees (lower-case names).
FORWARD = 0  # not in this table: sent upstream as received
HOST = 1
CONTENT_LENGTH = 2
TRANSFER_ENCODING = 3
CONNECTION = 4
EXPECT = 5
X_FORWARDED_FOR = 6
VIA = 7
DROP = 8  # replaced by ours or hop-by-hop
TE = 9  # hop-by-hop, but "trailers" is passed on as Kong does (gRPC needs it)
UPGRADE = 10  # hop-by-hop, but a switch to WebSocket is passed on as Kong does

REQUEST_HEADERS: dict[bytes, int] = {
    b"host": HOST,
    b"content-length": CONTENT_LENGTH,
    b"transfer-encoding": TRANSFER_ENCODING,
    b"connection": CONNECTION,
    b"expect": EXPECT,
    b"x-forwarded-for": X_FORWARDED_FOR,
    b"via": VIA,
    b"keep-alive": DROP,
    b"proxy-connection": DROP,
    b"te": TE,
    b"trailer": DROP,
    b"upgrade": UPGRADE,
    b"proxy": DROP,  # httpoxy: Kong clears it
    b"x-forwarded-proto": DROP,
    b"x-forwarded-host": DROP,
    b"x-forwarded-port": DROP,
    b"x-forwarded-path": DROP,
    b"x-forwarded-prefix": DROP,
    b"x-real-ip": DROP,
}

SERVER_NAME = b"gantry"  # nginx's $host when a request has no Host


def request_headers(settings: ProxySettings) -> dict[bytes, int]:
    """The table above for a worker: with X-Kong-Request-Id sent upstream, ours replaces the
    client's."""
    table = dict(REQUEST_HEADERS)
    if REQUEST_ID in settings.headers_upstream:
        table[b"x-kong-request-id"] = DROP
    return table


def request_planner(settings: ProxySettings) -> RequestPlanner:
    """The fast lane's request planner with a worker's limits and forwarding rules; the
    runtime of each config version derives its routed one from it. The dropped names come from
    the table above, so both lanes drop and forward the same fields."""
    dropped = [name for name, code in request_headers(settings).items() if code == DROP]
    via = settings.server_tokens.encode()
    return RequestPlanner(settings.max_request_line_size, settings.max_header_line_size, settings.max_header_size,
                          settings.client_max_body_size, dropped, (b"1.1 " + via, b"1.0 " + via), SERVER_NAME,
                          REQUEST_ID in settings.headers_upstream)


# Connection tokens nginx handles itself; any other token names a header to drop.
CONNECTION_OPTIONS = frozenset((b"keep-alive", b"close", b"upgrade"))

# A Host header gateways accept: reg-name or IP literal, optional port.
_VALID_HOST = re.compile(rb"(?:[A-Za-z0-9\-._~!$&'()*+,;=%]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]*)?")
_HOST_CACHE_LIMIT = 1024
_hosts: dict[bytes, tuple[bytes, str] | None] = {}

def nginx_host(host: bytes | None, server_name: bytes) -> bytes:
    """nginx's ``$host``: the Host header lower-cased without its port, else the server name."""
    if not host:
        return server_name
    if host[:1] == b"[":
        end = host.find(b"]")
        return host[: end + 1].lower() if end > 0 else host.lower()
    return host.partition(b":")[0].lower()


def host_parts(host: bytes) -> tuple[bytes, str] | None:
    """For a Host value: nginx's ``$host`` and the value as text (what the router takes); None
    when it is not a valid Host. Cached: clients send few distinct hosts."""
    try:
        return _hosts[host]
    except KeyError:
        pass
    parts = (nginx_host(host, b""), host.decode("latin-1")) if _VALID_HOST.fullmatch(host) else None
    if len(_hosts) >= _HOST_CACHE_LIMIT:
        _hosts.clear()  # many distinct hosts means a scan or abuse: start over rather than grow
    _hosts[host] = parts
    return parts


def connection_named(tokens: bytes) -> set[bytes]:
    """Header names listed in a Connection value (lower-case), options excluded."""
    names = {token.strip() for token in tokens.lower().split(b",")}
    names.discard(b"")
    return names - CONNECTION_OPTIONS


class FieldList(list):
    """The request's header fields as the general lane reads them: ``(name, value)`` pairs in
    order of arrival, with the lookups of the fast lane's ``dataplane._core.RequestFields``
    (``name`` lower-case here)."""

    __slots__ = ()

    def value(self, name: bytes) -> bytes | None:
        """The first value of the field ``name``; a scan, for the rare callers."""
        for key, value in self:
            if len(key) == len(name) and key.lower() == name:
                return value
        return None

    def values(self, name: bytes) -> bytes | None:
        """Every value of the field ``name`` joined with ", "."""
        values = [value for key, value in self if len(key) == len(name) and key.lower() == name]
        return b", ".join(values) if values else None
