"""Kong's `post_health` on this node (kong/db/dao/targets.lua, kong/runloop/balancer/init.lua):
the health of a target set by the Admin API's `PUT /upstreams/{u}/targets/{t}/healthy|unhealthy`,
written into the node's shared health table (`_core.set_target_health`), so every worker's
balancer sees it at its next pick, as Kong's shared healthchecker state is seen by every
nginx worker.

The upstream is the one the node serves (read from its LMDB store, as the workers read it),
so the health word is the one their balancers hold: an upstream the Admin API knows but the
node does not serve yet has no balancer, as in Kong. The state set stays until the health
checks change it (an active probe, a proxied response counted by passive checks), a reload
that changes the upstream's `healthchecks`, or the node's restart.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson

from dataplane import _core

log = logging.getLogger("gantry.healthchecks")

Share = Callable[[dict[str, Any], dict[str, Any], "str | None", bool], Awaitable[None]]


class NodeHealth:
    """What `ApiContext.target_health` is on a proxying node."""

    def __init__(self, upstreams: Callable[[], Iterable[dict[str, Any]]]) -> None:
        self.upstreams = upstreams  # the upstreams the node serves now
        # tells the other nodes of a traditional cluster (dataplane.traditional.health_events)
        self.share: Share | None = None

    async def shared(
        self, upstream: dict[str, Any], target: dict[str, Any], address: str | None, healthy: bool
    ) -> None:
        """A health set here told to the node's peers, as Kong's `balancer:post_health`
        cluster event; nothing on a node alone (DB-less)."""
        if self.share is not None:
            await self.share(upstream, target, address, healthy)

    def set(self, upstream: dict[str, Any], target: dict[str, Any], address: str | None, healthy: bool) -> str | None:
        """Sets the target's health; the error Kong answers with (400) otherwise."""
        served = next((u for u in self.upstreams() if u.get("id") == upstream["id"]), None)
        name = upstream.get("name")
        if served is None:
            return f"Upstream {name} has no balancer"
        try:
            done = _core.set_target_health(orjson.dumps(served), target["target"], healthy, address)
        except _core.CoreError as err:
            return str(err)
        if done is None:
            return f"no healthchecker found for {name}"
        state = "healthy" if healthy else "unhealthy"
        where = f"{target['target']}" + (f" (address {address})" if address is not None else "")
        if done:
            log.warning("upstream %s: %s forced for %s", name, state, where)
        else:  # lua-resty-healthcheck's answer too: a warning, and the request succeeds
            log.warning("upstream %s: trying to set status for a target that is not in the list: %s", name, where)
        return None
