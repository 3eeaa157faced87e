"""The Admin API application: every route, Kong-shaped errors, request counters."""

from __future__ import annotations

import logging
from urllib.parse import unquote_to_bytes

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import Response
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


class Guard:
    """Outermost layer: counts requests, serves `/services/` as `/services` (Kong's default
    route), refuses bodies over nginx_admin_client_max_body_size's default (413) and paths
    that are not UTF-8, and turns any unexpected exception into a logged 500 without
    details."""

    def __init__(self, app: ASGIApp, counters: Counters) -> None:
        self.app = app
        self.counters = counters

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

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            refused = _refusal(scope)
            if refused is not None:
                await refused(scope, receive, send)
                return
            await self.app(scope, _limited(receive, MAX_BODY_SIZE), tracking_send)
        except Exception:
            log.exception("%s %s failed", scope.get("method"), scope.get("path"))
            if started:
                raise  # too late for an error answer: the connection is closed
            response = failures.internal_error()
            await response(scope, receive, send)
        finally:
            counters.in_flight -= 1


def create_app(api: ApiContext) -> Starlette:
    routes = [*info.ROUTES, *schemas.ROUTES, *tags.ROUTES, *openapi.ROUTES, *clustering.ROUTES, *config.ROUTES]
    routes += [*consumer_groups.ROUTES, *target_health.routes(api.conf.role)]
    routes += entities.routes()  # Kong's own paths before the generic ones
    app = Starlette(
        routes=routes, exception_handlers=failures.HANDLERS, middleware=[Middleware(Guard, counters=api.counters)]
    )
    app.router.redirect_slashes = False
    app.state.api = api
    return app
