"""DeclarativeConfigError: Kong's nested error table, its `flattened_errors` (kong/db/errors.lua)
and a readable rendering.

Nested errors use Kong's Lua shape: dicts keyed by field name, 1-based ints for positions,
"@entity" for entity-wide messages.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from dataplane.schema import ENTITIES, is_uuid

CODE = 14
NAME = "invalid declarative configuration"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Kong's nested error table: field names, "@entity" and 1-based positions as keys.
ErrorTree = dict[Any, Any]


def singular(noun: str) -> str:
    return noun[:-1] if noun.endswith("s") else noun


def _children(entity_type: str) -> tuple[tuple[str, str], ...]:
    return tuple((name, fk) for name, s in ENTITIES.items() for fk, ref in s.references if ref == entity_type)


_CHILDREN = {entity_type: _children(entity_type) for entity_type in ENTITIES}


def children_of(entity_type: str) -> list[tuple[str, str]]:
    """(child type, its foreign key field) for every entity that may nest under `entity_type`."""
    return list(_CHILDREN[entity_type] if entity_type in _CHILDREN else _children(entity_type))


# ---------------------------------------------------------------- JSON shape


def to_json(err: Any) -> Any:
    """Lua error tables as cjson encodes them: small or dense int-keyed tables become arrays
    (null in the gaps), very sparse ones objects with string keys."""
    if not isinstance(err, dict):
        return err
    if err and all(isinstance(k, int) for k in err):
        top = max(err)
        if top <= 10 or top <= 2 * len(err):
            return [to_json(err.get(i)) for i in range(1, top + 1)]
        return {str(k): to_json(v) for k, v in sorted(err.items())}
    return {str(k): to_json(v) for k, v in err.items()}


def lua_pretty(value: Any) -> str:
    """Penlight's `pretty.write(t, "")`, used in Kong's message: {key="value",...}."""
    if isinstance(value, dict):
        parts = []
        ints = sorted(k for k in value if isinstance(k, int))
        seq = ints == list(range(1, len(ints) + 1))
        for k in ints:
            parts.append(lua_pretty(value[k]) if seq else f"[{k}]={lua_pretty(value[k])}")
        for k in sorted((k for k in value if not isinstance(k, int)), key=str):
            key = k if _IDENT.match(k) else f'["{k}"]'
            parts.append(f"{key}={lua_pretty(value[k])}")
        return "{" + ",".join(parts) + "}"
    if isinstance(value, list):
        return "{" + ",".join(lua_pretty(v) for v in value) + "}"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return str(value)


# ---------------------------------------------------------------- flattening


def _sort_key(k: Any) -> tuple[Any, ...]:
    return (0, k, "") if isinstance(k, int) else (1, 0, str(k))


def _categorize(errs: ErrorTree, ns: str, out: list[Any]) -> None:
    for field in sorted(errs, key=_sort_key):
        err = errs[field]
        path = f"{ns}.{field}" if ns else str(field)
        if field == "@entity":
            for msg in err if isinstance(err, list) else [err]:
                out.append({"type": "entity", "message": msg})
        elif isinstance(err, dict):
            _categorize(err, path, out)
        else:
            out.append({"type": "field", "field": path, "message": err})


def _add_entity_errors(entity_type: str, entity: Any, err_t: Any, out: list[Any]) -> None:
    if isinstance(err_t, str):
        err_t = {"@entity": [err_t]}
    if not isinstance(err_t, dict) or not err_t or not isinstance(entity, dict):
        return
    err_t = dict(err_t)
    pk = {"id": entity["id"]} if is_uuid(entity.get("id")) else None
    for child_type, fk in children_of(entity_type):
        items = entity.get(child_type)
        if not isinstance(items, list):
            continue
        del entity[child_type]
        child_errs = err_t.pop(child_type, None)
        if not isinstance(child_errs, dict):
            continue
        for i, item in enumerate(items, start=1):
            if isinstance(item, dict) and item.get(fk) is None and pk is not None:
                item[fk] = dict(pk)
            if i in child_errs:
                _add_entity_errors(child_type, item, child_errs[i], out)
    if not err_t:
        return
    errors: list[Any] = []
    _categorize(err_t, "", errors)
    name, tags = entity.get("name"), entity.get("tags")
    row: dict[str, Any] = {"entity_type": singular(entity_type), "entity": entity, "errors": errors}
    if isinstance(name, str) and name:
        row["entity_name"] = name
    if is_uuid(entity.get("id")):
        row["entity_id"] = entity["id"]
    if isinstance(tags, list) and all(isinstance(t, str) for t in tags):
        row["entity_tags"] = tags
    out.append(row)


def flatten_errors(doc: dict[str, Any], fields: ErrorTree) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for entity_type in sorted(fields):
        section, entities = fields[entity_type], doc.get(entity_type)
        if entity_type not in ENTITIES or not isinstance(section, dict) or not isinstance(entities, list):
            continue
        for i in sorted(k for k in section if isinstance(k, int)):
            if i <= len(entities):
                _add_entity_errors(entity_type, copy.deepcopy(entities[i - 1]), section[i], out)
    return out


# ---------------------------------------------------------------- readable form


def _label(entity_type: str, entity: Any) -> str:
    if isinstance(entity, dict):
        for key in ("name", "username", "target", "id", "custom_id"):
            if isinstance(entity.get(key), str) and entity[key]:
                return f"{singular(entity_type)} '{entity[key]}'"
    return singular(entity_type)


def _field_lines(errs: Any, ns: str, prefix: str, lines: list[Any]) -> None:
    if isinstance(errs, dict):
        for k in sorted(errs, key=_sort_key):
            if k == "@entity":
                for msg in errs[k]:
                    lines.append(f"{prefix}: {msg}")
            else:
                _field_lines(errs[k], f"{ns}.{k}" if ns else str(k), prefix, lines)
    else:
        lines.append(f"{prefix}: {ns}: {errs}" if ns else f"{prefix}: {errs}")


def _entity_lines(entity_type: str, items: Any, section: ErrorTree, where: str, lines: list[Any]) -> None:
    for i in sorted(k for k in section if isinstance(k, int)):
        entity = items[i - 1] if isinstance(items, list) and i <= len(items) else None
        here = f"{where}{entity_type}[{i}]"
        err = section[i]
        if not isinstance(err, dict):
            lines.append(f"{_label(entity_type, entity)} ({here}): {err}")
            continue
        own = dict(err)
        for child_type, _ in children_of(entity_type):
            child = own.pop(child_type, None)
            if isinstance(child, dict) and child and all(isinstance(k, int) for k in child):
                sub = entity.get(child_type) if isinstance(entity, dict) else None
                _entity_lines(child_type, sub, child, here + ".", lines)
            elif child is not None:
                own[child_type] = child
        if own:
            _field_lines(own, "", f"{_label(entity_type, entity)} ({here})", lines)


def render(doc: dict[str, Any] | None, fields: ErrorTree) -> str:
    lines: list[str] = []
    for key in sorted(fields, key=str):
        err = fields[key]
        if key in ENTITIES and isinstance(err, dict) and all(isinstance(k, int) for k in err):
            _entity_lines(key, (doc or {}).get(key), err, "", lines)
        else:
            _field_lines(err, str(key), "declarative config", lines)
    return "\n".join(lines)


class DeclarativeConfigError(Exception):
    """An invalid declarative configuration, with every error found in it."""

    def __init__(self, errors: ErrorTree, doc: dict[str, Any] | None = None) -> None:
        self.errors = errors  # Lua-shaped (int keys)
        self.fields = to_json(errors)
        self.flattened_errors = flatten_errors(doc, errors) if doc is not None else []
        self.message = f"declarative config is invalid: {lua_pretty(errors)}"
        self._text = render(doc, errors)
        super().__init__(self.message)

    @classmethod
    def parse_failure(cls, detail: str) -> DeclarativeConfigError:
        return cls({"error": f"failed parsing declarative configuration: {detail}"})

    def __str__(self) -> str:
        return self._text

    def to_kong_body(self) -> dict[str, Any]:
        """Kong's body for a rejected POST /config."""
        return {
            "code": CODE,
            "name": NAME,
            "message": self.message,
            "fields": self.fields,
            "flattened_errors": self.flattened_errors,
        }
