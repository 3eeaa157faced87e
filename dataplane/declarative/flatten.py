"""Nested declarative document -> flat config (docs/internals.md), collecting every error."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import orjson

from dataplane.schema import ENTITIES, fill_defaults, loaded_plugins, messages as M, transform, validate

from . import groups, ids
from .errors import DeclarativeConfigError, ErrorTree, children_of

FORMAT_VERSIONS = ("1.1", "2.1", "3.0")
_PLACEHOLDER_ID = "00000000-0000-0000-0000-000000000000"  # stands in for a dangling reference

FlatConfig = dict[str, list[dict[str, Any]]]


@dataclass
class Entry:
    type: str
    raw: dict[str, Any]  # the input entity without its nested children and _comment/_ignore
    path: tuple[Any, ...]  # where its errors go: ("services", 1, "routes", 2)
    parent: Entry | None
    parent_fk: str | None
    id: str | None = None
    errors: dict[str, Any] = field(default_factory=dict)
    nested: dict[str, list[Entry]] = field(default_factory=dict)
    entity: dict[str, Any] | None = None


def _add_errors(root: ErrorTree, path: tuple[Any, ...], errs: Any) -> None:
    node = root
    for key in path[:-1]:
        nxt = node.get(key)
        if not isinstance(nxt, dict):
            nxt = node[key] = {}
        node = nxt
    last = path[-1]
    if isinstance(errs, dict) and isinstance(node.get(last), dict):
        for k, v in errs.items():
            if k == "@entity":
                node[last].setdefault("@entity", []).extend(v)
            else:
                node[last].setdefault(k, v)
    else:
        node[last] = errs


def _entity_error(entry: Entry, msg: str) -> None:
    entry.errors.setdefault("@entity", []).append(msg)


def _check_toplevel(doc: dict[str, Any], errors: ErrorTree) -> None:
    version = doc.get("_format_version")
    if version is None:
        errors["_format_version"] = M.REQUIRED
    elif not isinstance(version, str):
        errors["_format_version"] = M.STRING
    elif version not in FORMAT_VERSIONS:
        errors["_format_version"] = M.ONE_OF.format(", ".join(FORMAT_VERSIONS))
    for key, kind, msg in (("_transform", bool, M.BOOLEAN), ("_comment", str, M.STRING), ("_ignore", list, M.ARRAY)):
        if doc.get(key) is not None and not isinstance(doc[key], kind):
            errors[key] = msg
    for key in doc:
        if key not in ENTITIES and key not in ("_format_version", "_transform", "_comment", "_ignore"):
            errors[key] = M.UNKNOWN


class _Flattener:
    def __init__(self, doc: dict[str, Any], plugins: frozenset[str], timestamp: float) -> None:
        self.doc = doc
        self.plugins = plugins
        self.timestamp = timestamp
        # Kong's `_transform` (default true): a file written by an export holds stored forms
        # (hashed passwords) that must not be transformed again
        self.transform = doc.get("_transform") is not False
        self.errors: ErrorTree = {}
        self.entries: list[Entry] = []
        self.by_id: dict[str, dict[str, Entry]] = {t: {} for t in ENTITIES}
        self.by_key: dict[str, dict[str, Entry]] = {t: {} for t in ENTITIES}

    # -- pass 1: walk the nesting, assigning ids parents first (as Kong's generate_ids)

    def walk(
        self, entity_type: str, items: Any, prefix: tuple[Any, ...], parent: Entry | None, parent_fk: str | None
    ) -> list[Entry]:
        if items is None:
            return []
        if items == {}:
            items = []
        if not isinstance(items, list):
            _add_errors(self.errors, (*prefix, entity_type), M.ARRAY)
            return []
        out = []
        for i, item in enumerate(items, start=1):
            path = (*prefix, entity_type, i)
            if not isinstance(item, dict):
                _add_errors(self.errors, path, M.RECORD)
                continue
            raw = dict(item)
            kids = {c: (fk, raw.pop(c)) for c, fk in children_of(entity_type) if c in raw}
            entry = Entry(entity_type, raw, path, parent, parent_fk)
            self._extras(entry)
            entry.id = self._id(entry, i - 1)
            self.entries.append(entry)
            out.append(entry)
            for child_type, (fk, value) in kids.items():
                entry.nested[child_type] = self.walk(child_type, value, path, entry, fk)
        return out

    def _extras(self, entry: Entry) -> None:
        """`_comment` and `_ignore` may annotate any entity; they are not part of it."""
        for key, kind, msg in (("_comment", str, M.STRING), ("_ignore", list, M.ARRAY)):
            value = entry.raw.pop(key, None)
            if value is not None and not isinstance(value, kind):
                entry.errors[key] = msg

    def _id(self, entry: Entry, index: int) -> str | None:
        given = entry.raw.get("id")
        if given is not None:
            return given if isinstance(given, str) else None
        schema = ENTITIES[entry.type]
        parent_id = entry.parent.id if entry.parent else None
        key = ids.kong_key(schema, entry.raw, parent_id, entry.parent_fk)
        if key is None:
            key = ids.position_key(entry.parent.type if entry.parent else None, parent_id, index)
        return ids.entity_uuid(entry.type, key)

    # -- pass 2: index by id and unique endpoint key (Kong's populate_references)

    def index(self) -> None:
        for e in self.entries:
            schema = ENTITIES[e.type]
            failed = False
            ek = schema.endpoint_key
            if ek and schema.fields_by_name[ek].unique and isinstance(e.raw.get(ek), str):
                key = e.raw[ek]
                if key in self.by_key[e.type]:
                    _entity_error(e, _uniqueness(e.type, ek, key))
                    failed = True
                else:
                    self.by_key[e.type][key] = e
            if e.id is not None:
                if e.id in self.by_id[e.type]:
                    if not failed:
                        _entity_error(e, _uniqueness(e.type, "primary key", e.id))
                else:
                    self.by_id[e.type][e.id] = e

    # -- pass 3: references, defaults, validation

    def _resolve(self, e: Entry, data: dict[str, Any]) -> None:
        for fname, reference in ENTITIES[e.type].references:
            value = e.raw.get(fname)
            if e.parent is not None:
                if fname == e.parent_fk:
                    data[fname] = {"id": e.parent.id or _PLACEHOLDER_ID}
                    continue
                if e.type not in groups.LINKS:
                    if value is not None:
                        e.errors[fname] = M.EQ.format("null")  # nested entities take no other refs
                    continue
            if value is None:
                continue
            ref = (
                value["id"]
                if isinstance(value, dict) and isinstance(value.get("id"), str)
                else value
                if isinstance(value, str)
                else None
            )
            if ref is None:
                e.errors[fname] = M.STRING
                data.pop(fname, None)
                continue
            target = self.by_key[reference].get(ref) or self.by_id[reference].get(ref)
            if target is None:
                shown = value if isinstance(value, str) else orjson.dumps(value).decode()
                _entity_error(e, f"invalid reference '{fname}: {shown}' (no such entry in '{reference}')")
                data[fname] = {"id": _PLACEHOLDER_ID}
            else:
                data[fname] = {"id": target.id}

    def process(self, e: Entry) -> None:
        schema = ENTITIES[e.type]
        data = dict(e.raw)
        data["id"] = e.raw.get("id", e.id)
        self._resolve(e, data)
        if e.id:
            for name in ids.auto_fields(e.type):
                if data.get(name) is None:
                    data[name] = ids.derived_value(e.type, name, e.id)
        if e.type == "certificates" and e.nested.get("snis"):
            data["snis"] = [s.raw.get("name") for s in e.nested["snis"]]
        full, errs = fill_defaults(schema, data, now=self.timestamp, plugins=self.plugins)
        if errs is None:
            errs = validate(schema, full, self.plugins)
        if errs:
            for k, v in errs.items():
                if k == "@entity":
                    e.errors.setdefault("@entity", [])[:0] = v
                else:
                    e.errors.setdefault(k, v)
        elif not e.errors:
            if schema.finalize is not None:
                schema.finalize(full)
            if self.transform:
                transform(schema, full)
        e.entity = full

    def check_unique_fields(self) -> None:
        """Unique fields other than the endpoint key (checked while indexing)."""
        for entity_type, schema in ENTITIES.items():
            for fname, f in schema.fields:
                if not f.unique or fname == schema.endpoint_key:
                    continue
                seen: set[Any] = set()
                for e in self.entries:
                    value = e.entity.get(fname) if e.type == entity_type and e.entity else None
                    if value is None or not isinstance(value, (str, int, float)):
                        continue
                    if value in seen:
                        _entity_error(e, _uniqueness(entity_type, fname, value))
                    seen.add(value)

    def run(self) -> FlatConfig:
        _check_toplevel(self.doc, self.errors)
        for entity_type in ENTITIES:
            self.walk(entity_type, self.doc.get(entity_type), (), None, None)
        self.index()
        for e in self.entries:
            self.process(e)
        self.check_unique_fields()
        for e in self.entries:
            if e.errors:
                _add_errors(self.errors, e.path, e.errors)
        if self.errors:
            raise DeclarativeConfigError(self.errors, self.doc)
        flat: FlatConfig = {t: [] for t in ENTITIES}
        for e in self.entries:
            assert e.entity is not None  # every entry went through process()
            flat[e.type].append(e.entity)
        groups.drop_repeated(flat)
        return flat


def _uniqueness(entity_type: str, key: str, value: Any) -> str:
    return f"uniqueness violation: '{entity_type}' entity with {key} set to '{value}' already declared"


def flatten(doc: dict[str, Any], *, plugins: Collection[str] | None = None, timestamp: float) -> FlatConfig:
    """`plugins`: the names the node runs (default: those this process loaded)."""
    doc = groups.expand(doc)  # decK's consumer group forms
    return _Flattener(doc, frozenset(loaded_plugins() if plugins is None else plugins), timestamp).run()
