"""The Admin API application: every route, Kong-shaped errors, request counters."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from urllib.parse import unquote_to_bytes

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import (
    clustering,
    config,
    consumer_groups,
    entities,
    errors,
    failures,
    info,
    openapi,
    schemas,
    tags,
    target_health,
)
from .body import MAX_BODY_SIZE
from .context import ApiContext, Counters
from .rendering import json_response

log = logging.getLogger("controlplane.api")


TOO_LARGE = "Payload too large"  # Kong's error_handlers.lua body for nginx's 413
BAD_PATH = "Bad request: the path is not UTF-8"


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None  # the server refuses bad ones
    return None


def _refusal(scope: Scope) -> Response | None:
    """The answer to a request refused before routing: a declared body over the limit, or a
    path whose escapes are not UTF-8 (the server decodes them with replacement characters,
    which would name, and create, an entity the client never named)."""
    length = _declared_length(scope)
    if length is not None and length > MAX_BODY_SIZE:
        return json_response({"message": TOO_LARGE}, 413)
    raw = scope.get("raw_path")
    if raw is not None:
        try:
            unquote_to_bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            segments = raw.split(b"/")
            if len(segments) == 3 and segments[1] == b"tags" and segments[2]:
                refused = tags.not_utf8(unquote_to_bytes(segments[2]))  # Kong's tags DAO answers
                if refused is not None:
                    return json_response(refused.body, refused.status)
            return json_response({"message": BAD_PATH}, 400)
    return None


def _limited(receive: Receive, limit: int) -> Receive:
    """`receive` refusing a body past `limit` bytes, however it is framed: the 413 is raised
    where a handler reads the body, before anything is parsed or written."""
    seen = 0

    async def limited() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise errors.message(413, TOO_LARGE)
        return message

    return limited


def gui_origins(admin_gui_url: str) -> list[str]:
    """The origins (scheme://authority) of the `admin_gui_url` list, as Kong's conf loader
    makes admin_gui_origin of it."""
    origins = []
    for url in (u.strip() for u in admin_gui_url.split(",")):
        scheme, sep, rest = url.partition("://")
        if url and sep:
            origins.append(f"{scheme}://{rest.split('/', 1)[0]}")
    return origins


def allow_origin(origin: str | None, allowed: list[str]) -> str:
    """Kong's cors_filter: the request's Origin when no admin_gui_url restricts it (`*`
    without one), else that Origin if it is one of the GUI's, else the GUI's first."""
    if allowed:
        return origin if origin in allowed else allowed[0]
    return origin or "*"


def _allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> str | None:
    """Kong's Allow for OPTIONS: the methods of the path the request names (of every route
    with the path of the first that matches, as a path may have handlers in two places),
    HEAD with GET, and OPTIONS; None when no route has the path."""
    path: str | None = None
    methods: set[str] = set()
    for route in routes:
        if not isinstance(route, Route) or (path is not None and route.path != path):
            continue
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            path = route.path
            methods |= set(route.methods or ())
    if path is None:
        return None
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted({*methods, "OPTIONS"}))


class Guard:
    """Outermost layer: counts requests, serves `/services/` as `/services` (Kong's default
    route), refuses bodies over nginx_admin_client_max_body_size's default (413) and paths
    that are not UTF-8, answers OPTIONS and adds Kong's CORS headers to every answer
    (kong/api/api_helpers.lua cors_filter and options_method), and turns any unexpected
    exception into a logged 500 without details."""

    def __init__(self, app: ASGIApp, counters: Counters, routes: Sequence[BaseRoute], gui_origins: list[str]) -> None:
        self.app = app
        self.counters = counters
        self.routes = routes
        self.gui_origins = gui_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            scope = {**scope, "path": path.rstrip("/") or "/"}
        counters = self.counters
        counters.total_requests += 1
        counters.in_flight += 1
        started = False
        request_headers = Headers(scope=scope)
        cors = [
            (b"access-control-allow-origin", allow_origin(request_headers.get("origin"), self.gui_origins).encode()),
            (b"access-control-allow-credentials", b"true"),
        ]

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": [*message.get("headers", ()), *cors]}
            await send(message)

        try:
            refused = _refusal(scope)
            if refused is None and scope["method"] == "OPTIONS":
                refused = self._options(scope, request_headers)
            if refused is not None:
                await refused(scope, receive, tracking_send)
                return
            await self.app(scope, _limited(receive, MAX_BODY_SIZE), tracking_send)
        except Exception:
            log.exception("%s %s failed", scope.get("method"), scope.get("path"))
            if started:
                raise  # too late for an error answer: the connection is closed
            response = failures.internal_error()
            await response(scope, receive, tracking_send)
        finally:
            counters.in_flight -= 1

    def _options(self, scope: Scope, request_headers: Headers) -> Response | None:
        """Kong's answer to OPTIONS on a path it serves: 204 with the path's methods (a path
        it does not serve is routed on, to the 404)."""
        allow = _allowed_methods(self.routes, scope)
        if allow is None:
            return None
        headers = {
            "Allow": allow,
            "Access-Control-Allow-Methods": allow,
            "Access-Control-Allow-Headers": request_headers.get("access-control-request-headers") or "Content-Type",
        }
        return Response(status_code=204, headers=headers)


def create_app(api: ApiContext) -> Starlette:
    routes = [*info.ROUTES, *schemas.ROUTES, *tags.ROUTES, *openapi.ROUTES, *clustering.ROUTES, *config.ROUTES]
    routes += [*consumer_groups.ROUTES, *target_health.routes(api.conf.role)]
    routes += entities.routes()  # Kong's own paths before the generic ones
    guard = Middleware(
        Guard, counters=api.counters, routes=routes, gui_origins=gui_origins(api.conf.raw.get("admin_gui_url", ""))
    )
    app = Starlette(routes=routes, exception_handlers=failures.HANDLERS, middleware=[guard])
    app.router.redirect_slashes = False
    app.state.api = api
    return app
