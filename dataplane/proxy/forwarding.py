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

from dataplane._core import RequestPlanner

from .settings import REQUEST_ID, ProxySettings

# Request fields never forwarded as received (lower-case names): replaced by the gateway's own
# or hop-by-hop. Host, Content-Length, Transfer-Encoding, Connection (and the names it lists),
# Expect, Upgrade, Proxy-Connection, TE, X-Forwarded-For and Via are the native reader's own
# business (rust/src/http/request_head.rs): it sorts them out of the forwarded block itself.
DROPPED: tuple[bytes, ...] = (
    b"keep-alive",
    b"trailer",
    b"proxy",  # httpoxy: Kong clears it
    b"x-forwarded-proto",
    b"x-forwarded-host",
    b"x-forwarded-port",
    b"x-forwarded-path",
    b"x-forwarded-prefix",
    b"x-real-ip",
)

SERVER_NAME = b"gantry"  # nginx's $host when a request has no Host


def request_planner(settings: ProxySettings) -> RequestPlanner:
    """The request reader and upstream head builder with a worker's limits and forwarding rules;
    the runtime of each config version derives its routed one from it. With X-Kong-Request-Id
    sent upstream, ours replaces the client's."""
    dropped = list(DROPPED)
    if REQUEST_ID in settings.headers_upstream:
        dropped.append(b"x-kong-request-id")
    via = settings.server_tokens.encode()
    return RequestPlanner(
        settings.max_request_line_size,
        settings.max_header_line_size,
        settings.max_header_size,
        settings.client_max_body_size,
        dropped,
        settings.underscores_in_headers,
        (b"1.1 " + via, b"1.0 " + via),
        SERVER_NAME,
        REQUEST_ID in settings.headers_upstream,
    )


def nginx_host(host: bytes | None, server_name: bytes) -> bytes:
    """nginx's ``$host``: the Host header lower-cased without its port, else the server name."""
    if not host:
        return server_name
    if host[:1] == b"[":
        end = host.find(b"]")
        return host[: end + 1].lower() if end > 0 else host.lower()
    return host.partition(b":")[0].lower()
