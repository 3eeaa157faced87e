"""Node information (kong/api/routes/kong.lua, health.lua): `GET /`, `/status`, `/endpoints`."""

from __future__ import annotations

import inspect
import os

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from controlplane.database import DatabaseUnavailable
from dataplane import __version__
from dataplane.plugins import Registry

from .context import ctx
from .rendering import json_response

# The Kong release whose Admin API and declarative format Gantry follows. decK and go-kong
# read the Kong version from the start of `version` (major.minor, then semver) and pick
# behaviour by it (3.x: format 3.0, `~` regex paths...), so it leads; Gantry's own version
# follows as a pre-release tag they ignore: "3.10.0-gantry-0.1.0".
KONG_COMPATIBLE = "3.10.0"
VERSION = f"{KONG_COMPATIBLE}-gantry-{__version__}"


def available_on_server(registry: Registry) -> dict[str, dict[str, object]]:
    """Kong's `{name: {version, priority}}` of the plugins this node runs, each with its own
    version and priority as loaded."""
    return {name: {"version": spec.version, "priority": spec.priority} for name, spec in sorted(registry.specs.items())}


async def _plugins_in_use(request: Request) -> list[str]:
    names: list[str] = []
    offset = None
    while True:
        rows, offset = await ctx(request).store.page("plugins", size=1000, offset=offset)
        names += [r["name"] for r in rows if r["name"] not in names]
        if offset is None:
            return names


async def root(request: Request) -> Response:
    api = ctx(request)
    try:
        in_use: list[str] | None = await _plugins_in_use(request)
    except DatabaseUnavailable:
        # Unknown while the database is down; the rest (version, configuration) is what
        # clients such as decK read first, and is still true.
        in_use = None
    return json_response(
        {
            "tagline": "Welcome to gantry",
            "version": VERSION,
            "edition": "community",
            "hostname": api.hostname,
            "node_id": api.node_id,
            "plugins": {
                "available_on_server": available_on_server(api.node_plugins),
                "enabled_in_cluster": in_use,
            },
            # `database` ("postgres" or "off") is what go-kong reads to tell DB-less from DB mode
            "configuration": api.conf.as_sanitized_dict(),
            "pids": {"master": os.getpid(), "workers": api.worker_pids() if api.worker_pids else [os.getpid()]},
        }
    )


async def status(request: Request) -> Response:
    api = ctx(request)
    reachable = api.db.reachable()
    if inspect.isawaitable(reachable):
        reachable = await reachable
    counters = api.counters
    if counters.connection_states is not None:
        reading, writing, waiting = counters.connection_states()
    else:  # served without a socket server (in-process tests): the requests in flight
        reading, writing, waiting = 0, counters.in_flight, 0
    accepted = counters.accepted() if counters.accepted is not None else reading + writing + waiting
    body: dict[str, object] = {
        "database": {"reachable": bool(reachable)},
        # nginx's stub_status counters, as Kong's kong.nginx.get_statistics() names them
        "server": {
            "total_requests": counters.total_requests,
            "connections_active": reading + writing + waiting,
            "connections_accepted": accepted,
            "connections_handled": accepted,
            "connections_reading": reading,
            "connections_writing": writing,
            "connections_waiting": waiting,
        },
    }
    if api.declarative is not None:
        # Kong's DB-less /status: the hash of the configuration served, and no database
        del body["database"]
        body["configuration_hash"] = api.declarative.current_hash()
    return json_response(body)


def _segment_order(path: str) -> str:
    # Kong sorts "/a/z" before "/ab": a path separator sorts below every character
    return path.replace("/", "\x00")


async def endpoints(request: Request) -> Response:
    paths = {getattr(r, "path", None) for r in request.app.routes}
    return json_response({"data": sorted((p for p in paths if p), key=_segment_order)})


ROUTES = [
    Route("/", root, methods=["GET"]),
    Route("/status", status, methods=["GET"]),
    Route("/endpoints", endpoints, methods=["GET"]),
]
