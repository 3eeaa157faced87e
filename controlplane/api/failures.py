"""Every failure as a Kong-shaped answer: API errors as built, store errors mapped to Kong's
codes, routing misses as 404/405, the database down as 503, anything else a logged 500 with
no detail (never a traceback)."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from controlplane.database import errors as store_errors
from dataplane.schema import ENTITIES, is_uuid

from . import errors
from .offline_store import OperationUnsupported
from .rendering import json_response

log = logging.getLogger("controlplane.api")

UNAVAILABLE = "database unavailable; the Admin API answers again once it is back"


def _from_store(exc: store_errors.StoreError) -> errors.ApiError | None:
    if isinstance(exc, store_errors.PrimaryKeyViolation):
        return errors.primary_key_violation(exc.fields)
    if isinstance(exc, store_errors.UniqueViolation):
        return errors.unique_violation(exc.fields)
    if isinstance(exc, store_errors.StillReferenced):
        # kong/db/dao/ca_certificates.lua's message
        return errors.referenced_by_others(
            f"ca certificate {exc.id} is still referenced by {exc.referencing} (id = {exc.referencing_id})"
        )
    if isinstance(exc, store_errors.ValueTooLong):
        msg = f"length must be at most {exc.limit} bytes"
        return errors.schema_violation({exc.field: msg if exc.position is None else {exc.position: msg}})
    if isinstance(exc, store_errors.SniTaken):
        return errors.schema_violation({"snis": str(exc)})
    if isinstance(exc, store_errors.ForeignKeyViolation):
        return errors.foreign_key_violation(exc.field, exc.parent_entity, exc.parent_key)
    if isinstance(exc, store_errors.ReferencedByOthers):
        return errors.restricted(exc.entity, exc.referencing)
    if isinstance(exc, store_errors.NotFound):
        return errors.not_found_by_key(exc.key)
    if isinstance(exc, store_errors.InvalidOffset):
        return errors.invalid_offset(str(exc))
    if isinstance(exc, store_errors.DatabaseUnavailable):
        return errors.message(503, f"{UNAVAILABLE} ({exc})")
    return None


def _render(err: errors.ApiError) -> Response:
    return json_response(err.body, err.status)


async def api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.ApiError)
    return _render(exc)


def _named_by(request: Request, entity: str) -> str | None:
    """The endpoint key a write's path names its entity by (`/routes/my-route`: "name"), which
    Kong's DAO writes through (update_by_name...) and its message names; None for an id, a
    collection, or a target (Kong's own target paths write by id)."""
    key = request.path_params.get(entity)
    if not isinstance(key, str) or is_uuid(key) or entity == "targets":
        return None
    return ENTITIES[entity].endpoint_key


async def store_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, OperationUnsupported):
        by = None if exc.operation == "create" else _named_by(request, exc.entity)
        return _render(errors.operation_unsupported(exc.operation, exc.entity, by))
    mapped = _from_store(exc) if isinstance(exc, store_errors.StoreError) else None
    if mapped is None:
        return await unexpected(request, exc)
    if mapped.status == 503:
        log.warning("%s %s: %s", request.method, request.url.path, exc)
    return _render(mapped)


async def http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return _render(errors.method_not_allowed())
    if exc.status_code == 404:
        return _render(errors.not_found())
    return _render(errors.message(exc.status_code, str(exc.detail)))


def internal_error() -> Response:
    return _render(errors.message(500, "An unexpected error occurred"))


async def unexpected(request: Request, exc: Exception) -> Response:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return internal_error()


# Anything else is caught by app.Guard: Starlette re-raises from a catch-all handler.
HANDLERS = {
    errors.ApiError: api_error,
    store_errors.StoreError: store_error,
    HTTPException: http_error,
}
