"""``Runtime``: everything the request path needs for one config version, compiled once.

The worker builds a new one off the request path and swaps it in with one assignment; requests
in flight keep the one they started with.
"""

from __future__ import annotations

import ssl
from typing import Any

import orjson

from dataplane import _core

from . import tls
from .dns import is_ip
from .settings import ProxySettings


class ServiceTarget:
    """A service as the proxy uses it: where to connect and how, all precomputed."""

    __slots__ = (
        "id", "name", "protocol", "host", "port", "host_is_ip", "balancer", "host_header",
        "fixed_host_header", "connect_timeout", "write_timeout", "read_timeout", "retries",
        "tls", "tls_verify", "tls_verify_depth", "ssl_context",
    )

    def __init__(self, service: dict[str, Any], balancer: Any | None, upstream_host_header: str | None,
                 ssl_context: ssl.SSLContext | None, verify_depth: int) -> None:
        self.id: str = service["id"]
        self.name: str | None = service.get("name")
        self.protocol: str = service.get("protocol") or "http"
        self.host: str = service["host"]
        self.port: int = int(service.get("port") or (443 if self.protocol == "https" else 80))
        self.host_is_ip = is_ip(self.host)
        self.balancer = balancer
        self.host_header = upstream_host_header  # the upstream's host_header field, if any
        self.tls = self.protocol in ("https", "grpcs", "wss", "tls")
        # Host sent upstream when the service points at a host directly (no balancer).
        self.fixed_host_header = None if balancer is not None else host_header_value(self.host, self.port, self.tls).encode("latin-1")
        self.connect_timeout = _seconds(service.get("connect_timeout"))
        self.write_timeout = _seconds(service.get("write_timeout"))
        self.read_timeout = _seconds(service.get("read_timeout"))
        retries = service.get("retries")
        self.retries: int = 5 if retries is None else int(retries)
        self.tls_verify = bool(service.get("tls_verify"))  # null: nginx's proxy_ssl_verify default, off
        self.tls_verify_depth = service_verify_depth(service, verify_depth)
        self.ssl_context = ssl_context


def service_verify_depth(service: dict[str, Any], default: int) -> int:
    """The service's tls_verify_depth; null means lua_ssl_verify_depth (``default``)."""
    depth = service.get("tls_verify_depth")
    return default if depth is None else int(depth)


def host_header_value(host: str, port: int, secure: bool) -> str:
    """Kong's upstream Host: the name, with the port unless it is the scheme's default."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # IPv6 literal
    if (port == 80 and not secure) or (port == 443 and secure):
        return host
    return f"{host}:{port}"


def _seconds(milliseconds: Any) -> float:
    return 60.0 if milliseconds is None else int(milliseconds) / 1000.0


# What the service targets are built from (ca_certificates are in Kong's "rest" hash).
_SERVICE_INPUTS = ("services", "upstreams", "targets", "rest")


class Runtime:
    """One compiled config version."""

    __slots__ = ("version", "hash", "hashes", "router", "services", "route_header_names", "plugins")

    def __init__(self, version: int, hash: str, router: Any, services: dict[str, ServiceTarget],
                 plugins: list[dict[str, Any]], hashes: dict[str, str] | None = None) -> None:
        self.version = version
        self.hash = hash
        self.hashes = hashes or {}  # Kong's per-type hashes, to tell what the next version changed
        self.router = router
        self.services = services
        # Only these request headers are handed to the router (lower-case bytes).
        self.route_header_names = frozenset(name.encode("latin-1") for name in getattr(router, "header_names", ()) or ())
        # Stored for the plugin runtime; no plugin runs in this version.
        self.plugins = plugins

    @classmethod
    def from_snapshot(cls, snapshot: _core.Snapshot, settings: ProxySettings,
                      previous: Runtime | None = None) -> Runtime:
        """Compile `snapshot`, taking over from `previous` (the runtime of the snapshot it was
        loaded after) the parts whose per-type hashes did not change: with 10k services,
        rebuilding their targets costs more than the whole of a one-route change."""
        def load(kind: str) -> list[dict[str, Any]]:
            return [orjson.loads(item) for item in snapshot.entities(kind)]

        hashes = snapshot.hashes

        def unchanged(*types: str) -> bool:
            return previous is not None and all(
                hashes.get(t) is not None and hashes.get(t) == previous.hashes.get(t) for t in types)

        plugins = previous.plugins if unchanged("plugins") else load("plugins")
        if unchanged(*_SERVICE_INPUTS):
            return cls(snapshot.version, snapshot.hash, snapshot.router, previous.services, plugins, hashes)
        runtime = cls.build(
            snapshot.version, snapshot.hash, snapshot.router, load("services"), snapshot.balancers,
            load("ca_certificates"), settings, upstreams=load("upstreams"), plugins=plugins,
        )
        runtime.hashes = hashes
        return runtime

    @classmethod
    def build(cls, version: int, hash: str, router: Any, services: list[dict[str, Any]],
              balancers: dict[str, Any], ca_certificates: list[dict[str, Any]], settings: ProxySettings,
              *, upstreams: list[dict[str, Any]] | None = None, plugins: list[dict[str, Any]] | None = None) -> Runtime:
        """Compile from plain entities. ``balancers`` are keyed by upstream name; a service whose
        host names an upstream goes through its balancer."""
        pems = {ca["id"]: ca.get("cert") or "" for ca in ca_certificates}
        host_headers = {up["name"]: up.get("host_header") for up in upstreams or ()}
        contexts: dict[tuple[bool, tuple[str, ...], int | None], ssl.SSLContext] = {}
        targets: dict[str, ServiceTarget] = {}
        for service in services:
            protocol = service.get("protocol") or "http"
            context = None
            if protocol in ("https", "grpcs", "wss", "tls"):
                verify = bool(service.get("tls_verify"))
                ca_ids = tuple(service.get("ca_certificates") or ()) if verify else ()
                depth = service_verify_depth(service, settings.verify_depth)
                # One context per distinct trust setting, shared by services. The context is part
                # of the pool key, so a connection verified to one depth never serves a service
                # with a smaller one.
                key = (verify, ca_ids, depth if verify else None)
                context = contexts.get(key)
                if context is None:
                    context = contexts[key] = tls.client_context(
                        verify, [pems.get(ca_id, "") for ca_id in ca_ids], settings.trusted_certificates,
                        verify_depth=depth)
            balancer = balancers.get(service["host"])
            targets[service["id"]] = ServiceTarget(
                service, balancer, host_headers.get(service["host"]), context, settings.verify_depth)
        return cls(version, hash, router, targets, plugins or [])
