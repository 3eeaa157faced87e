"""Where the supervisor's configuration comes from, and how it reaches LMDB.

In DB-less mode the source is the declarative file named by `declarative_config`. A file that
does not parse never replaces the stored configuration: the error is returned to the caller,
which keeps serving what it has.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from dataplane.declarative import DeclarativeConfigError, config_hash, parse_file, summary
from dataplane.store.lmdb_writer import ConfigStore

log = logging.getLogger("gantry.config")


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    flat: dict[str, list[dict]]
    hash: str
    hashes: dict[str, str]
    summary: str


def load_declarative(path: str, extra_plugins: frozenset[str] = frozenset()) -> LoadedConfig:
    """Parse and validate a kong.yml; raises DeclarativeConfigError or OSError."""
    flat = parse_file(path, extra_plugins=extra_plugins)
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


__all__ = ["LoadedConfig", "load_declarative", "empty_config", "apply", "DeclarativeConfigError"]
