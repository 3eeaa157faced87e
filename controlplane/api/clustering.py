"""Hybrid-mode status on a control plane (kong/api/routes/clustering.lua):
`GET /clustering/data-planes`, every data plane any control plane on this database has seen,
paginated; and Kong's deprecated `GET /clustering/status`.

Beyond Kong's fields, each data plane shows what it should be serving
(`expected_config_hash`, `expected_config_version`), the version it serves
(`config_version`) and how many versions it is behind (`versions_behind`)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import errors
from .context import ctx
from .pagination import MAX_SIZE, next_link, page_args, page_body
from .rendering import json_response

NOT_CONTROL_PLANE = "this endpoint is only available when Kong is configured to run as Control Plane for the cluster"


def _cluster(request: Request) -> Any:
    """The ClusterServer of this node, or a 400 when it is not a control plane."""
    cluster = getattr(request.app.state, "cluster", None)
    if cluster is None:
        raise errors.message(400, NOT_CONTROL_PLANE)
    return cluster


def _shaped(row: dict, expected_version: int, expected_hash: str) -> dict[str, Any]:
    return {
        "id": row["id"],
        "ip": row["ip"],
        "hostname": row["hostname"],
        "version": row["version"],
        "sync_status": row["sync_status"],
        "config_hash": row["config_hash"],
        "last_seen": row["last_seen"],
        "labels": row["labels"],
        "cert_details": {"expiry_timestamp": row["cert_expiry"]},
        "ttl": row["ttl"],
        "updated_at": row["updated_at"],
        "config_version": row["config_version"],
        "expected_config_hash": expected_hash,
        "expected_config_version": expected_version,
        "versions_behind": max(expected_version - row["config_version"], 0),
    }


async def data_planes(request: Request) -> Response:
    expected = _cluster(request).expected
    args = page_args(request.query_params, with_tags=False)  # data planes have no tags
    rows, offset = await ctx(request).db.data_planes.page(size=args.size, offset=args.offset)
    shaped = [_shaped(row, expected.version, expected.hash) for row in rows]
    link = next_link("/clustering/data-planes", offset, args) if offset else None
    return json_response(page_body(shaped, offset, link))


async def status(request: Request) -> Response:
    _cluster(request)
    body: dict[str, Any] = {}
    offset = None
    while True:
        rows, offset = await ctx(request).db.data_planes.page(size=MAX_SIZE, offset=offset)
        for row in rows:
            body[row["id"]] = {
                "config_hash": row["config_hash"],
                "hostname": row["hostname"],
                "ip": row["ip"],
                "last_seen": row["last_seen"],
            }
        if offset is None:
            return json_response(body, headers={"Deprecation": "true"})


ROUTES = [
    Route("/clustering/data-planes", data_planes, methods=["GET"]),
    Route("/clustering/status", status, methods=["GET"]),
]
