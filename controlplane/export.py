"""Flat config -> a kong.yml document shaped like Kong's `kong config db_export`: flat
entity lists (parents first), foreign keys as plain ids, `_transform: false`, nulls kept, but
for a plugin's null `consumer_group` (`compat.sent_form`: a file without consumer groups is
one Kong's open-source edition imports). `dataplane.declarative` reads it back to the same
flat config."""

from __future__ import annotations

from typing import Any

import yaml

from dataplane.schema import ENTITIES

from .cluster import compat

FORMAT_VERSION = "3.0"

_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def to_document(flat: dict[str, list[dict]]) -> dict[str, Any]:
    doc: dict[str, Any] = {"_format_version": FORMAT_VERSION, "_transform": False}
    for name, schema in ENTITIES.items():
        rows = flat.get(name) or []
        if not rows:
            continue  # Kong lists only the entity types that have rows
        order = [field for field, _ in schema.fields]
        foreign = {field for field, _ in schema.foreign_fields()}
        doc[name] = [_exported(compat.sent_form(name, row), order, foreign) for row in rows]
    return doc


def _exported(row: dict, order: list[str], foreign: set[str]) -> dict:
    # Schema field order reads like Kong's output; keys the schema does not know stay, last.
    out = {k: row[k] for k in order if k in row}
    out.update((k, v) for k, v in row.items() if k not in out)
    for field in foreign:
        if isinstance(out.get(field), dict):
            out[field] = out[field].get("id")
    return out


def to_yaml(flat: dict[str, list[dict]]) -> str:
    return yaml.dump(to_document(flat), Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)
