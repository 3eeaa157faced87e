"""``Runtime``: everything the request path needs for one config version, compiled once.

The worker builds a new one off the request path and swaps it in with one assignment; requests
in flight keep the one they started with.
"""

from __future__ import annotations

import copy
import ssl
from typing import Any

import orjson

from dataplane import _core
from dataplane.plugins import PluginPlans, Registry, load_registry
from dataplane.plugins.identities import Identities

from . import upstream_tls
from .dns import is_ip
from .forwarding import request_planner
from .hashing import HashSpec
from .settings import ProxySettings


class ServiceTarget:
    """A service as the proxy uses it: where to connect and how, all precomputed."""

    __slots__ = (
        "id",
        "name",
        "protocol",
        "host",
        "port",
        "host_is_ip",
        "balancer",
        "tracked",
        "hash_spec",
        "host_header",
        "fixed_host_header",
        "connect_timeout",
        "write_timeout",
        "read_timeout",
        "retries",
        "tls",
        "tls_verify",
        "tls_verify_depth",
        "ssl_context",
        "ca_ids",
    )

    def __init__(
        self,
        service: dict[str, Any],
        balancer: _core.Balancer | None,
        upstream_host_header: str | None,
        ssl_context: ssl.SSLContext | None,
        verify_depth: int,
        ca_ids: tuple[str, ...],
        hash_spec: HashSpec | None = None,
    ) -> None:
        self.id: str = service["id"]
        self.name: str | None = service.get("name")
        self.protocol: str = service.get("protocol") or "http"
        self.host: str = service["host"]
        self.port: int = int(service.get("port") or (443 if self.protocol == "https" else 80))
        self.host_is_ip = is_ip(self.host)
        self.balancer = balancer
        # every algorithm but round-robin, and any upstream with health checks, picks through
        # Balancer.peer and is told how each try ended
        self.tracked = balancer is not None and (balancer.algorithm != "round-robin" or balancer.checks_health)
        self.hash_spec = hash_spec  # consistent-hashing: what the request hashes on
        self.host_header = upstream_host_header  # the upstream's host_header field, if any
        self.tls = self.protocol in _TLS_PROTOCOLS
        # Host sent upstream when the service points at a host directly (unused with a balancer).
        self.fixed_host_header = (
            b"" if balancer is not None else host_header_value(self.host, self.port, self.tls).encode("latin-1")
        )
        self.connect_timeout = _seconds(service.get("connect_timeout"))
        self.write_timeout = _seconds(service.get("write_timeout"))
        self.read_timeout = _seconds(service.get("read_timeout"))
        retries = service.get("retries")
        self.retries: int = 5 if retries is None else int(retries)
        self.tls_verify = bool(service.get("tls_verify"))  # null: nginx's proxy_ssl_verify default, off
        self.tls_verify_depth = service_verify_depth(service, verify_depth)
        self.ssl_context = ssl_context
        self.ca_ids = ca_ids  # the CA certificates `ssl_context` trusts: it changes with them

    def changed(self, changes: dict[str, Any], table: ServiceTable) -> ServiceTarget:
        """This target as one request's plugins changed it (``kong.service.set_*``,
        ``kong.service.request.set_scheme``): a copy, the shared target untouched."""
        target = copy.copy(self)
        if "retries" in changes:
            target.retries = changes["retries"]
        if "upstream" in changes:
            name = changes["upstream"]
            target.host, target.host_is_ip = name, False
            target.balancer = table.balancers[name]
            target.tracked = target.balancer.algorithm != "round-robin" or target.balancer.checks_health
            target.hash_spec = table.hash_specs.get(name)
            target.host_header = table.host_headers.get(name)
            target.fixed_host_header = b""
        if "target" in changes:
            host, port = changes["target"]
            if target.balancer is not None:  # the Host the service's balancer would have named
                target.fixed_host_header = host_header_value(
                    target.host_header or target.host, target.port, target.tls
                ).encode("latin-1")
            target.host, target.port, target.host_is_ip = host, port, is_ip(host)
            target.balancer = None
            target.tracked, target.hash_spec = False, None
            target.retries = 0  # as Kong: no balancer, so no retries, whatever set_retries said
        if "timeouts" in changes:
            target.connect_timeout, target.write_timeout, target.read_timeout = (
                ms / 1000 for ms in changes["timeouts"]
            )
        if "scheme" in changes:
            target.tls = changes["scheme"] == "https"
        target.tls_verify = changes.get("tls_verify", target.tls_verify)
        target.tls_verify_depth = changes.get("tls_verify_depth", target.tls_verify_depth)
        if target.tls:
            key: TrustKey = (True, target.ca_ids, target.tls_verify_depth) if target.tls_verify else (False, (), None)
            target.ssl_context = table.context(key)
        else:
            target.ssl_context = None
        return target


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


_TLS_PROTOCOLS = ("https", "grpcs", "wss", "tls")

# What the service targets are built from.
_SERVICE_INPUTS = ("services", "upstreams", "targets", "ca_certificates")

# (verify, CA certificate ids, verify depth): one TLS context per distinct trust setting.
TrustKey = tuple[bool, tuple[str, ...], int | None]


def trust_key(service: dict[str, Any], default_depth: int) -> TrustKey | None:
    """The trust setting of a service's upstream TLS context; None when it does not use TLS."""
    if (service.get("protocol") or "http") not in _TLS_PROTOCOLS:
        return None
    verify = bool(service.get("tls_verify"))
    if not verify:
        return (False, (), None)
    return (True, tuple(service.get("ca_certificates") or ()), service_verify_depth(service, default_depth))


class ServiceTable:
    """The service targets of one config version with what they were built from, so that the
    next version rebuilds only the targets whose inputs changed: with 10k services, rebuilding
    them all (decoding each, building TLS contexts) costs a worker far more than the Rust
    reader spends on a one-entity change."""

    __slots__ = (
        "targets",
        "balancers",
        "upstream_names",
        "host_headers",
        "hash_specs",
        "pems",
        "contexts",
        "settings",
    )

    def __init__(self, settings: ProxySettings) -> None:
        self.targets: dict[str, ServiceTarget] = {}
        self.balancers: dict[str, _core.Balancer] = {}  # by upstream name, as the snapshot gave them
        self.upstream_names: dict[str, str] = {}  # upstream id -> name
        self.host_headers: dict[str, str | None] = {}  # upstream name -> its host_header field
        self.hash_specs: dict[str, HashSpec | None] = {}  # upstream name -> consistent-hashing's sources
        self.pems: dict[str, str] = {}  # CA certificate id -> PEM
        # Shared by the services of one trust setting, this version and the next ones until a
        # CA certificate in it changes. The context is part of the upstream pool key, so a
        # connection verified to one depth never serves a service with a smaller one.
        self.contexts: dict[TrustKey, ssl.SSLContext] = {}
        self.settings = settings

    @classmethod
    def build(
        cls,
        services: list[dict[str, Any]],
        balancers: dict[str, _core.Balancer],
        upstreams: list[dict[str, Any]],
        ca_certificates: list[dict[str, Any]],
        settings: ProxySettings,
    ) -> ServiceTable:
        """Every target, from plain entities; ``balancers`` by upstream name."""
        table = cls(settings)
        table.balancers = dict(balancers)
        table._set_upstreams(upstreams)
        table._set_ca_certificates(ca_certificates)
        for service in services:
            table._put(service)
        return table

    def updated(self, snapshot: _core.Snapshot) -> ServiceTable:
        """The table of ``snapshot``, loaded against the snapshot this one was built from.

        Rebuilt: the services added or changed, those whose host names an upstream that was
        added, changed or removed or whose balancer is not the one they hold (the reader
        rebuilds the balancer of an upstream whose targets changed), and those whose TLS
        context trusts a CA certificate that changed. The other targets are this table's
        objects; the removed services are dropped. Finding the dependents is one pass over the
        targets, without decoding anything, and only when an upstream, target or CA certificate
        changed."""
        changes = {kind: snapshot.changed(kind) or ([], []) for kind in _SERVICE_INPUTS}
        if not any(upserted or removed for upserted, removed in changes.values()):
            return self
        table = self._copy()
        hosts = table._update_upstreams(snapshot, changes["upstreams"], changes["targets"])
        ca_ids = table._update_ca_certificates(changes["ca_certificates"])
        upserted, removed = changes["services"]
        for service_id in removed:
            table.targets.pop(service_id, None)
        rebuild = {service["id"]: service for service in map(orjson.loads, upserted)}
        if hosts or ca_ids:
            for service_id, target in table.targets.items():
                if service_id not in rebuild and (target.host in hosts or not ca_ids.isdisjoint(target.ca_ids)):
                    stored = snapshot.entity("services", service_id)
                    if stored is not None:  # removed services were dropped above
                        rebuild[service_id] = orjson.loads(stored)
        for service in rebuild.values():
            table._put(service)
        return table

    def _copy(self) -> ServiceTable:
        """A table to update: the runtime serving this one keeps it as it is."""
        table = ServiceTable(self.settings)
        table.targets = dict(self.targets)
        table.balancers = self.balancers
        table.upstream_names = dict(self.upstream_names)
        table.host_headers = dict(self.host_headers)
        table.hash_specs = dict(self.hash_specs)
        table.pems = dict(self.pems)
        table.contexts = dict(self.contexts)
        return table

    def _set_upstreams(self, upstreams: list[dict[str, Any]]) -> None:
        for upstream in upstreams:
            self.upstream_names[upstream["id"]] = upstream["name"]
            self.host_headers[upstream["name"]] = upstream.get("host_header")
            hashing = upstream.get("algorithm") == "consistent-hashing"
            self.hash_specs[upstream["name"]] = HashSpec(upstream) if hashing else None

    def _update_upstreams(
        self, snapshot: _core.Snapshot, upstreams: tuple[list[bytes], list[str]], targets: tuple[list[bytes], list[str]]
    ) -> set[str]:
        """Applies the upstream changes; returns the upstream names whose services need
        rebuilding (old and new names of the changed upstreams, names whose balancer changed)."""
        if not any(upstreams) and not any(targets):
            return set()
        upserted = [orjson.loads(raw) for raw in upstreams[0]]
        names: set[str] = set()
        # Every old name goes before any new one is set: two upstreams may swap names.
        for upstream_id in [u["id"] for u in upserted] + upstreams[1]:
            name = self.upstream_names.pop(upstream_id, None)
            if name is not None:
                self.host_headers.pop(name, None)
                self.hash_specs.pop(name, None)
                names.add(name)
        self._set_upstreams(upserted)
        names.update(u["name"] for u in upserted)
        balancers = snapshot.balancers
        replaced = {
            name
            for name in balancers.keys() | self.balancers.keys()
            if balancers.get(name) is not self.balancers.get(name)
        }
        for name in replaced:
            new, old = balancers.get(name), self.balancers.get(name)
            if new is not None and old is not None:
                new.inherit(old)  # latency's averages carry over to the new config
        names.update(replaced)
        self.balancers = balancers
        return names

    def _set_ca_certificates(self, ca_certificates: list[dict[str, Any]]) -> None:
        for ca in ca_certificates:
            self.pems[ca["id"]] = ca.get("cert") or ""

    def _update_ca_certificates(self, changes: tuple[list[bytes], list[str]]) -> set[str]:
        """Applies the CA certificate changes; returns the ids of those that changed, whose
        contexts are forgotten."""
        upserted, removed = changes
        cas = [orjson.loads(raw) for raw in upserted]
        for ca_id in removed:
            self.pems.pop(ca_id, None)
        self._set_ca_certificates(cas)
        changed = {ca["id"] for ca in cas}.union(removed)
        if changed:
            self.contexts = {key: c for key, c in self.contexts.items() if changed.isdisjoint(key[1])}
        return changed

    def _put(self, service: dict[str, Any]) -> None:
        """(Re)builds the target of one service."""
        key = trust_key(service, self.settings.verify_depth)
        context = None if key is None else self.context(key)
        host = service["host"]
        self.targets[service["id"]] = ServiceTarget(
            service,
            self.balancers.get(host),
            self.host_headers.get(host),
            context,
            self.settings.verify_depth,
            () if key is None else key[1],
            self.hash_specs.get(host),
        )

    def context(self, key: TrustKey) -> ssl.SSLContext:
        """The upstream TLS context of a trust setting, made once per distinct one."""
        context = self.contexts.get(key)
        if context is None:
            verify, ca_ids, depth = key
            context = self.contexts[key] = upstream_tls.client_context(
                verify,
                [self.pems.get(ca_id, "") for ca_id in ca_ids],
                self.settings.trusted_certificates,
                verify_depth=self.settings.verify_depth if depth is None else depth,
            )
        return context


class Runtime:
    """One compiled config version."""

    __slots__ = (
        "version",
        "hash",
        "router",
        "services",
        "service_table",
        "route_header_names",
        "plugins",
        "plugin_plans",
        "identities",
        "planner",
    )

    def __init__(
        self,
        version: int,
        hash: str,
        router: _core.Router,
        services: ServiceTable,
        plugins: list[dict[str, Any]],
        plugin_plans: PluginPlans | None,
        identities: Identities,
    ) -> None:
        self.version = version
        self.hash = hash
        self.router = router
        self.services = services.targets  # by service id
        self.service_table = services  # what the next version's targets are updated from
        # Only these request headers are handed to the router (lower-case bytes).
        self.route_header_names = frozenset(name.encode("latin-1") for name in router.header_names)
        self.plugins = plugins  # the plugin entities, as stored
        self.plugin_plans = plugin_plans  # None: no plugin runs on any request of this version
        self.identities = identities  # consumers and credentials, indexed when a plugin asks
        # The request side plans (routes, builds the upstream head of) plain heads with this
        # version's router, but none a plugin may see: with a global plugin, none at all.
        planner = request_planner(services.settings)
        # an upstream hashing on a uri capture needs the route's match: the general lane routes
        captured = [sid for sid, t in self.services.items() if t.hash_spec is not None and t.hash_spec.captures]
        if plugin_plans is None:
            # The ignores: the stub's dict[str, object] is invariant; the planner only hands these
            # ServiceTargets back (RequestHead.service).
            self.planner = planner.routed(router, self.services, captured)  # type: ignore[arg-type]
        elif plugin_plans.global_slots:
            self.planner = planner
        else:
            unplanned = sorted(plugin_plans.unplanned.union(captured))
            self.planner = planner.routed(router, self.services, unplanned)  # type: ignore[arg-type]

    @classmethod
    def from_snapshot(
        cls,
        snapshot: _core.Snapshot,
        settings: ProxySettings,
        previous: Runtime | None = None,
        registry: Registry | None = None,
    ) -> Runtime:
        """Compile `snapshot`. With `previous`, the runtime (built with the same `settings`) of
        the snapshot `snapshot` was loaded against, only what changed since is rebuilt: the
        plugin list when a plugin changed, and the service targets that depend on a changed
        service, upstream, target or CA certificate (`ServiceTable.updated`)."""

        def load(kind: str) -> list[dict[str, Any]]:
            return [orjson.loads(item) for item in snapshot.entities(kind)]

        registry = registry or default_registry()
        identities = Identities.from_snapshot(snapshot)
        if previous is None or snapshot.changed("services") is None:
            services = ServiceTable.build(
                load("services"), snapshot.balancers, load("upstreams"), load("ca_certificates"), settings
            )
            plugins = load("plugins")
            plans = PluginPlans.build(plugins, registry)
            return cls(snapshot.version, snapshot.hash, snapshot.router, services, plugins, plans, identities)
        plugin_changes = snapshot.changed("plugins")
        if plugin_changes and any(plugin_changes):
            plugins = load("plugins")
            plans = PluginPlans.build(plugins, registry)
        else:
            plugins, plans = previous.plugins, previous.plugin_plans
        services = previous.service_table.updated(snapshot)
        return cls(snapshot.version, snapshot.hash, snapshot.router, services, plugins, plans, identities)

    @classmethod
    def build(
        cls,
        version: int,
        hash: str,
        router: _core.Router,
        services: list[dict[str, Any]],
        balancers: dict[str, _core.Balancer],
        ca_certificates: list[dict[str, Any]],
        settings: ProxySettings,
        *,
        upstreams: list[dict[str, Any]] | None = None,
        plugins: list[dict[str, Any]] | None = None,
        entities: dict[str, list[dict[str, Any]]] | None = None,
        registry: Registry | None = None,
    ) -> Runtime:
        """Compile from plain entities. ``balancers`` are keyed by upstream name; a service whose
        host names an upstream goes through its balancer."""
        table = ServiceTable.build(services, balancers, upstreams or [], ca_certificates, settings)
        plans = PluginPlans.build(plugins or [], registry or default_registry())
        identities = Identities.from_entities({"services": services, **(entities or {})})
        return cls(version, hash, router, table, plugins or [], plans, identities)


_default_registry: list[Registry] = []


def default_registry() -> Registry:
    """Kong's default ``plugins = bundled``, loaded once (for a runtime built without a worker's
    own registry)."""
    if not _default_registry:
        _default_registry.append(load_registry(("bundled",)))
    return _default_registry[0]
