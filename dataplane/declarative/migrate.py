"""On-the-fly migration of _format_version 1.1 / 2.1 files to 3.0, as Kong does
(kong/db/declarative/migrations/route_path.lua, kong/db/migrations/migrate_path_280_300.lua):
route paths that are not plain prefixes become `~` regexes."""

from __future__ import annotations

import re
from typing import Any

from dataplane.schema.netaddr import normalize_path

_NOT_REGEX = re.compile(r"[a-zA-Z0-9.\-_~/%]*")
_RESERVED = set(b"!#$%&'()*+,/:;=?@[]")
_REGEX_META = {0x2E: r"\.", 0x5E: r"\^", 0x2D: r"\-", 0x7B: r"\{", 0x7D: r"\}", 0x5C: "\\\\", 0x7C: r"\|"}
OLD_VERSIONS = ("1.1", "2.1")


def _decode(m: re.Match[str]) -> str:
    num = int(m.group(1), 16)
    if num in _RESERVED:
        return m.group(0).upper()
    return _REGEX_META.get(num, chr(num))


def migrate_path(path: str) -> str:
    if _NOT_REGEX.fullmatch(path):
        return normalize_path(path)
    if "%" in path:
        path = re.sub(r"%([0-9A-Fa-f]{2})", _decode, path)
    return "~" + path


def _migrate_routes(routes: object) -> None:
    if not isinstance(routes, list):
        return
    for route in routes:
        paths = route.get("paths") if isinstance(route, dict) else None
        if isinstance(paths, list):
            route["paths"] = [migrate_path(p) if isinstance(p, str) else p for p in paths]


def migrate(doc: dict[str, Any]) -> None:
    """Migrate `doc` in place when its _format_version is 1.1 or 2.1."""
    if doc.get("_format_version") not in OLD_VERSIONS:
        return
    _migrate_routes(doc.get("routes"))
    services = doc.get("services")
    if isinstance(services, list):
        for service in services:
            if isinstance(service, dict):
                _migrate_routes(service.get("routes"))
    doc["_format_version"] = "3.0"
