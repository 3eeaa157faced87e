"""``ProxySettings``: the kong.conf values the proxy reads, as plain values.

Built once per worker. Tests construct it directly; the worker uses ``from_conf``.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import Any

from dataplane import __version__

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Kong's header names (kong/constants.lua HEADERS).
VIA = "Via"
SERVER = "Server"
PROXY_LATENCY = "X-Kong-Proxy-Latency"
RESPONSE_LATENCY = "X-Kong-Response-Latency"
UPSTREAM_LATENCY = "X-Kong-Upstream-Latency"
UPSTREAM_STATUS = "X-Kong-Upstream-Status"
REQUEST_ID = "X-Kong-Request-Id"

DEFAULT_HEADERS = frozenset({VIA, SERVER, PROXY_LATENCY, RESPONSE_LATENCY, UPSTREAM_LATENCY, REQUEST_ID})
SERVER_TOKENS = f"gantry/{__version__}"
BODY_TEMP_DIR = "client_body_temp"  # nginx's directory name under the prefix


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxySettings:
    """Defaults are Kong 3.x's (kong.conf.default and the nginx template)."""

    client_max_body_size: int = 0  # bytes, 0 = unlimited (nginx_http_client_max_body_size)
    client_body_buffer_size: int = 8192  # a buffered body beyond this goes to a file in body_temp_dir
    body_temp_dir: str = "/tmp"  # <prefix>/client_body_temp for a worker, as nginx's
    underscores_in_headers: bool = False  # nginx's default: names with '_' are dropped
    max_request_line_size: int = 8192  # large_client_header_buffers "4 8k": one buffer
    max_header_line_size: int = 8192
    max_header_size: int = 32768  # all four buffers
    client_keepalive_timeout: float = 60.0  # nginx keepalive_timeout
    client_keepalive_requests: int = 10000  # nginx_http_keepalive_requests
    client_header_timeout: float = 60.0  # nginx client_header_timeout / client_body_timeout
    upstream_keepalive_pool_size: int = 512  # idle connections kept per pool key; 0 = no pooling
    upstream_keepalive_max_requests: int = 10000
    upstream_keepalive_idle_timeout: float = 60.0
    real_ip_header: str = "X-Real-IP"
    real_ip_recursive: bool = False
    trusted_ips: tuple[Network, ...] = ()
    headers: frozenset[str] = DEFAULT_HEADERS  # Kong header names enabled downstream
    headers_upstream: frozenset[str] = frozenset({REQUEST_ID})
    error_default_type: str = "text/plain"
    trusted_certificates: tuple[str, ...] = ("system",)  # lua_ssl_trusted_certificate
    verify_depth: int = 1  # lua_ssl_verify_depth; the default when a service sets none
    access_log: str | None = None  # absolute path; None = off
    dns_hostsfile: str | None = "/etc/hosts"
    dns_resolvers: tuple[tuple[str, int], ...] = ()  # empty: the system's resolv.conf
    dns_valid_ttl: float | None = None
    dns_stale_ttl: float = 3600.0
    dns_not_found_ttl: float = 30.0
    dns_error_ttl: float = 1.0
    server_tokens: str = SERVER_TOKENS
    node_id: str = ""  # <prefix>/node.id, for kong.node.get_id

    @classmethod
    def from_conf(cls, conf: Any) -> ProxySettings:
        """Read a ``dataplane.conf.Conf`` (attribute names are Kong's keys)."""
        raw = getattr(conf, "raw", {}) or {}
        trusted = conf.trusted_ips
        networks = tuple(getattr(trusted, "networks", trusted) or ())
        number, each = conf.nginx_http_large_client_header_buffers
        return cls(
            client_max_body_size=conf.nginx_http_client_max_body_size,
            client_body_buffer_size=conf.client_body_buffer_size,
            body_temp_dir=os.path.join(conf.prefix, BODY_TEMP_DIR),
            underscores_in_headers=conf.nginx_http_underscores_in_headers,
            max_request_line_size=each,
            max_header_line_size=each,
            max_header_size=number * each,
            client_keepalive_requests=int(raw.get("nginx_http_keepalive_requests", 10000)),
            upstream_keepalive_pool_size=conf.upstream_keepalive_pool_size,
            upstream_keepalive_max_requests=conf.upstream_keepalive_max_requests,
            upstream_keepalive_idle_timeout=float(conf.upstream_keepalive_idle_timeout),
            real_ip_header=conf.real_ip_header,
            real_ip_recursive=bool(conf.real_ip_recursive),
            trusted_ips=networks,
            headers=frozenset(conf.headers),
            headers_upstream=frozenset(conf.headers_upstream),
            error_default_type=raw.get("error_default_type", "text/plain") or "text/plain",
            trusted_certificates=tuple(conf.lua_ssl_trusted_certificate),
            verify_depth=conf.lua_ssl_verify_depth,
            access_log=conf.proxy_access_log,
            dns_hostsfile=conf.dns_hostsfile or None,
            dns_resolvers=tuple((server.host, server.port) for server in conf.dns_resolver),
            dns_valid_ttl=conf.dns_valid_ttl,
            dns_stale_ttl=conf.dns_stale_ttl,
            dns_not_found_ttl=conf.dns_not_found_ttl,
            dns_error_ttl=conf.dns_error_ttl,
        )
