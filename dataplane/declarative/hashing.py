"""Kong's config hash (kong/clustering/config_helper.lua) over a flat config.

Kong hashes the exported config table: `_format_version` "3.0", `_transform` false and one
array per non-empty entity type, rows in primary-key order. The same is done here over the
flat config (foreign keys in their `{"id": ...}` form), so that the hash does not depend on the
order of entities in a file.
"""

from __future__ import annotations

import hashlib
from typing import Any, Protocol

EMPTY_HASH = "0" * 32
HASHED_TYPES = ("routes", "services", "plugins", "upstreams", "targets")
BUFFER_LIMIT = 1_000_000  # Kong replaces a longer buffer by its binary md5 to bound memory


class _Buffer:
    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def put(self, text: str | bytes) -> None:
        data = text.encode() if isinstance(text, str) else text
        self.parts.append(data)
        self.size += len(data)

    def check(self) -> None:
        if self.size > BUFFER_LIMIT:
            digest = hashlib.md5(b"".join(self.parts)).digest()
            self.parts, self.size = [digest], len(digest)


def _number(value: int | float) -> str:
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.14g}"  # LuaJIT's tostring
    return str(value)


class SortedOutput(Protocol):
    """Where ``write_sorted`` writes: Kong's hasher buffer, or the control plane's incremental
    hasher (controlplane/cluster/), which keeps the same buffer as a running md5."""

    def put(self, text: str | bytes) -> None: ...

    def check(self) -> None:
        """Called before each value, where Kong's buffer may collapse to its md5."""


def write_sorted(value: Any, o: SortedOutput) -> None:
    """``value`` in Kong's sorted serialisation (kong/db/declarative/hasher ``to_sorted_string``),
    written piece by piece to ``o``."""
    o.check()
    if value is None:
        o.put("/null/")
    elif isinstance(value, bool):
        o.put("true" if value else "false")
    elif isinstance(value, (int, float)):
        o.put(_number(value))
    elif isinstance(value, str):
        o.put(value)
    elif not value:
        o.put("{}")
    elif isinstance(value, list):
        if len(value) <= 5:
            for i, v in enumerate(value):
                if i:
                    o.put(";")
                write_sorted(v, o)
        else:
            for v in value:
                write_sorted(v, o)
                o.put(";")
    elif isinstance(value, dict):
        for k in sorted(value):
            o.put(k)
            o.put(":")
            write_sorted(value[k], o)
            o.put(";")
    else:
        raise TypeError(f"invalid type to be sorted (JSON types are supported): {type(value)}")


def to_sorted_string(value: Any) -> bytes:
    o = _Buffer()
    write_sorted(value, o)
    return b"".join(o.parts)


def _md5(value: Any) -> str:
    return hashlib.md5(to_sorted_string(value)).hexdigest()


def _section(entities: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    if not entities:
        return None  # Kong's export has no key for an empty type
    return sorted(entities, key=lambda e: str(e.get("id")))


def config_hash(flat: dict[str, list[dict[str, Any]]]) -> tuple[str, dict[str, str]]:
    """(config hash, per-type hashes: routes, services, plugins, upstreams, targets, rest)."""
    hashes: dict[str, str] = {}
    for name in HASHED_TYPES:
        section = _section(flat.get(name) or [])
        hashes[name] = EMPTY_HASH if section is None else _md5(section)
    rest: dict[str, Any] = {"_format_version": "3.0", "_transform": False}
    for name, entities in flat.items():
        if name not in HASHED_TYPES and _section(entities) is not None:
            rest[name] = _section(entities)
    hashes["rest"] = _md5(rest)
    combined = "".join(hashes[n] for n in (*HASHED_TYPES, "rest"))
    return hashlib.md5(combined.encode()).hexdigest(), hashes
