"""Declarative configuration (kong.yml, _format_version 3.0, also 1.1 and 2.1): parse,
validate, flatten; config hashes.

    flat = parse_file("kong.yml")          # FlatConfig, or DeclarativeConfigError
    digest, per_type = config_hash(flat)
    validate_flat(flat)                    # a flat config received as is (from a control plane)
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from .errors import DeclarativeConfigError
from .flatten import FlatConfig, flatten
from .gcpause import gc_paused
from .hashing import EMPTY_HASH, config_hash
from .loader import load
from .migrate import migrate
from .validate_flat import validate_flat

__all__ = [
    "DEFAULT_TIMESTAMP",
    "EMPTY_HASH",
    "DeclarativeConfigError",
    "FlatConfig",
    "config_hash",
    "parse_document",
    "parse_file",
    "parse_text",
    "summary",
    "validate_flat",
]

# created_at/updated_at of entities that do not set them. Kong uses the load time; a constant
# keeps re-loads of an unchanged file byte-identical (same config hash, no rebuild).
DEFAULT_TIMESTAMP = 1


def parse_text(
    text: str | bytes,
    *,
    filename: str = "kong.yml",
    plugins: Collection[str] | None = None,
    timestamp: int = DEFAULT_TIMESTAMP,
) -> FlatConfig:
    """Parse a declarative config (YAML or JSON) into a flat config. `plugins`: the plugin
    names the node runs (default: those this process loaded); a plugin entity of another is
    refused.

    Raises DeclarativeConfigError listing every invalid entity.
    """
    with gc_paused():
        return parse_document(load(text, filename), plugins=plugins, timestamp=timestamp)


def parse_document(
    doc: dict[str, Any],
    *,
    plugins: Collection[str] | None = None,
    timestamp: int = DEFAULT_TIMESTAMP,
) -> FlatConfig:
    """`parse_text` of a document already read (a config posted as a JSON body); `doc` is
    migrated in place."""
    with gc_paused():
        migrate(doc)
        return flatten(doc, plugins=plugins, timestamp=timestamp)


def parse_file(
    path: str,
    *,
    filename: str | None = None,
    plugins: Collection[str] | None = None,
    timestamp: int = DEFAULT_TIMESTAMP,
) -> FlatConfig:
    """`parse_text` of the file at `path`, named `path` in messages unless `filename` is given."""
    with open(path, "rb") as f:
        text = f.read()
    return parse_text(text, filename=path if filename is None else filename, plugins=plugins, timestamp=timestamp)


def summary(flat: FlatConfig) -> str:
    """One line: "services: 2, routes: 3, ..." (types with no entities left out)."""
    counts = [f"{name}: {len(items)}" for name, items in flat.items() if items]
    return ", ".join(counts) if counts else "empty configuration"
