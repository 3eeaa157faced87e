"""The Admin API application: every route, Kong-shaped errors, request counters."""
from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import clustering, entities, failures, info, openapi, schemas, tags
from .context import ApiContext, Counters

log = logging.getLogger("controlplane.api")


class Guard:
    """Outermost layer: counts requests, serves `/services/` as `/services` (Kong's default
    route), and turns any unexpected exception into a logged 500 without details."""

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
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("%s %s failed", scope.get("method"), scope.get("path"))
            if started:
                raise  # too late for an error answer: the connection is closed
            response = failures.internal_error()
            await response(scope, receive, send)
        finally:
            counters.in_flight -= 1


def create_app(api: ApiContext) -> Starlette:
    routes = [*info.ROUTES, *schemas.ROUTES, *tags.ROUTES, *openapi.ROUTES, *clustering.ROUTES,
              *entities.routes()]
    app = Starlette(routes=routes, exception_handlers=failures.HANDLERS,
                    middleware=[Middleware(Guard, counters=api.counters)])
    app.router.redirect_slashes = False
    app.state.api = api
    return app
