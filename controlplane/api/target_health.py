"""Kong's `PUT /upstreams/{u}/targets/{t}/healthy|unhealthy` and the
`.../targets/{t}/{address}/healthy|unhealthy` forms (kong/api/routes/upstreams.lua,
`set_target_health`; kong/db/dao/targets.lua, `post_health`).

Only a node that proxies has health to set: a traditional node and a DB-less node, whose
`ApiContext.target_health` writes the target's word in the node's shared health table (every
worker sees it at its next pick). Kong defines these paths on every role but
`control_plane`, so a hybrid control plane has none (404, and not in `/endpoints`).

The answers are Kong's: 404 `Not found` for an upstream that does not exist, or a target that
does not or that belongs to another upstream; 400 with the balancer's error (an upstream
running no health checks: `no healthchecker found for <name>`); else 204, also for an
address that is not the target's (Kong logs it and changes nothing).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import errors, operations as ops
from .context import ctx
from .rendering import json_response, no_content
from .resources import RESOURCES


def _handler(healthy: bool) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        api = ctx(request)
        params = request.path_params
        upstream = await ops.find(api, RESOURCES["upstreams"], params["upstreams"])
        if upstream is None:
            raise errors.not_found()
        target = await ops.find_child(api, RESOURCES["targets"], params["targets"], "upstream", upstream)
        if target is None:
            raise errors.not_found()
        if api.target_health is None:
            # a node without balancers (an Admin API alone): Kong's error for an upstream the
            # node has no balancer for
            return json_response({"message": f"Upstream {upstream['name']} has no balancer"}, 400)
        err = api.target_health.set(upstream, target, params.get("address"), healthy)
        if err is not None:
            return json_response({"message": err}, 400)
        await api.target_health.shared(upstream, target, params.get("address"), healthy)
        return no_content()

    return handler


ROUTES = [
    Route(f"/upstreams/{{upstreams}}/targets/{{targets}}{at}/{state}", _handler(state == "healthy"), methods=["PUT"])
    for at in ("", "/{address}")
    for state in ("healthy", "unhealthy")
]


def routes(role: str) -> list[Route]:
    """The paths on a node of `role`: none on a control plane, as in Kong."""
    return [] if role == "control_plane" else ROUTES
