"""Where the supervisor's configuration comes from, and how it reaches LMDB.

In DB-less mode the source is the declarative file named by `declarative_config`. A file that
does not parse never replaces the stored configuration: the error is returned to the caller,
which keeps serving what it has.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import orjson

from dataplane import _core
from dataplane.declarative import DeclarativeConfigError, config_hash, parse_document, parse_file, summary
from dataplane.declarative.validate_flat import StoredConfig
from dataplane.lmdb_cache.lmdb_writer import ConfigStore

log = logging.getLogger("gantry.config")


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    flat: dict[str, list[dict]]
    hash: str
    hashes: dict[str, str]
    summary: str


class ConfigRejected(Exception):
    """The config validated but the native core cannot compile it (e.g. a regex it rejects)."""


def check_compiles(flat: dict[str, list[dict]]) -> None:
    """Compile the router and balancers once here, so workers never receive a config they
    cannot build: a validated file can still hold a regex the Rust engine refuses."""
    dumps = orjson.dumps
    try:
        _core.Router.from_json(
            [dumps(r) for r in flat.get("routes", ())], [dumps(s) for s in flat.get("services", ())], cache_size=0
        )
        targets: dict[str, list[bytes]] = defaultdict(list)
        for target in flat.get("targets", ()):
            targets[target["upstream"]["id"]].append(dumps(target))
        for upstream in flat.get("upstreams", ()):
            _core.Balancer.from_json(dumps(upstream), targets[upstream["id"]])
    except _core.CoreError as err:
        raise ConfigRejected(str(err)) from None


def check_delta_compiles(upserts: dict[str, list[dict]], deletes: dict[str, list[str]], stored: StoredConfig) -> None:
    """check_compiles for what a validated delta can break, on top of a stored config that
    compiled: a route compiles alone against its service, a balancer from its upstream and
    targets. So: the upserted routes, the routes of services the delta enables (a disabled
    service's routes are never compiled), and the upstreams of upserted upstreams or targets."""
    new = {t: {e["id"]: e for e in items} for t, items in upserts.items()}
    gone = {t: set(ids) - new.get(t, {}).keys() for t, ids in deletes.items()}

    def entity(entity_type: str, entity_id: str) -> dict | None:
        found = new.get(entity_type, {}).get(entity_id)
        if found is None and entity_id not in gone.get(entity_type, ()):
            found = stored.get(entity_type, entity_id)
        return found

    def stored_referrers(entity_type: str, entity_id: str, referrer_type: str) -> list[dict]:
        """Referrers as they will be stored: neither deleted nor replaced by the delta."""
        return [
            found
            for t, i in stored.referrers(entity_type, entity_id)
            if t == referrer_type and i not in new.get(t, {}) and (found := entity(t, i)) is not None
        ]

    routes = dict(new.get("routes", {}))
    for service_id, service in new.get("services", {}).items():
        before = stored.get("services", service_id)
        if service.get("enabled", True) and before is not None and not before.get("enabled", True):
            routes.update((r["id"], r) for r in stored_referrers("services", service_id, "routes"))
    services = {
        ref["id"]: found
        for r in routes.values()
        if isinstance(ref := r.get("service"), dict) and (found := entity("services", ref["id"])) is not None
    }
    upstream_ids = set(new.get("upstreams", {})) | {t["upstream"]["id"] for t in new.get("targets", {}).values()}
    flat: dict[str, list[dict]] = {
        "routes": list(routes.values()),
        "services": list(services.values()),
        "upstreams": [],
        "targets": [],
    }
    for upstream_id in upstream_ids:
        upstream = entity("upstreams", upstream_id)
        if upstream is None:
            continue
        flat["upstreams"].append(upstream)
        flat["targets"] += stored_referrers("upstreams", upstream_id, "targets")
        flat["targets"] += [t for t in new.get("targets", {}).values() if t["upstream"]["id"] == upstream_id]
    check_compiles(flat)


def plugins_not_run(store: ConfigStore, plugins: Collection[str]) -> list[str]:
    """The plugin names of the stored config that are not in `plugins` (a cache written
    under another `plugins` setting), sorted."""
    return sorted({str(p.get("name")) for p in store.entities("plugins") if p.get("name") not in plugins})


def load_declarative(path: str, plugins: Collection[str] | None = None) -> LoadedConfig:
    """Parse, validate and compile-check a kong.yml (`plugins`: the names the node runs, by
    default those this process loaded); raises DeclarativeConfigError, ConfigRejected or
    OSError."""
    flat = parse_file(path, plugins=plugins)
    check_compiles(flat)
    digest, hashes = config_hash(flat)
    return LoadedConfig(flat, digest, hashes, summary(flat))


def load_document(doc: dict[str, Any], plugins: Collection[str] | None = None) -> LoadedConfig:
    """`load_declarative` of a document already read (a config posted to a DB-less node's
    Admin API): the same checks; raises DeclarativeConfigError or ConfigRejected."""
    flat = parse_document(doc, plugins=plugins)
    check_compiles(flat)
    digest, hashes = config_hash(flat)
    return LoadedConfig(flat, digest, hashes, summary(flat))


def empty_config() -> LoadedConfig:
    flat: dict[str, list[dict]] = {}
    digest, hashes = config_hash(flat)
    return LoadedConfig(flat, digest, hashes, summary(flat))


def apply(store: ConfigStore, config: LoadedConfig) -> int:
    """Write a config to LMDB unless it is already the stored one; returns the stored version."""
    current = store.current()
    if current is not None and current[1] == config.hash:
        return current[0]
    version = store.apply(config.flat, config.hash, config.hashes)
    log.info("configuration version %d applied (hash %s; %s)", version, config.hash, config.summary)
    return version


__all__ = [
    "ConfigRejected",
    "DeclarativeConfigError",
    "LoadedConfig",
    "apply",
    "empty_config",
    "load_declarative",
    "load_document",
]
