"""Where the supervisor's configuration comes from, and how it reaches LMDB.

In DB-less mode the source is the declarative file named by `declarative_config`. A file that
does not parse never replaces the stored configuration: the error is returned to the caller,
which keeps serving what it has.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass

import orjson

from dataplane import _core

from dataplane.declarative import DeclarativeConfigError, config_hash, parse_file, summary
from dataplane.store.lmdb_writer import ConfigStore

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
        _core.Router.from_json([dumps(r) for r in flat.get("routes", ())],
                               [dumps(s) for s in flat.get("services", ())], cache_size=0)
        targets: dict[str, list[bytes]] = defaultdict(list)
        for target in flat.get("targets", ()):
            targets[target["upstream"]["id"]].append(dumps(target))
        for upstream in flat.get("upstreams", ()):
            _core.Balancer.from_json(dumps(upstream), targets[upstream["id"]])
    except _core.CoreError as err:
        raise ConfigRejected(str(err)) from None


def load_declarative(path: str, extra_plugins: frozenset[str] = frozenset()) -> LoadedConfig:
    """Parse, validate and compile-check a kong.yml; raises DeclarativeConfigError,
    ConfigRejected or OSError."""
    flat = parse_file(path, extra_plugins=extra_plugins)
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


__all__ = ["LoadedConfig", "ConfigRejected", "load_declarative", "empty_config", "apply", "DeclarativeConfigError"]
