"""The status API's read-only upstream endpoints, in the shapes of Kong's Admin API
(kong/api/routes/upstreams.lua, kong/db/dao/targets.lua, kong/runloop/balancer/):

- ``GET /upstreams/{upstream}/targets``: the targets in use, newest first, one per address
  (the latest entry for an address), weight-0 ones included; paged (``size``, ``offset``);
- ``GET /upstreams/{upstream}/targets/all``: every target entity, oldest first, paged;
- ``GET /upstreams/{upstream}/targets/{target}``: one target by id or by ``host:port``;
- ``GET /upstreams/{upstream}/health``: the targets in use, each with ``health`` and ``data``
  (its host, port, DNS record type, weights and ``addresses`` with ip, port, weight, health);
  with ``?balancer_health=1`` the upstream's balancer instead (``health``,
  ``balancer_health``, ``details``).

With passive health checks on, an address of a target with weight is ``HEALTHY`` or
``UNHEALTHY`` as the node's health table says (every worker reports into it; a target's
addresses share its health); without them, ``HEALTHCHECKS_OFF``. A target whose name does not
resolve is ``DNS_ERROR``. ``{upstream}`` is a name or an id. The entities are the config the
node stores (what its workers serve); names are resolved by the node's DNS settings.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, quote, unquote

from dataplane.proxy.dns import is_ip

DEFAULT_SIZE = 100
MAX_SIZE = 1000
_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")
_ROUTE = re.compile(r"^/upstreams/([^/]+)/(targets|health)(?:/(.+))?$")

# (addresses, the DNS record type or the resolver's error); addresses empty on an error
Resolve = Callable[[str], Awaitable[tuple[list[str], str]]]
Reply = tuple[int, dict[str, Any]]
# (upstream, its targets) -> each live target's health by (host, port); None without checks
Health = Callable[[dict[str, Any], list[dict[str, Any]]], dict[tuple[str, int], bool] | None]

NOT_FOUND: Reply = (404, {"message": "Not found"})


class BadRequest(Exception):
    def __init__(self, code: int, name: str, message: str) -> None:
        super().__init__(message)
        self.body = {"code": code, "name": name, "message": message}


def matches(path: str) -> bool:
    """Whether ``path`` (trailing slash removed) is one of these endpoints."""
    return _ROUTE.match(path) is not None


async def answer(
    path: str,
    query: str,
    upstreams: list[dict[str, Any]],
    targets: list[dict[str, Any]],
    resolve: Resolve,
    node_id: str,
    health: Health | None = None,
) -> Reply:
    """The reply to a GET of ``path`` (matched by ``matches``), from the stored entities."""
    found = _ROUTE.match(path)
    if found is None:
        return NOT_FOUND
    key, kind, rest = unquote(found.group(1)), found.group(2), found.group(3)
    upstream = next((u for u in upstreams if u.get("id") == key or u.get("name") == key), None)
    if upstream is None or (kind == "health" and rest is not None):
        return NOT_FOUND
    mine = sorted(
        (t for t in targets if (t.get("upstream") or {}).get("id") == upstream["id"]),
        key=lambda t: (t.get("created_at") or 0, t.get("id") or ""),
    )
    args = parse_qs(query, keep_blank_values=True)
    try:
        size, offset = _page_args(args)
    except BadRequest as err:
        return 400, err.body
    base = f"/upstreams/{found.group(1)}"
    if kind == "targets" and rest is None:
        return 200, _page(in_use(mine), size, offset, f"{base}/targets")
    if kind == "targets" and rest == "all":
        return 200, _page(mine, size, offset, f"{base}/targets/all")
    if kind == "targets":
        wanted = unquote(rest or "")
        target = next((t for t in reversed(mine) if t.get("id") == wanted or t.get("target") == wanted), None)
        return (200, target) if target is not None else NOT_FOUND
    states = health(upstream, mine) if health is not None else None
    if args.get("balancer_health", [""])[0] == "1":
        hosts = [await target_status(t, resolve, states) for t in in_use(mine)]
        data = balancer_health(upstream, hosts, states is not None)
        return 200, {"data": data, "next": None, "node_id": node_id}
    body = _page(in_use(mine), size, offset, f"{base}/health")
    body["data"] = [await with_health(t, resolve, states) for t in body["data"]]
    body["node_id"] = node_id
    return 200, body


def in_use(targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Kong's page_for_upstream: from the newest, the first entry of each address."""
    seen: set[str] = set()
    used = []
    for target in reversed(targets):
        if target.get("target") not in seen:
            seen.add(target.get("target"))  # type: ignore[arg-type]
            used.append(target)
    return used


def _page_args(args: dict[str, list[str]]) -> tuple[int, int]:
    size = DEFAULT_SIZE
    raw = args.get("size", [None])[0]
    if raw is not None:
        if not _NUMBER.match(raw):
            raise BadRequest(9, "invalid size", "size must be a number")
        number = float(raw)
        if not number.is_integer() or not 1 <= number <= MAX_SIZE:
            raise BadRequest(9, "invalid size", f"size must be an integer between 1 and {MAX_SIZE}")
        size = int(number)
    offset = 0
    raw = args.get("offset", [None])[0]
    if raw is not None:
        if not raw.isdigit():
            raise BadRequest(7, "invalid offset", f"'{raw}' is not a valid offset: bad offset string")
        offset = int(raw)
    return size, offset


def _page(items: list[dict[str, Any]], size: int, offset: int, path: str) -> dict[str, Any]:
    page: dict[str, Any] = {"data": [dict(item) for item in items[offset : offset + size]]}
    if offset + size < len(items):
        page["offset"] = str(offset + size)
        page["next"] = f"{path}?offset={quote(page['offset'])}"
    else:
        page["next"] = None
    return page


def _split(target: str) -> tuple[str, int]:
    host, _, port = target.rpartition(":")
    return host.strip("[]"), int(port) if port.isdigit() else 8000


async def target_status(
    target: dict[str, Any], resolve: Resolve, states: dict[tuple[str, int], bool] | None = None
) -> dict[str, Any]:
    """Kong's getTargetStatus for a target: its addresses, each with its health."""
    host, port = _split(target.get("target") or "")
    weight = int(target.get("weight") or 0)
    if is_ip(host):
        addresses, dns = [host], ("AAAA" if ":" in host else "A")
    else:
        addresses, dns = await resolve(host)
    if states is None or weight == 0:
        label = "HEALTHCHECKS_OFF"
    else:
        label = "HEALTHY" if states.get((host, port), True) else "UNHEALTHY"
    total = weight * len(addresses)
    unavailable = total if label == "UNHEALTHY" else 0
    return {
        "host": host,
        "port": port,
        "dns": dns,
        "nodeWeight": weight,
        "weight": {"total": total, "unavailable": unavailable, "available": total - unavailable},
        "addresses": [{"ip": ip, "port": port, "weight": weight, "health": label} for ip in addresses],
    }


async def with_health(
    target: dict[str, Any], resolve: Resolve, states: dict[tuple[str, int], bool] | None = None
) -> dict[str, Any]:
    """A target of the health page: ``health`` (its addresses', or DNS_ERROR without an
    address) and ``data``, its status."""
    status = await target_status(target, resolve, states)
    addresses = status["addresses"]
    return {**target, "health": addresses[0]["health"] if addresses else "DNS_ERROR", "data": status}


def balancer_health(upstream: dict[str, Any], hosts: list[dict[str, Any]], checked: bool = False) -> dict[str, Any]:
    """Kong's get_balancer_health: the balancer is healthy when it has weight and its healthy
    share is strictly above healthchecks.threshold; ``health`` is that, or HEALTHCHECKS_OFF
    when the upstream runs no health checks."""
    total = sum(h["weight"]["total"] for h in hosts)
    unavailable = sum(h["weight"]["unavailable"] for h in hosts)
    threshold = float(((upstream.get("healthchecks") or {}).get("threshold")) or 0)
    healthy = total > 0 and (total - unavailable) / total * 100 > threshold
    verdict = "HEALTHY" if healthy else "UNHEALTHY"
    return {
        "health": verdict if checked else "HEALTHCHECKS_OFF",
        "balancer_health": verdict,
        "id": upstream["id"],
        "details": {
            "healthy": healthy,
            "weight": {"total": total, "unavailable": unavailable, "available": total - unavailable},
            "hosts": hosts,
        },
    }
